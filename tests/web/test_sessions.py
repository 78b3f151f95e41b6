"""Server-side sessions: the cookie holds a random session id (never the token) with an expiry; logout ends it on
the server; ``users revoke`` ends all of a user's sessions; ``users rotate`` gives a new token and refuses the old
one at once; ``users add`` after ``revoke`` works. From outside: the console script and a real server."""

from __future__ import annotations

import subprocess
import time

import pytest

from dronectl.archive import open_archive
from tests.conftest import console_script
from tests.web.conftest import Site, start_server, stop_server


def _users(root, *args):
    p = subprocess.run([console_script(), "users", *args, "--archive", str(root)], capture_output=True, text=True,
                       timeout=60)
    return p


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "archive"
    with open_archive(root) as a:
        tokens = {n: a.add_user(n, "technical")[1] for n in ("tess", "toby")}
    proc, url = start_server(root, "--session-hours", "0.001")  # 3.6 s: the expiry is seen in the test
    yield Site(root, url, proc, tokens, "sqlite")
    assert stop_server(proc) == 0


def _login(site, token) -> str:
    status, headers, _ = site.request("/login", method="POST", body=f"token={token}".encode(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    set_cookie = dict(headers)["set-cookie"]
    assert "max-age=3" in set_cookie.lower() and "httponly" in set_cookie.lower()
    return set_cookie.split(";")[0]


def _me(site, cookie=None, token=None) -> int:
    return site.request("/api/me", token, cookie=cookie)[0]


def test_the_cookie_is_a_session_that_logout_ends(served):
    cookie = _login(served, served.tokens["tess"])
    assert served.tokens["tess"] not in cookie and served.tokens["tess"].split(".")[2] not in cookie
    assert _me(served, cookie) == 200
    status, _, _ = served.request("/logout", method="POST", cookie=cookie)
    assert status == 303
    assert _me(served, cookie) == 401  # replayed after logout: refused (it was the token itself before)
    assert _me(served, token=served.tokens["tess"]) == 200  # the token still works


def test_a_session_expires(served):
    cookie = _login(served, served.tokens["tess"])
    assert _me(served, cookie) == 200
    time.sleep(4.5)
    assert _me(served, cookie) == 401


def test_revoke_ends_sessions_and_add_after_revoke_works(served):
    cookie = _login(served, served.tokens["toby"])
    assert _me(served, cookie) == 200
    assert _users(served.root, "revoke", "toby").returncode == 0
    assert _me(served, cookie) == 401 and _me(served, token=served.tokens["toby"]) == 401
    p = _users(served.root, "add", "toby", "--service", "communication")
    assert p.returncode == 0, p.stderr
    new = p.stdout.strip().splitlines()[-1]
    assert _me(served, token=new) == 200 and _me(served, token=served.tokens["toby"]) == 401


def test_rotate_gives_a_new_token_and_refuses_the_old_one_at_once(served):
    old = served.tokens["tess"]
    cookie = _login(served, old)
    p = _users(served.root, "rotate", "tess")
    assert p.returncode == 0, p.stderr
    new = p.stdout.strip().splitlines()[-1]
    assert new.startswith("dct.") and new != old
    assert _me(served, token=old) == 401 and _me(served, cookie) == 401
    assert _me(served, token=new) == 200
    p = _users(served.root, "rotate", "nobody")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and "no user 'nobody'" in p.stderr
