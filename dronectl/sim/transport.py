"""The built-in vehicle's link: a TCP port (one client at a time, as SITL's SERIAL0) or a pseudo-terminal (a
serial port), and the faults a test injects into it.

Every fault is a declared field of :class:`Faults` (a frozen dataclass); a running vehicle's faults are changed
by replacing the whole value (``VehicleHandle.set_faults(loss=1.0)``), never by patching the vehicle's methods.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, fields

os.environ.setdefault("MAVLINK20", "1")
from pymavlink.dialects.v20 import ardupilotmega as mav  # noqa: E402


@dataclass(frozen=True)
class Faults:
    """What goes wrong on the link and in the vehicle, for tests. All off by default."""

    loss: float = 0.0  # share of packets lost, each way
    duplicate: float = 0.0  # share of packets delivered twice, each way
    delay_ms: float = 0.0  # added to every packet the vehicle sends
    seed: int | None = None  # of the random draws above: the same seed loses the same packets
    lose_takeoffs: int = 0  # this many NAV_TAKEOFF commands never arrive (a link that eats them), then all do
    reboot_at_item: int | None = None  # the vehicle reboots when this upload item arrives (once)
    ignore: tuple[str, ...] = ()  # message types the vehicle never answers (it talks on: heartbeats...), e.g.
    #                               ("MISSION_COUNT",): a vehicle that never answers an upload; ("FILE_TRANSFER_PROTOCOL",):
    #                               one that advertises MAVLink FTP but never answers it
    lose_first: tuple[str, ...] = ()  # the first message of each type named here that the vehicle sends is lost
    #                                   (a type named twice: the first two), e.g. ("MISSION_ACK",): the final
    #                                   acknowledgement of an upload
    refuse_item: tuple[int, int, int] | None = None  # (mission type, seq, times): the vehicle ends the upload of that
    #                                   mission type with MAV_MISSION_ERROR when item seq arrives (a storage failure),
    #                                   ``times`` times (0: every time)

    def __post_init__(self):
        from dronectl.errors import InputError

        for name in ("loss", "duplicate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise InputError(f"the fault '{name}' must be a share between 0 and 1, got {v!r}")
        if not (isinstance(self.delay_ms, (int, float)) and self.delay_ms >= 0):
            raise InputError(f"the fault 'delay_ms' must be 0 or more, got {self.delay_ms!r}")
        if isinstance(self.ignore, str) or isinstance(self.lose_first, str):
            raise InputError("the faults 'ignore' and 'lose_first' are tuples of message type names")
        if self.refuse_item is not None and (len(tuple(self.refuse_item)) != 3
                                             or not all(isinstance(v, int) and v >= 0 for v in self.refuse_item)):
            raise InputError("the fault 'refuse_item' is (mission type, item seq, times), three whole numbers")
        object.__setattr__(self, "ignore", tuple(self.ignore))
        object.__setattr__(self, "lose_first", tuple(self.lose_first))


FAULT_FIELDS = frozenset(f.name for f in fields(Faults))


class FaultInjector:
    """Applies :class:`Faults` to the traffic; keeps what the faults have already done (lost take-offs, the one
    reboot, the first messages lost), so that replacing the faults does not replay them."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.takeoffs_lost = 0
        self.rebooted_at_item = False
        self.lost = Counter()  # message type -> how many ``lose_first`` has lost so far
        self.refused = Counter()  # ``refuse_item`` value -> how many uploads it has refused so far

    def drop(self) -> bool:
        return bool(self.faults.loss) and self.rng.random() < self.faults.loss

    def copies(self) -> int:
        return 2 if self.faults.duplicate and self.rng.random() < self.faults.duplicate else 1

    def receive(self, msg) -> int:
        """How many times an incoming message reaches the vehicle (0: lost or ignored)."""
        if self.drop():
            return 0
        t = msg.get_type()
        if t in self.faults.ignore:
            return 0
        if t == "COMMAND_LONG" and msg.command == mav.MAV_CMD_NAV_TAKEOFF \
                and self.takeoffs_lost < self.faults.lose_takeoffs:
            self.takeoffs_lost += 1
            return 0
        return self.copies()

    def send(self, msg) -> int:
        """How many copies of an outgoing message leave (0: lost)."""
        t = msg.get_type()
        if self.lost[t] < self.faults.lose_first.count(t):
            self.lost[t] += 1
            return 0
        if self.drop():
            return 0
        return self.copies()

    def refuse(self, mission_type: int, seq: int) -> bool:
        """True when upload item ``seq`` of ``mission_type`` is to be refused (``refuse_item``), counting it."""
        spec = self.faults.refuse_item
        if spec is None or (spec[0], spec[1]) != (mission_type, seq) or (spec[2] and self.refused[spec] >= spec[2]):
            return False
        self.refused[spec] += 1
        return True

    def reboot_at(self, seq: int) -> bool:
        """True (once) when upload item ``seq`` is the one to reboot at."""
        if self.faults.reboot_at_item is not None and seq == self.faults.reboot_at_item and not self.rebooted_at_item:
            self.rebooted_at_item = True
            return True
        return False


class Pty:
    """A pseudo-terminal as the vehicle's serial port: the vehicle holds the master side, a ground station opens
    ``path`` (``/dev/pts/N``) as it would a telemetry radio. Raw mode (no echo, no line editing); what the vehicle
    sends while nobody listens is dropped once the terminal's buffer is full, as a radio would."""

    def __init__(self):
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # and we keep the slave open, so that its settings stay when a client closes it
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def recv(self, n: int) -> bytes:
        try:
            return os.read(self.master, n)
        except BlockingIOError:
            raise
        except OSError:
            raise BlockingIOError from None

    def sendall(self, data: bytes) -> None:
        while data:
            try:
                data = data[os.write(self.master, data):]
            except OSError:  # full: nobody reads
                return

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Transport:
    """The vehicle's end of the link: MAVLink messages in and out, through the fault injector."""

    def __init__(self, faults: Faults):
        self.faults = FaultInjector(faults)
        self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        self.sock: socket.socket | None = None
        self.pty: Pty | None = None
        self.client: socket.socket | Pty | None = None
        self.host, self.port = None, None
        self._outq: list[tuple[float, bytes]] = []
        self.on_drop = lambda: None  # the vehicle forgets the link's state (streams, a transfer)

    # --- ports ---------------------------------------------------------------------------------
    def bind(self, host: str, port: int) -> int:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        return self.port

    def open_pty(self) -> str:
        """Serve on a new pseudo-terminal; returns its path."""
        self.pty = self.client = Pty()
        return self.pty.path

    @property
    def connected(self) -> bool:
        return self.client is not None

    def accept(self) -> bool:
        """Wait a moment for a client (TCP); True when one connected."""
        try:
            self.client, _ = self.sock.accept()
        except (socket.timeout, OSError):
            return False
        self.client.setblocking(False)
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        return True

    def drop_client(self) -> None:
        """The link goes (a serial port stays open: only the link's state goes)."""
        if self.pty is None and self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
            self.client = None
        self._outq.clear()
        self.on_drop()

    def close_port(self) -> None:
        """Close the listening port (a reboot); :meth:`reopen` opens it again."""
        self.drop_client()
        if self.sock is not None:
            self.sock.close()

    def reopen(self) -> None:
        self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        if self.sock is not None:
            self.bind(self.host, self.port)

    def close(self) -> None:
        if self.pty is not None:
            self.pty.close()
        else:
            self.drop_client()
            if self.sock is not None:
                self.sock.close()

    # --- traffic ---------------------------------------------------------------------------------
    def send(self, msg) -> None:
        if self.client is None:
            return
        copies = self.faults.send(msg)
        if not copies:
            return
        data = msg.pack(self.mav)
        due = time.monotonic() + self.faults.faults.delay_ms / 1000.0
        self._outq.extend([(due, data)] * copies)

    def flush(self) -> None:
        if not self._outq or self.client is None:
            return
        now = time.monotonic()
        ready = b"".join(d for t, d in self._outq if t <= now)
        self._outq = [(t, d) for t, d in self._outq if t > now]
        if ready:
            try:
                self.client.sendall(ready)
            except OSError:
                self.drop_client()

    def receive(self) -> tuple[int, list]:
        """(bytes read, the messages that arrived, each as many times as the faults deliver it); -1 bytes when the
        link dropped."""
        try:
            data = self.client.recv(65536)
            if data == b"":
                self.drop_client()
                return -1, []
        except BlockingIOError:
            return 0, []
        except OSError:
            self.drop_client()
            return -1, []
        try:
            msgs = self.mav.parse_buffer(data) or []
        except mav.MAVError:
            msgs = []
        out = []
        for m in msgs:
            out.extend([m] * self.faults.receive(m))
        return len(data), out
