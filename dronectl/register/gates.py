"""The register's gates before a mission is uploaded or flown: pure functions over plain values.

``flight_gate(...)`` answers a list of :class:`~dronectl.register.model.Problem`: blocking ones refuse the flight
(unless the pilot overrides with ``--force --reason``, which is logged), the others are warnings recorded in the
flight's logbook entry. Nothing here reads files or the clock: the caller passes what it read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from dronectl.mission import FRAME_GLOBAL, Mission
from dronectl.register.model import NEEDS, Aircraft, Authorisation, Pilot, Problem, utc

POLICE = "police"
DECLARATION_NOTICE = timedelta(days=10)  # a flight over a populated area is declared 10 days before
TOLERANCE_M = 0.5  # heights: a waypoint at the authorised maximum is inside


def heights_m(mission: Mission) -> list[float]:
    """Each positioned item's height above take-off (an AMSL item is measured from the home's altitude)."""
    home_alt = mission.home.alt_m if mission.home is not None else 0.0
    return [(i.alt_m - home_alt) if i.frame == FRAME_GLOBAL else i.alt_m for i in mission.items if i.has_position]


def mission_points(mission: Mission) -> list[Point]:
    """The positions the vehicle flies to (lon/lat), and its take-off point when the mission has a home."""
    pts = [Point(i.lon_deg, i.lat_deg) for i in mission.items if i.has_position]
    if mission.home is not None and not (mission.home.lat_deg == 0 and mission.home.lon_deg == 0):
        pts.append(Point(mission.home.lon_deg, mission.home.lat_deg))
    return pts


def pilot_problems(pilot: Pilot | None, pilot_name: str | None, aircraft: Aircraft | None, when: datetime) -> list[Problem]:
    if not pilot_name:
        return [Problem("pilot-missing", "no pilot given: give --pilot NAME (see `dronectl pilots list`)")]
    if pilot is None:
        return [Problem("pilot-unknown", f"pilot '{pilot_name}' is not in the register; add them with "
                                         "`dronectl pilots add`")]
    day = utc(when).date()
    valid = pilot.valid_competences(day)
    needs = NEEDS[aircraft.cls] if aircraft is not None else ()
    if not valid:
        last = max(pilot.competences, key=lambda c: c.expires)
        return [Problem("competence-expired", f"pilot {pilot.name}'s competence expired ({last.kind} "
                                              f"{last.certificate} on {last.expires.isoformat()}); register the "
                                              "renewed certificate")]
    if needs and not any(c.kind in needs for c in valid):
        return [Problem("competence-missing", f"pilot {pilot.name} holds no valid {' or '.join(needs)} competence, "
                                              f"which a class {aircraft.cls} aircraft needs")]
    return []


def aircraft_problems(aircraft: Aircraft | None, aircraft_name: str | None, hours_since_maintenance_h: float | None
                      ) -> list[Problem]:
    if aircraft is None:
        who = f"'{aircraft_name}'" if aircraft_name else "the connected vehicle"
        return [Problem("aircraft-unknown", f"aircraft {who} is not in the register; add it with "
                                            "`dronectl aircraft add`")]
    if hours_since_maintenance_h is not None and hours_since_maintenance_h >= aircraft.maintenance_interval_h:
        return [Problem("maintenance-overdue", f"aircraft {aircraft.registration} is due for maintenance "
                                               f"({hours_since_maintenance_h:.1f} h flown since, every "
                                               f"{aircraft.maintenance_interval_h:g} h); record it with "
                                               f"`dronectl aircraft maintained {aircraft.registration}`")]
    return []


def authorisation_problem(auth: Authorisation, points: list[Point], heights: list[float], start: datetime,
                          end: datetime) -> str | None:
    """Why ``auth`` does not cover the flight (None when it does)."""
    if not auth.covers_time(start, end):
        return (f"{auth.reference} is valid from {auth.valid_from:%Y-%m-%d %H:%M} to {auth.valid_until:%Y-%m-%d %H:%M} "
                "UTC, not at the time of the flight")
    outside = [i for i, p in enumerate(points) if not auth.perimeter.covers(p)]
    if outside:
        return f"{len(outside)} position(s) of the mission are outside the perimeter of {auth.reference} ({auth.place})"
    top = max(heights, default=0.0)
    if top > auth.max_height_m + TOLERANCE_M:
        return f"the mission climbs to {top:.0f} m, above the {auth.max_height_m:g} m {auth.reference} allows"
    return None


def police_problems(mission: Mission, authorisations: list[Authorisation], start: datetime, end: datetime
                    ) -> list[Problem]:
    auths = [a for a in authorisations if a.kind == "authorisation" and a.service == POLICE]
    if not auths:
        return [Problem("no-authorisation", "a police mission flies only under a prefect's authorisation, and the "
                                            "register holds none; record it with `dronectl authorisations add`")]
    points, heights = mission_points(mission), heights_m(mission)
    why = []
    for a in auths:
        reason = authorisation_problem(a, points, heights, start, end)
        if reason is None:
            return []
        why.append(reason)
    return [Problem("outside-authorisation", f"no authorisation covers this police mission: {why[0]}"
                                             + (f" (and {len(why) - 1} other authorisation(s) do not either)"
                                                if len(why) > 1 else ""))]


def populated_problems(mission: Mission, populated: dict[str, BaseGeometry], authorisations: list[Authorisation],
                       start: datetime) -> list[Problem]:
    """Warnings: each populated zone the mission flies over without a declaration filed 10 days before."""
    points = mission_points(mission)
    out = []
    for name, zone in populated.items():
        over = [p for p in points if zone.covers(p)]
        if not over:
            continue
        ok = [d for d in authorisations if d.kind in ("declaration", "authorisation")
              and d.valid_from <= utc(start) <= d.valid_until and all(d.perimeter.covers(p) for p in over)
              and (d.kind == "authorisation" or (d.filed_on is not None
                                                 and d.filed_on <= (utc(start) - DECLARATION_NOTICE).date()))]
        if not ok:
            out.append(Problem("no-declaration", f"the mission flies over populated zone '{name}' and no declaration "
                                                 "filed 10 days before covers it (`dronectl declare "
                                                 f"{name} --date ...` prints what to file)", blocking=False))
    return out


def flight_gate(mission: Mission, when: datetime, service: str, pilot_name: str | None, pilot: Pilot | None,
                aircraft_name: str | None, aircraft: Aircraft | None, hours_since_maintenance_h: float | None,
                authorisations: list[Authorisation], populated: dict[str, BaseGeometry] | None = None,
                duration_s: float = 0.0) -> list[Problem]:
    """Everything the register has against flying ``mission`` at ``when`` (for ``duration_s``) for ``service``.

    ``pilot``/``aircraft``: the register's records for the names given (None when unknown);
    ``populated``: name -> lon/lat polygon of the zones marked populated. Blocking problems first."""
    start = utc(when)
    end = start + timedelta(seconds=max(0.0, duration_s))
    out = pilot_problems(pilot, pilot_name, aircraft, start)
    out += aircraft_problems(aircraft, aircraft_name, hours_since_maintenance_h)
    if (service or "").lower() == POLICE:
        out += police_problems(mission, authorisations, start, end)
    out += populated_problems(mission, populated or {}, authorisations, start)
    return sorted(out, key=lambda p: not p.blocking)
