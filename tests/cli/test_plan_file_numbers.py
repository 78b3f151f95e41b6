"""Issue 19: every number a hand-edited plan file can hold is checked on read, as the planner checks its options.

Each bad value goes through the installed console script (`dronectl plan check FILE`): one line naming the item
and the value, exit 2, no traceback, nothing written."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_plan_values import ABBAYE, dronectl, one_line_refusal


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    r = dronectl("plan", "survey", "--zone", ABBAYE, "-o", "good.plan", cwd=d)
    assert r.returncode == 0, r.stderr
    r = dronectl("plan", "export", "good.plan", "--format", "waypoints", cwd=d)
    assert r.returncode == 0, r.stderr
    return d


def _item(doc, command):
    """(1-based number, item) of the first item with this command."""
    return next((n, it) for n, it in enumerate(doc["mission"]["items"], start=1) if it["command"] == command)


def _set_param(command, k, value):
    def edit(doc):
        _item(doc, command)[1]["params"][k] = value
    return edit


def _set(command, key, value):
    def edit(doc):
        _item(doc, command)[1][key] = value
    return edit


SPEED = 178  # DO_CHANGE_SPEED, item 2 of a dronectl plan
PLAN_CASES = {
    "speed 0": (_set_param(SPEED, 1, 0), "item 2: DO_CHANGE_SPEED: speed 0 m/s out of range (1..20 m/s"),
    "speed -5": (_set_param(SPEED, 1, -5), "item 2: DO_CHANGE_SPEED: speed -5 m/s out of range"),
    "speed 30": (_set_param(SPEED, 1, 30), "item 2: DO_CHANGE_SPEED: speed 30 m/s out of range"),
    "speed 1000": (_set_param(SPEED, 1, 1000), "item 2: DO_CHANGE_SPEED: speed 1000 m/s out of range"),
    "speed 1e6": (_set_param(SPEED, 1, 1e6), "item 2: DO_CHANGE_SPEED: speed 1e+06 m/s out of range"),
    "speed null": (_set_param(SPEED, 1, None), "item 2: DO_CHANGE_SPEED: speed nan m/s out of range"),
    "command 99999": (lambda d: d["mission"]["items"][2].__setitem__("command", 99999),
                      "item 3: command 99999 is not a mission command dronectl or ArduPilot knows"),
    "frame 99": (lambda d: d["mission"]["items"][2].__setitem__("frame", 99),
                 "item 3: WAYPOINT: frame 99 is not a mission frame ArduPilot flies"),
    "null latitude": (lambda d: d["mission"]["items"][2]["params"].__setitem__(4, None),
                      "item 3: position: latitude/longitude missing (null)"),
    "null altitude": (lambda d: d["mission"]["items"][2]["params"].__setitem__(6, None),
                      "item 3: position: altitude missing (null)"),
    "latitude 91": (lambda d: d["mission"]["items"][2]["params"].__setitem__(4, 91),
                    "item 3: position: latitude/longitude 91, "),
    "altitude 1e6": (lambda d: d["mission"]["items"][2]["params"].__setitem__(6, 1e6),
                     "item 3: position: altitude 1e+06 m out of range"),
    "take-off altitude -5000": (lambda d: d["mission"]["items"][0]["params"].__setitem__(6, -5000),
                                "item 1: position: altitude -5000 m out of range"),
    "hold -1 s": (lambda d: d["mission"]["items"][2]["params"].__setitem__(0, -1),
                  "item 3: WAYPOINT: hold time -1 s out of range"),
    "trigger distance -10": (_set_param(206, 0, -10), "DO_SET_CAM_TRIGG_DIST: trigger distance -10 m out of range"),
    "cruise speed 0": (lambda d: d["mission"].__setitem__("cruiseSpeed", 0), "cruiseSpeed 0 m/s out of range"),
    "hover speed 1000": (lambda d: d["mission"].__setitem__("hoverSpeed", 1000), "hoverSpeed 1000 m/s out of range"),
    "home latitude null": (lambda d: d["mission"]["plannedHomePosition"].__setitem__(0, None),
                           "plannedHomePosition: latitude/longitude missing (null)"),
    "rally latitude null": (lambda d: d["rallyPoints"].__setitem__("points", [[None, 3.3, 30]]),
                            "rally point: latitude/longitude missing (null)"),
    "plan data speed 1000": (lambda d: d["dronectl"].__setitem__("speed_mps", 1000),
                             "dronectl data 'speed_mps' 1000: must be between 1 and 20 m/s"),
    "plan data photo point null": (lambda d: d["dronectl"]["photo_points"][0].__setitem__(1, None),
                                   "dronectl data 'photo point 1' is missing"),
    "plan data pattern unknown": (lambda d: d["dronectl"].__setitem__("pattern", "spiral"),
                                  "dronectl data 'pattern' 'spiral': must be one of survey, corridor, orbit"),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_a_bad_number_in_a_plan_is_refused_naming_the_item(good, tmp_path, case):
    edit, expected = PLAN_CASES[case]
    doc = json.loads((good / "good.plan").read_text())
    edit(doc)
    (tmp_path / "bad.plan").write_text(json.dumps(doc))
    r = dronectl("plan", "check", "bad.plan", cwd=tmp_path)
    one_line_refusal(r, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["bad.plan"]


def _waypoint_row(text: str, command: int, k: int, value: str) -> str:
    """The .waypoints text with column k (0-based) of the first row with this command set to value."""
    lines = text.splitlines()
    for i, line in enumerate(lines[2:], start=2):  # after the header and home
        cols = line.split("\t")
        if int(cols[3]) == command:
            cols[k] = value
            lines[i] = "\t".join(cols)
            return "\n".join(lines) + "\n"
    raise AssertionError(f"no command {command}")


@pytest.mark.parametrize("command, column, value, expected", [
    (178, 5, "0", "line 4: item 2: DO_CHANGE_SPEED: speed 0 m/s out of range"),
    (178, 5, "1000000", "line 4: item 2: DO_CHANGE_SPEED: speed 1e+06 m/s out of range"),
    (16, 3, "99999", "line 5: item 3: command 99999 is not a mission command"),
    (16, 2, "42", "line 5: item 3: WAYPOINT: frame 42 is not a mission frame"),
    (16, 10, "nan", "line 5: altitude nan must be a finite number"),
])
def test_a_bad_number_in_a_waypoints_file_is_refused_naming_the_item(good, tmp_path, command, column, value,
                                                                      expected):
    text = (good / "good.waypoints").read_text()
    (tmp_path / "bad.waypoints").write_text(_waypoint_row(text, command, column, value))
    r = dronectl("plan", "check", "bad.waypoints", cwd=tmp_path)
    one_line_refusal(r, expected)


def test_the_unedited_plan_and_waypoints_pass(good):
    for f in ("good.plan", "good.waypoints"):
        r = dronectl("plan", "check", f, cwd=good)
        assert r.returncode == 0, r.stderr
