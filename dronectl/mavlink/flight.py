"""Flying a mission: wait for the vehicle, upload and verify, GUIDED, arm, take off, AUTO, follow, land.

``fly`` returns a :class:`FlightRecord`: duration, distance flown, items reached, battery used, the flown track
and every camera event (``CAMERA_FEEDBACK``: where each photo was taken), whether the mission completed, and a
failsafe the vehicle reported (a battery failsafe's STATUSTEXT, a switch to RTL or LAND nobody commanded).
Ctrl-C during the flight says so at once (``say``), commands RTL and follows the vehicle home until it has
landed and disarmed (a second Ctrl-C stops following); a link silent for longer than ``link_timeout_s``, or a
serial device that stops answering, ends with a LinkError that says what the vehicle's own failsafe will do.
The waits before the take-off (a GPS fix, the pre-arm checks) are said too.

Every message received, even while waiting for a command's acknowledgement, goes through one place
(:meth:`_Flight.handle`), so no camera event or position is lost to a wait.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pymavlink import mavutil

from dronectl.errors import DronectlError, LinkError
from dronectl.geo import haversine_m
from dronectl.mavlink import link, transfer, vehicle_state
from dronectl.mavlink.vehicle_state import StateLimits
from dronectl.mission import CMD_NAV_LAND, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF, Mission

M = mavutil.mavlink
COPTER_MODES = {"STABILIZE": 0, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6, "LAND": 9}
MODE_NAMES = {v: k for k, v in COPTER_MODES.items()}
TAKEOFF_ATTEMPTS = 3  # arm + take-off, when the vehicle disarmed itself before the take-off reached it
RTL_LINE = "return to launch commanded; waiting for the landing — Ctrl-C again to stop watching"


class FlightFailed(DronectlError):
    """The vehicle refused a step of the flight (mode, arming, take-off) or the mission read back wrong."""

    exit_code = 5


@dataclass
class CameraEvent:
    """One photo, where the autopilot says it was taken (CAMERA_FEEDBACK)."""

    image_index: int
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    alt_amsl_m: float
    yaw_deg: float
    time_s: float  # vehicle time since take-off


@dataclass
class FlightRecord:
    duration_s: float = 0.0  # vehicle time from take-off command to disarm
    distance_m: float = 0.0
    photos: int = 0
    items_reached: int = 0  # highest mission item reached (1 = first item after home)
    items_total: int = 0
    battery_used_pct: float = 0.0
    interrupted: bool = False  # Ctrl-C: returned to launch before the end
    landed: bool = False
    completed: bool = False  # every item flown, landed, no Ctrl-C and no failsafe
    failsafe: str = ""  # what the vehicle reported when it ended the mission itself (battery failsafe...)
    track: list = field(default_factory=list)  # (time_s, lat, lon, alt_rel_m) at ~1 Hz of vehicle time
    planned_track: list = field(default_factory=list)  # (lat, lon, alt_m) of the mission's positions
    camera_events: list = field(default_factory=list)
    statustexts: list = field(default_factory=list)

    def to_dict(self, track: bool = True) -> dict:
        """Plain data for JSON: metres to 0.1 m, positions to the autopilot's 1e-7 degree."""
        d = asdict(self)
        d["distance_m"] = round(self.distance_m, 1)
        d["track"] = [(t, round(lat, 7), round(lon, 7), round(alt, 1)) for t, lat, lon, alt in self.track]
        d["planned_track"] = [(round(lat, 7), round(lon, 7), round(alt, 2)) for lat, lon, alt in self.planned_track]
        for ev in d["camera_events"]:
            ev.update(lat_deg=round(ev["lat_deg"], 7), lon_deg=round(ev["lon_deg"], 7),
                      alt_rel_m=round(ev["alt_rel_m"], 1), alt_amsl_m=round(ev["alt_amsl_m"], 1))
        if track:
            d["track"] = d["track"][:: max(1, len(d["track"]) // 1000)]
        else:
            d.pop("track")
            d.pop("planned_track")
        return d


class _Flight:
    def __init__(self, master, mission: Mission, progress, link_timeout_s: float, say=None):
        self.master, self.mission, self.progress = master, mission, progress
        self.say = say or (lambda text: None)
        self.in_auto = False  # AUTO commanded: a switch to RTL/LAND we did not command is the vehicle's own
        self.commanded_mode = None
        self.alerts = []  # failsafe and battery STATUSTEXTs, in order
        self.link_timeout_s = link_timeout_s
        self.rec = FlightRecord(items_total=len(mission.items), planned_track=mission.positions())
        self.last_msg_t = time.monotonic()
        self.pos = None  # (lat, lon, alt_rel)
        self.vehicle_t = None  # seconds, from the vehicle's boot clock
        self.t0 = None
        self.started = False
        self.armed = False
        self.heartbeats = 0
        self.mode = None
        self.battery0 = None
        self.images = set()
        self.last_progress = 0.0

    # --- receiving ---------------------------------------------------------------------------
    def pump(self, timeout_s: float = 0.1):
        """Receive and handle one message (or None after ``timeout_s``); LinkError when the link is lost."""
        try:
            msg = self.master.recv_match(blocking=True, timeout=timeout_s)
        except OSError:  # pyserial's SerialException (a radio unplugged, a pty closed), a reset socket
            raise self.link_lost("the link stopped answering") from None
        except LinkError:  # a TCP connection the vehicle closed (dronectl.mavlink.link)
            raise self.link_lost("the vehicle closed the connection") from None
        now = time.monotonic()
        if msg is None or msg.get_srcSystem() != self.master.target_system:
            if now - self.last_msg_t > self.link_timeout_s:
                raise self.link_lost(f"nothing from the vehicle for more than {self.link_timeout_s:g} s")
            return None
        self.last_msg_t = now
        self.handle(msg)
        return msg

    def link_lost(self, what: str) -> LinkError:
        """The one line for a lost link: what happened, and what the vehicle's own failsafe will do."""
        if not self.started or not self.armed:
            then = "the vehicle is on the ground and stays there"
        elif self.mode in (COPTER_MODES["RTL"], COPTER_MODES["LAND"]):
            then = f"the vehicle goes on with its {'return to launch' if self.mode == COPTER_MODES['RTL'] else 'landing'}"
        elif not self.in_auto:
            then = ("the vehicle's own failsafe takes over (ArduCopter: RTL when FS_GCS_ENABLE is set, else it "
                    "holds its mode)")
        else:
            last = self.mission.items[-1].command if self.mission.items else None
            end = {CMD_NAV_RETURN_TO_LAUNCH: "which ends with a return to launch",
                   CMD_NAV_LAND: "which ends with a landing"}.get(last, "which ends in the air (then it hovers)")
            then = (f"the vehicle flies on under its own failsafe: it goes on with the mission, {end}, or returns "
                    "now if its GCS failsafe (FS_GCS_ENABLE) is set")
        return LinkError(f"link lost: {what}; {then}")

    def send_command(self, command, confirmation, params) -> None:
        try:
            self.master.mav.command_long_send(self.master.target_system, self.master.target_component, command,
                                              confirmation, *params)
        except OSError:
            raise self.link_lost("the link cannot be written to") from None

    def from_home_m(self) -> float:
        home = self.mission.home
        ref = (home.lat_deg, home.lon_deg) if home is not None and (home.lat_deg or home.lon_deg) else (
            (self.rec.track[0][1], self.rec.track[0][2]) if self.rec.track else self.pos[:2])
        return haversine_m(self.pos[0], self.pos[1], *ref)

    def status_text(self) -> str:
        """The progress line's text: distance, photos, battery used (never a negative)."""
        rec = self.rec
        return f"{rec.distance_m:.0f} m, {rec.photos} photos, battery used {max(0.0, rec.battery_used_pct):.0f} %"

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None or self.vehicle_t is None else max(0.0, self.vehicle_t - self.t0)

    def handle(self, msg):
        t = msg.get_type()
        rec = self.rec
        if t == "GLOBAL_POSITION_INT":
            self.vehicle_t = msg.time_boot_ms / 1000.0
            if self.started and self.t0 is None:
                self.t0 = self.vehicle_t
            if msg.lat == 0 and msg.lon == 0:
                return
            pos = (msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1000.0)
            if self.t0 is not None and self.pos is not None and self.armed:
                rec.distance_m += haversine_m(self.pos[0], self.pos[1], pos[0], pos[1])
            self.pos = pos
            if self.t0 is not None and (not rec.track or self.elapsed() - rec.track[-1][0] >= 1.0):
                rec.track.append((round(self.elapsed(), 2), pos[0], pos[1], round(pos[2], 2)))
        elif t == "MISSION_ITEM_REACHED":
            if self.t0 is not None:
                rec.items_reached = max(rec.items_reached, min(msg.seq, rec.items_total))
        elif t == "MISSION_CURRENT":
            # the vehicle says its mission is complete (ArduPilot streams this, so one lost message does not hide
            # it, where the last MISSION_ITEM_REACHED, sent once, may be lost): every item was flown
            if self.t0 is not None and self.in_auto and getattr(msg, "mission_state", 0) == M.MISSION_STATE_COMPLETE:
                rec.items_reached = rec.items_total
        elif t == "CAMERA_FEEDBACK":
            if msg.img_idx in self.images or self.t0 is None:
                return  # a duplicate, or a photo from before this flight
            self.images.add(msg.img_idx)
            rec.camera_events.append(CameraEvent(msg.img_idx, msg.lat / 1e7, msg.lng / 1e7, round(msg.alt_rel, 2),
                                                 round(msg.alt_msl, 2), round(msg.yaw, 1), round(self.elapsed(), 2)))
            rec.photos = len(rec.camera_events)
        elif t == "SYS_STATUS":
            if msg.battery_remaining >= 0:
                if self.battery0 is None:
                    self.battery0 = msg.battery_remaining
                if self.t0 is not None:
                    rec.battery_used_pct = float(max(0, self.battery0 - msg.battery_remaining))
        elif t == "HEARTBEAT" and msg.get_srcComponent() == self.master.target_component:
            self.armed = bool(msg.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
            self.heartbeats += 1
            if (self.in_auto and self.armed and msg.custom_mode != self.mode and msg.custom_mode in
                    (COPTER_MODES["RTL"], COPTER_MODES["LAND"]) and msg.custom_mode != self.commanded_mode
                    and not rec.failsafe):
                name = MODE_NAMES[msg.custom_mode]
                rec.failsafe = (f"{self.alerts[-1]}: " if self.alerts else "") + f"the vehicle switched to {name}"
                self.say(f"failsafe: {rec.failsafe} by itself; the mission will not complete")
            self.mode = msg.custom_mode
        elif t == "STATUSTEXT":
            rec.statustexts.append(msg.text)
            low = msg.text.lower()
            if "failsafe" in low or ("battery" in low and ("low" in low or "critical" in low)):
                if msg.text not in self.alerts:
                    self.alerts.append(msg.text)
                    self.say(f"the vehicle reports: {msg.text}")
        if self.progress and self.t0 is not None and time.monotonic() - self.last_progress > 0.1:
            self.last_progress = time.monotonic()
            self.progress(rec.items_reached, rec.items_total,
                          self.status_text())

    # --- commands ----------------------------------------------------------------------------
    def command(self, command, *params, timeout_s=1.5, retries=3):
        """COMMAND_LONG with retries; the result, or None without an answer."""
        p = list(params) + [0.0] * (7 - len(params))
        for confirmation in range(retries):
            self.send_command(command, confirmation, p)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = self.pump(0.1)
                if msg is not None and msg.get_type() == "COMMAND_ACK" and msg.command == command:
                    if msg.result == M.MAV_RESULT_IN_PROGRESS:
                        deadline = time.monotonic() + timeout_s
                        continue
                    return msg.result
        return None

    def set_mode(self, name: str) -> None:
        self.commanded_mode = COPTER_MODES[name]
        result = self.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, COPTER_MODES[name])
        if result != M.MAV_RESULT_ACCEPTED:
            why = self._last_text() or ("no answer" if result is None else f"result {result}")
            raise FlightFailed(f"the vehicle refused {name} mode ({why})")

    def _disarmed(self, timeout_s: float = 3.0) -> bool:
        """Whether the vehicle's next heartbeat says it is disarmed (False without a heartbeat)."""
        seen, deadline = self.heartbeats, time.monotonic() + timeout_s
        while self.heartbeats == seen and time.monotonic() < deadline:
            self.pump(0.1)
        return self.heartbeats != seen and not self.armed

    def _last_text(self) -> str:
        return self.rec.statustexts[-1] if self.rec.statustexts else ""

    def wait_fix(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self.pump(0.2)
        if self.pos is None:
            self.say("waiting for a GPS fix")
        while self.pos is None:
            if time.monotonic() > deadline:
                raise FlightFailed(f"no GPS position within {timeout_s:g} s: wait for a fix (outdoors, clear sky) "
                                   "and retry")
            self.pump(0.2)

    def arm(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        said, refusals = None, 0
        while True:
            seen = len(self.rec.statustexts)
            if self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout_s=1.0, retries=1) == M.MAV_RESULT_ACCEPTED:
                self.armed = True  # until a heartbeat says otherwise
                return
            refusals += 1
            if time.monotonic() > deadline:
                why = next((s for s in reversed(self.rec.statustexts) if "arm" in s.lower()), "")
                raise FlightFailed(f"the vehicle refused to arm for {timeout_s:g} s"
                                   f"{f' ({why})' if why else ' (pre-arm checks)'}")
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                self.pump(0.1)
            # the vehicle's reason comes as a STATUSTEXT after its refusal: say it, and say it again when it changes
            prearm = next((t for t in reversed(self.rec.statustexts[seen:]) if t.lower().startswith("prearm")),
                          None) or (said or ("the vehicle refuses to arm (no reason given)" if refusals >= 2 else None))
            if prearm is not None and prearm != said:
                said = prearm
                self.say(f"waiting for the pre-arm checks: {prearm}")

    # --- the flight --------------------------------------------------------------------------
    def take_off(self, alt_m: float) -> None:
        self.set_mode("GUIDED")
        for attempt in range(TAKEOFF_ATTEMPTS):
            self.arm(self.arm_timeout_s)
            self.started = True  # the clock starts with the next position report
            result = self.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, alt_m)
            if result == M.MAV_RESULT_ACCEPTED:
                break
            # ArduCopter disarms by itself after DISARM_DELAY (10 s) armed on the ground: a lossy link that kept
            # the take-off from it that long finds it disarmed. Arm again and retry; any other refusal is final.
            if attempt + 1 == TAKEOFF_ATTEMPTS or not self._disarmed():
                raise FlightFailed(f"the vehicle refused to take off ({self._last_text() or result})")
        while self.pos is None or self.pos[2] < min(alt_m * 0.9, alt_m - 1.0):
            self.pump(0.1)
            if not self.armed and self.elapsed() > 3.0:
                raise FlightFailed(f"the vehicle disarmed during take-off ({self._last_text() or 'no reason given'})")
        self.set_mode("AUTO")
        self.in_auto = True

    def follow(self) -> FlightRecord:
        rec = self.rec
        last = self.mission.items[-1].command if self.mission.items else None
        ends_itself = last in (CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_LAND)
        rtl_sent = rec.interrupted
        next_line_t = 0.0
        while True:
            try:
                self.pump(0.1)
                if not self.armed and self.elapsed() > 1.0:
                    rec.landed = True
                    if self.pos is not None:  # where it landed
                        rec.track.append((round(self.elapsed(), 2), self.pos[0], self.pos[1], round(self.pos[2], 2)))
                    if (ends_itself and not rec.interrupted and not rec.failsafe and not rtl_sent
                            and self.mode == COPTER_MODES["AUTO"]):
                        # in AUTO a copter lands and disarms only at the mission's final RTL/LAND: every item was
                        # flown, even if a MISSION_ITEM_REACHED was lost (none comes for the final RTL)
                        rec.items_reached = rec.items_total
                    rec.completed = rec.items_reached >= rec.items_total and not rec.interrupted and not rec.failsafe
                    break
                if rec.interrupted and self.pos is not None and self.elapsed() >= next_line_t:
                    next_line_t = self.elapsed() + 5.0  # vehicle seconds: a line every 5 s of the return
                    self.say(f"returning to launch: {self.from_home_m():.0f} m from home, {self.pos[2]:.0f} m up")
                if not rtl_sent and not ends_itself and rec.items_reached >= rec.items_total:
                    self.set_mode("RTL")  # the mission ends in the air: bring it home
                    rtl_sent = True
            except KeyboardInterrupt:
                if rec.interrupted:
                    raise  # a second Ctrl-C: stop following (the vehicle goes on with its RTL)
                rec.interrupted = True
                self.say(RTL_LINE)
                try:
                    self.set_mode("RTL")
                except KeyboardInterrupt:
                    raise
                rtl_sent = True
        rec.duration_s = round(self.elapsed(), 1)
        if self.progress:
            self.progress(rec.items_reached, rec.items_total,
                          self.status_text())
        return rec


def takeoff_altitude(mission: Mission, default_m: float = 10.0) -> float:
    return next((i.alt_m for i in mission.items if i.command == CMD_NAV_TAKEOFF and i.alt_m > 0), default_m)


def fly(conn: str, mission: Mission, progress=None, log_path: Path | str | None = None, verify: bool = True,
        heartbeat_timeout_s: float = 30.0, fix_timeout_s: float = 120.0, arm_timeout_s: float = 120.0,
        link_timeout_s: float = 5.0, upload_progress=None, limits: StateLimits | None = StateLimits(),
        override=None, say=None, identify=None) -> FlightRecord:
    """Fly ``mission`` on the vehicle at ``conn`` and return its FlightRecord.

    ``progress(items_reached, items_total, text)`` is called as the flight goes; ``log_path`` records the
    telemetry as a .tlog. Before anything moves, the vehicle's position, GPS fix, home and battery are checked
    against the plan (:mod:`dronectl.mavlink.vehicle_state`, ``limits``; None skips it); ``override(problems)``
    may let it go on (the CLI's ``--force --reason``). ``say(text)`` hears the waits ("waiting for a GPS fix",
    "waiting for the pre-arm checks: ..."), the Ctrl-C line and the failsafes the vehicle reports. Raises
    VehicleNotReady, FlightFailed, MissionRejected or LinkError with a sentence for the pilot.
    ``identify(master)``, when given, is called once the vehicle has a fix, before its state is checked (the
    application layer asks the vehicle who it is there, and runs the register's gate).
    """
    vehicle_state.require_items(mission)
    master = link.connect(conn, heartbeat_timeout_s)
    try:
        if log_path:
            master.setup_logfile(str(log_path), mode="wb")
        link.request_streams(master)
        f = _Flight(master, mission, progress, link_timeout_s, say)
        f.arm_timeout_s = arm_timeout_s
        f.wait_fix(fix_timeout_s)
        if identify is not None:
            identify(master)
        if limits is not None:
            vehicle_state.check(master, mission, limits, override)
        transfer.upload(master, mission, progress=upload_progress)
        if verify:  # before arming: what the vehicle holds now (its plan id where it gives one, else a read-back)
            diffs = transfer.differences_on_board(master, mission)
            if diffs:
                raise FlightFailed(f"the vehicle does not hold the plan it was sent ({diffs[0]}"
                                   f"{f' and {len(diffs) - 1} more' if len(diffs) > 1 else ''}); not flying it",
                                   details=diffs)
        link.request_streams(master)
        try:
            f.take_off(takeoff_altitude(mission))
        except KeyboardInterrupt:
            if not f.armed:
                raise
            f.rec.interrupted = True  # Ctrl-C during the climb: come back
            f.say(RTL_LINE)
            f.set_mode("RTL")
        return f.follow()
    finally:
        if getattr(master, "logfile", None):
            master.logfile.flush()
        master.close()
