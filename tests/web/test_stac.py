"""The STAC API of ``dronectl serve`` (/stac), through pystac-client as a real client and through raw HTTP, over a
real server on each catalogue backend: what it finds is what Archive.search finds for the same user, a service's
hidden images stay hidden (and missing and hidden answer the same), paging by next links, assets fetchable."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
import requests
from pystac_client import Client
from shapely.geometry import box, mapping

from tests.web.test_api import VISIBLE

SERVICE = {"paula": "police", "colin": "communication", "tess": "technical"}


def client(site, user: str) -> Client:
    return Client.open(site.url + "stac", headers={"Authorization": f"Bearer {site.tokens[user]}"})


def expected(site, asker: str, **criteria) -> list[str]:
    with site.archive() as a:
        return [f"{r.service}-{r.public_id}" for r in a.search(asker, **criteria)]


def test_landing_page_and_collections_are_the_services_the_user_may_see(site):
    for user, service in SERVICE.items():
        cat = client(site, user)
        assert cat.conforms_to("ITEM_SEARCH") and cat.conforms_to("COLLECTIONS") and cat.conforms_to("CORE")
        got = {c.id for c in cat.get_collections()}
        assert got == VISIBLE[service], (user, got)
        for name in got:
            col = cat.get_collection(name)
            assert col.id == name
            w, s, e, n = col.extent.spatial.bboxes[0]
            with site.archive() as a:
                recs = a.search(service, service=name)
            assert (w, s, e, n) == pytest.approx((min(r.footprint.bounds[0] for r in recs),
                                                  min(r.footprint.bounds[1] for r in recs),
                                                  max(r.footprint.bounds[2] for r in recs),
                                                  max(r.footprint.bounds[3] for r in recs)))
            assert col.extent.temporal.intervals[0] == [min(r.reference_time for r in recs),
                                                        max(r.reference_time for r in recs)]


def test_search_by_bbox_and_datetime_finds_what_archive_search_finds(site):
    cat = client(site, "tess")
    area = (3.3150, 49.3740, 3.3300, 49.3800)  # the abbey and the mediatheque site, not the river banks
    since, until = datetime(2026, 11, 21, tzinfo=timezone.utc), datetime(2026, 11, 22, 23, 59, tzinfo=timezone.utc)
    want = expected(site, "technical", geometry=box(*area), since=since, until=until)
    assert want and {i.split("-")[0] for i in want} == {"communication", "technical"}
    for method in ("GET", "POST"):
        got = [it.id for it in cat.search(bbox=area, datetime=[since, until], method=method).items()]
        assert got == want, method
        # the same area as a GeoJSON polygon
        got = [it.id for it in cat.search(intersects=mapping(box(*area)), datetime=[since, until],
                                          method=method).items()]
        assert got == want, method
    # open ends, and a single collection
    for dt, crit in (("../2026-11-21T23:59:59Z", {"until": datetime(2026, 11, 21, 23, 59, 59, tzinfo=timezone.utc)}),
                     ("2026-11-22T00:00:00Z/..", {"since": datetime(2026, 11, 22, tzinfo=timezone.utc)}),
                     ("2026-11-22T00:00:00+01:00/", {"since": datetime(2026, 11, 21, 23, tzinfo=timezone.utc)})):
        want = expected(site, "technical", **crit)
        assert want, dt
        assert [it.id for it in cat.search(datetime=dt, method="GET").items()] == want, dt
    want = expected(site, "technical", service="technical")
    got = [it.id for it in cat.search(collections=["technical"]).items()]
    assert got == want and len(got) == 5
    got = [it.id for it in cat.get_collection("communication").get_items()]
    assert got == expected(site, "technical", service="communication")
    # ids, one from each visible service, and one that is not an item
    two = [want[0], expected(site, "technical", service="communication")[0]]
    assert sorted(it.id for it in cat.search(ids=two + ["technical-999999"]).items()) == sorted(two)


def test_communication_never_sees_a_police_item(site):
    cat = client(site, "colin")
    police_ids = [f"police-{i}" for i in site.ids["police"]]
    assert police_ids
    everything = [it.id for it in cat.search(limit=100).items()]
    assert everything == expected(site, "communication") and len(everything) == 8
    assert not any(i.startswith("police-") for i in everything)
    # a police collection is 404, as a nonexistent one; searching it (or ids of police items) finds nothing
    assert cat.get_collection("police") is None
    assert list(cat.search(collections=["police"]).items()) == []
    assert list(cat.search(collections=["police", "nosuch"], method="GET").items()) == []
    assert list(cat.search(ids=police_ids).items()) == []
    # the police user finds them
    assert sorted(it.id for it in client(site, "paula").search(ids=police_ids).items()) == sorted(police_ids)


def test_hidden_answers_exactly_as_missing(site):
    token = site.tokens["colin"]
    pid = site.ids["police"][0]
    pairs = [("/stac/collections/police", "/stac/collections/nosuch"),
             ("/stac/collections/police/items", "/stac/collections/nosuch/items"),
             (f"/stac/collections/police/items/police-{pid}", "/stac/collections/police/items/police-99999999"),
             (f"/stac/collections/technical/items/police-{pid}", "/stac/collections/technical/items/x-1")]
    for hidden, missing in pairs:
        h, m = site.request(hidden, token), site.request(missing, token)
        assert h[0] == 404 and h == m, (hidden, h, m)
    assert site.request(f"/stac/collections/police/items/police-{pid}", site.tokens["paula"])[0] == 200


def test_paging_by_next_links_over_several_pages(site):
    cat = client(site, "tess")
    want = expected(site, "technical")
    assert len(want) == 8
    for method in ("GET", "POST"):
        pages = [[it.id for it in page] for page in cat.search(limit=3, method=method).pages()]
        assert [len(p) for p in pages] == [3, 3, 2], method
        assert [i for p in pages for i in p] == want, method
    # collection items page too
    col = cat.get_collection("technical")
    items_link = col.get_single_link("items").href
    status, _, body = site.request(items_link.split(site.url.rstrip("/"), 1)[1] + "?limit=2", site.tokens["tess"])
    page = json.loads(body)
    seen = [f["id"] for f in page["features"]]
    while (nxt := [link for link in page["links"] if link["rel"] == "next"]):
        page = site.json(nxt[0]["href"].split(site.url.rstrip("/"), 1)[1], "tess")
        seen += [f["id"] for f in page["features"]]
    assert seen == expected(site, "technical", service="technical")


def test_assets_are_fetchable_with_the_token_and_only_with_it(site):
    cat = client(site, "tess")
    items = list(cat.search(collections=["technical"], limit=2, max_items=2).items())
    assert len(items) == 2
    auth = {"Authorization": f"Bearer {site.tokens['tess']}"}
    for it in items:
        num = site.row(it.id.rsplit("-", 1)[1])
        with site.archive() as a:
            rec = a.catalog.get(num)
            blob = a.blob_path(rec).read_bytes()
        image = requests.get(it.assets["image"].href, headers=auth, timeout=30)
        assert image.status_code == 200 and image.content == blob
        thumb = requests.get(it.assets["thumbnail"].href, headers=auth, timeout=30)
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        assert requests.get(it.assets["image"].href, timeout=30).status_code == 401
        assert it.collection_id == "technical" and it.properties["dronectl:sha256"] == rec.sha256


def test_every_stac_route_wants_a_valid_token(site):
    for path in ("/stac", "/stac/conformance", "/stac/collections", "/stac/collections/technical",
                 "/stac/collections/technical/items", "/stac/search"):
        for token in (None, "not-a-token"):
            status, _, body = site.request(path, token)
            assert status == 401 and b"\n" not in body.strip(), (path, status)
    status, _, body = site.request("/stac/search", None, "POST", {"Content-Type": "application/json"}, b"{}")
    assert status == 401
    # the session cookie of the web map works too
    status, _, body = site.request("/stac/collections", cookie=site.login("tess"))
    assert status == 200 and {c["id"] for c in json.loads(body)["collections"]} == VISIBLE["technical"]


def test_searching_police_images_is_audited_under_the_users_name(site):
    cat = client(site, "paula")
    got = [it.id for it in cat.search(collections=["police"]).items()]
    assert len(got) == 3
    with site.archive() as a:
        entries = [e for e in a.audit_log() if e.actor == "paula" and e.action == "search"]
    assert {e.image_id for e in entries} >= {site.row(i.rsplit("-", 1)[1]) for i in got}
    # exactly what a page shows is audited, not the look-ahead for the next page
    with site.archive() as a:
        before = len(a.audit_log())
    pages = [[it.id for it in p] for p in cat.search(collections=["police"], limit=2).pages()]
    with site.archive() as a:
        new = [e for e in a.audit_log()[before:] if e.action != "collection-view"]  # the client reads the collection
    assert [len(p) for p in pages] == [2, 1]
    assert sorted(e.image_id for e in new) == sorted(site.row(i.rsplit("-", 1)[1]) for p in pages for i in p)
    assert {(e.actor, e.action) for e in new} == {("paula", "search")}
    # an item view is audited as a show
    pid = site.ids["police"][1]
    site.json(f"/stac/collections/police/items/police-{pid}", "paula")
    with site.archive() as a:
        assert any(e.actor == "paula" and e.action == "show" and e.image_id == site.row(pid) for e in a.audit_log())


BAD_GET = ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=0,50,1,49", "bbox=0,0,200,1", "datetime=yesterday",
           "datetime=2026-11-21", "datetime=../..", "datetime=2026-11-22T00:00:00Z/2026-11-21T00:00:00Z",
           "datetime=2026-13-01T00:00:00Z", "datetime=a/b/c", "limit=0", "limit=-1", "limit=ten", "offset=-3",
           "intersects=" + quote('{"type":"Polygon"}'), "intersects=nope",
           "intersects=" + quote('{"type":"Feature","geometry":null}'),
           "bbox=0,0,1,1&intersects=" + quote('{"type":"Point","coordinates":[0,0]}'), "sortby=id", "limit=1&limit=2"]
BAD_POST = [b"not json", b"[1,2]", b'{"bbox":"0,0,1"}', b'{"bbox":[0,0,1]}', b'{"limit":true}', b'{"limit":0}',
            b'{"datetime":5}', b'{"collections":"a","ids":[1]}', b'{"query":{}}',
            b'{"intersects":{"type":"Point","coordinates":[500,0]}}']


@pytest.mark.parametrize("query", BAD_GET)
def test_bad_get_parameters_are_one_line_of_json(site, query):
    status, headers, body = site.request("/stac/search?" + query, site.tokens["tess"])
    assert status == 400, (query, body)
    assert dict(headers)["content-type"].startswith("application/json")
    msg = json.loads(body)["error"]
    assert "\n" not in body.decode() and msg and len(msg) < 200


@pytest.mark.parametrize("body", BAD_POST)
def test_bad_post_bodies_are_one_line_of_json(site, body):
    status, _, raw = site.request("/stac/search", site.tokens["tess"], "POST",
                                  {"Content-Type": "application/json"}, body)
    assert status == 400, (body, raw)
    assert "\n" not in raw.decode() and json.loads(raw)["error"]


def test_a_limit_above_the_maximum_is_the_maximum_and_not_an_error(site):
    page = site.json("/stac/search?limit=999999999", "tess")
    assert page["numberReturned"] == 8 and not [link for link in page["links"] if link["rel"] == "next"]


def test_pystac_client_gets_every_item_with_one_request_per_page(site):
    """pystac-client places each item by its links: items carry their ``self`` link, so ``.items()`` and
    ``.item_collection()`` cost one request a page, not two more an item (the stac_version is one everywhere)."""
    sent = []

    def count(request):
        sent.append(request.url)
        return request

    cat = Client.open(site.url + "stac", headers={"Authorization": f"Bearer {site.tokens['tess']}"},
                      request_modifier=count)
    want = expected(site, "technical")
    for fetch in (lambda s: list(s.items()), lambda s: list(s.item_collection())):
        sent.clear()
        items = fetch(cat.search(limit=3, method="GET"))
        assert [it.id for it in items] == want
        assert len(sent) == 3, sent  # 8 items, 3 pages
        for it in items:
            assert it.get_self_href().endswith(f"/stac/collections/{it.collection_id}/items/{it.id}")
    landing = site.json("/stac", "tess")
    tid = next(i for i in want if i.startswith("technical-"))
    item = site.json(f"/stac/collections/technical/items/{tid}", "tess")
    coll = site.json("/stac/collections/technical", "tess")
    assert landing["stac_version"] == item["stac_version"] == coll["stac_version"]


def test_number_matched_is_how_many_items_all_pages_hold(site):
    """Every search page says ``numberMatched``: the items of all its pages (pystac-client's ``matched()``), with
    or without an area, by GET and POST, on the collection's items route, past the last page and for no match."""
    cat = client(site, "tess")
    searches = [{}, {"bbox": [3.31, 49.37, 3.34, 49.39]}, {"bbox": [3.3265, 49.3770, 3.3275, 49.3785]},
                {"collections": ["technical"], "datetime": "2026-11-22T00:00:00Z/.."}, {"bbox": [2.3, 48.8, 2.4, 48.9]}]
    for kw in searches:
        for method in ("GET", "POST"):
            search = cat.search(limit=2, method=method, **kw)
            pages = list(search.pages_as_dicts())
            total = sum(len(p["features"]) for p in pages)
            assert [p["numberMatched"] for p in pages] == [total] * len(pages), (kw, method)
            assert search.matched() == total
    assert cat.search(limit=2, bbox=[3.31, 49.37, 3.34, 49.39]).matched() > 2  # an area with several pages
    everything = site.json("/stac/search?limit=2", "tess")["numberMatched"]
    past = site.json("/stac/search?limit=2&offset=50", "tess")
    assert past["features"] == [] and past["numberMatched"] == everything == len(expected(site, "technical"))
    items = site.json("/stac/collections/technical/items?limit=2", "tess")
    assert items["numberMatched"] == len(expected(site, "technical", service="technical"))
