"""Fixtures of the web tests: an archive of real photos of three services, users, and ``dronectl serve``
running as a subprocess on a loopback port, over each catalogue backend."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dronectl.archive import open_archive
from dronectl.archive.services import DEFAULT_CONFIG
from dronectl.sim.camera import CameraEvent, make_base_raster, render_photos, sim_camera
from tests.conftest import console_script, require

PG_DSN = os.environ.get("DRONECTL_PG_DSN")
CAM = sim_camera(320, 240)
# (service, mission, where, photos, start): police over the centre, communication at the abbey, technical at
# the mediatheque building site (zone chantier-mediatheque) and on the river banks (zone aisne-berges)
SETS = [
    ("police", "p-1", (49.3815, 3.3236), 3, datetime(2026, 11, 20, 9, tzinfo=timezone.utc)),
    ("communication", "c-1", (49.3768, 3.3191), 3, datetime(2026, 11, 21, 9, tzinfo=timezone.utc)),
    ("technical", "t-1", (49.37735, 3.32705), 3, datetime(2026, 11, 22, 9, tzinfo=timezone.utc)),
    ("technical", "t-2", (49.3868, 3.3275), 2, datetime(2026, 11, 24, 9, tzinfo=timezone.utc)),
]
USERS = [("paula", "police", False), ("colin", "communication", False), ("tess", "technical", False),
         ("ada", "technical", True), ("rex", "technical", False)]


@dataclass
class Site:
    """A running server and what is in its archive."""

    root: Path
    url: str
    proc: subprocess.Popen
    tokens: dict[str, str]
    backend: str
    ids: dict[str, list[str]] = field(default_factory=dict)  # service -> public image ids (what clients see)

    def archive(self):
        return open_archive(self.root, create=False)

    def row(self, public_id: str) -> int:
        """The catalogue row id of a public image id (what the CLI, ``Archive.hold`` and the audit log use)."""
        with self.archive() as a:
            return a.catalog._query("SELECT id FROM images WHERE public_id = ?", (public_id,))[0][0]

    def request(self, path: str, token: str | None = None, method: str = "GET", headers: dict | None = None,
                body: bytes | None = None, cookie: str | None = None):
        """(status, headers without Date, body) of one request sent as written (no client-side path
        normalisation, so '..' and '%2e%2e' reach the server as they are)."""
        u = urlsplit(self.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            h["Cookie"] = cookie
        conn.putrequest(method, path, skip_accept_encoding=True, skip_host="Host" in h)
        for k, v in h.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, sorted((k.lower(), v) for k, v in r.getheaders() if k.lower() != "date"), data

    def login(self, user: str = "tess") -> str:
        """The ``name=value`` of the session cookie the login form sets for ``user``."""
        status, headers, _ = self.request("/login", method="POST", body=f"token={self.tokens[user]}".encode(),
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303, status
        return dict(headers)["set-cookie"].split(";")[0]

    def json(self, path: str, user: str = "tess"):
        import json

        status, _, body = self.request(path, self.tokens[user])
        assert status == 200, (path, status, body[:300])
        return json.loads(body)


def start_server(root: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([console_script(), "serve", "--archive", str(root), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("dronectl serve: http://"):
        proc.kill()
        raise AssertionError(f"serve did not start: {line!r} {proc.stderr.read()}")
    return proc, line.split()[2]


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def build_archive(root: Path, tmp: Path, backend: str) -> tuple[dict[str, str], dict[str, list[int]]]:
    """Photos of every set ingested; the users created (rex revoked is left to the tests)."""
    root.mkdir(parents=True, mode=0o700)
    config = DEFAULT_CONFIG
    if backend == "postgis":
        schema = "w_" + uuid.uuid4().hex[:12]
        config = config.replace('[catalog]\n', f'[catalog]\nurl = "{PG_DSN}"\nschema = "{schema}"\n')
    (root / "config.toml").write_text(config, encoding="utf-8")
    raster = make_base_raster((3.312, 49.372, 3.336, 49.392), res_m=2.0)
    tokens, ids = {}, {}
    with open_archive(root, create=False) as a:
        for service, mission, (lat, lon), n, start in SETS:
            events = [CameraEvent(lat + i * 0.0003, lon, 50.0, i, 3.0 * i) for i in range(n)]
            photos = render_photos(events, CAM, tmp / mission, base_raster=raster, start_time=start)
            rep = a.ingest(photos, service, mission=mission)
            assert len(rep.ingested) == n, rep.to_dict()
        for rec in a.catalog.iter_all():
            ids.setdefault(rec.service, []).append(rec.public_id)
        for name, service, admin in USERS:
            tokens[name] = a.add_user(name, service, admin=admin)[1]
    return tokens, ids


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def site(request, tmp_path_factory):
    backend = request.param
    if backend == "postgis":
        require("PostGIS", bool(PG_DSN), "set DRONECTL_PG_DSN to a database with the postgis extension (see .ci/run)")
    tmp = tmp_path_factory.mktemp(f"web-{backend}")
    root = tmp / "archive"
    tokens, ids = build_archive(root, tmp, backend)
    proc, url = start_server(root)
    s = Site(root, url, proc, tokens, backend, ids)
    yield s
    code = stop_server(proc)
    assert code == 0, f"serve exited {code} on SIGTERM: {proc.stderr.read()}"
    if backend == "postgis":
        with s.archive() as a:
            a.catalog.drop_schema()
