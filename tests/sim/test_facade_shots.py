"""Facade shots of a structure scan through the synthetic camera and the archive's footprint code: an oblique
view's footprint is the trapezoid on the ground in front of the wall, a level view is flagged near the horizon."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point, box

from dronectl.archive import footprint as fp
from dronectl.archive.ingest import resolve_intrinsics
from dronectl.archive.metadata import read_jpeg
from dronectl.camera import find_camera
from dronectl.geo import Projector
from dronectl.sim.camera import render_photos
from dronectl.survey.structure import StructureParams, plan_structure

LAT0, LON0 = 49.3769, 3.3191


def facade_shot(tmp_path, pitch_deg):
    """The archive's footprint of the first photo of a 10 m scan of a 30 x 12 m building, rendered by the
    synthetic camera at ``pitch_deg``; with the photo's position and heading, in the scan's metres."""
    proj = Projector.around(Point(LON0, LAT0))
    x0, y0 = proj.xy(LON0, LAT0)
    building = box(x0, y0, x0 + 30, y0 + 12)
    plan = plan_structure(proj.to_lonlat(building), find_camera("sim"),
                          StructureParams(distance_m=10.0, height_m=20.0, pitch_deg=pitch_deg))
    lon, lat, heading, alt = plan.missions[0].plan_data.photo_points[0].to_list()
    path, = render_photos([{"lat_deg": lat, "lon_deg": lon, "alt_rel_m": alt, "image_index": 1, "yaw_deg": heading}],
                          "sim", tmp_path, pitch_deg=pitch_deg, sensor_noise=0)
    meta = read_jpeg(path.read_bytes())
    assert meta.gimbal_pitch_deg == pytest.approx(pitch_deg, abs=0.01)
    intr, _ = resolve_intrinsics(meta)
    yaw = meta.gimbal_yaw_deg
    assert (yaw - heading + 180) % 360 - 180 == pytest.approx(0, abs=0.01)
    foot = fp.photo_footprint(meta.lon_deg, meta.lat_deg, meta.relative_altitude_m, intr, meta.gimbal_pitch_deg, yaw,
                              meta.gimbal_roll_deg)
    return proj, building, foot, Point(proj.xy(lon, lat)), heading, alt


def test_an_oblique_facade_shot_has_a_trapezoid_footprint_in_front_of_the_wall(tmp_path):
    # sim camera: 4.8 mm / 2 / 4.5 mm -> 28.1 degrees above and below the axis; at -45 the rows look 16.9 to
    # 73.1 degrees down: from h metres up the near edge is h / tan(73.1) ahead, the far edge h / tan(16.9)
    proj, building, foot, cam, heading, alt = facade_shot(tmp_path, -45.0)
    assert fp.FLAG_CLAMPED not in foot.flags
    ring = list(proj.to_metric(foot.polygon).exterior.coords)[:-1]
    assert len(ring) == 4
    ux, uy = math.sin(math.radians(heading)), math.cos(math.radians(heading))
    ahead = sorted((x - cam.x) * ux + (y - cam.y) * uy for x, y in ring)
    vh = math.degrees(math.atan(2.4 / 4.5))
    assert ahead[0] == pytest.approx(alt / math.tan(math.radians(45 + vh)), rel=0.01)
    assert ahead[-1] == pytest.approx(alt / math.tan(math.radians(45 - vh)), rel=0.01)
    # (headings are on the scan's grid, 0.2 degrees off true north here: 0.2 m over the near edge, 0.5 m far)
    assert ahead[0] == pytest.approx(ahead[1], abs=0.3) and ahead[2] == pytest.approx(ahead[3], rel=0.01)
    # one layer covers the 20 m facade from 10 m at this pitch; its frame's lower edge is aimed at the wall's foot,
    # so the footprint starts on the ground in front of the wall, 10 m ahead, and runs on over flat ground
    assert building.exterior.distance(cam) == pytest.approx(10.0, abs=0.05)
    assert 0 < min(ahead[:2]) <= 10.0 * 1.01
    # a trapezoid: the far edge wider than the near one, both across the heading, centred on it
    by_ahead = sorted(ring, key=lambda c: (c[0] - cam.x) * ux + (c[1] - cam.y) * uy)
    near, far = (sorted((x - cam.x) * uy - (y - cam.y) * ux for x, y in pair) for pair in (by_ahead[:2], by_ahead[2:]))
    assert far[1] - far[0] > 2 * (near[1] - near[0])
    assert sum(near) == pytest.approx(0, abs=0.3) and sum(far) == pytest.approx(0, abs=1.0)


def test_a_level_facade_shot_is_flagged_near_the_horizon(tmp_path):
    proj, building, foot, cam, heading, alt = facade_shot(tmp_path, 0.0)
    assert fp.FLAG_CLAMPED in foot.flags
    c = proj.to_metric(foot.polygon).centroid  # clamped, but still towards the wall
    bearing = math.degrees(math.atan2(c.x - cam.x, c.y - cam.y)) % 360
    assert abs((bearing - heading + 180) % 360 - 180) < 1.0
