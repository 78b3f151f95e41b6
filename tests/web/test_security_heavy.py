"""Heavy requests (issue 21, finding 7): exports and long lists are streamed, a user runs at most two of them at
once (the third is a 429 with ``Retry-After``), a client that leaves frees its slot and stops the export, and
clients that never read their exports cost the server little memory, which it gives back when they leave. Against
a real ``dronectl serve`` over an archive of 16,000 catalogue rows, on SQLite and PostGIS."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from dronectl.archive import open_archive
from dronectl.archive.services import DEFAULT_CONFIG
from tests.archive.conftest import random_records
from tests.conftest import require
from tests.web.conftest import PG_DSN, Site, start_server, stop_server

ROWS = 8000  # technical and communication rows (what the technical users see), and as many police rows
USERS = [f"u{i}" for i in range(6)]  # technical users


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def busy(request, tmp_path_factory):
    backend = request.param
    if backend == "postgis":
        require("PostGIS", bool(PG_DSN), "set DRONECTL_PG_DSN to a database with the postgis extension (see .ci/run)")
    root = tmp_path_factory.mktemp(f"heavy-{backend}") / "archive"
    root.mkdir(mode=0o700)
    config = DEFAULT_CONFIG
    if backend == "postgis":
        config = config.replace("[catalog]\n", f'[catalog]\nurl = "{PG_DSN}"\nschema = "h_{uuid.uuid4().hex[:12]}"\n')
    (root / "config.toml").write_text(config, encoding="utf-8")
    with open_archive(root, create=False) as a:
        a.catalog.add_many(random_records(ROWS, services=("communication", "technical")))
        a.catalog.add_many(random_records(ROWS, seed=2, services=("police",)))
        tokens = {name: a.add_user(name, "technical")[1] for name in USERS}
        tokens["paula"] = a.add_user("paula", "police")[1]
    proc, url = start_server(root)
    site = Site(root, url, proc, tokens, backend)
    yield site
    code = stop_server(proc)
    err = proc.stderr.read()
    assert code == 0, f"serve exited {code} on SIGTERM: {err}"
    assert "Traceback" not in err, err[-3000:]
    if backend == "postgis":
        with site.archive() as a:
            a.catalog.drop_schema()


def _stalled(site: Site, path: str, user: str) -> socket.socket:
    """A client that asks for ``path`` and reads nothing of the answer but its status line (a small receive
    buffer: the server cannot push the answer into it)."""
    u = urlsplit(site.url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect((u.hostname, u.port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Bearer {site.tokens[user]}\r\n\r\n".encode())
    status = s.recv(12)  # the answer has begun: the request holds its slot
    assert status == b"HTTP/1.1 200", status
    return s


def _one_line_error(status, body, code):
    assert status == code, (status, body[:300])
    assert body.count(b"\n") == 0 and set(json.loads(body)) == {"error"}, body[:300]


def _until_free(site: Site, user: str) -> None:
    """Wait until ``user`` may run a heavy request again (the server has seen its clients leave)."""
    deadline = time.monotonic() + 60
    while True:
        status, _, body = site.request("/api/images?limit=1", site.tokens[user])
        if status == 200:
            return
        _one_line_error(status, body, 429)
        assert time.monotonic() < deadline, f"{user}'s heavy slots were never freed"
        time.sleep(0.1)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_third_heavy_request_of_one_user_is_429_while_others_are_served(busy):
    held = [_stalled(busy, "/api/export", "u0"), _stalled(busy, "/api/export?format=stac", "u0")]
    try:
        for path in ("/api/export", "/api/export?format=stac", "/api/images?limit=2000", "/stac/search?limit=5"):
            status, headers, body = busy.request(path, busy.tokens["u0"])
            _one_line_error(status, body, 429)
            assert int(dict(headers)["retry-after"]) >= 1
        assert busy.json("/api/me", "u0")["name"] == "u0"  # light requests are not limited
        assert len(busy.json("/api/export", "u1")["features"]) == ROWS  # nor are other users
        assert len(busy.json("/api/export?format=stac", "u1")["features"]) == ROWS
    finally:
        for s in held:
            s.close()
    _until_free(busy, "u0")


def test_a_client_that_leaves_mid_export_frees_its_slot_stops_the_export_and_its_connection(busy):
    """Exports of the 8,000 police rows (about 8 MB) abandoned after their status line, in four rounds of two: the
    slots come back, what was read of the catalogue stops where the clients left (the audit log, which the
    export writes a page at a time as it reads, says how far it went), and no connection stays behind."""
    paula = busy.tokens["paula"]
    wmem = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
    assert ROWS * 900 > 1.5 * wmem, "the export must not fit in the kernel's socket buffers for this test"

    def exported():
        with busy.archive() as a:
            return sum(e.action == "export" for e in a.audit_log(actor="paula"))

    status, _, body = busy.request("/api/export?service=police", paula)  # warm: the server's connections and pages
    assert status == 200, body
    assert len(json.loads(body)["features"]) == ROWS
    before, fds = exported(), None
    assert before == ROWS
    for _ in range(4):
        held = [_stalled(busy, "/api/export?service=police", "paula") for _ in range(2)]
        assert busy.request("/api/export?service=police", paula)[0] == 429
        for s in held:
            s.close()
        _until_free(busy, "paula")
        done = exported()
        assert done - before < 2 * ROWS, "an abandoned export went on reading after its client left"
        before = done
        fds = fds or _fds(busy.proc.pid)  # after the first round: the connections two exports at once open
    assert exported() == before  # nothing more once the slots are free
    assert _fds(busy.proc.pid) <= fds + 2  # no catalogue connection (nor socket) left behind
    status, _, body = busy.request("/api/export?service=police", paula)
    assert status == 200 and len(json.loads(body)["features"]) == ROWS


def test_clients_that_never_read_their_exports_cost_little_memory_and_it_comes_back(busy):
    """Twelve clients (six users, two exports each: GeoJSON and STAC) ask for an export of 8,000 images and
    never read it, then leave. Built in memory, each answer needed at least its own size (about 8 MB; the
    server before streaming grew by three times that, and kept most of it): streamed, the server grows by less
    than half the answers' total while they wait, and is back within half of it once they are gone (RSS, from a
    baseline where twelve requests at once have opened their catalogue connections and read every row)."""
    pid = busy.proc.pid
    paths = [(user, path) for user in USERS for path in ("/api/export", "/api/export?format=stac")]
    sizes = {path: len(busy.request(path, busy.tokens["u0"])[2]) for path in ("/api/export", "/api/export?format=stac")}
    answers_mb = sum(sizes[path] for _, path in paths) / 2**20
    assert answers_mb > 12 * 7

    def scan(user):  # a search that reads every row and answers none
        assert busy.request("/api/images?limit=1&camera=none-such", busy.tokens[user])[:1] == (200,)

    threads = [threading.Thread(target=scan, args=(user,)) for user, _ in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    base = _rss_mb(pid)

    held = [_stalled(busy, path, user) for user, path in paths]
    try:
        waiting, previous = _rss_mb(pid), 0.0
        for _ in range(100):  # until the server has pushed what it can into the sockets
            time.sleep(0.3)
            previous, waiting = waiting, _rss_mb(pid)
            if abs(waiting - previous) < 0.5:
                break
        assert waiting - base < 0.5 * answers_mb, (base, waiting, answers_mb)
        assert busy.request("/api/export", busy.tokens["u0"])[0] == 429  # all of them still running
    finally:
        for s in held:
            s.close()
    for user in USERS:
        _until_free(busy, user)
    after = _rss_mb(pid)
    print(f"answers {answers_mb:.0f} MB; RSS {base:.0f} MB, {waiting:.0f} MB while waiting, {after:.0f} MB after")
    assert after - base < 0.5 * answers_mb, (base, after, answers_mb)
