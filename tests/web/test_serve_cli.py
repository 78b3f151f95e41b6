"""``dronectl serve`` as a user runs it: the URL it prints, a clean stop, one line for each mistake."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

from dronectl.archive import open_archive
from tests.conftest import console_script
from tests.web.conftest import start_server, stop_server


def _run(*args):
    return subprocess.run([console_script(), "serve", *args], capture_output=True, text=True, timeout=60)


def _one_line(p, code: int, words: str):
    assert p.returncode == code and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and words in p.stderr, p.stderr


def test_serve_mistakes_are_one_line(tmp_path):
    _one_line(_run("--archive", str(tmp_path / "none")), 2, "no archive in")
    with open_archive(tmp_path / "a"):
        pass
    _one_line(_run("--archive", str(tmp_path / "a"), "--tiles", "ftp://x/{z}"), 2, "bad --tiles")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        _one_line(_run("--archive", str(tmp_path / "a"), "--port", str(port)), 3, f"port {port} on 127.0.0.1 is in use")


def test_serve_prints_its_url_passes_the_basemap_and_stops_on_sigint(tmp_path):
    with open_archive(tmp_path / "a") as a:
        token = a.add_user("tess", "technical")[1]
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    proc, url = start_server(tmp_path / "a", "--tiles", tiles)
    try:
        assert url.startswith("http://127.0.0.1:")
        from tests.web.conftest import Site

        site = Site(tmp_path / "a", url, proc, {"tess": token}, "sqlite")
        assert site.json("/api/me")["tiles"] == tiles
        csp = dict(site.request("/api/me", token)[1])["content-security-policy"]
        assert "img-src 'self' data: blob: https://tiles.example.org;" in csp
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 130 and "interrupted" in proc.stderr.read()


def test_serve_stops_cleanly_on_sigterm(tmp_path):
    with open_archive(tmp_path / "a"):
        pass
    proc, _ = start_server(tmp_path / "a")
    assert stop_server(proc) == 0
    assert "Traceback" not in proc.stderr.read()


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def test_workers_share_the_port_and_stop_together(tmp_path):
    from tests.web.conftest import Site

    with open_archive(tmp_path / "a") as a:
        token = a.add_user("tess", "technical")[1]
    proc, url = start_server(tmp_path / "a", "--workers", "3")
    workers = _children(proc.pid)
    try:
        assert len(workers) == 2
        site = Site(tmp_path / "a", url, proc, {"tess": token}, "sqlite")
        for _ in range(12):  # each on a new connection: whichever process accepts it answers the same
            assert site.json("/api/me")["name"] == "tess"
    finally:
        code = stop_server(proc)
    assert code == 0 and "Traceback" not in proc.stderr.read()
    assert not [w for w in workers if os.path.exists(f"/proc/{w}") and "zombie" not in _state(w)]


def _state(pid: int) -> str:
    try:
        return "zombie" if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z" else "alive"
    except OSError:
        return "zombie"
