"""The map's panel shows what the archive knows against an image (issue 21): its legal holds (the Feature's
``holds``; the page once read a ``hold_reason`` the Feature never had) and a ``truncated`` flag. In real headless
Chromium, as a technical user clicking the footprints."""

from __future__ import annotations

import pytest

from tests.conftest import require
from tests.web import browser
from tests.web.conftest import Site, build_archive, start_server, stop_server
from tests.web.test_browser import _footprint_point, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-panel")
    tokens, ids = build_archive(tmp / "archive", tmp, "sqlite")
    from dronectl.archive import open_archive

    with open_archive(tmp / "archive", create=False) as a:
        held, cut = (a.show("technical", ids["technical"][k]) for k in (3, 4))  # mission t-2, away from the others
        a.hold(held.id, "PV 2026-118")
        a.hold(held.id, "réquisition 42")
        a.catalog.add_flag(cut.sha256, "truncated")
    proc, url = start_server(tmp / "archive")
    yield Site(tmp / "archive", url, proc, tokens, "sqlite", ids)
    assert stop_server(proc) == 0


def test_the_panel_shows_legal_holds_and_a_truncated_file(site):
    ok, how = browser.available()
    require("headless Chromium", ok, how)
    held, cut = site.ids["technical"][3], site.ids["technical"][4]
    with browser.chromium() as b:
        page = b.new_context(viewport={"width": 1280, "height": 800}).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(site.url + "login")
        page.fill("#token", site.tokens["tess"])
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-footprints]:not([data-footprints=''])", state="attached")
        seen = {}
        for image_id in (held, cut):
            page.evaluate("(id) => { let l = null; window.dronectl.layers().eachLayer((x) => { if (x.feature.id === id)"
                          " l = x; }); window.dronectl.map.fitBounds(l.getBounds(), {maxZoom: 19}); }", image_id)
            page.wait_for_timeout(300)
            page.mouse.click(*_footprint_point(page, image_id))
            wait_until(page, f"document.getElementById('panel').dataset.image === '{image_id}'")
            seen[image_id] = page.inner_text("#p-meta")
        assert "legal hold" in seen[held] and "PV 2026-118; réquisition 42" in seen[held], seen[held]
        assert "truncated" not in seen[held] and "legal hold" not in seen[cut], seen
        assert "file truncated (part of the image missing)" in seen[cut], seen[cut]
        assert not problems, problems
