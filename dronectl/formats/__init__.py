"""Readers and writers of Mission files. Each format is a pure to_/from_ pair plus a file helper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dronectl.errors import InputError


def read_mission(path: Path | str):
    """Read a mission from a .plan, .waypoints, GeoJSON or KML file (as dronectl writes them), by extension."""
    from dronectl.formats import geojson, kml, plan, waypoints

    path = Path(path)
    if not path.exists():
        raise InputError(f"mission file not found: {path}")
    readers = {".plan": plan.read, ".waypoints": waypoints.read, ".txt": waypoints.read,
               ".geojson": geojson.read, ".json": geojson.read, ".kml": kml.read}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: unknown mission format '{path.suffix}'; use a .plan or .waypoints file")
    return reader(path)


def export_mission(mission, fmt: str, path: Path | str, extras: dict | None = None) -> None:
    """Write ``mission`` as ``fmt`` (plan, waypoints, geojson, kml, png); ``extras`` are the survey's
    zone, exclusions, photos and footprints for the formats that draw them."""
    from dronectl.formats import geojson, kml, plan, waypoints

    if fmt == "plan":
        plan.write(mission, path)
    elif fmt == "waypoints":
        waypoints.write(mission, path)
    elif fmt == "geojson":
        geojson.write(mission, path, extras)
    elif fmt == "kml":
        kml.write(mission, path, {k: v for k, v in (extras or {}).items() if k != "footprints"})
    elif fmt == "png":
        from dronectl.formats.png import render_png

        atomic_write(path, render_png(mission, extras))
    else:
        raise InputError(f"unknown export format '{fmt}'; use plan, waypoints, geojson, kml or png")


def sortie_paths(out: Path | str, n: int) -> list[Path]:
    """NAME.plan for one sortie; NAME-1.plan ... NAME-n.plan for several."""
    out = Path(out)
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(1, n + 1)]


@dataclass(frozen=True)
class SortieFiles:
    """What :func:`write_sorties` did: the files it wrote, and the stale ones of an earlier split it removed."""

    written: list[Path]
    removed: list[Path]


def _stale_sorties(out: Path, keep: set[Path]) -> list[Path]:
    """NAME.plan and NAME-k.plan beside ``out`` that dronectl's planner wrote (their data names a sortie) and that
    the new split does not rewrite, with the PNG preview exported next to each."""
    import json
    import re

    pattern = re.compile(re.escape(out.stem) + r"(-[0-9]+)?" + re.escape(out.suffix) + "$")
    try:
        siblings = sorted((p for p in out.parent.iterdir() if pattern.fullmatch(p.name)), key=lambda p: (len(p.name), p.name))
    except OSError:
        return []
    stale = []
    for p in siblings:
        if p.resolve() in keep or not p.is_file():
            continue
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # not ours: leave it
        if isinstance(doc, dict) and doc.get("groundStation") == "dronectl" and "sortie" in (doc.get("dronectl") or {}):
            stale.append(p)
            png = p.with_suffix(".png")
            if png.is_file() and png.resolve() not in keep:
                stale.append(png)
    return stale


def write_sorties(missions, out: Path | str, preview: Path | str | None = None) -> SortieFiles:
    """Write a survey's sorties as .plan files (see :func:`sortie_paths`) and, with ``preview``, one PNG of
    them all. Everything is rendered before the first write; when a write fails, the files already written
    are removed. Once all are written, the plans of an earlier split of the same name that this one does not
    replace (``NAME-4.plan`` and ``NAME-5.plan`` when there are three sorties now, with their PNG previews) are
    removed, so no stale sortie is flown by mistake; the result says which."""
    from dronectl.formats import plan
    from dronectl.formats.png import render_png
    from dronectl.survey.extras import survey_extras

    out = Path(out)
    contents = [(p, plan.dumps(m)) for m, p in zip(missions, sortie_paths(out, len(missions)))]
    if preview:
        contents.append((Path(preview), render_png(missions, survey_extras(missions))))
    written: list[Path] = []
    try:
        for p, data in contents:
            atomic_write(p, data)
            written.append(p)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    removed = _stale_sorties(out, {p.resolve() for p in written})
    for p in removed:
        p.unlink(missing_ok=True)
    return SortieFiles(written, removed)


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
