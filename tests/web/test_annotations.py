"""Annotations through a real ``dronectl serve``, on each catalogue backend: made by one user, seen by a colleague
of the same service (and the services that may see it), hidden from others exactly as missing ones, deleted by
their author or an administrator, exported with the images, audited for the police, and bad input refused in one
line with nothing saved."""

from __future__ import annotations

import json

import pytest

SITE = [[3.3268, 49.3772], [3.3274, 49.3772], [3.3274, 49.3777], [3.3268, 49.3777], [3.3268, 49.3772]]


def post(site, user: str, feature) -> tuple[int, dict]:
    body = feature if isinstance(feature, bytes) else json.dumps(feature).encode()
    status, _, data = site.request("/api/annotations", site.tokens[user], "POST",
                                   {"Content-Type": "application/json"}, body)
    return status, json.loads(data) if data else {}


def listed(site, user: str, query: str = "") -> list[dict]:
    return site.json("/api/annotations" + query, user)["features"]


def feature(geometry, note="crack in the slab, east corner", category="defect"):
    return {"type": "Feature", "geometry": geometry, "properties": {"note": note, "category": category}}


def test_an_annotation_is_shared_with_the_service_and_hidden_from_others(site):
    status, made = post(site, "tess", feature({"type": "Polygon", "coordinates": [SITE]}))
    assert status == 201, made
    aid = made["id"]
    assert made["properties"] == {"kind": "annotation", "service": "technical", "author": "tess",
                                  "category": "defect", "note": "crack in the slab, east corner",
                                  "created_at": made["properties"]["created_at"]}
    assert aid in [f["id"] for f in listed(site, "ada")]  # a colleague of the same service
    assert aid in [f["id"] for f in listed(site, "paula")]  # the police may see technical images
    assert aid in [f["id"] for f in listed(site, "tess", "?bbox=3.326,49.377,3.328,49.378")]
    assert aid not in [f["id"] for f in listed(site, "tess", "?bbox=3.30,49.36,3.31,49.37")]
    status, police = post(site, "paula", feature({"type": "Point", "coordinates": [3.3236, 49.3815]},
                                                 "vehicle seen", "other"))
    assert status == 201
    assert police["id"] in [f["id"] for f in listed(site, "paula")]
    assert police["id"] not in [f["id"] for f in listed(site, "tess")]
    assert police["id"] not in [f["id"] for f in listed(site, "colin")]
    hidden = site.request(f"/api/annotations/{police['id']}", site.tokens["tess"], "DELETE")
    missing = site.request("/api/annotations/a0123456789abcdef", site.tokens["tess"], "DELETE")
    assert hidden == missing and hidden[0] == 404
    assert site.request(f"/api/annotations/{police['id']}", site.tokens["paula"], "DELETE")[0] == 204
    assert police["id"] not in [f["id"] for f in listed(site, "paula")]
    with site.archive() as a:
        actions = [(e.action, e.detail) for e in a.audit_log(actor="paula") if e.service == "police"
                   and e.action.startswith("annotation")]
    assert ("annotation-add", f"annotation {police['id']}") in actions
    assert ("annotation-view", f"annotation {police['id']}") in actions
    assert ("annotation-delete", f"annotation {police['id']}") in actions


def test_a_colleague_may_not_delete_but_an_administrator_may(site):
    status, made = post(site, "tess", feature({"type": "LineString", "coordinates": SITE[:3]}, "kerb line",
                                              "works"))
    assert status == 201
    status, _, body = site.request(f"/api/annotations/{made['id']}", site.tokens["colin"], "DELETE")
    assert status == 403 and "author" in json.loads(body)["error"]
    assert site.request(f"/api/annotations/{made['id']}", site.tokens["ada"], "DELETE")[0] == 204
    assert made["id"] not in [f["id"] for f in listed(site, "tess")]


def test_the_export_carries_the_annotations_of_the_place(site):
    status, made = post(site, "tess", feature({"type": "Point", "coordinates": [3.3271, 49.3775]}, "manhole"))
    assert status == 201
    status, _, body = site.request("/api/export?zone=chantier-mediatheque", site.tokens["tess"])
    fc = json.loads(body)
    assert status == 200 and fc["features"] and made["id"] in [f["id"] for f in fc["annotations"]]
    status, _, body = site.request("/api/export?bbox=3.30,49.38,3.31,49.39", site.tokens["tess"])
    assert made["id"] not in [f["id"] for f in json.loads(body)["annotations"]]


BAD = [
    ({"type": "Feature"}, "GeoJSON Feature"),
    (feature({"type": "MultiPolygon", "coordinates": [[SITE]]}), "Point"),
    (feature({"type": "Polygon", "coordinates": [[[3.32, 49.37], [3.33, 49.38], [3.33, 49.37], [3.32, 49.38],
                                                  [3.32, 49.37]]]}), "crosses itself"),
    (feature({"type": "LineString", "coordinates": [[3.32 + i * 1e-6, 49.37] for i in range(5000)]}), "at most"),
    (feature({"type": "Point", "coordinates": [49.37, 200.0]}), "longitude"),
    (feature({"type": "Point", "coordinates": ["x", 1]}), "longitude"),
    (feature({"type": "Point", "coordinates": [3.32, 49.37]}, category="gossip"), "category"),
    (feature({"type": "Point", "coordinates": [3.32, 49.37]}, note="x" * 3000), "note"),
    (feature({"type": "Point", "coordinates": [3.32, 49.37]}, note="\x1b[2J"), "control"),
    (b"[" * 1100, "deep"),
    (b"{not json", "not JSON"),
]


@pytest.mark.parametrize("body,words", BAD, ids=range(len(BAD)))
def test_bad_annotations_are_one_line_and_save_nothing(site, body, words):
    before = len(listed(site, "ada"))
    status, answer = post(site, "tess", body)
    assert status == 400 and list(answer) == ["error"] and words in answer["error"], answer
    assert len(listed(site, "ada")) == before
