"""The MAVLink mission protocol (upload, download, clear) as a small state machine.

Per the MAVLink mission protocol: MISSION_ITEM_INT only (lat/lon as int32 x 1e7), any of MISSION_REQUEST_INT
or MISSION_REQUEST answered (ArduPilot asks with the latter), a 1500 ms timeout for the exchange and 250 ms
per item, 5 retries of the last message before giving up. Seq 0 of the mission list is home: the uploader
sends a placeholder there and the downloader turns it into ``Mission.home``. Fence and rally points travel
as their own mission types.
"""

from __future__ import annotations

import time

from pymavlink import mavutil

from dronectl.errors import LinkError, MissionRejected
from dronectl.mission import (CMD_NAV_FENCE_CIRCLE_EXCLUSION, CMD_NAV_FENCE_CIRCLE_INCLUSION,
                              CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                              CMD_NAV_RALLY_POINT, CMD_NAV_WAYPOINT, FRAME_GLOBAL, FRAME_GLOBAL_RELATIVE_ALT,
                              FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint)

M = mavutil.mavlink
TYPE_MISSION, TYPE_FENCE, TYPE_RALLY = M.MAV_MISSION_TYPE_MISSION, M.MAV_MISSION_TYPE_FENCE, M.MAV_MISSION_TYPE_RALLY
TYPE_NAMES = {TYPE_MISSION: "mission", TYPE_FENCE: "geofence", TYPE_RALLY: "rally points"}
TIMEOUT_S = 1.5
ITEM_TIMEOUT_S = 0.25
RETRIES = 5

RESULT_SENTENCES = {
    M.MAV_MISSION_ERROR: "the autopilot reported a generic error",
    M.MAV_MISSION_UNSUPPORTED_FRAME: "it does not support the altitude frame of item {seq}",
    M.MAV_MISSION_UNSUPPORTED: "it does not support the command of item {seq}",
    M.MAV_MISSION_NO_SPACE: "the mission does not fit in its memory ({count} items); split the plan into sorties",
    M.MAV_MISSION_INVALID: "one of the parameters of item {seq} is invalid",
    M.MAV_MISSION_INVALID_PARAM1: "param 1 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM2: "param 2 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM3: "param 3 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM4: "param 4 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM5_X: "the latitude of item {seq} is invalid",
    M.MAV_MISSION_INVALID_PARAM6_Y: "the longitude of item {seq} is invalid",
    M.MAV_MISSION_INVALID_PARAM7: "the altitude of item {seq} is invalid",
    M.MAV_MISSION_INVALID_SEQUENCE: "items arrived out of order; try again",
    M.MAV_MISSION_DENIED: "it refuses to change the mission now (is it flying one, or still starting up?)",
    M.MAV_MISSION_OPERATION_CANCELLED: "the transfer was cancelled",
}


def result_sentence(result: int, what: str, seq: int | None = None, count: int | None = None) -> str:
    text = RESULT_SENTENCES.get(result, f"unknown result code {result}")
    return f"autopilot refused the {what}: " + text.format(seq="?" if seq is None else seq, count=count)


# --- Mission <-> protocol items ----------------------------------------------------------------

def _wire(it: MissionItem, seq: int, mission_type: int) -> tuple:
    def f(v):
        return float("nan") if v is None else float(v)

    return (seq, it.frame, it.command, 0, int(it.autocontinue), f(it.param1), f(it.param2), f(it.param3),
            f(it.param4), int(round(it.lat_deg * 1e7)), int(round(it.lon_deg * 1e7)), float(it.alt_m), mission_type)


def fence_items(m: Mission) -> list[MissionItem]:
    out = []
    for p in m.fence_polygons:
        cmd = CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION if p.inclusion else CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        out += [MissionItem(cmd, FRAME_GLOBAL, len(p.vertices), 0, 0, 0, lat, lon, 0.0) for lat, lon in p.vertices]
    for c in m.fence_circles:
        cmd = CMD_NAV_FENCE_CIRCLE_INCLUSION if c.inclusion else CMD_NAV_FENCE_CIRCLE_EXCLUSION
        out.append(MissionItem(cmd, FRAME_GLOBAL, c.radius_m, 0, 0, 0, c.lat_deg, c.lon_deg, 0.0))
    return out


def rally_items(m: Mission) -> list[MissionItem]:
    return [MissionItem(CMD_NAV_RALLY_POINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, r.lat_deg, r.lon_deg, r.alt_m)
            for r in m.rally]


def fence_from_items(items: list[MissionItem]) -> tuple[tuple[FencePolygon, ...], tuple[FenceCircle, ...]]:
    polys, circles, i = [], [], 0
    while i < len(items):
        it = items[i]
        if it.command in (CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            n = max(1, int(it.param1))
            verts = tuple((x.lat_deg, x.lon_deg) for x in items[i:i + n])
            polys.append(FencePolygon(verts, it.command == CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION))
            i += n
        else:
            circles.append(FenceCircle(it.lat_deg, it.lon_deg, it.param1, it.command == CMD_NAV_FENCE_CIRCLE_INCLUSION))
            i += 1
    return tuple(polys), tuple(circles)


def _item_from_msg(msg) -> MissionItem:
    if msg.get_type() == "MISSION_ITEM_INT":
        lat, lon = msg.x / 1e7, msg.y / 1e7
    else:
        lat, lon = msg.x, msg.y
    return MissionItem(msg.command, msg.frame, msg.param1, msg.param2, msg.param3, msg.param4, lat, lon, msg.z,
                       bool(msg.autocontinue))


# --- the state machine --------------------------------------------------------------------------

def _recv(master, types, timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        msg = master.recv_match(type=types, blocking=True, timeout=min(left, 0.1))
        if msg is not None and msg.get_srcSystem() == master.target_system:
            return msg


def upload_items(master, items: list[MissionItem], mission_type: int, progress=None) -> None:
    """Send ``items`` (seq 0 included) as ``mission_type``; raise MissionRejected or LinkError on failure."""
    what = TYPE_NAMES[mission_type]
    n = len(items)
    wires = [_wire(it, seq, mission_type) for seq, it in enumerate(items)]

    def send_count():
        master.mav.mission_count_send(master.target_system, master.target_component, n, mission_type)

    def send_item(seq):
        master.mav.mission_item_int_send(master.target_system, master.target_component, *wires[seq])

    last_sent = send_count
    last_sent()
    retries = 0
    timeout = TIMEOUT_S
    requested = set()
    while True:
        msg = _recv(master, ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"], timeout)
        if msg is None:
            retries += 1
            if retries > RETRIES:
                got = f"after item {max(requested)} of {n - 1}" if requested else "to the item count"
                raise LinkError(f"{what} upload failed: the vehicle stopped answering {got} "
                                f"({RETRIES} retries); check the link, or whether it rebooted")
            last_sent()
            continue
        if getattr(msg, "mission_type", 0) != mission_type:
            continue
        if msg.get_type() == "MISSION_ACK":
            if msg.type == M.MAV_MISSION_ACCEPTED:
                if len(requested) >= n or n == 0:
                    return
                raise MissionRejected(f"{what} upload ended early: the vehicle accepted after {len(requested)} of "
                                      f"{n} items; upload again")
            raise MissionRejected(result_sentence(msg.type, what, max(requested) if requested else None, n))
        seq = msg.seq
        if not 0 <= seq < n:
            continue
        requested.add(seq)
        retries = 0
        timeout = ITEM_TIMEOUT_S if seq < n - 1 else TIMEOUT_S
        last_sent = (lambda s=seq: send_item(s))
        last_sent()
        if progress:
            progress(len(requested), n)


def download_items(master, mission_type: int, progress=None) -> list[MissionItem]:
    what = TYPE_NAMES[mission_type]

    def ask_list():
        master.mav.mission_request_list_send(master.target_system, master.target_component, mission_type)

    msg = _exchange(master, ask_list, ["MISSION_COUNT"], mission_type, f"{what} download: no item count")
    n = msg.count
    items = []
    for seq in range(n):
        def ask(seq=seq):
            master.mav.mission_request_int_send(master.target_system, master.target_component, seq, mission_type)

        got = _exchange(master, ask, ["MISSION_ITEM_INT", "MISSION_ITEM"], mission_type,
                        f"{what} download: no item {seq} of {n}", seq=seq)
        items.append(_item_from_msg(got))
        if progress:
            progress(seq + 1, n)
    master.mav.mission_ack_send(master.target_system, master.target_component, M.MAV_MISSION_ACCEPTED, mission_type)
    return items


def _exchange(master, send, types, mission_type, fail, seq=None):
    for _ in range(RETRIES + 1):
        send()
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            msg = _recv(master, types + ["MISSION_ACK"], deadline - time.monotonic())
            if msg is None:
                break
            if getattr(msg, "mission_type", 0) != mission_type:
                continue
            if msg.get_type() == "MISSION_ACK":
                if msg.type != M.MAV_MISSION_ACCEPTED:
                    raise MissionRejected(result_sentence(msg.type, TYPE_NAMES[mission_type], seq))
                continue
            if seq is None or msg.seq == seq:
                return msg
    raise LinkError(f"{fail} after {RETRIES} retries: check the link")


def clear(master, mission_type: int = TYPE_MISSION) -> None:
    def send():
        master.mav.mission_clear_all_send(master.target_system, master.target_component, mission_type)

    for _ in range(RETRIES + 1):
        send()
        msg = _recv(master, ["MISSION_ACK"], TIMEOUT_S)
        if msg is not None and getattr(msg, "mission_type", 0) == mission_type:
            if msg.type != M.MAV_MISSION_ACCEPTED:
                raise MissionRejected(result_sentence(msg.type, TYPE_NAMES[mission_type]))
            return
    raise LinkError(f"clearing the {TYPE_NAMES[mission_type]}: no answer after {RETRIES} retries")


# --- whole missions -----------------------------------------------------------------------------

def upload(master, mission: Mission, progress=None) -> None:
    """Upload the mission (home placeholder at seq 0), then its fence and rally points (cleared if empty)."""
    home = mission.home or Home(0.0, 0.0, 0.0)
    placeholder = MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL, 0, 0, 0, 0, home.lat_deg, home.lon_deg, home.alt_m)
    upload_items(master, [placeholder, *mission.items], TYPE_MISSION, progress)
    for mtype, items in ((TYPE_FENCE, fence_items(mission)), (TYPE_RALLY, rally_items(mission))):
        if items:
            upload_items(master, items, mtype)
        else:
            clear(master, mtype)


def download(master, progress=None, fence_and_rally: bool = True) -> Mission:
    items = download_items(master, TYPE_MISSION, progress)
    home = Home(items[0].lat_deg, items[0].lon_deg, items[0].alt_m) if items else None
    polys, circles, rally = (), (), ()
    if fence_and_rally:
        polys, circles = fence_from_items(download_items(master, TYPE_FENCE))
        rally = tuple(RallyPoint(i.lat_deg, i.lon_deg, i.alt_m) for i in download_items(master, TYPE_RALLY))
    return Mission(items=tuple(items[1:]), home=home, fence_polygons=polys, fence_circles=circles, rally=rally)


def verify(master, sent: Mission) -> list[str]:
    """Read the mission back and list differences beyond the autopilot's rounding (int32 1e-7 deg, float32)."""
    from dronectl.mission import mission_differences

    got = download(master)
    diffs = mission_differences(sent, got, pos_tol_deg=1.5e-7, alt_tol_m=0.01, param_tol=1e-5)
    if len(got.fence_polygons) != len(sent.fence_polygons) or len(got.rally) != len(sent.rally):
        diffs.append(f"fence/rally differ: {len(got.fence_polygons)} polygons and {len(got.rally)} rally points "
                     f"on the vehicle, {len(sent.fence_polygons)} and {len(sent.rally)} in the plan")
    return diffs

