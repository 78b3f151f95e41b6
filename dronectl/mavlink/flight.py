"""Flying a mission: preflight, upload and verify, GUIDED, arm, take off, AUTO, follow, land.

``fly`` returns a FlightRecord: duration, distance flown, items reached, battery used, and every camera
event (CAMERA_FEEDBACK: where each photo was taken). Ctrl-C during the flight commands RTL and waits
for the landing; a link silent for longer than ``link_timeout_s`` ends with a LinkError.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pymavlink import mavutil

from dronectl.errors import DronectlError, LinkError
from dronectl.geo import haversine_m
from dronectl.mavlink import link, transfer
from dronectl.mission import CMD_NAV_TAKEOFF, Mission

M = mavutil.mavlink
MODES = {"GUIDED": 4, "AUTO": 3, "RTL": 6, "LAND": 9}


@dataclass
class CameraEvent:
    image_index: int
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    alt_amsl_m: float
    yaw_deg: float
    time_s: float


@dataclass
class FlightRecord:
    duration_s: float = 0.0
    distance_m: float = 0.0
    photos: int = 0
    items_reached: int = 0
    items_total: int = 0
    battery_used_pct: float = 0.0
    interrupted: bool = False
    track: list = field(default_factory=list)  # (t, lat, lon, alt_rel) at ~1 Hz
    camera_events: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["track"] = d["track"][:: max(1, len(d["track"]) // 500)]
        return d


class FlightFailed(DronectlError):
    exit_code = 5


def _command(master, command, *params, timeout_s=3.0, retries=3):
    p = list(params) + [0.0] * (7 - len(params))
    for _ in range(retries):
        master.mav.command_long_send(master.target_system, master.target_component, command, 0, *p)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ack = master.recv_match(type="COMMAND_ACK", blocking=True, timeout=0.2)
            if ack is not None and ack.command == command:
                return ack.result
    return None


def set_mode(master, name: str) -> bool:
    return _command(master, M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, MODES[name]) == \
        M.MAV_RESULT_ACCEPTED


def wait_fix(master, timeout_s: float) -> tuple[float, float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = master.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=0.5)
        if msg is not None and (msg.lat != 0 or msg.lon != 0):
            return msg.lat / 1e7, msg.lon / 1e7
    raise FlightFailed(f"no GPS position within {timeout_s:g} s: wait for a fix (outdoors, clear sky) and retry")


def arm(master, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout_s=1.0, retries=1) == M.MAV_RESULT_ACCEPTED:
            return
        time.sleep(0.5)
    raise FlightFailed(f"the vehicle refused to arm for {timeout_s:g} s (pre-arm checks): see its messages")


def fly(conn: str, mission: Mission, progress=None, log_path: Path | str | None = None, verify: bool = True,
        heartbeat_timeout_s: float = 30.0, fix_timeout_s: float = 120.0, arm_timeout_s: float = 120.0,
        link_timeout_s: float = 5.0) -> FlightRecord:
    master = link.connect(conn, heartbeat_timeout_s)
    try:
        if log_path:
            master.setup_logfile(str(log_path), mode="wb")
        link.request_streams(master)
        wait_fix(master, fix_timeout_s)
        transfer.upload(master, mission)
        if verify:
            diffs = transfer.verify(master, mission)
            if diffs:
                raise FlightFailed(f"the mission read back differs from the plan ({diffs[0]}"
                                   f"{f' and {len(diffs) - 1} more' if len(diffs) > 1 else ''}); not flying it")
        takeoff = next((i.alt_m for i in mission.items if i.command == CMD_NAV_TAKEOFF), 10.0)
        if not set_mode(master, "GUIDED"):
            raise FlightFailed("the vehicle refused GUIDED mode")
        arm(master, arm_timeout_s)
        if _command(master, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, takeoff) != M.MAV_RESULT_ACCEPTED:
            raise FlightFailed("the vehicle refused to take off")
        return _follow(master, mission, takeoff, progress, link_timeout_s)
    finally:
        master.close()


def _follow(master, mission: Mission, takeoff_alt: float, progress, link_timeout_s: float) -> FlightRecord:
    rec = FlightRecord(items_total=len(mission.items))
    t0 = time.monotonic()
    last_msg = t0
    last_pos = None
    battery0 = None
    in_auto = rtl_sent = False
    armed_seen = True
    while True:
        try:
            msg = master.recv_match(blocking=True, timeout=0.2)
            now = time.monotonic()
            if msg is None:
                if now - last_msg > link_timeout_s:
                    raise LinkError(f"link lost for more than {link_timeout_s:g} s during the flight; the vehicle's "
                                    "own failsafe takes over (RTL by default)")
                continue
            if msg.get_srcSystem() != master.target_system:
                continue
            last_msg = now
            t = msg.get_type()
            if t == "GLOBAL_POSITION_INT" and msg.lat != 0:
                pos = (msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1000.0)
                if last_pos is not None:
                    rec.distance_m += haversine_m(last_pos[0], last_pos[1], pos[0], pos[1])
                last_pos = pos
                if not rec.track or now - t0 - rec.track[-1][0] >= 1.0:
                    rec.track.append((round(now - t0, 2), pos[0], pos[1], round(pos[2], 2)))
                if not in_auto and pos[2] >= takeoff_alt * 0.9:
                    if not set_mode(master, "AUTO"):
                        raise FlightFailed("the vehicle refused AUTO mode")
                    in_auto = True
            elif t == "MISSION_ITEM_REACHED":
                rec.items_reached = max(rec.items_reached, msg.seq)
            elif t == "CAMERA_FEEDBACK":
                rec.camera_events.append(CameraEvent(msg.img_idx, msg.lat / 1e7, msg.lng / 1e7, msg.alt_rel,
                                                     msg.alt_msl, msg.yaw, round(now - t0, 3)))
                rec.photos = len(rec.camera_events)
            elif t == "SYS_STATUS" and msg.battery_remaining >= 0:
                battery0 = msg.battery_remaining if battery0 is None else battery0
                rec.battery_used_pct = float(battery0 - msg.battery_remaining)
            elif t == "HEARTBEAT" and msg.get_srcComponent() == 1:
                armed = bool(msg.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
                if not armed and armed_seen and (in_auto or rtl_sent):
                    rec.duration_s = round(now - t0, 2)
                    return rec
                armed_seen = armed
            if progress:
                progress(rec.items_reached, rec.items_total,
                         f"{rec.distance_m:.0f} m, {rec.photos} photos, battery -{rec.battery_used_pct:.0f} %")
        except KeyboardInterrupt:
            if rtl_sent:
                raise
            rtl_sent = rec.interrupted = True
            set_mode(master, "RTL")
