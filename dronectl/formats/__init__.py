"""Readers and writers of Mission files. Each format is a pure to_/from_ pair plus a file helper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dronectl.errors import InputError
from dronectl.formats.common import atomic_write, item_problem, read_text  # noqa: F401 (the package's API)


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


def write_sorties(missions, out: Path | str, preview: Path | str | None = None,
                  extras: dict | None = None) -> SortieFiles:
    """Write a survey's sorties as .plan files (see :func:`sortie_paths`) and, with ``preview``, one PNG of
    them all. Everything is rendered before the first write; when a write fails, the files already written
    are removed. Once all are written, the plans of an earlier split of the same name that this one does not
    replace (``NAME-4.plan`` and ``NAME-5.plan`` when there are three sorties now, with their PNG previews) are
    removed, so no stale sortie is flown by mistake; the result says which. ``extras``: what the preview draws
    besides the missions (the planner's :func:`dronectl.survey.extras.survey_extras`)."""
    from dronectl.formats import plan
    from dronectl.formats.png import render_png

    out = Path(out)
    contents = [(p, plan.dumps(m)) for m, p in zip(missions, sortie_paths(out, len(missions)))]
    if preview:
        contents.append((Path(preview), render_png(missions, extras)))
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
