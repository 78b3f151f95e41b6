"""`.plan` round-trips every Mission the four patterns produce, their plan data included, compared with the
original Mission (not with another reader); and the plan data's own dict round-trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import LineString, box

from dronectl.camera import find_camera
from dronectl.errors import InputError
from dronectl.formats import plan as planfmt
from dronectl.plandata import PlanData
from dronectl.survey import SurveyParams, plan_survey
from dronectl.survey.corridor import plan_corridor
from dronectl.survey.orbit import OrbitParams, plan_orbit
from dronectl.survey.structure import StructureParams, plan_structure
from dronectl.survey.summary import PlanSummary
from tests.survey.test_properties import CENTRE, CX, CY, PROJ

CAM = find_camera("mavic3e")
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_round_trips(plan):
    for m in plan.missions:
        text = planfmt.dumps(m)
        back = planfmt.from_dict(json.loads(text))
        assert back.plan_data == m.plan_data  # every field, geometries exactly
        assert back == m  # items, home, fences, rally, speeds and the plan data
        assert json.loads(planfmt.dumps(back)) == json.loads(text)
        assert PlanData.from_dict(m.plan_data.to_dict()) == m.plan_data
    # the summary record round-trips too, and is the --json object
    assert PlanSummary.from_dict(json.loads(json.dumps(plan.summary.to_dict()))) == plan.summary


@SLOW
@given(st.floats(80, 250), st.floats(60, 150), st.floats(0, 180), st.floats(40, 100), st.booleans(),
       st.sampled_from([25.0, 6.0]))
def test_survey_plans_round_trip(w, h, bearing, alt, crosshatch, battery):
    zone = PROJ.to_lonlat(affinity.rotate(box(CX - w / 2, CY - h / 2, CX + w / 2, CY + h / 2), bearing))
    excl = PROJ.to_lonlat(box(CX + w / 4 - 8, CY - 8, CX + w / 4 + 8, CY + 8))  # off the default take-off point
    assert_round_trips(plan_survey(zone, CAM, SurveyParams(altitude_m=alt, crosshatch=crosshatch,
                                                           battery_min=battery), exclusions_lonlat=excl))


@SLOW
@given(st.floats(150, 600), st.floats(-80, 80), st.floats(10, 60), st.floats(0, 180))
def test_corridor_plans_round_trip(length, bend, width, bearing):
    line = affinity.rotate(LineString([(CX - length / 2, CY), (CX, CY + bend), (CX + length / 2, CY)]), bearing,
                           origin=(CX, CY))
    assert_round_trips(plan_corridor(PROJ.to_lonlat(line), width, CAM, SurveyParams()))


@SLOW
@given(st.floats(10, 100), st.lists(st.floats(10, 100), min_size=1, max_size=4), st.integers(3, 36),
       st.one_of(st.none(), st.floats(-60, 0)))
def test_orbit_plans_round_trip(radius, alts, photos, pitch):
    assert_round_trips(plan_orbit(CAM, OrbitParams(center_latlon=CENTRE[::-1], radius_m=radius,
                                                   altitudes_m=tuple(alts), photos=photos, pitch_deg=pitch,
                                                   battery_min=10.0)))


@SLOW
@given(st.floats(10, 40), st.floats(8, 25), st.floats(8, 30), st.floats(6, 15), st.floats(-20, 0))
def test_structure_plans_round_trip(w, d, height, distance, pitch):
    outline = PROJ.to_lonlat(box(CX, CY, CX + w, CY + d))
    assert_round_trips(plan_structure(outline, CAM, StructureParams(distance_m=distance, height_m=height,
                                                                    pitch_deg=pitch)))


def test_a_plan_without_dronectl_data_reads_with_none():
    m = plan_survey(PROJ.to_lonlat(box(CX, CY, CX + 100, CY + 80)), CAM).missions[0]
    doc = json.loads(planfmt.dumps(m))
    del doc["dronectl"]
    back = planfmt.from_dict(doc)
    assert back.plan_data is None and back.items == m.items


def test_a_survey_written_before_the_pattern_key_reads_as_a_survey():
    m = plan_survey(PROJ.to_lonlat(box(CX, CY, CX + 100, CY + 80)), CAM).missions[0]
    doc = json.loads(planfmt.dumps(m))
    del doc["dronectl"]["pattern"]
    assert planfmt.from_dict(doc).plan_data == m.plan_data


@pytest.mark.parametrize("key, value, expected", [
    ("altitude_m", None, "dronectl data 'altitude_m' is missing"),
    ("area", {"type": "Polygon", "coordinates": [[[1e9, 0], [1, 1], [0, 1], [1e9, 0]]]},
     "dronectl data 'area' is not a GeoJSON geometry in degrees"),
    ("terrain", "yes", "dronectl data 'terrain' must be true or false"),
    ("capacity", 12.5, "dronectl data 'capacity' 12.5: must be a whole number between 10 and 65535 items"),
])
def test_bad_plan_data_is_refused_naming_the_key(key, value, expected):
    m = plan_survey(PROJ.to_lonlat(box(CX, CY, CX + 100, CY + 80)), CAM).missions[0]
    doc = json.loads(planfmt.dumps(m))
    doc["dronectl"][key] = value
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        planfmt.from_dict(doc)
    assert math.isfinite(m.plan_data.grid.gsd_cm)
