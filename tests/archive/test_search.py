"""Search against a brute force, service visibility and the audit of police images."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from shapely import affinity
from shapely.geometry import Polygon, box

from dronectl.archive import AccessDenied
from dronectl.archive.catalog import Query
from dronectl.errors import ArchiveError, InputError
from tests.archive.conftest import LAT0, LON0, line_events, random_records


def brute(recs, geometry=None, since=None, until=None, mission=None, services=None, camera=None):
    out = []
    for r in recs:
        t = r.captured_at or r.ingested_at
        if geometry is not None and not geometry.intersects(r.footprint):
            continue
        if since and t < since or until and t > until:
            continue
        if mission is not None and r.mission != mission:
            continue
        if services is not None and r.service not in services:
            continue
        if camera is not None and camera.lower() not in ((r.camera or "").lower(), (r.model or "").lower()):
            continue
        out.append(r.sha256)
    return sorted(out)


def test_search_matches_brute_force(archive):
    recs = random_records(400, seed=11)
    assert archive.catalog.add_many(recs) == 400
    rnd = random.Random(5)
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    nonempty = 0
    for k in range(80):
        geom = None
        kind = k % 4
        if kind in (0, 1):
            lon, lat = LON0 + rnd.uniform(-0.02, 0.02), LAT0 + rnd.uniform(-0.015, 0.015)
            d = rnd.uniform(0.0005, 0.01)
            geom = box(lon - d, lat - d * 0.7, lon + d, lat + d * 0.7)
        elif kind == 2:  # a thin rotated polygon: bboxes overlap much more often than footprints do
            lon, lat = LON0 + rnd.uniform(-0.015, 0.015), LAT0 + rnd.uniform(-0.01, 0.01)
            geom = affinity.rotate(Polygon([(lon - 0.01, lat), (lon + 0.01, lat + 0.0003), (lon + 0.01, lat - 0.0003)]),
                                   rnd.uniform(0, 180))
        crit = {"geometry": geom}
        if rnd.random() < 0.5:
            a, b = sorted(rnd.uniform(0, 480) for _ in range(2))
            crit["since"], crit["until"] = t0 + timedelta(hours=a), t0 + timedelta(hours=b)
        if rnd.random() < 0.3:
            crit["mission"] = rnd.choice(["m-1", "m-2", "m-3"])
        if rnd.random() < 0.5:
            crit["services"] = tuple(rnd.sample(["police", "communication", "technical"], rnd.randint(1, 2)))
        if rnd.random() < 0.2:
            crit["camera"] = rnd.choice(["SIM", "fc6310r", "mavic3e"])
        got = sorted(r.sha256 for r in archive.catalog.search(Query(**crit)))
        assert got == brute(recs, **crit), crit
        nonempty += bool(got)
    assert nonempty > 30  # the queries did find things


def test_results_are_ordered_by_time_and_limited(archive):
    recs = random_records(50, seed=2)
    archive.catalog.add_many(recs)
    got = archive.catalog.search(Query(limit=10))
    assert len(got) == 10
    times = [r.captured_at for r in got]
    assert times == sorted(times) and times[0] == min(r.captured_at for r in recs)


def test_pages_of_an_area_are_slices_of_the_whole_answer(archive):
    """A search with an area, a limit and an offset (the web map's list, a STAC search page) answers the same
    rows, records and Features, in the same order, as that slice of the whole answer: also when many images share
    a capture time (ordered by id then), when some rows have no Feature text yet, and for services narrowed."""
    import json

    recs = random_records(300, seed=31)
    for r in recs[::3]:  # ties: a third of the rows at one of four times
        r.captured_at = r.captured_at.replace(hour=r.captured_at.hour % 4, minute=0, second=0, microsecond=0,
                                              day=2)
    archive.catalog.add_many(recs)
    archive.catalog._exec("UPDATE images SET feature = NULL WHERE MOD(id, 5) = 0")
    rnd = random.Random(3)
    for _ in range(25):
        lon, lat = LON0 + rnd.uniform(-0.02, 0.01), LAT0 + rnd.uniform(-0.015, 0.005)
        geom = affinity.rotate(box(lon, lat, lon + rnd.uniform(0.005, 0.03), lat + rnd.uniform(0.005, 0.02)),
                               rnd.uniform(0, 60))
        services = tuple(rnd.sample(["police", "communication", "technical"], rnd.randint(1, 3)))
        whole = archive.catalog.search(Query(geometry=geom, services=services))
        whole_features = [json.loads(h.feature) for h in archive.catalog.search_features(
            Query(geometry=geom, services=services))]
        assert [f["id"] for f in whole_features] == [r.public_id for r in whole]
        for limit, offset in ((1, 0), (7, 0), (7, 5), (50, rnd.randint(0, 40)), (500, 3), (5, len(whole))):
            q = Query(geometry=geom, services=services, limit=limit, offset=offset)
            assert archive.catalog.search(q) == whole[offset:offset + limit], (limit, offset)
            for column in ("feature", "map_feature"):
                hits = archive.catalog.search_features(q, column)
                assert [(h.id, h.service, h.sha256) for h in hits] == [
                    (r.id, r.service, r.sha256) for r in whole[offset:offset + limit]]
                if column == "feature":
                    assert [json.loads(h.feature) for h in hits] == whole_features[offset:offset + limit]


def test_an_area_searched_again_after_rows_are_added_or_removed_answers_the_rows_now_there(archive):
    """Searching the same area twice (a STAC page, then its numberMatched) may reuse the first answer only while no
    row was added or removed, by this connection or by another process."""
    recs = random_records(120, seed=41)
    archive.catalog.add_many(recs[:100])
    q = Query(geometry=box(LON0 - 0.03, LAT0 - 0.02, LON0 + 0.03, LAT0 + 0.02), limit=500)
    assert len(archive.catalog.search(q)) == archive.catalog.count_matching(q) == 100
    archive.catalog.add_many(recs[100:])
    assert len(archive.catalog.search(q)) == archive.catalog.count_matching(q) == 120
    gone = archive.catalog.search(Query(geometry=q.geometry, limit=3))
    for r in gone:
        archive.catalog.delete(r.id)
    assert archive.catalog.count_matching(q) == 117
    assert not {r.id for r in gone} & {r.id for r in archive.catalog.search(q)}
    if archive.catalog.backend == "sqlite":  # another connection (another process) adds rows
        from dronectl.archive.catalog_sqlite import SqliteCatalog

        other = SqliteCatalog(archive.catalog.path)
        try:
            other.add_many(random_records(130, seed=41)[120:])
        finally:
            other.close()
        assert len(archive.catalog.search(q)) == archive.catalog.count_matching(q) == 127


def test_police_images_only_to_police_and_audited(archive, make_photos):
    police = make_photos(line_events(3), folder="p")
    tech = make_photos(line_events(2, lat0=LAT0 + 0.002), folder="t")
    archive.ingest(police, "police", mission="op-1")
    archive.ingest(tech, "technical", mission="op-1")
    assert {r.service for r in archive.search("police")} == {"police", "technical"}
    assert {r.service for r in archive.search("technical")} == {"technical"}
    assert {r.service for r in archive.search("communication")} == {"technical"}
    with pytest.raises(AccessDenied, match="may not see images of service 'police'"):
        archive.search("technical", service="police")
    # every police image returned to police is in the audit log; technical images are not audited
    before = len(archive.audit_log())
    got = archive.search("police", mission="op-1")
    entries = archive.audit_log()[before:]
    assert len(got) == 5 and len(entries) == 3
    assert {e.action for e in entries} == {"search"} and {e.actor for e in entries} == {"police"}
    assert {e.image_id for e in entries} == {r.id for r in got if r.service == "police"}
    pid = next(r.id for r in got if r.service == "police")
    archive.show("police", pid)
    assert archive.audit_log()[-1].action == "show" and archive.audit_log()[-1].image_id == pid
    with pytest.raises(ArchiveError, match=f"no image {pid} visible to service 'technical'"):
        archive.show("technical", pid)


def test_configured_visibility(archive, make_photos):
    from dronectl.archive.services import parse_config

    services, _ = parse_config("""
[services.police]
visible_to = ["police"]
audit_access = true
[services.communication]
visible_to = ["communication"]
[services.technical]
""")
    archive.services = services
    archive.ingest(make_photos(line_events(2)), "communication")
    assert archive.search("technical") == [] and len(archive.search("communication")) == 2


def test_unknown_asker_and_bad_dates(archive):
    with pytest.raises(InputError, match="unknown service 'mayor'"):
        archive.search("mayor")
    with pytest.raises(InputError, match="is after the end date"):
        archive.search("technical", since=datetime(2026, 2, 1, tzinfo=timezone.utc),
                       until=datetime(2026, 1, 1, tzinfo=timezone.utc))


def _features(archive, q, column="feature"):
    import json

    return [json.loads(h.feature) for h in archive.catalog.search_features(q, column)]


def test_stored_features_are_the_records_features(archive):
    """search_features answers the Feature text kept in each row: the same rows, order and content as
    search(q) turned into Features, after holds change, and for rows catalogued before the text was kept."""
    import json

    recs = random_records(300, seed=21)
    for k, r in enumerate(recs):  # some non-ASCII text and unordered extras, which a backend may reorder
        r.source_name = f"vue-aérienne-{k}.jpg"
        r.extra = {"zeta": k, "alpha": [1.5, "é"], "mid": {"b": 1, "a": None}} if k % 3 == 0 else {}
    archive.catalog.add_many(recs)
    rnd = random.Random(8)
    services = ("police", "communication", "technical")
    queries = [Query(), Query(services=("technical",)), Query(limit=7, offset=5)]
    for _ in range(15):
        lon, lat = LON0 + rnd.uniform(-0.02, 0.02), LAT0 + rnd.uniform(-0.015, 0.015)
        queries.append(Query(geometry=box(lon, lat, lon + rnd.uniform(0.001, 0.01), lat + rnd.uniform(0.001, 0.01)),
                             services=tuple(rnd.sample(services, rnd.randint(1, 3))),
                             limit=rnd.choice([None, 3, 40]), offset=rnd.choice([0, 0, 2])))

    def check():
        for q in queries:
            want = json.loads(json.dumps([r.to_public_feature() for r in archive.catalog.search(q)]))  # tuples -> lists
            assert _features(archive, q) == want
            assert [h.public_id for h in archive.catalog.search_features(q)] == [f["id"] for f in want]
            light = _features(archive, q, "map_feature")  # what the map draws: id, service, time, footprint
            assert [(f["id"], f["properties"]) for f in light] == [
                (f["id"], {"service": f["properties"]["service"], "captured_at": f["properties"]["captured_at"]})
                for f in want]
            for f, g in zip(light, want):
                ring, exact = f["geometry"]["coordinates"][0], g["geometry"]["coordinates"][0]
                assert len(ring) == len(exact) and all(
                    abs(x - u) <= 5e-7 and abs(y - v) <= 5e-7 for (x, y), (u, v) in zip(ring, exact))
        assert sum(len(archive.catalog.search(q)) for q in queries) > 100  # the queries find something

    check()
    held = archive.catalog.search(Query(limit=3))
    for r in held:
        archive.hold(r.id, "PV 2026-118")
    archive.hold(held[0].id, "réquisition 42")
    archive.release(held[1].id, all_holds=True)
    check()
    got = {f["id"]: f["properties"] for f in _features(archive, Query(limit=3))}
    assert got[held[0].public_id]["holds"] == ["PV 2026-118", "réquisition 42"] and got[held[1].public_id]["holds"] == []
    # an archive from before the column: the text is made on first search, kept, and the same
    archive.catalog._exec("UPDATE images SET feature = NULL, map_feature = NULL")
    check()
    assert archive.catalog._query("SELECT COUNT(*) FROM images WHERE feature IS NULL OR map_feature IS NULL")[0][0] == 0


def test_search_features_audits_police_rows_like_search(archive):
    recs = random_records(60, seed=4)
    archive.catalog.add_many(recs)
    hits = archive.search_features("police", actor="paula")
    assert [h.id for h in hits] == [r.id for r in archive.search("police", actor="paula", action="other")]
    entries = [e for e in archive.audit_log() if e.action == "search"]
    assert sorted(e.image_id for e in entries) == sorted(h.id for h in hits if h.service == "police")
    assert entries and all(e.actor == "paula" and e.service == "police" for e in entries)
    assert archive.search_features("technical") and not [e for e in archive.audit_log() if e.actor == "technical"]


def test_a_catalogue_from_before_the_feature_columns_gets_them_and_answers_the_same(archive):
    """An archive catalogued by an older dronectl has no Feature columns: opening it adds them, the first
    search makes the texts, and the answers are those of the records."""
    import json

    archive.catalog.add_many(random_records(50, seed=2))
    want = json.loads(json.dumps([r.to_public_feature() for r in archive.catalog.search(Query())]))
    for column in ("feature", "map_feature"):
        archive.catalog._exec(f"ALTER TABLE images DROP COLUMN {column}")
    cat = archive.catalog
    if cat.backend == "sqlite":
        from dronectl.archive.catalog_sqlite import SqliteCatalog

        reopened = SqliteCatalog(cat.path)
    else:
        from dronectl.archive.catalog_postgis import PostgisCatalog
        from tests.archive.conftest import PG_DSN

        reopened = PostgisCatalog(PG_DSN, schema=cat.schema)
    try:
        assert [json.loads(h.feature) for h in reopened.search_features(Query())] == want
        assert [json.loads(h.feature)["id"] for h in reopened.search_features(Query(), "map_feature")] == [
            f["id"] for f in want]
    finally:
        reopened.close()


def test_a_catalogue_from_before_public_ids_gets_one_per_row_and_features_that_use_them(archive):
    """Web clients name images by a random public id (row ids would count another service's images). An archive
    catalogued before them has no such column: opening it adds it, gives every row its own id (a unique index)
    and makes the Feature texts again, which held the row id."""
    import json
    import re

    archive.catalog.add_many(random_records(80, seed=5))
    cat = archive.catalog
    cat._exec("DROP INDEX images_public_id")
    cat._exec("ALTER TABLE images DROP COLUMN public_id")
    if cat.backend == "sqlite":
        from dronectl.archive.catalog_sqlite import SqliteCatalog

        reopened = SqliteCatalog(cat.path)
    else:
        from dronectl.archive.catalog_postgis import PostgisCatalog
        from tests.archive.conftest import PG_DSN

        reopened = PostgisCatalog(PG_DSN, schema=cat.schema)
    try:
        recs = reopened.search(Query())
        pids = [r.public_id for r in recs]
        assert len(recs) == 80 and len(set(pids)) == 80 and all(re.fullmatch(r"[0-9a-f]{20}", p) for p in pids)
        for column in ("feature", "map_feature"):
            assert [json.loads(h.feature)["id"] for h in reopened.search_features(Query(), column)] == pids
        assert [json.loads(h.feature) for h in reopened.search_features(Query())] == json.loads(
            json.dumps([r.to_public_feature() for r in recs]))
        assert reopened.get_public(pids[7], ("police", "communication", "technical")).id == recs[7].id
        assert reopened.get_public(pids[7], tuple({"police", "communication", "technical"} - {recs[7].service})) \
            is None  # another service's id is no image
        with pytest.raises(Exception):  # two rows cannot share one
            reopened._exec("UPDATE images SET public_id = ? WHERE id = ?", (pids[0], recs[1].id))
    finally:
        reopened.close()


def test_collection_extents_follow_every_row_added_or_removed(archive):
    """Extents are kept between calls (a STAC client asks for them with every page) and follow each write: a
    second connection's ingest or delete is seen at once."""
    from dronectl.archive import open_archive

    recs = random_records(30, seed=5)
    archive.catalog.add_many(recs[:20])
    first = archive.catalog.extents(("technical", "communication", "police"))
    assert sum(e[3] for e in first.values()) == 20
    assert archive.catalog.extents(("technical", "communication", "police")) == first  # kept
    if archive.catalog.backend == "sqlite":  # another process's connection writes
        other = open_archive(archive.root, create=False)
        other.catalog.add_many(recs[20:])
    else:
        archive.catalog.add_many(recs[20:])
    after = archive.catalog.extents(("technical", "communication", "police"))
    assert sum(e[3] for e in after.values()) == 30
    gone = next(iter(archive.catalog.iter_all()))
    archive.catalog.delete(gone.id)
    again = archive.catalog.extents(("technical", "communication", "police"))
    assert sum(e[3] for e in again.values()) == 29
    assert again == archive.catalog._extents(("technical", "communication", "police"))
