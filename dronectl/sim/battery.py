"""The built-in vehicle's battery and ArduPilot's battery monitor: charge, voltage, the ``BATT_*`` parameters,
the two failsafe levels (AP_BattMonitor) and the pre-arm battery checks. What the vehicle does on a level
(RTL, LAND, disarm) is the vehicle's (:meth:`dronectl.sim.vehicle.TestVehicle.battery_failsafe`).

ArduCopter's firmware defaults are BATT_CAPACITY 3300, BATT_LOW_VOLT 10.5, BATT_LOW_TIMER 10 and 0 for the rest (no
critical level, and a failsafe that only warns). The built-in vehicle comes set up as ArduPilot's wiki recommends
("a reasonable setup"): BATT_FS_LOW_ACT 2 (RTL), BATT_FS_CRT_ACT 1 (Land), and a critical level, BATT_CRT_VOLT
10.2 V. Its 3S battery reads 12.6 V full, 10.5 V at 10 % and 10.2 V at 5 % (:func:`battery_voltage`).

Where it differs from ArduPilot: the monitor knows the true charge, as a smart battery does (an analog monitor
would start at 100 % whatever the battery holds), and an empty battery (0 %) is always critical and never arms.
"""

from __future__ import annotations

BATTERY_PARAMS = {  # the parameters the vehicle has (first battery), with the values it starts with
    "BATT_MONITOR": 4.0,  # analog voltage and current
    "BATT_CAPACITY": 3300.0,  # mAh
    "BATT_LOW_VOLT": 10.5,  # V, held BATT_LOW_TIMER seconds: low
    "BATT_LOW_MAH": 0.0,  # mAh remaining: low (0: off)
    "BATT_CRT_VOLT": 10.2,  # V, held BATT_LOW_TIMER seconds: critical (firmware default 0: off)
    "BATT_CRT_MAH": 0.0,  # mAh remaining: critical (0: off)
    "BATT_FS_LOW_ACT": 2.0,  # 0 none, 1 Land, 2 RTL, 3 SmartRTL or RTL, 4 SmartRTL or Land, 5 terminate (firmware: 0)
    "BATT_FS_CRT_ACT": 1.0,  # the same values (firmware default 0)
    "BATT_LOW_TIMER": 10.0,  # s
}
INT_PARAMS = frozenset({"BATT_MONITOR", "BATT_CAPACITY", "BATT_LOW_MAH", "BATT_CRT_MAH", "BATT_FS_LOW_ACT",
                        "BATT_FS_CRT_ACT", "BATT_LOW_TIMER"})
FS_NONE, FS_LOW, FS_CRITICAL = 0, 1, 2
FS_ACT_NONE, FS_ACT_LAND, FS_ACT_RTL, FS_ACT_TERMINATE = 0, 1, 2, 5
# a 3S LiPo's voltage against its charge (per cell): 4.2 V full, 3.5 V at 10 %, 3.4 V at 5 %, 3.0 V empty
_CELL_CURVE = ((0.0, 3.0), (0.05, 3.4), (0.10, 3.5), (0.20, 3.65), (0.50, 3.8), (0.80, 3.95), (1.0, 4.2))
CELLS = 3
GROUND_DRAW = 0.1  # armed on the ground: a tenth of the flying draw


def battery_voltage(charge: float) -> float:
    """The battery's voltage at ``charge`` (0-1), interpolated on a LiPo curve."""
    for (c0, v0), (c1, v1) in zip(_CELL_CURVE, _CELL_CURVE[1:]):
        if charge <= c1:
            return CELLS * (v0 + (v1 - v0) * (max(charge, c0) - c0) / (c1 - c0))
    return CELLS * _CELL_CURVE[-1][1]


def check_param_names(names) -> None:
    from dronectl.errors import InputError

    unknown = sorted(set(names) - set(BATTERY_PARAMS))
    if unknown:
        raise InputError(f"the built-in vehicle has no parameter {unknown[0]} (it has {', '.join(BATTERY_PARAMS)})")


class Battery:
    """Charge (kept across reboots, as a real battery), parameters (kept too) and the failsafe state (reset by a
    reboot or ``MAV_CMD_BATTERY_RESET``)."""

    def __init__(self, pct: float, flight_s: float, params: dict | None = None):
        self.charge = pct / 100.0
        self.flight_s = flight_s  # simulated seconds of flight on a full battery
        self.params = {**BATTERY_PARAMS, **{k: float(v) for k, v in (params or {}).items()}}
        self.boot()

    def boot(self) -> None:
        self.failsafe = FS_NONE  # the level reached (only a worse one acts again)
        self.low_since = self.crt_since = None  # simulated time the voltage went under each level
        self.charge_at_boot = self.charge

    def reset(self, pct: float) -> None:
        """MAV_CMD_BATTERY_RESET, as ArduPilot: the remaining charge set, the failsafe cleared."""
        self.charge = max(0.0, min(1.0, pct / 100.0))
        self.boot()

    def set_param(self, name: str, value: float) -> bool:
        if name not in self.params:
            return False
        self.params[name] = float(round(value)) if name in INT_PARAMS else float(value)
        return True

    # --- what the monitor reports ----------------------------------------------------------------
    @property
    def volts(self) -> float:
        return battery_voltage(self.charge)

    @property
    def pct(self) -> int:
        return int(round(self.charge * 100))

    @property
    def remaining_mah(self) -> float:
        return self.charge * self.params["BATT_CAPACITY"]

    @property
    def used_mah(self) -> float:
        return max(0.0, self.charge_at_boot - self.charge) * self.params["BATT_CAPACITY"]

    def amps(self, armed: bool, flying: bool) -> float:
        full = (self.params["BATT_CAPACITY"] / 1000.0) / (self.flight_s / 3600.0)
        return full * (1.0 if flying else GROUND_DRAW if armed else 0.0)

    # --- failsafe ----------------------------------------------------------------------------------
    def step(self, dt: float, t_sim: float, flying: bool) -> int | None:
        """Drain for ``dt`` simulated seconds (armed), then ArduPilot's failsafe check (only while armed, as
        AP_BattMonitor): a level is reached when the voltage stays under its BATT_*_VOLT for BATT_LOW_TIMER
        seconds, or at once when the remaining mAh falls under its BATT_*_MAH. The new level when it is worse than
        the last one, else None."""
        self.charge = max(0.0, self.charge - dt / self.flight_s * (1.0 if flying else GROUND_DRAW))
        p, volts = self.params, self.volts

        def held(threshold, since):
            if threshold > 0 and volts < threshold:
                since = t_sim if since is None else since
                return t_sim - since >= p["BATT_LOW_TIMER"], since
            return False, None

        crt_v, self.crt_since = held(p["BATT_CRT_VOLT"], self.crt_since)
        low_v, self.low_since = held(p["BATT_LOW_VOLT"], self.low_since)
        level = FS_NONE
        if crt_v or (p["BATT_CRT_MAH"] > 0 and self.remaining_mah < p["BATT_CRT_MAH"]) or self.charge <= 0:
            level = FS_CRITICAL  # (an empty battery always is: the stand-in's floor)
        elif low_v or (p["BATT_LOW_MAH"] > 0 and self.remaining_mah < p["BATT_LOW_MAH"]):
            level = FS_LOW
        if level > self.failsafe:
            self.failsafe = level
            return level
        return None

    def failsafe_text(self, level: int) -> str:
        """ArduPilot's STATUSTEXT for a level (AP_BattMonitor::check_failsafes)."""
        name = "critical" if level == FS_CRITICAL else "low"
        return f"Battery 1 is {name} {self.volts:.2f}V used {self.used_mah:.0f} mAh"

    def action(self, level: int) -> int:
        """The level's BATT_FS_*_ACT; an empty battery cannot carry it home: it lands."""
        action = int(self.params["BATT_FS_CRT_ACT" if level == FS_CRITICAL else "BATT_FS_LOW_ACT"])
        if self.charge <= 0 and action not in (FS_ACT_LAND, FS_ACT_TERMINATE):
            return FS_ACT_LAND
        return action

    def prearm_failure(self) -> str | None:
        """ArduPilot's battery pre-arm checks (AP_BattMonitor_Backend::arming_checks): the battery under a failsafe
        level now (no timer), or levels set the wrong way round; and the stand-in's floor, an empty battery."""
        p, volts, remaining = self.params, self.volts, self.remaining_mah
        for what, below in (("low voltage", p["BATT_LOW_VOLT"] > 0 and volts < p["BATT_LOW_VOLT"]),
                            ("low capacity", remaining < p["BATT_LOW_MAH"]),
                            ("critical voltage", p["BATT_CRT_VOLT"] > 0 and volts < p["BATT_CRT_VOLT"]),
                            ("critical capacity", remaining < p["BATT_CRT_MAH"])):
            if below:
                return f"Battery 1 {what} failsafe"
        if 0 < p["BATT_LOW_MAH"] <= p["BATT_CRT_MAH"]:
            return "Battery 1 capacity failsafe critical >= low"
        if 0 < p["BATT_LOW_VOLT"] <= p["BATT_CRT_VOLT"]:
            return "Battery 1 voltage failsafe critical >= low"
        if self.charge <= 0:
            return "Battery 1 below minimum arming capacity"
        return None
