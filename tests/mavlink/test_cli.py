"""`dronectl mission upload | download | clear` and `dronectl fly` as a pilot types them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

from dronectl.cli import cli
from dronectl.formats import plan as planfmt
from dronectl.mavlink import transfer

from .conftest import start_builtin, straight_mission

DRONECTL = [sys.executable, "-m", "dronectl"]


@pytest.fixture
def flight_log(tmp_path, monkeypatch):
    path = tmp_path / "flight-log.jsonl"
    monkeypatch.setenv("DRONECTL_FLIGHT_LOG", str(path))
    return path


@pytest.fixture
def builtin():
    h = start_builtin()
    yield h
    h.stop()


def _plan(tmp_path, mission, name="m.plan"):
    path = tmp_path / name
    planfmt.write(mission, path)
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.vehicle
def test_upload_download_clear_commands(builtin, tmp_path, flight_log):
    conn = builtin.connection_string
    src = _plan(tmp_path, straight_mission(40))
    r = run("mission", "upload", src, "--connect", conn, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["items"] == 40 and out["verified"] is True and out["forced_violations"] == []

    for method in ("auto", "ftp"):
        r = run("mission", "download", "--connect", conn, "-o", str(tmp_path / "back.plan"), "--method", method)
        assert r.exit_code == 0, r.stderr
        assert "wrote" in r.stdout and "40 items" in r.stdout
        back = planfmt.read(tmp_path / "back.plan")
        assert transfer.differences(straight_mission(40), back) == []

    r = run("mission", "clear", "--connect", conn)
    assert r.exit_code == 0 and "cleared" in r.stdout
    assert transfer.download(conn).items == ()


@pytest.mark.vehicle
def test_a_plan_failing_its_checks_is_refused_unless_forced_with_a_reason(builtin, tmp_path, flight_log):
    m = straight_mission(10)
    too_high = m.with_items([replace(i, alt_m=150.0) if k == 5 else i for k, i in enumerate(m.items)])
    src = _plan(tmp_path, too_high)
    conn = builtin.connection_string

    r = run("mission", "upload", src, "--connect", conn)
    assert r.exit_code == 1
    assert "fails its preflight checks: item 6 at 150 m is above the 120 m limit" in r.stderr
    assert transfer.download(conn).items == ()  # nothing went up

    r = run("mission", "upload", src, "--connect", conn, "--force")
    assert r.exit_code == 2 and "--force needs --reason" in r.stderr

    r = run("mission", "upload", src, "--connect", conn, "--force", "--reason", "crane inspection, DGAC waiver 42")
    assert r.exit_code == 0, r.stderr
    assert "going on because: crane inspection, DGAC waiver 42" in r.stderr
    entry = json.loads(flight_log.read_text().splitlines()[-1])
    assert entry["event"] == "checks overridden" and entry["reason"] == "crane inspection, DGAC waiver 42"
    assert "150 m" in entry["violations"][0]
    assert len(transfer.download(conn).items) == 10


def test_a_forced_override_that_cannot_be_logged_is_refused(tmp_path, monkeypatch):
    m = straight_mission(10)
    src = _plan(tmp_path, m.with_items([replace(i, alt_m=150.0) for i in m.items]))
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("DRONECTL_FLIGHT_LOG", str(tmp_path / "not-a-folder" / "log.jsonl"))
    # The gate comes before the link: nothing listens on this port, and nothing is tried.
    r = run("mission", "upload", src, "--connect", "tcp:127.0.0.1:9", "--force", "--reason", "waiver 42")
    assert r.exit_code == 1
    assert "the override cannot be logged" in r.stderr and "DRONECTL_FLIGHT_LOG" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.vehicle
def test_fly_command_prints_the_flight_summary(tmp_path, flight_log):
    from .conftest import HOME

    h = start_builtin()
    try:
        from dronectl.camera import find_camera
        from dronectl.geo import find_zone
        from dronectl.survey import SurveyParams, plan_survey

        m = plan_survey(find_zone("chantier-mediatheque").geometry, find_camera("sim"),
                        SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2])).missions[0]
        src = _plan(tmp_path, m)
        tlog = tmp_path / "flight.tlog"
        r = run("fly", src, "--connect", h.connection_string, "--log", str(tlog), "--json")
    finally:
        h.stop()
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("duration_s", "distance_m", "photos", "items_reached", "battery_used_pct", "camera_events"):
        assert key in s
    assert s["photos"] == len(s["camera_events"]) > 10
    ev = s["camera_events"][0]
    assert {"lat_deg", "lon_deg", "alt_rel_m", "image_index", "time_s", "yaw_deg"} <= set(ev)
    assert tlog.stat().st_size > 10000
    assert json.loads(flight_log.read_text().splitlines()[-1])["event"] == "flight"


def _one_line_error(args, env_extra=None):
    env = {**os.environ, "CI": "true", **(env_extra or {})}
    p = subprocess.run(DRONECTL + args, capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return p.returncode, lines[0]


def test_unknown_connection_string_is_one_line(tmp_path):
    src = _plan(tmp_path, straight_mission(3))
    code, line = _one_line_error(["mission", "upload", src, "--connect", "bluetooth:drone"])
    assert code == 2 and "'bluetooth:drone' is not a connection string" in line


def test_missing_plan_file_is_one_line(tmp_path):
    code, line = _one_line_error(["fly", str(tmp_path / "nope.plan"), "--connect", "tcp:127.0.0.1:5760"])
    assert code == 2 and "mission file not found" in line


def test_connection_refused_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, line = _one_line_error(["mission", "clear", "--connect", f"tcp:127.0.0.1:{port}"])
    assert code == 4 and "connection refused" in line


def test_download_to_an_unknown_format_is_one_line():
    code, line = _one_line_error(["mission", "download", "--connect", "tcp:127.0.0.1:5760", "-o", "x.kml"])
    assert "-o must end in .plan or .waypoints" in line


@pytest.mark.vehicle
def test_sim_vehicle_and_fly_as_processes_ctrl_c_brings_it_home(tmp_path):
    """Two processes as a tester runs them: `dronectl sim vehicle`, then `dronectl fly`, then Ctrl-C."""
    from .conftest import HOME

    env = {**os.environ, "CI": "true", "DRONECTL_FLIGHT_LOG": str(tmp_path / "log.jsonl")}
    sim = subprocess.Popen(DRONECTL + ["sim", "vehicle", "--listen", "tcp:127.0.0.1:0", "--speedup", "10",
                                       "--home", ",".join(map(str, HOME)), "--gps-delay", "1", "--ekf-delay", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        conn = sim.stdout.readline().strip()
        assert conn.startswith("tcp:127.0.0.1:")
        from dronectl.camera import find_camera
        from dronectl.geo import find_zone
        from dronectl.survey import SurveyParams, plan_survey

        m = plan_survey(find_zone("chantier-mediatheque").geometry, find_camera("sim"),
                        SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2])).missions[0]
        src = _plan(tmp_path, m)
        fly = subprocess.Popen(DRONECTL + ["fly", src, "--connect", conn], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        for line in fly.stderr:  # quiet progress lines in CI: "flight: k/n ..."
            if line.startswith("flight: ") and int(line.split()[1].split("/")[0]) >= 3:
                break
            assert time.monotonic() < deadline
        fly.send_signal(signal.SIGINT)  # a real Ctrl-C
        after = []
        for line in fly.stderr:
            if not line.startswith("flight: "):
                after.append(line.rstrip("\n"))
                break
        assert after == ["dronectl: return to launch commanded; waiting for the landing — Ctrl-C again to stop "
                         "watching"]  # the first thing it says after the Ctrl-C, before the landing
        out, err = fly.communicate(timeout=60)
        assert fly.returncode == 130, err  # a script can tell an aborted survey from a finished one
        assert "returning to launch: " in err and " m from home" in err  # progress while it comes back
        assert "Flight (interrupted: returned to launch)" in out and "Traceback" not in err
        assert "landed" in out and "yes" in out
        reached = int(out.split("items reached")[1].split()[0].split("/")[0])
        assert 3 <= reached < len(m.items) - 1
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
    assert sim.returncode == 0  # a clean exit on SIGTERM


@pytest.mark.parametrize("conn", ["/dev/ttyUSB9", "/dev/ttyUSB9,57600"])
def test_a_missing_serial_device_is_one_line(tmp_path, conn):
    from tests.conftest import console_script

    src = _plan(tmp_path, straight_mission(3))
    p = subprocess.run([console_script(), "mission", "upload", src, "--connect", conn], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "CI": "true"})
    assert p.returncode == 4
    assert p.stderr.strip().splitlines() == ["dronectl: error: cannot open /dev/ttyUSB9: no such device; is the radio (or "
                                             "USB cable) plugged in? See `ls /dev/ttyUSB* /dev/ttyACM*`"]


@pytest.mark.vehicle
def test_upload_download_and_fly_through_a_serial_port(tmp_path):
    """`sim vehicle --listen pty` is a serial port: the console script talks to it as to a telemetry radio."""
    import re

    from tests.conftest import console_script

    from .conftest import HOME

    exe = console_script()
    env = {**os.environ, "CI": "true", "DRONECTL_FLIGHT_LOG": str(tmp_path / "log.jsonl")}
    sim = subprocess.Popen([exe, "sim", "vehicle", "--listen", "pty", "--speedup", "50", "--home",
                            ",".join(map(str, HOME)), "--gps-delay", "1", "--ekf-delay", "2", "--loss", "0.05",
                            "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        conn = sim.stdout.readline().strip()
        assert re.fullmatch(r"/dev/pts/\d+,57600", conn), conn
        m = straight_mission(60)
        src = _plan(tmp_path, m)

        def dronectl(*args):  # the timeout only stops a hung test; a loaded machine may take minutes
            p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=900, env=env)
            assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
            return p

        up = json.loads(dronectl("mission", "upload", src, "--connect", conn, "--method", "items", "--json").stdout)
        assert up["items"] == 60 and up["verified"] and up["method"] == "items"
        dronectl("mission", "download", "--connect", conn, "-o", str(tmp_path / "back.plan"))
        assert transfer.differences(m, planfmt.read(tmp_path / "back.plan")) == []
        short = tmp_path / "short"  # the flight: a short mission, through the same port
        short.mkdir()
        flown = dronectl("fly", _plan(short, straight_mission(12)), "--connect", conn)
        assert "landed" in flown.stdout and "yes" in flown.stdout
        assert "items reached" in flown.stdout and "12/12" in flown.stdout
        lines = [ln for ln in flown.stderr.splitlines() if ln.startswith("flight: ")]
        assert lines and all(re.search(r"battery used \d+ %$", ln) for ln in lines), lines
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
    assert sim.returncode == 0
    assert "fault injection seed 3 (--seed 3 repeats it)" in sim.stderr.read()


def _survey_plan(tmp_path):
    from dronectl.camera import find_camera
    from dronectl.geo import find_zone
    from dronectl.survey import SurveyParams, plan_survey

    from .conftest import HOME

    m = plan_survey(find_zone("chantier-mediatheque").geometry, find_camera("sim"),
                    SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2])).missions[0]
    return m, _plan(tmp_path, m)


@pytest.mark.vehicle
def test_a_serial_radio_lost_mid_flight_is_exit_4_in_one_line_and_logged(tmp_path):
    """`sim vehicle --listen pty` (a telemetry radio) stopped while `dronectl fly` flies through it."""
    import re

    from tests.conftest import console_script

    from .conftest import HOME

    exe = console_script()
    log = tmp_path / "log.jsonl"
    env = {**os.environ, "CI": "true", "DRONECTL_FLIGHT_LOG": str(log)}
    sim = subprocess.Popen([exe, "sim", "vehicle", "--listen", "pty", "--speedup", "10", "--home",
                            ",".join(map(str, HOME)), "--gps-delay", "1", "--ekf-delay", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        conn = sim.stdout.readline().strip()
        assert re.fullmatch(r"/dev/pts/\d+,57600", conn), conn
        m, src = _survey_plan(tmp_path)
        fly = subprocess.Popen([exe, "fly", src, "--connect", conn], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
        seen = []
        for line in fly.stderr:
            seen.append(line)
            if line.startswith("flight: ") and int(line.split()[1].split("/")[0]) >= 3:
                break
        sim.send_signal(signal.SIGTERM)  # the radio goes: the port closes under the flight
        sim.wait(10)
        out, err = fly.communicate(timeout=120)
    finally:
        if sim.poll() is None:
            sim.kill()
    err = "".join(seen) + err
    errors = [ln for ln in err.splitlines() if ln.startswith("dronectl: error")]
    assert fly.returncode == 4, err
    assert len(errors) == 1 and errors[0].startswith("dronectl: error: link lost: "), err
    assert "goes on with the mission" in errors[0] and "FS_GCS_ENABLE" in errors[0]  # what the vehicle will do
    assert "Traceback" not in err and "device reports readiness" not in err and "returned no data" not in err
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["event"] == "flight failed" and entry["error"].startswith("link lost: ")


def _upload_at_the_bench_then_fly(tmp_path, conn: str):
    """A vehicle without a fix or a home: the upload goes up at the bench and is verified, and fly refuses for
    want of a position. (plan file, upload result, fly result)"""
    src = _plan(tmp_path, straight_mission(30))
    up = run("mission", "upload", src, "--connect", conn, "--json")
    assert up.exit_code == 0, up.stderr
    out = json.loads(up.stdout)
    assert out["items"] == 30 and out["verified"] is True and out["at_bench"] is True
    assert transfer.differences(straight_mission(30), transfer.download(conn)) == []
    fly = run("fly", src, "--connect", conn, "--ready-timeout", "2")
    assert fly.exit_code == 5 and "no GPS position within 2 s" in fly.stderr
    return src, up, fly


@pytest.mark.vehicle
def test_upload_at_the_bench_before_a_gps_fix_and_fly_still_refuses(tmp_path, flight_log):
    """No fix, no home yet (indoors): the mission goes up and is verified; fly waits for a fix and refuses."""
    from dronectl.api import BENCH_LINE
    from dronectl.sim.vehicle import start_vehicle

    from .conftest import FAST, HOME

    h = start_vehicle(home=HOME, **{**FAST, "gps_delay_s": 1e6})
    try:
        src, up, fly = _upload_at_the_bench_then_fly(tmp_path, h.connection_string)
        assert up.stderr.strip().splitlines() == [f"dronectl: {BENCH_LINE}"]
        assert "dronectl: waiting for a GPS fix" in fly.stderr.splitlines()
    finally:
        h.stop()
    h = start_vehicle(home=HOME, **{**FAST, "gps_delay_s": 1e6, "battery_pct": 10.0})
    try:  # what needs no position is still checked at the bench: the battery
        r = run("mission", "upload", src, "--connect", h.connection_string)
        assert r.exit_code == 5 and "the battery is at 10 %" in r.stderr
    finally:
        h.stop()


@pytest.mark.vehicle
def test_upload_to_sitl_just_booted_without_gps(tmp_path, flight_log):
    """ArduPilot SITL with its GPS off, uploaded to as soon as it talks (its battery monitor not read yet): the
    mission goes up at the bench and is verified; fly refuses without a fix."""
    if not os.environ.get("DRONECTL_SITL_BIN"):
        pytest.skip("ArduPilot SITL not configured: set DRONECTL_SITL_BIN to an arducopter binary (make test-sitl)")
    from dronectl.sim.sitl import start_sitl

    from .conftest import HOME

    h = start_sitl(home=HOME, speedup=1.0, camera=False, gps=False)
    try:
        _upload_at_the_bench_then_fly(tmp_path, h.connection_string)
    finally:
        h.stop()


@pytest.mark.vehicle
@pytest.mark.parametrize("seed", [pytest.param(s, marks=pytest.mark.slow) if s >= 3 else s for s in range(20)])
def test_the_pre_upload_state_survives_30_percent_loss(tmp_path, flight_log, seed):
    from dronectl.sim.vehicle import start_vehicle

    from .conftest import FAST, HOME, wait_ready

    h = start_vehicle(home=HOME, **{**FAST, "speedup": 20.0, "loss": 0.3, "seed": seed})
    try:
        wait_ready(h.connection_string, 60)
        r = run("mission", "upload", _plan(tmp_path, straight_mission(10)), "--connect", h.connection_string,
                "--timeout", "30", "--json")
    finally:
        h.stop()
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["at_bench"] is False and out["forced_vehicle_problems"] == []


def test_counts_say_one_fence_shape_and_a_download_to_a_missing_folder_creates_nothing(tmp_path):
    from dronectl.api import UploadRecord

    assert UploadRecord("x.plan", 1, 1, 0, 1, True, "items").sentence() == (
        "uploaded 1 item (item protocol), 1 fence shape, 1 rally point; read back identical")
    code, line = _one_line_error(["mission", "download", "--connect", "tcp:127.0.0.1:9", "-o",
                                  str(tmp_path / "nonexistent" / "dir" / "x.plan")])
    assert code == 3 and "does not exist" in line and "nothing was downloaded" in line
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.vehicle
def test_fly_shows_a_failsafe_the_vehicle_reports_and_exits_non_zero(tmp_path, flight_log):
    """The vehicle turns for home by itself mid-survey (what ArduCopter's battery failsafe does): `fly` says so as
    it happens, prints the summary, and exits 5 with one line: the mission did not complete."""
    import threading

    from dronectl.mavlink.flight import COPTER_MODES

    h = start_builtin()
    m, src = _survey_plan(tmp_path)
    stop = threading.Event()

    def failsafe():  # the vehicle's own decision, once it is three items into the survey
        while not stop.wait(0.02):
            if h.vehicle.mode == COPTER_MODES["AUTO"] and h.vehicle.current >= 4:
                h.vehicle.set_mode(COPTER_MODES["RTL"])
                return

    t = threading.Thread(target=failsafe, daemon=True)
    t.start()
    try:
        r = run("fly", src, "--connect", h.connection_string)
    finally:
        stop.set()
        h.stop()
    assert r.exit_code == 5, r.stderr
    assert "Flight (ended by the vehicle's failsafe)" in r.stdout and "the vehicle switched to RTL" in r.stdout
    assert "dronectl: failsafe: the vehicle switched to RTL by itself; the mission will not complete" in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("dronectl: error: the mission did not complete (items reached ")
    reached = int(r.stdout.split("items reached")[1].split()[0].split("/")[0])
    assert 3 <= reached < len(m.items)
    assert json.loads(flight_log.read_text().splitlines()[-1])["outcome"] == "failsafe"
