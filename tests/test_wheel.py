"""The wheel a user installs works with no checkout around: built with ``python -m build`` (sdist, then the wheel
from the sdist), installed into a fresh venv, run from a folder outside the checkout — ``zones list``,
``cameras list``, ``plan survey --zone``, ``plan check``, ``demo`` and the served web page.

To cost seconds rather than a 600 MB install, the fresh venv takes dronectl from the wheel and only its third-party
dependencies from the environment running the tests (a path line in a ``.pth``: that environment's own ``.pth``
files, the editable install among them, are not run). ``.ci/run`` also installs the wheel with its dependencies
from the package index into a venv of its own, which checks the dependency list too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import site
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.wheel]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(bin folder of a fresh venv holding the built wheel, environment without the checkout on any path)."""
    try:
        import build  # noqa: F401
    except ImportError:
        require("python -m build", False, "pip install build (it is in the test extra)")
    tmp = tmp_path_factory.mktemp("wheel")
    venv = tmp / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    dist = tmp / "dist"
    b = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    wheel, = dist.glob("dronectl-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                        "--no-compile", str(wheel)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "zz-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin", env


def run(installed, tmp_path, *argv, timeout=300) -> str:
    bin_dir, env = installed
    p = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (argv, p.stdout[-2000:], p.stderr[-2000:])
    assert str(ROOT) not in p.stdout + p.stderr, (argv, "reads from the checkout", p.stdout[-2000:])
    return p.stdout


def test_the_wheel_carries_the_code_and_the_shipped_data(installed, tmp_path):
    out = run(installed, tmp_path, "python", "-c",
              "import dronectl, dronectl.geo as g; print(dronectl.__file__); print(g.DEFAULT_ZONES); "
              "print(g.DEFAULT_AIRSPACE)")
    venv = installed[0].parent
    for line in out.splitlines():
        assert Path(line).is_relative_to(venv) and Path(line).is_file(), line


def test_zones_cameras_and_a_survey_plan_from_the_installed_tool(installed, tmp_path):
    zones = {z["name"] for z in json.loads(run(installed, tmp_path, "dronectl", "zones", "list", "--json"))}
    assert {"centre-ville", "chantier-mediatheque"} <= zones
    cameras = {c["id"] for c in json.loads(run(installed, tmp_path, "dronectl", "cameras", "list", "--json"))}
    assert {"mavic3e", "sim"} <= cameras
    run(installed, tmp_path, "dronectl", "plan", "survey", "--zone", "chantier-mediatheque", "--out", "site.plan")
    assert json.loads((tmp_path / "site.plan").read_text())["fileType"] == "Plan"
    assert "all preflight checks passed" in run(installed, tmp_path, "dronectl", "plan", "check", "site.plan")


def test_demo_then_the_web_page_and_api_from_the_installed_tool(installed, tmp_path):
    bin_dir, env = installed
    proc = subprocess.Popen([str(bin_dir / "dronectl"), "demo", "--speedup", "60", "--serve", "--port", "0"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("The web map: open "):
                break
        assert lines and lines[-1].startswith("The web map: open "), "".join(lines) + proc.stderr.read()
        assert str(ROOT) not in "".join(lines)
        url, token = lines[-1].split()[4], proc.stdout.readline().strip()
        auth = {"Authorization": f"Bearer {token}"}

        def get(path: str, headers=None) -> bytes:
            with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers or {}), timeout=30) as r:
                assert r.status == 200, path
                return r.read()

        assert b"<title>" in get("login")  # the pages' templates and static files come from the wheel
        page = get("", auth).decode()
        assets = re.findall(r'(?:href|src)="/(static/[^"]+)"', page)
        assert "static/app.js" in assets and "static/leaflet/leaflet.js" in assets, page
        for asset in assets:
            assert len(get(asset)) > 100, asset
        zones = json.loads(get("api/zones", auth))["features"]
        assert "chantier-mediatheque" in {z["id"] for z in zones}
        images = json.loads(get("api/images?limit=5000", auth))["features"]
        ingested = next(ln for ln in lines if ln.strip().startswith("ingested"))
        assert len(images) == int(ingested.split()[1]) > 10
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 130
    assert (tmp_path / "demo-out" / "archive").is_dir()
