"""The technical services' workbench in real headless Chromium: compare two dates with a swipe divider (pixels
of each mosaic on its side), measure a line in metres, annotate for colleagues, step through overlapping photos
and view one at full resolution, the coverage view at low zoom, and the phone layout with no overlapping control."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from tests.conftest import require
from tests.web import browser
from tests.web.conftest import CAM, Site, build_archive, start_server, stop_server
from tests.web.test_browser import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ok, how = browser.available()
    require("headless Chromium", ok, how)
    tmp = tmp_path_factory.mktemp("workbench")
    tokens, ids = build_archive(tmp / "archive", tmp, "sqlite")
    from dronectl.archive import open_archive
    from dronectl.sim.camera import CameraEvent, make_base_raster, render_photos

    # a second flight over the building site a week later, over a changed site (another texture)
    later = make_base_raster((3.312, 49.372, 3.336, 49.392), res_m=2.0, seed=99)
    events = [CameraEvent(49.37735 + i * 0.0003, 3.32705, 50.0, i, 3.0 * i) for i in range(3)]
    photos = render_photos(events, CAM, tmp / "t-3", base_raster=later,
                           start_time=datetime(2026, 11, 29, 9, tzinfo=timezone.utc))
    with open_archive(tmp / "archive", create=False) as a:
        a.ingest(photos, "technical", mission="t-3")
        for mission, service in (("t-1", "technical"), ("t-3", "technical"), ("p-1", "police")):
            a.mosaic(service, mission, tmp / f"{mission}.tif", publish=True)
        tokens["pia"] = a.add_user("pia", "police")[1]
    proc, url = start_server(tmp / "archive")
    yield Site(tmp / "archive", url, proc, tokens, "sqlite", ids)
    assert stop_server(proc) == 0


def login(b, site, user: str, width: int = 1280, height: int = 800):
    context = b.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(site.url + "login")
    page.fill("#token", site.tokens[user])
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-footprints]:not([data-footprints=''])", state="attached")
    return context, page, problems


def screen_point(page, lat: float, lon: float) -> tuple[float, float]:
    return tuple(page.evaluate("""([lat, lon]) => {
        const p = window.dronectl.map.latLngToContainerPoint([lat, lon]);
        const box = document.getElementById('map').getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""", [lat, lon]))


def map_pixels(page) -> np.ndarray:
    box = page.locator("#map").bounding_box()
    png = page.screenshot(clip=box)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_compare_two_dates_with_a_swipe_divider(site, tmp_path):
    with browser.chromium() as b:
        context, page, problems = login(b, site, "tess")
        # the timeline of the building site lists both flights; ticking two compares them
        page.select_option("#f-zone", "chantier-mediatheque")
        page.wait_for_selector("body[data-footprints='6']", state="attached")
        page.click("#timeline-open")
        labels = page.inner_text("#t-list")
        assert labels.index("t-1") < labels.index("t-3"), labels  # by date
        page.check("#t-list input[value='technical/t-1']")
        page.check("#t-list input[value='technical/t-3']")
        page.click("#t-compare")
        wait_until(page, "document.body.dataset.compare === 'technical/t-1,technical/t-3'")
        assert "compare=technical%2Ft-1%2Ctechnical%2Ft-3" in page.url and "zone=chantier-mediatheque" in page.url
        page.uncheck("#fp-show")  # footprints off: only the mosaics
        page.click("#panel-close")
        wait_until(page, "document.querySelectorAll('.leaflet-compareLeft-pane img.leaflet-tile-loaded').length > 0"
                         " && document.querySelectorAll('.leaflet-compareRight-pane img.leaflet-tile-loaded').length > 0")
        page.wait_for_timeout(500)
        shots = {}
        for value in (100, 0, 50):
            page.fill("#swipe-range", str(value))
            page.dispatch_event("#swipe-range", "input")
            page.wait_for_timeout(200)
            shots[value] = map_pixels(page)
        Image.fromarray(shots[50].astype(np.uint8)).save(tmp_path / "compare.png")
        left, right, half = shots[100], shots[0], shots[50]
        w = half.shape[1]
        changed = np.abs(left - right).sum(axis=2) > 30
        assert changed.mean() > 0.02, "the two dates' mosaics look the same"
        # left of the divider: the first date; right of it: the second (the divider line itself excluded)
        lcols, rcols = slice(0, w // 2 - 6), slice(w // 2 + 6, w)
        assert np.abs(half[:, lcols] - left[:, lcols]).mean() < 2.0
        assert np.abs(half[:, rcols] - right[:, rcols]).mean() < 2.0
        assert changed[:, lcols].any() and changed[:, rcols].any(), "the mosaics should span the divider"
        # the shared URL opens the same comparison
        page2 = context.new_page()
        page2.goto(page.url)
        wait_until(page2, "document.body.dataset.compare === 'technical/t-1,technical/t-3'")
        context.close()
    assert not problems, problems


def test_measure_a_line_in_metres(site):
    from pyproj import Geod

    a, z = (49.3760, 3.3200), (49.3810, 3.3290)  # ~850 m
    with browser.chromium() as b:
        context, page, problems = login(b, site, "tess")
        page.evaluate("void window.dronectl.map.setView([49.3785, 3.3245], 15, {animate: false})")
        page.click("#tool-m-line")
        for lat, lon in (a, z):
            page.mouse.click(*screen_point(page, lat, lon))
        wait_until(page, "document.body.dataset.measure")
        m = json.loads(page.evaluate("document.body.dataset.measure"))
        truth = Geod(ellps="GRS80").line_length([a[1], z[1]], [a[0], z[0]])
        assert m["crs"] == "EPSG:2154" and abs(m["length_m"] - truth) / truth < 0.01, (m, truth)
        assert "m (EPSG:2154)" in page.inner_text("#tb-text")
        page.click("#tool-m-point")
        page.mouse.click(*screen_point(page, *a))
        wait_until(page, "JSON.parse(document.body.dataset.measure).kind === 'Point'")
        x, y = json.loads(page.evaluate("document.body.dataset.measure"))["xy"][0]
        assert 700_000 < x < 750_000 and 6_900_000 < y < 6_950_000  # Lambert-93 metres, not degrees
        context.close()
    assert not problems, problems


def test_an_annotation_reaches_a_colleague_and_no_other_service(site):
    with browser.chromium() as b:
        context, page, problems = login(b, site, "paula")
        page.evaluate("void window.dronectl.map.setView([49.3815, 3.3236], 18, {animate: false})")
        page.click("#tool-a-polygon")
        for lat, lon in ((49.3814, 3.3233), (49.3814, 3.3239), (49.3817, 3.3239)):
            page.mouse.click(*screen_point(page, lat, lon))
        page.click("#tb-finish")
        page.select_option("#tb-category", "defect")
        page.fill("#tb-note", "broken bollard")
        page.click("#tb-save")
        wait_until(page, "document.body.dataset.annotations === '1'")
        context.close()
        context, page, problems2 = login(b, site, "pia")  # a colleague of the police
        wait_until(page, "document.body.dataset.annotations === '1'")
        context.close()
        context, page, problems3 = login(b, site, "tess")  # technical: not hers to see
        page.wait_for_timeout(500)
        assert page.evaluate("document.body.dataset.annotations") == "0"
        context.close()
    listed = site.json("/api/annotations", "pia")["features"]
    assert [f["properties"]["note"] for f in listed] == ["broken bollard"]
    status, _, _ = site.request(f"/api/annotations/{listed[0]['id']}", site.tokens["tess"], "DELETE")
    assert status == 404
    assert not problems + problems2 + problems3


def test_overlapping_photos_are_stepped_through_and_viewed_at_full_resolution(site):
    with browser.chromium() as b:
        context, page, problems = login(b, site, "tess")
        assert page.locator(".zone-label", has_text="chantier-mediatheque").count() == 1
        assert page.locator(".legend").inner_text().count("technical") == 1
        page.evaluate("void window.dronectl.map.setView([49.37750, 3.32705], 18, {animate: false})")
        page.mouse.click(*screen_point(page, 49.37750, 3.32705))
        page.wait_for_selector("#panel:not([hidden])")
        count = page.inner_text("#p-count")
        n = int(count.split(" of ")[1].split()[0])
        assert n >= 4, count  # t-1 and t-3 both photographed this spot
        seen = []
        for _ in range(n):
            wait_until(page, "document.getElementById('p-thumb').complete")
            seen.append(page.evaluate("document.getElementById('panel').dataset.image"))
            page.click("#p-next")
            page.wait_for_timeout(150)
        assert len(set(seen)) == n and page.evaluate("document.getElementById('panel').dataset.image") == seen[0]
        assert "t-3" in page.inner_text("#p-meta")  # newest first: the back to the first is the later flight
        page.click("#p-view")
        wait_until(page, "document.getElementById('viewer').dataset.full === '320'")
        assert page.get_attribute("#v-img", "src").endswith("/file")
        before = float(page.evaluate("document.getElementById('viewer').dataset.scale"))
        page.mouse.move(640, 400)
        page.mouse.wheel(0, -300)
        wait_until(page, f"Number(document.getElementById('viewer').dataset.scale) > {before}")
        page.keyboard.press("Escape")
        assert page.is_hidden("#viewer")
        context.close()
    assert not problems, problems


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """An archive of 2,000 catalogued footprints (rows only) around Soissons, for the coverage view."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from web_bench import make_archive, records

    tmp = tmp_path_factory.mktemp("crowded")
    token = make_archive(tmp / "archive", "sqlite", records(2000, 3.0, services=("technical",)), users=1)[0][0]
    proc, url = start_server(tmp / "archive")
    yield Site(tmp / "archive", url, proc, {"bench": token}, "sqlite", {})
    assert stop_server(proc) == 0


def test_low_zoom_shows_coverage_not_thousands_of_outlines(crowded):
    with browser.chromium() as b:
        context, page, problems = login(b, crowded, "bench")
        page.evaluate("void window.dronectl.map.setView([49.3817, 3.3236], 13, {animate: false})")
        wait_until(page, "document.body.dataset.view === 'coverage' && Number(document.body.dataset.coverageCells) > 20")
        assert page.is_visible("#coverage-key")
        page.evaluate("void window.dronectl.map.setView([49.3817, 3.3236], 17, {animate: false})")
        wait_until(page, "document.body.dataset.view === 'footprints'")
        page.uncheck("#fp-show")
        wait_until(page, "document.body.dataset.view === 'none'")
        context.close()
    assert not problems, problems


def _rects(page) -> list[tuple[str, dict]]:
    """The boxes of every visible map control and header button (a control's own buttons are inside it)."""
    return page.evaluate("""() => [...document.querySelectorAll('.leaflet-control, header button, header h1, #who')]
        .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().width > 0)
        .map((e) => [e.id || e.className || e.tagName, e.getBoundingClientRect().toJSON()])""")


def test_the_phone_layout_has_no_overlapping_controls(site, tmp_path):
    with browser.chromium() as b:
        context, page, problems = login(b, site, "tess", 390, 844)
        header = page.locator("header").bounding_box()
        assert header["height"] < 70, header
        boxes = _rects(page)
        assert len(boxes) >= 6, boxes
        for i, (n1, a) in enumerate(boxes):
            for n2, c in boxes[i + 1:]:
                overlap_x = min(a["right"], c["right"]) - max(a["left"], c["left"])
                overlap_y = min(a["bottom"], c["bottom"]) - max(a["top"], c["top"])
                assert overlap_x <= 1 or overlap_y <= 1, (n1, a, n2, c)
        # the zoom-in button is what a tap on it reaches, and it zooms
        zoom = page.locator(".leaflet-control-zoom-in").bounding_box()
        cx, cy = zoom["x"] + zoom["width"] / 2, zoom["y"] + zoom["height"] / 2
        assert page.evaluate(f"!!document.elementFromPoint({cx}, {cy}).closest('.leaflet-control-zoom-in')")
        z0 = page.evaluate("window.dronectl.map.getZoom()")
        page.mouse.click(cx, cy)
        wait_until(page, f"window.dronectl.map.getZoom() > {z0}")
        # filters open in a drawer, with their labels on their fields
        page.click("#filters-toggle")
        assert page.is_visible("#f-zone") and page.locator("#drawer").bounding_box()["width"] > 350
        page.select_option("#f-zone", "chantier-mediatheque")
        page.click("#filters button[type=submit]")
        page.click("#filters-toggle")
        page.wait_for_selector("body[data-footprints='6']", state="attached")
        # the details are a bottom sheet: the map above stays usable
        page.evaluate("void window.dronectl.map.setView([49.37750, 3.32705], 18, {animate: false})")
        page.mouse.click(*screen_point(page, 49.37738, 3.32705))
        page.wait_for_selector("#panel:not([hidden])")
        sheet = page.locator("#panel").bounding_box()
        assert sheet["width"] >= 389 and sheet["y"] > 844 * 0.45 and sheet["height"] <= 844 * 0.46, sheet
        page.screenshot(path=tmp_path / "phone.png")
        context.close()
        # the login page has margins on a phone
        context = b.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(site.url + "login")
        box = page.locator("#token").bounding_box()
        assert box["x"] >= 8 and box["x"] + box["width"] <= 390 - 8, box
        context.close()
    assert not problems, problems


def test_an_admin_reads_the_flight_logbook_on_the_page_and_shows_a_flight_s_images(site):
    """The logbook (``/api/logbook``) as a panel for admins: each flight with its pilot, aircraft and mission, and
    a button that shows the mission's images on the map; a user who is not an admin has no such button."""
    from datetime import timedelta

    from dronectl.register import LogEntry, Register

    takeoff = datetime(2026, 11, 22, 8, 55, tzinfo=timezone.utc)
    with site.archive() as a:
        Register(a.catalog).append(LogEntry(
            pilot="Jeanne Martin", aircraft="F-DRN1", takeoff_at=takeoff, landing_at=takeoff + timedelta(minutes=14),
            duration_s=840.0, max_height_m=50.0, mission="t-1", service="technical", purpose="suivi de chantier",
            photos=3))
    with browser.chromium() as b:
        context, page, problems = login(b, site, "ada")
        page.click("#logbook-open")
        page.wait_for_selector("#l-list li dl", state="visible")
        text = page.inner_text("#p-logbook")
        assert "1 flight" in text and "2026-11-22 08:55 — t-1" in text, text
        assert "Jeanne Martin" in text and "F-DRN1" in text and "14.0 min" in text and "suivi de chantier" in text
        page.click("#l-list button")
        wait_until(page, "document.body.dataset.footprints === '3'")  # t-1's three photos only
        assert not problems, problems
        context.close()
        context, page, problems = login(b, site, "tess")
        assert page.locator("#logbook-open").is_hidden()
        assert not problems, problems
        context.close()
