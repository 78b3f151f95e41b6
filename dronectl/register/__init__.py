"""The unit's register: flight logbook, pilots, aircraft, authorisations and declarations.

The calls the application layer makes around a flight::

    with register.open_register(archive_path) as reg:
        problems = register.flight_gate(reg, mission, when, service, pilot="dupont", aircraft="sysid:1")
        overrides = register.enforce(problems, force, reason)        # RegisterRefused unless forced
        ... upload, fly, with the telemetry logged to a .tlog ...
        entry = register.record_flight(reg, register.read_log(tlog)[-1], pilot="dupont", ..., overrides=overrides,
                                       warnings=problems)

``dronectl logbook import FILE`` does the last step for a log flown with another ground station. The model is
in :mod:`~dronectl.register.model`, the pure gates in :mod:`~dronectl.register.gates`, the tables in
:mod:`~dronectl.register.store`, the log reader in :mod:`~dronectl.register.telemetry`.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dronectl.errors import CheckFailed, InputError
from dronectl.register.gates import flight_gate as _gate
from dronectl.register.model import (Aircraft, Authorisation, LogEntry, Override, Pilot, Problem, iso, new_pilot,
                                     utc)
from dronectl.register.store import Register
from dronectl.register.telemetry import FlightFacts, read_log, vehicle_identity

__all__ = ["Aircraft", "Authorisation", "LogEntry", "Override", "Pilot", "Problem", "Register", "RegisterRefused",
           "FlightFacts", "enforce", "flight_gate", "import_log", "new_pilot", "open_register", "read_log",
           "record_flight", "police_register", "declaration", "populated_zones", "load_perimeter", "vehicle_identity"]


class RegisterRefused(CheckFailed):
    """The register refuses the flight (competence, aircraft, maintenance, authorisation)."""


@contextmanager
def open_register(archive_path=None, catalog_url: str | None = None, create: bool = True):
    """The register in the archive's database (the archive is created when missing, as ``archive ingest`` does)."""
    from dronectl.archive.archive import open_archive

    with open_archive(archive_path, catalog_url=catalog_url, create=create) as archive:
        reg = Register(archive.catalog)
        reg.archive = archive
        yield reg


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# --- zones, perimeters ---------------------------------------------------------------------------------
def populated_zones(zones_file=None) -> dict:
    """name -> lon/lat polygon of the zones whose ``populated`` property is true in the zone file."""
    from dronectl import geo

    path = Path(zones_file) if zones_file else geo.DEFAULT_ZONES
    flagged = {str(getattr(r, "name", "")) for r in geo._read_features(path, "zone")
               if str(getattr(r, "populated", "")).lower() in ("true", "1", "yes")}
    return {z.name: z.geometry for z in geo.load_zones(path) if z.name in flagged}


def load_perimeter(polygon_file=None, zone: str | None = None, zones_file=None):
    """(geometry, place name) of a perimeter given as a polygon file or a zone name; InputError otherwise."""
    from dronectl import geo

    if bool(polygon_file) == bool(zone):
        raise InputError("give the perimeter as --polygon FILE or --zone NAME (one of them)")
    if zone:
        return geo.find_zone(zone, zones_file).geometry, zone
    return geo.load_polygon(polygon_file), Path(polygon_file).name


# --- the gates --------------------------------------------------------------------------------------------
def flight_gate(reg: Register, mission, when: datetime | None = None, service: str = "", pilot: str | None = None,
                aircraft: str | None = None, zones_file=None, duration_s: float = 0.0) -> list[Problem]:
    """What the register has against flying ``mission`` now (or at ``when``) for ``service`` with ``pilot`` and
    ``aircraft`` (a registration, or the connected vehicle's autopilot identity ``sysid:N`` / ``uid:...``)."""
    when = utc(when or now_utc())
    ac = reg.find_aircraft(aircraft)
    since = reg.aircraft_totals(ac)["hours_since_maintenance"] if ac is not None else None
    try:
        populated = populated_zones(zones_file)
    except InputError:
        populated = {}
    return _gate(mission, when, service, pilot, reg.pilot(pilot) if pilot else None, aircraft, ac, since,
                 reg.authorisations(), populated, duration_s)


def enforce(problems: list[Problem], force: bool = False, reason: str | None = None) -> tuple[Override, ...]:
    """RegisterRefused (one sentence) for blocking problems unless ``force`` with a ``reason``; the overrides to
    record in the flight's logbook entry."""
    blocking = [p for p in problems if p.blocking]
    if force and not (reason or "").strip():
        raise InputError("--force needs --reason TEXT: the reason goes into the logbook")
    if blocking and not force:
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        raise RegisterRefused(f"not going: {blocking[0].message}{more}; or override with --force --reason TEXT")
    return tuple(Override(p.code, reason.strip()) for p in blocking) if blocking else ()


# --- recording ----------------------------------------------------------------------------------------------
def plan_checksum(plan_file) -> str:
    if not plan_file:
        return ""
    try:
        return hashlib.sha256(Path(plan_file).read_bytes()).hexdigest()
    except OSError:
        return ""


def record_flight(reg: Register, facts: FlightFacts, pilot: str, aircraft: str | None = None, service: str = "",
                  purpose: str = "", mission: str = "", plan_file=None, authorisation: str = "",
                  photos: int | None = None, overrides=(), warnings=(), simulated: bool = False,
                  source: str = "fly") -> LogEntry:
    """Append the logbook entry of one flight: its telemetry figures (``facts``), who flew what for whom, the
    overrides made and the gate's warnings. ``aircraft`` defaults to the registered aircraft whose autopilot
    identity the log carries."""
    ac = reg.find_aircraft(aircraft) if aircraft else reg.find_aircraft(facts.autopilot)
    if aircraft and ac is None:
        raise InputError(f"aircraft {aircraft} is not in the register; add it with `dronectl aircraft add`")
    events = list(facts.events) + [p.message for p in warnings if not p.blocking]
    entry = LogEntry(
        pilot=pilot, aircraft=ac.registration if ac else "", takeoff_at=facts.takeoff_at, landing_at=facts.landing_at,
        takeoff_lat_deg=facts.takeoff_lat_deg, takeoff_lon_deg=facts.takeoff_lon_deg,
        landing_lat_deg=facts.landing_lat_deg, landing_lon_deg=facts.landing_lon_deg, duration_s=facts.duration_s,
        max_height_m=facts.max_height_m, distance_m=facts.distance_m, mission=mission or "",
        plan_file=str(plan_file or ""), plan_sha256=plan_checksum(plan_file), service=service or "",
        purpose=purpose or "", authorisation=authorisation or "", photos=facts.photos if photos is None else photos,
        battery_start_pct=facts.battery_start_pct, battery_end_pct=facts.battery_end_pct, events=tuple(events),
        overrides=tuple(overrides), simulated=simulated, autopilot=facts.autopilot, firmware=facts.firmware,
        source=source)
    return reg.append(entry)


def import_log(reg: Register, path, pilot: str, aircraft: str | None = None, **context) -> list[LogEntry]:
    """One logbook entry per flight of a ``.tlog`` / ``.bin`` flown with another ground station. Everything is
    checked (the log read, the pilot and aircraft known) before the first entry is written."""
    if reg.pilot(pilot) is None:
        raise InputError(f"pilot '{pilot}' is not in the register; add them with `dronectl pilots add`")
    flights = read_log(path)
    if aircraft and reg.find_aircraft(aircraft) is None:
        raise InputError(f"aircraft {aircraft} is not in the register; add it with `dronectl aircraft add`")
    return [record_flight(reg, f, pilot, aircraft, source=f"import {Path(path).name}", **context) for f in flights]


# --- the register of police uses -------------------------------------------------------------------------
@dataclass(frozen=True)
class PoliceUse:
    entry: int
    authorisation: str
    authority: str
    purpose: str
    place: str
    takeoff_at: str
    landing_at: str
    pilot: str
    aircraft: str
    images: int
    deletion: tuple[str, ...]  # per image: "2026-12-11" or "held: <reason>"
    consultations: tuple[dict, ...]  # {at, actor, action, image_id}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["deletion"], d["consultations"] = list(self.deletion), list(self.consultations)
        return d


def police_register(reg: Register, since: datetime | None = None) -> list[PoliceUse]:
    """Each police flight of the logbook with its authorisation, place and time, crew, the images the archive
    holds for its mission, their deletion date (or hold), and who consulted them (the archive's audit log)."""
    archive = reg.archive
    auths = {a.reference: a for a in reg.authorisations()}
    out = []
    for e in reg.entries(since=since, service="police"):
        a = auths.get(e.authorisation)
        images = []
        if e.mission and "police" in archive.services.names:
            # metadata only, for the register: logged under its own action so it is told apart from consultations
            images = archive.search("police", mission=e.mission, service="police", action="register",
                                    actor="register")
        deletion, seen = [], []
        svc = archive.services.get("police") if images else None
        for rec in images:
            if rec.holds:
                deletion.append(f"held: {rec.hold_reason}")
            else:
                keep = svc.retention_for(rec.interior)
                taken = rec.captured_at or rec.ingested_at
                deletion.append(iso(taken + timedelta(seconds=keep)) if keep is not None else "kept (no limit)")
            for au in archive.audit_log(image_id=rec.id):
                if au.action != "register":
                    seen.append({"at": iso(au.at), "actor": au.actor, "action": au.action, "image_id": au.image_id})
        place = a.place if a else (f"{e.takeoff_lat_deg:.5f}, {e.takeoff_lon_deg:.5f}"
                                   if e.takeoff_lat_deg is not None else "")
        out.append(PoliceUse(e.seq, e.authorisation or "(none)", a.authority if a else "", e.purpose or
                             (a.purpose if a else ""), place, iso(e.takeoff_at), iso(e.landing_at), e.pilot,
                             e.aircraft, len(images), tuple(deletion), tuple(seen)))
    return out


# --- declarations ----------------------------------------------------------------------------------------
def declaration(reg: Register, zone: str, day: date, pilot: str | None = None, aircraft: str | None = None,
                height_m: float | None = None, start: str = "09:00", end: str = "12:00", zones_file=None) -> dict:
    """The fields a flight declaration asks for (operator, pilot, aircraft, place, height, times)."""
    from dronectl import geo

    z = geo.find_zone(zone, zones_file)
    p = reg.pilot(pilot) if pilot else None
    if pilot and p is None:
        raise InputError(f"pilot '{pilot}' is not in the register; add them with `dronectl pilots add`")
    ac = reg.find_aircraft(aircraft) if aircraft else None
    if aircraft and ac is None:
        raise InputError(f"aircraft {aircraft} is not in the register; add it with `dronectl aircraft add`")
    for t in (start, end):
        try:
            datetime.strptime(t, "%H:%M")
        except ValueError:
            raise InputError(f"time '{t}' is not HH:MM") from None
    c = z.geometry.centroid
    w, s, e, n = z.geometry.bounds
    return {
        "operator": ac.operator if ac else "(the operator's registration number)",
        "pilot": p.name if p else "(pilot)",
        "competences": [f"{c_.kind} {c_.certificate} (valid until {c_.expires.isoformat()})"
                        for c_ in p.competences] if p else [],
        "aircraft": f"{ac.registration} class {ac.cls}{' ' + ac.model if ac.model else ''}" if ac else "(aircraft)",
        "place": z.name, "centre_lat_deg": round(c.y, 6), "centre_lon_deg": round(c.x, 6),
        "bbox": [round(v, 6) for v in (w, s, e, n)],
        "max_height_m": height_m, "date": day.isoformat(), "start": start, "end": end,
        "file_by": (day - timedelta(days=10)).isoformat(),
    }
