"""``fly`` and ``mission upload`` through the register (the application layer's gates and logbook entry), on the
built-in vehicle: a flight's entry matches its ``.tlog``; each refusal, and its ``--force --reason``; the warning of
a populated zone; a simulated flight with no pilot; the same gate for ``api.Vehicle.fly``."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from dronectl.formats import plan as planfmt

from .conftest import HOME, mission


def one_line_error(p) -> str:
    """A refusal: exit 1, one error line last (after the waits said, e.g. "waiting for a GPS fix")."""
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith("dronectl: error: ") and "Traceback" not in p.stderr, p.stderr
    assert not any(line.startswith("dronectl: error: ") for line in lines[:-1]), p.stderr
    return lines[-1]

pytestmark = pytest.mark.vehicle

SITL = os.environ.get("DRONECTL_SITL_BIN")


def _identity(conn: str) -> str:
    """The vehicle's autopilot identity as the register names it, asked as `fly` asks it."""
    from dronectl import register
    from dronectl.mavlink import link, vehicle_state

    master = link.connect(conn, 30)
    try:
        ident = vehicle_state.identify(master)
    finally:
        master.close()
    assert ident.simulated
    return register.vehicle_identity(ident.uid, ident.sysid)


@pytest.fixture(scope="module")
def vehicle():
    """The built-in vehicle at HOME (inside the populated zone centre-ville), or SITL when DRONECTL_SITL_BIN is set."""
    from tests.mavlink.conftest import FAST, SITL_SPEEDUP, fresh_battery, wait_ready

    if SITL:
        from dronectl.sim.sitl import start_sitl

        h = start_sitl(SITL, home=HOME, speedup=SITL_SPEEDUP, wait_armable=True)
    else:
        from dronectl.sim.vehicle import start_vehicle

        h = start_vehicle(home=HOME, **FAST)
    try:
        wait_ready(h.connection_string, 120)
        h.fresh = lambda: fresh_battery(h.connection_string)
        h.autopilot = _identity(h.connection_string)
        yield h
    finally:
        h.stop()


@pytest.fixture(autouse=True)
def _autopilot(run, vehicle):
    run.autopilot = vehicle.autopilot  # what `aircraft add --autopilot` registers by default here


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "quais.plan"
    planfmt.write(mission(35.0), path)
    return path


def _register(run, autopilot=None, **aircraft):
    assert run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01").returncode == 0
    extra = [a for k, v in aircraft.items() for a in (f"--{k.replace('_', '-')}", v)]
    p = run("aircraft", "add", "F-DRNE", "--class", "C2", "--operator", "FRA-OP-0042", "--autopilot",
            autopilot or run.autopilot,
            *extra)
    assert p.returncode == 0, p.stderr


def _fly(run, vehicle, plan, *args):
    vehicle.fresh()
    return run("fly", plan, "--connect", vehicle.connection_string, "--ready-timeout", "60", *args)


def _entries(run, simulated=True):
    return json.loads(run("logbook", "list", *(["--simulated"] if simulated else []), "--json").stdout)


def test_a_flight_adds_a_simulated_entry_whose_figures_are_its_tlogs(run, vehicle, plan, tmp_path):
    from dronectl import register

    _register(run)
    tlog = tmp_path / "flight.tlog"
    p = _fly(run, vehicle, plan, "--pilot", "dupont", "--service", "technical", "--purpose", "quais",
             "--log", tlog, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["logbook"] == [1] and out["register"]["simulated"] is True and out["register"]["aircraft"] == "F-DRNE"
    # the zone it flies over is marked populated in the shipped zone file, and nothing declares the flight
    assert "populated zone 'centre-ville'" in p.stderr
    assert _entries(run, simulated=False) == []  # kept apart from the real flights
    (e,) = _entries(run)
    (facts,) = register.read_log(tlog)  # the log read again, as `logbook import` reads it
    assert e["simulated"] and e["pilot"] == "dupont" and e["aircraft"] == "F-DRNE"
    assert e["service"] == "technical" and e["purpose"] == "quais" and e["mission"] == "quais"
    assert e["duration_s"] == pytest.approx(facts.duration_s, abs=0.06)
    assert e["max_height_m"] == pytest.approx(facts.max_height_m, abs=0.06) == pytest.approx(35.0, abs=1.0)
    assert e["distance_m"] == pytest.approx(facts.distance_m, abs=0.06)
    assert e["distance_m"] == pytest.approx(out["distance_m"], rel=0.05)  # and what the flight itself reported
    assert (e["battery_start_pct"], e["battery_end_pct"]) == (facts.battery_start_pct, facts.battery_end_pct)
    assert e["battery_end_pct"] < e["battery_start_pct"]
    assert e["plan_sha256"] == register.plan_checksum(plan)
    assert any("populated zone 'centre-ville'" in ev for ev in e["events"])
    assert run("logbook", "verify").returncode == 0


def _expired(run):  # the certificate expired since it was registered (the register refuses a past expiry)
    db = next(p for p in run.archive.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3"))
    with sqlite3.connect(db) as c:
        c.execute("UPDATE register_pilots SET body = replace(body, '2030-01-01', '2021-01-01')")


CASES = {  # setup, extra fly arguments, the words of the refusal, the override's code
    "expired": (lambda run: (_register(run), _expired(run)), (), "competence expired", "competence-expired"),
    "unknown aircraft": (lambda run: _register(run, autopilot="sysid:9"), (), "is not in the register",
                         "aircraft-unknown"),
    "maintenance": (lambda run: _register(run, maintenance_every="20", hours="30", since_maintenance="21"), (),
                    "due for maintenance", "maintenance-overdue"),
    "police": (lambda run: _register(run), ("--service", "police"), "under a prefect's authorisation",
               "no-authorisation"),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_by_fly_and_upload_unless_forced_with_a_reason(run, vehicle, plan, tmp_path, case):
    setup, extra, words, code = CASES[case]
    setup(run)
    tlog = tmp_path / "refused.tlog"
    line = one_line_error(_fly(run, vehicle, plan, "--pilot", "dupont", "--log", tlog, *extra))
    assert words in line and "--force --reason" in line
    assert not tlog.exists() and _entries(run) == []  # nothing flown, nothing kept
    line = one_line_error(run("mission", "upload", plan, "--connect", vehicle.connection_string, "--pilot", "dupont",
                              *extra))
    assert words in line
    assert _fly(run, vehicle, plan, "--pilot", "dupont", "--force", *extra).returncode == 2  # a reason is needed
    p = _fly(run, vehicle, plan, "--pilot", "dupont", "--force", "--reason", "vol d'essai après réparation",
             "--json", *extra)
    assert p.returncode == 0, p.stderr
    assert "going on because: vol d'essai après réparation" in p.stderr
    (e,) = _entries(run)
    assert {"what": code, "reason": "vol d'essai après réparation"} in e["overrides"]


def test_a_simulated_flight_without_a_pilot_flies_and_is_recorded_as_simulated(run, vehicle, plan, tmp_path):
    p = _fly(run, vehicle, plan, "--json")  # no archive yet: flies, and none is created for it
    assert p.returncode == 0, p.stderr
    assert "no pilot given" in p.stderr and "not recorded" in p.stderr
    assert not run.archive.exists()
    _register(run)
    p = _fly(run, vehicle, plan, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["logbook"] == [1], p.stderr
    (e,) = _entries(run)
    assert e["simulated"] and e["pilot"] == "(no pilot)" and any("no pilot given" in ev for ev in e["events"])
    # a pilot named: the register's gates apply on the simulator too (a rehearsal), here the unknown pilot
    line = one_line_error(_fly(run, vehicle, plan, "--pilot", "nobody"))
    assert "pilot 'nobody' is not in the register" in line


def test_the_api_applies_the_same_gate_and_records_the_flight(run, vehicle, plan):
    from dronectl import api
    from dronectl.formats import read_mission

    _register(run, autopilot="sysid:9")
    m = read_mission(plan)
    vehicle.fresh()
    with api.connect(vehicle.connection_string) as drone:
        with pytest.raises(api.RegisterRefused, match="is not in the register"):
            drone.fly(m, pilot="dupont", archive=str(run.archive), say=lambda text: None)
        with pytest.raises(api.RegisterRefused, match="is not in the register"):
            drone.upload(m, pilot="dupont", archive=str(run.archive), say=lambda text: None)
        r = drone.fly(m, pilot="dupont", archive=str(run.archive), force=True, reason="essai",
                      say=lambda text: None)
    assert r.outcome == "completed" and r.logbook == (1,) and r.register.simulated
    (e,) = _entries(run)
    assert e["overrides"] == [{"what": "aircraft-unknown", "reason": "essai"}]
