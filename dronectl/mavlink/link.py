"""Opening a MAVLink link the way MAVProxy users write it, and waiting for the vehicle.

Connection strings: ``udp:HOST:PORT`` (listen, as MAVProxy's ``--master=udp:``), ``udpin:``, ``udpout:HOST:PORT``
(send first), ``tcp:HOST:PORT`` (connect), ``tcpin:HOST:PORT`` (listen), and serial ports ``/dev/ttyUSB0,57600``
or ``COM3,57600`` (baud rate optional, 57600 by default).
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

from dronectl.errors import InputError, LinkError

os.environ.setdefault("MAVLINK20", "1")

_PATTERNS = (r"^udp:[^:]*:\d+$", r"^udpin:[^:]*:\d+$", r"^udpout:[^:]+:\d+$", r"^udpbcast:[^:]+:\d+$",
             r"^tcp:[^:]+:\d+$", r"^tcpin:[^:]*:\d+$", r"^/dev/[\w./-]+(,\d+)?$", r"^COM\d+(,\d+)?$")
GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = 190  # MAV_COMP_ID_MISSIONPLANNER, as ground stations use


def check_connection_string(conn: str) -> str:
    """Return ``conn`` if it is a connection string we understand; InputError otherwise."""
    if not isinstance(conn, str) or not any(re.match(p, conn) for p in _PATTERNS):
        raise InputError(f"'{conn}' is not a connection string: use udp:127.0.0.1:14550, udpout:HOST:PORT, "
                         "tcp:HOST:5760 or /dev/ttyUSB0,57600")
    port = conn.split(",")[0].rsplit(":", 1)[-1]
    if port.isdigit() and not 0 < int(port) < 65536:
        raise InputError(f"'{conn}': port {port} is out of range (1-65535)")
    return conn


def _closed_by_peer(conn: str):
    def raise_closed(*_args):
        exc = LinkError(f"the vehicle closed the connection on {conn} (did it reboot or shut down?); "
                        "reconnect and try again")
        exc.link_closed = True
        raise exc
    return raise_closed


def open_link(conn: str):
    """Open the port or socket only (no heartbeat wait); LinkError when it cannot be opened."""
    from pymavlink import mavutil

    check_connection_string(conn)
    serial = conn.startswith(("/dev/", "COM"))
    device, baud = (conn.split(",") + ["57600"])[:2] if serial else (conn, "57600")
    if serial and device.startswith("/dev/") and not os.path.exists(device):
        raise LinkError(f"cannot open {device}: no such device; is the radio (or USB cable) plugged in? "
                        "See `ls /dev/ttyUSB* /dev/ttyACM*`")
    try:
        master = mavutil.mavlink_connection(device, baud=int(baud), source_system=GCS_SYSTEM_ID,
                                            source_component=GCS_COMPONENT_ID, autoreconnect=False, retries=0,
                                            dialect="ardupilotmega")  # MAVLink 2, whoever imported pymavlink first
    except ConnectionRefusedError:
        raise LinkError(f"cannot connect to {conn}: connection refused (is the vehicle or simulator running?)") from None
    except (OSError, ConnectionError) as exc:
        raise LinkError(f"cannot open {conn}: {getattr(exc, 'strerror', None) or exc}") from None
    except Exception as exc:  # pyserial's SerialException; pymavlink raises bare Exceptions for some bad devices
        errno = getattr(exc, "errno", None)
        if serial and errno == 13:
            raise LinkError(f"cannot open {device}: permission denied; add yourself to the 'dialout' group "
                            "(sudo usermod -aG dialout $USER, then log in again)") from None
        if serial and errno in (2, 6, 19):
            raise LinkError(f"cannot open {device}: no such device; is the radio (or USB cable) plugged in?") from None
        raise LinkError(f"cannot open {conn}: {exc}") from None
    if hasattr(master, "handle_eof"):  # TCP: pymavlink would print and spin on a closed socket
        master.handle_eof = master.handle_disconnect = _closed_by_peer(conn)
    master.dronectl_conn = conn
    return master


def connect(conn: str, timeout_s: float = 10.0):
    """Open the link and wait for the vehicle's heartbeat; returns a pymavlink connection aimed at it."""
    master = open_link(conn)
    try:
        hb = wait_heartbeat(master, timeout_s)
    except BaseException:
        master.close()
        raise
    if hb is None:
        master.close()
        raise LinkError(f"no heartbeat from a vehicle on {conn} within {timeout_s:g} s: is it powered and connected?")
    return master


@contextmanager
def opened(target, timeout_s: float = 10.0):
    """``target`` is a connection string (opened here, closed at the end) or an open pymavlink connection."""
    if isinstance(target, str):
        master = connect(target, timeout_s)
        try:
            yield master
        finally:
            master.close()
    else:
        yield target


def wait_heartbeat(master, timeout_s: float):
    """The first heartbeat of an autopilot (not another ground station); sets the link's target ids."""
    from pymavlink import mavutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = master.recv_match(type="HEARTBEAT", blocking=True, timeout=0.2)
        if msg is not None and msg.type != mavutil.mavlink.MAV_TYPE_GCS \
                and msg.autopilot != mavutil.mavlink.MAV_AUTOPILOT_INVALID:
            master.target_system, master.target_component = msg.get_srcSystem(), msg.get_srcComponent()
            return msg
    return None


def request_streams(master, rate_hz: int = 4) -> None:
    """Ask for position and status telemetry (ArduPilot streams only to clients that ask)."""
    from pymavlink import mavutil

    M = mavutil.mavlink
    for stream in (M.MAV_DATA_STREAM_POSITION, M.MAV_DATA_STREAM_EXTENDED_STATUS, M.MAV_DATA_STREAM_EXTRA1):
        master.mav.request_data_stream_send(master.target_system, master.target_component, stream, rate_hz, 1)


PREARM_BIT = 0x10000000  # MAV_SYS_STATUS_PREARM_CHECK in SYS_STATUS health


def wait_ready(master, deadline: float, armable: bool = False) -> None:
    """Until a GPS fix (position not zero) and, with ``armable``, the pre-arm checks passing; asks for the
    telemetry streams, again every 2 s in case a request was lost while the vehicle was booting."""
    fix = prearm = False
    next_ask = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_ask:
            request_streams(master)
            next_ask = time.monotonic() + 2.0
        msg = master.recv_match(type=["GLOBAL_POSITION_INT", "SYS_STATUS"], blocking=True, timeout=0.5)
        if msg is None:
            continue
        if msg.get_type() == "GLOBAL_POSITION_INT":
            fix = fix or (msg.lat != 0 or msg.lon != 0)
        else:
            prearm = prearm or bool(msg.onboard_control_sensors_health & PREARM_BIT)
        if fix and (prearm or not armable):
            return
    raise LinkError("the vehicle did not get ready in time (GPS fix" + (", pre-arm checks" if armable else "") + ")")


# --- when an exchange with the vehicle gives up (mission items, MAVLink FTP) --------------------------------

@dataclass(frozen=True)
class Patience:
    """When a transfer retries and when it gives up: one policy for the mission protocol and MAVLink FTP.

    A request not answered within ``exchange_s`` (count, list, acknowledgement, FTP) or ``item_s`` (one mission
    item) is sent again, however often: on a lossy link a lost request or answer is normal, not a failure. The
    transfer is given up only when the vehicle has been silent -- nothing at all received from it, not even a
    heartbeat -- for ``silence_s``, or when it has lasted longer than ``ceiling_base_s + ceiling_per_item_s``
    per item (a link that loses most packets, or a vehicle that talks but never answers).
    """

    exchange_s: float = 1.5  # the MAVLink mission protocol's timeouts
    item_s: float = 0.25
    ftp_s: float = 0.5  # one MAVLink FTP request (no spec figure; MAVProxy's order of magnitude)
    silence_s: float = 5.0
    ceiling_base_s: float = 30.0
    ceiling_per_item_s: float = 2.0

    def ceiling_s(self, items: int) -> float:
        return self.ceiling_base_s + self.ceiling_per_item_s * max(1, items)

    def rule(self, items: int) -> str:
        """The policy in words, for error messages."""
        return (f"a transfer is given up only after {self.silence_s:g} s without a word from the vehicle, or "
                f"after {self.ceiling_s(items):.0f} s in all")

    def watch(self, master, what: str, items: int = 1) -> "Watch":
        return Watch(self, master, what, items)


SPEC = Patience()


class Watch:
    """One transfer under a :class:`Patience`: receives from the vehicle, noting that it is alive, and raises
    LinkError when the policy says to give up."""

    def __init__(self, patience: Patience, master, what: str, items: int = 1):
        self.p, self.master, self.what, self.items = patience, master, what, items
        self.t0 = self.last_heard = time.monotonic()
        self.ceiling_at = self.t0 + patience.ceiling_s(items)

    def recv(self, types, until: float, accept=lambda msg: True):
        """The next message from the vehicle of one of ``types`` that ``accept`` takes, or None at ``until``.
        Every message from the vehicle counts as a sign of life."""
        types = {types} if isinstance(types, str) else set(types)
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return None
            msg = self.master.recv_match(blocking=True, timeout=min(left, 0.05))
            if msg is None or msg.get_srcSystem() != self.master.target_system:
                continue
            if msg.get_type() != "BAD_DATA":
                self.last_heard = time.monotonic()
            if msg.get_type() in types and accept(msg):
                return msg

    def check(self, where: str = "") -> None:
        """LinkError when the vehicle has been silent too long or the transfer has lasted too long."""
        now = time.monotonic()
        at = f" ({where})" if where else ""
        if now - self.last_heard > self.p.silence_s:
            exc = LinkError(f"{self.what} failed: nothing from the vehicle for {self.p.silence_s:g} s{at}; "
                            f"{self.p.rule(self.items)}; check the link, or whether it rebooted")
            exc.silent = True
            raise exc
        if now > self.ceiling_at:
            raise LinkError(f"{self.what} failed: not done after {now - self.t0:.0f} s{at} though the vehicle "
                            f"still talks; {self.p.rule(self.items)}; the link loses too much (move closer, check "
                            "the radio) or the vehicle ignores the request")
