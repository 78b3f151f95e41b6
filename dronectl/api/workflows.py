"""The workflows a user runs, one function each: check a plan, upload it, fly it, ingest a flight's photos,
simulate a mission. The commands (``dronectl plan check``, ``mission upload``, ``fly``, ``sim run``) and
:class:`dronectl.api.Vehicle` call these and nothing else, so a script gets the same gates, the same override and
the same flight-log records as the command line.

Each function reads its inputs once (a plan file is read once, then handed on as a Mission) and returns a frozen
record with ``to_dict()``. The gates, in order:

1. the plan's own preflight checks (what ``dronectl plan check`` says); a plan that fails them is refused
   (CheckFailed) unless ``force=True`` with a ``reason``, which goes into the flight log first;
2. once the vehicle answers, the unit's register (:class:`Crew`: pilot, aircraft, maintenance, a police mission's
   authorisation; a populated zone warns): RegisterRefused unless forced with a reason, which goes into the
   flight's logbook entry (:func:`record_flight_log`);
3. the live vehicle against the plan (GPS fix, home, position within ``max_distance_m`` of the take-off point,
   every waypoint within VLOS of it, battery for the flight plus the reserve): refused (VehicleNotReady) unless
   forced with a reason, logged the same way. An upload at the bench (no fix or no home yet) checks the battery
   only and says that the rest will be checked by ``fly``.

``say(text)`` hears what the pilot should read as it happens (waits, overrides, the Ctrl-C line, failsafes);
``progress(label, total)`` returns a context manager whose object has ``update(done, total, text)`` (one bar at
a time), as in :func:`dronectl.sim.run.run_simulated_mission`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from dronectl.checks import PLANNED
from dronectl.errors import InputError, MissionRejected
from dronectl.mission import Mission

BENCH_LINE = ("no GPS fix or home yet: uploaded at the bench; the position, VLOS and battery checks will be made "
              "by `dronectl fly` before the take-off")


def _quiet(text: str) -> None:
    pass


def no_progress(label, total=None):
    from dronectl.sim.run import no_progress as _none

    return _none(label, total)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- inputs ---------------------------------------------------------------------------------------
def _load(plan) -> tuple[Mission, str]:
    """A Mission and how to name it: a file is read here, once."""
    if isinstance(plan, Mission):
        return plan, str(plan.plan_data.zone if plan.plan_data else "the mission")
    from dronectl.formats import read_mission

    return read_mission(plan), str(plan)


def check_plan_file(plan_file, airspace_file=None, use_airspace: bool = True, vlos_m=PLANNED, battery_min=None,
                    reserve=None, capacity=PLANNED, mission: Mission | None = None):
    """The preflight checks of a plan file (or of ``mission`` already read from it): a list of Violations.

    The battery time, reserve, line-of-sight radius and mission capacity default to those the plan was made
    with (dronectl metadata), else 25 min, 25 %, 500 m and 650 items (None skips the VLOS/capacity rule).
    Airspace: ``airspace_file``,
    or the shipped default; none if ``use_airspace`` is False."""
    from dronectl.checks import check_planned
    from dronectl.geo import load_airspace

    if mission is None:
        from dronectl.formats import read_mission

        mission = read_mission(plan_file)
    airspace = load_airspace(airspace_file) if use_airspace else None
    return check_planned(mission, airspace, source=str(plan_file), vlos_m=vlos_m, battery_min=battery_min,
                         reserve=reserve, capacity=capacity)


@dataclass(frozen=True)
class PlanCheck:
    """What ``dronectl plan check`` says of a plan."""

    file: str
    violations: tuple = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {"file": self.file, "ok": self.ok,
                "violations": [{"rule": v.rule, "item": v.item, "message": v.message} for v in self.violations]}


def check_plan(plan, airspace_file=None, use_airspace: bool = True, vlos_m=PLANNED, battery_min=None,
               reserve=None, capacity=PLANNED) -> PlanCheck:
    """The preflight checks of a plan (a file path or a Mission) → :class:`PlanCheck`. This is what
    ``dronectl plan check`` runs, and the first gate of :func:`upload_plan` and :func:`fly_plan`."""
    mission, source = _load(plan)
    return PlanCheck(source, tuple(check_plan_file(source, airspace_file, use_airspace, vlos_m, battery_min,
                                                   reserve, capacity, mission=mission)))


# --- the gates ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Override:
    """``--force --reason``: go on despite failed checks; the reason is required and goes into the flight log."""

    force: bool = False
    reason: str | None = None

    def __post_init__(self):
        if self.force and not (self.reason or "").strip():
            raise InputError("--force needs --reason TEXT: the reason goes into the flight log")


def _log(event: dict, say) -> None:
    """Append to the flight log; a warning, not a failure, when it cannot be written."""
    from dronectl.flightlog import flight_log_path, log_event

    try:
        log_event(event)
    except OSError as exc:
        say(f"warning: cannot write the flight log {flight_log_path()}: {exc.strerror}")


def _plan_gate(mission: Mission, source: str, override: Override, command: str, conn: str, say) -> list[str]:
    """Gate 1: the plan's own checks (the plan is not read again)."""
    from dronectl.flightlog import flight_log_path, preflight_gate

    violations = [v.message for v in check_plan_file(source, mission=mission)]
    forced = preflight_gate(violations, source, override.force, override.reason, command, conn)
    if forced:
        say(f"warning: {source} fails {plural(len(forced), 'preflight check')}; going on because: "
            f"{override.reason} (logged in {flight_log_path()})")
    return forced


def _vehicle_gate(override: Override, command: str, source: str, conn: str, say, forced: list):
    """Gate 2's override: refuse, or log the problems, say so and go on (``forced`` collects them)."""
    from dronectl.flightlog import flight_log_path, vehicle_override

    logged = vehicle_override(override.force, override.reason, command, source, conn)

    def decide(problems: list[str]) -> None:
        logged(problems)
        forced.extend(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        say(f"warning: {problems[0]}{more}; going on because: {override.reason} (logged in {flight_log_path()})")

    return decide


# --- the register ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Crew:
    """Who flies for whom, for the unit's register (:mod:`dronectl.register`, ``docs/operations.md``).

    ``pilot`` (default ``$DRONECTL_PILOT``); the ``service`` and ``purpose``; the ``authorisation``'s reference;
    ``mission_id``, the id the flight's images are archived under (the logbook entry sits beside them); the
    ``archive`` whose register is used (default ``$DRONECTL_ARCHIVE``, else ``./archive``); ``zones_file``, whose
    zones marked populated are checked (default: the shipped one); ``simulated`` (None: asked of the vehicle,
    which is a simulator when it has the ``SIM_SPEEDUP`` parameter, as ArduPilot SITL and the built-in vehicle)."""

    pilot: str | None = None
    service: str = ""
    purpose: str = ""
    authorisation: str = ""
    mission_id: str | None = None
    archive: str | None = None
    zones_file: str | None = None
    simulated: bool | None = None

    @property
    def pilot_name(self) -> str | None:
        return (self.pilot or os.environ.get("DRONECTL_PILOT") or "").strip() or None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RegisterCheck:
    """What the register's gate said of a flight: the vehicle's identity, whether it is simulated, the registered
    aircraft it matched (None when none), the problems found (blocking ones overridden, the others warnings) and
    the overrides, which go into the logbook entry."""

    autopilot: str
    simulated: bool
    pilot: str | None = None
    aircraft: str | None = None
    problems: tuple = ()  # register.Problem
    overrides: tuple = ()  # register.Override

    @property
    def warnings(self) -> list[str]:
        return [p.message for p in self.problems if not p.blocking]

    def to_dict(self) -> dict:
        return {"autopilot": self.autopilot, "simulated": self.simulated, "pilot": self.pilot,
                "aircraft": self.aircraft, "warnings": self.warnings,
                "overrides": [o.to_dict() for o in self.overrides]}


def _register_gate(mission: Mission, ident, crew: Crew, override: Override, say) -> RegisterCheck:
    """Gate 1b: the register (pilot, aircraft, maintenance, police authorisation, populated zones), once the
    vehicle has said who it is. On a simulator with no pilot named, nothing is checked (a warning says so); a
    real vehicle, or a simulator with a pilot (a rehearsal), gets every check. RegisterRefused unless forced."""
    from dronectl import register
    from dronectl.errors import ArchiveError
    from dronectl.timing import estimate_duration_s

    autopilot = register.vehicle_identity(ident.uid, ident.sysid)
    simulated = ident.simulated if crew.simulated is None else bool(crew.simulated)
    pilot = crew.pilot_name
    if simulated and pilot is None:
        # said after the flight, with its logbook entry (record_flight_log): nothing here stops it
        return RegisterCheck(autopilot, True, None, None, (register.Problem("pilot-missing", NO_PILOT_LINE, False),))
    duration_s = estimate_duration_s(mission)
    try:
        with register.open_register(crew.archive, create=False) as reg:
            problems = register.flight_gate(reg, mission, None, crew.service, pilot, autopilot, crew.zones_file,
                                            duration_s)
            ac = reg.find_aircraft(autopilot)
    except ArchiveError:  # no archive yet: an empty register (every real flight is refused, unless forced)
        from dronectl.register.gates import flight_gate as pure_gate

        try:
            populated = register.populated_zones(crew.zones_file)
        except InputError:
            populated = {}
        problems = pure_gate(mission, register.now_utc(), crew.service, pilot, None, autopilot, None, None, [],
                             populated, duration_s)
        ac = None
    overrides = register.enforce(problems, override.force, override.reason)
    for p in problems:
        say(f"warning: {p.message}" + (f"; going on because: {override.reason} (logged in the logbook)"
                                       if p.blocking else ""))
    return RegisterCheck(autopilot, simulated, pilot, ac.registration if ac else None, tuple(problems), overrides)


NO_PILOT = "(no pilot)"  # the logbook's pilot of a simulated flight flown without one
NO_PILOT_LINE = ("no pilot given: a simulated flight went without the register's checks, recorded as simulated; "
                 "a real one needs --pilot NAME (or $DRONECTL_PILOT)")


def _archive_exists(archive) -> bool:
    from dronectl.archive.archive import default_archive_path

    return ((Path(archive) if archive else default_archive_path()) / "config.toml").is_file()


def record_flight_log(tlog, check: RegisterCheck, crew: Crew, mission_id: str, plan_file=None, error: str = "",
                      say=_quiet) -> tuple[int, ...]:
    """The logbook entries of a flight just flown (one per take-off in its ``.tlog``, read as ``logbook import``
    reads it): its figures, the crew, the gate's overrides and warnings. A simulated flight is recorded only when
    the archive exists (a real one creates it). Returns the entries' numbers."""
    from dronectl import register

    try:
        flights = register.read_log(tlog)
    except InputError:
        return ()  # the vehicle never armed: no flight to record
    if check.pilot is None:
        say(f"warning: {NO_PILOT_LINE}")
    if check.simulated and not _archive_exists(crew.archive):
        say(f"the simulated flight is not recorded in the logbook: no archive in {crew.archive or 'archive'} "
            "(give --archive)")
        return ()
    warnings = list(check.problems)
    if error:
        warnings.append(register.Problem("flight-error", f"the flight ended with an error: {error}", False))
    with register.open_register(crew.archive) as reg:
        return tuple(register.record_flight(
            reg, f, check.pilot or NO_PILOT, check.aircraft, service=crew.service or "", purpose=crew.purpose or "",
            mission=mission_id, plan_file=plan_file, authorisation=crew.authorisation or "",
            overrides=check.overrides, warnings=warnings, simulated=check.simulated).seq for f in flights)


# --- upload ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadRecord:
    file: str
    items: int
    fence_polygons: int
    fence_circles: int
    rally_points: int
    verified: bool
    method: str
    ftp_fallback: str | None = None
    forced_violations: tuple = ()
    forced_vehicle_problems: tuple = ()
    at_bench: bool = False  # no fix or home: position, VLOS and battery are checked by fly
    register: RegisterCheck | None = None  # the register's gate: identity, simulated, overrides, warnings

    @property
    def fence_shapes(self) -> int:
        return self.fence_polygons + self.fence_circles

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(forced_violations=list(self.forced_violations),
                 forced_vehicle_problems=list(self.forced_vehicle_problems),
                 register=self.register.to_dict() if self.register is not None else None)
        return d

    def sentence(self) -> str:
        how = "MAVLink FTP" if self.method == "ftp" else "item protocol"
        return (f"uploaded {plural(self.items, 'item')} ({how}), {plural(self.fence_shapes, 'fence shape')}, "
                f"{plural(self.rally_points, 'rally point')}"
                f"{'; read back identical' if self.verified else ' (not verified)'}")


def upload_plan(plan, conn: str | None = None, *, master=None, verify: bool = True, method: str = "auto",
                force: bool = False, reason: str | None = None, limits=None, timeout_s: float = 10.0,
                progress=no_progress, say=_quiet, command: str = "mission upload", crew: Crew | None = None
                ) -> UploadRecord:
    """Upload a plan (a file path or a Mission) with its geofence and rally points, then read it back and compare.

    The gates first (the plan's checks, then the vehicle against the plan; ``force`` + ``reason`` to override,
    logged), then the register's (``crew``: pilot, aircraft, maintenance, a police mission's authorisation;
    overridden the same way). With no GPS fix or no home the upload goes ahead at the bench: only the battery is checked, and
    ``say`` is told that the rest is for ``fly``. ``conn`` is opened (and closed) here, or ``master`` (an open
    link) is used. This is what ``dronectl mission upload`` and :meth:`dronectl.api.Vehicle.upload` run.
    """
    from dronectl.mavlink import link, transfer, vehicle_state

    override = Override(force, reason)
    mission, source = _load(plan)
    vehicle_state.require_items(mission, source)
    if master is None:
        link.check_connection_string(conn)
    conn_name = conn or getattr(master, "dronectl_conn", None) or getattr(master, "address", "") or ""
    limits = limits or vehicle_state.StateLimits()
    forced = _plan_gate(mission, source, override, command, conn_name, say)
    vehicle_forced: list[str] = []
    decide = _vehicle_gate(override, command, source, conn_name, say, vehicle_forced)
    with link.opened(master if master is not None else conn, timeout_s) as mst:
        check = _register_gate(mission, vehicle_state.identify(mst), crew or Crew(), override, say)
        state = vehicle_state.read_state(mst)
        bench = vehicle_state.at_bench(state)
        vehicle_state.check(mst, mission, limits, decide, state=state, position=not bench)
        if bench:
            say(BENCH_LINE)
        with progress("upload", len(mission.items) + 1) as bar:
            sent = transfer.upload(mst, mission, progress=bar.update, method=method)
        diffs = transfer.verify(mst, mission) if verify else []
    if diffs:
        more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
        raise MissionRejected(f"the mission read back from the vehicle differs from {source}: {diffs[0]}{more}")
    if sent.fallback_reason:
        say(f"MAVLink FTP failed ({sent.fallback_reason}); used the item protocol")
    return UploadRecord(source, len(mission.items), len(mission.fence_polygons), len(mission.fence_circles),
                        len(mission.rally), verify, sent.method, sent.fallback_reason, tuple(forced),
                        tuple(vehicle_forced), bench, check)


# --- photos of a flight ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraSim:
    """Where the synthetic camera's photos of a flight go, and whether they are ingested."""

    dir: str
    imagery: str | None = None
    image_scale: float = 0.25
    service: str | None = None  # ingest into the archive under this service
    archive: str = "archive"
    mission_id: str | None = None

    def __post_init__(self):
        if self.service is not None and not self.service.strip():
            raise InputError("--ingest needs --service (police, communication, technical...)")


@dataclass(frozen=True)
class IngestRecord:
    dir: str
    photos: int
    archive: str | None = None
    mission: str | None = None
    ingest: dict | None = None  # the archive's counts

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def ingest_flight(record, mission: Mission, camera: CameraSim, started: datetime, source: str = "flight",
                  progress=no_progress) -> IngestRecord:
    """The synthetic camera's photo of every camera event of a flight (its FlightRecord), then, with a
    service, their ingest into the archive under a mission id. This is what ``dronectl fly --camera-sim DIR
    [--ingest]`` runs after the flight."""
    from dronectl.sim.run import photograph, synthetic_camera

    shot = synthetic_camera(mission.plan_data.camera if mission.plan_data else "sim", camera.image_scale)
    home_amsl = mission.home.alt_m if mission.home else 0.0
    with progress("photos", len(record.camera_events)) as bar:
        photos = photograph(record, shot, Path(camera.dir), home_amsl, started, camera.imagery)
        bar.update(len(photos), len(photos))
    if camera.service is None:
        return IngestRecord(str(camera.dir), len(photos))
    from dronectl.archive import open_archive

    mission_id = camera.mission_id or f"{Path(source).stem}-{started:%Y%m%dT%H%M%S}"
    with open_archive(camera.archive) as a, progress("ingest", len(photos)) as bar:
        report = a.ingest(photos, camera.service, mission=mission_id, workers=2, progress=bar.update)
    return IngestRecord(str(camera.dir), len(photos), str(camera.archive), mission_id, report.to_dict()["counts"])


def _check_camera(camera: CameraSim, mission: Mission) -> None:
    """Everything the photos need, refused before the flight rather than after it."""
    from dronectl.sim.run import check_imagery, synthetic_camera

    synthetic_camera(mission.plan_data.camera if mission.plan_data else "sim", camera.image_scale)
    if camera.imagery:
        from shapely.geometry import MultiPoint

        check_imagery(Path(camera.imagery), MultiPoint([(lon, lat) for lat, lon, _ in mission.positions()]).convex_hull)
    if camera.service is not None:
        from dronectl.archive import open_archive

        with open_archive(camera.archive) as a:
            a.services.get(camera.service)


# --- fly --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlightResult:
    """A flight of a plan: the vehicle's FlightRecord, how it ended, what was overridden, the photos."""

    file: str
    record: object  # dronectl.mavlink.flight.FlightRecord
    forced_violations: tuple = ()
    forced_vehicle_problems: tuple = ()
    tlog: str | None = None
    photos: IngestRecord | None = None
    register: RegisterCheck | None = None
    logbook: tuple = ()  # the numbers of the logbook entries written

    @property
    def outcome(self) -> str:
        """``completed``, ``interrupted`` (Ctrl-C), ``failsafe`` (the vehicle ended it) or ``incomplete``."""
        r = self.record
        return ("interrupted" if r.interrupted else "failsafe" if r.failsafe
                else "completed" if r.completed else "incomplete")

    def __getattr__(self, name):  # the FlightRecord's fields: result.photos_taken... as record.photos
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.record, name)

    def to_dict(self, track: bool = True) -> dict:
        d = self.record.to_dict(track=track)
        d.pop("statustexts")
        d.update(file=self.file, outcome=self.outcome, forced_violations=list(self.forced_violations),
                 forced_vehicle_problems=list(self.forced_vehicle_problems), tlog=self.tlog,
                 register=self.register.to_dict() if self.register is not None else None,
                 logbook=list(self.logbook))
        if self.photos is not None:
            d["camera_sim"] = self.photos.to_dict()
        return d

    def log_entry(self) -> dict:
        d = self.to_dict(track=False)
        keys = ("duration_s", "distance_m", "photos", "items_reached", "items_total", "interrupted", "outcome",
                "failsafe")
        return {k: d[k] for k in keys}


def fly_plan(plan, conn: str, *, log_path=None, verify: bool = True, force: bool = False,
             reason: str | None = None, limits=None, link_timeout_s: float = 5.0, heartbeat_timeout_s: float = 30.0,
             ready_timeout_s: float = 120.0, camera: CameraSim | None = None, progress=no_progress, say=_quiet,
             command: str = "fly", crew: Crew | None = None) -> FlightResult:
    """Fly a plan (a file path or a Mission) on the vehicle at ``conn``: the gates, then upload and verify, take
    off, fly it in AUTO, land; with ``camera``, the synthetic photos (and their ingest). Every flight is written to
    the flight log (``flight``, or ``flight failed`` with the error, e.g. a lost link).

    Once the vehicle answers, the register's gate (``crew``, :class:`Crew`; overridden by the same ``force`` and
    ``reason``); after the flight, its logbook entry, read from the telemetry log (``log_path``, else a temporary
    one), also when the flight ended in an error after take-off.

    Ctrl-C during the flight says at once that RTL is commanded (``say``), follows the vehicle home, and returns
    the result (``outcome`` ``interrupted``); a second Ctrl-C stops watching (KeyboardInterrupt). A failsafe the
    vehicle reports ends with ``outcome`` ``failsafe``. This is what ``dronectl fly`` and
    :meth:`dronectl.api.Vehicle.fly` run.
    """
    from dronectl.mavlink import flight, link, vehicle_state

    override = Override(force, reason)
    link.check_connection_string(conn)
    mission, source = _load(plan)
    vehicle_state.require_items(mission, source)
    if camera is not None:
        _check_camera(camera, mission)
    limits = limits or vehicle_state.StateLimits()
    started = datetime.now(timezone.utc).replace(microsecond=0)
    forced = _plan_gate(mission, source, override, command, conn, say)
    vehicle_forced: list[str] = []
    decide = _vehicle_gate(override, command, source, conn, say, vehicle_forced)
    why = {"reason": override.reason, "violations": forced} if forced else {}
    tlog = str(log_path) if log_path else None
    crew = crew or Crew()
    telemetry = log_path or _temporary_tlog()
    gate: dict = {}

    def identify(master) -> None:
        gate["check"] = _register_gate(mission, vehicle_state.identify(master), crew, override, say)

    def logbook(error: str = "", mission_id: str | None = None) -> tuple:
        if "check" not in gate:
            return ()
        plan_file = source if Path(source).is_file() else None
        mission_id = mission_id or crew.mission_id or Path(source).stem
        try:
            return record_flight_log(telemetry, gate["check"], crew, mission_id, plan_file, error, say)
        except Exception as exc:  # the flight happened: say how to record it rather than lose it
            nonlocal keep_tlog
            keep_tlog = True
            say(f"warning: the flight could not be written to the logbook ({exc}); add it with `dronectl logbook "
                f"import {telemetry} --pilot NAME`")
            return ()

    keep_tlog = bool(log_path)
    try:
        with progress("flight", len(mission.items)) as bar:
            try:
                rec = flight.fly(conn, mission, progress=bar.update, log_path=telemetry, verify=verify,
                                 heartbeat_timeout_s=heartbeat_timeout_s, fix_timeout_s=ready_timeout_s,
                                 arm_timeout_s=ready_timeout_s, link_timeout_s=link_timeout_s, limits=limits,
                                 override=decide, say=say, identify=identify)
            except BaseException as exc:
                from dronectl.register import RegisterRefused

                if isinstance(exc, RegisterRefused):  # nothing flown, nothing kept
                    keep_tlog = False
                    raise
                error = str(exc) if not isinstance(exc, KeyboardInterrupt) else "interrupted (Ctrl-C)"
                _log({"event": "flight failed", "plan": source, "connect": conn, "tlog": tlog, "error": error,
                      **why}, say)
                logbook(error)
                raise
        photos = ingest_flight(rec, mission, camera, started, source, progress) if camera is not None else None
        entries = logbook(mission_id=photos.mission if photos is not None else None)
    finally:
        if not keep_tlog:
            Path(telemetry).unlink(missing_ok=True)
    result = FlightResult(source, rec, tuple(forced), tuple(vehicle_forced), tlog, photos, gate.get("check"),
                          entries)
    _log({"event": "flight", "plan": source, "connect": conn, "tlog": tlog, **result.log_entry(), **why,
          **({"logbook": list(entries)} if entries else {})}, say)
    return result


def _temporary_tlog() -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="dronectl-flight-", suffix=".tlog")
    os.close(fd)
    return path


# --- archive migrate ------------------------------------------------------------------------------
def migrate_archive(archive_path, to_url: str, schema: str = "dronectl", batch: int = 2000, progress=None,
                    pause_after: int | None = None):
    """Move an archive's SQLite catalogue into PostgreSQL + PostGIS, the unit's register (logbook, pilots, aircraft,
    authorisations) with it, check both sides, then switch its ``config.toml``: what ``dronectl archive migrate``
    runs (:func:`dronectl.archive.migrate.migrate`). Resumable."""
    from dronectl.archive.migrate import migrate
    from dronectl.register.store import copy_register

    return migrate(archive_path, to_url, schema=schema, batch=batch, progress=progress, pause_after=pause_after,
                   register=copy_register)


# --- simulate -------------------------------------------------------------------------------------
def simulate(spec, params=None, airspace=None, exclusions=None, terrain=None, progress=no_progress,
             say=None) -> dict:
    """Plan, fly every sortie on a simulator with the synthetic camera, archive, measure coverage, mosaic: one
    mission (:class:`dronectl.sim.run.SimRun`). Returns the summary; ``interrupted`` is true after Ctrl-C. This
    is what ``dronectl sim run`` and ``dronectl demo`` run."""
    from dronectl.sim.run import run_simulated_mission

    return run_simulated_mission(spec, params, airspace=airspace, exclusions=exclusions, terrain=terrain,
                                 progress=progress, say=say)


def console_command() -> str:
    """How to run dronectl from anywhere: the console script next to this Python, by its absolute path."""
    import shutil
    import sys

    exe = Path(sys.executable).parent / "dronectl"
    if exe.is_file() and os.access(exe, os.X_OK):
        return str(exe.absolute())
    found = shutil.which("dronectl")
    return str(Path(found).absolute()) if found else f"{sys.executable} -m dronectl"


__all__ = ["PlanCheck", "Override", "Crew", "RegisterCheck", "record_flight_log", "migrate_archive", "UploadRecord", "CameraSim", "IngestRecord", "FlightResult", "check_plan",
           "check_plan_file", "upload_plan", "fly_plan", "ingest_flight", "simulate", "console_command",
           "BENCH_LINE"]
