"""The physical ranges of the numbers users give, and the one function that checks them.

Every number the core receives (an option, a field of a camera file, a plan's parameters) goes
through :func:`check_range` in the ``__post_init__`` of the dataclass that receives it, so the CLI, the
Python API and the web app refuse the same values with the same words::

    --front-overlap 99.99: must be between 0 and 95 %

The label is the command-line option when there is one, so a pilot knows what to change.
"""

from __future__ import annotations

import math
from numbers import Real

from dronectl.errors import InputError

# (low, high, unit): inclusive ranges shared by the planner and the preflight checks.
ALTITUDE_M = (10.0, 120.0, "m")  # above ground; below 10 m a survey photo leg is not a survey
GSD_CM = (0.05, 100.0, "cm/px")
OVERLAP_PCT = (0.0, 95.0, "%")
ANGLE_DEG = (-360.0, 360.0, "degrees")
SPEED_MPS = (1.0, 20.0, "m/s")  # ArduCopter WPNAV_SPEED tops out at 20 m/s
TURNAROUND_M = (0.0, 100.0, "m")
TERRAIN_TOLERANCE_M = (0.5, 10.0, "m")
BATTERY_MIN = (1.0, 600.0, "min")  # up to a tethered drone's day
RESERVE_PCT = (0.0, 80.0, "%")
CAPACITY_ITEMS = (10, 65535, "items")  # MAVLink seq is 16-bit; below 10 no sortie fits
VLOS_M = (1.0, 10000.0, "m")
CORRIDOR_WIDTH_M = (1.0, 1000.0, "m")  # plan corridor --width: a bank, a road, a valley floor
MARGIN_M = (0.0, 500.0, "m")
HOME_ALT_M = (-500.0, 9000.0, "m")
GROUND_M = (-500.0, 9000.0, "m")  # ground heights a DEM may hold (AMSL)
CEILING_M = (0.0, 10000.0, "m")
ITEM_ALT_M = (-1000.0, 10000.0, "m")  # a mission item's altitude in a plan file, in any frame
HOLD_S = (0.0, 65535.0, "s")  # NAV_WAYPOINT hold time (ArduPilot stores it as 16 bits)
TRIGGER_M = (0.0, 10000.0, "m")  # DO_SET_CAM_TRIGG_DIST distance (0: stop)


def shown(value) -> str:
    """A number as the user typed it: 99.99, 0, nan, inf, 1e+09."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:g}"


def check_range(label: str, value, limits: tuple, scale: float = 1.0, integer: bool = False) -> None:
    """Raise InputError("LABEL VALUE: must be between LO and HI UNIT") unless ``value * scale`` is a finite
    number in ``limits`` (inclusive). ``scale`` shows fractions as percent (0.8 -> 80)."""
    lo, hi, unit = limits
    ok = isinstance(value, Real) and not isinstance(value, bool) and (not integer or isinstance(value, int))
    v = value * scale if ok else value
    if ok and math.isfinite(v) and lo <= v <= hi:
        return
    if ok:
        raise InputError(f"{label} {shown(v)}: must be between {shown(lo)} and {shown(hi)} {unit}")
    kind = "a whole number" if integer else "a number"
    raise InputError(f"{label} {shown(value)}: must be {kind} between {shown(lo)} and {shown(hi)} {unit}")


def check_flight_limits(p) -> None:
    """The flight settings every pattern takes (survey, corridor, orbit, structure): ``p`` has ``max_altitude_m``,
    ``speed_mps``, ``home_latlon``, ``home_alt_m``, ``battery_min``, ``reserve``, ``capacity``, ``fence_margin_m``
    and ``vlos_m``; each is checked like the option it comes from."""
    check_range("max_altitude_m", p.max_altitude_m, (1.0, 500.0, "m"))
    check_range("--speed", p.speed_mps, SPEED_MPS)
    if p.home_latlon is not None:
        check_range("--home latitude", p.home_latlon[0], (-90.0, 90.0, "degrees"))
        check_range("--home longitude", p.home_latlon[1], (-180.0, 180.0, "degrees"))
    if p.home_alt_m is not None:
        check_range("--home altitude", p.home_alt_m, HOME_ALT_M)
    check_range("--battery-min", p.battery_min, BATTERY_MIN)
    check_range("--reserve", p.reserve, RESERVE_PCT, scale=100.0)
    check_range("--capacity", p.capacity, CAPACITY_ITEMS, integer=True)
    check_range("fence_margin_m", p.fence_margin_m, MARGIN_M)
    check_range("--vlos", p.vlos_m, VLOS_M)
