"""A page of another origin of the same site (another port of 127.0.0.1) uses a logged-in police officer's
cookie, in real headless Chromium: its ``<img>`` of a police thumbnail and its no-cors ``fetch`` of the export
must not load, and nothing may be audited under the officer's name. The same images load from the map's own
origin, and a bearer-token client is unaffected."""

from __future__ import annotations

import http.server
import threading
from functools import partial

import pytest

from tests.conftest import require
from tests.web import browser
from tests.web.conftest import Site, build_archive, start_server, stop_server

pytestmark = pytest.mark.browser

PROBE = """
window.results = {};
async function probe(base, ids) {
  const loads = ids.map((id) => new Promise((done) => {
    const img = new Image();
    img.onload = () => done([id, 'load']);
    img.onerror = () => done([id, 'error']);
    img.src = base + '/api/images/' + id + '/thumbnail';
  }));
  for (const [id, what] of await Promise.all(loads)) window.results['img-' + id] = what;
  try {
    await fetch(base + '/api/export', {mode: 'no-cors', credentials: 'include'});
    window.results.fetch = 'sent';
  } catch (e) { window.results.fetch = 'failed'; }
  window.results.done = true;
}
"""


@pytest.fixture(scope="module")
def two_origins(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cross-site")
    tokens, ids = build_archive(tmp / "archive", tmp, "sqlite")
    proc, url = start_server(tmp / "archive")
    other = tmp / "other"
    other.mkdir()
    (other / "probe.js").write_text(PROBE, encoding="utf-8")
    (other / "index.html").write_text('<!doctype html><title>elsewhere</title><script src="probe.js"></script>',
                                      encoding="utf-8")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(other))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield Site(tmp / "archive", url, proc, tokens, "sqlite", ids), f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    assert stop_server(proc) == 0


def _run_probe(page, base: str, ids: list[int]) -> dict:
    page.evaluate(f"probe({base!r}, {ids!r})")
    for _ in range(400):
        if page.evaluate("window.results.done === true"):
            return page.evaluate("window.results")
        page.wait_for_timeout(50)
    raise AssertionError("the probe did not finish")


def test_another_origin_cannot_use_the_officers_cookie(two_origins):
    ok, how = browser.available()
    require("headless Chromium", ok, how)
    site, elsewhere = two_origins
    police = site.ids["police"]
    base = site.url.rstrip("/")
    with site.archive() as a:
        audited_before = len(a.audit_log(actor="paula"))
    # the officer logs in (the session cookie as the login form sets it), and has the cookie in the browser
    status, headers, _ = site.request("/login", method="POST", body=f"token={site.tokens['paula']}".encode(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    cookie = dict(headers)["set-cookie"].split(";")[0].split("=", 1)
    with browser.chromium() as b:
        context = b.new_context()
        context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": site.url, "httpOnly": True,
                              "sameSite": "Strict"}])
        page = context.new_page()
        # from the other origin: nothing loads, nothing is audited
        page.goto(elsewhere)
        got = _run_probe(page, base, police)
        assert all(got[f"img-{i}"] == "error" for i in police), got
        with site.archive() as a:
            assert len(a.audit_log(actor="paula")) == audited_before, a.audit_log(actor="paula")[audited_before:]
        # from the map's own origin the same images load (and are audited, once each)
        page.goto(site.url + "static/favicon.svg")
        got = page.evaluate("""async (args) => {
            const [base, ids] = args;
            const out = {};
            for (const id of ids) {
                out[id] = await new Promise((done) => { const img = new Image();
                    img.onload = () => done('load'); img.onerror = () => done('error');
                    img.src = base + '/api/images/' + id + '/thumbnail'; });
            }
            return out;
        }""", [base, police])
        assert set(got.values()) == {"load"}, got
    with site.archive() as a:
        assert len(a.audit_log(actor="paula")) == audited_before + len(police)
    # a bearer-token client (no cookie, no browser) is unaffected, whatever Origin it names
    status, headers, _ = site.request(f"/api/images/{police[0]}/thumbnail", site.tokens["paula"],
                                      headers={"Origin": "http://127.0.0.1:9", "Sec-Fetch-Site": "cross-site"})
    assert status == 200 and ("cross-origin-resource-policy", "same-origin") in headers
