"""The flight-time estimate never grows with the speed (issue 19: 1000 m/s used to read longer than 5 m/s)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dronectl.mission import CMD_DO_CHANGE_SPEED, FRAME_MISSION, Mission, MissionItem
from dronectl.timing import estimate_duration_s, path_duration_s
from tests.formats.strategies import missions

speeds = st.floats(0.1, 1e6, allow_nan=False)
points = st.lists(st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000), st.floats(0, 120)), min_size=2,
                  max_size=30)


@settings(max_examples=300, deadline=None)
@given(points, speeds, speeds)
def test_a_path_is_never_slower_at_a_higher_speed(pts, v1, v2):
    slow, fast = sorted((v1, v2))
    assert path_duration_s(np.array(pts), fast) <= path_duration_s(np.array(pts), slow) + 1e-9


@settings(max_examples=150, deadline=None)
@given(missions, speeds, speeds)
def test_a_mission_is_never_slower_at_a_higher_speed(m, v1, v2):
    slow, fast = sorted((v1, v2))
    assert estimate_duration_s(m, fast) <= estimate_duration_s(m, slow) + 1e-9


@settings(max_examples=150, deadline=None)
@given(missions, st.floats(1.0, 20.0), st.floats(1.0, 20.0))
def test_a_faster_do_change_speed_never_lengthens_the_estimate(m, v1, v2):
    slow, fast = sorted((v1, v2))

    def at(v) -> Mission:
        return replace(m, items=(MissionItem(CMD_DO_CHANGE_SPEED, FRAME_MISSION, 1, v, -1, 0),) + tuple(
            it for it in m.items if it.command != CMD_DO_CHANGE_SPEED))
    assert estimate_duration_s(at(fast)) <= estimate_duration_s(at(slow)) + 1e-9


def test_the_issue_case_a_lawnmower_at_1000_mps_is_not_longer_than_at_5():
    # 10 lines of 200 m, 20 m apart: what a hand-edited plan at 1000 m/s was estimated at 70.9 min for
    pts = [(0.0, 0.0, 0.0), (0.0, 0.0, 40.0)]
    for k in range(10):
        xs = (0.0, 200.0) if k % 2 == 0 else (200.0, 0.0)
        pts += [(xs[0], 20.0 * k, 40.0), (xs[1], 20.0 * k, 40.0)]
    pts += [(0.0, 0.0, 40.0), (0.0, 0.0, 0.0)]
    at = {v: path_duration_s(np.array(pts), v) for v in (5.0, 1000.0, 1e6)}
    assert at[1e6] == at[1000.0] < at[5.0]
