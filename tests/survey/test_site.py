"""Site preparation's refusals say the real cause: a zone that measures nothing (a 1 cm polygon, or one in degrees
declared in a metric CRS, which lands far from France) is not blamed on exclusion zones it does not have."""

from __future__ import annotations

import pytest
from pyproj import Transformer
from shapely.geometry import box

from dronectl.camera import find_camera
from dronectl.errors import PlanningError
from dronectl.survey import SurveyParams, plan_survey
from dronectl.survey.corridor import plan_corridor

CAM = find_camera("mavic3e")


def test_a_one_centimetre_zone_says_it_measures_nothing():
    with pytest.raises(PlanningError) as e:
        plan_survey(box(3.3236, 49.3817, 3.3236001, 49.3817001), CAM, SurveyParams(), name="tiny")
    msg = str(e.value)
    assert msg.startswith("zone 'tiny' measures 8") and "m² once projected to EPSG:2154" in msg
    assert "exclusion" not in msg and "draw it larger" in msg


def test_a_zone_in_degrees_declared_lambert93_names_the_crs():
    # what a zone file holding 3.32,49.38 "metres" in EPSG:2154 becomes in longitude/latitude
    to_ll = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    x0, y0 = to_ll.transform(3.3200, 49.3800)
    x1, y1 = to_ll.transform(3.3250, 49.3830)
    with pytest.raises(PlanningError) as e:
        plan_survey(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), CAM, SurveyParams(), name="abbaye")
    msg = str(e.value)
    assert msg.startswith("zone 'abbaye' measures ") and "far from France" in msg
    assert "EPSG:2154" in msg and "EPSG:4326" in msg and "exclusion" not in msg


def test_exclusions_covering_the_zone_are_still_named():
    zone = box(3.3230, 49.3810, 3.3240, 49.3817)
    with pytest.raises(PlanningError, match="the exclusion zones cover the whole area"):
        plan_survey(zone, CAM, SurveyParams(), exclusions_lonlat=zone.buffer(0.001))


def test_a_corridor_is_refused_the_same_way():
    zone = box(3.3230, 49.3810, 3.3240, 49.3817)
    from shapely.geometry import LineString

    line = LineString([(3.3230, 49.3812), (3.3240, 49.3812)])
    with pytest.raises(PlanningError, match="the exclusion zones cover the whole corridor"):
        plan_corridor(line, 20, CAM, SurveyParams(), exclusions_lonlat=zone.buffer(0.001))
