"""dronectl's Python API: plan, connect, upload, fly and archive from a script.

What dronekit users wrote their scripts for (connect, wait until ready, upload or download a mission, change
mode, arm, take off, follow progress, return to launch), on the very functions the ``dronectl`` commands call:
this module adds no protocol code of its own. ``docs/python-api.md`` has the dronekit → dronectl table.

    from dronectl import api

    plan = api.plan_survey(zone="chantier-mediatheque", camera="mavic3e", altitude_m=50)
    with api.simulator(home=plan.missions[0].home) as sim, api.connect(sim.connection_string) as drone:
        drone.wait_ready()
        record = drone.fly(plan.missions[0], progress=lambda done, total, text: print(done, total, text))
    print(record.to_dict(track=False))

The workflows (check a plan, upload it, fly it, ingest a flight's photos, simulate a mission) are one function
each in :mod:`dronectl.api.workflows`, re-exported here: :func:`check_plan`, :func:`upload_plan`,
:func:`fly_plan`, :func:`ingest_flight`, :func:`simulate`. The commands call them; so do :meth:`Vehicle.upload`
and :meth:`Vehicle.fly`, with the same gates (the plan's checks, the vehicle against the plan), the same
``force=True, reason=...`` override and the same flight-log records.

Errors are :mod:`dronectl.errors` exceptions whose message is one sentence for the pilot (``LinkError`` for a
link that cannot be opened or goes silent, ``MissionRejected`` when the autopilot refuses a transfer,
``FlightFailed`` when it refuses a mode, arming or take-off).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dronectl.errors import InputError
from dronectl.mission import Home, Mission

__all__ = ["Vehicle", "connect", "simulator", "plan_survey", "survey_inputs", "plan_corridor", "plan_orbit",
           "plan_structure", "read_plan", "write_plan", "open_archive", "check_plan", "check_plan_file",
           "upload_plan", "fly_plan", "ingest_flight", "simulate", "PlanCheck", "UploadRecord", "FlightResult",
           "IngestRecord", "CameraSim", "Override", "BENCH_LINE", "Crew", "RegisterCheck", "record_flight_log",
           "migrate_archive", "open_register", "flight_gate", "enforce", "record_flight", "read_log", "import_log",
           "vehicle_identity", "police_register", "declaration", "RegisterRefused", "Problem", "LogEntry"]


_WORKFLOWS = ("BENCH_LINE", "CameraSim", "FlightResult", "IngestRecord", "Override", "PlanCheck", "UploadRecord",
              "check_plan", "check_plan_file", "fly_plan", "ingest_flight", "simulate", "upload_plan", "Crew",
              "RegisterCheck", "record_flight_log", "migrate_archive")
# what a script needs of the unit's register (dronectl.register; docs/operations.md)
_REGISTER = ("open_register", "flight_gate", "enforce", "record_flight", "read_log", "import_log", "vehicle_identity",
             "police_register", "declaration", "RegisterRefused", "Problem", "LogEntry")


def __getattr__(name: str):
    """The workflows (:mod:`dronectl.api.workflows`) and the register's functions (:mod:`dronectl.register`),
    imported when first used: ``import dronectl.api`` stays light."""
    if name in _WORKFLOWS:
        from dronectl.api import workflows

        return getattr(workflows, name)
    if name in _REGISTER:
        from dronectl import register

        return getattr(register, name)
    raise AttributeError(f"module 'dronectl.api' has no attribute '{name}'")


def _bar(callback, text: bool = True):
    """A ``progress(label, total)`` factory over a plain ``callback(done, total[, text])`` (or none)."""
    from contextlib import nullcontext

    class _Bar:
        def update(self, done, total=None, text_=""):
            if callback is not None:
                callback(done, total, *((text_,) if text else ()))

    return lambda label, total=None: nullcontext(_Bar())


class Vehicle:
    """One MAVLink vehicle on an open link. Use :func:`connect` to get one; close it (or use ``with``)."""

    def __init__(self, conn: str, master):
        self.conn, self.master = conn, master
        self._flight = None

    # --- the link ------------------------------------------------------------------------------
    def close(self) -> None:
        if self.master is not None:
            self.master.close()
            self.master = None

    def __enter__(self) -> "Vehicle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _link(self):
        if self.master is None:
            raise InputError("this vehicle's link is closed: connect again with dronectl.api.connect")
        return self.master

    def _controller(self):
        """The command/mode/arming state machine the flight uses (one per link)."""
        from dronectl.mavlink import flight

        if self._flight is None:
            self._flight = flight._Flight(self._link(), Mission(items=()), None, link_timeout_s=5.0)
        return self._flight

    # --- state ---------------------------------------------------------------------------------
    def wait_ready(self, timeout_s: float = 120.0, armable: bool = False) -> None:
        """Until the vehicle has a GPS position (and, with ``armable``, passes its pre-arm checks)."""
        from dronectl.mavlink import link

        link.wait_ready(self._link(), time.monotonic() + timeout_s, armable=armable)

    def position(self, timeout_s: float = 5.0) -> tuple[float, float, float] | None:
        """The latest (lat°, lon°, height above home m) the vehicle reports, or None without a fix."""
        from dronectl.mavlink import link

        link.request_streams(self._link())
        msg = self._link().recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=timeout_s)
        if msg is None or (msg.lat == 0 and msg.lon == 0):
            return None
        return (msg.lat / 1e7, msg.lon / 1e7, round(msg.relative_alt / 1000.0, 2))

    # --- missions ------------------------------------------------------------------------------
    def upload(self, mission: Mission, verify: bool = True, method: str = "auto", progress=None,
               force: bool = False, reason: str | None = None, limits=None, say=None, **crew) -> "UploadRecord":
        """Upload mission, geofence and rally points; with ``verify``, read them back and compare: what
        ``dronectl mission upload`` runs (:func:`upload_plan`), gates included. A plan that fails its checks, or
        a vehicle that does not fit it (3 km from the take-off point...), is refused unless ``force=True`` with
        a ``reason`` (logged in the flight log). Without a GPS fix or home, it uploads at the bench.

        ``crew``: the register's :class:`Crew` fields (``pilot=``, ``service=``, ``archive=``, ``simulated=``...):
        a police mission goes up only inside a valid authorisation, and a real vehicle needs a registered pilot
        and aircraft (RegisterRefused unless forced).

        ``progress(done, total)`` is called as items go up; ``say(text)`` hears warnings. Raises CheckFailed,
        VehicleNotReady, MissionRejected, LinkError.
        """
        from dronectl.api.workflows import Crew, upload_plan
        from dronectl.mavlink.vehicle_state import require_items

        require_items(mission)
        return upload_plan(mission, master=self._link(), verify=verify, method=method, force=force, reason=reason,
                           limits=limits, progress=_bar(progress, text=False), say=say or _warn, crew=Crew(**crew))

    def download(self, progress=None, method: str = "auto") -> Mission:
        """The mission (with geofence and rally points) the vehicle holds; ``method`` as `mission download
        --method` (auto/items: the item protocol; ftp: one file over MAVLink FTP)."""
        from dronectl.mavlink import transfer

        return transfer.download(self._link(), progress=progress, method=method)

    def clear(self) -> None:
        """Clear mission, geofence and rally points on the vehicle."""
        from dronectl.mavlink import transfer

        transfer.clear(self._link())

    def set_current(self, seq: int) -> None:
        """Make mission item ``seq`` the one the vehicle flies to next."""
        from dronectl.mavlink import transfer

        transfer.set_current(self._link(), seq)

    # --- commands ------------------------------------------------------------------------------
    def set_mode(self, name: str) -> None:
        """``GUIDED``, ``AUTO``, ``LOITER``, ``RTL``, ``LAND``... (ArduCopter mode names)."""
        from dronectl.mavlink.flight import COPTER_MODES

        if name.upper() not in COPTER_MODES:
            raise InputError(f"unknown mode '{name}': use one of {', '.join(COPTER_MODES)}")
        self._controller().set_mode(name.upper())

    def arm(self, timeout_s: float = 60.0) -> None:
        """Arm the motors, retrying while the pre-arm checks still fail, for up to ``timeout_s``."""
        self._controller().arm(timeout_s)

    def takeoff(self, alt_m: float) -> None:
        """Climb to ``alt_m`` above home in GUIDED mode (arm first); returns once the command is accepted."""
        from dronectl.mavlink.flight import M, FlightFailed

        result = self._controller().command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, float(alt_m))
        if result != M.MAV_RESULT_ACCEPTED:
            raise FlightFailed(f"the vehicle refused to take off (result {result})")

    def rtl(self) -> None:
        """Return to launch (and land there)."""
        self.set_mode("RTL")

    def wait_altitude(self, alt_m: float, timeout_s: float = 120.0, tolerance_m: float = 1.0) -> float:
        """Until the vehicle is within ``tolerance_m`` of ``alt_m`` above home; returns the height reached."""
        return self._wait(lambda f: f.pos is not None and abs(f.pos[2] - alt_m) <= tolerance_m, timeout_s,
                          f"reach {alt_m:g} m").pos[2]

    def wait_landed(self, timeout_s: float = 300.0) -> None:
        """Until the vehicle reports itself disarmed (landed)."""
        self._wait(lambda f: not f.armed, timeout_s, "land and disarm")

    def _wait(self, done, timeout_s: float, what: str):
        from dronectl.mavlink import link
        from dronectl.mavlink.flight import FlightFailed

        f = self._controller()
        link.request_streams(self._link())
        deadline = time.monotonic() + timeout_s
        while not done(f):
            if time.monotonic() > deadline:
                raise FlightFailed(f"the vehicle did not {what} within {timeout_s:g} s")
            f.pump(0.2)
        return f

    # --- a whole flight --------------------------------------------------------------------------
    def fly(self, mission: Mission, progress=None, log_path: Path | str | None = None, verify: bool = True,
            link_timeout_s: float = 5.0, force: bool = False, reason: str | None = None, limits=None, say=None,
            camera=None, **crew) -> "FlightResult":
        """What ``dronectl fly`` runs (:func:`fly_plan`): the plan's checks, the vehicle against the plan
        (position, VLOS, GPS fix, home, battery for the plan plus its reserve), refused unless ``force=True``
        with a ``reason`` (logged); then upload and verify, take off, fly in AUTO, land; the flight log entry.
        Returns a FlightResult (``.outcome``, ``.record``, ``to_dict()``; the FlightRecord's fields read through).

        ``progress(items_reached, items_total, text)`` follows the flight; ``say(text)`` hears the waits, the
        Ctrl-C line and failsafes. Ctrl-C commands RTL and waits for the landing (``outcome`` ``interrupted``).

        ``crew``: the register's :class:`Crew` fields (``pilot=`` (default ``$DRONECTL_PILOT``), ``service=``,
        ``purpose=``, ``authorisation=``, ``mission_id=``, ``archive=``, ``simulated=``): the register's gate
        before the flight (RegisterRefused unless forced), its logbook entry after (``result.logbook``).
        """
        from dronectl.api.workflows import Crew, fly_plan

        self.close()  # the flight opens its own link (and its telemetry log) on the same connection string
        try:
            return fly_plan(mission, self.conn, progress=_bar(progress), log_path=log_path, verify=verify,
                            link_timeout_s=link_timeout_s, force=force, reason=reason, limits=limits,
                            say=say or _warn, camera=camera, crew=Crew(**crew))
        finally:
            self.master, self._flight = _open(self.conn, 30.0), None


def _warn(text: str) -> None:
    """What a script's pilot should read (overrides, waits), when the script gives no ``say``: on stderr."""
    import sys

    print(f"dronectl: {text}", file=sys.stderr)


def _open(conn: str, timeout_s: float):
    from dronectl.mavlink import link

    return link.connect(conn, timeout_s)


def connect(conn: str, timeout_s: float = 30.0) -> Vehicle:
    """Open ``conn`` (``tcp:127.0.0.1:5760``, ``udp:127.0.0.1:14550``, ``/dev/ttyUSB0,57600``...) and wait for
    the vehicle's heartbeat. LinkError when there is none within ``timeout_s``."""
    return Vehicle(conn, _open(conn, timeout_s))


@contextmanager
def simulator(home: Home | tuple = (49.3817, 3.3236, 60.0), speedup: float = 10.0, listen: str = "tcp:127.0.0.1:0",
              **options):
    """The built-in test vehicle (an ArduCopter stand-in) in this process; yields its handle, whose
    ``connection_string`` is what to connect to. Options: ``loss``, ``duplicate``, ``delay_ms``, ``seed``..."""
    from dronectl.sim.vehicle import start_vehicle

    if isinstance(home, Home):
        home = (home.lat_deg, home.lon_deg, home.alt_m)
    handle = start_vehicle(listen=listen, home=home, speedup=speedup, **options)
    try:
        yield handle
    finally:
        handle.stop()


@dataclass(frozen=True)
class SurveyInputs:
    """A survey's inputs, resolved: the area (lon/lat) and its name, the camera, the parameters, the no-fly
    polygons, the airspace restrictions and the DEM."""

    area: object
    name: str
    camera: object
    params: object
    exclusions: object = None
    airspace: tuple = ()
    terrain: str | None = None


def _homes(params: dict, homes_file) -> dict:
    """Several take-off points: ``homes`` (a list of (lat, lon[, alt])), ``home_latlon`` and a ``homes_file`` of
    points merged into ``homes``; one take-off point in all stays ``home_latlon`` (the single-home plan)."""
    if homes_file is None and not params.get("homes"):
        return params
    from dronectl.geo import load_points

    homes = [tuple(h) for h in params.pop("homes", None) or ()]
    if params.get("home_latlon") is not None:
        homes.insert(0, tuple(params.pop("home_latlon")) + ((params.pop("home_alt_m"),)
                                                            if params.get("home_alt_m") is not None else ()))
    homes += load_points(homes_file) if homes_file is not None else []
    if len(homes) == 1:
        h = homes[0]
        return dict(params, home_latlon=(h[0], h[1]), home_alt_m=h[2] if len(h) > 2 else params.get("home_alt_m"))
    return dict(params, homes=tuple(homes))


def _resolve(camera, cameras_file, airspace_file, exclude):
    from shapely import union_all

    from dronectl.camera import find_camera
    from dronectl.geo import load_airspace, load_polygon

    exclusions = union_all([load_polygon(g) if isinstance(g, (str, Path)) else g for g in exclude]) if exclude else None
    airspace = () if airspace_file is False else tuple(load_airspace(airspace_file))
    return find_camera(camera, cameras_file), exclusions, airspace


def survey_inputs(zone: str | None = None, polygon=None, camera: str = "mavic3e", zones_file=None, cameras_file=None,
                  airspace_file=None, exclude=(), terrain=None, name: str | None = None, homes_file=None,
                  **params) -> SurveyInputs:
    """Resolve what a user names (a zone, files, a camera id) into the planner's inputs; see :func:`plan_survey`."""
    from dronectl.geo import find_zone, load_polygon
    from dronectl.survey import SurveyParams

    if (zone is None) == (polygon is None):
        raise InputError("give the area with --zone NAME or --polygon FILE (one of them)")
    if zone is not None:
        z = find_zone(zone, zones_file)
        area, name = z.geometry, name or z.name
    else:
        area = load_polygon(polygon) if isinstance(polygon, (str, Path)) else polygon
        name = name or (Path(polygon).stem if isinstance(polygon, (str, Path)) else "survey")
    cam, exclusions, airspace = _resolve(camera, cameras_file, airspace_file, exclude)
    return SurveyInputs(area, name, cam, SurveyParams(**_homes(params, homes_file)), exclusions, airspace,
                        str(terrain) if terrain else None)


def plan_survey(zone: str | None = None, polygon=None, camera: str = "mavic3e", zones_file=None, cameras_file=None,
                airspace_file=None, exclude=(), terrain=None, name: str | None = None, homes_file=None, **params):
    """Plan a survey over a named zone, or a polygon (a shapely geometry in lon/lat, or a GeoJSON/GeoPackage path).

    ``exclude``: no-fly polygons (geometries or files); ``terrain``: a DEM GeoTIFF; ``airspace_file``: restriction
    zones (default: the shipped file; ``False`` for none). ``params`` are :class:`dronectl.survey.SurveyParams`
    fields (``altitude_m``, ``gsd_cm``, ``front_overlap``, ``side_overlap``, ``speed_mps``, ``battery_min``...).
    Several take-off points: ``homes=[(lat, lon), ...]`` or ``homes_file`` (points); each sortie then starts from
    the one that keeps it within ``vlos_m``.
    Returns a SurveyPlan: ``.missions`` (one per sortie) and ``.summary`` (the figures ``plan survey`` prints).
    This is what ``dronectl plan survey`` runs.
    """
    from dronectl.survey import plan_survey as _plan

    s = survey_inputs(zone, polygon, camera, zones_file, cameras_file, airspace_file, exclude, terrain, name,
                      homes_file, **params)
    return _plan(s.area, s.camera, s.params, exclusions_lonlat=s.exclusions, airspace=list(s.airspace),
                 dem_path=s.terrain, name=s.name)


def plan_corridor(line=None, zone_line: str | None = None, width_m: float | None = None, camera: str = "mavic3e",
                  zones_file=None, cameras_file=None, airspace_file=None, exclude=(), terrain=None,
                  name: str | None = None, homes_file=None, **params):
    """Plan a corridor ``width_m`` wide along a centre line: ``line`` (a shapely LineString/MultiLineString in
    lon/lat, or a GeoJSON/GeoPackage path) or ``zone_line``, a line of the zone file. The other arguments are
    :func:`plan_survey`'s (no grid bearing, no crosshatch). This is what ``dronectl plan corridor`` runs."""
    from dronectl.geo import find_zone, load_lines
    from dronectl.survey import SurveyParams
    from dronectl.survey.corridor import plan_corridor as _plan

    if (line is None) == (zone_line is None):
        raise InputError("give the centre line with --line FILE or --zone-line NAME (one of them)")
    if width_m is None:
        raise InputError("give the corridor's width with --width M")
    if zone_line is not None:
        z = find_zone(zone_line, zones_file, kind="line")
        geom, name = z.geometry, name or z.name
    else:
        geom = load_lines(line) if isinstance(line, (str, Path)) else line
        name = name or (Path(line).stem if isinstance(line, (str, Path)) else "corridor")
    cam, exclusions, airspace = _resolve(camera, cameras_file, airspace_file, exclude)
    return _plan(geom, width_m, cam, SurveyParams(**_homes(params, homes_file)), exclusions_lonlat=exclusions,
                 airspace=list(airspace), dem_path=str(terrain) if terrain else None, name=name)


def plan_orbit(center: tuple[float, float], radius_m: float, altitudes_m, camera: str = "mavic3e",
               cameras_file=None, airspace_file=None, name: str | None = None, **params):
    """Circles of ``radius_m`` around ``center`` (lat, lon) at each height of ``altitudes_m`` (a number or a list),
    the camera on the centre, ``photos`` pictures per ring. ``params`` are :class:`dronectl.survey.orbit.OrbitParams`
    fields (``photos``, ``pitch_deg``, ``speed_mps``, ``home_latlon``, ``battery_min``...). Returns a SurveyPlan,
    as :func:`plan_survey`. This is what ``dronectl plan orbit`` runs."""
    from dronectl.survey.orbit import OrbitParams, plan_orbit as _plan

    alts = (altitudes_m,) if isinstance(altitudes_m, (int, float)) else tuple(altitudes_m or ())
    p = OrbitParams(center_latlon=tuple(center), radius_m=radius_m, altitudes_m=alts, **params)
    cam, _, airspace = _resolve(camera, cameras_file, airspace_file, ())
    return _plan(cam, p, list(airspace), name=name or "orbit")


def plan_structure(zone: str | None = None, polygon=None, distance_m: float | None = None,
                   height_m: float | None = None, camera: str = "mavic3e", zones_file=None, cameras_file=None,
                   airspace_file=None, name: str | None = None, **params):
    """A facade scan of a building: a zone of the zone file (its ``height_m`` is the default height) or a
    polygon (a shapely geometry in lon/lat, or a GeoJSON/GeoPackage path), the camera ``distance_m`` from the
    walls. ``params`` are :class:`dronectl.survey.structure.StructureParams` fields (``bottom_m``,
    ``vertical_overlap``, ``side_overlap``, ``pitch_deg``, ``bottom_up``, ``speed_mps``, ``home_latlon``...).
    The other structures of the zone file are obstacles the path must not enter. Returns a SurveyPlan, as
    :func:`plan_survey`. This is what ``dronectl plan structure`` runs."""
    from dronectl.geo import find_zone, load_polygon, load_structures
    from dronectl.survey.structure import StructureParams, plan_structure as _plan

    if (zone is None) == (polygon is None):
        raise InputError("give the structure with --zone NAME or --polygon FILE (one of them)")
    structures = load_structures(zones_file)
    if zone is not None:
        z = find_zone(zone, zones_file)
        outline, name = z.geometry, name or z.name
        known = [s for s in structures if s.name == z.name]
        if height_m is None and known and known[0].height_m is not None:
            height_m = known[0].height_m
        others = [s for s in structures if s.name != z.name]
    else:
        outline = load_polygon(polygon) if isinstance(polygon, (str, Path)) else polygon
        name = name or (Path(polygon).stem if isinstance(polygon, (str, Path)) else "structure")
        others = structures
    if height_m is None:
        raise InputError(f"give the height of '{name}' with --height M (metres above the take-off point)"
                         + (f": zone '{zone}' has no height_m" if zone is not None else ""))
    if distance_m is None:
        raise InputError("give the distance from the walls with --distance M")
    p = StructureParams(distance_m=distance_m, height_m=height_m, **params)
    cam, _, airspace = _resolve(camera, cameras_file, airspace_file, ())
    return _plan(outline, cam, p, list(airspace), others, name=name)


def read_plan(path: Path | str) -> Mission:
    """A mission from a ``.plan`` or ``.waypoints`` file."""
    from dronectl.formats import read_mission

    return read_mission(path)


def write_plan(missions, path: Path | str, preview: Path | str | None = None) -> list[Path]:
    """Write one mission (``path``) or several sorties (``NAME-1.plan``...), all or nothing; returns the paths."""
    from dronectl.formats import write_sorties
    from dronectl.survey.extras import survey_extras

    missions = [missions] if isinstance(missions, Mission) else list(missions)
    return write_sorties(missions, path, preview, survey_extras(missions) if preview else None).written


def open_archive(path: Path | str | None = None, **kwargs):
    """The image archive at ``path`` (see :func:`dronectl.archive.open_archive`)."""
    from dronectl.archive import open_archive as _open_archive

    return _open_archive(path, **kwargs)
