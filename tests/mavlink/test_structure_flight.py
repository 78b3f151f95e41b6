"""A structure scan flown end to end: every planned photo taken on its layer, the camera facing the wall."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point, box
from shapely.ops import nearest_points

from dronectl.camera import find_camera
from dronectl.geo import Projector
from dronectl.mavlink import flight
from dronectl.survey.structure import StructureParams, plan_structure

from .conftest import HOME

pytestmark = pytest.mark.vehicle


def test_fly_a_structure_scan_with_its_photos_facing_the_wall(vehicle, tmp_path):
    # a 16 x 10 m building 20 m north of the take-off point, 10 m high, scanned from 8 m
    proj = Projector.around(Point(HOME[1], HOME[0]))
    hx, hy = proj.xy(HOME[1], HOME[0])
    building = box(hx - 8, hy + 20, hx + 8, hy + 30)
    plan = plan_structure(proj.to_lonlat(building), find_camera("sim"),
                          StructureParams(distance_m=8.0, height_m=10.0, home_latlon=HOME[:2], home_alt_m=HOME[2]),
                          name="batiment")
    assert plan.summary.sorties == 1 and plan.summary.figures.layers == 2
    rec = flight.fly(vehicle.connection_string, plan.missions[0], log_path=tmp_path / "s.tlog", fix_timeout_s=60,
                     arm_timeout_s=60)
    assert rec.landed and not rec.interrupted
    planned = plan.summary.photos
    assert abs(rec.photos - planned) <= 2
    layers = plan.summary.figures.altitudes_m
    on_layer = []
    for e in rec.camera_events:
        p = Point(proj.xy(e.lon_deg, e.lat_deg))
        if abs(building.exterior.distance(p) - 8.0) < 1.0 and min(abs(e.alt_rel_m - a) for a in layers) < 0.5:
            on_layer.append((e, p))
    assert len(on_layer) >= planned - 2
    assert sorted({round(e.alt_rel_m) for e, _ in on_layer}) == sorted({round(a) for a in layers})
    if vehicle.builtin:  # SITL without a gimbal reports the vehicle's yaw, which ROI turns only as fast as it can
        for e, p in on_layer:
            q = nearest_points(building.exterior, p)[0]
            to_wall = math.degrees(math.atan2(q.x - p.x, q.y - p.y)) % 360
            assert abs((e.yaw_deg - to_wall + 180) % 360 - 180) < 10.0
