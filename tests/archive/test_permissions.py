"""The archive is its owner's alone, whatever the umask: folders 0700, files 0600; ``serve`` and ``ingest``
refuse (one line, and how to fix it) an archive that other accounts can read, unless ``--shared-archive``."""

from __future__ import annotations

import os
import stat
import subprocess

from tests.conftest import console_script
from tests.archive.conftest import line_events


def _dronectl(*args, umask=0o022, timeout=120):
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=lambda: os.umask(umask))


def test_an_archive_made_under_umask_022_is_owner_only(make_photos, tmp_path):
    photos = make_photos(line_events(3))
    root = tmp_path / "archive"
    p = _dronectl("archive", "ingest", str(photos[0].parent), "--service", "police", "--archive", str(root))
    assert p.returncode == 0, p.stderr
    p = _dronectl("users", "add", "paula", "--service", "police", "--archive", str(root))
    assert p.returncode == 0, p.stderr
    seen = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            seen.append(name)
            assert mode & 0o077 == 0, f"{name} is {mode:o}"
    assert any(n.endswith("catalogue.sqlite") for n in seen) and any("/blobs/" in n for n in seen)
    assert any("/thumbs/" in n for n in seen)


def test_serve_and_ingest_refuse_an_archive_others_can_read(make_photos, tmp_path):
    photos = make_photos(line_events(2))
    root = tmp_path / "archive"
    assert _dronectl("archive", "ingest", str(photos[0].parent), "--service", "technical", "--archive",
                     str(root)).returncode == 0
    os.chmod(root, 0o755)  # as an operator's chmod, or a copy made under umask 022, leaves it
    for args in (["serve", "--archive", str(root), "--port", "0"],
                 ["archive", "ingest", str(photos[0].parent), "--service", "technical", "--archive", str(root)]):
        p = _dronectl(*args, timeout=30)
        assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "can be read by other accounts" in lines[0] and "chmod -R go-rwx" in lines[0], lines
    p = _dronectl("archive", "ingest", str(photos[0].parent), "--service", "technical", "--archive", str(root),
                  "--shared-archive")
    assert p.returncode == 0, p.stderr
