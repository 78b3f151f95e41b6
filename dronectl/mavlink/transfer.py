"""The MAVLink mission protocol (upload, download, clear) as an explicit state machine.

What the MAVLink mission protocol states, and what ArduPilot does with it:

* items travel as ``MISSION_ITEM_INT`` (lat/lon as int32 degrees x 1e7), never the deprecated float
  ``MISSION_ITEM``; the vehicle may ask for them with ``MISSION_REQUEST_INT`` or ``MISSION_REQUEST``
  (ArduPilot uses the latter during uploads): both are answered with ``MISSION_ITEM_INT``;
* timeouts: 1500 ms for the exchange (count, list, acknowledgement), 250 ms per item; a message not answered
  in time is sent again. The spec's "5 retries" fails almost surely on a lossy radio (with 30 % loss each way a
  round trip succeeds half the time, and 300 items make 300 chances to lose 6 in a row), so a transfer is given
  up only as :class:`dronectl.mavlink.link.Patience` says: the vehicle silent (nothing at all from it) for 5 s,
  or the whole transfer longer than 30 s + 2 s per item;
* seq 0 of the mission list is home: ArduPilot ignores what is uploaded there, so the uploader sends a
  placeholder, and the downloader turns seq 0 into ``Mission.home``;
* fence and rally points are their own mission types (``MAV_MISSION_TYPE_FENCE`` / ``_RALLY``).

Upload states::

    COUNT --request 0--> ITEMS --request n-1--> LAST --ACK ACCEPTED--> done
      |                    |                      |
      +-- ACK error -------+---- ACK error -------+--> MissionRejected (a sentence per MAV_MISSION_RESULT)
      +-- vehicle silent 5 s, or transfer too long --+--> LinkError

An ArduPilot quirk the machine copes with: an item it did not expect (a duplicate, or a resend after its
request was lost) gets ``ACK INVALID_SEQUENCE`` rather than a new request; and once the upload is complete a
resent last item gets ``ACK ERROR``. When the final acknowledgement is lost, the machine CONFIRMs by asking
the item count before it reports success or failure.
"""

from __future__ import annotations

import math
import struct
import sys
import time
from collections import Counter
from dataclasses import replace

from pymavlink import mavutil

from dronectl.errors import LinkError, MissionRejected
from dronectl.mavlink import link
from dronectl.mission import (CMD_NAV_FENCE_CIRCLE_EXCLUSION, CMD_NAV_FENCE_CIRCLE_INCLUSION,
                              CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                              CMD_NAV_RALLY_POINT, CMD_NAV_WAYPOINT, COMMANDS_WITH_LOCATION, FRAME_GLOBAL,
                              FRAME_GLOBAL_RELATIVE_ALT, FRAME_MISSION, FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint, mission_differences)

M = mavutil.mavlink
TYPE_MISSION, TYPE_FENCE, TYPE_RALLY = M.MAV_MISSION_TYPE_MISSION, M.MAV_MISSION_TYPE_FENCE, M.MAV_MISSION_TYPE_RALLY
TYPE_NAMES = {TYPE_MISSION: "mission", TYPE_FENCE: "geofence", TYPE_RALLY: "rally points"}
SPEC = link.SPEC  # the spec's timeouts; give up on silence or at the ceiling (link.Patience)
TIMEOUT_S = SPEC.exchange_s  # count, list, acknowledgement
ITEM_TIMEOUT_S = SPEC.item_s  # each item

RESULT_SENTENCES = {
    M.MAV_MISSION_ERROR: "it reported an error at item {seq} (storage failure, or it dropped the transfer: "
                         "did it reboot?)",
    M.MAV_MISSION_UNSUPPORTED_FRAME: "it does not support the altitude frame of item {seq}",
    M.MAV_MISSION_UNSUPPORTED: "it does not support the command of item {seq}",
    M.MAV_MISSION_NO_SPACE: "{count} items do not fit in its memory; split the plan into sorties "
                            "(or, if it has just started, wait until it is ready and try again)",
    M.MAV_MISSION_INVALID: "one of the parameters of item {seq} is invalid",
    M.MAV_MISSION_INVALID_PARAM1: "param 1 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM2: "param 2 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM3: "param 3 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM4: "param 4 of item {seq} is out of range",
    M.MAV_MISSION_INVALID_PARAM5_X: "the latitude of item {seq} is invalid",
    M.MAV_MISSION_INVALID_PARAM6_Y: "the longitude of item {seq} is invalid",
    M.MAV_MISSION_INVALID_PARAM7: "the altitude of item {seq} is invalid",
    M.MAV_MISSION_INVALID_SEQUENCE: "items arrived out of order (item {seq}); try again",
    M.MAV_MISSION_DENIED: "it refuses to change it now (another ground station is transferring a mission, "
                          "or it is flying one)",
    M.MAV_MISSION_OPERATION_CANCELLED: "it cancelled the transfer after waiting too long for the next item; "
                                       "check the link and try again",
}


def result_sentence(result: int, what: str, seq: int | None = None, count: int | None = None) -> str:
    """A sentence a pilot understands for a MAV_MISSION_RESULT code."""
    text = RESULT_SENTENCES.get(result, f"it answered with the unknown result code {result}")
    return f"the autopilot refused the {what}: " + text.format(seq="?" if seq is None else seq,
                                                              count="?" if count is None else count)


# --- Mission <-> protocol items ----------------------------------------------------------------

def _wire(it: MissionItem, seq: int, mission_type: int) -> tuple:
    def f(v):
        return float("nan") if v is None else float(v)

    # MISSION_ITEM_INT: x/y are degrees e7 for a command with a location, else its param5/6 as they are
    scale = 1e7 if it.command in COMMANDS_WITH_LOCATION else 1.0
    return (seq, int(it.frame), int(it.command), 0, int(bool(it.autocontinue)), f(it.param1), f(it.param2),
            f(it.param3), f(it.param4), int(round(it.lat_deg * scale)), int(round(it.lon_deg * scale)),
            float(it.alt_m), mission_type)


def fence_items(m: Mission) -> list[MissionItem]:
    """The mission's geofence as MAV_MISSION_TYPE_FENCE items (polygon vertices carry the vertex count)."""
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
        elif it.command in (CMD_NAV_FENCE_CIRCLE_INCLUSION, CMD_NAV_FENCE_CIRCLE_EXCLUSION):
            circles.append(FenceCircle(it.lat_deg, it.lon_deg, it.param1, it.command == CMD_NAV_FENCE_CIRCLE_INCLUSION))
            i += 1
        else:  # a return point or something we do not model
            i += 1
    return tuple(polys), tuple(circles)


def shortest_f32(v: float) -> float:
    """A float32 as its shortest decimal that reads back as the same float32: 56.1, not 56.099998474121094."""
    if not math.isfinite(v):
        return v
    f32 = struct.unpack("<f", struct.pack("<f", v))[0]
    for digits in range(1, 10):
        d = float(f"{f32:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", d))[0] == f32:
            return d
    return f32


def _item_from_msg(msg) -> MissionItem:
    """An item as the autopilot stores it: lat/lon to 1e-7 degree, altitude to the centimetre, params as the
    shortest decimal of their float32."""
    if msg.get_type() == "MISSION_ITEM_INT" and msg.command in COMMANDS_WITH_LOCATION:
        lat, lon = round(msg.x / 1e7, 7), round(msg.y / 1e7, 7)
    else:
        lat, lon = round(msg.x, 7), round(msg.y, 7)
    # ArduPilot reports an item without a location in frame 0 (GLOBAL); it means "no frame" (MAV_FRAME_MISSION)
    frame = msg.frame if msg.command in COMMANDS_WITH_LOCATION else FRAME_MISSION
    return MissionItem(msg.command, frame, *(shortest_f32(p) for p in (msg.param1, msg.param2, msg.param3,
                                                                            msg.param4)),
                       lat, lon, round(shortest_f32(msg.z), 2), bool(msg.autocontinue))


# --- receiving -----------------------------------------------------------------------------------

def _recv(watch, types, until: float, mission_type: int):
    """The next message of ``types`` from the vehicle about ``mission_type``, or None at ``until``."""
    master = watch.master

    def ours(msg):
        return getattr(msg, "target_system", 0) in (0, master.source_system) \
            and getattr(msg, "mission_type", 0) == mission_type  # not meant for another ground station

    return watch.recv(types, until, ours)


# --- upload ----------------------------------------------------------------------------------

COUNT, ITEMS, LAST, CONFIRM, DONE = "COUNT", "ITEMS", "LAST", "CONFIRM", "DONE"
RESTARTS_MAX = 3  # an upload the vehicle cancelled (it waited too long for an item) is started again this often


class _Upload:
    """One upload of ``items`` (seq 0 included) as ``mission_type``; run() returns or raises."""

    def __init__(self, master, items, mission_type, progress=None, patience: link.Patience = SPEC):
        self.master, self.mission_type, self.progress = master, mission_type, progress
        self.what = TYPE_NAMES[mission_type]
        self.n = len(items)
        self.wires = [_wire(it, seq, mission_type) for seq, it in enumerate(items)]
        self.p = patience
        self.watch = patience.watch(master, f"{self.what} upload", self.n)
        self.state = COUNT
        self.highest = -1  # highest seq the vehicle asked for
        self.last = None  # last seq sent
        self.sent = Counter()
        self.deadline = 0.0
        self.restarts = 0

    # outgoing
    def _send_count(self):
        self.master.mav.mission_count_send(self.master.target_system, self.master.target_component, self.n,
                                           self.mission_type)
        self.deadline = time.monotonic() + self.p.exchange_s

    def _send_item(self, seq):
        self.master.mav.mission_item_int_send(self.master.target_system, self.master.target_component,
                                              *self.wires[seq])
        self.last = seq
        self.sent[seq] += 1
        self.state = LAST if self.highest == self.n - 1 else ITEMS  # a late request for an old item changes nothing
        self.deadline = time.monotonic() + self.p.item_s

    def run(self) -> None:
        self._send_count()
        while self.state != DONE:
            msg = _recv(self.watch, ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"], self.deadline,
                        self.mission_type)
            if msg is None:
                self._on_timeout()
            elif msg.get_type() == "MISSION_ACK":
                self._on_ack(msg.type)
            else:
                self._on_request(msg.seq)

    def _where(self) -> str:
        return "no answer to the item count" if self.state == COUNT else f"{self.highest + 1} of {self.n} items taken"

    def _on_timeout(self):
        self.watch.check(self._where())
        if self.state == COUNT:
            self._send_count()
        else:
            self._send_item(self.highest)  # the newest item again (the vehicle also asks again, every second)

    def _on_request(self, seq):
        if not 0 <= seq < self.n:
            return
        if seq > self.highest:
            self.highest = seq
            if self.progress:
                self.progress(seq + 1, self.n)
        self._send_item(seq)

    def _on_ack(self, result):
        if result == M.MAV_MISSION_OPERATION_CANCELLED and self.state in (ITEMS, LAST) \
                and self.restarts < RESTARTS_MAX:
            # the vehicle gave up waiting for an item (its own timer, on a lossy link): start the type again
            self.restarts += 1
            self.highest, self.last, self.sent = -1, None, Counter()
            self.state = COUNT
            self._send_count()
            return
        if self.state == COUNT and (result in (M.MAV_MISSION_ERROR, M.MAV_MISSION_INVALID_SEQUENCE)
                                    or (result == M.MAV_MISSION_ACCEPTED and self.n > 0)):
            return  # not an answer to this count: a late answer to an earlier transfer (an item, a clear)
        if result == M.MAV_MISSION_ACCEPTED:
            if self.n == 0 or self.sent[self.n - 1]:  # it has all items only once the last one went out
                self.state = DONE
                return
            raise MissionRejected(f"{self.what} upload ended early: the vehicle accepted it after "
                                  f"{self.highest + 1} of {self.n} items; upload again")
        if result == M.MAV_MISSION_INVALID_SEQUENCE and self.state in (ITEMS, LAST):
            # ArduPilot's answer to an item it had already stored: it wants the next one, and its own request
            # got lost. When our resend of the newest item provoked it, send the next item at once.
            if self.state == ITEMS and self.last == self.highest and self.sent[self.last] >= 2:
                self._on_request(self.last + 1)
            return
        if result == M.MAV_MISSION_ERROR and self.state == LAST and self.sent[self.n - 1] >= 2:
            return self._confirm()  # it had finished: the final acknowledgement was lost
        seq = self.last if self.state in (ITEMS, LAST) else None
        raise MissionRejected(result_sentence(result, self.what, seq, self.n))

    def _confirm(self):
        """The final ACK was lost (the vehicle says it is not receiving any more): does it hold ``n`` items?"""
        self.state = CONFIRM
        count = _request_count(self.master, self.mission_type, watch=self.watch)
        if count == self.n:
            self.state = DONE
            if self.progress:
                self.progress(self.n, self.n)
            return
        raise LinkError(f"{self.what} upload failed: the final acknowledgement was lost and the vehicle holds "
                        f"{count} items, not {self.n}; check the link and upload again")


def upload_items(master, items: list[MissionItem], mission_type: int, progress=None,
                 patience: link.Patience = SPEC) -> None:
    """Send ``items`` (seq 0 included) as ``mission_type``; raise MissionRejected or LinkError on failure."""
    _Upload(master, items, mission_type, progress, patience).run()


# --- download --------------------------------------------------------------------------------

def _request_count(master, mission_type: int, patience: link.Patience = SPEC, watch=None) -> int:
    """How many items of ``mission_type`` the vehicle holds (MISSION_REQUEST_LIST, asked again every 1.5 s).
    The plan id it gives with it (``opaque_id``, MAVLink 2, where the autopilot and the dialect have it) is kept
    in ``master.dronectl_plan_ids``."""
    what = TYPE_NAMES[mission_type]
    watch = watch or patience.watch(master, f"{what} download")
    while True:
        master.mav.mission_request_list_send(master.target_system, master.target_component, mission_type)
        until = time.monotonic() + watch.p.exchange_s
        while (msg := _recv(watch, ["MISSION_COUNT", "MISSION_ACK"], until, mission_type)) is not None:
            if msg.get_type() == "MISSION_COUNT":
                ids = getattr(master, "dronectl_plan_ids", None)
                if ids is None:
                    ids = master.dronectl_plan_ids = {}
                ids[mission_type] = getattr(msg, "opaque_id", 0)
                return msg.count
            if msg.type not in (M.MAV_MISSION_ACCEPTED, M.MAV_MISSION_ERROR, M.MAV_MISSION_INVALID_SEQUENCE):
                raise MissionRejected(result_sentence(msg.type, f"{what} download"))
            # ERROR, INVALID_SEQUENCE: answers to a late item of an earlier upload, not to this request
        watch.check("no item count")


STRAY_ERRORS_MAX = 3  # ACK ERROR taken as the download's only when this many come over 1.5 s without an answer
# in between: a late resend (or a duplicate) of an upload's last items gets one each
WINDOW_START = 4  # item requests in flight at first
WINDOW_MAX = {"network": 64, "serial": 8}  # at most: a radio's bandwidth (57600 baud: ~100 items/s) is small


def _window_max(master) -> int:
    conn = getattr(master, "dronectl_conn", "") or ""
    return WINDOW_MAX["serial" if conn.startswith(("/dev/", "COM")) else "network"]


class _Download:
    """The items of one or several mission types (mission, fence, rally), read at once.

    The item counts are asked for all types together (MISSION_REQUEST_LIST, again every ``exchange_s``, 1.5 s),
    and several ``MISSION_REQUEST_INT`` are kept in flight (ArduPilot answers one for any seq while it is not
    receiving an upload): a window that starts at ``WINDOW_START``, grows by one with every item received, up to
    ``WINDOW_MAX`` (smaller on a serial radio), and halves whenever ``item_s`` (250 ms) passes without any item.
    A request unanswered after ``item_s`` is sent again; the transfer gives up only as ``patience`` says (the
    vehicle silent, or too long). Each type is acknowledged once complete.
    """

    def __init__(self, master, types, progress=None, patience: link.Patience = SPEC):
        self.master, self.types, self.progress, self.p = master, tuple(types), progress, patience
        names = [TYPE_NAMES[t] for t in self.types]
        self.what = f"{names[0]} download" if len(names) == 1 else \
            f"download of the {', '.join(names[:-1])} and {names[-1]}"
        self.watch = patience.watch(master, self.what)
        self.count: dict[int, int | None] = {t: None for t in self.types}
        self.count_asked = {t: -1e9 for t in self.types}
        self.got: dict[int, dict[int, object]] = {t: {} for t in self.types}
        self.missing: dict[int, list[int]] = {t: [] for t in self.types}
        self.in_flight: dict[tuple[int, int], float] = {}  # (type, seq) -> when last asked
        self.window, self.top = WINDOW_START, _window_max(master)
        self.last_item = time.monotonic()
        self.errors, self.first_error = 0, None

    def _ask(self, now: float) -> None:
        m = self.master
        for t in self.types:
            if self.count[t] is None and now - self.count_asked[t] > self.p.exchange_s:
                m.mav.mission_request_list_send(m.target_system, m.target_component, t)
                self.count_asked[t] = now
        for key in [k for k, sent in self.in_flight.items() if now - sent > self.p.item_s]:
            del self.in_flight[key]  # timed out: asked again below, lowest seqs first
        for t in self.types:
            for seq in self.missing[t]:
                if len(self.in_flight) >= self.window:
                    return
                if (t, seq) not in self.in_flight:
                    m.mav.mission_request_int_send(m.target_system, m.target_component, seq, t)
                    self.in_flight[(t, seq)] = now

    def _where(self) -> str:
        if any(c is None for c in self.count.values()):
            return "no item count"
        return f"{sum(map(len, self.got.values()))} of {sum(self.count.values())} items received"

    def _done(self, t) -> bool:
        return self.count[t] is not None and not self.missing[t]

    MSG_TYPES = ("MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK")

    def accepts(self, msg) -> bool:
        """A message of ours: to this ground station, about one of the types read."""
        return getattr(msg, "target_system", 0) in (0, self.master.source_system) \
            and getattr(msg, "mission_type", 0) in self.count

    def done(self) -> bool:
        return all(self._done(t) for t in self.types)

    def step(self, now: float) -> None:
        """Send what is due (counts, item requests); another transfer's loop may call it (an FTP read)."""
        self._ask(now)

    def run(self) -> dict[int, list]:
        self.watch.last_heard = self.last_item = time.monotonic()  # another loop may have done the listening
        while not self.done():
            self._ask(time.monotonic())
            waits = [sent + self.p.item_s for sent in self.in_flight.values()]
            waits += [self.count_asked[t] + self.p.exchange_s for t in self.types if self.count[t] is None]
            msg = self.watch.recv(self.MSG_TYPES, min(waits), self.accepts)
            if msg is None:
                if time.monotonic() - self.last_item > self.p.item_s:  # answers stopped coming: fewer requests
                    self.window = max(1, self.window // 2)
                    self.last_item = time.monotonic()
                self.watch.check(self._where())
                continue
            self.feed(msg)
        return {t: [self.got[t][seq] for seq in range(self.count[t])] for t in self.types}

    def feed(self, msg) -> None:
        """One message from the vehicle that :meth:`accepts` took."""
        m = self.master
        t, kind = msg.mission_type, msg.get_type()
        if kind == "MISSION_ACK":
            if msg.type == M.MAV_MISSION_ERROR:  # most likely ArduPilot's answer to a late resend of an upload's item
                now = time.monotonic()
                self.errors += 1
                self.first_error = self.first_error or now
                if self.errors < STRAY_ERRORS_MAX or now - self.first_error < self.p.exchange_s:
                    return  # not an error of this download until it persists without any answer in between
            if msg.type not in (M.MAV_MISSION_ACCEPTED, M.MAV_MISSION_INVALID_SEQUENCE):
                seq = self.missing[t][0] if self.missing[t] else None
                raise MissionRejected(result_sentence(msg.type, f"{TYPE_NAMES[t]} download", seq, self.count[t]))
            return  # INVALID_SEQUENCE: the answer to a stale request
        if kind == "MISSION_COUNT":
            if self.count[t] is None:
                self.count[t] = msg.count
                self.missing[t] = list(range(msg.count))
                self.errors, self.first_error = 0, None
                ids = getattr(m, "dronectl_plan_ids", None)
                if ids is None:
                    ids = m.dronectl_plan_ids = {}
                ids[t] = getattr(msg, "opaque_id", 0)  # MAVLink 2 plan id, where dialect and autopilot have it
                total = sum(c or 0 for c in self.count.values())
                self.watch.ceiling_at = self.watch.t0 + self.p.ceiling_s(total)  # grows with the count
                self.watch.items = total
                if msg.count == 0:
                    self._ack(t)
            return
        if self.count[t] is None or msg.seq in self.got[t] or not 0 <= msg.seq < self.count[t]:
            return  # a duplicate, or the answer to another transfer
        self.got[t][msg.seq] = msg
        self.missing[t].remove(msg.seq)
        self.in_flight.pop((t, msg.seq), None)
        self.window = min(self.top, self.window + 1)
        self.last_item = time.monotonic()
        self.errors, self.first_error = 0, None  # the vehicle answers: the errors before were stray
        if self.progress and t == self.types[0]:
            self.progress(len(self.got[t]), self.count[t])
        if not self.missing[t]:
            self._ack(t)

    def _ack(self, t) -> None:
        self.master.mav.mission_ack_send(self.master.target_system, self.master.target_component,
                                         M.MAV_MISSION_ACCEPTED, t)


def download_items(master, mission_type: int, progress=None, patience: link.Patience = SPEC) -> list[MissionItem]:
    """Read all items of ``mission_type`` (seq 0 = home for the mission), then acknowledge (:class:`_Download`)."""
    return [_item_from_msg(msg) for msg in _Download(master, (mission_type,), progress, patience).run()[mission_type]]


# --- clear, set current ----------------------------------------------------------------------

def clear_type(master, mission_type: int = TYPE_MISSION, patience: link.Patience = SPEC) -> None:
    what = TYPE_NAMES[mission_type]
    watch = patience.watch(master, f"clearing the {what}")
    while True:
        master.mav.mission_clear_all_send(master.target_system, master.target_component, mission_type)
        msg = _recv(watch, ["MISSION_ACK"], time.monotonic() + patience.exchange_s, mission_type)
        if msg is not None:
            if msg.type != M.MAV_MISSION_ACCEPTED:
                raise MissionRejected(result_sentence(msg.type, f"clearing of the {what}"))
            return
        watch.check("no acknowledgement")


def set_current(target, seq: int, timeout_s: float = 10.0, patience: link.Patience = SPEC) -> None:
    """Make ``seq`` (1 = first item after home) the vehicle's current mission item."""
    with link.opened(target, timeout_s) as master:
        watch = patience.watch(master, f"setting item {seq} as current")
        while True:
            master.mav.mission_set_current_send(master.target_system, master.target_component, seq)
            if watch.recv("MISSION_CURRENT", time.monotonic() + patience.exchange_s, lambda m: m.seq == seq):
                return
            watch.check("not confirmed")

# --- MAVLink FTP: the mission as one file -----------------------------------------------------

FTP_MIN_ITEMS = 50  # below this the item protocol is as quick, and the capability probe not worth it


def _vehicle_home_item(master, mission_type: int, patience: link.Patience = SPEC) -> MissionItem:
    """Seq 0 as the vehicle has it (its home), so that a file upload leaves home alone."""
    watch = patience.watch(master, "reading the vehicle's home")
    while True:
        master.mav.mission_request_int_send(master.target_system, master.target_component, 0, mission_type)
        msg = _recv(watch, ["MISSION_ITEM_INT", "MISSION_ITEM"], time.monotonic() + patience.item_s, mission_type)
        if msg is not None and msg.seq == 0:
            return _item_from_msg(msg)
        watch.check()


def upload_items_ftp(master, items: list[MissionItem], mission_type: int, progress=None,
                     patience: link.Patience = SPEC, home: MissionItem | None = None) -> None:
    """Send ``items`` (seq 0 included) as one ``@MISSION`` file over MAVLink FTP, then check the item count.

    LinkError when FTP fails (the caller may fall back to the item protocol); MissionRejected when the vehicle
    took the file but not the mission.
    """
    from dronectl.mavlink import ftp

    what = TYPE_NAMES[mission_type]
    if mission_type == TYPE_MISSION and items:
        items = [home or _vehicle_home_item(master, mission_type, patience), *items[1:]]
    dialect = sys.modules[type(master.mav).__module__]  # the link's own (MAVLink 2) message classes
    msgs = [dialect.MAVLink_mission_item_int_message(master.target_system, master.target_component,
                                                     *_wire(it, seq, mission_type)) for seq, it in enumerate(items)]
    n = len(items)
    ftp.put(master, ftp.FTP_MISSION_PATHS[mission_type], ftp.mission_file(msgs, mission_type),
            progress=(lambda done, total: progress(max(1, n * done // max(1, total)), n)) if progress else None,
            patience=patience)
    count = _request_count(master, mission_type, patience)
    if count != n:
        clear_type(master, mission_type, patience)  # never leave a truncated mission on the vehicle
        raise MissionRejected(f"the autopilot did not take the {what} file: it kept {count} of {n} items (too many, "
                              f"or one it does not support); the truncated {what} was cleared")


def download_items_ftp(master, mission_type: int, progress=None, patience: link.Patience = SPEC,
                       side=None) -> list[MissionItem]:
    """Read the ``@MISSION`` file of ``mission_type`` over MAVLink FTP (burst reads); LinkError when FTP fails (the
    caller falls back to the item protocol). ``side``: a :class:`_Download` (fence, rally) run meanwhile."""
    from dronectl.mavlink import ftp

    dialect = sys.modules[type(master.mav).__module__]
    size = dialect.MAVLink_mission_item_int_message.unpacker.size

    def items_progress(done: int, total: int) -> None:  # bytes read, as items (10-byte header, then items)
        progress(min(max(0, done - 10) // size, (total - 10) // size), max(1, (total - 10) // size))

    data = ftp.get(master, ftp.FTP_MISSION_PATHS[mission_type], progress=items_progress if progress else None,
                   patience=patience, side=side, length=ftp.mission_file_length(dialect))
    return [_item_from_msg(msg) for msg in ftp.mission_items_from_file(data, mission_type, dialect)]


class UploadResult(list):
    """The read-back differences (empty: identical, or not verified), and how the mission went up."""

    method = "items"
    fallback_reason = None


# --- whole missions -----------------------------------------------------------------------------

def upload(target, mission: Mission, progress=None, verify: bool = False, timeout_s: float = 10.0,
           method: str = "auto", patience: link.Patience = SPEC, keep_previous: bool = True) -> UploadResult:
    """Upload the mission (home placeholder at seq 0), its fence and rally points (cleared when empty), as one
    operation: all of it, or nothing.

    ``target``: a connection string or an open pymavlink connection. ``progress(done, total)`` follows the
    mission items. ``method``: ``items`` (the mission protocol), ``ftp`` (one file over MAVLink FTP), or
    ``auto`` (FTP for missions of 50 items or more when the vehicle offers it, the item protocol otherwise and
    as the fallback). With ``verify``, read everything back; the result lists the differences (empty:
    identical) and says which method carried the mission (``.method``). ``patience``: when to retry and when
    to give up (:class:`dronectl.mavlink.link.Patience`; the spec's timeouts by default).

    All or nothing (``keep_previous``): what the vehicle holds is read first; when a part fails, the parts already
    sent and the failing one are put back as they were (or, if that fails too, all three are cleared), and the
    error (MissionRejected or LinkError) ends by saying what the vehicle holds now.
    """
    from dronectl.errors import InputError
    from dronectl.mavlink import ftp

    if method not in ("auto", "items", "ftp"):
        raise InputError(f"unknown upload method '{method}': use auto, items or ftp")
    result = UploadResult()
    with link.opened(target, timeout_s) as master:
        if method == "ftp" and not ftp.supports_ftp(master):
            raise MissionRejected("the vehicle does not offer MAVLink FTP; use --method items")
        before = None
        if keep_previous:
            try:
                before = _download(master, patience=patience)
            except (LinkError, MissionRejected) as exc:
                raise type(exc)(f"could not read what the vehicle holds before the upload (to put it back if the "
                                f"upload fails): {exc}; nothing was changed on the vehicle") from None
        touched: list[int] = []
        try:
            _put(master, mission, method, progress, patience, result, touched, before)
            if verify:
                got = _download(master, patience=patience)
                result.extend(differences(mission, got))
                if not result:
                    _remember_ids(master, mission)
        except (LinkError, MissionRejected) as exc:
            if before is None:
                raise
            raise _put_back(master, before, touched, exc, patience) from None
    return result


def _put(master, mission: Mission, method: str, progress, patience, result: UploadResult, touched: list,
         before: Mission | None = None) -> None:
    """Mission, fence, rally in turn; each type is added to ``touched`` before it starts. A fence or rally the
    plan has not and the vehicle had not either (``before``, just read) is left alone rather than cleared."""
    from dronectl.mavlink import ftp

    home = mission.home or Home(0.0, 0.0, 0.0)
    placeholder = MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL, 0, 0, 0, 0, home.lat_deg, home.lon_deg, home.alt_m)
    items = [placeholder, *mission.items]
    touched.append(TYPE_MISSION)
    use_ftp = method == "ftp" or (method == "auto" and len(items) >= FTP_MIN_ITEMS and ftp.supports_ftp(master))
    result.method = "items"
    if use_ftp:
        try:
            # seq 0 as the vehicle has it (its home), from the plan just read when there is one
            vhome = None if before is None or before.home is None else \
                MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL, 0, 0, 0, 0, before.home.lat_deg, before.home.lon_deg,
                            before.home.alt_m)
            upload_items_ftp(master, items, TYPE_MISSION, progress, patience, vhome)
            result.method = "ftp"
        except (LinkError, MissionRejected) as exc:
            if method == "ftp" or getattr(exc, "silent", False) or getattr(exc, "link_closed", False):
                raise
            # the item protocol says precisely what the vehicle refuses (NO_SPACE, item N unsupported...)
            result.fallback_reason = str(exc)
    if result.method != "ftp":
        upload_items(master, items, TYPE_MISSION, progress, patience)
    for mtype, extra in ((TYPE_FENCE, fence_items(mission)), (TYPE_RALLY, rally_items(mission))):
        if not extra and before is not None and not (fence_items(before) if mtype == TYPE_FENCE
                                                     else rally_items(before)):
            continue
        touched.append(mtype)
        if extra:
            upload_items(master, extra, mtype, patience=patience)
        else:
            clear_type(master, mtype, patience)


def describe(m: Mission) -> str:
    """What a mission holds, in words: "57 mission items, a geofence (1 polygon, 0 circles), 2 rally points"."""
    mission = f"{len(m.items)} mission items" if m.items else "no mission"
    polys, circles = len(m.fence_polygons), len(m.fence_circles)
    fence = (f"a geofence ({polys} polygon{'s' * (polys != 1)}, {circles} circle{'s' * (circles != 1)})"
             if polys or circles else "no geofence")
    rally = f"{len(m.rally)} rally points" if m.rally else "no rally points"
    return f"{mission}, {fence}, {rally}"


PUT_BACK_TRIES = 3


def _put_back(master, before: Mission, touched: list, exc: Exception, patience) -> Exception:
    """After a failed upload: the ``touched`` types as they were in ``before`` (or all three cleared); the error to
    raise, of the same kind as ``exc``, saying what the vehicle holds now."""
    if getattr(exc, "silent", False):
        return type(exc)(f"{exc}; what the vehicle holds now is unknown (it may keep part of the new plan): "
                         "download it (dronectl mission download) or upload again before flying")
    problem = None
    for attempt in range(PUT_BACK_TRIES):
        try:
            if getattr(exc, "link_closed", False) or getattr(problem, "link_closed", False):
                master = _reconnect(master, patience)
            _put(master, before, "auto", None, patience, UploadResult(), [])
            got = _download(master, patience=patience)
            if not differences(before, got):
                return type(exc)(f"{exc}; nothing changed on the vehicle: it holds its previous plan again "
                                 f"({describe(before)})")
            problem = MissionRejected("the plan read back differs from the one it held")
        except (LinkError, MissionRejected, OSError) as err:
            problem = err
            if getattr(err, "silent", False):
                break
            time.sleep(0.5 * (attempt + 1))  # a vehicle that has just rebooted refuses uploads for a moment
    try:
        for t in (TYPE_MISSION, TYPE_FENCE, TYPE_RALLY):
            clear_type(master, t, patience)
        return type(exc)(f"{exc}; putting its previous plan back failed too ({problem}), so its mission, geofence "
                         "and rally points are now cleared: the vehicle holds no plan")
    except (LinkError, MissionRejected, OSError):
        return type(exc)(f"{exc}; putting its previous plan back and clearing it both failed ({problem}): what the "
                         "vehicle holds now is unknown; download it (dronectl mission download) or upload again "
                         "before flying")


def _reconnect(master, patience, wait_s: float = 30.0):
    """A new link to the vehicle that dropped ``master`` (a reboot), on the same connection string."""
    conn = getattr(master, "dronectl_conn", None)
    if conn is None:
        raise LinkError("the link was lost and cannot be opened again from here")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            new = link.connect(conn, max(1.0, deadline - time.monotonic()))
            break
        except LinkError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    master.close()
    # the caller's link object keeps working: it now talks over the new port
    master.__dict__.update({k: v for k, v in new.__dict__.items()})
    return master


# --- is the plan on board? -----------------------------------------------------------------------

_VERIFIED_IDS: dict[str, dict[int, int]] = {}  # plan fingerprint -> the vehicle's plan ids when it held it


def _plan_key(mission: Mission) -> str:
    import hashlib

    wires = [_wire(it, seq, TYPE_MISSION) for seq, it in enumerate(mission.items, start=1)]
    wires += [_wire(it, seq, TYPE_FENCE) for seq, it in enumerate(fence_items(mission))]
    wires += [_wire(it, seq, TYPE_RALLY) for seq, it in enumerate(rally_items(mission))]
    return hashlib.sha256(repr(wires).encode()).hexdigest()


def _remember_ids(master, mission: Mission) -> None:
    ids = dict(getattr(master, "dronectl_plan_ids", {}) or {})
    if len(ids) == 3 and all(ids.values()):
        _VERIFIED_IDS[_plan_key(mission)] = ids


def differences_on_board(target, mission: Mission, timeout_s: float = 10.0,
                         patience: link.Patience = SPEC) -> list[str]:
    """What differs between ``mission`` (its items, geofence and rally points) and what the vehicle holds now;
    empty when the vehicle holds exactly that plan (within the autopilot's rounding). For ``fly`` to call before
    arming.

    Where the autopilot gives plan ids (MAVLink 2 ``opaque_id`` in MISSION_COUNT, which change whenever a plan
    changes) and this process has already seen the vehicle hold this plan under the same ids, three item counts
    answer it; otherwise (and always with a dialect or an autopilot without ``opaque_id``) the plan is read back
    and compared.
    """
    with link.opened(target, timeout_s) as master:
        known = _VERIFIED_IDS.get(_plan_key(mission))
        if known:
            master.dronectl_plan_ids = {}
            for t in (TYPE_MISSION, TYPE_FENCE, TYPE_RALLY):
                _request_count(master, t, patience)
            if master.dronectl_plan_ids == known:
                return []
        diffs = differences(mission, _download(master, patience=patience))
        if not diffs:
            _remember_ids(master, mission)
        return diffs


def holds_plan(target, mission: Mission, timeout_s: float = 10.0, patience: link.Patience = SPEC) -> bool:
    """Whether the vehicle holds exactly ``mission`` (see :func:`differences_on_board`)."""
    return not differences_on_board(target, mission, timeout_s, patience)


def download(target, progress=None, fence_and_rally: bool = True, timeout_s: float = 10.0,
             patience: link.Patience = SPEC, method: str = "auto") -> Mission:
    """The vehicle's mission (seq 0 becomes ``home``), geofence and rally points.

    ``method``: ``auto`` and ``items`` read with the item protocol, several requests in flight; ``ftp`` reads the
    mission as one file over MAVLink FTP (burst reads; LinkError when FTP fails). ``auto`` is the item
    protocol because it is the faster on ArduPilot: 600 items from SITL in 0.09 s against 0.56 s by FTP, whose
    burst replies the autopilot sends one at a time from a worker thread (benchmarks/RESULTS.md). Fence and rally
    points come with the item protocol, their requests in flight together.
    """
    with link.opened(target, timeout_s) as master:
        return _download(master, progress, fence_and_rally, patience, method)


def _download(master, progress=None, fence_and_rally: bool = True, patience: link.Patience = SPEC,
              method: str = "auto") -> Mission:
    from dronectl.errors import InputError

    if method not in ("auto", "items", "ftp"):
        raise InputError(f"unknown download method '{method}': use auto, items or ftp")
    got = {}
    if method == "ftp":
        # fence and rally points are read with the item protocol meanwhile (their counts take 1.5 s per loss)
        side = _Download(master, (TYPE_FENCE, TYPE_RALLY), patience=patience) if fence_and_rally else None
        got[TYPE_MISSION] = download_items_ftp(master, TYPE_MISSION, progress, patience, side)
        if side is not None:
            got.update({t: [_item_from_msg(msg) for msg in msgs] for t, msgs in side.run().items()})
    types = tuple(t for t in ((TYPE_MISSION, TYPE_FENCE, TYPE_RALLY) if fence_and_rally else (TYPE_MISSION,))
                  if t not in got)
    if types:
        got.update({t: [_item_from_msg(msg) for msg in msgs]
                    for t, msgs in _Download(master, types, progress, patience).run().items()})
    items = got[TYPE_MISSION]
    home = Home(items[0].lat_deg, items[0].lon_deg, items[0].alt_m) if items else None
    polys, circles, rally = (), (), ()
    if fence_and_rally:
        polys, circles = fence_from_items(got[TYPE_FENCE])
        rally = tuple(RallyPoint(i.lat_deg, i.lon_deg, i.alt_m) for i in got[TYPE_RALLY])
    return Mission(items=tuple(items[1:]), home=home, fence_polygons=polys, fence_circles=circles, rally=rally)


def clear(target, mission_types=(TYPE_MISSION, TYPE_FENCE, TYPE_RALLY), timeout_s: float = 10.0,
          patience: link.Patience = SPEC) -> None:
    """Clear the vehicle's mission, geofence and rally points (or the ``mission_types`` given)."""
    if isinstance(mission_types, int):
        mission_types = (mission_types,)
    with link.opened(target, timeout_s) as master:
        for t in mission_types:
            clear_type(master, t, patience)


# The autopilot's rounding: lat/lon travel as int32 1e-7 degrees; altitudes and params as float32.
POS_TOL_DEG = 1.5e-7
ALT_TOL_M = 0.01
PARAM_TOL = 1e-5
RALLY_ALT_TOL_M = 1.0  # ArduPilot stores rally altitudes as whole metres (int16)


def _as_stored(sent: MissionItem, got: MissionItem) -> MissionItem:
    """``got`` with a param read back as 0 where NaN was sent ("unchanged", QGroundControl's ``null``) shown as
    the NaN: ArduPilot stores 0 for it. Any other value read back for a NaN still differs."""
    if sent.command != got.command:
        return got
    params = [p if (isinstance(p, float) and math.isnan(p) and (q == 0 or math.isnan(q))) else q
              for p, q in zip(sent.params(), got.params())]
    return replace(got, param1=params[0], param2=params[1], param3=params[2], param4=params[3])


def differences(sent: Mission, got: Mission) -> list[str]:
    """What differs between a mission and its read-back, beyond what the autopilot can store: int32 1e-7 degree
    positions, float32 altitudes and params, 0 for a NaN param."""
    if len(sent.items) == len(got.items):
        got = got.with_items(_as_stored(a, b) for a, b in zip(sent.items, got.items))
    diffs = mission_differences(sent, got, pos_tol_deg=POS_TOL_DEG, alt_tol_m=ALT_TOL_M, param_tol=PARAM_TOL)

    def near(a, b):
        return abs(a[0] - b[0]) <= POS_TOL_DEG and abs(a[1] - b[1]) <= POS_TOL_DEG

    if len(got.fence_polygons) != len(sent.fence_polygons) or len(got.fence_circles) != len(sent.fence_circles):
        diffs.append(f"geofence: {len(got.fence_polygons)} polygons and {len(got.fence_circles)} circles on the "
                     f"vehicle, {len(sent.fence_polygons)} and {len(sent.fence_circles)} in the plan")
    else:
        for k, (p, q) in enumerate(zip(sent.fence_polygons, got.fence_polygons), start=1):
            if p.inclusion != q.inclusion or len(p.vertices) != len(q.vertices) or \
                    not all(near(a, b) for a, b in zip(p.vertices, q.vertices)):
                diffs.append(f"geofence polygon {k} differs")
        for k, (c, d) in enumerate(zip(sent.fence_circles, got.fence_circles), start=1):
            if c.inclusion != d.inclusion or not near((c.lat_deg, c.lon_deg), (d.lat_deg, d.lon_deg)) or \
                    abs(c.radius_m - d.radius_m) > ALT_TOL_M * max(1.0, c.radius_m):
                diffs.append(f"geofence circle {k} differs")
    if len(got.rally) != len(sent.rally):
        diffs.append(f"rally points: {len(got.rally)} on the vehicle, {len(sent.rally)} in the plan")
    else:
        for k, (r, s) in enumerate(zip(sent.rally, got.rally), start=1):
            # ArduPilot keeps a rally altitude in whole metres
            if not near((r.lat_deg, r.lon_deg), (s.lat_deg, s.lon_deg)) or abs(r.alt_m - s.alt_m) >= RALLY_ALT_TOL_M:
                diffs.append(f"rally point {k} differs")
    return diffs


def verify(target, sent: Mission, timeout_s: float = 10.0, patience: link.Patience = SPEC) -> list[str]:
    """Read the mission back and list differences beyond the autopilot's rounding (empty when identical)."""
    return differences(sent, download(target, timeout_s=timeout_s, patience=patience))
