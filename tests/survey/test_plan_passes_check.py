"""Property: whatever the inputs, the planner either refuses them with one of our errors or writes plans that
pass `plan check` (read back from the files, with the checks' defaults) and hold only finite JSON numbers."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dronectl.camera import find_camera
from dronectl.api import check_plan_file
from dronectl.errors import DronectlError
from dronectl.formats import write_sorties
from dronectl.geo import load_airspace
from dronectl.survey import SurveyParams, plan_survey
from tests.survey.test_properties import PROJ, zones

AIRSPACE = load_airspace()  # the shipped Soissons-Courmelles restrictions: ceilings of 30 and 60 m nearby


def _no_constant(name):
    raise AssertionError(f"{name} in a written plan")


@st.composite
def params(draw):
    kw = dict(altitude_m=draw(st.floats(10, 120)), front_overlap=draw(st.floats(0.3, 0.9)),
              side_overlap=draw(st.floats(0.3, 0.85)), speed_mps=draw(st.floats(1, 20)),
              turnaround_m=draw(st.floats(0, 30)), battery_min=draw(st.floats(10, 40)),
              reserve=draw(st.floats(0, 0.5)), capacity=draw(st.integers(60, 700)),
              vlos_m=draw(st.floats(500, 1500)), crosshatch=draw(st.booleans()), portrait=draw(st.booleans()))
    if draw(st.booleans()):
        x, y = PROJ.xy(3.3236, 49.3817)
        a, d = draw(st.floats(0, 2 * math.pi)), draw(st.floats(0, 300))
        lon, lat = PROJ.lonlat(x + d * math.cos(a), y + d * math.sin(a))
        kw["home_latlon"] = (lat, lon)
    return kw


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones(), st.sampled_from(["mavic3e", "p4rtk", "sim"]), params())
def test_every_written_plan_passes_plan_check(case, camera_id, kw):
    zone_m, _, excl_m, angle = case
    try:
        plan = plan_survey(PROJ.to_lonlat(zone_m), find_camera(camera_id), SurveyParams(angle_deg=angle, **kw),
                           exclusions_lonlat=PROJ.to_lonlat(excl_m) if excl_m is not None else None,
                           airspace=AIRSPACE)
    except DronectlError as exc:  # refused: one line of our own
        assert str(exc) and "\n" not in str(exc)
        event("refused")
        return
    event("planned")
    with tempfile.TemporaryDirectory() as d:
        written = write_sorties(plan.missions, Path(d) / "p.plan").written
        for f in written:
            json.loads(f.read_text(), parse_constant=_no_constant)
            violations = check_plan_file(f)  # the plan's own battery, reserve, VLOS and capacity; shipped airspace
            assert violations == [], [v.message for v in violations]
    json.dumps(plan.summary, allow_nan=False)
