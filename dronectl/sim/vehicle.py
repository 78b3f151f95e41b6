"""The built-in MAVLink test vehicle: a protocol stand-in for ArduCopter, not a flight-dynamics simulator.

Three parts: the link and its faults (:mod:`dronectl.sim.transport`), the mission storage with the mission
protocol and MAVLink FTP servers (:mod:`dronectl.sim.mission_server`), and here the vehicle itself — modes,
physics, battery (its monitor: :mod:`dronectl.sim.battery`), telemetry — which speaks what dronectl needs the way ArduCopter SITL (4.7) does:

* heartbeats as ARDUPILOTMEGA / QUADROTOR with Copter's custom mode numbers (base mode 81 disarmed, +128 armed);
* no position (zeros) until a simulated GPS fix, no arming until the estimator is ready; telemetry only to a
  client that asks (``REQUEST_DATA_STREAM`` or ``SET_MESSAGE_INTERVAL``); it disarms when left armed on the ground;
* GUIDED take-off, AUTO missions (TAKEOFF, WAYPOINT, LAND, RETURN_TO_LAUNCH, DO_CHANGE_SPEED,
  DO_SET_CAM_TRIGG_DIST, DO_DIGICAM_CONTROL, DO_SET_ROI_LOCATION / DO_SET_ROI_NONE: the nose, and the yaw
  ``CAMERA_FEEDBACK`` reports, face the ROI), RTL (climb to 15 m, fly home, land, disarm); a point mass at the
  commanded speed; ``CAMERA_FEEDBACK`` at every trigger distance (through RTL too, until distance 0);
* a battery that drains, with ArduCopter's two-level battery failsafe (``BATT_*`` parameters, read and set with
  ``PARAM_REQUEST_READ`` / ``PARAM_SET``; :mod:`dronectl.sim.battery`): "Battery 1 is low ..." / "... critical ..."
  in ``STATUSTEXT``, the battery unhealthy in ``SYS_STATUS``, the charge state in ``BATTERY_STATUS``, and the
  failsafe's mode (RTL, LAND) in ``HEARTBEAT``. Where the stand-in differs from ArduCopter: its battery monitor
  knows the true charge (as a smart battery does), and an empty battery (0 %) always lands it and refuses arming.

All of its clocks run on simulated time, sped up by ``speedup``, as SITL's do. Faults for tests are the declared
fields of :class:`dronectl.sim.transport.Faults` (packet loss, duplicates, delays, lost take-offs, a reboot,
messages ignored or lost), given to :func:`start_vehicle` or changed on a running vehicle with
``handle.set_faults(...)``; ``handle.reboot()`` drops the connection and starts again, as SITL does over TCP.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field, fields, replace

os.environ.setdefault("MAVLINK20", "1")
from pymavlink.dialects.v20 import ardupilotmega as mav  # noqa: E402

from dronectl.mission import (  # noqa: E402
    CMD_DO_CHANGE_SPEED,
    CMD_DO_DIGICAM_CONTROL,
    CMD_DO_SET_CAM_TRIGG_DIST,
    CMD_DO_SET_ROI_LOCATION,
    CMD_DO_SET_ROI_NONE,
    CMD_NAV_LAND,
    CMD_NAV_RETURN_TO_LAUNCH,
    CMD_NAV_TAKEOFF,
    CMD_NAV_WAYPOINT,
    FRAME_GLOBAL,
)
from dronectl.sim.battery import (  # noqa: E402
    FS_ACT_LAND,
    FS_ACT_NONE,
    FS_ACT_TERMINATE,
    FS_CRITICAL,
    FS_LOW,
    FS_NONE,
    INT_PARAMS,
    Battery,
    check_param_names,
)
from dronectl.sim.mission_server import FtpServer, MissionServer  # noqa: E402
from dronectl.sim.transport import FAULT_FIELDS, Faults, Transport  # noqa: E402

COPTER_MODES = {"STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6,
                "CIRCLE": 7, "LAND": 9, "BRAKE": 17}
EARTH_R = 6378137.0
CLIMB_MPS, DESCENT_MPS, LAND_MPS, WP_SPEED_MPS, RTL_ALT_M = 2.5, 1.5, 0.5, 5.0, 15.0
BASE_MODE_DISARMED = 81  # custom mode enabled | stabilize | manual input, as ArduCopter reports
ARMING_DELAY_S = 2.0  # ArduCopter: a failsafe in the first 2 s after arming disarms
SENSOR_BATTERY = mav.MAV_SYS_STATUS_SENSOR_BATTERY
SENSOR_PREARM = 0x10000000  # MAV_SYS_STATUS_PREARM_CHECK

@dataclass(frozen=True)
class VehicleOptions:
    """The vehicle as it powers on (the faults are apart: :class:`~dronectl.sim.transport.Faults`)."""

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
    upload_timeout_s: float = 8.0  # simulated seconds without an item before an upload is cancelled (ArduPilot)
    ftp: bool = True  # offer MAVLink FTP for @MISSION/*.dat files, as ArduPilot does
    boot_s: float = 0.5  # real seconds a reboot keeps the port closed
    params: dict = field(default_factory=dict)  # BATT_* values other than the shipped ones (kept across reboots)

    def __post_init__(self):
        from dronectl.errors import InputError

        if not (isinstance(self.battery_pct, (int, float)) and 0 <= self.battery_pct <= 100):
            raise InputError(f"the battery charge must be between 0 and 100 %, got {self.battery_pct}")
        check_param_names(self.params)


OPTION_FIELDS = frozenset(f.name for f in fields(VehicleOptions))


class TestVehicle:
    """One vehicle served on a TCP port, one client at a time (like SITL's SERIAL0), or on a pseudo-terminal."""

    __test__ = False  # not a pytest class

    def __init__(self, opts: VehicleOptions, faults: Faults = Faults()):
        self.options = opts
        self.link = Transport(faults)
        self.link.on_drop = self._link_dropped
        self.faults = self.link.faults
        self.mission_server = MissionServer(self)
        self.ftp = FtpServer(self, self.mission_server)
        self._stop = threading.Event()
        self._reboot = threading.Event()
        self.reboots = 0
        self.peer = (255, 0)
        self.battery = Battery(opts.battery_pct, opts.battery_s, opts.params)  # not reset by a reboot
        self.params = self.battery.params  # the parameter server's (battery parameters only)
        self.boot()

    @property
    def o(self) -> VehicleOptions:  # the short name the vehicle's code uses
        return self.options

    @property
    def missions(self) -> dict:
        """Stored items by mission type (0 mission, seq 0 = home; 1 fence; 2 rally), as MissionItem."""
        return self.mission_server.missions

    # --- state ------------------------------------------------------------------------------
    def boot(self):
        lat, lon, alt = self.o.home
        self.home = (lat, lon, alt)
        self.t_sim = 0.0
        self.lat, self.lon, self.alt_rel = lat, lon, 0.0
        self.armed, self.mode = False, COPTER_MODES["STABILIZE"]
        self.armed_at = self.on_ground_since = 0.0
        self.current = 0
        self.speed = WP_SPEED_MPS
        self.target = None  # (lat, lon, alt_rel) of the current AUTO nav item
        self.takeoff_alt = None  # GUIDED take-off target
        self.rtl_stage = None  # None, "climb", "return", "land" (RTL mode, or AUTO's RETURN_TO_LAUNCH)
        self.trig_dist, self.trig_acc, self.image_index = 0.0, 0.0, 0
        self.roi = None  # (lat, lon) the nose points at (DO_SET_ROI_LOCATION), None: along the track
        self.streams = False
        self.yaw = 0.0
        self.last_hb = self.last_tel = -1e9
        self.last_current_sent = None
        self.battery.boot()
        self.mission_server.reset_link()
        self.ftp.reset_link()

    def _link_dropped(self):
        self.streams = False
        self.mission_server.reset_link()

    # --- what the servers use ---------------------------------------------------------------------
    def send(self, msg) -> None:
        self.link.send(msg)

    def statustext(self, text: str, severity: int = mav.MAV_SEVERITY_INFO) -> None:
        self.send(mav.MAVLink_statustext_message(severity, text.encode()[:50], 0, 0))

    def mission_running(self) -> bool:
        return self.armed and self.mode == COPTER_MODES["AUTO"]

    def reboot(self):
        self._reboot.set()

    def stop(self):
        self._stop.set()

    # --- network ----------------------------------------------------------------------------
    def bind(self, host: str, port: int) -> int:
        return self.link.bind(host, port)

    def open_pty(self) -> str:
        return self.link.open_pty()

    def _do_reboot(self):
        """Drop the link, close the port for ``boot_s``, start again from power-on (missions kept)."""
        self.reboots += 1  # counted before the link drops: a client that sees the drop sees the count
        self.link.close_port()
        self._stop.wait(self.o.boot_s)
        self.boot()
        self.link.reopen()

    def serve_forever(self):
        t_last = time.monotonic()
        while not self._stop.is_set():
            if self._reboot.is_set():
                self._reboot.clear()
                self._do_reboot()
                t_last = time.monotonic()
                continue
            got = 0
            if not self.link.connected:
                self.link.accept()  # waits a moment; the simulation runs whether or not a client is connected
            else:
                got, msgs = self.link.receive()
                for m in msgs:
                    try:
                        self.handle(m)
                    except Exception as exc:  # a malformed request must not kill the vehicle
                        self.statustext(f"test vehicle: {type(exc).__name__}: {exc}")
                    if self._reboot.is_set():
                        break
            now = time.monotonic()
            self.step(min(now - t_last, 0.1) * self.o.speedup)
            t_last = now
            self.link.flush()
            if self.link.connected and got == 0:
                time.sleep(0.001)
        self.link.close()

    # --- messages in ------------------------------------------------------------------------
    def _ack(self, command, result):
        self.send(mav.MAVLink_command_ack_message(command, result, 0, 0, *self.peer))

    def handle(self, m):
        t = m.get_type()
        self.peer = (m.get_srcSystem(), m.get_srcComponent())  # answers go to who asked, as ArduPilot's do
        if self.mission_server.handle(m):
            return
        if t == "REQUEST_DATA_STREAM":
            self.streams = self.streams or bool(m.start_stop)
        elif t == "FILE_TRANSFER_PROTOCOL":
            if self.o.ftp:
                self.ftp.handle(m)
        elif t == "COMMAND_LONG":
            self.command(m)
        elif t == "SET_MODE":
            self.set_mode(m.custom_mode)
        elif t == "PARAM_REQUEST_READ":
            name = m.param_id if isinstance(m.param_id, str) else m.param_id.decode(errors="replace")
            names = list(self.params)
            if m.param_index >= 0 and m.param_index < len(names):
                name = names[m.param_index]
            if name in self.params:
                self._param_value(name)
            elif name == "SIM_SPEEDUP":  # as ArduPilot SITL: a simulator says so (dronectl marks its flights)
                self.send(mav.MAVLink_param_value_message(b"SIM_SPEEDUP", float(self.o.speedup),
                                                          mav.MAV_PARAM_TYPE_REAL32, len(names), 65535))
        elif t == "PARAM_REQUEST_LIST":
            for name in self.params:
                self._param_value(name)
        elif t == "PARAM_SET":
            name = m.param_id if isinstance(m.param_id, str) else m.param_id.decode(errors="replace")
            # an unknown name is ignored, as ArduPilot
            if math.isfinite(m.param_value) and self.battery.set_param(name, m.param_value):
                self._param_value(name)

    def _param_value(self, name: str) -> None:
        names = list(self.params)
        ptype = mav.MAV_PARAM_TYPE_INT32 if name in INT_PARAMS else mav.MAV_PARAM_TYPE_REAL32
        self.send(mav.MAVLink_param_value_message(name.encode(), self.params[name], ptype, len(names),
                                                  names.index(name)))

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
                refusal = self._prearm_failure()
                if refusal:
                    self._ack(c, mav.MAV_RESULT_FAILED)
                    self.statustext(f"PreArm: {refusal}", mav.MAV_SEVERITY_CRITICAL)
                    return
                self.armed, self.armed_at, self.on_ground_since = True, self.t_sim, self.t_sim
                self.statustext("Arming motors")
            else:
                if self.alt_rel > 0.1 and m.param2 != 21196:
                    self._ack(c, mav.MAV_RESULT_FAILED)  # refuse to disarm in flight unless forced
                    return
                self.armed = False
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_NAV_TAKEOFF:
            if not self.armed or self.mode != COPTER_MODES["GUIDED"]:
                self._ack(c, mav.MAV_RESULT_FAILED)
                return
            self.takeoff_alt = float(m.param7)
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._ack(c, mav.MAV_RESULT_ACCEPTED if self.set_mode(COPTER_MODES["RTL"]) else mav.MAV_RESULT_FAILED)
        elif c == mav.MAV_CMD_DO_SET_MISSION_CURRENT:
            ok = self.mission_server.set_current(int(m.param1))
            self._ack(c, mav.MAV_RESULT_ACCEPTED if ok else mav.MAV_RESULT_DENIED)
        elif c == mav.MAV_CMD_BATTERY_RESET:
            # as ArduPilot: the remaining charge set to param2 percent, the failsafe cleared (a fresh battery)
            self.battery.reset(m.param2)
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
        elif c == mav.MAV_CMD_REQUEST_MESSAGE:
            no_home = int(m.param1) == mav.MAVLINK_MSG_ID_HOME_POSITION and not self.gps_ok()
            self._ack(c, mav.MAV_RESULT_FAILED if no_home else mav.MAV_RESULT_ACCEPTED)
            if int(m.param1) == mav.MAVLINK_MSG_ID_HOME_POSITION:
                if self.gps_ok():  # as ArduPilot: no home before the first fix
                    self._send_home_position()
            elif int(m.param1) == mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
                caps = (mav.MAV_PROTOCOL_CAPABILITY_MISSION_INT | mav.MAV_PROTOCOL_CAPABILITY_MAVLINK2
                        | mav.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE | mav.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
                        | mav.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                        | (mav.MAV_PROTOCOL_CAPABILITY_FTP if self.o.ftp else 0))
                self.send(mav.MAVLink_autopilot_version_message(caps, (4 << 24) | (7 << 16) | 255, 0, 0, 0,
                                                                [0] * 8, [0] * 8, [0] * 8, 0, 0, 0))
        elif c == mav.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN:
            self._ack(c, mav.MAV_RESULT_ACCEPTED)
            if int(m.param1) == 1 and not self.armed:
                self.link.flush()
                self._reboot.set()
        else:
            self._ack(c, mav.MAV_RESULT_UNSUPPORTED)

    def _prearm_failure(self) -> str | None:
        if not self.gps_ok():
            return "GPS 1: Bad fix"
        if not self.ekf_ready():
            return "EKF3 waiting for GPS config data"
        return self.battery.prearm_failure()

    def set_mode(self, mode: int) -> bool:
        if mode not in COPTER_MODES.values():
            return False
        if mode == COPTER_MODES["AUTO"] and len(self.missions[0]) <= 1:
            self.statustext("Mode change to AUTO failed: no mission")
            return False
        if mode == COPTER_MODES["GUIDED"] and not self.gps_ok():
            self.statustext("Mode change to GUIDED failed: requires position")
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

    def _send_home_position(self):
        lat, lon, alt = self.home
        self.send(mav.MAVLink_home_position_message(int(lat * 1e7), int(lon * 1e7), int(alt * 1000), 0, 0, 0,
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
            it = items[self.current]
            cmd = it.command
            if cmd == CMD_NAV_TAKEOFF:  # climb where we are
                self.target = (self.lat, self.lon, max(it.alt_m, self.alt_rel))
                return
            if cmd in (CMD_NAV_WAYPOINT, CMD_NAV_LAND):  # lat/lon 0 = here
                lat, lon = (it.lat_deg, it.lon_deg) if (it.lat_deg or it.lon_deg) else (self.lat, self.lon)
                alt = it.alt_m if cmd == CMD_NAV_WAYPOINT else 0.0
                if it.frame == FRAME_GLOBAL:  # AMSL
                    alt = it.alt_m - self.home[2]
                self.target = (lat, lon, alt)
                return
            if cmd == CMD_NAV_RETURN_TO_LAUNCH:  # inside AUTO (the mode stays AUTO, as Copter's)
                self.target = None
                self.rtl_stage = "climb"
                return
            if cmd == CMD_DO_CHANGE_SPEED and it.param2 > 0:
                self.speed = it.param2
            elif cmd == CMD_DO_SET_CAM_TRIGG_DIST:
                self.trig_dist, self.trig_acc = max(0.0, it.param1), 0.0
                if it.param3 == 1:
                    self._trigger()
            elif cmd == CMD_DO_DIGICAM_CONTROL:  # one picture
                self._face_roi()
                self._trigger()
            elif cmd == CMD_DO_SET_ROI_LOCATION:
                self.roi = (it.lat_deg, it.lon_deg)
            elif cmd == CMD_DO_SET_ROI_NONE:
                self.roi = None
            self.current += 1
        self.target = None  # end of mission: hold position

    def mission_current(self):
        """MISSION_CURRENT as ArduPilot sends it: the current item, the mission's size without home, its state
        (no mission, not started, active, or complete: the last item flown, the copter holding there) and whether
        the mode flies the mission."""
        items = self.missions[0]
        if len(items) <= 1:
            state = mav.MISSION_STATE_NO_MISSION
        elif self.current >= len(items):
            state = mav.MISSION_STATE_COMPLETE
        elif self.mode == COPTER_MODES["AUTO"]:
            state = mav.MISSION_STATE_ACTIVE
        else:
            state = mav.MISSION_STATE_NOT_STARTED
        return mav.MAVLink_mission_current_message(self.current, max(0, len(items) - 1), state,
                                                   int(self.mode == COPTER_MODES["AUTO"]))

    def _reached(self):
        self.send(mav.MAVLink_mission_item_reached_message(self.current))
        self.current += 1
        self._start_item()

    def _trigger(self):
        self.image_index += 1
        self.send(mav.MAVLink_camera_feedback_message(
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
        self.statustext("Disarming motors")

    # --- battery ------------------------------------------------------------------------------
    def battery_failsafe(self, level: int) -> None:
        """ArduCopter on a battery failsafe level: the warning, then disarm on the ground (or in the first
        seconds after arming), else the level's action (Copter::handle_battery_failsafe)."""
        self.statustext(self.battery.failsafe_text(level), mav.MAV_SEVERITY_WARNING)
        action = self.battery.action(level)
        on_ground = self.alt_rel <= 0.05 and not self.takeoff_alt
        if on_ground or self.t_sim - self.armed_at < ARMING_DELAY_S:
            self.armed = False
            self.takeoff_alt = self.target = self.rtl_stage = None
            self.statustext("Battery Failsafe - Disarming", mav.MAV_SEVERITY_WARNING)
        elif action == FS_ACT_TERMINATE:
            self.armed, self.alt_rel = False, 0.0  # motors stop: it falls
            self.takeoff_alt = self.target = self.rtl_stage = None
        elif action == FS_ACT_LAND:
            self.set_mode(COPTER_MODES["LAND"])
        elif action != FS_ACT_NONE:  # RTL, and SmartRTL (which the stand-in flies as RTL)
            if self.mode != COPTER_MODES["LAND"]:  # a landing is never turned into a return
                self.set_mode(COPTER_MODES["RTL"])

    def _substep(self, dt):
        flying = self.armed and self.alt_rel > 0.05
        if self.armed:
            level = self.battery.step(dt, self.t_sim, flying)
            if level is not None:
                self.battery_failsafe(level)
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
                landing = self.target[2] <= 0 and self.missions[0][self.current].command == CMD_NAV_LAND
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
                self.statustext("Disarming motors")
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
        self.mission_server.step()
        if self.t_sim - self.last_hb >= 1.0:
            self.last_hb = self.t_sim
            base = BASE_MODE_DISARMED | (mav.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0)
            # as ArduCopter (vehicle_system_status): critical while a failsafe has triggered, armed or not
            state = mav.MAV_STATE_CRITICAL if self.battery.failsafe else (mav.MAV_STATE_ACTIVE if self.armed else
                                                                  mav.MAV_STATE_STANDBY)
            self.send(mav.MAVLink_heartbeat_message(mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                                    self.mode, state, 3))
        if self.current != self.last_current_sent and self.link.connected:
            self.last_current_sent = self.current
            self.send(self.mission_current())
        period = max(0.25, 0.05 * self.o.speedup)  # telemetry: 4 Hz, at most ~20 Hz of real time
        if self.streams and self.t_sim - self.last_tel >= period:
            self.last_tel = self.t_sim
            self._telemetry()

    def _telemetry(self):
        fix = self.gps_ok()
        lat, lon = (int(round(self.lat * 1e7)), int(round(self.lon * 1e7))) if fix else (0, 0)
        self.send(mav.MAVLink_global_position_int_message(
            int(self.t_sim * 1000) & 0xFFFFFFFF, lat, lon, int((self.home[2] + self.alt_rel) * 1000) if fix else 0,
            int(self.alt_rel * 1000) if fix else 0, 0, 0, 0, int(self.yaw * 100)))
        self.send(mav.MAVLink_gps_raw_int_message(int(self.t_sim * 1e6), 3 if fix else 1, lat, lon, 0, 100, 100,
                                                  0, 0, 10 if fix else 0))
        # present and enabled always; the pre-arm check healthy once it would arm, the battery healthy until its
        # failsafe (as ArduPilot's GCS_MAVLINK: !battery.has_failsafed())
        present = SENSOR_PREARM | SENSOR_BATTERY
        b = self.battery
        health = (SENSOR_PREARM if self.ekf_ready() else 0) | (0 if b.failsafe else SENSOR_BATTERY)
        amps = b.amps(self.armed, self.armed and self.alt_rel > 0.05)
        self.send(mav.MAVLink_sys_status_message(present, present, health, 0, int(b.volts * 1000), int(amps * 100),
                                                 b.pct, 0, 0, 0, 0, 0, 0))
        charge_state = {FS_NONE: mav.MAV_BATTERY_CHARGE_STATE_OK, FS_LOW: mav.MAV_BATTERY_CHARGE_STATE_LOW,
                        FS_CRITICAL: mav.MAV_BATTERY_CHARGE_STATE_CRITICAL}[b.failsafe]
        self.send(mav.MAVLink_battery_status_message(
            0, mav.MAV_BATTERY_FUNCTION_UNKNOWN, mav.MAV_BATTERY_TYPE_LIPO, 32767,
            [int(b.volts * 1000)] + [65535] * 9, int(amps * 100), int(b.used_mah), -1, b.pct, 0, charge_state))
        self.send(self.mission_current())


class VehicleHandle:
    """What ``start_vehicle`` returns: ``connection_string``, ``stop()``, ``reboot()``, ``set_faults()``,
    ``set_options()``, and the vehicle."""

    def __init__(self, vehicle: TestVehicle, thread: threading.Thread, port: int | None, host: str | None,
                 pty_path: str | None = None):
        self.vehicle, self.thread, self.port = vehicle, thread, port
        # a pseudo-terminal is a serial port: connect as to a radio (the baud rate does not matter to it)
        self.connection_string = f"{pty_path},57600" if pty_path else f"tcp:{host}:{port}"

    @property
    def faults(self) -> Faults:
        return self.vehicle.faults.faults

    def set_faults(self, **changes) -> Faults:
        """Change the running vehicle's faults (the fields of :class:`Faults`), e.g. ``set_faults(loss=1.0)``: the
        vehicle goes silent (and deaf). What a fault has already done (a reboot, lost take-offs) is not replayed."""
        from dronectl.errors import InputError

        try:
            new = replace(self.faults, **changes)
        except TypeError as exc:
            raise InputError(f"set_faults: {exc}") from None
        self.vehicle.faults.faults = new
        return new

    def set_options(self, **changes) -> VehicleOptions:
        """Change the running vehicle's options (the fields of :class:`VehicleOptions`), e.g. ``ekf_delay_s=0``."""
        from dronectl.errors import InputError

        try:
            new = replace(self.vehicle.options, **changes)
        except TypeError as exc:
            raise InputError(f"set_options: {exc}") from None
        self.vehicle.options = new
        return new

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

    ``options`` are :class:`VehicleOptions` fields (``gps_delay_s``, ``ekf_delay_s``, ``storage_delay_s``,
    ``capacity``, ``battery_pct``, ``battery_s``, ``params={"BATT_LOW_MAH": 500}``...) and :class:`Faults` fields
    (``loss``, ``duplicate``, ``delay_ms``, ``seed``, ``reboot_at_item``, ``lose_takeoffs``, ``ignore``,
    ``lose_first``), or ``faults=Faults(...)``.
    """
    from dronectl.errors import InputError

    where = parse_listen(listen)
    home = tuple(float(v) for v in home)
    if len(home) == 2:
        home = (*home, 0.0)
    faults = options.pop("faults", None) or Faults()
    unknown = sorted(set(options) - OPTION_FIELDS - FAULT_FIELDS)
    if unknown:
        raise InputError(f"start_vehicle: no option '{unknown[0]}'")
    faults = replace(faults, **{k: v for k, v in options.items() if k in FAULT_FIELDS})
    v = TestVehicle(VehicleOptions(home=home, speedup=float(speedup),
                                   **{k: v for k, v in options.items() if k in OPTION_FIELDS}), faults)
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
