"""MAVLink FTP, as much as a mission upload needs: write one file (ArduPilot's ``@MISSION/mission.dat``).

The FTP payload (``FILE_TRANSFER_PROTOCOL.payload``, 251 bytes): seq u16, session u8, opcode u8, size u8,
req_opcode u8, burst_complete u8, padding u8, offset u32, then up to 239 bytes of data. A reply carries the
request's seq + 1 and ``req_opcode``; ``Ack`` (128) or ``Nak`` (129, error code in data[0]).

A request not answered in time is sent again with the same seq: the vehicle then repeats its last reply
instead of acting twice (a second ``CreateFile`` would fail on the session the first one opened). When to give up
is the mission protocol's policy (:class:`dronectl.mavlink.link.Patience`: the vehicle silent, or the transfer
too long); besides, one request the vehicle never answers in ``TRIES_MAX`` tries while it talks means FTP does not
work there (the caller falls back to the item protocol).

Writing: ``CreateFile`` (path in data) opens a session, ``WriteFile`` chunks at their offsets (a few in flight at
once: ArduPilot queues 5 requests), ``TerminateSession`` closes the file, and with it ArduPilot applies the
mission. It does not report whether the mission was accepted, so the caller checks the item count afterwards.
"""

from __future__ import annotations

import random
import struct
import time

from pymavlink import mavutil

from dronectl.errors import LinkError
from dronectl.mavlink import link

M = mavutil.mavlink
OP_TERMINATE, OP_RESET, OP_CREATE, OP_WRITE = 1, 2, 6, 7
OP_ACK, OP_NAK = 128, 129
DATA_MAX = 239
WINDOW = 5  # writes in flight (ArduPilot queues 5 requests; MAVProxy sends 5 too)
TRIES_MAX = 20  # one request unanswered this often while the vehicle talks: FTP does not work here
NAK_TEXT = {1: "failed", 2: "failed (errno {errno})", 3: "invalid data size", 4: "invalid session",
            5: "no session available", 6: "end of file", 7: "unknown command", 8: "file exists",
            9: "file protected", 10: "file not found"}
_HDR = struct.Struct("<HBBBBBBI")


def pack(seq: int, session: int, opcode: int, offset: int = 0, data: bytes = b"") -> list[int]:
    payload = _HDR.pack(seq & 0xFFFF, session, opcode, len(data), 0, 0, 0, offset) + data
    return list(payload.ljust(251, b"\0"))


def unpack(payload) -> dict:
    b = bytes(payload)
    seq, session, opcode, size, req_opcode, burst, _, offset = _HDR.unpack(b[:12])
    return dict(seq=seq, session=session, opcode=opcode, size=size, req_opcode=req_opcode, offset=offset,
                data=b[12:12 + size])


def supports_ftp(master, timeout_s: float = 2.4, tries: int = 6) -> bool:
    """Whether the vehicle advertises MAVLink FTP (AUTOPILOT_VERSION capabilities). Asked several times, so
    that a lossy link does not hide it; a vehicle that never answers costs ``timeout_s``."""
    for _ in range(tries):
        master.mav.command_long_send(master.target_system, master.target_component, M.MAV_CMD_REQUEST_MESSAGE, 0,
                                     M.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0)
        msg = master.recv_match(type="AUTOPILOT_VERSION", blocking=True, timeout=timeout_s / tries)
        if msg is not None:
            return bool(msg.capabilities & M.MAV_PROTOCOL_CAPABILITY_FTP)
    return False


class _Client:
    def __init__(self, master, watch: link.Watch):
        self.master, self.watch = master, watch
        self.timeout_s = watch.p.ftp_s
        # A random start: the vehicle keeps its last reply, and an earlier client's last seq must not make
        # this client's first request look like a re-request.
        self.seq = random.randrange(0x10000)

    def send(self, session, opcode, offset=0, data=b"", seq=None) -> int:
        """Send a request; a retry passes the first attempt's ``seq`` (the spec: the vehicle answers a request
        it has already handled by sending its reply again, rather than doing it twice)."""
        if seq is None:
            self.seq = seq = (self.seq + 1) & 0xFFFF
        self.master.mav.file_transfer_protocol_send(0, self.master.target_system, self.master.target_component,
                                                    pack(seq, session, opcode, offset, data))
        return seq

    def recv(self, deadline: float):
        msg = self.watch.recv("FILE_TRANSFER_PROTOCOL", deadline,
                              lambda m: m.target_system in (0, self.master.source_system))
        return None if msg is None else unpack(msg.payload)

    def request(self, session, opcode, offset=0, data=b"", what="request") -> dict:
        """One request with retries; the Ack reply, or LinkError."""
        seq = None
        for _ in range(TRIES_MAX):
            seq = self.send(session, opcode, offset, data, seq)
            deadline = time.monotonic() + self.timeout_s
            while (r := self.recv(deadline)) is not None:
                if r["seq"] != (seq + 1) & 0xFFFF or r["req_opcode"] != opcode:
                    continue
                if r["opcode"] == OP_NAK:
                    code = r["data"][0] if r["data"] else 1
                    errno = r["data"][1] if len(r["data"]) > 1 else 0
                    raise LinkError(f"MAVLink FTP {what}: the vehicle answered "
                                    f"{NAK_TEXT.get(code, f'error {code}').format(errno=errno)}")
                return r
            self.watch.check(what)
        raise LinkError(f"MAVLink FTP {what}: no answer in {TRIES_MAX} tries though the vehicle talks")


def put(master, path: str, data: bytes, progress=None, patience: link.Patience = link.SPEC) -> None:
    """Write ``data`` to ``path`` on the vehicle; LinkError on any failure (the caller falls back)."""
    c = _Client(master, patience.watch(master, f"MAVLink FTP write of {path}", -(-len(data) // DATA_MAX)))
    try:
        session = c.request(0, OP_CREATE, 0, path.encode() + b"\0", f"open {path}")["session"]
    except LinkError as exc:
        if "no session available" not in str(exc):
            raise
        c.request(0, OP_RESET, what="reset")
        session = c.request(0, OP_CREATE, 0, path.encode() + b"\0", f"open {path}")["session"]
    try:
        chunks = {off: data[off:off + DATA_MAX] for off in range(0, len(data), DATA_MAX)}
        pending = sorted(chunks)
        in_flight: dict[int, tuple[int, float, int]] = {}  # seq -> (offset, sent time, tries)
        done = 0
        while pending or in_flight:
            while pending and len(in_flight) < WINDOW:
                off = pending.pop(0)
                in_flight[c.send(session, OP_WRITE, off, chunks[off])] = (off, time.monotonic(), 1)
            r = c.recv(time.monotonic() + 0.02)
            now = time.monotonic()
            if r is not None and r["req_opcode"] == OP_WRITE:
                req = (r["seq"] - 1) & 0xFFFF
                if req in in_flight:
                    off = in_flight.pop(req)[0]
                    if r["opcode"] == OP_NAK:
                        code = r["data"][0] if r["data"] else 1
                        raise LinkError(f"MAVLink FTP write of {path}: the vehicle answered "
                                        f"{NAK_TEXT.get(code, f'error {code}').format(errno='?')}")
                    done += len(chunks[off])
                    if progress:
                        progress(done, len(data))
            c.watch.check(f"{done} of {len(data)} bytes written")
            for seq, (off, sent, tries) in list(in_flight.items()):
                if now - sent > c.timeout_s:
                    if tries >= TRIES_MAX:
                        raise LinkError(f"MAVLink FTP write of {path}: no answer at offset {off} after "
                                        f"{tries} tries")
                    in_flight[seq] = (off, now, tries + 1)
                    c.send(session, OP_WRITE, off, chunks[off], seq)
    except BaseException:
        try:
            c.send(session, OP_TERMINATE)
        except Exception:
            pass
        raise
    c.request(session, OP_TERMINATE, what=f"close {path}")


MISSION_MAGIC = 0x763D


def mission_file(items_int: list, mission_type: int) -> bytes:
    """ArduPilot's ``@MISSION`` file: a header (magic, type, options, start, count), then MISSION_ITEM_INT
    structs as they travel on the wire. ``items_int``: MAVLink_mission_item_int_message objects."""
    out = [struct.pack("<HHHHH", MISSION_MAGIC, mission_type, 0, 0, len(items_int))]
    for m in items_int:
        out.append(m.unpacker.pack(*[getattr(m, f) for f in m.ordered_fieldnames]))
    return b"".join(out)


FTP_MISSION_PATHS = {0: "@MISSION/mission.dat", 1: "@MISSION/fence.dat", 2: "@MISSION/rally.dat"}
