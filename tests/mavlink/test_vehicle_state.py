"""The live vehicle checked against the plan before anything moves: position, home, GPS fix, battery (issue 9)."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest

from dronectl.errors import InputError
from dronectl.formats import plan as planfmt
from dronectl.mavlink import transfer
from dronectl.mavlink.vehicle_state import StateLimits, VehicleState, battery_needed_pct, problems
from dronectl.mission import Mission
from tests.conftest import console_script

from .conftest import HOME, start_builtin, straight_mission

HOME_POS = (HOME[0], HOME[1], HOME[2])
READY = VehicleState(HOME[0], HOME[1], 3, HOME_POS, 100.0)


def north_of(lat, lon, metres):
    return lat + math.degrees(metres / 6371008.8), lon


# --- the rules (pure) ---------------------------------------------------------------------------------------

def test_a_ready_vehicle_at_the_take_off_point_has_no_problem():
    assert problems(READY, straight_mission(20)) == []


def test_a_vehicle_far_from_the_take_off_point_is_refused():
    lat, lon = north_of(HOME[0], HOME[1], 2760)
    found = problems(VehicleState(lat, lon, 3, (lat, lon, 60.0), 100.0), straight_mission(20))
    assert found[0].startswith("the vehicle is 2760 m from the plan's take-off point, more than 50 m")
    assert any("beyond the 500 m visual line of sight" in p for p in found)
    assert any(p.startswith("the vehicle's home is 2760 m from") for p in found)


def test_the_distance_is_configurable_and_vlos_still_applies():
    lat, lon = north_of(HOME[0], HOME[1], 80)
    state = VehicleState(lat, lon, 3, HOME_POS, 100.0)
    assert problems(state, straight_mission(20), StateLimits(max_distance_m=100)) == []
    assert "80 m from the plan's take-off point" in problems(state, straight_mission(20))[0]
    found = problems(state, straight_mission(20), StateLimits(max_distance_m=100, vlos_m=60))
    assert len(found) == 1 and "beyond the 60 m visual line of sight" in found[0]


def test_no_fix_no_home_no_battery_report():
    found = problems(VehicleState(None, None, 1, None, None), straight_mission(5))
    assert found == ["the vehicle has no 3D GPS fix (GPS fix type 1): wait for a fix (outdoors, clear sky)",
                     "the vehicle has no home position yet (it sets one with its first GPS fix): wait, or set it",
                     "the vehicle does not report its battery charge: check its battery monitor"]


def test_battery_needs_the_flight_plus_the_reserve():
    m = straight_mission(20)
    need, reserve = battery_needed_pct(m)
    assert reserve == 25 and 0 < need < 20
    low = VehicleState(HOME[0], HOME[1], 3, HOME_POS, float(math.floor(need + reserve) - 1))
    assert problems(low, m)[0].startswith(f"the battery is at {math.floor(need + reserve) - 1} %, the plan needs")
    assert problems(VehicleState(HOME[0], HOME[1], 3, HOME_POS, math.ceil(need + reserve)), m) == []


@pytest.mark.parametrize("kw", [dict(max_distance_m=0), dict(vlos_m=float("nan")), dict(reserve=1.5),
                                dict(battery_min=-1)])
def test_limits_are_validated(kw):
    with pytest.raises(InputError):
        StateLimits(**kw)


# --- through the console script, on the built-in vehicle -------------------------------------------------------

def dronectl(*args, env_extra=None):
    env = {**os.environ, "CI": "true", **(env_extra or {})}
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=180, env=env)


def one_line(p):
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


@pytest.fixture
def log_env(tmp_path):
    return {"DRONECTL_FLIGHT_LOG": str(tmp_path / "flight-log.jsonl")}


@pytest.mark.vehicle
@pytest.mark.parametrize("command", ["fly", "upload"])
def test_a_vehicle_elsewhere_is_refused_until_forced_with_a_reason(tmp_path, log_env, command):
    far = north_of(HOME[0], HOME[1], 627)
    h = start_builtin(home=(*far, HOME[2]))
    try:
        src = str(tmp_path / "m.plan")
        planfmt.write(straight_mission(20), src)
        args = (["fly", src] if command == "fly" else ["mission", "upload", src]) + ["--connect", h.connection_string]
        p = dronectl(*args, env_extra=log_env)
        assert p.returncode == 5
        assert one_line(p).startswith("dronectl: error: not going: the vehicle is 627 m from the plan's take-off "
                                      "point, more than 50 m")
        assert transfer.download(h.connection_string).items == ()  # nothing went up
        p = dronectl(*args, "--force", env_extra=log_env)
        assert p.returncode == 2 and "--force needs --reason" in one_line(p)
        p = dronectl(*args, "--force", "--reason", "pilot moved, checked the area", env_extra=log_env)
        assert p.returncode == 0, p.stderr
        assert len(transfer.download(h.connection_string).items) == 20
    finally:
        h.stop()
    events = [json.loads(x) for x in open(log_env["DRONECTL_FLIGHT_LOG"])]
    ov = [e for e in events if e["event"] == "vehicle checks overridden"]
    assert len(ov) == 1 and ov[0]["reason"] == "pilot moved, checked the area"
    assert ov[0]["problems"][0].startswith("the vehicle is 627 m")


@pytest.mark.vehicle
def test_a_second_flight_on_a_drained_battery_is_refused(tmp_path, log_env):
    # a battery that a short flight drains, but not down to its low-battery failsafe (about 9 %: RTL, exit 5)
    h = start_builtin(battery_pct=60, battery_s=100.0)
    try:
        src = str(tmp_path / "m.plan")
        planfmt.write(straight_mission(20), src)
        p = dronectl("fly", src, "--connect", h.connection_string, "--json", env_extra=log_env)
        assert p.returncode == 0, p.stderr
        rec = json.loads(p.stdout)
        assert rec["landed"] and rec["battery_used_pct"] > 20
        assert rec["distance_m"] == round(rec["distance_m"], 1)  # metres to 0.1 m
        p = dronectl("fly", src, "--connect", h.connection_string, env_extra=log_env)
        assert p.returncode == 5
        line = one_line(p)
        import re

        got = re.match(r"dronectl: error: not going: the battery is at (\d+) %, the plan needs about (\d+) % plus "
                       r"the 25 % reserve \((\d+) %\): charge or change it", line)
        assert got, line
        left, need = int(got[1]), int(got[3])
        assert left <= 60 - rec["battery_used_pct"] and left < need <= 60  # the first flight could go, not this one
    finally:
        h.stop()


def test_the_battery_option_of_the_vehicle_is_validated():
    p = dronectl("sim", "vehicle", "--battery", "120")
    assert p.returncode == 2 and "120" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("command", ["fly", "upload"])
def test_an_empty_mission_is_refused_in_one_line(tmp_path, command):
    src = str(tmp_path / "empty.plan")
    planfmt.write(Mission(items=()), src)
    args = ["fly", src] if command == "fly" else ["mission", "upload", src]
    p = dronectl(*args, "--connect", "tcp:127.0.0.1:9")
    assert p.returncode == 2
    assert one_line(p) == (f"dronectl: error: {src} has no mission items: nothing to upload or fly; plan it again, "
                           "or empty the vehicle's mission with `dronectl mission clear`")


@pytest.mark.vehicle
def test_numbers_read_back_are_what_the_autopilot_stores(tmp_path):
    from dataclasses import replace

    m = straight_mission(5)
    m = m.with_items([replace(i, alt_m=56.1, param1=0.3) for i in m.items])
    h = start_builtin()
    try:
        transfer.upload(h.connection_string, m)
        out = tmp_path / "back.plan"
        p = dronectl("mission", "download", "--connect", h.connection_string, "-o", str(out), "--json")
        assert p.returncode == 0, p.stderr
    finally:
        h.stop()
    text = out.read_text()
    assert "56.1" in text and "56.09999" not in text and "0.30000001" not in text
    items = json.loads(text)["mission"]["items"]
    assert items[0]["params"][0] == 0.3 and items[0]["params"][6] == 56.1
    assert all(len(repr(it["params"][4]).split(".")[-1]) <= 7 for it in items)


@pytest.mark.vehicle
def test_the_live_state_is_read_and_checked_on_both_backends(vehicle):
    from dataclasses import replace as dc_replace

    from dronectl.mavlink import link, vehicle_state
    from dronectl.mission import Home

    master = link.connect(vehicle.connection_string, 30)
    try:
        state = vehicle_state.read_state(master, 10)
        assert state.fix_type >= 3 and state.home is not None and state.battery_pct is not None
        assert vehicle_state.check(master, straight_mission(20)) == []  # ready, at the take-off point
        lat, lon = north_of(HOME[0], HOME[1], 627)
        elsewhere = straight_mission(20)
        elsewhere = dc_replace(elsewhere.with_items(dc_replace(i, lat_deg=i.lat_deg + lat - HOME[0])
                                                    for i in elsewhere.items), home=Home(lat, lon, HOME[2]))
        with pytest.raises(vehicle_state.VehicleNotReady, match=r"not going: the vehicle is 62\d m from the "
                                                                 r"plan's take-off point, more than 50 m"):
            vehicle_state.check(master, elsewhere)
    finally:
        master.close()
