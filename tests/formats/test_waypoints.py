"""QGC WPL 110 .waypoints: round trip, agreement with .plan, and clear errors on bad files."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings

from dronectl.errors import InputError
from dronectl.formats import plan, read_mission, waypoints
from dronectl.mission import FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint
from tests.formats.strategies import assert_same_items, missions

HOME = Home(49.3815, 3.3237, 52.5)
SMALL = Mission(items=(MissionItem(22, 3, 0, 0, 0, 0, 49.3815, 3.3237, 40),
                       MissionItem(178, 2, 1, 6.5, -1, 0),
                       MissionItem(16, 3, 0, 0, 0, math.nan, 49.38201, 3.32455, 40.25),
                       MissionItem(206, 2, 12.4, 0, 1, 0),
                       MissionItem(20, 2)), home=HOME)


@settings(max_examples=60, deadline=None)
@given(missions)
def test_waypoints_round_trip_items_and_home(m):
    back = waypoints.loads(waypoints.dumps(m), "x.waypoints")
    assert_same_items(m, back)
    assert back.home == m.home


@settings(max_examples=40, deadline=None)
@given(missions)
def test_plan_and_waypoints_read_back_to_the_same_mission(m):
    via_plan = plan.from_dict(plan.to_dict(m))
    via_wpl = waypoints.loads(waypoints.dumps(via_plan))
    assert_same_items(via_plan, via_wpl)
    assert via_plan.home == via_wpl.home


def test_file_layout_is_what_mission_planner_reads():
    lines = waypoints.dumps(SMALL).splitlines()
    assert lines[0] == "QGC WPL 110"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 12 for r in rows)
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    # home: index 0, current, frame 0 (above sea level), NAV_WAYPOINT
    assert rows[0][:4] == ["0", "1", "0", "16"] and float(rows[0][10]) == 52.5
    assert rows[1][2:4] == ["3", "22"] and rows[3][7] == "nan"


def test_write_and_read_through_files(tmp_path):
    path = tmp_path / "sub" / "m.waypoints"
    waypoints.write(SMALL, path)
    back = read_mission(path)
    assert_same_items(SMALL, back)
    assert back.home == HOME
    assert [p.name for p in path.parent.iterdir()] == ["m.waypoints"]  # no temporary left


def test_fence_and_rally_are_not_carried():
    m = Mission(items=SMALL.items, home=HOME, fence_polygons=(FencePolygon(((49.0, 3.0), (49.1, 3.0), (49.1, 3.1))),),
                fence_circles=(FenceCircle(49.38, 3.32, 100.0),), rally=(RallyPoint(49.38, 3.32, 30.0),))
    back = waypoints.loads(waypoints.dumps(m))
    assert back.fence_polygons == () and back.fence_circles == () and back.rally == ()
    assert_same_items(m, back)


def test_mission_without_home_takes_the_first_position():
    m = Mission(items=SMALL.items, home=None)
    back = waypoints.loads(waypoints.dumps(m))
    assert (back.home.lat_deg, back.home.lon_deg) == (49.3815, 3.3237)
    empty = waypoints.loads(waypoints.dumps(Mission(items=())))
    assert empty.items == () and empty.home is None


def test_reads_space_separated_and_crlf_files():
    text = "QGC WPL 110\r\n0 1 0 16 0 0 0 0 49.38 3.32 50 1\r\n1 0 3 16 0 0 0 0 49.381 3.321 60 1\r\n"
    m = waypoints.loads(text)
    assert m.home == Home(49.38, 3.32, 50.0) and m.items[0].alt_m == 60.0


GOOD_ROW = "1\t0\t3\t16\t0\t0\t0\t0\t49.38\t3.32\t50\t1"


@pytest.mark.parametrize("text, expected", [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("QGC WPL 120\n", "line 1: unsupported version"),
    ("latitude,longitude\n49.38,3.32\n", "line 1: expected the header"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t49.38\t3.32\t50\n", "line 2: 11 columns"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t49.38\tabc\t50\t1\n", "line 2: PARAM1-4, LAT, LON and ALT"),
    ("QGC WPL 110\n0\t1\t0\tWAYPOINT\t0\t0\t0\t0\t49.38\t3.32\t50\t1\n", "line 2: INDEX, CURRENT"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t49.38\t3.32\t50\t1\n\n" + GOOD_ROW.replace("1", "3", 1) + "\n",
     "line 4: index 3, expected 1"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t149.38\t3.32\t50\t1\n", "line 2: latitude/longitude"),
])
def test_malformed_files_name_the_line(text, expected):
    with pytest.raises(InputError) as err:
        waypoints.loads(text, "bad.waypoints")
    msg = str(err.value)
    assert expected in msg and msg.startswith("bad.waypoints") and "\n" not in msg


def test_binary_and_missing_files(tmp_path):
    blob = tmp_path / "photo.waypoints"
    blob.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    with pytest.raises(InputError, match="not a text file"):
        waypoints.read(blob)
    with pytest.raises(InputError, match="mission file not found"):
        waypoints.read(tmp_path / "nope.waypoints")
