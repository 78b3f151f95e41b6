"""The JSON API of ``dronectl serve``, from outside: a real server on a loopback port, real HTTP requests.

What a user may not see answers exactly as what does not exist (same status, headers and bytes, Date
aside), on every route; tokens are checked on every request; bad input is one line of JSON.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from dronectl.archive.criteria import parse_bbox, parse_date
from dronectl.geo import find_zone

IMAGE_ROUTES = ("/api/images/{id}", "/api/images/{id}/thumbnail", "/api/images/{id}/file",
                "/api/images/{id}/file?download=1")
LIST_ROUTES = ("/api/images", "/api/zones", "/api/missions", "/api/export", "/api/export?format=stac", "/api/me")
VISIBLE = {"police": {"police", "communication", "technical"}, "communication": {"communication", "technical"},
           "technical": {"communication", "technical"}}


def missing_id(site) -> str:
    return "0" * 20  # a well-formed public id that no image has


def test_each_user_gets_what_their_service_may_see_and_nothing_else(site):
    users = {"paula": "police", "colin": "communication", "tess": "technical", "ada": "technical"}
    for user, service in users.items():
        token = site.tokens[user]
        # the answers for an id that does not exist, route by route
        absent = {r: site.request(r.format(id=missing_id(site)), token) for r in IMAGE_ROUTES}
        assert all(a[0] == 404 for a in absent.values())
        for owner, ids in site.ids.items():
            for image_id in ids:
                for route in IMAGE_ROUTES:
                    got = site.request(route.format(id=image_id), token)
                    if owner in VISIBLE[service]:
                        assert got[0] == 200, (user, route, image_id, got[2][:200])
                    else:  # never its bytes, metadata or another status: exactly the missing id's answer
                        assert got == absent[route], (user, owner, route)
        listed = {f["properties"]["service"] for f in site.json("/api/images", user)["features"]}
        assert listed == VISIBLE[service]
        exported = site.json("/api/export?format=geojson", user)["features"]
        assert {f["properties"]["service"] for f in exported} == VISIBLE[service]
        stac = site.json("/api/export?format=stac", user)
        assert {i["properties"]["dronectl:service"] for i in stac["features"]} == VISIBLE[service]
        assert {f["properties"]["service"] for f in site.json("/api/missions", user)["features"]} == VISIBLE[service]
        assert site.json("/api/me", user)["services"] == [s for s in ("police", "communication", "technical")
                                                           if s in VISIBLE[service]]


def test_a_police_image_by_id_thumbnail_and_file_with_a_communication_token(site):
    police = site.ids["police"][0]
    colin, paula = site.tokens["colin"], site.tokens["paula"]
    with site.archive() as a:
        blob = a.blob_path(a.catalog.get(site.row(police))).read_bytes()
        thumb = a.thumb_path(a.catalog.get(site.row(police))).read_bytes()
    status, headers, body = site.request(f"/api/images/{police}/file", paula)
    assert status == 200 and body == blob and ("content-type", "image/jpeg") in headers
    assert any(k == "content-disposition" and v.startswith("inline") for k, v in headers)
    status, headers, body = site.request(f"/api/images/{police}/file?download=1", paula)
    assert status == 200 and body == blob
    assert any(k == "content-disposition" and v.startswith("attachment") and ".jpg" in v for k, v in headers)
    assert site.request(f"/api/images/{police}/thumbnail", paula)[2] == thumb
    for route in IMAGE_ROUTES:
        status, _, body = site.request(route.format(id=police), colin)
        assert status == 404 and json.loads(body) == {"error": "not found"}
        assert blob not in body and thumb not in body and b"police" not in body
    # nor as a filter, an export or a mission
    assert site.request("/api/images?service=police", colin)[0] == 403
    assert site.request("/api/export?service=police", colin)[0] == 403
    assert site.request("/api/missions?service=police", colin)[0] == 403
    assert site.json("/api/images?mission=p-1", "colin")["features"] == []
    assert site.json("/api/export?mission=p-1", "colin")["features"] == []


def test_hidden_and_missing_ids_answer_byte_for_byte_the_same(site):
    colin = site.tokens["colin"]
    hidden = site.ids["police"][-1]
    for route in IMAGE_ROUTES:
        for absent in (missing_id(site), 0, 999999999999999999, "abc", "-1", "1.0", "%20", "99999999999999999999"):
            assert site.request(route.format(id=hidden), colin) == site.request(route.format(id=absent), colin), \
                (route, absent)


def test_no_valid_token_no_answer(site):
    revoked = site.tokens["rex"]
    selector = revoked.split(".")[1]
    assert site.request("/api/images", revoked)[0] == 200
    with site.archive() as a:
        a.revoke_user("rex")  # while the server runs: the next request is refused
    bad_tokens = [None, "", "nonsense", revoked, site.tokens["tess"] + "x", f"dct.{selector}.{'A' * 43}",
                  "dct." + "0" * 16 + "." + "A" * 43, "x" * 5000, "Basic dGVzczpzZWNyZXQ="]
    routes = [r.format(id=site.ids["technical"][0]) for r in IMAGE_ROUTES] + list(LIST_ROUTES)
    for token in bad_tokens:
        for route in routes:
            status, headers, body = site.request(route, token)
            assert status == 401, (token, route, status)
            assert ("www-authenticate", "Bearer") in headers and b"\n" not in body.strip()
            assert "log in" in json.loads(body)["error"]
        status, headers, _ = site.request("/", token)
        assert status == 303 and ("location", "/login") in headers
    status, _, _ = site.request("/api/images", headers={"Authorization": "Basic " + site.tokens["tess"]})
    assert status == 401


def test_login_sets_a_strict_http_only_cookie_and_logout_clears_it(site):
    form = urlencode({"token": site.tokens["tess"]}).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = site.request("/login", method="POST", headers=ctype, body=form)
    assert status == 303 and ("location", "/") in headers
    cookie = next(v for k, v in headers if k == "set-cookie")
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs
    session = cookie.split(";")[0]
    assert site.request("/", cookie=session)[0] == 200
    assert site.request("/api/images", cookie=session)[0] == 200
    status, headers, _ = site.request("/logout", method="POST", cookie=session)
    assert status == 303 and any(k == "set-cookie" and "Max-Age=0" in v for k, v in headers)
    for token in ("wrong", site.tokens["tess"][:-2], ""):
        status, _, body = site.request("/login", method="POST", headers=ctype,
                                       body=urlencode({"token": token}).encode())
        assert status == 401 and b"not valid" in body
    # a form posted from another site is refused
    status, _, _ = site.request("/login", method="POST", headers={**ctype, "Origin": "http://evil.example"},
                                body=form)
    assert status == 403
    status, _, _ = site.request("/login", method="POST", headers=ctype, body=b"token=" + b"x" * 10_000)
    assert status == 400


def _ids(features) -> list:
    return [f["id"] for f in features]


@pytest.mark.parametrize("user", ["tess", "paula"])
def test_filters_give_what_archive_search_gives(site, user):
    service = {"tess": "technical", "paula": "police"}[user]
    zone = find_zone("chantier-mediatheque")
    cases = [
        ({}, {}),
        ({"bbox": "3.3260,49.3760,3.3280,49.3790"}, {"geometry": parse_bbox("3.3260,49.3760,3.3280,49.3790")}),
        ({"zone": zone.name}, {"geometry": zone.geometry}),
        ({"since": "2026-11-21", "until": "2026-11-22"},
         {"since": parse_date("2026-11-21"), "until": parse_date("2026-11-22", end=True)}),
        ({"mission": "t-2"}, {"mission": "t-2"}),
        ({"mission": "c-1", "service": "communication"}, {"mission": "c-1", "service": "communication"}),
        ({"camera": "sim"}, {"camera": "sim"}),
        ({"since": "2026-11-23T00:00:00+01:00"}, {"since": parse_date("2026-11-23T00:00:00+01:00")}),
    ]
    with site.archive() as a:
        for params, crit in cases:
            want = [r.public_id for r in a.search(service, **crit)]
            got = site.json("/api/images?" + urlencode(params), user)
            assert _ids(got["features"]) == want, params
            assert got["numberReturned"] == len(want) and got["next"] is None
            assert _ids(site.json("/api/export?" + urlencode(params), user)["features"]) == want
            light = site.json("/api/images?" + urlencode({**params, "fields": "map"}), user)
            assert _ids(light["features"]) == want and all(
                set(f["properties"]) == {"service", "captured_at"} for f in light["features"])
        assert len([r.id for r in a.search(service, geometry=zone.geometry)]) == 3  # the filter means something
        # paging: the `next` links walk the same list, limit at a time
        want = [r.public_id for r in a.search(service)]
    pages, url = [], "/api/images?limit=2"
    while url:
        page = site.json(url, user)
        assert page["numberReturned"] <= 2
        pages += _ids(page["features"])
        url = page["next"]
    assert pages == want and len(want) > 4


def test_the_map_form_is_the_same_footprints_to_a_tenth_of_a_metre(site):
    full = site.json("/api/images")["features"]
    light = site.json("/api/images?fields=map")["features"]
    assert [f["id"] for f in light] == [f["id"] for f in full]
    for a, b in zip(full, light):
        assert a["properties"]["captured_at"] == b["properties"]["captured_at"]
        ring_a, ring_b = a["geometry"]["coordinates"][0], b["geometry"]["coordinates"][0]
        assert len(ring_a) == len(ring_b)
        assert all(abs(x - u) <= 5e-7 and abs(y - v) <= 5e-7 for (x, y), (u, v) in zip(ring_a, ring_b))


def test_one_image_has_its_metadata_and_links(site):
    image_id = site.ids["technical"][0]
    f = site.json(f"/api/images/{image_id}")
    assert f["type"] == "Feature" and f["id"] == image_id and f["geometry"]["type"] == "Polygon"
    p = f["properties"]
    assert p["service"] == "technical" and p["mission"] == "t-1" and p["camera"] == "sim"
    assert p["height_m"] == pytest.approx(50.0, abs=1.0) and p["captured_at"].startswith("2026-11-22T09:00")
    assert f["links"]["thumbnail"] == f"/api/images/{image_id}/thumbnail"
    status, headers, body = site.request(f["links"]["thumbnail"], site.tokens["tess"])
    assert status == 200 and body[:2] == b"\xff\xd8" and ("content-type", "image/jpeg") in headers
    zones = site.json("/api/zones")
    assert "chantier-mediatheque" in [z["properties"]["name"] for z in zones["features"]]
    missions = {m["id"]: m for m in site.json("/api/missions")["features"]}
    t1 = missions["technical/t-1"]
    assert t1["properties"]["images"] == 3 and t1["geometry"]["type"] == "LineString"
    assert t1["properties"]["first"].startswith("2026-11-22T09:00")


TRAVERSALS = [
    "/api/images/../../config.toml", "/api/images/%2e%2e/%2e%2e/config.toml", "/api/images/%2e%2e/file",
    "/api/images/..%2f..%2fconfig.toml/file", "/api/images/..%2F..%2Fcatalogue.sqlite/file",
    "/api/images/%2fetc%2fpasswd/file", "/api/images//etc/passwd/file", "/api/images/%2Fetc%2Fpasswd",
    "/api/images/1%2f..%2f..%2fconfig.toml/thumbnail", "/api/images/..%5c..%5cconfig.toml/file",
    "/api/images/%252e%252e%252fconfig.toml/file", "/api/images/1/file/..%2f..%2f..%2fconfig.toml",
    "/static/../../config.toml", "/static/%2e%2e/%2e%2e/%2e%2e/config.toml", "/static/..%2f..%2fapp.py",
    "/static/%2fetc%2fpasswd", "/static//etc/passwd", "/static/leaflet/..%2f..%2f..%2f..%2fconfig.toml",
    "/static/leaflet/%2e%2e/%2e%2e/leaflet/__init__.py", "/%2e%2e/%2e%2e/etc/passwd", "/api/%2e%2e/config.toml",
]


def test_path_traversal_reaches_nothing(site):
    token = site.tokens["paula"]  # the user who may see the most
    nf = site.request(f"/api/images/{missing_id(site)}", token)
    for path in TRAVERSALS:
        status, headers, body = site.request(path, token)
        assert (status, body) == (404, nf[2]), (path, status, body[:200])
        assert b"[services" not in body and b"root:" not in body and b"SQLite" not in body
    # the static files that are meant to be there are
    assert site.request("/static/leaflet/leaflet.js")[0] == 200
    assert site.request("/static/app.js")[0] == 200


BAD_QUERIES = [
    ("/api/images?bbox=1,2,3", "bbox"), ("/api/images?bbox=3.34,49.37,3.30,49.39", "west must be less"),
    ("/api/images?bbox=nan,1,2,3", "bbox"), ("/api/images?since=yesterday", "bad date"),
    ("/api/images?since=2026-11-25&until=2026-11-01", "after"), ("/api/images?limit=0", "limit"),
    ("/api/images?limit=5001", "limit"), ("/api/images?limit=abc", "limit"), ("/api/images?offset=-1", "offset"),
    ("/api/images?offset=99999999999", "offset"), ("/api/images?colour=red", "unknown parameter 'colour'"),
    ("/api/images?mission=a&mission=b", "given twice"), ("/api/images?zone=atlantis", "unknown zone"),
    ("/api/images?zone=centre-ville&bbox=3.3,49.3,3.4,49.4", "at most one"),
    ("/api/images?service=fire", "unknown service"), ("/api/export?format=xml", "format"),
    ("/api/images/1/file?download=2", "download"), ("/api/images?fields=some", "fields"), ("/api/images/1?x=1", "unknown parameter"),
    ("/api/images?mission=" + "m" * 600, "too long"), ("/api/images?" + "a=1&" * 1500, "too long"),
    ("/api/images?camera=%00x", "control characters"), ("/api/images?camera=%ff%fe", None), ("/api/images?bbox=" + quote("3.3,49.3,3.4,49.4'; DROP TABLE images;--"), "bbox"),
]


def test_bad_queries_answer_400_with_one_line_of_json(site):
    token = site.tokens["tess"]
    for path, words in BAD_QUERIES:
        status, headers, body = site.request(path, token)
        if words is None:  # odd but harmless text: a search that finds nothing
            assert status == 200 and json.loads(body)["features"] == [], path
            continue
        assert status == 400, (path, status, body[:200])
        assert ("content-type", "application/json") in headers and body.count(b"\n") == 0
        message = json.loads(body)["error"]
        assert words in message and "Traceback" not in message, (path, message)
    # beyond what the HTTP parser takes at all, still a 400 and no traceback
    status, _, body = site.request("/api/images?mission=" + "m" * 70_000, token)
    assert status == 400 and b"Traceback" not in body
    with site.archive() as a:  # the would-be injection did nothing
        assert a.catalog.count() == sum(len(v) for v in site.ids.values())


def test_every_view_of_a_police_image_is_audited_with_the_user_name(site):
    police = site.ids["police"][1]
    with site.archive() as a:
        before = len(a.audit_log())
    for route in IMAGE_ROUTES:
        assert site.request(route.format(id=police), site.tokens["paula"])[0] == 200
    assert site.request("/api/export?mission=p-1", site.tokens["paula"])[0] == 200
    assert site.request("/api/images?mission=p-1", site.tokens["paula"])[0] == 200
    for route in IMAGE_ROUTES:  # refused views leave no trace under another user's name
        site.request(route.format(id=police), site.tokens["colin"])
    with site.archive() as a:
        new = a.audit_log()[before:]
    mine = [(e.actor, e.action, e.image_id) for e in new if e.image_id == site.row(police)]
    for action in ("show", "thumbnail", "file", "download", "export", "search"):
        assert ("paula", action, site.row(police)) in mine, action
    assert all(e.actor == "paula" and e.service == "police" for e in new)
    # technical images are not audited (the archive's config says only police access is)
    site.request(f"/api/images/{site.ids['technical'][0]}", site.tokens["tess"])
    with site.archive() as a:
        assert not [e for e in a.audit_log()[before:] if e.actor == "tess"]


def test_security_headers_on_every_kind_of_answer(site):
    token = site.tokens["tess"]
    for path, tok in (("/", token), ("/login", None), ("/api/images", token), ("/api/images", None),
                      (f"/api/images/{missing_id(site)}", token), ("/static/app.js", None), ("/nowhere", None),
                      ("/api/images?limit=0", token), (f"/api/images/{site.ids['technical'][0]}/file", token)):
        status, headers, _ = site.request(path, tok)
        h = dict(headers)
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "same-origin", path
        assert "server" not in h
        if not path.startswith("/static/"):
            assert h["cache-control"] == "no-store", path
    # the page has no inline script for that CSP to allow
    _, _, body = site.request("/", token)
    assert b"<script>" not in body and b"onclick" not in body.lower()


def test_a_missing_thumbnail_is_made_on_first_request(site):
    tid = site.ids["technical"][0]
    with site.archive() as a:
        thumb = a.thumb_path(a.catalog.get(site.row(tid)))
    thumb.unlink()  # as a catalogue-first ingest leaves it until its second pass
    status, headers, body = site.request(f"/api/images/{tid}/thumbnail", site.tokens["tess"])
    assert status == 200 and body[:3] == b"\xff\xd8\xff" and dict(headers)["content-type"] == "image/jpeg"
    assert thumb.is_file() and thumb.read_bytes() == body


def test_mission_mosaics_follow_the_same_visibility_and_audit(site):
    with site.archive() as a:
        a.mosaic("police", "p-1", site.root.parent / "p-1.tif", publish=True)
        a.mosaic("technical", "t-1", site.root.parent / "t-1.tif", publish=True)
    missions = {f["id"]: f["properties"] for f in site.json("/api/missions", "tess")["features"]}
    assert "police/p-1" not in missions and missions["technical/t-1"]["mosaic"] is not None
    assert missions["technical/t-2"]["mosaic"] is None
    href = missions["technical/t-1"]["mosaic"]["href"]
    status, headers, body = site.request(href, site.tokens["tess"])
    assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
    hidden = site.request("/api/mosaic?service=police&mission=p-1", site.tokens["tess"])
    for absent in ("/api/mosaic?service=police&mission=nope", "/api/mosaic?service=technical&mission=nope",
                   "/api/mosaic?service=firemen&mission=p-1"):
        assert site.request(absent, site.tokens["tess"]) == hidden, absent
    assert hidden[0] == 404
    police = {f["id"]: f["properties"] for f in site.json("/api/missions", "paula")["features"]}
    status, _, _ = site.request(police["police/p-1"]["mosaic"]["href"], site.tokens["paula"])
    assert status == 200
    with site.archive() as a:
        views = [e for e in a.audit_log(actor="paula") if e.action == "mosaic-view"]
    assert len(views) == 3 and {e.service for e in views} == {"police"}


def test_the_list_sends_each_image_as_its_own_page_does_and_shows_a_hold_at_once(site):
    """The list's Features come from text kept in the catalogue: they must be what /api/images/{id} says,
    follow a hold set after ingest, and every police image listed must be audited under the user's name."""
    with site.archive() as a:
        before = len(a.audit_log())
    listed = site.json("/api/images", "paula")["features"]
    assert len(listed) == sum(len(ids) for ids in site.ids.values())
    for f in listed:
        assert f == site.json(f"/api/images/{f['id']}", "paula")
    status, headers, body = site.request("/api/export", site.tokens["paula"])
    # the export: the same Features, and the annotations of the same place (none here) in their own member
    assert status == 200 and json.loads(body) == {"type": "FeatureCollection", "features": listed, "annotations": []}
    assert ("content-disposition", 'attachment; filename="dronectl-images.geojson"') in headers
    with site.archive() as a:
        new = a.audit_log()[before:]
    for action in ("search", "export"):
        assert sorted(e.image_id for e in new if e.action == action and e.actor == "paula") == sorted(
            site.row(f["id"]) for f in listed if f["properties"]["service"] == "police")
    image_id = site.ids["technical"][1]
    with site.archive() as a:
        a.hold(site.row(image_id), "PV 2026-118")
    try:
        held = {f["id"]: f for f in site.json("/api/images", "tess")["features"]}[image_id]
        assert held["properties"]["holds"] == ["PV 2026-118"] and held["properties"]["held_at"]
        assert held == site.json(f"/api/images/{image_id}", "tess")
    finally:
        with site.archive() as a:
            a.release(site.row(image_id), all_holds=True)
    released = {f["id"]: f for f in site.json("/api/images", "tess")["features"]}[image_id]
    assert released["properties"]["holds"] == [] and released["properties"]["held_at"] is None


def test_a_page_audits_exactly_the_police_images_it_sends(site):
    """The server looks one image past the page to know there is a next one: that image is not sent, nor logged."""
    import json

    with site.archive() as a:
        before = len(a.audit_log())
    status, _, body = site.request("/api/images?mission=p-1&limit=1", site.tokens["paula"])
    page = json.loads(body)
    assert status == 200 and len(page["features"]) == 1 and page["next"]
    with site.archive() as a:
        new = [e for e in a.audit_log()[before:] if e.action == "search"]
    assert [e.image_id for e in new] == [site.row(page["features"][0]["id"])]
