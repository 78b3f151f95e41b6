"""The built-in vehicle's mission storage and the two ways to reach it, as ArduCopter (4.7 SITL) answers them:
the MAVLink mission protocol (mission, fence and rally) and MAVLink FTP (ArduPilot's ``@MISSION/*.dat`` files).

Items are stored as :class:`dronectl.mission.MissionItem`: a position in degrees for the commands ArduPilot keeps
as a location (``COMMANDS_WITH_LOCATION``), x/y as they came (param5/6) for the others; params and altitudes as
the float32 they travelled as. Mission seq 0 is always home.

Mission protocol: uploads are asked for with ``MISSION_REQUEST`` (not ``_INT``), re-asked after a second of
silence and cancelled after ``upload_timeout_s``; an item that was not asked for gets ``ACK INVALID_SEQUENCE``, an
item outside an upload ``ACK ERROR``; too many items ``NO_SPACE``, as is any upload in the first seconds after boot
(storage not ready); a download may ask for any sequence number in any order (``MISSION_REQUEST_INT`` or
``MISSION_REQUEST``), and is refused (``DENIED``) during an upload.

FTP: ``CreateFile``/``OpenFileWO``, ``WriteFile``, ``TerminateSession`` (which applies the file, silently ignored
when malformed, as ArduPilot does); ``OpenFileRO``, ``ReadFile`` and ``BurstReadFile`` of the same files; a request
repeated with the same sequence number gets the last reply again instead of being done twice.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mav

from dronectl.mission import (
    CMD_NAV_WAYPOINT,
    COMMANDS_WITH_LOCATION,
    FRAME_GLOBAL,
    MissionItem,
)

REQUEST_RESEND_S = 1.0  # ArduPilot MissionItemProtocol: ask again after 1 s without the item (simulated time)
TYPE_MISSION, TYPE_FENCE, TYPE_RALLY = 0, 1, 2
ACCEPTED_FRAMES = (0, 2, 3, 5, 6, 10, 11)  # what ArduCopter takes in a mission


def stored_params(m) -> tuple[float, float, float, float]:
    """Params 1-4 as ArduPilot stores them: a NaN ("unchanged", QGroundControl's ``null``) is kept as 0, and
    reads back as 0."""
    get = m.get if isinstance(m, dict) else lambda k: getattr(m, k)
    return tuple(0.0 if math.isnan(get(k)) else get(k) for k in ("param1", "param2", "param3", "param4"))


def item_from_wire(m, mission_type: int, ints: bool = True) -> MissionItem:
    """A MISSION_ITEM_INT (``ints``) or MISSION_ITEM (message or dict of its fields) as the vehicle stores it."""
    get = m.get if isinstance(m, dict) else lambda k: getattr(m, k)
    cmd, x, y = get("command"), get("x"), get("y")
    located = cmd in COMMANDS_WITH_LOCATION
    if located:
        lat, lon = (x / 1e7, y / 1e7) if ints else (round(x * 1e7) / 1e7, round(y * 1e7) / 1e7)
    else:
        lat, lon = float(x), float(y)
    # params and altitude arrive as float32 and are stored as such, as the autopilot does; but ArduPilot keeps
    # a rally point's altitude as whole metres (int16, truncated) and a fence vertex without altitude
    z = get("z")
    z = float(int(z)) if mission_type == TYPE_RALLY else (0.0 if mission_type == TYPE_FENCE else z)
    return MissionItem(cmd, get("frame"), *stored_params(m), lat, lon, z, bool(get("autocontinue")))


def wire_xy(it: MissionItem) -> tuple[int, int]:
    """x, y of MISSION_ITEM_INT: degrees x 1e7 for a location, param5/6 as they are otherwise."""
    if it.command in COMMANDS_WITH_LOCATION:
        return int(round(it.lat_deg * 1e7)), int(round(it.lon_deg * 1e7))
    return int(it.lat_deg), int(it.lon_deg)


@dataclass
class _Upload:
    mission_type: int
    count: int
    items: list = field(default_factory=list)
    last_request_t: float = 0.0
    last_receive_t: float = 0.0
    peer: tuple = (255, 0)


class MissionServer:
    """Mission, fence and rally storage (kept across reboots) and the mission protocol.

    ``host`` is the vehicle: ``send(msg)``, ``peer``, ``t_sim``, ``home``, ``statustext(text)``, ``options``
    (``capacity``, ``fence_capacity``, ``storage_delay_s``, ``upload_timeout_s``), ``faults`` (a
    :class:`~dronectl.sim.transport.FaultInjector`), ``reboot()``, ``current`` (settable) and ``mission_running()``.
    """

    def __init__(self, host):
        self.host = host
        self.missions: dict[int, list[MissionItem]] = {TYPE_MISSION: [], TYPE_FENCE: [], TYPE_RALLY: []}
        self.transfer: _Upload | None = None

    def home_item(self) -> MissionItem:
        lat, lon, alt = self.host.home
        return MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL, 0.0, 0.0, 0.0, 0.0, round(lat * 1e7) / 1e7,
                           round(lon * 1e7) / 1e7, float(alt), True)

    def count(self, mission_type: int) -> int:
        n = len(self.missions[mission_type])
        return n if mission_type else max(1, n)

    def store(self, mission_type: int, items: list[MissionItem]) -> None:
        if mission_type == TYPE_MISSION:
            # seq 0 is always home; items are added one by one until the storage is full (the rest is dropped)
            items = ([self.home_item()] + list(items[1:]))[:self.host.options.capacity]
            self.host.current = 0
        self.missions[mission_type] = list(items)

    def reset_link(self) -> None:
        self.transfer = None

    # --- messages ------------------------------------------------------------------------------
    def _ack(self, result, mtype, peer=None):
        self.host.send(mav.MAVLink_mission_ack_message(*(peer or self.host.peer), result, mtype))

    def _request(self, seq, mtype):
        tr = self.transfer
        self.host.send(mav.MAVLink_mission_request_message(*(tr.peer if tr else self.host.peer), seq, mtype))
        if tr:
            tr.last_request_t = self.host.t_sim

    def handle(self, m) -> bool:
        """Handle a mission-protocol message; False if it is not one."""
        t = m.get_type()
        if t == "MISSION_COUNT":
            self._on_count(m)
        elif t in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            self._on_item(m, t == "MISSION_ITEM_INT")
        elif t == "MISSION_REQUEST_LIST":
            if self.transfer is not None:
                self._ack(mav.MAV_MISSION_DENIED, m.mission_type)
                return True
            self.host.send(mav.MAVLink_mission_count_message(*self.host.peer, self.count(m.mission_type),
                                                             m.mission_type))
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            self._on_request(m, t == "MISSION_REQUEST_INT")
        elif t == "MISSION_CLEAR_ALL":
            self.transfer = None
            self.missions[m.mission_type] = []
            if m.mission_type == TYPE_MISSION:
                self.host.current = 0
            self._ack(mav.MAV_MISSION_ACCEPTED, m.mission_type)
        elif t == "MISSION_SET_CURRENT":
            if self.set_current(m.seq):
                self.host.send(self.host.mission_current())
        else:
            return False
        return True

    def set_current(self, seq: int) -> bool:
        if 0 <= seq < self.count(TYPE_MISSION):
            self.host.current = seq
            return True
        return False

    def _on_count(self, m):
        mtype, o = m.mission_type, self.host.options
        if self.transfer is not None and self.transfer.mission_type != mtype:
            self._ack(mav.MAV_MISSION_DENIED, mtype)
            return
        self.transfer = None  # the same ground station may restart its upload
        if self.host.t_sim < o.storage_delay_s:
            self._ack(mav.MAV_MISSION_NO_SPACE, mtype)  # as SITL right after boot
            return
        if mtype == TYPE_MISSION and m.count > o.capacity:
            self._ack(mav.MAV_MISSION_NO_SPACE, mtype)
            self.host.statustext(f"Only {o.capacity} items are supported")
            return
        if mtype == TYPE_FENCE and m.count > o.fence_capacity:  # ArduCopter: max_items() = storage bytes / 8
            self._ack(mav.MAV_MISSION_NO_SPACE, mtype)
            return
        if m.count == 0:
            self.missions[mtype] = []
            self._ack(mav.MAV_MISSION_ACCEPTED, mtype)
            return
        self.transfer = _Upload(mtype, m.count, last_receive_t=self.host.t_sim, peer=self.host.peer)
        self._request(0, mtype)

    def _on_item(self, m, ints: bool):
        tr = self.transfer
        if tr is None or m.mission_type != tr.mission_type:
            self._ack(mav.MAV_MISSION_ERROR, m.mission_type)  # not receiving: as ArduPilot
            return
        if m.seq != len(tr.items):
            self._ack(mav.MAV_MISSION_INVALID_SEQUENCE, tr.mission_type)
            return
        if self.host.faults.reboot_at(m.seq):
            self.host.reboot()
            return
        if self.host.faults.refuse(tr.mission_type, m.seq):
            self.transfer = None
            self._ack(mav.MAV_MISSION_ERROR, tr.mission_type)
            return
        if m.frame not in ACCEPTED_FRAMES and tr.mission_type == TYPE_MISSION:
            self.transfer = None
            self._ack(mav.MAV_MISSION_UNSUPPORTED_FRAME, tr.mission_type)
            return
        tr.items.append(item_from_wire(m, tr.mission_type, ints))
        tr.last_receive_t = self.host.t_sim
        if len(tr.items) == tr.count:
            self.store(tr.mission_type, tr.items)
            self.transfer = None
            self._ack(mav.MAV_MISSION_ACCEPTED, tr.mission_type, tr.peer)
        else:
            self._request(len(tr.items), tr.mission_type)

    def _on_request(self, m, ints: bool):
        if self.transfer is not None:
            self._ack(mav.MAV_MISSION_DENIED, m.mission_type)
            return
        items = self.missions[m.mission_type]
        if m.mission_type == TYPE_MISSION and m.seq == 0:
            it = self.home_item()
        elif 0 <= m.seq < len(items):
            it = items[m.seq]
        else:
            self.host.send(mav.MAVLink_mission_count_message(*self.host.peer, self.count(m.mission_type),
                                                             m.mission_type))
            self._ack(mav.MAV_MISSION_INVALID_SEQUENCE, m.mission_type)
            return
        self.host.send(self.item_message(it, m.seq, m.mission_type, ints))

    def item_message(self, it: MissionItem, seq: int, mission_type: int, ints: bool = True, peer=None):
        located = it.command in COMMANDS_WITH_LOCATION
        # as ArduPilot reports an item without a location (its x/y are param5/6 as they are)
        frame = it.frame if located else FRAME_GLOBAL
        # flagged current only while the mission runs, as ArduPilot (its current nav command)
        current = int(mission_type == TYPE_MISSION and seq == self.host.current and self.host.mission_running())
        x, y = wire_xy(it)
        if ints:
            cls = mav.MAVLink_mission_item_int_message
        else:
            cls = mav.MAVLink_mission_item_message
            x, y = (it.lat_deg, it.lon_deg) if located else (float(x), float(y))
        return cls(*(peer or self.host.peer), seq, frame, it.command, current, int(it.autocontinue), *it.params(),
                   x, y, it.alt_m, mission_type)

    def step(self) -> None:
        """Re-ask for a missing item, or cancel a stalled upload (simulated time)."""
        tr = self.transfer
        if tr is None:
            return
        if self.host.t_sim - tr.last_receive_t > self.host.options.upload_timeout_s:
            self.transfer = None
            self._ack(mav.MAV_MISSION_OPERATION_CANCELLED, tr.mission_type, tr.peer)
        elif self.host.t_sim - tr.last_request_t > REQUEST_RESEND_S:
            self._request(len(tr.items), tr.mission_type)  # ask again, as ArduPilot does


# --- MAVLink FTP -------------------------------------------------------------------------------------
OP_TERMINATE, OP_RESET, OP_OPEN_RO, OP_READ, OP_CREATE, OP_WRITE, OP_OPEN_WO, OP_BURST_READ = 1, 2, 4, 5, 6, 7, 11, 15
OP_ACK, OP_NAK = 128, 129
ERR_FAIL, ERR_SESSION, ERR_EOF, ERR_UNKNOWN, ERR_NOT_FOUND = 1, 4, 6, 7, 10
DATA_MAX = 239
BURST_MAX = 500  # replies in one burst, as ArduPilot
# ArduPilot's stat() of an @MISSION file gives this fixed size (AP_Filesystem_Mission: "to avoid needing to scan
# the entire file"), so OpenFileRO answers it and a reader learns the end from a short read or EndOfFile
STAT_SIZE = 1024 * 1024
MISSION_MAGIC = 0x763D
FILES = {"@MISSION/mission.dat": TYPE_MISSION, "@MISSION/fence.dat": TYPE_FENCE, "@MISSION/rally.dat": TYPE_RALLY}
_HDR = struct.Struct("<HBBBBBBI")  # seq, session, opcode, size, req_opcode, burst_complete, padding, offset
_FILE_HDR = struct.Struct("<HHHHH")  # magic, type, options, start, count
_ITEM = mav.MAVLink_mission_item_int_message


@dataclass
class _Session:
    id: int
    mission_type: int
    write: bool
    buf: bytearray


class FtpServer:
    """MAVLink FTP over ArduPilot's ``@MISSION`` files (AP_Filesystem_Mission): one session at a time."""

    def __init__(self, host, missions: MissionServer):
        self.host, self.missions = host, missions
        self.session: _Session | None = None
        self.last_reply = None  # ((session, seq), payload): a re-request gets it again

    def reset_link(self) -> None:
        self.last_reply = None

    def _send(self, payload: bytes) -> None:
        self.host.send(mav.MAVLink_file_transfer_protocol_message(0, *self.host.peer, list(payload.ljust(251, b"\0"))))

    def handle(self, m) -> None:
        b = bytes(m.payload)
        seq, session, op, size, _, _, _, offset = _HDR.unpack(b[:12])
        data = b[12:12 + size]
        if self.last_reply is not None and self.last_reply[0] == (session, (seq + 1) & 0xFFFF):
            self._send(self.last_reply[1])  # a re-request, as ArduPilot: the last reply again, not redone
            return

        def reply(opcode, body=b"", off=0, sess=session, rseq=seq + 1, burst_complete=0):
            payload = _HDR.pack(rseq & 0xFFFF, sess, opcode, len(body), op, burst_complete, 0, off) + body
            self.last_reply = ((sess, rseq & 0xFFFF), payload)
            self._send(payload)

        def nak(code):
            reply(OP_NAK, bytes([code]))

        s = self.session
        if op in (OP_TERMINATE, OP_RESET):
            if s is not None and (op == OP_RESET or session == s.id):
                self.session = None
                if op == OP_TERMINATE and s.write:
                    self._apply(s)
            reply(OP_ACK)
        elif op in (OP_CREATE, OP_OPEN_WO, OP_OPEN_RO):
            path = data.split(b"\0")[0].decode(errors="replace")
            if s is not None:
                nak(ERR_FAIL)
            elif path not in FILES:
                nak(ERR_NOT_FOUND)
            elif op == OP_OPEN_RO:
                body = self.file(FILES[path])
                self.session = _Session(session, FILES[path], False, bytearray(body))
                reply(OP_ACK, struct.pack("<I", STAT_SIZE))  # not the file's size: as ArduPilot's stat()
            else:  # the client names the session, as with ArduPilot
                self.session = _Session(session, FILES[path], True, bytearray())
                reply(OP_ACK)
        elif op == OP_WRITE:
            if s is None or session != s.id or not s.write:
                nak(ERR_NOT_FOUND if s is None else ERR_SESSION)
                return
            buf = s.buf
            if len(buf) < offset + len(data):
                buf.extend(bytes(offset + len(data) - len(buf)))
            buf[offset:offset + len(data)] = data
            reply(OP_ACK, off=offset)
        elif op in (OP_READ, OP_BURST_READ):
            if s is None or session != s.id or s.write:
                nak(ERR_NOT_FOUND if s is None else ERR_SESSION)
                return
            want = size or DATA_MAX  # a read names its length in ``size`` (0: as much as fits)
            if op == OP_READ:
                chunk = bytes(s.buf[offset:offset + min(want, DATA_MAX)])
                if not chunk:
                    nak(ERR_EOF)
                else:
                    reply(OP_ACK, chunk, off=offset)
                return
            # BurstReadFile, as ArduPilot: replies at successive offsets, seq + 1 each, burst_complete on a short
            # read or the last of ``BURST_MAX``; the end of the file is a NAK EndOfFile at the offset after the
            # last byte
            step = min(want, DATA_MAX)
            rseq, off = seq + 1, offset
            for i in range(BURST_MAX):
                chunk = bytes(s.buf[off:off + step])
                if not chunk:
                    reply(OP_NAK, bytes([ERR_EOF]), off=off, rseq=rseq)
                    return
                reply(OP_ACK, chunk, off=off, rseq=rseq,
                      burst_complete=int(len(chunk) < step or i == BURST_MAX - 1))
                rseq, off = rseq + 1, off + len(chunk)
        else:
            nak(ERR_UNKNOWN)

    def file(self, mission_type: int) -> bytes:
        """The ``@MISSION`` file of one mission type, as ArduPilot serves it: the header (magic, type, options,
        start, count), then each item as MISSION_ITEM_INT travels on the wire."""
        items = self.missions.missions[mission_type]
        if mission_type == TYPE_MISSION:
            items = [self.missions.home_item()] + items[1:]
        out = [_FILE_HDR.pack(MISSION_MAGIC, mission_type, 0, 0, len(items))]
        for seq, it in enumerate(items):
            msg = self.missions.item_message(it, seq, mission_type, peer=(0, 0))
            out.append(_ITEM.unpacker.pack(*[getattr(msg, f) for f in _ITEM.ordered_fieldnames]))
        return b"".join(out)

    def _apply(self, s: _Session) -> None:
        """Apply an uploaded @MISSION file as ArduPilot does on close (silently ignored when malformed)."""
        buf, mtype = bytes(s.buf), s.mission_type
        if len(buf) < _FILE_HDR.size:
            return
        magic, dtype, options, start, n = _FILE_HDR.unpack(buf[:_FILE_HDR.size])
        size = _ITEM.unpacker.size
        if magic != MISSION_MAGIC or dtype != mtype or start != 0 or len(buf) != _FILE_HDR.size + n * size:
            return
        items = []
        for i in range(n):
            v = dict(zip(_ITEM.ordered_fieldnames, _ITEM.unpacker.unpack(
                buf[_FILE_HDR.size + i * size:_FILE_HDR.size + (i + 1) * size])))
            items.append(item_from_wire(v, mtype))
        # ArduPilot clears the old one first, then adds the file's items
        self.missions.store(mtype, items)

