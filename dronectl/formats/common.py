"""What every mission file format shares: reading a file's text, writing one atomically, and the check of the
numbers of a mission item read from a file."""

from __future__ import annotations

from pathlib import Path

from dronectl.errors import InputError


def item_problem(item) -> str | None:
    """What is wrong with the numbers of a mission item read from a file (None: nothing), as the planner checks
    its options (:mod:`dronectl.limits`): a known command (:data:`dronectl.mission.KNOWN_COMMANDS`) and frame, a
    finite altitude in range, and the figures dronectl times and flies by: DO_CHANGE_SPEED's speed (1-20 m/s, or
    MAVLink's -1 "no change" / -2 "default"), a waypoint's hold time, a trigger distance."""
    import math

    from dronectl import limits as L
    from dronectl.mission import CMD_DO_CHANGE_SPEED, CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_WAYPOINT, KNOWN_COMMANDS, \
        KNOWN_FRAMES

    if item.command not in KNOWN_COMMANDS:
        return (f"command {item.command} is not a mission command dronectl or ArduPilot knows "
                "(see dronectl.mission.KNOWN_COMMANDS)")
    if item.frame not in KNOWN_FRAMES:
        return (f"{item.name}: frame {item.frame} is not a mission frame ArduPilot flies "
                f"({', '.join(str(f) for f in sorted(KNOWN_FRAMES))})")
    lo, hi, unit = L.ITEM_ALT_M
    if not (math.isfinite(item.alt_m) and lo <= item.alt_m <= hi):
        return f"{item.name}: altitude {item.alt_m:g} m out of range ({lo:g}..{hi:g} m)"

    def outside(v, lim, unset_ok=True):
        return not ((unset_ok and math.isnan(v)) or (math.isfinite(v) and lim[0] <= v <= lim[1]))

    if item.command == CMD_DO_CHANGE_SPEED and item.param2 not in (-1.0, -2.0) \
            and outside(item.param2, L.SPEED_MPS, unset_ok=False):
        return (f"{item.name}: speed {item.param2:g} m/s out of range ({L.SPEED_MPS[0]:g}..{L.SPEED_MPS[1]:g} m/s, "
                "or -1 for no change)")
    if item.command == CMD_NAV_WAYPOINT and outside(item.param1, L.HOLD_S):
        return f"{item.name}: hold time {item.param1:g} s out of range ({L.HOLD_S[0]:g}..{L.HOLD_S[1]:g} s)"
    if item.command == CMD_DO_SET_CAM_TRIGG_DIST and outside(item.param1, L.TRIGGER_M):
        return (f"{item.name}: trigger distance {item.param1:g} m out of range "
                f"({L.TRIGGER_M[0]:g}..{L.TRIGGER_M[1]:g} m)")
    return None


def read_text(path: Path | str, kind: str) -> str:
    """A mission file's text; one-line InputError when it is missing or not text (``kind`` names the format)."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file; is it {kind}?") from None
    except FileNotFoundError:
        raise InputError(f"mission file not found: {path}") from None
    # any other OSError (permissions, a folder given as a file) goes up with its path: exit code 3


def atomic_write(path: Path | str, data: bytes | str) -> None:
    """Write a file so that readers see either the old content or the whole new one, never half.
    Missing parent folders are made. When the file cannot be written the OSError (with its path) is raised
    and no temporary file is left; the CLI turns it into one sentence and exit code 3."""
    import os
    import tempfile

    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as a plain open() would, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise  # an OSError names its path: the CLI says what is wrong with it (exit 3)
