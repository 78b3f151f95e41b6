"""Ingest reads regular files only (no symbolic links, FIFOs or devices), caps the size before reading, and never
shares a blob across the boundary of an audited (police) service. Through the console script, as users run it."""

from __future__ import annotations

import json
import os
import subprocess

from dronectl.archive import open_archive
from tests.archive.conftest import line_events
from tests.conftest import console_script


def _ingest(root, *paths, service="communication", timeout=60):
    return subprocess.run([console_script(), "archive", "ingest", *map(str, paths), "--service", service,
                           "--archive", str(root), "--json"], capture_output=True, text=True, timeout=timeout)


def test_symlinks_fifos_and_devices_are_skipped_with_their_reason(make_photos, tmp_path):
    photos = make_photos(line_events(2))
    root = tmp_path / "archive"
    assert _ingest(root, photos[0], service="police").returncode == 0
    with open_archive(root, create=False) as a:
        police_blob = a.blob_path(a.catalog.iter_all().__next__())
    odd = tmp_path / "odd"
    odd.mkdir()
    os.symlink(police_blob, odd / "a-link.jpg")
    os.symlink("/dev/zero", odd / "b-zero.jpg")
    os.mkfifo(odd / "c-fifo.jpg")
    os.symlink(photos[1], odd / "d-link-to-photo.jpg")
    p = _ingest(root, odd, "/dev/zero", timeout=60)  # a FIFO blocked forever, /dev/zero ate all memory
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr  # 2: nothing ingested
    rep = json.loads(p.stdout)
    reasons = {os.path.basename(s["path"]): s["reason"] for s in rep["skipped"]}
    assert rep["counts"]["ingested"] == 0, rep
    assert "symbolic link" in reasons["a-link.jpg"] and "symbolic link" in reasons["b-zero.jpg"], reasons
    assert "symbolic link" in reasons["d-link-to-photo.jpg"], reasons
    assert "FIFO" in reasons["c-fifo.jpg"] and "device" in reasons["zero"], reasons
    with open_archive(root, create=False) as a:
        assert {r.service for r in a.catalog.iter_all()} == {"police"}


def test_a_police_blob_is_never_shared_with_another_service(make_photos, tmp_path):
    photos = make_photos(line_events(2))
    root = tmp_path / "archive"
    assert _ingest(root, *photos, service="police").returncode == 0
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(photos[0].read_bytes())  # the same bytes, a regular file of the communication service
    rep = json.loads(_ingest(root, copy).stdout)
    assert rep["counts"]["ingested"] == 0 and "audited service" in rep["skipped"][0]["reason"], rep
    # and the other way round: communication bytes are not adopted by police either
    other = make_photos(line_events(1, lat0=49.3), folder="other")
    assert json.loads(_ingest(root, *other).stdout)["counts"]["ingested"] == 1
    rep = json.loads(_ingest(root, *other, service="police").stdout)
    assert rep["counts"]["ingested"] == 0 and "audited service" in rep["skipped"][0]["reason"], rep
    # two non-audited services may share bytes
    assert json.loads(_ingest(root, *other, service="technical").stdout)["counts"]["ingested"] == 1
