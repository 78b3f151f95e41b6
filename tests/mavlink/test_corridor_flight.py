"""A corridor flown end to end: every planned photo taken, on the corridor, the camera off between the lines."""

from __future__ import annotations

from pyproj import Geod
from shapely.geometry import LineString, Point

import pytest

from dronectl.camera import find_camera
from dronectl.mavlink import flight
from dronectl.survey import SurveyParams
from dronectl.survey.corridor import plan_corridor

from .conftest import HOME

pytestmark = pytest.mark.vehicle
GEOD = Geod(ellps="WGS84")
# a street of two legs with a 60-degree bend, starting 30 m east of the take-off point
LINE = LineString([(HOME[1] + 0.0004, HOME[0]), (HOME[1] + 0.0017, HOME[0]), (HOME[1] + 0.0024, HOME[0] + 0.0011)])


def test_fly_a_corridor_with_its_photos(vehicle, tmp_path):
    plan = plan_corridor(LINE, 30.0, find_camera("sim"), SurveyParams(altitude_m=30, home_latlon=HOME[:2],
                                                                      home_alt_m=HOME[2]))
    assert plan.summary.sorties == 1 and plan.summary.figures.lines >= 2
    m = plan.missions[0]
    rec = flight.fly(vehicle.connection_string, m, log_path=tmp_path / "c.tlog", fix_timeout_s=60, arm_timeout_s=60)
    assert rec.landed and not rec.interrupted
    planned = plan.summary.photos
    assert abs(rec.photos - planned) <= 2
    corridor = m.plan_data.area.buffer(0.0001)  # about 10 m: the vehicle's position at the trigger
    assert sum(corridor.contains(Point(e.lon_deg, e.lat_deg)) for e in rec.camera_events) >= rec.photos - 2
