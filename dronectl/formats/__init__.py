"""Readers and writers of Mission files. Each format is a pure to_/from_ pair plus a file helper."""

from __future__ import annotations

from pathlib import Path

from dronectl.errors import InputError


def read_mission(path: Path | str):
    """Read a mission from a .plan or .waypoints file, chosen by extension."""
    from dronectl.formats import plan, waypoints

    path = Path(path)
    if not path.exists():
        raise InputError(f"mission file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".plan":
        return plan.read(path)
    if suffix in (".waypoints", ".txt", ".mission"):
        return waypoints.read(path)
    raise InputError(f"{path}: unknown mission format '{suffix}'; use a .plan or .waypoints file")


def atomic_write(path: Path | str, data: bytes | str) -> None:
    """Write a file so that readers see either the old content or the whole new one, never half."""
    import os
    import tempfile

    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
