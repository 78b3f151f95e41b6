"""Shared pieces of the register's tests: a telemetry log flown on the built-in vehicle, the console script."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import console_script

HOME = (49.3818, 3.3244, 60.0)  # inside zone centre-ville


def mission(height_m: float = 35.0, north_deg: float = 0.0006, photos_every_m: float = 0.0):
    from dronectl.mission import (CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF,
                                  CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT as REL, FRAME_MISSION, Home, Mission,
                                  MissionItem)

    items = [MissionItem(CMD_NAV_TAKEOFF, REL, 0, 0, 0, 0, HOME[0], HOME[1], 25.0)]
    if photos_every_m:
        items.append(MissionItem(CMD_DO_SET_CAM_TRIGG_DIST, FRAME_MISSION, photos_every_m, 0, 1))
    items += [MissionItem(CMD_NAV_WAYPOINT, REL, 0, 0, 0, 0, HOME[0] + north_deg, HOME[1], height_m),
              MissionItem(CMD_NAV_WAYPOINT, REL, 0, 0, 0, 0, HOME[0] + north_deg, HOME[1] + 0.0008, height_m)]
    if photos_every_m:
        items.append(MissionItem(CMD_DO_SET_CAM_TRIGG_DIST, FRAME_MISSION, 0, 0, 0))
    items.append(MissionItem(CMD_NAV_RETURN_TO_LAUNCH, REL))
    return Mission(items=tuple(items), home=Home(*HOME))


@pytest.fixture(scope="session")
def flown(tmp_path_factory):
    """(tlog path, FlightRecord): one flight of the built-in vehicle, flown over pymavlink, logged as a .tlog."""
    from dronectl.mavlink import flight
    from dronectl.sim.vehicle import start_vehicle
    from tests.mavlink.conftest import wait_ready

    path = tmp_path_factory.mktemp("flown") / "flight.tlog"
    h = start_vehicle(home=HOME, speedup=10.0, gps_delay_s=1.0, ekf_delay_s=2.0, storage_delay_s=0.2)
    try:
        wait_ready(h.connection_string)
        rec = flight.fly(h.connection_string, mission(photos_every_m=15.0), log_path=path, fix_timeout_s=60,
                         arm_timeout_s=60)
    finally:
        h.stop()
    assert rec.landed
    return path, rec


@pytest.fixture
def run(tmp_path):
    """``run(*args)``: the console script as a subprocess, on an archive of its own in tmp_path."""
    env = {**os.environ, "CI": "true", "DRONECTL_ARCHIVE": str(tmp_path / "archive"), "COLUMNS": "200"}
    env.pop("DRONECTL_PILOT", None)

    def _run(*args, input=None):
        return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=120,
                              env=env, cwd=tmp_path, input=input)

    _run.archive = tmp_path / "archive"
    return _run


def one_line_error(p) -> str:
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dronectl: error: "), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]
