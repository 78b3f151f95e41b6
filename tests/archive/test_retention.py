"""Retention per service, legal holds, purge (and its dry run), audit retention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dronectl.archive.catalog import AuditEntry
from dronectl.errors import ArchiveError, InputError
from tests.archive.conftest import LAT0, line_events

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)  # capture time of the generated photos


@pytest.fixture
def stocked(archive, make_photos):
    """2 police, 1 police interior, 2 technical photos, captured at T0; one police photo also in
    communication (same bytes: one blob, two rows)."""
    police = make_photos(line_events(2), folder="police")
    inside = make_photos(line_events(1, lat0=LAT0 + 0.003), folder="inside")
    tech = make_photos(line_events(2, lat0=LAT0 - 0.003), folder="tech")
    ids = {"police": [r["id"] for r in archive.ingest(police, "police").ingested],
           "interior": [r["id"] for r in archive.ingest(inside, "police", interior=True).ingested],
           "technical": [r["id"] for r in archive.ingest(tech, "technical").ingested],
           "shared": [r["id"] for r in archive.ingest(police[:1], "communication").ingested]}
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
    # the police photo also filed by communication keeps its blob; the other one is gone
    shared = archive.catalog.get(ids["shared"][0])
    assert archive.store.has(shared.sha256) and rep.blobs_deleted == 1
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
    assert rec.hold_reason == "réquisition 2026/118" and rec.held_at is not None
    rep = archive.purge(now=T0 + timedelta(days=8))
    assert held not in [d["id"] for d in rep.deleted] and [h["id"] for h in rep.held] == [held]
    assert archive.catalog.get(held) is not None and archive.store.has(rec.sha256)
    archive.release(held, actor="police")
    rep = archive.purge(now=T0 + timedelta(days=9))
    assert [d["id"] for d in rep.deleted] == [held]
    actions = [(e.action, e.image_id) for e in archive.audit_log(image_id=held)]
    assert actions == [("hold", held), ("release", held), ("purge", held)]


def test_hold_needs_a_reason_and_an_image(stocked):
    archive, ids = stocked
    with pytest.raises(InputError, match="needs a reason"):
        archive.hold(ids["police"][0], "  ")
    with pytest.raises(ArchiveError, match="no image 9999"):
        archive.hold(9999, "case 1")
    with pytest.raises(ArchiveError, match="not under legal hold"):
        archive.release(ids["police"][0])


def test_audit_log_kept_three_years(archive):
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    archive.catalog.audit([AuditEntry(now - timedelta(days=3 * 365 + 2), "police", "search", 1),
                           AuditEntry(now - timedelta(days=3 * 365 - 2), "police", "search", 2)])
    rep = archive.purge(now=now)
    assert rep.audit_entries_pruned == 1
    assert [e.image_id for e in archive.audit_log()] == [2]
