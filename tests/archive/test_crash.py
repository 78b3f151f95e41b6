"""kill -9 during ingest, with a real subprocess: no row without its blob, no corrupt blob, and the
same ingest run again completes the archive without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dronectl.archive import open_archive
from dronectl.sim.camera import sim_camera
from tests.archive.conftest import line_events

N = 24


def _ingest_cmd(src, arch, workers):
    return [sys.executable, "-m", "dronectl", "archive", "ingest", str(src), "--service", "police", "--mission",
            "crash", "--archive", str(arch), "--workers", str(workers), "--json"]


def _blob_count(arch):
    d = arch / "blobs"
    return sum(len(os.listdir(d / s)) for s in os.listdir(d)) if d.is_dir() else 0


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_at_several_points_then_resume(tmp_path, make_photos, workers):
    src = tmp_path / "card"
    make_photos(line_events(N, step_deg=0.0002), folder="card", camera=sim_camera(1600, 1200))
    arch = tmp_path / "arch"
    env = {**os.environ, "CI": "true"}  # quiet line progress
    kills = 0
    for after_blobs in (0, 3, 9, 17):
        p = subprocess.Popen(_ingest_cmd(src, arch, workers), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=env, start_new_session=True)
        start = _blob_count(arch)
        deadline = time.monotonic() + 60
        while p.poll() is None and _blob_count(arch) < start + after_blobs and time.monotonic() < deadline:
            time.sleep(0.001)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)  # the ingest and its worker processes, like kill -9
            kills += 1
        p.wait()
        with open_archive(arch) as a:
            rep = a.verify()
            assert rep.missing_blobs == [] and rep.corrupt_blobs == [], rep.to_dict()
            assert a.catalog.count() <= N
    assert kills >= 2  # the test did interrupt ingests, not just watch them finish
    done = subprocess.run(_ingest_cmd(src, arch, workers), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["counts"]["skipped"] == 0
    with open_archive(arch) as a:
        assert a.catalog.count() == N
        assert len({r.sha256 for r in a.catalog.iter_all()}) == N
        rep = a.verify()
        assert rep.ok and rep.orphan_blobs == []  # blobs of killed runs were adopted by the re-run
        a.verify(repair=True)  # removes the half-written tmp files the kills left
        assert a.verify().clean
