"""The built-in MAVLink test vehicle: a protocol stand-in for ArduCopter, not a flight-dynamics simulator.

It speaks what dronectl needs the way ArduCopter SITL does: heartbeats as ARDUPILOTMEGA / QUADROTOR with
Copter's custom mode numbers; the mission protocol with seq 0 = home, items asked for with MISSION_REQUEST
(as ArduPilot does), a capacity (650 items with home, as SITL) answered with NO_SPACE; no position until a
simulated GPS fix and no arming until the estimator is ready; telemetry only to a client that asks for it;
disarming by itself when left armed on the ground. It flies the mission as a point mass at the commanded
speed (time sped up by ``speedup``), drains a battery, and reports CAMERA_FEEDBACK at every trigger distance.
Faults for tests: packet loss, duplicates and delays both ways.
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

COPTER_MODES = {"STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6, "LAND": 9}
EARTH_R = 6378137.0
CLIMB_MPS, DESCENT_MPS, LAND_MPS, WP_SPEED_MPS, RTL_ALT_M = 2.5, 1.5, 0.5, 5.0, 15.0


@dataclass
class VehicleOptions:
    home: tuple[float, float, float] = (49.3817, 3.3236, 60.0)  # lat, lon, alt AMSL
    speedup: float = 1.0
    capacity: int = 650  # mission items including home
    gps_delay_s: float = 20.0  # simulated seconds until a 3D fix (SITL: ~20 s)
    ekf_delay_s: float = 40.0  # simulated seconds until arming is possible (SITL: ~40 s)
    disarm_delay_s: float = 10.0  # armed on the ground this long: disarm
    battery_s: float = 1800.0  # simulated seconds of hover on a full battery
    loss: float = 0.0
    duplicate: float = 0.0
    delay_ms: float = 0.0
    seed: int | None = None


@dataclass
class _Transfer:
    mission_type: int
    count: int
    items: list = field(default_factory=list)
    last_request_t: float = 0.0


class TestVehicle:
    """One vehicle served on a TCP port; one client at a time (like SITL's SERIAL0)."""

    def __init__(self, opts: VehicleOptions):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.sock: socket.socket | None = None
        self.client: socket.socket | None = None
        self._outq: list[tuple[float, bytes]] = []
        self.reset_state()

    # --- state ------------------------------------------------------------------------------
    def reset_state(self):
        lat, lon, alt = self.o.home
        self.home = (lat, lon, alt)
        self.missions = {0: [], 1: [], 2: []}  # type -> items (mission: seq 0 = home)
        self.t_sim = 0.0
        self.lat, self.lon, self.alt_rel = lat, lon, 0.0
        self.armed, self.mode = False, COPTER_MODES["STABILIZE"]
        self.on_ground_since = 0.0
        self.current = 0
        self.speed = WP_SPEED_MPS
        self.target = None  # (lat, lon, alt_rel) when flying to a point
        self.takeoff_alt = None
        self.trig_dist, self.trig_acc, self.image_index = 0.0, 0.0, 0
        self.battery = 1.0
        self.streams = False
        self.transfer: _Transfer | None = None
        self.yaw = 0.0
        self.last_hb = self.last_tel = -1e9

    # --- network ----------------------------------------------------------------------------
    def bind(self, host: str, port: int) -> int:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1)
        self.sock.settimeout(0.05)
        return self.sock.getsockname()[1]

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
        now = time.monotonic()
        ready = [d for t, d in self._outq if t <= now]
        self._outq = [(t, d) for t, d in self._outq if t > now]
        for d in ready:
            try:
                self.client.sendall(d)
            except OSError:
                self._drop_client()
                return

    def _drop_client(self):
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
        self.client = None
        self._outq.clear()
        self.streams = False

    def serve_forever(self):
        t_last = time.monotonic()
        while not self._stop.is_set():
            if self.client is None:
                try:
                    self.client, _ = self.sock.accept()
                    self.client.setblocking(False)
                    self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
                except (socket.timeout, OSError):
                    t_last = time.monotonic()
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
                    try:
                        self.handle(m)
                    except Exception as exc:  # a malformed request must not kill the vehicle
                        self._statustext(f"test vehicle: {type(exc).__name__}: {exc}")
            now = time.monotonic()
            self.step(min(now - t_last, 0.1) * self.o.speedup)
            t_last = now
            self._flush()
            if not data:
                time.sleep(0.002)
        self._drop_client()
        self.sock.close()

    def stop(self):
        self._stop.set()

    # --- messages in ------------------------------------------------------------------------
    def _ack(self, command, result):
        self._send(mav.MAVLink_command_ack_message(command, result, 0, 0, 255, 0))

    def _mission_ack(self, result, mtype):
        self._send(mav.MAVLink_mission_ack_message(255, 0, result, mtype))

    def _request(self, seq, mtype):
        self._send(mav.MAVLink_mission_request_message(255, 0, seq, mtype))  # as ArduPilot: not _INT
        if self.transfer:
            self.transfer.last_request_t = time.monotonic()

    def _home_item(self, seq=0):
        lat, lon, alt = self.home
        return (seq, 0, 16, 0, 1, 0.0, 0.0, 0.0, 0.0, int(lat * 1e7), int(lon * 1e7), float(alt))

    def handle(self, m):
        t = m.get_type()
        if t == "MISSION_COUNT":
            mtype = m.mission_type
            if mtype == 0 and m.count > self.o.capacity:
                self._mission_ack(mav.MAV_MISSION_NO_SPACE, mtype)
                return
            if mtype == 0 and self.armed and self.mode == COPTER_MODES["AUTO"]:
                self._mission_ack(mav.MAV_MISSION_DENIED, mtype)
                return
            if m.count == 0:
                self.missions[mtype] = []
                self._mission_ack(mav.MAV_MISSION_ACCEPTED, mtype)
                return
            self.transfer = _Transfer(mtype, m.count)
            self._request(0, mtype)
        elif t in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            tr = self.transfer
            if tr is None or m.mission_type != tr.mission_type:
                return
            if m.seq < len(tr.items):
                return  # a duplicate of an item we already have
            if m.seq > len(tr.items):
                self._request(len(tr.items), tr.mission_type)  # re-ask for the one we need
                return
            if t == "MISSION_ITEM":
                x, y = int(m.x * 1e7), int(m.y * 1e7)
            else:
                x, y = m.x, m.y
            tr.items.append((m.seq, m.frame, m.command, 0, m.autocontinue, m.param1, m.param2, m.param3, m.param4,
                             x, y, m.z))
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
        elif t == "MISSION_REQUEST_LIST":
            items = self.missions[m.mission_type]
            n = len(items) if m.mission_type else max(1, len(items))
            self._send(mav.MAVLink_mission_count_message(255, 0, n, m.mission_type))
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            items = self.missions[m.mission_type]
            if m.mission_type == 0 and m.seq == 0:
                it = self._home_item()
            elif m.seq < len(items):
                it = items[m.seq]
            else:
                self._mission_ack(mav.MAV_MISSION_INVALID_SEQUENCE, m.mission_type)
                return
            seq, frame, cmd, cur, auto, p1, p2, p3, p4, x, y, z = it
            self._send(mav.MAVLink_mission_item_int_message(255, 0, seq, frame, cmd, int(seq == self.current), auto,
                                                             p1, p2, p3, p4, x, y, z, m.mission_type))
        elif t == "MISSION_CLEAR_ALL":
            self.missions[m.mission_type] = []
            self._mission_ack(mav.MAV_MISSION_ACCEPTED, m.mission_type)
        elif t == "MISSION_SET_CURRENT":
            if m.seq < len(self.missions[0]):
                self.current = m.seq
        elif t == "REQUEST_DATA_STREAM":
            self.streams = bool(m.start_stop)
        elif t == "COMMAND_LONG":
            self.command(m)
        elif t == "SET_MODE":
            self.set_mode(m.custom_mode)

    def command(self, m):
        c = m.command
        if c == mav.MAV_CMD_SET_MESSAGE_INTERVAL:
            self.streams = True
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_DO_SET_MODE:
            self._ack(c, mav.MAV_RESULT_ACCEPTED if self.set_mode(int(m.param2)) else mav.MAV_RESULT_FAILED)
        elif c == mav.MAV_CMD_COMPONENT_ARM_DISARM:
            if m.param1 == 1:
                if not self.ekf_ready():
                    self._ack(c, mav.MAV_RESULT_FAILED)
                    self._statustext("PreArm: EKF attitude is bad; waiting for the estimator")
                    return
                self.armed, self.on_ground_since = True, self.t_sim
            else:
                self.armed = False
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_NAV_TAKEOFF:
            if not self.armed or self.mode != COPTER_MODES["GUIDED"]:
                self._ack(c, mav.MAV_RESULT_FAILED)
                return
            self.takeoff_alt = float(m.param7)
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self.set_mode(COPTER_MODES["RTL"])
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        else:
            self._ack(c, mav.MAV_RESULT_UNSUPPORTED)

    def set_mode(self, mode: int) -> bool:
        if mode not in COPTER_MODES.values():
            return False
        if mode == COPTER_MODES["AUTO"] and len(self.missions[0]) <= 1:
            self._statustext("Mode change to AUTO failed: no mission")
            return False
        if mode == COPTER_MODES["AUTO"] and self.mode != mode:
            self.current = 1
            self._start_item()
        self.mode = mode
        return True

    def _statustext(self, text):
        self._send(mav.MAVLink_statustext_message(6, text.encode()[:50], 0, 0))

    # --- simulation -------------------------------------------------------------------------
    def gps_ok(self):
        return self.t_sim >= self.o.gps_delay_s

    def ekf_ready(self):
        return self.t_sim >= self.o.ekf_delay_s and self.gps_ok()

    def _start_item(self):
        items = self.missions[0]
        while 0 < self.current < len(items):
            seq, frame, cmd, _, _, p1, p2, p3, p4, x, y, z = items[self.current]
            if cmd == 22:  # NAV_TAKEOFF
                self.target = (self.lat, self.lon, max(z, self.alt_rel))
                return
            if cmd in (16, 21):  # WAYPOINT, LAND
                self.target = (x / 1e7 or self.lat, y / 1e7 or self.lon, z if cmd == 16 else 0.0)
                return
            if cmd == 20:  # RTL
                self.mode = COPTER_MODES["RTL"]
                return
            if cmd == 178:  # DO_CHANGE_SPEED
                if p2 > 0:
                    self.speed = p2
            elif cmd == 206:  # DO_SET_CAM_TRIGG_DIST
                self.trig_dist, self.trig_acc = max(0.0, p1), 0.0
                if p3 == 1:
                    self._trigger()
            self.current += 1
        self.target = None  # end of mission: hold

    def _reached(self):
        self._send(mav.MAVLink_mission_item_reached_message(self.current))
        self.current += 1
        self._start_item()

    def _trigger(self):
        self.image_index += 1
        self._send(mav.MAVLink_camera_feedback_message(
            int(self.t_sim * 1e6), 1, 0, self.image_index, int(self.lat * 1e7), int(self.lon * 1e7),
            self.home[2] + self.alt_rel, self.alt_rel, 0.0, 0.0, self.yaw, 4.5, 0, self.image_index))

    def _move_towards(self, lat, lon, alt, dt) -> bool:
        """Point-mass step; True when there."""
        dn = math.radians(lat - self.lat) * EARTH_R
        de = math.radians(lon - self.lon) * EARTH_R * math.cos(math.radians(self.lat))
        dz = alt - self.alt_rel
        d = math.hypot(dn, de)
        step = self.speed * dt
        if d > 0.01:
            self.yaw = math.degrees(math.atan2(de, dn)) % 360
        moved = min(d, step)
        if d > 0:
            self.lat += math.degrees(dn / d * moved / EARTH_R)
            self.lon += math.degrees(de / d * moved / (EARTH_R * math.cos(math.radians(self.lat))))
        vz = CLIMB_MPS if dz > 0 else (LAND_MPS if self.alt_rel < 10 and alt <= 0 else DESCENT_MPS)
        self.alt_rel += max(-vz * dt, min(vz * dt, dz))
        if self.trig_dist > 0:
            self.trig_acc += moved
            while self.trig_acc >= self.trig_dist:
                self.trig_acc -= self.trig_dist
                self._trigger()
        return d - moved < 0.3 and abs(alt - self.alt_rel) < 0.2

    def step(self, dt: float):
        if dt <= 0:
            return
        self.t_sim += dt
        flying = self.armed and (self.alt_rel > 0.05 or self.takeoff_alt or self.mode in (COPTER_MODES["AUTO"],))
        if self.armed:
            self.battery = max(0.0, self.battery - dt / self.o.battery_s * (1.0 if flying else 0.2))
        if self.armed and self.mode == COPTER_MODES["GUIDED"] and self.takeoff_alt:
            if self._move_towards(self.lat, self.lon, self.takeoff_alt, dt):
                self.takeoff_alt = None
        elif self.armed and self.mode == COPTER_MODES["AUTO"] and self.target:
            if self._move_towards(*self.target, dt):
                if self.target[2] <= 0 and self.alt_rel <= 0.05:  # landed
                    self.armed = False
                self._reached()
        elif self.armed and self.mode == COPTER_MODES["RTL"]:
            hlat, hlon, _ = self.home
            if self.alt_rel < RTL_ALT_M and math.dist((self.lat, self.lon), (hlat, hlon)) > 1e-6:
                self._move_towards(self.lat, self.lon, RTL_ALT_M, dt)
            elif self._move_towards(hlat, hlon, self.alt_rel, dt):
                if self._move_towards(hlat, hlon, 0.0, dt) and self.alt_rel <= 0.05:
                    self.alt_rel = 0.0
                    self.armed = False
                    self.mode = COPTER_MODES["LAND"]
        elif self.armed and self.mode == COPTER_MODES["LAND"]:
            if self._move_towards(self.lat, self.lon, 0.0, dt):
                self.armed = False
        # left armed on the ground: disarm, as ArduCopter does
        if self.armed and self.alt_rel <= 0.05 and not self.takeoff_alt and not (
                self.mode == COPTER_MODES["AUTO"] and self.target):
            if self.t_sim - self.on_ground_since > self.o.disarm_delay_s:
                self.armed = False
                self._statustext("Disarming motors")
        elif self.armed:
            self.on_ground_since = self.t_sim
        if self.transfer and time.monotonic() - self.transfer.last_request_t > 0.25:
            self._request(len(self.transfer.items), self.transfer.mission_type)  # ask again, as ArduPilot does
        if self.t_sim - self.last_hb >= 1.0:
            self.last_hb = self.t_sim
            base = mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (mav.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0)
            self._send(mav.MAVLink_heartbeat_message(mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                                     self.mode, mav.MAV_STATE_ACTIVE if self.armed else
                                                     mav.MAV_STATE_STANDBY, 3))
        period = max(0.25, 0.05 * self.o.speedup)
        if self.streams and self.t_sim - self.last_tel >= period:
            self.last_tel = self.t_sim
            fix = self.gps_ok()
            lat, lon = (int(self.lat * 1e7), int(self.lon * 1e7)) if fix else (0, 0)
            self._send(mav.MAVLink_global_position_int_message(
                int(self.t_sim * 1000) & 0xFFFFFFFF, lat, lon, int((self.home[2] + self.alt_rel) * 1000) if fix else 0,
                int(self.alt_rel * 1000) if fix else 0, 0, 0, 0, int(self.yaw * 100)))
            self._send(mav.MAVLink_gps_raw_int_message(int(self.t_sim * 1e6), 3 if fix else 1, lat, lon, 0, 100, 100, 0,
                                                       0, 10 if fix else 0))
            self._send(mav.MAVLink_sys_status_message(0, 0, 0, 0, int((10.5 + 2.1 * self.battery) * 1000), 1000,
                                                      int(self.battery * 100), 0, 0, 0, 0, 0, 0))
            self._send(mav.MAVLink_mission_current_message(self.current))


class VehicleHandle:
    def __init__(self, vehicle: TestVehicle, thread: threading.Thread, port: int, host: str):
        self.vehicle, self.thread, self.port = vehicle, thread, port
        self.connection_string = f"tcp:{host}:{port}"

    def stop(self):
        self.vehicle.stop()
        self.thread.join(timeout=5)


def parse_listen(listen: str) -> tuple[str, int]:
    from dronectl.errors import InputError

    parts = listen.split(":")
    if len(parts) != 3 or parts[0] != "tcp" or not parts[2].isdigit():
        raise InputError(f"--listen '{listen}' must be tcp:HOST:PORT, e.g. tcp:127.0.0.1:5760")
    return parts[1] or "127.0.0.1", int(parts[2])


def start_vehicle(listen: str = "tcp:127.0.0.1:0", home=(49.3817, 3.3236, 60.0), speedup: float = 1.0,
                  **options) -> VehicleHandle:
    """Serve a test vehicle in a background thread; ``handle.connection_string`` is where to connect."""
    host, port = parse_listen(listen)
    v = TestVehicle(VehicleOptions(home=tuple(home), speedup=speedup, **options))
    try:
        port = v.bind(host, port)
    except OSError as exc:
        from dronectl.errors import InputError

        raise InputError(f"cannot listen on {listen}: {exc.strerror}") from None
    t = threading.Thread(target=v.serve_forever, name="dronectl-test-vehicle", daemon=True)
    t.start()
    return VehicleHandle(v, t, port, host)
