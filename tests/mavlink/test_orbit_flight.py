"""An orbit flown end to end: every planned photo taken on the circle, the camera facing the centre."""

from __future__ import annotations

import pytest
from pyproj import Geod

from dronectl.camera import find_camera
from dronectl.mavlink import flight
from dronectl.survey.orbit import OrbitParams, plan_orbit

from .conftest import HOME

pytestmark = pytest.mark.vehicle
GEOD = Geod(ellps="WGS84")
CENTER = (HOME[0] + 0.0004, HOME[1])  # 44 m north of the take-off point


def test_fly_an_orbit_with_its_photos_facing_the_centre(vehicle, tmp_path):
    plan = plan_orbit(find_camera("sim"), OrbitParams(CENTER, 30.0, (25.0, 35.0), photos=8, home_latlon=HOME[:2],
                                                      home_alt_m=HOME[2]))
    m = plan.missions[0]
    rec = flight.fly(vehicle.connection_string, m, log_path=tmp_path / "o.tlog", fix_timeout_s=60, arm_timeout_s=60)
    assert rec.landed and not rec.interrupted
    planned = plan.summary.photos
    assert planned == 16 and abs(rec.photos - planned) <= 2
    on_circle = [e for e in rec.camera_events
                 if abs(GEOD.inv(e.lon_deg, e.lat_deg, CENTER[1], CENTER[0])[2] - 30.0) < 2.0]
    assert len(on_circle) >= planned - 2
    assert sorted({round(e.alt_rel_m) for e in on_circle}) == [25, 35]
    if vehicle.builtin:  # SITL without a gimbal reports the vehicle's yaw, which ROI turns only as fast as it can
        for e in on_circle:
            to_centre = GEOD.inv(e.lon_deg, e.lat_deg, CENTER[1], CENTER[0])[0] % 360
            assert abs((e.yaw_deg - to_centre + 180) % 360 - 180) < 10.0
