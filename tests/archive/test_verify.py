"""verify finds rows without blobs, corrupt blobs and orphans; --repair fixes what can be fixed."""

from __future__ import annotations

from tests.archive.conftest import line_events


def test_clean_archive(archive, make_photos):
    archive.ingest(make_photos(line_events(3)), "technical")
    rep = archive.verify()
    assert rep.ok and rep.clean and rep.rows == 3 and rep.blobs == 3


def test_damage_is_found_and_repaired(archive, make_photos, tmp_path):
    paths = make_photos(line_events(5))
    archive.ingest(paths, "technical")
    recs = list(archive.catalog.iter_all())
    store = archive.store
    store.blob_path(recs[0].sha256).unlink()  # row without blob
    corrupt = store.blob_path(recs[1].sha256)
    corrupt.write_bytes(corrupt.read_bytes()[:-10] + b"0123456789")  # bit rot
    store.thumb_path(recs[2].sha256).unlink()  # lost thumbnail
    orphan = "ab" * 32
    store.put(orphan, b"an image whose row never committed")
    (store.tmp / "half-written.part").write_bytes(b"\xff\xd8\xff")
    rep = archive.verify()
    assert not rep.ok
    assert [m["id"] for m in rep.missing_blobs] == [recs[0].id]
    assert rep.corrupt_blobs == [recs[1].sha256]
    assert rep.missing_thumbs == [recs[2].sha256]
    assert rep.orphan_blobs == [str(store.blob_path(orphan))]
    assert len(rep.tmp_files) == 1

    fixed = archive.verify(repair=True)
    assert fixed.repaired
    after = archive.verify()
    assert after.ok and after.clean and after.rows == 3
    assert (archive.root / "quarantine" / recs[1].sha256).is_file()
    assert store.thumb_path(recs[2].sha256).is_file()
    assert {e.image_id for e in archive.audit_log() if e.action == "repair"} == {recs[0].id, recs[1].id}
    # ingesting the sources again brings the two lost images back
    again = archive.ingest(paths, "technical")
    assert len(again.ingested) == 2 and len(again.duplicates) == 3
    assert archive.verify().clean
