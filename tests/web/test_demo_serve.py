"""``dronectl demo --serve``: a newcomer's one command ends on the web map of what the demo archived."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request

from tests.conftest import console_script


def test_demo_serve_shows_the_demo_footprints_to_the_technical_user(tmp_path):
    proc = subprocess.Popen([console_script(), "demo", "--out", str(tmp_path / "demo"), "--speedup", "60",
                             "--serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("The web map: open "):
                break
        assert lines and lines[-1].startswith("The web map: open "), "".join(lines) + proc.stderr.read()
        url = lines[-1].split()[4]
        token = proc.stdout.readline().strip()
        req = urllib.request.Request(url + "api/images?limit=5000", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            features = json.load(r)["features"]
        text = "".join(lines)  # how to come back to it: a user, then serve
        assert f"dronectl users add demo --service technical --archive {tmp_path / 'demo' / 'archive'}" in text
        assert f"dronectl serve --archive {tmp_path / 'demo' / 'archive'}" in text
        suggested = [ln.split()[0] for ln in lines if ln.startswith("  ") and "dronectl " in ln + " "]
        assert suggested and all(cmd.startswith("/") for cmd in suggested), suggested  # absolute, pasteable anywhere
        ingested = next(ln for ln in lines if ln.strip().startswith("ingested"))
        assert len(features) == int(ingested.split()[1]) > 10
        assert {f["properties"]["service"] for f in features} == {"technical"}
        missions = {f["properties"]["mission"] for f in features}
        assert len(missions) == 1 and missions.pop().startswith("demo-chantier-mediatheque-")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 130


def test_demo_serve_and_json_do_not_mix():
    p = subprocess.run([console_script(), "demo", "--serve", "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "give one of them" in p.stderr
