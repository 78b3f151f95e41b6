"""The page in real headless Chromium, as a technical user: log in with a token, filter by zone, click a
footprint, see its thumbnail, open the image, export GeoJSON. A screenshot at each step (in the test's
temporary folder; docs/web-map.png is one of them)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import require
from tests.web import browser
from tests.web.conftest import Site, build_archive, start_server, stop_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-browser")
    tokens, ids = build_archive(tmp / "archive", tmp, "sqlite")
    from dronectl.archive import open_archive

    with open_archive(tmp / "archive", create=False) as a:  # t-1 has a mosaic, police p-1 too (not for tess)
        a.mosaic("technical", "t-1", tmp / "t-1.tif", publish=True)
        a.mosaic("police", "p-1", tmp / "p-1.tif", publish=True)
    proc, url = start_server(tmp / "archive")
    yield Site(tmp / "archive", url, proc, tokens, "sqlite", ids)
    assert stop_server(proc) == 0


def wait_until(page, js: str, timeout_s: float = 60.0):
    """Poll a JavaScript expression until it is truthy (``wait_for_function`` evaluates strings, which the
    page's CSP rightly forbids)."""
    for _ in range(int(timeout_s * 20)):
        value = page.evaluate(js)
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"still false after {timeout_s} s: {js}")


def _footprint_point(page, image_id: int) -> tuple[float, float]:
    """Where on the screen a footprint is: the page's own map converts its centre to pixels."""
    return tuple(page.evaluate("""(id) => {
        let layer = null;
        window.dronectl.layers().eachLayer((l) => { if (l.feature.id === id) layer = l; });
        const p = window.dronectl.map.latLngToContainerPoint(layer.getCenter());
        const box = document.getElementById('map').getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""", image_id))


def test_a_technical_user_browses_filters_opens_and_exports(site, tmp_path):
    ok, how = browser.available()
    require("headless Chromium", ok, how)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    with browser.chromium() as b:
        context = b.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        # 1. not logged in: the page sends us to the login form; a token logs us in
        page.goto(site.url)
        assert page.url.endswith("/login")
        page.fill("#token", "dct.not-a-token")
        page.click("button[type=submit]")
        assert "not valid" in page.inner_text("main")
        problems.clear()  # the refused login's 401 is expected
        page.fill("#token", site.tokens["tess"])
        page.screenshot(path=shots / "1-login.png")
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-footprints]:not([data-footprints=''])", state="attached")
        assert page.inner_text("#who") == "tess (technical)"
        n_all = int(page.evaluate("document.body.dataset.footprints"))
        assert n_all == len(site.ids["technical"]) + len(site.ids["communication"])  # no police footprint
        # the mission mosaic she may see is drawn under the footprints; the police one is not there
        wait_until(page, "document.querySelectorAll('.mosaic img.leaflet-tile-loaded').length > 0")
        mosaics = page.evaluate("[...document.querySelectorAll('.mosaic img.leaflet-tile')].map((i) => i.src)")
        assert mosaics and all("/api/tiles/technical/t-1/" in src for src in mosaics), mosaics
        page.screenshot(path=shots / "2-map.png")

        # 2. filter by zone: only the building site's images
        page.select_option("#f-zone", "chantier-mediatheque")
        page.wait_for_selector("body[data-footprints='3']", state="attached")
        page.screenshot(path=shots / "3-zone.png")
        assert "3 image(s)" in page.inner_text("#status")

        # 3. click a footprint: the panel shows its thumbnail and metadata
        target = site.ids["technical"][2]  # the last drawn of the three, on top where they overlap
        x, y = _footprint_point(page, target)
        page.mouse.click(x, y)
        page.wait_for_selector("#panel:not([hidden])")
        wait_until(page, "document.getElementById('p-thumb').complete && "
                         "document.getElementById('p-thumb').naturalWidth > 0")
        panel = page.inner_text("#panel")
        assert "t-1" in panel and "technical" in panel and "sim" in panel and "50." in panel
        assert page.get_attribute("#p-thumb", "src") == f"/api/images/{target}/thumbnail"
        page.screenshot(path=shots / "4-footprint.png")

        # 4. open the full image (a new tab, the original JPEG)
        with context.expect_page() as new_tab:
            page.click("#p-file")
        img = new_tab.value
        img.wait_for_load_state()
        assert img.url.endswith(f"/api/images/{target}/file")
        assert img.evaluate("document.images.length === 1 && document.images[0].naturalWidth") == 320
        img.screenshot(path=shots / "5-image.png")
        img.close()

        # 5. export the current selection as GeoJSON
        with page.expect_download() as dl:
            page.click("#export-geojson")
        exported = json.loads(open(dl.value.path(), encoding="utf-8").read())
        assert dl.value.suggested_filename == "dronectl-images.geojson"
        assert len(exported["features"]) == 3
        assert {f["properties"]["mission"] for f in exported["features"]} == {"t-1"}
        page.screenshot(path=shots / "6-exported.png")

        # 6. log out: the page needs a token again
        page.click("form[action='/logout'] button")
        page.wait_for_url("**/login")
        assert page.request.get(site.url + "api/images").status == 401
        context.close()
    assert not problems, problems  # no script error, no CSP refusal, no failed request
    for n in range(1, 7):
        assert next(shots.glob(f"{n}-*.png")).stat().st_size > 5000
