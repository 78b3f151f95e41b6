"""Shared test helpers.

``require(name, ok, how)``: an integration test's external service. Locally a missing service skips
the test with the reason; in CI (``CI=true``) it fails, because CI installs every required service.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests explore new random examples on a developer's machine; in CI they are derandomized, so that a run
# either always passes or always fails (a falsifying example found locally is then added to the test).
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


def require(name: str, ok: bool, how: str) -> None:
    if ok:
        return
    msg = f"{name} is not available: {how}"
    if IN_CI:
        pytest.fail(f"required in CI: {msg}")
    pytest.skip(msg)


def console_script() -> str:
    """The installed ``dronectl`` console script, the one a user types (beside the test's Python)."""
    import shutil
    import sys

    path = os.path.join(os.path.dirname(sys.executable), "dronectl")
    if not os.path.exists(path):
        path = shutil.which("dronectl") or path
    return path
