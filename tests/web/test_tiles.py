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


def _published_files(root, service: str, mission: str):
    """(COG, its tile folder) of a published mosaic, found as a user of the archive's files would: by its JSON."""
    import json

    for meta in (root / "mosaics" / service).glob("*.json"):
        if json.loads(meta.read_text(encoding="utf-8"))["mission"] == mission:
            return meta.with_suffix(".tif"), meta.with_suffix(".tiles")
    raise AssertionError(f"no published mosaic of {service}/{mission}")


def _versions(tiles):
    return sorted(p.name for p in tiles.iterdir())


def _tile_files(version) -> dict[tuple[int, int, int], bytes]:
    return {(int(f.parent.parent.name), int(f.parent.name), int(f.stem)): f.read_bytes()
            for f in version.glob("*/*/*.png")}


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
    cog, tiles = _published_files(site.root, "technical", "t-again")  # the first version's tiles are gone
    st = cog.stat()
    assert _versions(tiles) == [f"{st.st_mtime_ns}-{st.st_size}"]
    assert (tiles / _versions(tiles)[0] / str(z) / str(x) / f"{y}.png").read_bytes() == body


def test_a_fresh_server_answers_a_map_s_first_tiles_asked_at_once(published):
    """A map opening on a server that has not drawn a tile yet asks ~20 at once: every one is answered (rio-tiler
    imported by 20 request threads at once used to fail some with 'partially initialized module' and leave
    others unanswered). Tiles drawn at publication are read without rio-tiler: the mosaic's are removed first, as
    for a zoom past the budget."""
    import http.client
    import shutil
    import threading
    from urllib.parse import urlsplit

    from tests.web.conftest import start_server, stop_server

    site = published
    _, drawn = _published_files(site.root, "technical", "t-1")
    saved = drawn.with_name(drawn.name + ".saved")
    shutil.copytree(drawn, saved)
    tj = site.json("/api/tiles/technical/t-1/tilejson.json", "tess")
    w, s, e, n = tj["bounds"]
    z = tj["maxzoom"]
    (x0, y0), (x1, y1) = _xyz(w, n, z), _xyz(e, s, z)
    tiles = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    for _ in range(3):  # a fresh server each time: the first imports are what is tested
        shutil.rmtree(drawn, ignore_errors=True)
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
    shutil.rmtree(drawn)
    saved.rename(drawn)


def test_publishing_draws_the_tiles_and_the_server_serves_them_from_disk(published):
    """`dronectl archive mosaic --publish` draws every tile over the mosaic of its zooms into the folder of that
    COG version, says so in --json, and the server answers those tiles with the files' bytes."""
    import json
    import re
    import subprocess

    from tests.conftest import console_script

    site = published

    def publish(*args):
        proc = subprocess.run([console_script(), "archive", "mosaic", "--archive", str(site.root), "--as", "technical",
                               "--mission", "t-2", "-o", str(site.root.parent / "t-2.tif"), "--publish", *args],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc

    # the user sees the tiles being drawn (published twice: the second version's tiles replace the first's)
    shown = publish()
    drawing = [line for line in shown.stderr.splitlines() if line.endswith(" drawing map tiles")]
    assert drawing and drawing[-1].startswith("mosaic: ") and "(100 %)" in drawing[-1], shown.stderr
    total = int(drawing[-1].split()[1].split("/")[1])
    assert re.search(rf"map tiles +{total} drawn, zooms \d+-\d+", shown.stdout), shown.stdout
    rep = json.loads(publish("--json").stdout)
    assert rep["tiles_drawn"] == total
    cog, tiles = _published_files(site.root, "technical", "t-2")
    st = cog.stat()
    assert _versions(tiles) == [f"{st.st_mtime_ns}-{st.st_size}"]
    files = _tile_files(tiles / _versions(tiles)[0])
    tj = site.json("/api/tiles/technical/t-2/tilejson.json", "tess")
    # the test mosaics are small: every zoom the TileJSON lists is drawn at publication
    assert rep["tile_zooms"] == [tj["minzoom"], tj["maxzoom"]] and rep["tiles_drawn"] == len(files)
    assert {z for z, _, _ in files} == set(range(tj["minzoom"], tj["maxzoom"] + 1))
    w, s, e, n = tj["bounds"]
    for z in range(tj["minzoom"], tj["maxzoom"] + 1):
        x, y = _xyz((w + e) / 2, (s + n) / 2, z)
        status, _, body = site.request(f"/api/tiles/technical/t-2/{z}/{x}/{y}.png", site.tokens["tess"])
        assert status == 200 and body == files[(z, x, y)] and (_alpha(body) > 0).any()
    # a tile not asked yet is read from its file: the file's content is what is served
    z = tj["maxzoom"]
    x, y = _xyz(w, n, z)
    marker = io.BytesIO()
    Image.new("RGBA", (256, 256), (255, 0, 0, 255)).save(marker, "PNG")
    (tiles / _versions(tiles)[0] / str(z) / str(x) / f"{y}.png").write_bytes(marker.getvalue())
    assert site.request(f"/api/tiles/technical/t-2/{z}/{x}/{y}.png", site.tokens["tess"])[2] == marker.getvalue()


def _fresh_server_get(site, user: str, paths: list[str]) -> list[tuple[int, bytes]]:
    """(status, body) of each path asked of a server started for it (nothing in its memory yet), then stopped."""
    import http.client
    from urllib.parse import urlsplit

    from tests.web.conftest import start_server, stop_server

    proc, url = start_server(site.root)
    try:
        u = urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        out = []
        for path in paths:
            conn.request("GET", path, headers={"Authorization": f"Bearer {site.tokens[user]}"})
            r = conn.getresponse()
            out.append((r.status, r.read()))
        conn.close()
        return out
    finally:
        assert stop_server(proc) == 0


def test_a_tile_not_drawn_at_publication_is_drawn_when_asked_and_kept_on_disk(published):
    """A mosaic published before tiles were drawn at publication (or a zoom past the budget): its tiles are drawn
    when first asked and written to the disk, where a restarted server finds them."""
    import shutil

    site = published
    cog, tiles = _published_files(site.root, "police", "p-1")
    shutil.rmtree(tiles)
    tj = site.json("/api/tiles/police/p-1/tilejson.json", "paula")
    w, s, e, n = tj["bounds"]
    z = tj["maxzoom"] - 1
    x, y = _xyz((w + e) / 2, (s + n) / 2, z)
    xd, yd = _xyz((w + e) / 2, (s + n) / 2, tj["maxzoom"] + 2)
    xp, yp = _xyz(2.35, 48.85, tj["maxzoom"])  # Paris
    path = f"/api/tiles/police/p-1/{z}/{x}/{y}.png"
    (status, body), deeper, far = _fresh_server_get(site, "paula", [
        path, f"/api/tiles/police/p-1/{tj['maxzoom'] + 2}/{xd}/{yd}.png",
        f"/api/tiles/police/p-1/{tj['maxzoom']}/{xp}/{yp}.png"])
    assert status == 200 and (_alpha(body) > 0).any()
    st = cog.stat()
    kept = tiles / f"{st.st_mtime_ns}-{st.st_size}" / str(z) / str(x) / f"{y}.png"
    assert kept.read_bytes() == body
    # tiles deeper than the mosaic's resolution (upsampled) and tiles away from it are served, not stored
    assert deeper[0] == 200 and (_alpha(deeper[1]) > 0).any()
    assert far[0] == 200 and not _alpha(far[1]).any()
    assert sorted(tiles.rglob("*.png")) == [kept]
    assert _fresh_server_get(site, "paula", [path]) == [(200, body)]


def test_a_tile_folder_that_cannot_be_written_still_serves_tiles(published):
    """The tile folder is not a folder (a disk problem, a copy gone wrong): tiles are drawn and served all the same."""
    import shutil

    site = published
    cog, tiles = _published_files(site.root, "technical", "t-1")
    saved = tiles.with_name(tiles.name + ".saved")
    shutil.move(tiles, saved)
    tiles.write_text("not a folder")
    try:
        drawn = _tile_files(saved / _versions(saved)[0])
        got = _fresh_server_get(site, "tess", [f"/api/tiles/technical/t-1/{z}/{x}/{y}.png" for z, x, y in drawn])
        assert got == [(200, png) for png in drawn.values()]
        assert tiles.read_text() == "not a folder"
    finally:
        tiles.unlink()
        shutil.move(saved, tiles)


def test_the_tiles_drawn_at_publication_stop_at_the_budget(published, tmp_path):
    """Zooms are drawn from the first one down while their tiles, added up, stay within the budget; a deeper zoom
    is drawn whole or not at all."""
    from dronectl.archive.tiles import pretile

    cog, _ = _published_files(published.root, "technical", "t-1")
    drawn, zooms = pretile(cog, tmp_path / "all")
    counts = {}
    for z, _, _ in _tile_files(tmp_path / "all"):
        counts[z] = counts.get(z, 0) + 1
    assert drawn == sum(counts.values()) and zooms == (min(counts), max(counts))
    first = min(counts)
    assert len(counts) >= 2, counts
    drawn, zooms = pretile(cog, tmp_path / "some", max_tiles=counts[first] + counts[first + 1] - 1)
    assert zooms == (first, first) and drawn == counts[first]
    assert {z for z, _, _ in _tile_files(tmp_path / "some")} == {first}
    assert pretile(cog, tmp_path / "none", max_tiles=counts[first] - 1) == (0, None)
