"""Preflight checks: each rule has a mission that breaks it and one that passes, built by hand."""

from __future__ import annotations

import math
import re

import pytest
from shapely.geometry import Polygon, box

from dronectl.api import check_plan_file
from dronectl.checks import Violation, check_mission
from dronectl.timing import estimate_duration_s
from dronectl.formats import plan
from dronectl.geo import AirspaceZone, load_airspace
from dronectl.mission import FenceCircle, FencePolygon, Home, Mission, MissionItem

LAT0, LON0 = 49.3800, 3.3200
HOME = Home(LAT0, LON0, 50.0)
M_PER_DEG_LAT = 111_195.0
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT0))


def ll(east_m: float, north_m: float) -> tuple[float, float]:
    """(lat, lon) of a point east/north of home, in metres."""
    return LAT0 + north_m / M_PER_DEG_LAT, LON0 + east_m / M_PER_DEG_LON


def lonlat_box(w, s, e, n):
    (lat_s, lon_w), (lat_n, lon_e) = ll(w, s), ll(e, n)
    return box(lon_w, lat_s, lon_e, lat_n)


def wp(east_m, north_m, alt, frame=3, hold_s=0.0) -> MissionItem:
    lat, lon = ll(east_m, north_m)
    return MissionItem(16, frame, hold_s, 0, 0, 0, lat, lon, alt)


def mission(*wps, home=HOME, speed=5.0, takeoff_m=30.0, **kw) -> Mission:
    """Take-off to ``takeoff_m`` over home, the waypoints, RTL."""
    items = (MissionItem(22, 3, 0, 0, 0, 0, home.lat_deg, home.lon_deg, takeoff_m),
             *wps, MissionItem(20, 2))
    return Mission(items=items, home=home, cruise_speed_mps=speed, **kw)


def rules(vs: list[Violation]) -> list[str]:
    return [v.rule for v in vs]


SQUARE = mission(wp(100, 0, 60), wp(100, 100, 60), wp(0, 100, 60))


def test_a_good_mission_passes_with_only_the_mission_given():
    assert check_mission(SQUARE) == []
    assert check_mission(SQUARE, airspace=[]) == []


# --- 120 m ---------------------------------------------------------------------------------------------

def test_over_120_m_above_home():
    vs = check_mission(mission(wp(100, 0, 60), wp(100, 100, 130), wp(0, 100, 125)))
    assert rules(vs) == ["altitude"]
    assert vs[0].item == 3  # item 1 is the take-off, 2 the first waypoint
    assert vs[0].message == "item 3 at 130 m is above the 120 m limit (and 1 other item): lower --altitude"
    assert check_mission(mission(wp(100, 0, 120), wp(100, 100, 120))) == []


def test_terrain_and_absolute_frames():
    # terrain frame: the altitude is the height above ground
    assert rules(check_mission(mission(wp(100, 0, 125, frame=10)))) == ["altitude"]
    assert check_mission(mission(wp(100, 0, 115, frame=10))) == []
    # absolute frame: home is at 50 m above sea level
    assert check_mission(mission(wp(100, 0, 165, frame=0))) == []
    vs = check_mission(mission(wp(100, 0, 180, frame=0)))
    assert rules(vs) == ["altitude"] and "at 130 m" in vs[0].message


def test_ground_model_catches_a_valley():
    m = mission(wp(100, 0, 100), wp(200, 0, 100))
    assert check_mission(m) == []  # flat ground assumed: 100 m

    def ground(lon, lat):  # 30 m lower 150 m east of home
        return 20.0 if (lon - LON0) * M_PER_DEG_LON > 150 else 50.0

    vs = check_mission(m, ground_amsl_m=ground)
    assert rules(vs) == ["altitude"] and vs[0].item == 3 and "at 130 m" in vs[0].message


def test_absolute_altitude_without_home_cannot_be_checked():
    m = Mission(items=(wp(100, 0, 160, frame=0),))
    vs = check_mission(m)
    assert rules(vs) == ["altitude"] and "frame 0" in vs[0].message


# --- airspace --------------------------------------------------------------------------------------------

CTR = AirspaceZone("test aerodrome 50 m", lonlat_box(200, -100, 400, 300), 50.0)
NOFLY = AirspaceZone("test no-fly", lonlat_box(200, -100, 400, 300), 0.0)


def test_item_above_an_airspace_ceiling():
    vs = check_mission(mission(wp(100, 0, 60), wp(300, 0, 60)), airspace=[CTR])
    assert rules(vs) == ["airspace"] and vs[0].item == 3
    assert "50 m ceiling of 'test aerodrome 50 m'" in vs[0].message
    assert check_mission(mission(wp(100, 0, 50), wp(300, 0, 50)), airspace=[CTR]) == []


def test_leg_through_a_ceiling_zone():
    over = mission(wp(100, 0, 60), wp(500, 0, 60))  # both ends outside, the leg crosses at 60 m
    vs = check_mission(over, airspace=[CTR])
    assert rules(vs) == ["airspace"] and "the leg from item 2 to item 3" in vs[0].message
    assert check_mission(mission(wp(100, 0, 45), wp(500, 0, 45)), airspace=[CTR]) == []


def test_waypoint_in_a_forbidden_zone():
    vs = check_mission(mission(wp(100, 0, 30), wp(300, 0, 30)), airspace=[NOFLY])
    assert rules(vs) == ["forbidden"] and vs[0].item == 3 and "where flying is forbidden" in vs[0].message


def test_leg_across_a_forbidden_zone_and_the_way_round():
    across = mission(wp(100, 0, 30), wp(500, 0, 30))
    vs = check_mission(across, airspace=[NOFLY])
    assert rules(vs) == ["forbidden"] and "crosses 'test no-fly'" in vs[0].message
    around = mission(wp(100, 0, 30), wp(100, 350, 30), wp(500, 350, 30), wp(500, 320, 30), wp(100, 320, 30))
    assert check_mission(around, airspace=[NOFLY], vlos_radius_m=1000) == []


def test_return_to_launch_across_a_forbidden_zone():
    m = mission(wp(0, 350, 30), wp(500, 350, 30), wp(500, 0, 30))  # RTL flies straight back west
    vs = check_mission(m, airspace=[NOFLY], vlos_radius_m=1000)
    assert rules(vs) == ["forbidden"] and "return to launch from item 4" in vs[0].message


def test_take_off_in_a_forbidden_zone():
    home = Home(*ll(300, 0), 50.0)
    vs = check_mission(mission(wp(300, 0, 30), home=home), airspace=[NOFLY])
    assert None in [v.item for v in vs if v.rule == "forbidden"]


def test_soissons_courmelles_aerodrome():
    airspace = load_airspace()  # the illustrative file shipped with the repo
    near = Home(49.3460, 3.2700, 60.0)  # west of the aerodrome, under its 60 m ceiling
    lat, lon = near.lat_deg, near.lon_deg
    low = Mission(items=(MissionItem(22, 3, 0, 0, 0, 0, lat, lon, 25), MissionItem(16, 3, 0, 0, 0, 0, lat, lon - 0.001, 25),
                         MissionItem(20, 2)), home=near)
    assert check_mission(low, airspace=airspace) == []
    high = low.with_items([MissionItem(22, 3, 0, 0, 0, 0, lat, lon, 70)] + list(low.items[1:]))
    assert "airspace" in rules(check_mission(high, airspace=airspace))
    # straight east over the runway: the forbidden core
    across = low.with_items(list(low.items[:2]) + [MissionItem(16, 3, 0, 0, 0, 0, lat, 3.3000, 25), low.items[2]])
    assert "forbidden" in rules(check_mission(across, airspace=airspace, vlos_radius_m=5000))


# --- geofence --------------------------------------------------------------------------------------------

ZONE = lonlat_box(-20, -20, 120, 120)


def test_zone_geofence_margin():
    assert check_mission(SQUARE, zone=ZONE) == []
    assert check_mission(mission(wp(140, 0, 60)), zone=ZONE) == []  # 20 m out: within the 30 m margin
    vs = check_mission(mission(wp(100, 0, 60), wp(180, 0, 60)), zone=ZONE)
    assert rules(vs) == ["geofence"] and vs[0].item == 3
    assert re.match(r"item 3 is (59|60)(\.\d)? m outside the zone, beyond its 30 m geofence margin", vs[0].message)
    assert check_mission(mission(wp(180, 0, 60)), zone=ZONE, fence_buffer_m=70) == []


def test_leg_cutting_across_a_concave_zone():
    ell = Polygon([ll(-20, -20)[::-1], ll(300, -20)[::-1], ll(300, 40)[::-1], ll(40, 40)[::-1], ll(40, 300)[::-1],
                   ll(-20, 300)[::-1]])
    m = mission(wp(0, 280, 60), wp(280, 0, 60))  # the diagonal leaves the L
    vs = check_mission(m, zone=ell)
    assert rules(vs) == ["geofence"] and "the leg from item 2 to item 3" in vs[0].message
    assert check_mission(mission(wp(0, 280, 60), wp(0, 0, 60), wp(280, 0, 60)), zone=ell) == []


def test_the_missions_own_fence():
    fence = FencePolygon(tuple(ll(e, n) for e, n in [(-30, -30), (130, -30), (130, 130), (-30, 130)]))
    hole = FencePolygon(tuple(ll(e, n) for e, n in [(40, -10), (60, -10), (60, 10), (40, 10)]), inclusion=False)
    inside = mission(wp(0, 100, 60), wp(100, 100, 60), fence_polygons=(fence,))
    assert check_mission(inside) == []
    out = mission(wp(0, 100, 60), wp(200, 100, 60), fence_polygons=(fence,))
    vs = check_mission(out)
    assert rules(vs) == ["geofence"] and vs[0].item == 3 and "outside the plan's geofence" in vs[0].message
    crossing = mission(wp(100, 0, 60), fence_polygons=(fence, hole))  # take-off leg east through the hole
    vs = check_mission(crossing)
    assert rules(vs) == ["geofence"] and "crosses the plan's geofence" in vs[0].message
    circle = mission(wp(100, 0, 60), fence_circles=(FenceCircle(LAT0, LON0, 80.0),))
    assert rules(check_mission(circle)) == ["geofence"]
    assert check_mission(circle, zone=ZONE) == []  # a given zone replaces the plan's fence


# --- VLOS, battery, capacity -------------------------------------------------------------------------------

def test_visual_line_of_sight():
    far = mission(wp(300, 0, 60), wp(600, 0, 60), wp(300, 300, 60))
    vs = check_mission(far)
    assert rules(vs) == ["vlos"] and vs[0].item == 3
    assert vs[0].message.startswith("item 3 is 600 m from the take-off point, beyond the 500 m")
    assert check_mission(far, vlos_radius_m=700) == []
    assert check_mission(mission(wp(400, 0, 60))) == []


def test_flight_time_estimate_by_hand():
    # ground -> 50 m over home (20 s at 2.5 m/s), 1000 m east at 10 m/s (100 s), U-turn (4 s),
    # back (100 s), down 50 m: 40 m at 1.5 m/s + 10 m at 0.5 m/s (46.7 s), start + stop (4 s)
    m = mission(wp(1000, 0, 50), speed=10.0, takeoff_m=50)
    # (rel: this test's metres-per-degree is spherical, the projection's ellipsoidal)
    assert estimate_duration_s(m) == pytest.approx(20 + 100 + 4 + 100 + 40 / 1.5 + 10 / 0.5 + 4, rel=0.005)
    assert estimate_duration_s(m, 5.0) > estimate_duration_s(m) + 190  # 2000 m at half speed
    held = mission(wp(1000, 0, 50, hold_s=30), speed=10.0, takeoff_m=50)
    assert estimate_duration_s(held) == pytest.approx(estimate_duration_s(m) + 30)
    slow = m.with_items([m.items[0], MissionItem(178, 2, 1, 5.0, -1, 0), *m.items[1:]])
    assert estimate_duration_s(slow) == pytest.approx(estimate_duration_s(m, 5.0), abs=0.5)


def test_battery_with_reserve():
    m = mission(wp(1000, 0, 50), speed=10.0, takeoff_m=50)  # ~275 s
    vs = check_mission(m, battery_time_s=300, vlos_radius_m=None)  # 225 s usable
    assert rules(vs) == ["battery"] and "25 % reserve" in vs[0].message and "sorties" in vs[0].message
    assert check_mission(m, battery_time_s=400, vlos_radius_m=None) == []
    assert check_mission(m, battery_time_s=300, reserve=0.0, vlos_radius_m=None) == []


def test_mission_capacity_counts_home():
    m = mission(*[wp(10 * k, 0, 30) for k in range(8)])  # 10 items + home
    vs = check_mission(m, capacity=10)
    assert rules(vs) == ["capacity"] and "11 items with home" in vs[0].message
    assert check_mission(m, capacity=11) == []


def test_several_rules_at_once():
    m = mission(*[wp(600, 0, 130), wp(700, 0, 60)] * 4)
    assert sorted(rules(check_mission(m, capacity=10))) == ["altitude", "capacity", "vlos"]


# --- the file entry point the CLI uses -------------------------------------------------------------------------

def test_check_plan_file_uses_the_plans_battery(tmp_path):
    f = tmp_path / "m.plan"
    m = mission(wp(1000, 0, 50), speed=10.0, takeoff_m=50)
    plan.write(Mission(items=m.items, home=m.home, cruise_speed_mps=10.0, meta={"battery_min": 4, "reserve": 0.25}), f)
    vs = check_plan_file(f, use_airspace=False, vlos_m=None)
    assert rules(vs) == ["battery"]
    assert check_plan_file(f, use_airspace=False, vlos_m=None, battery_min=7) == []
    airspace = tmp_path / "air.geojson"
    airspace.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                        '"properties": {"name": "no-fly", "ceiling_m": 0}, "geometry": '
                        f'{{"type": "Polygon", "coordinates": [[{list(map(list, lonlat_box(400, -50, 500, 50).exterior.coords))}]]}}}}]}}'
                        .replace("[[[[", "[[[").replace("]]]]", "]]]"))
    vs = check_plan_file(f, airspace_file=airspace, vlos_m=None, battery_min=7)
    assert rules(vs) == ["forbidden"]
