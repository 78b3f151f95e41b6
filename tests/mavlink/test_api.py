"""The Python API (dronectl.api) on both vehicles: what a dronekit user's script does, step by step."""

from __future__ import annotations

import pytest

from dronectl import api
from dronectl.errors import InputError
from dronectl.mavlink.flight import FlightFailed
from dronectl.mission import Home, Mission
from tests.mavlink.conftest import HOME, straight_mission

pytestmark = pytest.mark.vehicle


def test_connect_upload_download_clear(vehicle):
    m = straight_mission(40)
    with api.connect(vehicle.connection_string) as drone:
        drone.wait_ready()
        lat, lon, _ = drone.position()
        assert lat == pytest.approx(HOME[0], abs=1e-3) and lon == pytest.approx(HOME[1], abs=1e-3)
        drone.upload(m)  # verified against the read-back
        for method in ("auto", "ftp"):
            got = drone.download(method=method)
            assert [i.command for i in got.items] == [i.command for i in m.items]
            assert got.items[-1].lat_deg == pytest.approx(m.items[-1].lat_deg, abs=2e-7)
        drone.clear()
        assert drone.download().items == ()


def test_guided_takeoff_and_return_to_launch(vehicle):
    with api.connect(vehicle.connection_string) as drone:
        drone.wait_ready(armable=True)  # the pre-arm checks pass (SYS_STATUS), as is_armable told dronekit users
        drone.set_mode("GUIDED")
        drone.arm()
        drone.takeoff(12)
        assert drone.wait_altitude(12, timeout_s=120) == pytest.approx(12, abs=1.0)
        drone.rtl()
        drone.wait_landed(timeout_s=300)
        _, _, alt = drone.position()
        assert alt < 1.0


def test_fly_calls_progress_and_returns_the_record(vehicle):
    m = straight_mission(8)
    seen = []
    with api.connect(vehicle.connection_string) as drone:
        drone.wait_ready()
        rec = drone.fly(m, progress=lambda done, total, text: seen.append((done, total)))
        assert drone.position() is not None  # the link is usable again after the flight
    assert rec.landed and rec.items_reached == rec.items_total == len(m.items)
    assert seen and seen[-1] == (len(m.items), len(m.items))
    assert all(d <= t for d, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_bad_mode_and_closed_link_are_clear_errors(vehicle):
    drone = api.connect(vehicle.connection_string)
    with pytest.raises(InputError, match="unknown mode 'HOVER'"):
        drone.set_mode("HOVER")
    with pytest.raises(InputError, match="no mission items"):
        drone.upload(Mission(items=(), home=Home(*HOME)))
    drone.close()
    with pytest.raises(InputError, match="link is closed"):
        drone.download()


def test_takeoff_refused_on_the_ground_disarmed(vehicle):
    with api.connect(vehicle.connection_string) as drone:
        drone.wait_ready()
        drone.set_mode("GUIDED")
        with pytest.raises(FlightFailed, match="refused to take off"):
            drone.takeoff(10)


def test_plan_survey_by_zone_and_by_polygon(tmp_path):
    by_zone = api.plan_survey(zone="chantier-mediatheque", altitude_m=50)
    assert by_zone.summary.coverage >= 0.995 and by_zone.missions
    from dronectl.geo import find_zone

    by_poly = api.plan_survey(polygon=find_zone("chantier-mediatheque").geometry, altitude_m=50)
    assert by_poly.summary.photos == by_zone.summary.photos
    paths = api.write_plan(by_zone.missions, tmp_path / "m.plan")
    assert api.read_plan(paths[0]).items == by_zone.missions[0].items
    with pytest.raises(InputError):
        api.plan_survey(altitude_m=50)


@pytest.fixture
def flight_log(tmp_path, monkeypatch):
    path = tmp_path / "flight-log.jsonl"
    monkeypatch.setenv("DRONECTL_FLIGHT_LOG", str(path))
    return path


def _entries(path):
    import json

    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "time"} == {k: v for k, v in b.items() if k != "time"}


def test_the_api_refuses_what_plan_check_refuses_unless_forced_and_logs_as_the_command(tmp_path, flight_log):
    """`api.upload_plan` and `Vehicle.upload` against `dronectl mission upload`, on the same plan file."""
    import json
    from dataclasses import replace

    from click.testing import CliRunner

    from dronectl.cli import cli
    from dronectl.errors import CheckFailed
    from dronectl.formats import plan as planfmt
    from tests.mavlink.conftest import start_builtin

    m = straight_mission(10)
    too_high = m.with_items([replace(i, alt_m=150.0) if k == 5 else i for k, i in enumerate(m.items)])
    src = tmp_path / "high.plan"
    planfmt.write(too_high, src)
    check = CliRunner().invoke(cli, ["plan", "check", str(src), "--json"])
    assert check.exit_code == 1 and api.check_plan(src).to_dict() == json.loads(check.stdout)
    h = start_builtin()
    try:
        conn = h.connection_string
        with api.connect(conn) as drone:
            with pytest.raises(CheckFailed, match="fails its preflight checks: item 6 at 150 m is above the 120 m"):
                drone.upload(api.read_plan(src))
            with pytest.raises(InputError, match="--force needs --reason"):
                drone.upload(too_high, force=True)
            assert drone.download().items == ()  # nothing went up
        with pytest.raises(CheckFailed, match="fails its preflight checks"):
            api.fly_plan(src, conn)
        assert _entries(flight_log) == []  # refusals write nothing
        r = CliRunner().invoke(cli, ["mission", "upload", str(src), "--connect", conn, "--force", "--reason", "waiver 42"])
        assert r.exit_code == 0, r.stderr
        rec = api.upload_plan(src, conn, force=True, reason="waiver 42")
        assert rec.forced_violations and "150 m" in rec.forced_violations[0] and rec.to_dict()["verified"]
        by_cli, by_api = _entries(flight_log)
        assert by_cli["event"] == "checks overridden" and _same(by_cli, by_api)
    finally:
        h.stop()


def test_the_api_refuses_a_vehicle_3_km_away_unless_forced_and_logs_as_the_command(tmp_path, flight_log):
    from click.testing import CliRunner

    from dronectl.cli import cli
    from dronectl.formats import plan as planfmt
    from dronectl.mavlink.vehicle_state import VehicleNotReady
    from tests.mavlink.conftest import start_builtin

    m = straight_mission(8)
    from dataclasses import replace

    far = Mission(items=tuple(replace(i, lat_deg=i.lat_deg + 0.027) for i in m.items),
                  home=Home(HOME[0] + 0.027, HOME[1], HOME[2]))  # the plan's take-off point 3 km north
    src = tmp_path / "far.plan"
    planfmt.write(far, src)
    h = start_builtin()
    try:
        conn = h.connection_string
        with api.connect(conn) as drone:
            with pytest.raises(VehicleNotReady, match=r"the vehicle is 30\d\d m from the plan's take-off point"):
                drone.upload(far)
            assert drone.download().items == ()
            with pytest.raises(VehicleNotReady, match="m from the plan's take-off point"):
                drone.fly(far)  # refused before anything moves
        assert _entries(flight_log)[-1]["event"] == "flight failed"  # as `dronectl fly` records a refused flight
        r = CliRunner().invoke(cli, ["mission", "upload", str(src), "--connect", conn, "--force", "--reason", "test"])
        assert r.exit_code == 0, r.stderr
        said = []
        api.upload_plan(src, conn, force=True, reason="test", say=said.append)
        assert said and "going on because: test" in said[0]
        by_cli, by_api = _entries(flight_log)[-2:]
        assert by_cli["event"] == "vehicle checks overridden" and _same(by_cli, by_api)
        with api.connect(conn) as drone:
            assert len(drone.download().items) == 8
    finally:
        h.stop()


def test_fly_says_each_wait_and_a_complete_flight_reached_every_item(flight_log):
    from tests.mavlink.conftest import FAST

    said = []
    with api.simulator(home=HOME, **{**FAST, "speedup": 10.0, "gps_delay_s": 10.0, "ekf_delay_s": 20.0}) as sim:
        with api.connect(sim.connection_string) as drone:
            result = drone.fly(straight_mission(8), say=said.append)
    assert said[0] == "waiting for a GPS fix"
    assert any(s.startswith("waiting for the pre-arm checks: PreArm: ") for s in said), said
    assert result.outcome == "completed" and result.items_reached == result.items_total == 8
    d = result.to_dict(track=False)
    assert d["outcome"] == "completed" and d["completed"] is True and "track" not in d
    entry = _entries(flight_log)[-1]
    assert entry["event"] == "flight" and entry["outcome"] == "completed" and entry["items_reached"] == 8


def test_ctrl_c_in_the_api_flight_is_said_at_once_and_the_outcome_is_interrupted(flight_log):
    from contextlib import nullcontext

    from dronectl.mavlink.flight import RTL_LINE
    from tests.mavlink.conftest import FAST

    pressed, said = [], []

    class Bar:
        def update(self, done, total=None, text=""):
            if done >= 3 and not pressed:
                pressed.append(done)
                raise KeyboardInterrupt  # what Ctrl-C does to the main thread

    with api.simulator(home=HOME, **FAST) as sim:
        r = api.fly_plan(straight_mission(40), sim.connection_string, say=said.append,
                         progress=lambda label, total=None: nullcontext(Bar()))
    assert pressed and r.outcome == "interrupted" and r.to_dict(track=False)["outcome"] == "interrupted"
    before = said[:said.index(RTL_LINE)]
    assert all(s.startswith("waiting for") for s in before), said  # the first thing said after the Ctrl-C
    assert any(s.startswith("returning to launch: ") for s in said[said.index(RTL_LINE):])
    assert r.record.landed and r.record.items_reached < 40
    entry = _entries(flight_log)[-1]
    assert entry["event"] == "flight" and entry["outcome"] == "interrupted" and entry["interrupted"] is True
