"""Opening a MAVLink link the way MAVProxy users write it, and waiting for the vehicle."""

from __future__ import annotations

import os
import re
import time

from dronectl.errors import InputError, LinkError

os.environ.setdefault("MAVLINK20", "1")

_PATTERNS = (r"^udp:[^:]*:\d+$", r"^udpin:[^:]*:\d+$", r"^udpout:[^:]+:\d+$", r"^tcp:[^:]+:\d+$",
             r"^tcpin:[^:]*:\d+$", r"^/dev/[\w./-]+(,\d+)?$", r"^COM\d+(,\d+)?$")


def check_connection_string(conn: str) -> str:
    if not any(re.match(p, conn) for p in _PATTERNS):
        raise InputError(f"'{conn}' is not a connection string: use udp:127.0.0.1:14550, udpout:HOST:PORT, "
                         "tcp:HOST:5760 or /dev/ttyUSB0,57600")
    return conn


def connect(conn: str, timeout_s: float = 10.0, source_system: int = 255):
    """Open the link and wait for the vehicle's heartbeat; returns a pymavlink connection."""
    from pymavlink import mavutil

    check_connection_string(conn)
    device, baud = (conn.split(",") + ["57600"])[:2] if conn.startswith(("/dev/", "COM")) else (conn, "57600")
    try:
        master = mavutil.mavlink_connection(device, baud=int(baud), source_system=source_system,
                                            source_component=190, autoreconnect=False, retries=1)
    except (OSError, ConnectionError) as exc:
        raise LinkError(f"cannot open {conn}: {getattr(exc, 'strerror', None) or exc}") from None
    hb = wait_heartbeat(master, timeout_s)
    if hb is None:
        master.close()
        raise LinkError(f"no heartbeat from a vehicle on {conn} within {timeout_s:g} s: is it powered and connected?")
    return master


def wait_heartbeat(master, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = master.recv_match(type="HEARTBEAT", blocking=True, timeout=0.2)
        if msg is not None and msg.get_srcComponent() == 1 and msg.type != 6:  # not a GCS
            master.target_system, master.target_component = msg.get_srcSystem(), msg.get_srcComponent()
            return msg
    return None


def request_streams(master, rate_hz: int = 4) -> None:
    """Ask for position and status telemetry (ArduPilot streams only to clients that ask)."""
    from pymavlink import mavutil

    master.mav.request_data_stream_send(master.target_system, master.target_component,
                                        mavutil.mavlink.MAV_DATA_STREAM_ALL, rate_hz, 1)
