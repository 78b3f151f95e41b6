"""What a telemetry log says about its flights: a ``.tlog`` (MAVLink as a ground station recorded it) or an
ArduPilot dataflash ``.bin`` (the autopilot's own log), both read with pymavlink.

One :class:`FlightFacts` per take-off: from arming to disarming, its times (the date from the log's clock, the
duration from the vehicle's own clock, so a simulator run faster than real time still gives flight time), where
it took off and landed, the highest point above take-off, the distance flown, the battery at arming and at
disarming, the photos, the autopilot's warnings (failsafes...) and the vehicle's identity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dronectl.errors import InputError

MAV_MODE_FLAG_SAFETY_ARMED = 128
MAV_TYPE_GCS = 6
MAV_AUTOPILOT_INVALID = 8
SEVERITY_WARNING = 4  # STATUSTEXT severities 0..4: emergency, alert, critical, error, warning
INCIDENT_WORDS = ("failsafe", "fail-safe", "crash", "ekf", "fence", "battery", "lost", "emergency", "vibration")


def haversine_m(lat1, lon1, lat2, lon2) -> float:
    from dronectl.geo import haversine_m as h

    return h(lat1, lon1, lat2, lon2)


@dataclass(frozen=True)
class FlightFacts:
    takeoff_at: datetime
    landing_at: datetime
    duration_s: float
    takeoff_lat_deg: float | None
    takeoff_lon_deg: float | None
    landing_lat_deg: float | None
    landing_lon_deg: float | None
    max_height_m: float
    distance_m: float
    battery_start_pct: float | None
    battery_end_pct: float | None
    photos: int
    events: tuple[str, ...]
    autopilot: str  # "uid:0123..." when the autopilot reports a unique id, else "sysid:N"
    firmware: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["takeoff_at"], d["landing_at"] = self.takeoff_at.isoformat(), self.landing_at.isoformat()
        d["events"] = list(self.events)
        return d


@dataclass
class _Flight:
    wall0: float
    boot0: float | None
    track: list = field(default_factory=list)  # (lat, lon, height_m)
    battery: list = field(default_factory=list)
    photos: set = field(default_factory=set)
    events: list = field(default_factory=list)
    boot_end: float | None = None
    wall_end: float | None = None


def vehicle_identity(uid: int | None, sysid: int | None) -> str:
    """How the register names a vehicle's autopilot: ``uid:<16 hex>`` when it reports a unique id
    (AUTOPILOT_VERSION.uid), else ``sysid:N`` (its MAVLink system id). ``fly`` matches the connected vehicle to a
    registered aircraft with it."""
    return f"uid:{uid:016x}" if uid else f"sysid:{sysid if sysid is not None else 1}"


def _firmware(version: int) -> str:
    if not version:
        return ""
    major, minor, patch, kind = version >> 24 & 255, version >> 16 & 255, version >> 8 & 255, version & 255
    kinds = {0: "dev", 64: "alpha", 128: "beta", 192: "rc", 255: ""}
    return f"{major}.{minor}.{patch}{('-' + kinds.get(kind, str(kind))) if kinds.get(kind, '') else ''}"


class _Reader:
    """Folds a stream of (boot time, wall time, kind, values) into flights."""

    def __init__(self):
        self.armed = False
        self.flights: list[_Flight] = []
        self.cur: _Flight | None = None
        self.boot = None
        self.wall = None
        self.battery = None
        self.last_pos = None
        self.uid = 0
        self.sysid = None
        self.firmware = ""

    def clock(self, boot_s, wall_s):
        if boot_s is not None:
            self.boot = boot_s
        if wall_s is not None:
            self.wall = wall_s

    def arm(self, armed: bool):
        if armed and not self.armed:
            self.cur = _Flight(self.wall or 0.0, self.boot)
            if self.battery is not None:
                self.cur.battery.append(self.battery)
            if self.last_pos is not None:
                self.cur.track.append(self.last_pos)
            self.flights.append(self.cur)
        elif not armed and self.armed and self.cur is not None:
            self.cur.boot_end, self.cur.wall_end = self.boot, self.wall
            self.cur = None
        self.armed = armed

    def position(self, lat, lon, height_m):
        self.last_pos = (lat, lon, height_m)
        if self.cur is not None:
            self.cur.track.append(self.last_pos)

    def battery_pct(self, pct):
        if pct is None or pct < 0:
            return
        self.battery = float(pct)
        if self.cur is not None:
            self.cur.battery.append(self.battery)

    def photo(self, index):
        if self.cur is not None:
            self.cur.photos.add(index)

    def text(self, severity, text):
        text = (text or "").strip()
        if not text:
            return
        if severity <= SEVERITY_WARNING or any(w in text.lower() for w in INCIDENT_WORDS):
            target = self.cur if self.cur is not None else (self.flights[-1] if self.flights else None)
            if target is not None and text not in target.events:
                target.events.append(text)

    def facts(self, path: Path) -> list[FlightFacts]:
        if self.sysid is None and not self.flights:
            raise InputError(f"{path} holds no telemetry from a vehicle: is it a .tlog or a dataflash .bin?")
        if not self.flights:
            raise InputError(f"{path} holds no flight: the vehicle never armed in it")
        ident = vehicle_identity(self.uid, self.sysid)
        out = []
        for f in self.flights:
            if f.boot_end is None:  # the log ends while armed: up to its last message
                f.boot_end, f.wall_end = self.boot, self.wall
                f.events.append("the log ends while the vehicle is still armed (cut short?)")
            if f.boot0 is not None and f.boot_end is not None and f.boot_end >= f.boot0:
                duration = f.boot_end - f.boot0
            else:
                duration = max(0.0, (f.wall_end or f.wall0) - f.wall0)
            start = datetime.fromtimestamp(f.wall0, timezone.utc)
            pts = f.track
            dist = sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in zip(pts, pts[1:]))
            out.append(FlightFacts(
                takeoff_at=start, landing_at=start + timedelta(seconds=duration), duration_s=duration,
                takeoff_lat_deg=pts[0][0] if pts else None, takeoff_lon_deg=pts[0][1] if pts else None,
                landing_lat_deg=pts[-1][0] if pts else None, landing_lon_deg=pts[-1][1] if pts else None,
                max_height_m=max((p[2] for p in pts), default=0.0),  # relative to home, set at arming
                distance_m=dist,
                battery_start_pct=f.battery[0] if f.battery else None,
                battery_end_pct=f.battery[-1] if f.battery else None,
                photos=len(f.photos), events=tuple(f.events), autopilot=ident, firmware=self.firmware))
        return out


def _read_tlog(mlog, r: _Reader) -> None:
    while True:
        m = mlog.recv_match()
        if m is None:
            return
        t = m.get_type()
        if t == "BAD_DATA":
            continue
        src = m.get_srcSystem()
        if t == "HEARTBEAT":
            if m.type == MAV_TYPE_GCS or m.autopilot == MAV_AUTOPILOT_INVALID:
                continue
            if r.sysid is None:
                r.sysid = src
            if src != r.sysid:
                continue
            r.clock(None, getattr(m, "_timestamp", None))
            r.arm(bool(m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED))
            continue
        if r.sysid is None and t == "GLOBAL_POSITION_INT":  # a log may start between two heartbeats of a fast
            r.sysid = src  # simulator: its positions name the vehicle (a ground station sends none), and its clock
        if r.sysid is None or src != r.sysid:
            continue
        r.clock(None, getattr(m, "_timestamp", None))
        if t == "GLOBAL_POSITION_INT":
            r.clock(m.time_boot_ms / 1000.0, None)
            if m.lat or m.lon:
                r.position(m.lat / 1e7, m.lon / 1e7, m.relative_alt / 1000.0)
        elif t == "SYS_STATUS":
            r.battery_pct(m.battery_remaining)
        elif t == "CAMERA_FEEDBACK":
            r.photo(m.img_idx)
        elif t == "STATUSTEXT":
            r.text(m.severity, m.text)
        elif t == "AUTOPILOT_VERSION":
            r.uid = m.uid or r.uid
            r.firmware = _firmware(m.flight_sw_version) or r.firmware


def _read_bin(mlog, r: _Reader) -> None:
    """ArduPilot dataflash: ARM (ArmState) or EV (10 armed, 11 disarmed), POS/GPS, BAT, MSG, CAM/TRIG, VER."""
    r.sysid = 1
    home_alt = None
    while True:
        m = mlog.recv_match()
        if m is None:
            return
        t = m.get_type()
        boot = getattr(m, "TimeUS", None)
        r.clock(boot / 1e6 if boot is not None else None, getattr(m, "_timestamp", None))
        if t == "ARM":
            r.arm(bool(m.ArmState))
        elif t == "EV" and m.Id in (10, 11):
            r.arm(m.Id == 10)
        elif t == "POS":
            rel = getattr(m, "RelHomeAlt", None)
            if rel is None:
                home_alt = m.Alt if home_alt is None else home_alt
                rel = m.Alt - home_alt
            if m.Lat or m.Lng:
                r.position(m.Lat, m.Lng, float(rel))
        elif t == "BAT":
            r.battery_pct(getattr(m, "RemPct", None))
        elif t == "MSG":
            r.text(6, m.Message)
        elif t == "ERR":
            r.text(SEVERITY_WARNING, f"error subsystem {m.Subsys} code {m.ECode}")
        elif t in ("CAM", "TRIG"):
            r.photo(getattr(m, "Img", None) or (len(r.cur.photos) + 1 if r.cur else 0))
        elif t == "VER":
            r.firmware = str(getattr(m, "FWS", "") or "").strip() or r.firmware


def read_log(path: Path | str) -> list[FlightFacts]:
    """The flights of a ``.tlog`` or dataflash ``.bin``; InputError (one line) for a file that is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give a .tlog or .bin telemetry log")
    from pymavlink import mavutil

    r = _Reader()
    try:
        if path.suffix.lower() in (".bin", ".log"):
            mlog = mavutil.mavlink_connection(str(path), dialect="ardupilotmega", zero_time_base=False)
            _read_bin(mlog, r)
        else:
            mlog = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
            _read_tlog(mlog, r)
    except InputError:
        raise
    except Exception as exc:  # pymavlink raises what the bytes make it raise
        raise InputError(f"{path} cannot be read as a telemetry log ({type(exc).__name__}); give a .tlog or a "
                         "dataflash .bin") from None
    facts = r.facts(path)
    for f in facts:
        if not all(math.isfinite(v) for v in (f.duration_s, f.max_height_m, f.distance_m)):
            raise InputError(f"{path} holds figures that are not numbers; is it damaged?")
    return facts
