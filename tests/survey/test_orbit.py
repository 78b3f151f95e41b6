"""plan orbit: radius, photo spacing and camera pointing against a hand computation; bad input refused."""

from __future__ import annotations

import json
import math
import subprocess

import pytest
from pyproj import Geod
from hypothesis import assume, given, settings, strategies as st

from dronectl.camera import find_camera
from dronectl.checks import check_mission
from dronectl.errors import InputError
from dronectl.formats import plan as planfmt
from dronectl.mission import (CMD_DO_DIGICAM_CONTROL, CMD_DO_SET_ROI_LOCATION, CMD_DO_SET_ROI_NONE,
                              CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT)
from dronectl.survey.orbit import OrbitParams, plan_orbit
from tests.conftest import console_script

CENTER = (49.3817, 3.3236)  # cathedral square
GEOD = Geod(ellps="WGS84")


def dist_m(lat1, lon1, lat2, lon2) -> float:
    """Distance on the WGS84 ellipsoid (a sphere is 0.3 % off at Soissons, more than the tolerances here)."""
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]
CAM = find_camera("mavic3e")


def photo_waypoints(m):
    """The waypoint before each DO_DIGICAM_CONTROL: where each photo is taken."""
    out, last = [], None
    for it in m.items:
        if it.command == CMD_NAV_WAYPOINT:
            last = it
        elif it.command == CMD_DO_DIGICAM_CONTROL:
            out.append(last)
    return out


def test_radius_spacing_and_pitch_match_a_hand_computation():
    # r = 40 m, 12 photos: 2*pi*40/12 = 20.94 m apart (chord 2*40*sin(15 deg) = 20.71 m); from 30 m up the camera
    # looks at the centre's foot at atan(30/40) = 36.87 deg down, 50 m away.
    p = plan_orbit(CAM, OrbitParams(CENTER, 40.0, (30.0,), photos=12))
    s = p.summary.to_dict()
    assert s["photos"] == 12 and s["photo_spacing_m"] == pytest.approx(20.94, abs=0.01)
    assert s["pitch_deg"] == [pytest.approx(-36.9, abs=0.05)] and s["slant_distance_m"] == pytest.approx(50.0)
    m = p.missions[0]
    shots = photo_waypoints(m)
    assert len(shots) == 12
    for a, b in zip(shots, shots[1:] + shots[:1]):
        assert dist_m(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg) == pytest.approx(20.71, abs=0.05)
    for it in m.items:
        if it.command == CMD_NAV_WAYPOINT:
            assert dist_m(it.lat_deg, it.lon_deg, *CENTER) == pytest.approx(40.0, abs=0.05)
            assert it.alt_m == 30.0
    # 36 chords of 10 degrees: 36 * 2 * 40 * sin(5 deg) = 251.0 m, the take-off point being on the circle
    assert s["length_m"] == pytest.approx(36 * 80 * math.sin(math.radians(5)), abs=0.2)
    cmds = [it.command for it in m.items]
    assert cmds[0] == CMD_NAV_TAKEOFF and cmds[-2:] == [CMD_DO_SET_ROI_NONE, CMD_NAV_RETURN_TO_LAUNCH]
    roi = m.items[cmds.index(CMD_DO_SET_ROI_LOCATION)]
    assert cmds.index(CMD_DO_SET_ROI_LOCATION) < cmds.index(CMD_NAV_WAYPOINT)  # pointed before the first photo
    assert (roi.lat_deg, roi.lon_deg, roi.alt_m) == (CENTER[0], CENTER[1], 0.0)


def test_pitch_sets_the_roi_height_on_each_ring():
    # pitch -20 deg from r = 50 m: the ROI is 50 * tan(20 deg) = 18.2 m below each ring
    p = plan_orbit(CAM, OrbitParams(CENTER, 50.0, (40.0, 60.0), photos=8, pitch_deg=-20.0))
    rois = [it for it in p.missions[0].items if it.command == CMD_DO_SET_ROI_LOCATION]
    assert [r.alt_m for r in rois] == [pytest.approx(40 - 18.2, abs=0.01), pytest.approx(60 - 18.2, abs=0.01)]
    assert p.summary.figures.pitch_deg == (-20.0, -20.0) and p.summary.photos == 16
    assert sorted({it.alt_m for it in p.missions[0].items if it.command == CMD_NAV_WAYPOINT}) == [40.0, 60.0]


@settings(max_examples=40, deadline=None)
@given(radius=st.floats(5, 400), photos=st.integers(1, 72), alt=st.floats(10, 120))
def test_every_photo_on_the_circle_facing_the_centre(radius, photos, alt):
    # photos closer than the camera can take at 1 m/s are refused (test_too_many_photos...): not this property
    assume(2 * math.pi * radius / photos >= CAM.min_trigger_interval_s * 1.0 * 1.01)
    p = plan_orbit(CAM, OrbitParams(CENTER, radius, (alt,), photos=photos, vlos_m=10000, battery_min=600))
    m = p.missions[0]
    assert p.summary.photos == photos == len(m.plan_data.photo_points)
    assert not check_mission(m, vlos_radius_m=10000, battery_time_s=600 * 60)
    for lon, lat, heading, _ in (p.to_list() for p in m.plan_data.photo_points):
        assert dist_m(lat, lon, *CENTER) == pytest.approx(radius, rel=1e-3, abs=0.05)
        to_centre = GEOD.inv(lon, lat, CENTER[1], CENTER[0])[0] % 360
        assert abs((heading - to_centre + 180) % 360 - 180) < 1.0
    # the flown polygon stays near the circle between waypoints (about 10 deg apart: cos 5 deg = 0.9962, plus the
    # projection's scale and the rounding of positions)
    wps = [it for it in m.items if it.command == CMD_NAV_WAYPOINT]
    for a, b in zip(wps, wps[1:]):
        mid = ((a.lat_deg + b.lat_deg) / 2, (a.lon_deg + b.lon_deg) / 2)
        assert dist_m(*mid, *CENTER) >= radius * math.cos(math.radians(5.5)) - 0.05


@pytest.mark.parametrize("kw, words", [
    (dict(radius_m=0.0), "--radius 0: must be between 5 and 2000 m"),
    (dict(radius_m=-3.0), "--radius -3"),
    (dict(altitudes_m=(130.0,)), "--altitude 130: must be between 10 and 120 m"),
    (dict(altitudes_m=()), "give the orbit's height"),
    (dict(photos=0), "--photos 0"),
    (dict(pitch_deg=10.0), "--pitch 10"),
])
def test_bad_values_are_refused_in_the_core(kw, words):
    args = dict(center_latlon=CENTER, radius_m=40.0, altitudes_m=(30.0,)) | kw
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        OrbitParams(**args)


def test_too_many_photos_for_the_camera_is_refused():
    with pytest.raises(InputError, match="--photos 360"):
        plan_orbit(CAM, OrbitParams(CENTER, 5.0, (30.0,), photos=360))


def run(*args, cwd):
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_console_script_writes_an_orbit_that_passes_plan_check(tmp_path):
    r = run("plan", "orbit", "--center", "49.3817,3.3236", "--radius", "40", "--altitudes", "30,50", "--photos", "12",
            "--name", "cathedrale", "--preview", "c.png", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("zone", "camera", "altitude_m", "length_m", "duration_s", "photos", "gsd_cm", "trigger_distance_m",
                "speed_mps", "sorties", "items", "coverage", "warnings", "radius_m", "altitudes_m", "photos_per_ring",
                "photo_spacing_m", "pitch_deg", "files"):
        assert key in s
    assert s["photos"] == 24 and s["files"] == ["cathedrale.plan", "c.png"]
    m = planfmt.read(tmp_path / "cathedrale.plan")
    assert len(photo_waypoints(m)) == 24
    doc = json.loads((tmp_path / "cathedrale.plan").read_text())
    assert {i["type"] for i in doc["mission"]["items"]} == {"SimpleItem"} and doc["dronectl"]["pattern"] == "orbit"
    c = run("plan", "check", "cathedrale.plan", cwd=tmp_path)
    assert c.returncode == 0, c.stderr
    for fmt in ("waypoints", "geojson", "kml", "png"):
        e = run("plan", "export", "cathedrale.plan", "--format", fmt, "-o", f"x.{fmt}", cwd=tmp_path)
        assert e.returncode == 0, e.stderr


@pytest.mark.parametrize("args, words", [
    (["--radius", "0", "--altitude", "30"], "--radius 0: must be between 5 and 2000 m"),
    (["--radius", "40", "--altitude", "150"], "--altitude 150: must be between 10 and 120 m"),
    (["--radius", "40"], "give the orbit's height with --altitude M or --altitudes A,B"),
    (["--radius", "40", "--altitude", "30", "--altitudes", "40,50"], "give --altitude or --altitudes, not both"),
    (["--radius", "40", "--altitudes", "30,x"], "is not a list of heights"),
    (["--radius", "40", "--altitude", "30", "--home", "49.40,3.3236"], "beyond the 500 m visual line of sight"),
])
def test_console_script_bad_input_is_one_line_and_no_file(tmp_path, args, words):
    r = run("plan", "orbit", "--center", "49.3817,3.3236", *args, "-o", "o.plan", cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr
    # one line says what is wrong (click's own parse errors come after its usage line)
    assert sum(words in line for line in r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())
