"""plan corridor: random centre lines with sharp turns, widths and exclusions near Soissons.

Checked from the written missions and the photos they carry (not from the planner's own figures): the corridor
polygon is imaged at >= 99.5 % by the photos' nadir footprints, every photo line is a simple curve (no loop on the
inside of a bend), no photo line and no leg enters an exclusion zone.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely import union_all
from shapely.geometry import LineString, Point

from dronectl.camera import find_camera
from dronectl.errors import InputError, PlanningError
from dronectl.survey import SurveyParams
from dronectl.survey.corridor import corridor_polygon, offset_lines, plan_corridor, without_loops
from dronectl.survey.extras import survey_extras
from tests.survey.helpers import flown_path_lonlat, photo_legs_lonlat
from tests.survey.test_properties import CX, CY, PROJ


@st.composite
def polylines(draw):
    """A simple polyline of 2-6 legs of 40-400 m, turning by up to 150 degrees at each vertex (metric)."""
    n = draw(st.integers(1, 5))
    heading = draw(st.floats(0, 2 * math.pi))
    pts = [(CX, CY)]
    for k in range(n):
        if k:
            heading += math.radians(draw(st.floats(-150, 150)))
        length = draw(st.floats(40, 400))
        pts.append((pts[-1][0] + length * math.cos(heading), pts[-1][1] + length * math.sin(heading)))
    line = LineString(pts)
    assume(line.is_simple)
    return line


def _coverage(plan, area_m) -> float:
    footprints = [PROJ.to_metric(f) for m in plan.missions for f in survey_extras(m)["footprints"]]
    return union_all(footprints).intersection(area_m).area / area_m.area


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(polylines(), st.floats(8, 180), st.sampled_from(["mavic3e", "p4rtk"]), st.floats(40, 90))
def test_random_corridors_are_covered_without_loops(line_m, width, camera_id, altitude):
    plan = plan_corridor(PROJ.to_lonlat(line_m), width, find_camera(camera_id),
                         SurveyParams(altitude_m=altitude, vlos_m=5000, battery_min=60))
    area_m = corridor_polygon([line_m], width)
    covered = _coverage(plan, area_m)
    assert covered >= 0.995, f"only {covered:.4f} of the corridor is imaged"
    assert abs(covered - plan.summary.coverage) < 0.002
    for m in plan.missions:
        for leg in photo_legs_lonlat(m):
            assert leg.geom_type == "Point" or PROJ.to_metric(leg).is_simple, "a photo line loops"
    assert plan.summary.figures.corridor_length_m == pytest.approx(line_m.length, abs=0.2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(polylines(), st.floats(20, 120), st.floats(0.1, 0.9), st.floats(-60, 60), st.floats(12, 40))
def test_no_photo_line_or_leg_enters_an_exclusion(line_m, width, where, across, radius):
    c = line_m.interpolate(where, normalized=True)
    excl_m = Point(c.x + across, c.y - across / 2).buffer(radius, quad_segs=4)
    home = line_m.interpolate(0.0)
    assume(home.distance(excl_m) > 15)
    try:
        plan = plan_corridor(PROJ.to_lonlat(line_m), width, find_camera("mavic3e"),
                             SurveyParams(altitude_m=50, vlos_m=5000, battery_min=60,
                                          home_latlon=PROJ.lonlat(home.x, home.y)[::-1]),
                             exclusions_lonlat=PROJ.to_lonlat(excl_m))
    except PlanningError as exc:  # the exclusion cuts the corridor in two: refused, with a reason
        assert "exclusion" in str(exc)
        return
    inner = excl_m.buffer(-0.05)
    for m in plan.missions:
        for leg in photo_legs_lonlat(m):
            assert not PROJ.to_metric(leg).intersects(inner)
        path = PROJ.to_metric(LineString(flown_path_lonlat(m)))
        assert path.intersection(inner).length < 0.01


def test_a_hairpin_has_no_loop_inside_and_an_arc_outside():
    line = LineString([(CX, CY), (CX + 300, CY), (CX + 20, CY + 150)])  # a turn of about 152 degrees
    inside = offset_lines(line, 30.0)  # the left side is the inside of this bend
    outside = offset_lines(line, -30.0)
    assert inside and all(p.is_simple for p in inside)
    assert len(outside) == 1 and outside[0].is_simple
    corner = Point(CX + 300, CY)
    # the outside goes round the corner at the offset distance (an arc), not on a mitred spike
    near = [Point(c).distance(corner) for c in outside[0].coords if Point(c).distance(corner) < 60]
    assert len(near) >= 3 and all(d == pytest.approx(30.0, abs=0.6) for d in near)


def test_loops_are_cut_out_of_a_crossing_line():
    looped = LineString([(0, 0), (100, 0), (100, 50), (50, 50), (50, -50), (0, -50)])
    fixed = without_loops(looped)
    assert not looped.is_simple and fixed.is_simple
    assert fixed.coords[0] == (0, 0) and fixed.coords[-1] == (0, -50)


@pytest.mark.parametrize("width", [0.0, -5.0, float("nan")])
def test_a_width_that_is_not_positive_is_refused(width):
    with pytest.raises(InputError, match="--width"):
        plan_corridor(LineString([(3.32, 49.38), (3.33, 49.38)]), width, find_camera("mavic3e"))
