"""The web server's in-memory spatial index (archive/spatial_index.py) answers area searches exactly as the
catalogue's SQL does, and never answers from rows that have since been added or removed."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from dronectl.archive import spatial_index
from dronectl.archive.catalog import Query
from tests.archive.conftest import LAT0, LON0, random_records

SERVICES = ("police", "communication", "technical")
TIE = datetime(2026, 11, 5, 12, tzinfo=timezone.utc)  # the time of every 11th row


def _rows():
    recs = random_records(400, seed=7)
    out = []
    for k, r in enumerate(recs):
        if k % 7 == 0:  # no capture time: ordered by ingestion time
            r = dataclasses.replace(r, captured_at=None)
        if k % 5 == 0:  # texts that are not ASCII: cut and joined as UTF-8
            r = dataclasses.replace(r, source_name=f"Façade_été_Ø{k}.JPG")
        if k % 11 == 0:  # ties: the same time, ordered by id
            r = dataclasses.replace(r, captured_at=TIE)
        out.append(r)
    return out


def _wait_for_index(cat, q: Query):
    """The index, once its background build is done (bounded wait)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        index = cat._indexed(q)
        if index is not None:
            return index
        time.sleep(0.02)
    raise AssertionError("the in-memory spatial index was not built in 30 s")


@pytest.fixture
def indexed(archive):
    archive.catalog.add_many(_rows())
    yield archive
    spatial_index.forget(archive.catalog._index_key())


def _answers(cat, q: Query):
    recs = cat.search(q)
    return ([r.id for r in recs], [r.footprint.wkb for r in recs], [h.id for h in cat.search_features(q)],
            cat.search_ids(q), cat.count_matching(dataclasses.replace(q, limit=None, offset=0)))


dates = st.one_of(st.none(), st.just(TIE), st.just(datetime(2026, 11, 26, tzinfo=timezone.utc)),  # ingestion time
                  st.integers(0, 30 * 24).map(lambda h: datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(hours=h)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cx=st.floats(-0.025, 0.025), cy=st.floats(-0.02, 0.02), w=st.floats(1e-5, 0.05), h=st.floats(1e-5, 0.04),
       services=st.sets(st.sampled_from(SERVICES), min_size=0, max_size=3), since=dates, until=dates,
       offset=st.integers(0, 60), limit=st.one_of(st.none(), st.integers(1, 120)))
def test_the_index_answers_as_the_catalogue(indexed, cx, cy, w, h, services, since, until, offset, limit):
    cat = indexed.catalog
    area = box(LON0 + cx - w / 2, LAT0 + cy - h / 2, LON0 + cx + w / 2, LAT0 + cy + h / 2)
    q = Query(area, since, until, services=tuple(sorted(services)), limit=limit, offset=offset)
    cat.memory_index = False
    expected = _answers(cat, q)
    cat.memory_index = True
    _wait_for_index(cat, q)
    assert _answers(cat, q) == expected


def test_added_and_removed_rows_show_at_once(indexed):
    cat = indexed.catalog
    cat.memory_index = True
    q = Query(box(LON0 - 0.03, LAT0 - 0.03, LON0 + 0.03, LAT0 + 0.03), services=SERVICES, limit=1000)
    index = _wait_for_index(cat, q)
    before = [r.id for r in cat.search(q)]
    assert len(before) == 400
    new = dataclasses.replace(random_records(1, seed=99)[0], sha256="f" * 64,
                              captured_at=datetime(2020, 1, 1, tzinfo=timezone.utc))  # first in time order
    new_id = cat.add(new)
    # the index still holds the old rows: the search is answered by SQL until a new index is built
    assert cat._indexed(q) is not index
    assert [r.id for r in cat.search(q)] == [new_id] + before
    assert cat.count_matching(dataclasses.replace(q, limit=None)) == 401
    _wait_for_index(cat, q)
    assert [r.id for r in cat.search(q)] == [new_id] + before
    cat.delete(before[0])
    assert [r.id for r in cat.search(q)] == [new_id] + before[1:]
    _wait_for_index(cat, q)
    assert [r.id for r in cat.search(q)] == [new_id] + before[1:]
    assert [h.id for h in cat.search_features(dataclasses.replace(q, limit=3, offset=1))] == before[1:4]


def test_a_query_the_index_does_not_answer_stays_in_sql(indexed):
    """Mission, camera and id filters are not in the index: those searches are the catalogue's own."""
    cat = indexed.catalog
    cat.memory_index = True
    area = box(LON0 - 0.03, LAT0 - 0.03, LON0 + 0.03, LAT0 + 0.03)
    _wait_for_index(cat, Query(area, services=SERVICES))
    for q in (Query(area, mission="m-1", services=SERVICES), Query(area, camera="sim", services=SERVICES),
              Query(area, ids=(1, 2, 3), services=SERVICES), Query(None, services=SERVICES, limit=5)):
        assert cat._indexed(q) is None
    got = cat.search(Query(area, mission="m-1", services=SERVICES))
    assert got and all(r.mission == "m-1" for r in got)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cx=st.floats(-0.025, 0.025), cy=st.floats(-0.02, 0.02), w=st.floats(1e-4, 0.05), since=dates,
       asker=st.sampled_from(SERVICES), offset=st.integers(0, 40), limit=st.integers(1, 80),
       form=st.sampled_from(["feature", "map_feature"]), links=st.booleans(), memory=st.booleans())
def test_a_page_joined_by_the_database_is_the_page_of_features(indexed, cx, cy, w, since, asker, offset, limit,
                                                                form, links, memory):
    """What the map's list sends (the catalogue joins the texts and links itself) is byte for byte the Features
    of the same search, links spliced in by the web layer, and says whether more match."""
    from dronectl.archive.criteria import Criteria
    from dronectl.web.app import IMAGE_LINKS, feature_parts

    a = indexed
    a.catalog.memory_index = memory
    c = Criteria(box(LON0 + cx - w, LAT0 + cy - w, LON0 + cx + w, LAT0 + cy + w), since)
    hits = a.search_features(asker, c, limit=limit, offset=offset, form=form, peek=True)
    body, n, more = a.feature_page(asker, c, limit=limit, offset=offset, form=form,
                                   links=IMAGE_LINKS if links else None)
    assert (n, more) == (len(hits[:limit]), len(hits) > limit)
    expected = b"".join(feature_parts([hits[:limit]], None, links=links))
    assert b"".join(feature_parts([(body, n)], None)) == expected


def test_a_page_of_rows_without_stored_texts_makes_them(indexed):
    """An archive catalogued before Feature texts were kept: the first page that shows a row makes its text."""
    from dronectl.archive.criteria import Criteria
    from dronectl.web.app import IMAGE_LINKS

    a = indexed
    area = box(LON0 - 0.03, LAT0 - 0.03, LON0 + 0.03, LAT0 + 0.03)
    want, n, _ = a.feature_page("technical", Criteria(area), limit=50, links=IMAGE_LINKS)
    a.catalog._exec("UPDATE images SET feature = NULL, map_feature = NULL WHERE MOD(id, 3) = 0")
    assert a.catalog.features_of(a.search_ids("technical", Criteria(area), limit=50), "feature",
                                 ("communication", "technical")) is None
    assert a.feature_page("technical", Criteria(area), limit=50, links=IMAGE_LINKS)[:2] == (want, n)
    assert a.catalog._query("SELECT COUNT(*) FROM images WHERE feature IS NULL")[0][0] > 0  # only the page's made
