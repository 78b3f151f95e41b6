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



def _cut_photos(make_photos, folder):
    """A real photo re-saved by Pillow (a camera that embeds no preview, 1600 x 1200: the thumbnail pass decodes
    it at 1/8 scale) as ``whole.jpg``, and copies cut at 30, 50 and 80 % of its bytes then closed with an
    end-of-image marker; the bytes of the whole photo."""
    import io

    from PIL import Image

    from dronectl.sim.camera import sim_camera

    src = make_photos(line_events(1), camera=sim_camera(1600, 1200), embed_thumbnail=False)[0]
    im = Image.open(src)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=im.info["exif"], xmp=im.info["xmp"])  # with its GPS and attitude
    data = buf.getvalue()
    assert data.endswith(b"\xff\xd9")
    folder.mkdir()
    (folder / "whole.jpg").write_bytes(data)
    for pct in (30, 50, 80):
        (folder / f"cut-{pct}.jpg").write_bytes(data[: len(data) * pct // 100] + b"\xff\xd9")
    return data


def test_a_jpeg_cut_short_and_closed_with_an_end_marker_is_flagged_truncated(make_photos, tmp_path):
    """A photo cut short then closed with an end-of-image marker decodes without an error, grey from where its
    data ends: each cut copy is ingested flagged ``truncated`` (in the report, and the summary says what to do),
    the intact photo is not."""
    data = _cut_photos(make_photos, tmp_path / "card")
    root = tmp_path / "archive"
    p = _ingest(root, tmp_path / "card", service="technical")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    rep = json.loads(p.stdout)
    flags = {os.path.basename(r["path"]): r["flags"] for r in rep["ingested"]}
    assert flags == {"whole.jpg": [], "cut-30.jpg": ["truncated"], "cut-50.jpg": ["truncated"],
                     "cut-80.jpg": ["truncated"]}, rep
    again = tmp_path / "card2"
    again.mkdir()
    (again / "cut-60.jpg").write_bytes(data[: len(data) * 60 // 100] + b"\xff\xd9")
    p = subprocess.run([console_script(), "archive", "ingest", str(again), "--service", "technical", "--archive",
                        str(root)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "1 image(s) flagged truncated" in p.stderr and "copy them again" in p.stderr, p.stderr


def test_the_truncated_flag_is_on_the_rows_and_the_features_the_web_map_shows(make_photos, tmp_path, archive):
    _cut_photos(make_photos, tmp_path / "card")
    rep = archive.ingest(tmp_path / "card", "technical")
    assert len(rep.ingested) == 4, rep.to_dict()
    by_name = {r.source_name: r for r in archive.catalog.iter_all()}
    assert {n for n, r in by_name.items() if "truncated" in r.flags} == {"cut-30.jpg", "cut-50.jpg", "cut-80.jpg"}
    props = {p["source_name"]: p for p in (json.loads(h.feature)["properties"] for h in archive.search_features("technical"))}
    assert props["cut-50.jpg"]["flags"] == ["truncated"] and props["whole.jpg"]["flags"] == [], props
