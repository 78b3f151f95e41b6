"""`dronectl sim sitl`: finding the binary, and (when DRONECTL_SITL_BIN is set) launching and tearing down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dronectl.errors import InputError
from dronectl.sim.sitl import find_binary

SITL_BIN = os.environ.get("DRONECTL_SITL_BIN")


def test_no_binary_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DRONECTL_SITL_BIN", raising=False)
    with pytest.raises(InputError, match="pass --sitl PATH or set DRONECTL_SITL_BIN"):
        find_binary()
    with pytest.raises(InputError, match="not found or not executable"):
        find_binary("/nonexistent/arducopter")


def test_cli_without_binary_is_one_line():
    env = {k: v for k, v in os.environ.items() if k != "DRONECTL_SITL_BIN"}
    p = subprocess.run([sys.executable, "-m", "dronectl", "sim", "sitl", "--sitl", "/nonexistent/arducopter"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


@pytest.mark.sitl
@pytest.mark.skipif(not SITL_BIN, reason="ArduPilot SITL not configured: set DRONECTL_SITL_BIN")
def test_sim_sitl_prints_a_connection_string_and_tears_down(tmp_path):
    from dronectl.mavlink import link

    p = subprocess.Popen([sys.executable, "-m", "dronectl", "sim", "sitl", "--speedup", "10", "--no-camera"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        conn = p.stdout.readline().strip()
        assert conn.startswith("tcp:127.0.0.1:57")
        master = link.connect(conn, 30)
        hb = master.messages["HEARTBEAT"]
        assert hb.autopilot == 3 and hb.type == 2  # ArduPilot, quadrotor
        master.close()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    assert p.returncode == 0
    # the SITL process is gone: nobody listens on its port any more
    with pytest.raises(Exception):
        link.connect(conn, 1)
