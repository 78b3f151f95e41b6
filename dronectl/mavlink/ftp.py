"""MAVLink FTP, as much as mission transfers need: write and read one file (ArduPilot's ``@MISSION/mission.dat``).

The FTP payload (``FILE_TRANSFER_PROTOCOL.payload``, 251 bytes): seq u16, session u8, opcode u8, size u8,
req_opcode u8, burst_complete u8, padding u8, offset u32, then up to 239 bytes of data. A reply carries the
request's seq + 1 and ``req_opcode``; ``Ack`` (128) or ``Nak`` (129, error code in data[0]).

A request not answered in time is sent again with the same seq: the vehicle then repeats its last reply
instead of acting twice (a second ``CreateFile`` would fail on the session the first one opened). When to give up
is the mission protocol's policy (:class:`dronectl.mavlink.link.Patience`: the vehicle silent, or the transfer
too long); besides, one request the vehicle never answers in ``TRIES_MAX`` tries (and 3 s) while it talks means
FTP does not work there (the caller falls back to the item protocol).

Writing: ``CreateFile`` (path in data) opens a session, ``WriteFile`` chunks at their offsets (a few in flight at
once: ArduPilot queues 5 requests), ``TerminateSession`` closes the file, and with it ArduPilot applies the
mission. It does not report whether the mission was accepted, so the caller checks the item count afterwards.

Reading: ``OpenFileRO`` opens a session and answers the file's size (u32 in data), ``BurstReadFile`` asks the vehicle
to stream the file from an offset (replies with ``req_opcode`` BurstReadFile, consecutive offsets, ``burst_complete``
set on the last), then the gaps the loss left are asked for with ``ReadFile`` (a few in flight), or with a new burst
when many are missing or the burst stalled; ``TerminateSession`` closes the file.
"""

from __future__ import annotations

import random
import struct
import time

from pymavlink import mavutil

from dronectl.errors import LinkError
from dronectl.mavlink import link

M = mavutil.mavlink
OP_TERMINATE, OP_RESET, OP_OPEN_RO, OP_READ, OP_CREATE, OP_WRITE, OP_BURST_READ = 1, 2, 4, 5, 6, 7, 15
OP_ACK, OP_NAK = 128, 129
DATA_MAX = 239
WINDOW = 5  # writes in flight (ArduPilot queues 5 requests; MAVProxy sends 5 too)
TRIES_MAX = 20  # one request unanswered this often while the vehicle talks: FTP does not work here
TRIES_MIN_S = 3.0  # ... and for at least this long (short test timeouts on a loaded machine)
NAK_TEXT = {1: "failed", 2: "failed (errno {errno})", 3: "invalid data size", 4: "invalid session",
            5: "no session available", 6: "end of file", 7: "unknown command", 8: "file exists",
            9: "file protected", 10: "file not found"}
_HDR = struct.Struct("<HBBBBBBI")


def pack(seq: int, session: int, opcode: int, offset: int = 0, data: bytes = b"", size: int | None = None) -> list[int]:
    """A request's payload; ``size`` is the data length, or for a read how many bytes to read."""
    payload = _HDR.pack(seq & 0xFFFF, session, opcode, len(data) if size is None else size, 0, 0, 0, offset) + data
    return list(payload.ljust(251, b"\0"))


def unpack(payload) -> dict:
    b = bytes(payload)
    seq, session, opcode, size, req_opcode, burst, _, offset = _HDR.unpack(b[:12])
    return dict(seq=seq, session=session, opcode=opcode, size=size, req_opcode=req_opcode, offset=offset,
                data=b[12:12 + size], burst_complete=burst)


def supports_ftp(master, timeout_s: float = 3.0, tries: int = 12) -> bool:
    """Whether the vehicle advertises MAVLink FTP (AUTOPILOT_VERSION capabilities); remembered for the link.
    Asked up to ``tries`` times within ``timeout_s`` so that a lossy link does not hide it (at 30 % loss each way
    12 tries all fail once in 3000); a vehicle that refuses the request (COMMAND_ACK not accepted) has no FTP."""
    known = getattr(master, "dronectl_ftp", None)
    if known is not None:
        return known
    answer = False
    for _ in range(tries):
        master.mav.command_long_send(master.target_system, master.target_component, M.MAV_CMD_REQUEST_MESSAGE, 0,
                                     M.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0)
        until, version, refused = time.monotonic() + timeout_s / tries, None, False
        while version is None and not refused and (left := until - time.monotonic()) > 0:
            msg = master.recv_match(type=["AUTOPILOT_VERSION", "COMMAND_ACK"], blocking=True, timeout=left)
            if msg is None:
                continue
            if msg.get_type() == "AUTOPILOT_VERSION":
                version = msg
            elif msg.command == M.MAV_CMD_REQUEST_MESSAGE:
                refused = msg.result not in (M.MAV_RESULT_ACCEPTED, M.MAV_RESULT_IN_PROGRESS)
        if version is not None:
            answer = bool(version.capabilities & M.MAV_PROTOCOL_CAPABILITY_FTP)
        if version is not None or refused:
            break
    master.dronectl_ftp = answer
    return answer


class _Client:
    def __init__(self, master, watch: link.Watch):
        self.master, self.watch = master, watch
        self.timeout_s = watch.p.ftp_s
        # A random start: the vehicle keeps its last reply, and an earlier client's last seq must not make
        # this client's first request look like a re-request.
        self.seq = random.randrange(0x10000)

    def send(self, session, opcode, offset=0, data=b"", seq=None, size=None) -> int:
        """Send a request; a retry passes the first attempt's ``seq`` (the spec: the vehicle answers a request
        it has already handled by sending its reply again, rather than doing it twice)."""
        if seq is None:
            self.seq = seq = (self.seq + 1) & 0xFFFF
        self.master.mav.file_transfer_protocol_send(0, self.master.target_system, self.master.target_component,
                                                    pack(seq, session, opcode, offset, data, size))
        return seq

    def recv(self, deadline: float, side=None):
        """The next FTP reply, or None at ``deadline``; ``side``'s messages (a mission download run meanwhile) are
        handed to it."""
        if side is None:
            msg = self.watch.recv("FILE_TRANSFER_PROTOCOL", deadline,
                                  lambda m: m.target_system in (0, self.master.source_system))
            return None if msg is None else unpack(msg.payload)

        def accept(m):
            if m.get_type() == "FILE_TRANSFER_PROTOCOL":
                return m.target_system in (0, self.master.source_system)
            return side.accepts(m)

        msg = self.watch.recv(("FILE_TRANSFER_PROTOCOL", *side.MSG_TYPES), deadline, accept)
        if msg is not None and msg.get_type() != "FILE_TRANSFER_PROTOCOL":
            side.feed(msg)
            return None
        return None if msg is None else unpack(msg.payload)

    def request(self, session, opcode, offset=0, data=b"", what="request") -> dict:
        """One request with retries; the Ack reply, or LinkError."""
        seq, tries, t0 = None, 0, time.monotonic()
        while tries < TRIES_MAX or time.monotonic() - t0 < TRIES_MIN_S:  # a loaded machine is not a missing FTP
            tries += 1
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
        raise LinkError(f"MAVLink FTP {what}: no answer in {tries} tries though the vehicle talks")


def _open(c: _Client, opcode: int, path: str) -> dict:
    """Open ``path`` (CreateFile or OpenFileRO); a session left open by an earlier client (its close lost) is
    reset first. The reply."""
    try:
        return c.request(0, opcode, 0, path.encode() + b"\0", f"open {path}")
    except LinkError as exc:
        if "no session available" not in str(exc) and "answered failed" not in str(exc):
            raise
        c.request(0, OP_RESET, what="reset")
        return c.request(0, opcode, 0, path.encode() + b"\0", f"open {path}")


def put(master, path: str, data: bytes, progress=None, patience: link.Patience = link.SPEC) -> None:
    """Write ``data`` to ``path`` on the vehicle; LinkError on any failure (the caller falls back)."""
    c = _Client(master, patience.watch(master, f"MAVLink FTP write of {path}", -(-len(data) // DATA_MAX)))
    session = _open(c, OP_CREATE, path)["session"]
    try:
        chunks = {off: data[off:off + DATA_MAX] for off in range(0, len(data), DATA_MAX)}
        pending = sorted(chunks)
        in_flight: dict[int, tuple[int, float, int]] = {}  # seq -> (offset, sent time, tries)
        retry_s = min(c.timeout_s, patience.item_s)  # a write is a small request and answer, as one mission item
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
                if now - sent > retry_s:  # asked again as often as needed: the watch says when to give up
                    in_flight[seq] = (off, now, tries + 1)
                    c.send(session, OP_WRITE, off, chunks[off], seq)
    except BaseException:
        try:
            c.send(session, OP_TERMINATE)
        except Exception:
            pass
        raise
    c.request(session, OP_TERMINATE, what=f"close {path}")


def get(master, path: str, progress=None, patience: link.Patience = link.SPEC, side=None, length=None) -> bytes:
    """Read ``path`` from the vehicle with burst reads, the gaps asked again; LinkError on any failure (the caller
    falls back to the item protocol). ``side``: another transfer (``step(now)``, ``accepts(msg)``, ``feed(msg)``,
    ``MSG_TYPES``) kept going meanwhile, e.g. the fence and rally points downloaded with the item protocol.

    The size ``OpenFileRO`` answers is only an upper bound: ArduPilot gives every ``@MISSION`` file 1 MiB (its
    ``stat`` does not scan the mission). The end is learnt from a short read, an EndOfFile answer, or ``length``
    (the file's own header: ``length(first_part)`` gives the size or None)."""
    c = _Client(master, patience.watch(master, f"MAVLink FTP read of {path}"))
    opened = _open(c, OP_OPEN_RO, path)
    session = opened["session"]
    if len(opened["data"]) < 4:
        c.send(session, OP_TERMINATE)
        raise LinkError(f"MAVLink FTP read of {path}: the vehicle did not give the file's size")
    end = struct.unpack("<I", opened["data"][:4])[0]
    chunks: dict[int, bytes] = {}
    wanted = list(range(0, end, DATA_MAX))
    reads: dict[int, tuple[int, float]] = {}  # seq -> (offset, sent) of ReadFile requests in flight
    burst_at: float | None = None  # when the running burst last showed progress (None: no burst running)
    retry_s = min(c.timeout_s, patience.item_s)  # a read is a small request and answer, as one mission item

    def ends_at(offset: int) -> None:
        nonlocal end, wanted
        if offset < end:
            end = offset
            wanted = [off for off in wanted if off < end]
            c.watch = patience.watch(master, f"MAVLink FTP read of {path}", -(-end // DATA_MAX))

    try:
        while True:
            missing = [off for off in wanted if off not in chunks]
            if not missing:
                break
            now = time.monotonic()
            if side is not None:
                side.step(now)
            if burst_at is not None and now - burst_at > retry_s:
                burst_at = None  # the burst stalled (or its request was lost)
            if burst_at is None:
                if len(missing) > WINDOW and not reads:  # many gaps: the vehicle streams them faster
                    c.send(session, OP_BURST_READ, missing[0], size=DATA_MAX)
                    burst_at = now
                else:
                    for seq, (off, sent) in list(reads.items()):
                        if off in chunks or now - sent > retry_s:
                            del reads[seq]
                    asked = {off for off, _ in reads.values()}
                    for off in missing:
                        if len(reads) >= WINDOW:
                            break
                        if off not in asked:
                            reads[c.send(session, OP_READ, off, size=DATA_MAX)] = (off, now)
            r = c.recv(time.monotonic() + 0.02, side)
            if r is not None and r["session"] == session and r["req_opcode"] in (OP_READ, OP_BURST_READ):
                if r["opcode"] == OP_ACK:
                    if r["offset"] in wanted and r["offset"] not in chunks:  # else a duplicate
                        chunks[r["offset"]] = r["data"]
                        if len(r["data"]) < DATA_MAX:
                            ends_at(r["offset"] + len(r["data"]))
                        if r["offset"] == 0 and length is not None and (n := length(r["data"])) is not None:
                            ends_at(n)
                    if progress:
                        progress(sum(map(len, chunks.values())), end)
                elif (r["data"][:1] or b"\1")[0] == 6:  # end of file: a burst says where, a read is the asked offset
                    if r["req_opcode"] == OP_BURST_READ:
                        ends_at(r["offset"])
                    elif ((r["seq"] - 1) & 0xFFFF) in reads:
                        ends_at(reads[(r["seq"] - 1) & 0xFFFF][0])
                else:
                    code = r["data"][0] if r["data"] else 1
                    raise LinkError(f"MAVLink FTP read of {path}: the vehicle answered "
                                    f"{NAK_TEXT.get(code, f'error {code}').format(errno='?')}")
                if r["req_opcode"] == OP_BURST_READ and burst_at is not None:
                    last = r["burst_complete"] or r["opcode"] == OP_NAK or r["offset"] + DATA_MAX >= end
                    burst_at = None if last else time.monotonic()
            c.watch.check(f"{len(chunks)} of {len(wanted)} parts read")
    except BaseException:
        try:
            c.send(session, OP_TERMINATE)
        except Exception:
            pass
        raise
    try:
        c.request(session, OP_TERMINATE, what=f"close {path}")
    except LinkError:
        pass  # the data is read; a session left open is reset by the next client
    data = b"".join(chunks[off] for off in wanted)[:end]
    if len(data) != end:
        raise LinkError(f"MAVLink FTP read of {path}: {len(data)} bytes read, the file has {end}")
    return data


MISSION_MAGIC = 0x763D


def mission_file(items_int: list, mission_type: int) -> bytes:
    """ArduPilot's ``@MISSION`` file: a header (magic, type, options, start, count), then MISSION_ITEM_INT
    structs as they travel on the wire. ``items_int``: MAVLink_mission_item_int_message objects."""
    out = [struct.pack("<HHHHH", MISSION_MAGIC, mission_type, 0, 0, len(items_int))]
    for m in items_int:
        out.append(m.unpacker.pack(*[getattr(m, f) for f in m.ordered_fieldnames]))
    return b"".join(out)


FTP_MISSION_PATHS = {0: "@MISSION/mission.dat", 1: "@MISSION/fence.dat", 2: "@MISSION/rally.dat"}


def mission_file_length(dialect):
    """For :func:`get`'s ``length``: an ``@MISSION`` file's size from its header (10 bytes, then the items)."""
    size = dialect.MAVLink_mission_item_int_message.unpacker.size

    def length(first: bytes) -> int | None:
        return 10 + struct.unpack("<H", first[8:10])[0] * size if len(first) >= 10 else None
    return length


def mission_items_from_file(data: bytes, mission_type: int, dialect) -> list:
    """The MISSION_ITEM_INT messages of an ``@MISSION`` file (``dialect``: the link's message classes);
    LinkError when the file is not one of ``mission_type``."""
    cls = dialect.MAVLink_mission_item_int_message
    size = cls.unpacker.size
    if len(data) < 10:
        raise LinkError("MAVLink FTP: the mission file is too short")
    magic, dtype, _options, start, n = struct.unpack("<HHHHH", data[:10])
    if magic != MISSION_MAGIC or dtype != mission_type or start != 0 or len(data) != 10 + n * size:
        raise LinkError("MAVLink FTP: the mission file is not one this client reads (header or length)")
    out = []
    for k in range(n):
        fields = dict(zip(cls.ordered_fieldnames, cls.unpacker.unpack(data[10 + k * size:10 + (k + 1) * size])))
        out.append(cls(*[fields[f] for f in cls.fieldnames]))
    return out
