"""The built-in MAVLink test vehicle: a protocol stand-in for ArduCopter, not a flight-dynamics simulator.

It speaks what dronectl needs the way ArduCopter SITL (4.7) does:

* heartbeats as ARDUPILOTMEGA / QUADROTOR with Copter's custom mode numbers (base mode 81 disarmed, +128 armed);
* the mission protocol: seq 0 = home; uploads asked for with ``MISSION_REQUEST`` (not ``_INT``), re-asked every
  second of silence and cancelled after 8 s; an item it did not ask for gets ``ACK INVALID_SEQUENCE``, an item
  outside an upload ``ACK ERROR``; a capacity (650 items with home) answered with ``NO_SPACE``, as is any upload
  in the first seconds after boot (mission storage not ready); downloads refused (``DENIED``) during an upload;
* no position (zeros) until a simulated GPS fix, no arming until the estimator is ready; telemetry only to a
  client that asks (``REQUEST_DATA_STREAM`` or ``SET_MESSAGE_INTERVAL``); it disarms when left armed on the ground;
* GUIDED take-off, AUTO missions (TAKEOFF, WAYPOINT, LAND, RETURN_TO_LAUNCH, DO_CHANGE_SPEED,
  DO_SET_CAM_TRIGG_DIST, DO_DIGICAM_CONTROL, DO_SET_ROI_LOCATION / DO_SET_ROI_NONE: the nose, and the yaw
  ``CAMERA_FEEDBACK`` reports, face the ROI), RTL (climb to 15 m, fly home, land, disarm); a point mass at the commanded speed;
* a battery that drains, ``CAMERA_FEEDBACK`` at every trigger distance (through RTL too, until distance 0).

All of its clocks run on simulated time, sped up by ``speedup``, as SITL's do. Faults for tests: packet loss,
duplicates and delays (``loss``, ``duplicate``, ``delay_ms``), take-off commands the link eats
(``lose_takeoffs``), and a reboot (``reboot_at_item``, or
``handle.reboot()``) that drops the connection and starts again, as SITL does over TCP.
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field

os.environ.setdefault("MAVLINK20", "1")
from pymavlink.dialects.v20 import ardupilotmega as mav  # noqa: E402

from dronectl.mission import COMMANDS_WITH_LOCATION  # noqa: E402

COPTER_MODES = {"STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6,
                "CIRCLE": 7, "LAND": 9, "BRAKE": 17}
EARTH_R = 6378137.0
CLIMB_MPS, DESCENT_MPS, LAND_MPS, WP_SPEED_MPS, RTL_ALT_M = 2.5, 1.5, 0.5, 5.0, 15.0
BASE_MODE_DISARMED = 81  # custom mode enabled | stabilize | manual input, as ArduCopter reports
REQUEST_RESEND_S = 1.0  # ArduPilot MissionItemProtocol: ask again after 1 s without the item (simulated time)


@dataclass
class VehicleOptions:
    home: tuple[float, float, float] = (49.3817, 3.3236, 60.0)  # lat, lon, alt AMSL
    speedup: float = 1.0
    capacity: int = 650  # mission items including home
    fence_capacity: int = 70  # fence vertices (ArduCopter on SITL: 560 bytes of fence storage / 8)
    gps_delay_s: float = 20.0  # simulated seconds until a 3D fix (SITL: ~20 s)
    ekf_delay_s: float = 40.0  # simulated seconds until arming is possible (SITL: ~40 s)
    storage_delay_s: float = 2.0  # simulated seconds after boot during which uploads get NO_SPACE
    disarm_delay_s: float = 10.0  # armed on the ground this long: disarm (ArduCopter DISARM_DELAY)
    battery_s: float = 1800.0  # simulated seconds of flight on a full battery
    battery_pct: float = 100.0  # charge at power-on; kept between flights and across reboots, as a real battery
    loss: float = 0.0  # share of packets lost, each way
    duplicate: float = 0.0  # share of packets delivered twice, each way
    delay_ms: float = 0.0  # added to every packet the vehicle sends
    upload_timeout_s: float = 8.0  # simulated seconds without an item before an upload is cancelled (ArduPilot)
    ftp: bool = True  # offer MAVLink FTP for @MISSION/*.dat files, as ArduPilot does
    reboot_at_item: int | None = None  # reboot when this upload item arrives (once)
    lose_takeoffs: int = 0  # this many NAV_TAKEOFF commands never arrive (a link that eats them), then all do
    boot_s: float = 0.5  # real seconds a reboot keeps the port closed
    seed: int | None = None


def _stored_params(m) -> tuple[float, float, float, float]:
    """Params 1-4 as ArduPilot stores them: a NaN ("unchanged", QGroundControl's ``null``) is kept as 0, and
    reads back as 0."""
    get = m.get if isinstance(m, dict) else lambda k: getattr(m, k)
    return tuple(0.0 if math.isnan(get(k)) else get(k) for k in ("param1", "param2", "param3", "param4"))


@dataclass
class _Transfer:
    mission_type: int
    count: int
    items: list = field(default_factory=list)
    last_request_t: float = 0.0
    last_receive_t: float = 0.0
    peer: tuple = (255, 0)


class _Pty:
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


class TestVehicle:
    """One vehicle served on a TCP port, one client at a time (like SITL's SERIAL0), or on a pseudo-terminal."""

    __test__ = False  # not a pytest class

    def __init__(self, opts: VehicleOptions):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        self._stop = threading.Event()
        self._reboot = threading.Event()
        self.sock: socket.socket | None = None
        self.pty: _Pty | None = None
        self.client: socket.socket | _Pty | None = None
        self._outq: list[tuple[float, bytes]] = []
        self.missions = {0: [], 1: [], 2: []}  # type -> stored items (mission: seq 0 = home); kept across reboots
        self.reboots = 0
        self.peer = (255, 0)
        if not (isinstance(opts.battery_pct, (int, float)) and 0 <= opts.battery_pct <= 100):
            from dronectl.errors import InputError

            raise InputError(f"the battery charge must be between 0 and 100 %, got {opts.battery_pct}")
        self.battery = opts.battery_pct / 100.0  # not reset by a reboot
        self.boot()

    # --- state ------------------------------------------------------------------------------
    def boot(self):
        lat, lon, alt = self.o.home
        self.home = (lat, lon, alt)
        self.t_sim = 0.0
        self.lat, self.lon, self.alt_rel = lat, lon, 0.0
        self.armed, self.mode = False, COPTER_MODES["STABILIZE"]
        self.on_ground_since = 0.0
        self.current = 0
        self.speed = WP_SPEED_MPS
        self.target = None  # (lat, lon, alt_rel) of the current AUTO nav item
        self.takeoff_alt = None  # GUIDED take-off target
        self.rtl_stage = None  # None, "climb", "return", "land" (RTL mode, or AUTO's RETURN_TO_LAUNCH)
        self.trig_dist, self.trig_acc, self.image_index = 0.0, 0.0, 0
        self.roi = None  # (lat, lon) the nose points at (DO_SET_ROI_LOCATION), None: along the track
        self.streams = False
        self.transfer: _Transfer | None = None
        self.yaw = 0.0
        self.last_hb = self.last_tel = -1e9
        self.last_current_sent = None

    # --- network ----------------------------------------------------------------------------
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
        self.pty = self.client = _Pty()
        return self.pty.path

    def _send(self, msg) -> None:
        if self.client is None:
            return
        if self.o.loss and self.rng.random() < self.o.loss:
            return
        data = msg.pack(self.mav)
        copies = 2 if self.o.duplicate and self.rng.random() < self.o.duplicate else 1
        due = time.monotonic() + self.o.delay_ms / 1000.0
        for _ in range(copies):
            self._outq.append((due, data))

    def _flush(self):
        if not self._outq:
            return
        now = time.monotonic()
        ready = b"".join(d for t, d in self._outq if t <= now)
        self._outq = [(t, d) for t, d in self._outq if t > now]
        if ready:
            try:
                self.client.sendall(ready)
            except OSError:
                self._drop_client()

    def _drop_client(self):
        if self.pty is not None:  # a serial port stays; only the link's state goes
            self._outq.clear()
            self.streams = False
            self.transfer = None
            return
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
        self.client = None
        self._outq.clear()
        self.streams = False
        self.transfer = None

    def _do_reboot(self):
        """Drop the link, close the port for ``boot_s``, start again from power-on (missions kept)."""
        self.reboots += 1  # counted before the link drops: a client that sees the drop sees the count
        self._drop_client()
        if self.sock is not None:
            self.sock.close()
        self._stop.wait(self.o.boot_s)
        self.boot()
        self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        if self.sock is not None:
            self.bind(self.host, self.port)

    def serve_forever(self):
        t_last = time.monotonic()
        while not self._stop.is_set():
            if self._reboot.is_set():
                self._reboot.clear()
                self._do_reboot()
                t_last = time.monotonic()
                continue
            if self.client is None:
                try:
                    self.client, _ = self.sock.accept()
                    self.client.setblocking(False)
                    self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
                except (socket.timeout, OSError):
                    pass
                # the simulation runs whether or not a client is connected
                now = time.monotonic()
                self.step(min(now - t_last, 0.1) * self.o.speedup)
                t_last = now
                continue
            try:
                data = self.client.recv(65536)
                if data == b"":
                    self._drop_client()
                    continue
            except BlockingIOError:
                data = b""
            except OSError:
                self._drop_client()
                continue
            if data:
                try:
                    msgs = self.mav.parse_buffer(data) or []
                except mav.MAVError:
                    msgs = []
                for m in msgs:
                    if self.o.loss and self.rng.random() < self.o.loss:
                        continue
                    copies = 2 if self.o.duplicate and self.rng.random() < self.o.duplicate else 1
                    for _ in range(copies):
                        try:
                            self.handle(m)
                        except Exception as exc:  # a malformed request must not kill the vehicle
                            self._statustext(f"test vehicle: {type(exc).__name__}: {exc}")
                    if self._reboot.is_set():
                        break
            now = time.monotonic()
            self.step(min(now - t_last, 0.1) * self.o.speedup)
            t_last = now
            if self.client is not None:
                self._flush()
            if not data:
                time.sleep(0.001)
        if self.pty is not None:
            self.pty.close()
        else:
            self._drop_client()
            self.sock.close()

    def stop(self):
        self._stop.set()

    def reboot(self):
        self._reboot.set()

    # --- messages in ------------------------------------------------------------------------
    def _ack(self, command, result):
        self._send(mav.MAVLink_command_ack_message(command, result, 0, 0, *self.peer))

    def _mission_ack(self, result, mtype):
        self._send(mav.MAVLink_mission_ack_message(*self.peer, result, mtype))

    def _request(self, seq, mtype):
        peer = self.transfer.peer if self.transfer else self.peer
        self._send(mav.MAVLink_mission_request_message(*peer, seq, mtype))  # as ArduPilot: not _INT
        if self.transfer:
            self.transfer.last_request_t = self.t_sim

    def _home_item(self, seq=0):
        lat, lon, alt = self.home
        return (seq, 0, 16, 0, 1, 0.0, 0.0, 0.0, 0.0, int(round(lat * 1e7)), int(round(lon * 1e7)), float(alt))

    def handle(self, m):
        t = m.get_type()
        self.peer = (m.get_srcSystem(), m.get_srcComponent())  # answers go to who asked, as ArduPilot's do
        if t == "MISSION_COUNT":
            self._on_count(m)
        elif t in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            self._on_item(m, t)
        elif t == "MISSION_REQUEST_LIST":
            if self.transfer is not None:
                self._mission_ack(mav.MAV_MISSION_DENIED, m.mission_type)
                return
            items = self.missions[m.mission_type]
            n = len(items) if m.mission_type else max(1, len(items))
            self._send(mav.MAVLink_mission_count_message(*self.peer, n, m.mission_type))
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            self._on_request(m)
        elif t == "MISSION_CLEAR_ALL":
            self.transfer = None
            self.missions[m.mission_type] = []
            if m.mission_type == 0:
                self.current = 0
            self._mission_ack(mav.MAV_MISSION_ACCEPTED, m.mission_type)
        elif t == "MISSION_SET_CURRENT":
            if 0 <= m.seq < max(1, len(self.missions[0])):
                self.current = m.seq
                self._send(mav.MAVLink_mission_current_message(self.current))
        elif t == "REQUEST_DATA_STREAM":
            self.streams = self.streams or bool(m.start_stop)
        elif t == "FILE_TRANSFER_PROTOCOL":
            if self.o.ftp:
                self._on_ftp(m)
        elif t == "COMMAND_LONG":
            self.command(m)
        elif t == "SET_MODE":
            self.set_mode(m.custom_mode)

    def _on_count(self, m):
        mtype = m.mission_type
        if self.transfer is not None and self.transfer.mission_type != mtype:
            self._mission_ack(mav.MAV_MISSION_DENIED, mtype)
            return
        self.transfer = None  # the same ground station may restart its upload
        if self.t_sim < self.o.storage_delay_s:
            self._mission_ack(mav.MAV_MISSION_NO_SPACE, mtype)  # as SITL right after boot
            return
        if mtype == 0 and m.count > self.o.capacity:
            self._mission_ack(mav.MAV_MISSION_NO_SPACE, mtype)
            self._statustext(f"Only {self.o.capacity} items are supported")
            return
        if mtype == 1 and m.count > self.o.fence_capacity:  # ArduCopter: max_items() = storage bytes / 8
            self._mission_ack(mav.MAV_MISSION_NO_SPACE, mtype)
            return
        if m.count == 0:
            self.missions[mtype] = []
            self._mission_ack(mav.MAV_MISSION_ACCEPTED, mtype)
            return
        self.transfer = _Transfer(mtype, m.count, last_receive_t=self.t_sim, peer=self.peer)
        self._request(0, mtype)

    def _on_item(self, m, t):
        tr = self.transfer
        if tr is None or m.mission_type != tr.mission_type:
            self._mission_ack(mav.MAV_MISSION_ERROR, m.mission_type)  # not receiving: as ArduPilot
            return
        if m.seq != len(tr.items):
            self._mission_ack(mav.MAV_MISSION_INVALID_SEQUENCE, tr.mission_type)
            return
        if self.o.reboot_at_item is not None and m.seq == self.o.reboot_at_item:
            self.o.reboot_at_item = None
            self._reboot.set()
            return
        if t == "MISSION_ITEM":
            x, y = int(round(m.x * 1e7)), int(round(m.y * 1e7))
        else:
            x, y = m.x, m.y
        if m.frame not in (0, 2, 3, 5, 6, 10, 11) and tr.mission_type == 0:
            self.transfer = None
            self._mission_ack(mav.MAV_MISSION_UNSUPPORTED_FRAME, tr.mission_type)
            return
        # params and altitude arrive as float32 and are stored as such, as the autopilot does; but ArduPilot keeps
        # a rally point's altitude as whole metres (int16, truncated) and a fence vertex without altitude
        z = float(int(m.z)) if tr.mission_type == 2 else (0.0 if tr.mission_type == 1 else m.z)
        tr.items.append((m.seq, m.frame, m.command, 0, m.autocontinue, *_stored_params(m), x, y, z))
        tr.last_receive_t = self.t_sim
        if len(tr.items) == tr.count:
            items = tr.items
            if tr.mission_type == 0:
                items = [self._home_item()] + items[1:]  # seq 0 is always home
                self.current = 0
            self.missions[tr.mission_type] = items
            self.transfer = None
            self._mission_ack(mav.MAV_MISSION_ACCEPTED, tr.mission_type)
        else:
            self._request(len(tr.items), tr.mission_type)

    def _on_request(self, m):
        if self.transfer is not None:
            self._mission_ack(mav.MAV_MISSION_DENIED, m.mission_type)
            return
        items = self.missions[m.mission_type]
        if m.mission_type == 0 and m.seq == 0:
            it = self._home_item()
        elif 0 <= m.seq < len(items):
            it = items[m.seq]
        else:
            n = len(items) if m.mission_type else max(1, len(items))
            self._send(mav.MAVLink_mission_count_message(*self.peer, n, m.mission_type))
            self._mission_ack(mav.MAV_MISSION_INVALID_SEQUENCE, m.mission_type)
            return
        seq, frame, cmd, cur, auto, p1, p2, p3, p4, x, y, z = it
        located = cmd in COMMANDS_WITH_LOCATION
        if not located:
            frame = 0  # as ArduPilot reports an item without a location (its x/y are param5/6 as they are)
        # flagged current only while the mission runs, as ArduPilot (its current nav command)
        running = self.armed and self.mode == COPTER_MODES["AUTO"]
        current = int(m.mission_type == 0 and seq == self.current and running)
        if m.get_type() == "MISSION_REQUEST":
            k = 1e7 if located else 1.0
            self._send(mav.MAVLink_mission_item_message(*self.peer, seq, frame, cmd, current, auto, p1, p2, p3, p4,
                                                        x / k, y / k, z, m.mission_type))
        else:
            self._send(mav.MAVLink_mission_item_int_message(*self.peer, seq, frame, cmd, current, auto, p1, p2, p3, p4,
                                                            x, y, z, m.mission_type))

    def command(self, m):
        c = m.command
        if c == mav.MAV_CMD_SET_MESSAGE_INTERVAL:
            self.streams = True
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_DO_SET_MODE:
            self._ack(c, mav.MAV_RESULT_ACCEPTED if self.set_mode(int(m.param2)) else mav.MAV_RESULT_FAILED)
        elif c == mav.MAV_CMD_COMPONENT_ARM_DISARM:
            if m.param1 == 1:
                if self.armed:
                    self._ack(c, mav.MAV_RESULT_ACCEPTED)
                    return
                if not self.gps_ok():
                    self._ack(c, mav.MAV_RESULT_FAILED)
                    self._statustext("PreArm: GPS 1: Bad fix")
                    return
                if not self.ekf_ready():
                    self._ack(c, mav.MAV_RESULT_FAILED)
                    self._statustext("PreArm: EKF3 waiting for GPS config data")
                    return
                self.armed, self.on_ground_since = True, self.t_sim
                self._statustext("Arming motors")
            else:
                if self.alt_rel > 0.1 and m.param2 != 21196:
                    self._ack(c, mav.MAV_RESULT_FAILED)  # refuse to disarm in flight unless forced
                    return
                self.armed = False
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_NAV_TAKEOFF:
            if self.o.lose_takeoffs > 0:
                self.o.lose_takeoffs -= 1
                return
            if not self.armed or self.mode != COPTER_MODES["GUIDED"]:
                self._ack(c, mav.MAV_RESULT_FAILED)
                return
            self.takeoff_alt = float(m.param7)
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._ack(c, mav.MAV_RESULT_ACCEPTED if self.set_mode(COPTER_MODES["RTL"]) else mav.MAV_RESULT_FAILED)
        elif c == mav.MAV_CMD_DO_SET_MISSION_CURRENT:
            seq = int(m.param1)
            ok = 0 <= seq < max(1, len(self.missions[0]))
            if ok:
                self.current = seq
            self._ack(c, mav.MAV_RESULT_ACCEPTED if ok else mav.MAV_RESULT_DENIED)
        elif c == mav.MAV_CMD_REQUEST_MESSAGE:
            no_home = int(m.param1) == mav.MAVLINK_MSG_ID_HOME_POSITION and not self.gps_ok()
            self._ack(c, mav.MAV_RESULT_FAILED if no_home else mav.MAV_RESULT_ACCEPTED)
            if int(m.param1) == mav.MAVLINK_MSG_ID_HOME_POSITION:
                if self.gps_ok():  # as ArduPilot: no home before the first fix
                    self._send_home_position()
            elif int(m.param1) == mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
                caps = (mav.MAV_PROTOCOL_CAPABILITY_MISSION_INT | mav.MAV_PROTOCOL_CAPABILITY_MAVLINK2
                        | mav.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE | mav.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
                        | (mav.MAV_PROTOCOL_CAPABILITY_FTP if self.o.ftp else 0))
                self._send(mav.MAVLink_autopilot_version_message(caps, (4 << 24) | (7 << 16) | 255, 0, 0, 0,
                                                                 [0] * 8, [0] * 8, [0] * 8, 0, 0, 0))
        elif c == mav.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN:
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
            if int(m.param1) == 1 and not self.armed:
                self._flush()
                self._reboot.set()
        else:
            self._ack(c, mav.MAV_RESULT_UNSUPPORTED)

    # --- MAVLink FTP: @MISSION/mission.dat, fence.dat, rally.dat (write, and read with burst reads), as
    # ArduPilot's AP_Filesystem_Mission
    _FTP_FILES = {"@MISSION/mission.dat": 0, "@MISSION/fence.dat": 1, "@MISSION/rally.dat": 2}

    def _on_ftp(self, m):
        from dronectl.mavlink import ftp

        req = ftp.unpack(m.payload)
        op, session = req["opcode"], req["session"]
        last = getattr(self, "_ftp_last_reply", None)
        if last is not None and last[0] == (session, (req["seq"] + 1) & 0xFFFF):
            self._send(mav.MAVLink_file_transfer_protocol_message(0, *self.peer, last[1]))  # a re-request, as
            return  # ArduPilot: the last reply again, the request not redone

        def reply(opcode, data=b"", offset=0, sess=session):
            payload = ftp.pack(req["seq"] + 1, sess, opcode, offset, data)
            payload[5] = op  # req_opcode
            self._ftp_last_reply = ((sess, (req["seq"] + 1) & 0xFFFF), payload)
            self._send(mav.MAVLink_file_transfer_protocol_message(0, *self.peer, payload))

        f = getattr(self, "_ftp_file", None)
        if op in (ftp.OP_TERMINATE, ftp.OP_RESET):
            if f is not None and (op == ftp.OP_RESET or session == f["session"]):
                self._ftp_file = None
                if op == ftp.OP_TERMINATE and not f.get("read"):
                    self._ftp_apply(f)
            reply(ftp.OP_ACK)
        elif op == ftp.OP_OPEN_RO:  # read a @MISSION file: its size in the reply, as ArduPilot
            path = req["data"].split(b"\0")[0].decode(errors="replace")
            if f is not None:
                reply(ftp.OP_NAK, bytes([1]))
            elif path not in self._FTP_FILES:
                reply(ftp.OP_NAK, bytes([10]))
            else:
                buf = self._ftp_file_bytes(self._FTP_FILES[path])
                self._ftp_file = {"session": session, "type": self._FTP_FILES[path], "buf": buf, "read": True}
                reply(ftp.OP_ACK, len(buf).to_bytes(4, "little"))
        elif op in (ftp.OP_READ, ftp.OP_BURST_READ):
            if f is None or not f.get("read") or session != f["session"]:
                reply(ftp.OP_NAK, bytes([4]))  # invalid session
                return
            buf, off, n = f["buf"], req["offset"], max(1, min(req["size"] or ftp.DATA_MAX, ftp.DATA_MAX))
            if off >= len(buf):
                reply(ftp.OP_NAK, bytes([6]), offset=off)  # end of file
            elif op == ftp.OP_READ:
                reply(ftp.OP_ACK, buf[off:off + n], offset=off)
            else:  # a burst: the file streamed from the offset, burst_complete on the last part
                for o in range(off, len(buf), n):
                    payload = ftp.pack(req["seq"] + 1, session, ftp.OP_ACK, o, buf[o:o + n])
                    payload[5], payload[6] = op, int(o + n >= len(buf))
                    self._send(mav.MAVLink_file_transfer_protocol_message(0, *self.peer, payload))
        elif op in (ftp.OP_CREATE, 11):  # CreateFile, OpenFileWO
            path = req["data"].split(b"\0")[0].decode(errors="replace")
            if f is not None:
                reply(ftp.OP_NAK, bytes([1]))
            elif path not in self._FTP_FILES:
                reply(ftp.OP_NAK, bytes([10]))  # file not found
            else:
                # the client names the session, as with ArduPilot
                self._ftp_file = {"session": session, "type": self._FTP_FILES[path], "buf": bytearray()}
                reply(ftp.OP_ACK)
        elif op == ftp.OP_WRITE:
            if f is None or session != f["session"]:
                reply(ftp.OP_NAK, bytes([10 if f is None else 4]))
                return
            buf, off, data = f["buf"], req["offset"], req["data"]
            if len(buf) < off + len(data):
                buf.extend(bytes(off + len(data) - len(buf)))
            buf[off:off + len(data)] = data
            reply(ftp.OP_ACK, offset=off)
        else:
            reply(ftp.OP_NAK, bytes([7]))  # unknown command

    def _ftp_file_bytes(self, mtype) -> bytes:
        """The @MISSION file of a mission type as ArduPilot serves it: header, then MISSION_ITEM_INT structs."""
        from dronectl.mavlink import ftp

        items = self.missions[mtype]
        if mtype == 0:
            items = [self._home_item()] + items[1:]
        msgs = [mav.MAVLink_mission_item_int_message(*self.peer, seq, frame, cmd, 0, auto, p1, p2, p3, p4, x, y, z,
                                                     mtype)
                for seq, (_, frame, cmd, _, auto, p1, p2, p3, p4, x, y, z) in enumerate(items)]
        return ftp.mission_file(msgs, mtype)

    def _ftp_apply(self, f):
        """Apply an uploaded @MISSION file as ArduPilot does on close (silently ignored when malformed)."""
        import struct

        buf, mtype = bytes(f["buf"]), f["type"]
        if len(buf) < 10:
            return
        magic, dtype, options, start, n = struct.unpack("<HHHHH", buf[:10])
        size = mav.MAVLink_mission_item_int_message.unpacker.size
        if magic != 0x763D or dtype != mtype or start != 0 or len(buf) != 10 + n * size:
            return
        self.missions[mtype] = []  # ArduPilot clears the old one first, then adds the file's items
        items = []
        names = mav.MAVLink_mission_item_int_message.ordered_fieldnames
        for i in range(n):
            v = dict(zip(names, mav.MAVLink_mission_item_int_message.unpacker.unpack(
                buf[10 + i * size:10 + (i + 1) * size])))
            z = float(int(v["z"])) if mtype == 2 else (0.0 if mtype == 1 else v["z"])
            items.append((i, v["frame"], v["command"], 0, v["autocontinue"], *_stored_params(v), v["x"], v["y"], z))
        if mtype == 0:
            # as ArduPilot: items are added one by one until the storage is full (the rest is dropped)
            items = ([self._home_item()] + items[1:])[:self.o.capacity]
            self.current = 0
        self.missions[mtype] = items

    def set_mode(self, mode: int) -> bool:
        if mode not in COPTER_MODES.values():
            return False
        if mode == COPTER_MODES["AUTO"] and len(self.missions[0]) <= 1:
            self._statustext("Mode change to AUTO failed: no mission")
            return False
        if mode == COPTER_MODES["GUIDED"] and not self.gps_ok():
            self._statustext("Mode change to GUIDED failed: requires position")
            return False
        if mode == self.mode:
            return True
        self.mode = mode
        self.rtl_stage = self.roi = None
        self.takeoff_alt = None if mode != COPTER_MODES["GUIDED"] else self.takeoff_alt
        if mode == COPTER_MODES["AUTO"]:
            self.current = max(1, self.current)
            self._start_item()
        elif mode == COPTER_MODES["RTL"]:
            self.rtl_stage = "climb"
        return True

    def _statustext(self, text):
        self._send(mav.MAVLink_statustext_message(6, text.encode()[:50], 0, 0))

    def _send_home_position(self):
        lat, lon, alt = self.home
        self._send(mav.MAVLink_home_position_message(int(lat * 1e7), int(lon * 1e7), int(alt * 1000), 0, 0, 0,
                                                     [1, 0, 0, 0], 0, 0, 0))

    # --- simulation -------------------------------------------------------------------------
    def gps_ok(self):
        return self.t_sim >= self.o.gps_delay_s

    def ekf_ready(self):
        return self.t_sim >= self.o.ekf_delay_s and self.gps_ok()

    def _start_item(self):
        """Run DO_ items from ``current`` on until the next nav item, which becomes the target."""
        items = self.missions[0]
        while 0 < self.current < len(items):
            seq, frame, cmd, _, _, p1, p2, p3, p4, x, y, z = items[self.current]
            if cmd == 22:  # NAV_TAKEOFF: climb where we are
                self.target = (self.lat, self.lon, max(z, self.alt_rel))
                return
            if cmd in (16, 21):  # WAYPOINT, LAND (lat/lon 0 = here)
                lat, lon = (x / 1e7, y / 1e7) if (x or y) else (self.lat, self.lon)
                alt = z if cmd == 16 else 0.0
                if frame == 0:  # AMSL
                    alt = z - self.home[2]
                self.target = (lat, lon, alt)
                return
            if cmd == 20:  # RETURN_TO_LAUNCH inside AUTO (the mode stays AUTO, as Copter's)
                self.target = None
                self.rtl_stage = "climb"
                return
            if cmd == 178 and p2 > 0:  # DO_CHANGE_SPEED
                self.speed = p2
            elif cmd == 206:  # DO_SET_CAM_TRIGG_DIST
                self.trig_dist, self.trig_acc = max(0.0, p1), 0.0
                if p3 == 1:
                    self._trigger()
            elif cmd == 203:  # DO_DIGICAM_CONTROL: one picture
                self._face_roi()
                self._trigger()
            elif cmd == 195:  # DO_SET_ROI_LOCATION
                self.roi = (x / 1e7, y / 1e7)
            elif cmd == 197:  # DO_SET_ROI_NONE
                self.roi = None
            self.current += 1
        self.target = None  # end of mission: hold position

    def _reached(self):
        self._send(mav.MAVLink_mission_item_reached_message(self.current))
        self.current += 1
        self._start_item()

    def _trigger(self):
        self.image_index += 1
        self._send(mav.MAVLink_camera_feedback_message(
            int(self.t_sim * 1e6), 1, 0, self.image_index, int(round(self.lat * 1e7)), int(round(self.lon * 1e7)),
            self.home[2] + self.alt_rel, self.alt_rel, 0.0, 0.0, self.yaw, 4.5, 0, self.image_index))

    def _face_roi(self):
        if self.roi is not None:
            dn = math.radians(self.roi[0] - self.lat) * EARTH_R
            de = math.radians(self.roi[1] - self.lon) * EARTH_R * math.cos(math.radians(self.lat))
            if math.hypot(dn, de) > 0.5:
                self.yaw = math.degrees(math.atan2(de, dn)) % 360

    def _move_towards(self, lat, lon, alt, dt) -> bool:
        """Point-mass step at the commanded speed; True when there."""
        dn = math.radians(lat - self.lat) * EARTH_R
        de = math.radians(lon - self.lon) * EARTH_R * math.cos(math.radians(self.lat))
        dz = alt - self.alt_rel
        d = math.hypot(dn, de)
        if self.roi is not None:
            self._face_roi()
        elif d > 0.5:
            self.yaw = math.degrees(math.atan2(de, dn)) % 360
        moved = min(d, self.speed * dt)
        if d > 0:
            self.lat += math.degrees(dn / d * moved / EARTH_R)
            self.lon += math.degrees(de / d * moved / (EARTH_R * math.cos(math.radians(self.lat))))
        vz = CLIMB_MPS if dz > 0 else (LAND_MPS if self.alt_rel < 10 and alt <= 0 else DESCENT_MPS)
        self.alt_rel += max(-vz * dt, min(vz * dt, dz))
        if self.trig_dist > 0 and moved > 0:
            self.trig_acc += moved
            while self.trig_acc >= self.trig_dist:
                self.trig_acc -= self.trig_dist
                self._trigger()
        return d - moved < 0.3 and abs(alt - self.alt_rel) < 0.2

    def _rtl_step(self, dt) -> bool:
        """Copter's RTL: climb to RTL_ALT, fly home, land; True once landed."""
        hlat, hlon, _ = self.home
        if self.rtl_stage == "climb":
            if self._move_towards(self.lat, self.lon, max(RTL_ALT_M, self.alt_rel), dt):
                self.rtl_stage = "return"
        elif self.rtl_stage == "return":
            if self._move_towards(hlat, hlon, self.alt_rel, dt):
                self.rtl_stage = "land"
        elif self.rtl_stage == "land":
            if self._move_towards(hlat, hlon, 0.0, dt) or self.alt_rel <= 0.02:
                return True
        return False

    def _land_and_disarm(self):
        self.alt_rel = 0.0
        self.armed = False
        self.rtl_stage = self.target = None
        self._statustext("Disarming motors")

    def _substep(self, dt):
        flying = self.armed and self.alt_rel > 0.05
        if self.armed:
            self.battery = max(0.0, self.battery - dt / self.o.battery_s * (1.0 if flying else 0.1))
        if not self.armed:
            return
        if self.mode == COPTER_MODES["GUIDED"] and self.takeoff_alt:
            if self._move_towards(self.lat, self.lon, self.takeoff_alt, dt):
                self.takeoff_alt = None
        elif self.mode == COPTER_MODES["AUTO"] and self.rtl_stage:
            if self._rtl_step(dt):
                self._land_and_disarm()
        elif self.mode == COPTER_MODES["AUTO"] and self.target:
            if self._move_towards(*self.target, dt):
                landing = self.target[2] <= 0 and self.missions[0][self.current][2] == 21
                self._reached()
                if landing:
                    self._land_and_disarm()
        elif self.mode == COPTER_MODES["RTL"]:
            self.rtl_stage = self.rtl_stage or "climb"
            if self._rtl_step(dt):
                self._land_and_disarm()
        elif self.mode == COPTER_MODES["LAND"]:
            if self._move_towards(self.lat, self.lon, 0.0, dt):
                self._land_and_disarm()
        # left armed on the ground: disarm, as ArduCopter does
        if self.armed and self.alt_rel <= 0.05 and not self.takeoff_alt and not self.target and not self.rtl_stage:
            if self.t_sim - self.on_ground_since > self.o.disarm_delay_s:
                self.armed = False
                self._statustext("Disarming motors")
        elif self.armed:
            self.on_ground_since = self.t_sim

    def step(self, dt: float):
        if dt <= 0:
            return
        # sub-steps of at most 0.2 simulated seconds keep the point mass and the camera honest at high speed-up
        n = max(1, math.ceil(dt / 0.2))
        for _ in range(n):
            self.t_sim += dt / n
            self._substep(dt / n)
        tr = self.transfer
        if tr is not None:
            if self.t_sim - tr.last_receive_t > self.o.upload_timeout_s:
                self.transfer = None
                self._mission_ack(mav.MAV_MISSION_OPERATION_CANCELLED, tr.mission_type)
            elif self.t_sim - tr.last_request_t > REQUEST_RESEND_S:
                self._request(len(tr.items), tr.mission_type)  # ask again, as ArduPilot does
        if self.t_sim - self.last_hb >= 1.0:
            self.last_hb = self.t_sim
            base = BASE_MODE_DISARMED | (mav.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0)
            self._send(mav.MAVLink_heartbeat_message(mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                                     self.mode, mav.MAV_STATE_ACTIVE if self.armed else
                                                     mav.MAV_STATE_STANDBY, 3))
        if self.current != self.last_current_sent and self.client is not None:
            self.last_current_sent = self.current
            self._send(mav.MAVLink_mission_current_message(self.current))
        period = max(0.25, 0.05 * self.o.speedup)  # telemetry: 4 Hz, at most ~20 Hz of real time
        if self.streams and self.t_sim - self.last_tel >= period:
            self.last_tel = self.t_sim
            fix = self.gps_ok()
            lat, lon = (int(round(self.lat * 1e7)), int(round(self.lon * 1e7))) if fix else (0, 0)
            self._send(mav.MAVLink_global_position_int_message(
                int(self.t_sim * 1000) & 0xFFFFFFFF, lat, lon, int((self.home[2] + self.alt_rel) * 1000) if fix else 0,
                int(self.alt_rel * 1000) if fix else 0, 0, 0, 0, int(self.yaw * 100)))
            self._send(mav.MAVLink_gps_raw_int_message(int(self.t_sim * 1e6), 3 if fix else 1, lat, lon, 0, 100, 100,
                                                       0, 0, 10 if fix else 0))
            # MAV_SYS_STATUS_PREARM_CHECK: present and enabled always, healthy once it would arm (as ArduPilot)
            prearm = 0x10000000
            self._send(mav.MAVLink_sys_status_message(prearm, prearm, prearm if self.ekf_ready() else 0, 0,
                                                      int((10.5 + 2.1 * self.battery) * 1000), 1000,
                                                      int(round(self.battery * 100)), 0, 0, 0, 0, 0, 0))
            self._send(mav.MAVLink_mission_current_message(self.current))


class VehicleHandle:
    """What ``start_vehicle`` returns: ``connection_string``, ``stop()``, ``reboot()``, and the vehicle."""

    def __init__(self, vehicle: TestVehicle, thread: threading.Thread, port: int | None, host: str | None,
                 pty_path: str | None = None):
        self.vehicle, self.thread, self.port = vehicle, thread, port
        # a pseudo-terminal is a serial port: connect as to a radio (the baud rate does not matter to it)
        self.connection_string = f"{pty_path},57600" if pty_path else f"tcp:{host}:{port}"

    def reboot(self):
        self.vehicle.reboot()

    def stop(self):
        self.vehicle.stop()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def parse_listen(listen: str) -> tuple[str, int] | None:
    """(host, port) of ``tcp:HOST:PORT``; None for ``pty`` / ``serial`` (a pseudo-terminal)."""
    from dronectl.errors import InputError

    if listen in ("pty", "serial"):
        return None
    parts = listen.split(":")
    if len(parts) != 3 or parts[0] != "tcp" or not parts[2].isdigit() or int(parts[2]) > 65535:
        raise InputError(f"--listen '{listen}' must be tcp:HOST:PORT (e.g. tcp:127.0.0.1:5760) or pty")
    return parts[1] or "127.0.0.1", int(parts[2])


def start_vehicle(listen: str = "tcp:127.0.0.1:0", home=(49.3817, 3.3236, 60.0), speedup: float = 1.0,
                  **options) -> VehicleHandle:
    """Serve a test vehicle in a background thread; ``handle.connection_string`` is where to connect.

    ``options`` are :class:`VehicleOptions` fields: ``loss``, ``duplicate``, ``delay_ms``, ``reboot_at_item``,
    ``gps_delay_s``, ``ekf_delay_s``, ``storage_delay_s``, ``capacity``, ``battery_s``, ``seed``...
    """
    from dronectl.errors import InputError

    where = parse_listen(listen)
    home = tuple(float(v) for v in home)
    if len(home) == 2:
        home = (*home, 0.0)
    try:
        v = TestVehicle(VehicleOptions(home=home, speedup=float(speedup), **options))
    except TypeError as exc:
        raise InputError(f"start_vehicle: {exc}") from None
    host = port = pty_path = None
    try:
        if where is None:
            pty_path = v.open_pty()
        else:
            host, port = where
            port = v.bind(host, port)
    except OSError as exc:
        raise InputError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    t = threading.Thread(target=v.serve_forever, name="dronectl-test-vehicle", daemon=True)
    t.start()
    return VehicleHandle(v, t, port, host, pty_path)
