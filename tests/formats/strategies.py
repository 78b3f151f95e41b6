"""Hypothesis strategies: random missions near Soissons (49.38 N, 3.32 E) and an exact comparison."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from dronectl.mission import Home, Mission, MissionItem
from dronectl.plandata import PhotoGrid, PlanData, PlanLimits, SurveyPart

POSITIONED = (16, 22)  # NAV_WAYPOINT, NAV_TAKEOFF
UNPOSITIONED = (20, 206, 178)  # RTL, DO_SET_CAM_TRIGG_DIST, DO_CHANGE_SPEED

lats = st.floats(49.33, 49.43, allow_nan=False)
lons = st.floats(3.27, 3.37, allow_nan=False)
params = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-10, 1000).map(float), st.just(math.nan))


@st.composite
def items(draw) -> MissionItem:
    command = draw(st.sampled_from(POSITIONED + UNPOSITIONED))
    p = [draw(params) for _ in range(4)]
    # the figures a reader checks (dronectl.formats.item_problem) are drawn within their ranges
    if command == 178:
        p[1] = draw(st.one_of(st.floats(1.0, 20.0), st.just(-1.0)))
    elif command == 16:
        p[0] = draw(st.one_of(st.floats(0.0, 65535.0), st.just(math.nan)))
    elif command == 206:
        p[0] = draw(st.one_of(st.floats(0.0, 10000.0), st.just(math.nan)))
    auto = draw(st.booleans())
    if command in POSITIONED:
        return MissionItem(command, draw(st.sampled_from([0, 3, 10])), *p, draw(lats), draw(lons),
                           draw(st.floats(-20.0, 500.0, allow_nan=False)), auto)
    return MissionItem(command, 2, *p, autocontinue=auto)


homes = st.builds(Home, lats, lons, st.floats(0.0, 300.0, allow_nan=False))
missions = st.builds(lambda its, home: Mission(items=tuple(its), home=home), st.lists(items(), max_size=25), homes)


def plan_data_of(zone: str, gsd_cm: float | None = None, duration_s: float | None = None,
                 limits: PlanLimits = PlanLimits()) -> PlanData:
    """The plan data of a small survey named ``zone`` (with a photo grid when ``gsd_cm`` is given)."""
    grid = PhotoGrid(60.0, gsd_cm, 0.8, 0.7, 15.0, 25.0, 80.0, 60.0) if gsd_cm is not None else None
    return PlanData(zone=zone, camera="sim", speed_mps=5.0, limits=limits, part=SurveyPart(0.0), grid=grid,
                    duration_s=duration_s)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_same_items(a: Mission, b: Mission) -> None:
    """Every field of every item equal (NaN equals NaN): stricter than the autopilot tolerances."""
    assert len(a.items) == len(b.items)
    for n, (x, y) in enumerate(zip(a.items, b.items), start=1):
        assert (x.command, x.frame, x.autocontinue) == (y.command, y.frame, y.autocontinue), f"item {n}"
        for f in ("param1", "param2", "param3", "param4", "lat_deg", "lon_deg", "alt_m"):
            assert _same(getattr(x, f), getattr(y, f)), f"item {n} {f}: {getattr(x, f)!r} vs {getattr(y, f)!r}"
