"""``logbook import FILE``: a .tlog of the built-in vehicle, flown over pymavlink, gives an entry whose figures
match the log read independently (and the flight's own record)."""

from __future__ import annotations

import json
import math

import pytest

from .conftest import HOME, one_line_error

pytestmark = pytest.mark.vehicle


def _independent(path):
    """The log read here, directly: the vehicle's armed span, its positions and battery while armed."""
    from pymavlink import mavutil

    log = mavutil.mavlink_connection(str(path))
    armed, span, pos, batt, boot, photos, first_wall = False, [], [], [], None, set(), None
    while (m := log.recv_match()) is not None:
        t = m.get_type()
        if m.get_srcSystem() != 1:
            continue
        if t == "GLOBAL_POSITION_INT":
            boot = m.time_boot_ms / 1000
            if armed:
                pos.append((m.lat / 1e7, m.lon / 1e7, m.relative_alt / 1000))
        elif t == "HEARTBEAT" and m.type != 6:
            now = bool(m.base_mode & 128)
            if now and not armed:
                span.append(boot)
                first_wall = first_wall or m._timestamp
            elif armed and not now:
                span.append(boot)
            armed = now
        elif t == "SYS_STATUS" and armed:
            batt.append(m.battery_remaining)
        elif t == "CAMERA_FEEDBACK" and armed:
            photos.add(m.img_idx)

    def dist(a, b):  # equirectangular: plenty for steps of a few metres
        k = math.cos(math.radians(a[0]))
        return 6371008.8 * math.hypot(math.radians(b[0] - a[0]), math.radians(b[1] - a[1]) * k)

    return {"duration_s": span[1] - span[0], "max_height_m": max(p[2] for p in pos),
            "distance_m": sum(dist(a, b) for a, b in zip(pos, pos[1:])), "battery_end_pct": batt[-1],
            "photos": len(photos), "wall": first_wall, "first": pos[0], "last": pos[-1]}


def test_a_tlog_imports_with_the_figures_of_the_log(flown, run):
    path, rec = flown
    assert run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01").returncode == 0
    assert run("aircraft", "add", "F-DRNE", "--class", "C2", "--operator", "FRA-OP-0042",
               "--autopilot", "sysid:1").returncode == 0
    p = run("logbook", "import", path, "--pilot", "dupont", "--service", "technical", "--purpose", "quais", "--json")
    assert p.returncode == 0, p.stderr
    (e,) = json.loads(p.stdout)
    ref = _independent(path)
    assert e["aircraft"] == "F-DRNE" and e["autopilot"] == "sysid:1"  # matched by the log's vehicle identity
    assert e["duration_s"] == pytest.approx(ref["duration_s"], abs=0.6)
    assert e["max_height_m"] == pytest.approx(ref["max_height_m"], abs=0.2)
    assert e["max_height_m"] == pytest.approx(35.0, abs=1.0)  # the mission's height
    assert e["distance_m"] == pytest.approx(ref["distance_m"], rel=0.02)
    assert e["battery_start_pct"] == 100 and e["battery_end_pct"] == ref["battery_end_pct"] < 100
    assert e["photos"] == ref["photos"] == rec.photos > 0
    # and the figures the flight itself reported
    assert e["distance_m"] == pytest.approx(rec.distance_m, rel=0.05)
    assert e["duration_s"] == pytest.approx(rec.duration_s, abs=3.0)
    for k in ("takeoff", "landing"):  # took off and landed at home
        assert e[f"{k}_lat_deg"] == pytest.approx(HOME[0], abs=1e-4) and e[f"{k}_lon_deg"] == pytest.approx(HOME[1], abs=1e-4)
    assert e["takeoff_at"][:19] == __import__("datetime").datetime.fromtimestamp(
        ref["wall"], __import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    # the totals count it
    p = run("aircraft", "list", "--json")
    assert json.loads(p.stdout)[0]["totals"]["hours"] == pytest.approx(e["duration_s"] / 3600, abs=0.01)
    p = run("pilots", "list", "--json")
    assert json.loads(p.stdout)[0]["totals"]["flights_90d"] == 1


def test_a_simulated_import_is_kept_apart(flown, run):
    path, _ = flown
    run("pilots", "add", "dupont", "--competence", "A1/A3", "FRA-1", "2030-01-01")
    assert run("logbook", "import", path, "--pilot", "dupont", "--simulated").returncode == 0
    assert json.loads(run("logbook", "list", "--json").stdout) == []
    (e,) = json.loads(run("logbook", "list", "--simulated", "--json").stdout)
    assert e["simulated"] and e["aircraft"] == ""  # no registered aircraft carries that autopilot


def _ground_log(path):
    import time

    from pymavlink import mavutil

    from dronectl.sim.vehicle import start_vehicle

    h = start_vehicle(home=HOME, speedup=10.0, gps_delay_s=0.5)
    try:
        m = mavutil.mavlink_connection(h.connection_string, source_system=255)
        m.setup_logfile(str(path), mode="wb")
        m.wait_heartbeat(timeout=30)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m.recv_match(blocking=True, timeout=0.2)
        m.logfile.close()
        m.close()
    finally:
        h.stop()


def test_an_unreadable_log_is_one_line_and_nothing_is_written(flown, run, tmp_path):
    path, _ = flown
    run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01")
    junk = tmp_path / "junk.tlog"
    junk.write_bytes(bytes(range(256)) * 40)
    assert "no telemetry" in one_line_error(run("logbook", "import", junk, "--pilot", "dupont"))
    ground = tmp_path / "ground.tlog"  # a vehicle that stayed on the ground
    _ground_log(ground)
    assert "never armed" in one_line_error(run("logbook", "import", ground, "--pilot", "dupont"))
    assert "no such file" in one_line_error(run("logbook", "import", tmp_path / "none.tlog", "--pilot", "dupont"))
    assert "not in the register" in one_line_error(run("logbook", "import", path, "--pilot", "nobody"))
    assert json.loads(run("logbook", "list", "--json").stdout) == []
    assert json.loads(run("logbook", "list", "--simulated", "--json").stdout) == []


def test_the_application_layer_calls_gate_then_record(flown, tmp_path):
    """What ``fly`` will do: the gate before (refused, then overridden with a reason), the entry after."""
    from dronectl import register

    from .conftest import mission

    path, rec = flown
    with register.open_register(tmp_path / "archive") as reg:
        reg.add_pilot(register.new_pilot("dupont", [("A2", "FRA-A2-77", "2030-01-01")], register.now_utc()))
        reg.add_aircraft(register.Aircraft("F-DRNE", "C2", "FRA-OP-0042", register.vehicle_identity(0, 1)))
        m = mission(photos_every_m=15.0)
        problems = register.flight_gate(reg, m, None, "police", pilot="dupont", aircraft="sysid:1")
        # HOME is in centre-ville, a zone marked populated: the undeclared flight is warned of, not refused
        assert [(p.code, p.blocking) for p in problems] == [("no-authorisation", True), ("no-declaration", False)]
        with pytest.raises(register.RegisterRefused, match="prefect's authorisation"):
            register.enforce(problems)
        overrides = register.enforce(problems, force=True, reason="réquisition OPJ 2026-55, vol avec la police nationale")
        (facts,) = register.read_log(path)
        e = register.record_flight(reg, facts, "dupont", service="police", purpose="recherche de personne",
                                   mission="op-7", overrides=overrides, warnings=problems)
        assert e.aircraft == "F-DRNE" and e.photos == rec.photos
        assert [(o.what, o.reason) for o in reg.entry(e.seq).overrides] == [
            ("no-authorisation", "réquisition OPJ 2026-55, vol avec la police nationale")]
        assert reg.verify().ok
