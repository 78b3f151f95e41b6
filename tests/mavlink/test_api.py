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
        got = drone.download()
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
