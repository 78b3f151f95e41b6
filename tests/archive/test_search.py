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
    with pytest.raises(InputError, match="--since is after --until"):
        archive.search("technical", since=datetime(2026, 2, 1, tzinfo=timezone.utc),
                       until=datetime(2026, 1, 1, tzinfo=timezone.utc))
