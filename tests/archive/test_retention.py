"""Retention per service, legal holds, purge (and its dry run), audit retention."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dronectl.archive.catalog import AuditEntry
from dronectl.errors import ArchiveError, InputError
from tests.archive.conftest import LAT0, PG_DSN, line_events

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)  # capture time of the generated photos


@pytest.fixture
def stocked(archive, make_photos):
    """2 police, 1 police interior, 2 technical photos, captured at T0; one technical photo also in
    communication (same bytes: one blob, two rows). A police photo is never shared: offered to communication it
    is skipped (so that the police purge removes its bytes)."""
    police = make_photos(line_events(2), folder="police")
    inside = make_photos(line_events(1, lat0=LAT0 + 0.003), folder="inside")
    tech = make_photos(line_events(2, lat0=LAT0 - 0.003), folder="tech")
    ids = {"police": [r["id"] for r in archive.ingest(police, "police").ingested],
           "interior": [r["id"] for r in archive.ingest(inside, "police", interior=True).ingested],
           "technical": [r["id"] for r in archive.ingest(tech, "technical").ingested],
           "shared": [r["id"] for r in archive.ingest(tech[:1], "communication").ingested]}
    refused = archive.ingest(police[:1], "communication")
    assert not refused.ingested and "audited service" in refused.skipped[0]["reason"]
    return archive, ids


def _ids(archive):
    return {r.id for r in archive.catalog.iter_all()}


def test_nothing_expires_early(stocked):
    archive, ids = stocked
    rep = archive.purge(now=T0 + timedelta(hours=47))
    assert rep.deleted == [] and archive.catalog.count() == 6


def test_interior_after_48_hours_police_after_7_days(stocked):
    archive, ids = stocked
    rep = archive.purge(now=T0 + timedelta(hours=49))
    assert [d["id"] for d in rep.deleted] == ids["interior"]
    assert "interior retention 48 h" in rep.deleted[0]["reason"]
    assert not archive.store.has(rep.deleted[0]["sha256"])
    rep = archive.purge(now=T0 + timedelta(days=7, minutes=1))
    assert sorted(d["id"] for d in rep.deleted) == sorted(ids["police"])
    # the police blobs are gone with their rows (none is shared); the technical photo filed by communication too
    # keeps its blob
    shared = archive.catalog.get(ids["shared"][0])
    assert archive.store.has(shared.sha256) and rep.blobs_deleted == 2
    assert _ids(archive) == set(ids["technical"] + ids["shared"])
    # unlimited services never expire
    assert archive.purge(now=T0 + timedelta(days=3650)).deleted == []
    assert archive.verify().clean


def test_dry_run_deletes_nothing(stocked):
    archive, ids = stocked
    before = _ids(archive)
    rep = archive.purge(now=T0 + timedelta(days=30), dry_run=True)
    assert len(rep.deleted) == 3 and rep.dry_run
    assert _ids(archive) == before
    assert not [e for e in archive.audit_log() if e.action == "purge"]


def test_hold_keeps_an_image_until_released(stocked):
    archive, ids = stocked
    held = ids["police"][0]
    rec = archive.hold(held, "réquisition 2026/118", actor="police")
    assert rec.holds == ("réquisition 2026/118",) and rec.held_at is not None
    rep = archive.purge(now=T0 + timedelta(days=8))
    assert held not in [d["id"] for d in rep.deleted] and [h["id"] for h in rep.held] == [held]
    assert archive.catalog.get(held) is not None and archive.store.has(rec.sha256)
    archive.release(held, "réquisition 2026/118", actor="police")
    rep = archive.purge(now=T0 + timedelta(days=9))
    assert [d["id"] for d in rep.deleted] == [held]
    actions = [(e.action, e.image_id) for e in archive.audit_log(image_id=held)]
    assert actions == [("ingest", held), ("hold", held), ("release", held), ("purge", held)]


def test_hold_needs_a_reason_and_an_image(stocked):
    archive, ids = stocked
    with pytest.raises(InputError, match="needs a reason"):
        archive.hold(ids["police"][0], "  ")
    with pytest.raises(ArchiveError, match="no image 9999"):
        archive.hold(9999, "case 1")
    with pytest.raises(ArchiveError, match="not under legal hold"):
        archive.release(ids["police"][0], all_holds=True)


def test_a_second_hold_adds_to_the_list_and_each_is_released_on_its_own(stocked):
    archive, ids = stocked
    img = ids["police"][0]
    first = archive.hold(img, "PV 2026-118", actor="police")
    second = archive.hold(img, "réquisition 42", actor="police")
    assert second.holds == ("PV 2026-118", "réquisition 42") and second.held_at == first.held_at
    with pytest.raises(ArchiveError, match="already held for 'PV 2026-118'"):
        archive.hold(img, "PV 2026-118")
    with pytest.raises(InputError, match="held for 'PV 2026-118', 'réquisition 42': give the --reason"):
        archive.release(img)
    with pytest.raises(ArchiveError, match="no hold for 'PV 9'"):
        archive.release(img, "PV 9")
    assert archive.release(img, "PV 2026-118").holds == ("réquisition 42",)
    # still held by the other case: purge keeps it
    rep = archive.purge(now=T0 + timedelta(days=8))
    assert [h["holds"] for h in rep.held] == [["réquisition 42"]] and archive.catalog.get(img) is not None
    archive.hold(img, "PV 2026-200")
    assert archive.release(img, all_holds=True).holds == ()
    entries = [(e.action, e.detail) for e in archive.audit_log(image_id=img) if e.action in ("hold", "release")]
    assert entries == [("hold", "PV 2026-118"), ("hold", "réquisition 42"), ("release", "hold was: PV 2026-118"),
                       ("hold", "PV 2026-200"), ("release", "hold was: réquisition 42"),
                       ("release", "hold was: PV 2026-200")]
    assert [d["id"] for d in archive.purge(now=T0 + timedelta(days=9)).deleted].count(img) == 1


def test_audit_log_kept_three_years(archive):
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    archive.catalog.audit([AuditEntry(now - timedelta(days=3 * 365 + 2), "police", "search", 1),
                           AuditEntry(now - timedelta(days=3 * 365 - 2), "police", "search", 2)])
    rep = archive.purge(now=now)
    assert rep.audit_entries_pruned == 1
    assert [e.image_id for e in archive.audit_log()] == [2]


def _cli_archive(archive) -> list[str]:
    """``--archive PATH`` for the console script, over the same catalogue as the fixture (SQLite or PostGIS)."""
    from dronectl.archive.services import DEFAULT_CONFIG

    cfg = archive.root / "config.toml"
    if archive.catalog.backend == "postgis":
        cfg.write_text(DEFAULT_CONFIG.replace("[catalog]\n", f"[catalog]\nurl = \"{PG_DSN}\"\n"
                                                             f"schema = \"{archive.catalog.schema}\"\n", 1))
    return ["--archive", str(archive.root)]


def _dronectl(*args):
    import subprocess

    from tests.conftest import console_script

    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_holds_through_the_console_script(stocked):
    archive, ids = stocked
    img, where = ids["police"][0], _cli_archive(archive)
    r = _dronectl("archive", "hold", img, "--reason", "PV 2026-118", "--as", "police", *where)
    assert r.returncode == 0 and "held for 'PV 2026-118'" in r.stdout, r.stderr
    r = _dronectl("archive", "hold", img, "--reason", "réquisition 42", "--as", "police", *where, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["holds"] == ["PV 2026-118", "réquisition 42"], r.stderr
    for args, code, said in [((), 2, "held for 'PV 2026-118', 'réquisition 42': give the --reason of the hold"),
                             (("--reason", "PV 9"), 2, "has no hold for 'PV 9'"),
                             (("--reason", "PV 9", "--all"), 2, "not both")]:
        r = _dronectl("archive", "release", img, *args, *where)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == code and len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert archive.catalog.get(img).holds == ("PV 2026-118", "réquisition 42")  # nothing released by a refusal
    r = _dronectl("archive", "release", img, "--reason", "PV 2026-118", *where)
    assert r.returncode == 0 and "still held for 'réquisition 42'" in r.stdout
    r = _dronectl("archive", "release", img, "--all", *where, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["holds"] == []
    r = _dronectl("archive", "release", img, "--all", *where)
    assert r.returncode == 2 and r.stderr.strip() == f"dronectl: error: image {img} is not under legal hold"
    audit = json.loads(_dronectl("archive", "audit", "--image", img, "--json", *where).stdout)
    assert audit[0]["action"] == "ingest" and [(a["action"], a["detail"]) for a in audit][1:] == [
        ("hold", "PV 2026-118"), ("hold", "réquisition 42"),
        ("release", "hold was: PV 2026-118"), ("release", "hold was: réquisition 42")]


def test_purge_removes_the_web_mosaic_of_purged_photos(archive, make_photos, tmp_path):
    from dronectl.archive.mosaic import published_mosaic

    photos = make_photos(line_events(3), folder="pv")
    archive.ingest(photos, "police", mission="pv-9")
    kept = make_photos(line_events(3, lat0=LAT0 - 0.003), folder="tech9")
    archive.ingest(kept, "technical", mission="t-9")
    archive.mosaic("police", "pv-9", tmp_path / "pv.tif", publish=True)
    archive.mosaic("technical", "t-9", tmp_path / "t.tif", publish=True)
    dry = archive.purge(now=T0 + timedelta(days=8), dry_run=True)
    assert dry.mosaics == [{"service": "police", "mission": "pv-9"}]
    assert published_mosaic(archive.root, "police", "pv-9") is not None  # a dry run removes nothing

    def map_tiles(service):  # the tiles drawn for the web map when the mosaic was published
        return list((archive.root / "mosaics" / service).glob("*.tiles/*/*/*/*.png"))

    assert map_tiles("police") and map_tiles("technical")
    rep = archive.purge(now=T0 + timedelta(days=8))
    assert rep.mosaics == [{"service": "police", "mission": "pv-9"}]
    assert published_mosaic(archive.root, "police", "pv-9") is None  # 7 days: its pixels go with the photos
    assert list((archive.root / "mosaics" / "police").iterdir()) == []  # its map tiles too
    assert published_mosaic(archive.root, "technical", "t-9") is not None  # kept, like its photos
    assert map_tiles("technical")
    assert [e.action for e in archive.audit_log() if e.action == "purge-mosaic"] == ["purge-mosaic"]
