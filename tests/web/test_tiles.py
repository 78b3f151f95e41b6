"""Published mosaics as XYZ tiles, TileJSON and WMTS, from a real ``dronectl serve``: pixels where the photos are,
nothing elsewhere, the same visibility as the images (hidden = missing), and a police mosaic's tiles audited."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def _xyz(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _alpha(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.size == (256, 256)
    return np.asarray(img.convert("RGBA"))[..., 3]


@pytest.fixture(scope="module")
def published(site):
    with site.archive() as a:
        a.mosaic("police", "p-1", site.root.parent / "p-1.tif", publish=True)
        a.mosaic("technical", "t-1", site.root.parent / "t-1.tif", publish=True)
    return site


def test_a_mosaic_is_served_as_tiles_described_by_tilejson(published):
    site = published
    missions = {f["id"]: f["properties"] for f in site.json("/api/missions", "tess")["features"]}
    tj = site.json(missions["technical/t-1"]["mosaic"]["tilejson"], "tess")
    assert tj["tilejson"] == "3.0.0" and tj["scheme"] == "xyz" and tj["minzoom"] <= tj["maxzoom"] <= 24
    w, s, e, n = tj["bounds"]
    assert w < 3.32705 < e and s < 49.3775 < n
    template = tj["tiles"][0]
    assert template.startswith(site.url) and template.endswith("/{z}/{x}/{y}.png")
    z = tj["maxzoom"]
    x, y = _xyz((w + e) / 2, (s + n) / 2, z)
    path = template[len(site.url.rstrip('/')):].format(z=z, x=x, y=y)
    status, headers, body = site.request(path, site.tokens["tess"])
    assert status == 200 and dict(headers)["content-type"] == "image/png"
    inside = _alpha(body)
    assert (inside > 0).mean() > 0.5, "the tile at the mosaic's centre should be mostly photo"
    rgb = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))[inside > 0]
    assert rgb.std() > 1.0, "photo pixels vary (a uniform tile is not the mosaic)"
    # a low zoom comes from the overviews: still pixels where the site is, one tile for the whole town
    zl = max(tj["minzoom"], 12)
    x, y = _xyz((w + e) / 2, (s + n) / 2, zl)
    status, _, body = site.request(template[len(site.url.rstrip('/')):].format(z=zl, x=x, y=y), site.tokens["tess"])
    assert status == 200 and (_alpha(body) > 0).any()
    # far from the mosaic: a transparent tile, not an error (map clients ask for whole screens)
    x, y = _xyz(2.35, 48.85, z)  # Paris
    status, _, body = site.request(template[len(site.url.rstrip('/')):].format(z=z, x=x, y=y), site.tokens["tess"])
    assert status == 200 and not _alpha(body).any()


def test_tiles_of_a_mosaic_one_may_not_see_answer_as_missing_ones(published):
    site = published
    police = {f["id"]: f["properties"] for f in site.json("/api/missions", "paula")["features"]}
    tj = site.json(police["police/p-1"]["mosaic"]["tilejson"], "paula")
    x, y = _xyz(3.3236, 49.3816, tj["maxzoom"])
    hidden = f"/api/tiles/police/p-1/{tj['maxzoom']}/{x}/{y}.png"
    assert site.request(hidden, site.tokens["paula"])[0] == 200
    refused = site.request(hidden, site.tokens["tess"])
    assert refused[0] == 404
    for absent in (f"/api/tiles/police/nope/{tj['maxzoom']}/{x}/{y}.png", "/api/tiles/technical/nope/1/0/0.png",
                   "/api/tiles/firemen/p-1/1/0/0.png", "/api/tiles/police/p-1/tilejson.json"):
        assert site.request(absent, site.tokens["tess"]) == refused, absent
    for bad in ("/api/tiles/technical/t-1/25/0/0.png", "/api/tiles/technical/t-1/2/4/0.png",
                "/api/tiles/technical/t-1/2/0/-1.png"):
        assert site.request(bad, site.tokens["tess"])[0] == 404, bad
    assert site.request("/api/tiles/technical/t-1/tilejson.json")[0] == 401


def test_a_police_mosaic_s_tiles_are_audited_once_per_user_not_per_tile(published):
    site = published
    tj = site.json("/api/tiles/police/p-1/tilejson.json", "paula")
    x, y = _xyz(3.3236, 49.3816, tj["maxzoom"])
    for dx in range(4):
        assert site.request(f"/api/tiles/police/p-1/{tj['maxzoom']}/{x + dx}/{y}.png", site.tokens["paula"])[0] == 200
    with site.archive() as a:
        views = [e for e in a.audit_log(actor="paula") if e.action == "mosaic-view"]
        photos = len(a.search("police", mission="p-1", action="test"))
    # every tile paula fetched in this module (here and above) is covered by one audit entry per photo
    assert photos == 3 and len(views) == photos and {e.service for e in views} == {"police"}
    assert {e.image_id for e in views} == {site.row(i) for i in site.ids["police"]}


def test_wmts_capabilities_list_the_mosaics_the_user_may_see(published):
    site = published
    status, headers, body = site.request("/api/wmts/1.0.0/WMTSCapabilities.xml", site.tokens["tess"])
    assert status == 200 and "xml" in dict(headers)["content-type"]
    ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
    root = ET.fromstring(body)
    layers = [layer.find("ows:Identifier", ns).text for layer in root.iterfind("w:Contents/w:Layer", ns)]
    assert layers == ["technical/t-1"]
    template = root.find("w:Contents/w:Layer/w:ResourceURL", ns).get("template")
    assert template.startswith(site.url) and "{TileMatrix}/{TileCol}/{TileRow}.png" in template
    sets = root.findall("w:Contents/w:TileMatrixSet/w:TileMatrix", ns)
    assert len(sets) >= 19 and sets[0].find("w:MatrixWidth", ns).text == "1"
    police = ET.fromstring(site.request("/api/wmts/1.0.0/WMTSCapabilities.xml", site.tokens["paula"])[2])
    assert {layer.find("ows:Identifier", ns).text for layer in police.iterfind("w:Contents/w:Layer", ns)} == \
        {"police/p-1", "technical/t-1"}


QGIS_PYTHON = "/usr/bin/python3"  # Debian's Python, where python3-qgis installs QGIS's bindings


def _qgis(site, user: str, service: str, mission: str, bounds) -> dict:
    import json
    import os
    import subprocess
    from pathlib import Path

    from tests.conftest import require

    ok = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode == 0
    require("QGIS", ok, "install Debian's python3-qgis (apt-get install python3-qgis)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(site.root.parent), HOME=str(site.root.parent))
    proc = subprocess.run([QGIS_PYTHON, str(Path(__file__).with_name("qgis_client.py")), site.url.rstrip("/"), user,
                           site.tokens[user], service, mission, *map(str, bounds)],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.qgis
def test_qgis_adds_the_mosaic_and_the_images_with_a_token_and_another_service_gets_neither(published):
    """Real QGIS 3.22, headless: the mosaic as a WMTS layer and as an XYZ layer renders pixels over its bounds,
    the STAC API's collection opens as an OGC API - Features layer holding the service's images; a technical user
    asking for the police mosaic and collection gets no pixels and no features."""
    site = published
    bounds = site.json("/api/tiles/technical/t-1/tilejson.json", "tess")["bounds"]
    got = _qgis(site, "tess", "technical", "t-1", bounds)
    assert got["wmts_valid"] and got["wmts_pixels"] > 1000, got
    assert got["xyz_valid"] and got["xyz_pixels"] > 1000, got
    assert got["oapif_valid"], got
    assert len(got["oapif_features"]) == len(site.ids["technical"]), got
    police_bounds = site.json("/api/tiles/police/p-1/tilejson.json", "paula")["bounds"]
    hidden = _qgis(site, "tess", "police", "p-1", police_bounds)
    assert hidden["wmts_pixels"] == 0 and hidden["xyz_pixels"] == 0 and hidden["oapif_features"] == [], hidden
    assert _qgis(site, "paula", "police", "p-1", police_bounds)["xyz_pixels"] > 1000


def test_a_mosaic_published_again_shows_its_new_pixels(published, tmp_path):
    """Tiles are kept in memory once rendered; publishing the mission's mosaic again (more photos) must not leave
    the map on the old tiles: a tile that was empty shows the new photos."""
    from datetime import datetime, timezone

    from dronectl.sim.camera import CameraEvent, make_base_raster, render_photos
    from tests.web.conftest import CAM

    site = published
    raster = make_base_raster((3.325, 49.376, 3.337, 49.384), res_m=2.0)
    start = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)

    def publish_with(lon: float, folder: str):
        events = [CameraEvent(49.3800 + i * 0.0003, lon, 50.0, i, 3.0 * i) for i in range(2)]
        with site.archive() as a:
            a.ingest(render_photos(events, CAM, tmp_path / folder, base_raster=raster, start_time=start),
                     "technical", mission="t-again")
            a.mosaic("technical", "t-again", tmp_path / f"{folder}.tif", publish=True)

    publish_with(3.3300, "first")
    z = site.json("/api/tiles/technical/t-again/tilejson.json", "tess")["maxzoom"]
    x, y = _xyz(3.3330, 49.38015, z)  # where the second photos will be: outside the first mosaic
    path = f"/api/tiles/technical/t-again/{z}/{x}/{y}.png"
    for _ in range(2):  # rendered, then from memory: the same empty tile
        status, _, body = site.request(path, site.tokens["tess"])
        assert status == 200 and not _alpha(body).any()
    publish_with(3.3330, "second")
    status, _, body = site.request(path, site.tokens["tess"])
    assert status == 200 and (_alpha(body) > 0).mean() > 0.3, "the tile still shows the mosaic published before"


def test_a_fresh_server_answers_a_map_s_first_tiles_asked_at_once(published):
    """A map opening on a server that has not drawn a tile yet asks ~20 at once: every one is answered (rio-tiler
    imported by 20 request threads at once used to fail some with 'partially initialized module' and leave
    others unanswered)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    from tests.web.conftest import start_server, stop_server

    site = published
    tj = site.json("/api/tiles/technical/t-1/tilejson.json", "tess")
    w, s, e, n = tj["bounds"]
    z = tj["maxzoom"]
    (x0, y0), (x1, y1) = _xyz(w, n, z), _xyz(e, s, z)
    tiles = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    for _ in range(3):  # a fresh server each time: the first imports are what is tested
        proc, url = start_server(site.root)
        u = urlsplit(url)
        statuses, go = [], threading.Barrier(20)

        def ask(k):
            x, y = tiles[k % len(tiles)]
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
            go.wait()
            try:
                conn.request("GET", f"/api/tiles/technical/t-1/{z}/{x}/{y}.png",
                             headers={"Authorization": f"Bearer {site.tokens['tess']}"})
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
            except OSError as exc:
                statuses.append(repr(exc))
            finally:
                conn.close()

        threads = [threading.Thread(target=ask, args=(k,)) for k in range(20)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            stop_server(proc)
        assert statuses == [200] * 20, statuses
