"""Headless Chromium for the browser tests and the web benchmark: Debian's ``chromium`` driven by Playwright's
Python package (Playwright cannot download its own browsers here; ``.ci/run`` installs the Debian one)."""

from __future__ import annotations

import os
from contextlib import contextmanager

CHROMIUM = os.environ.get("DRONECTL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def available() -> tuple[bool, str]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "pip install playwright (the test extra)"
    if not os.path.exists(CHROMIUM):
        return False, f"no {CHROMIUM}: apt-get install chromium (.ci/run does)"
    return True, ""


@contextmanager
def chromium():
    """A launched browser (Playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
