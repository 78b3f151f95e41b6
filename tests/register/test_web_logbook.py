"""``/api/logbook`` on the served web map: the logbook for admins (filterable), each entry beside its mission's
images; 404 for anyone else."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlencode, urlsplit

import pytest

pytestmark = pytest.mark.vehicle


def _get(url: str, path: str, token: str):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def test_admins_get_the_logbook_beside_the_images_and_others_a_404(flown, run):
    from dronectl.archive import open_archive
    from tests.web.conftest import start_server, stop_server

    path, rec = flown
    assert run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01").returncode == 0
    for service, mission in (("technical", "quais-1"), ("communication", "abbaye")):
        p = run("logbook", "import", path, "--pilot", "dupont", "--service", service, "--mission", mission)
        assert p.returncode == 0, p.stderr
    with open_archive(run.archive, create=False) as a:
        admin = a.add_user("ada", "technical", admin=True)[1]
        tess = a.add_user("tess", "technical")[1]
    proc, url = start_server(run.archive)
    try:
        status, body = _get(url, "/api/logbook", admin)
        assert status == 200 and body["count"] == 2
        newest = body["entries"][0]
        assert newest["mission"] == "abbaye" and newest["pilot"] == "dupont" and newest["photos"] == rec.photos
        assert newest["images"] == "/api/images?" + urlencode({"mission": "abbaye", "service": "communication"})
        status, body = _get(url, "/api/logbook?" + urlencode({"service": "technical"}), admin)
        assert [e["mission"] for e in body["entries"]] == ["quais-1"]
        assert _get(url, "/api/logbook?simulated=true", admin)[1]["count"] == 0  # kept apart
        assert _get(url, "/api/logbook?simulated=maybe", admin)[0] == 400
        assert _get(url, "/api/logbook?since=yesterday", admin)[0] == 400
        assert _get(url, "/api/logbook", tess) == _get(url, "/api/nothing-here", tess)  # not an admin: 404
    finally:
        assert stop_server(proc) == 0
