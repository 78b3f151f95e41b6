"""Footprint math against hand-computed cases, and its invariants (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from dronectl.archive import footprint as fp

# 36 x 24 mm behind 18 mm: half tangents 1.0 and 2/3 -> at 100 m a 200 m x 133.3 m rectangle
WIDE = fp.Intrinsics(36.0, 24.0, 18.0)


def _poly(corners):
    return Polygon(corners)


def test_nadir_rectangle_hand_computed():
    corners, clamped = fp.ground_corners(WIDE, 100.0, -90.0, 0.0, 0.0)
    assert not clamped
    expected = [(-100.0, 200 / 3), (100.0, 200 / 3), (100.0, -200 / 3), (-100.0, -200 / 3)]
    for (e, n), (xe, xn) in zip(corners, expected):
        assert e == pytest.approx(xe, abs=1e-9) and n == pytest.approx(xn, abs=1e-9)


def test_nadir_yaw_90_turns_the_image_top_to_the_east():
    corners, _ = fp.ground_corners(WIDE, 100.0, -90.0, 90.0, 0.0)
    # image top (far edge) now points east: top-left corner at east +66.7, north +100
    assert corners[0] == pytest.approx((200 / 3, 100.0), abs=1e-9)
    assert corners[2] == pytest.approx((-200 / 3, -100.0), abs=1e-9)


def test_oblique_trapezoid_hand_computed():
    # pitch -45 deg, vertical half angle 15 deg: the image rows look down at 60 deg (near) and 30 deg (far)
    b = math.tan(math.radians(15))
    intr = fp.Intrinsics(2 * 0.5, 2 * b, 1.0)  # a = 0.5
    h = 50.0
    corners, clamped = fp.ground_corners(intr, h, -45.0, 0.0, 0.0)
    assert not clamped
    near_n, far_n = h / math.sqrt(3), h * math.sqrt(3)
    cos15 = math.cos(math.radians(15))
    near_half = 0.5 * h * cos15 / math.sin(math.radians(60))
    far_half = 0.5 * h * cos15 / math.sin(math.radians(30))
    tl, tr, br, bl = corners
    assert tl == pytest.approx((-far_half, far_n), rel=1e-9)
    assert tr == pytest.approx((far_half, far_n), rel=1e-9)
    assert br == pytest.approx((near_half, near_n), rel=1e-9)
    assert bl == pytest.approx((-near_half, near_n), rel=1e-9)
    # a trapezoid: far edge longer than near edge, parallel to each other
    assert far_half > near_half


def test_near_horizon_rays_are_clamped_and_flagged():
    # pitch -20 with a 33.7 deg vertical half angle: the top rays point above the horizon
    corners, clamped = fp.ground_corners(WIDE, 40.0, -20.0, 0.0, 0.0, min_depression_deg=10.0)
    assert clamped
    max_range = 40.0 / math.tan(math.radians(10))
    assert max(math.hypot(e, n) for e, n in corners) == pytest.approx(max_range, rel=1e-9)
    res = fp.photo_footprint(3.3236, 49.3817, 40.0, WIDE, -20.0, 0.0, 0.0)
    assert fp.FLAG_CLAMPED in res.flags and res.polygon.is_valid and res.polygon.area > 0


def test_no_attitude_falls_back_to_nadir_and_says_so():
    res = fp.photo_footprint(3.3236, 49.3817, 100.0, WIDE)
    assert fp.FLAG_NADIR_ASSUMED in res.flags and fp.FLAG_NO_YAW in res.flags
    nadir = fp.photo_footprint(3.3236, 49.3817, 100.0, WIDE, -90.0, 0.0, 0.0)
    assert nadir.flags == ()
    assert res.polygon.equals_exact(nadir.polygon, 1e-12) or res.polygon.symmetric_difference(nadir.polygon).area < 1e-14


def test_unknown_camera_and_height_flags():
    assert fp.FLAG_INTRINSICS_ASSUMED in fp.photo_footprint(3.3, 49.4, 60.0, None, -90, 0, 0).flags
    res = fp.photo_footprint(3.3, 49.4, None, WIDE, -90, 0, 0)
    assert res.flags == (fp.FLAG_NO_HEIGHT,) and res.polygon.contains(Point(3.3, 49.4))


def test_enu_lonlat_round_trip_and_scale():
    lon, lat = fp.enu_to_lonlat(3.3236, 49.3817, 1000.0, 0.0)
    # one degree of longitude at 49.38 N is about 72.6 km
    assert (lon - 3.3236) * 72_600 == pytest.approx(1000.0, rel=2e-3)
    e, n = fp.lonlat_to_enu(3.3236, 49.3817, lon, lat)
    assert e == pytest.approx(1000.0, abs=1e-6) and n == pytest.approx(0.0, abs=1e-6)


def _metric(poly, lon0, lat0):
    return Polygon([fp.lonlat_to_enu(lon0, lat0, x, y) for x, y in poly.exterior.coords])


@settings(max_examples=60, deadline=None)
@given(h=st.floats(5, 400), yaw=st.floats(-360, 360), lat=st.floats(-70, 70), lon=st.floats(-179, 179))
def test_nadir_area_and_centre_do_not_depend_on_yaw(h, yaw, lat, lon):
    res = fp.photo_footprint(lon, lat, h, WIDE, -90.0, yaw, 0.0)
    m = _metric(res.polygon, lon, lat)
    assert m.area == pytest.approx((2 * h) * (4 * h / 3), rel=1e-6)
    assert m.centroid.x == pytest.approx(0.0, abs=1e-6 * h + 1e-6)
    assert m.centroid.y == pytest.approx(0.0, abs=1e-6 * h + 1e-6)


@settings(max_examples=60, deadline=None)
@given(h=st.floats(5, 300), pitch=st.floats(-90.0, -60.0), yaw=st.floats(0, 360))
def test_oblique_footprint_lies_ahead_and_grows(h, pitch, yaw):
    corners, clamped = fp.ground_corners(WIDE, h, pitch, yaw, 0.0)
    poly = _poly(corners)
    assert poly.is_valid and not clamped
    nadir_area = (2 * h) * (4 * h / 3)
    assert poly.area >= nadir_area * (1 - 1e-9)  # tilting only ever enlarges the footprint
    # its centroid lies in the direction of the yaw
    c = poly.centroid
    ahead = c.x * math.sin(math.radians(yaw)) + c.y * math.cos(math.radians(yaw))
    assert ahead >= -1e-6 * h


@settings(max_examples=60, deadline=None)
@given(h=st.floats(1, 500), pitch=st.floats(-90, 30), yaw=st.floats(-180, 180), roll=st.floats(-30, 30))
def test_any_attitude_gives_a_valid_bounded_polygon(h, pitch, yaw, roll):
    res = fp.photo_footprint(3.3236, 49.3817, h, WIDE, pitch, yaw, roll)
    m = _metric(res.polygon, 3.3236, 49.3817)
    assert res.polygon.is_valid and m.area > 0
    limit = h / math.tan(math.radians(fp.DEFAULT_MIN_DEPRESSION_DEG))
    assert max(math.hypot(x, y) for x, y in m.exterior.coords) <= limit * (1 + 1e-6) + 1e-6
