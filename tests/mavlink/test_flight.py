"""Flying a survey against a vehicle (built-in, and ArduPilot SITL when configured)."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from dronectl.camera import find_camera
from dronectl.errors import LinkError
from dronectl.geo import find_zone, haversine_m
from dronectl.mavlink import flight
from dronectl.survey import SurveyParams, plan_survey

from .conftest import HOME, start_builtin

pytestmark = pytest.mark.vehicle
ZONE = "chantier-mediatheque"


@pytest.fixture(scope="module")
def survey():
    zone = find_zone(ZONE).geometry
    plan = plan_survey(zone, find_camera("sim"), SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2]))
    return zone, plan


def test_fly_a_small_survey_to_the_end_with_photos(vehicle, survey, tmp_path):
    zone, plan = survey
    m = plan.missions[0]
    seen = []
    rec = flight.fly(vehicle.connection_string, m, progress=lambda done, total, text: seen.append((done, total, text)),
                     log_path=tmp_path / "f.tlog", fix_timeout_s=60, arm_timeout_s=60)
    assert rec.landed and not rec.interrupted
    assert rec.items_reached >= len(m.items) - 1  # all of it (the final RTL item ends in the landing)
    planned = plan.summary["photos"]
    assert abs(rec.photos - planned) <= 0.1 * planned + 2
    assert len({e.image_index for e in rec.camera_events}) == rec.photos
    assert rec.battery_used_pct > 0 and rec.distance_m > 300 and rec.duration_s > 30
    ev = rec.camera_events[len(rec.camera_events) // 2]
    assert ev.alt_rel_m == pytest.approx(30, abs=2.0)
    inside = sum(zone.buffer(0.0004).contains(Point(e.lon_deg, e.lat_deg)) for e in rec.camera_events)
    assert inside >= 0.9 * rec.photos  # the photos were taken over the zone
    assert seen and seen[-1][:2] == (rec.items_reached, len(m.items)) and "photos" in seen[-1][2]
    last = rec.track[-1]
    assert haversine_m(last[1], last[2], HOME[0], HOME[1]) < 10 and last[3] < 2.0  # landed at home

    from pymavlink import mavutil

    tlog = mavutil.mavlink_connection(str(tmp_path / "f.tlog"))
    types = set()
    while (msg := tlog.recv_match()) is not None:
        types.add(msg.get_type())
    assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "CAMERA_FEEDBACK"} <= types  # a telemetry log a GCS can replay


def test_ctrl_c_returns_to_launch(vehicle, survey):
    m = survey[1].missions[0]
    pressed = []

    def press_ctrl_c(done, total, text):
        if done >= 3 and not pressed:
            pressed.append(done)
            raise KeyboardInterrupt  # what Ctrl-C does to the main thread

    rec = flight.fly(vehicle.connection_string, m, progress=press_ctrl_c, fix_timeout_s=60, arm_timeout_s=60)
    assert pressed and rec.interrupted and rec.landed
    assert rec.items_reached < len(m.items) - 1  # it did not finish the survey: it came home
    last = rec.track[-1]
    assert haversine_m(last[1], last[2], HOME[0], HOME[1]) < 10 and last[3] < 2.0


def test_lost_link_is_a_clear_error():
    h = start_builtin()
    m = plan_survey(find_zone(ZONE).geometry, find_camera("sim"),
                    SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2])).missions[0]

    def cut_link(done, total, text):
        if done >= 2:
            h.vehicle.o.loss = 1.0

    try:
        with pytest.raises(LinkError, match="link lost: nothing from the vehicle for more than 1 s"):
            flight.fly(h.connection_string, m, progress=cut_link, link_timeout_s=1.0)
    finally:
        h.stop()
