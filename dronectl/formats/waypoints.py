"""QGC WPL 110 (``.waypoints``): the plain-text mission format of QGroundControl and Mission Planner.

The file is a ``QGC WPL 110`` header line, then one line per mission item with 12 tab-separated
columns::

    INDEX  CURRENT_WP  COORD_FRAME  COMMAND  PARAM1  PARAM2  PARAM3  PARAM4  LAT  LON  ALT  AUTOCONTINUE

Row 0 is the home position (frame 0, ``NAV_WAYPOINT``, altitude above mean sea level), as Mission
Planner writes it; rows 1..n are ``Mission.items``, so a row's INDEX is the item's MAVLink seq.

What the format cannot carry, and so is lost going through a ``.waypoints`` file: the geofence and
rally points (ground stations keep those in separate ``.fen`` / ``.rally`` files), the cruise and hover
speeds of a ``.plan`` (the ``DO_CHANGE_SPEED`` items survive), and dronectl's metadata (zone, camera,
photo points). Items and home read back as written.
"""

from __future__ import annotations

import math
from pathlib import Path

from dronectl.errors import InputError
from dronectl.formats.common import atomic_write, item_problem, read_text
from dronectl.mission import FRAME_GLOBAL, CMD_NAV_WAYPOINT, Home, Mission, MissionItem

HEADER = "QGC WPL 110"
COLUMNS = 12


def _fmt(v: float) -> str:
    """A number as short as possible that reads back to the same float ("nan" for unset params)."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _row(index: int, current: int, frame: int, command: int, params, lat: float, lon: float, alt: float,
         autocontinue: bool) -> str:
    cols = [str(index), str(current), str(frame), str(command), *(_fmt(p) for p in params),
            _fmt(lat), _fmt(lon), _fmt(alt), "1" if autocontinue else "0"]
    return "\t".join(cols)


def dumps(m: Mission) -> str:
    """The mission as QGC WPL 110 text, home first."""
    home = m.home
    if home is None:
        pos = m.positions()
        home = Home(pos[0][0], pos[0][1], 0.0) if pos else Home(0.0, 0.0, 0.0)
    lines = [HEADER, _row(0, 1, FRAME_GLOBAL, CMD_NAV_WAYPOINT, (0, 0, 0, 0), home.lat_deg, home.lon_deg,
                          home.alt_m, True)]
    for n, it in enumerate(m.items, start=1):
        lines.append(_row(n, 0, it.frame, it.command, it.params(), it.lat_deg, it.lon_deg, it.alt_m, it.autocontinue))
    return "\n".join(lines) + "\n"


def _bad(path, lineno: int, msg: str):
    raise InputError(f"{path}: line {lineno}: {msg}")


def loads(text: str, path: str = "<waypoints>") -> Mission:
    """Parse QGC WPL 110 text. Row 0 is home (None when at 0,0); the other rows are the items, in order."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise InputError(f"{path}: empty file; a .waypoints file starts with the line '{HEADER}'")
    header = lines[first].split()
    if header[:2] != ["QGC", "WPL"]:
        _bad(path, first + 1, f"expected the header '{HEADER}', found '{lines[first].strip()[:40]}'")
    if header[2:] != ["110"]:
        _bad(path, first + 1, f"unsupported version '{' '.join(header[2:])}'; dronectl reads '{HEADER}'")
    home: Home | None = None
    items: list[MissionItem] = []
    expected = 0
    for k in range(first + 1, len(lines)):
        lineno, raw = k + 1, lines[k].strip()
        if not raw:
            continue
        cols = raw.split("\t") if "\t" in raw else raw.split()
        cols = [c.strip() for c in cols]
        if len(cols) != COLUMNS:
            _bad(path, lineno, f"{len(cols)} columns, expected {COLUMNS} (INDEX CURRENT FRAME COMMAND "
                               "PARAM1-4 LAT LON ALT AUTOCONTINUE, tab-separated)")
        try:
            index, frame, command = int(cols[0]), int(cols[2]), int(cols[3])
            int(cols[1])
            autocontinue = int(cols[11])
        except ValueError:
            _bad(path, lineno, "INDEX, CURRENT, FRAME, COMMAND and AUTOCONTINUE must be whole numbers")
        try:
            p1, p2, p3, p4, lat, lon, alt = (float(c) for c in cols[4:11])
        except ValueError:
            _bad(path, lineno, "PARAM1-4, LAT, LON and ALT must be numbers")
        if index != expected:
            _bad(path, lineno, f"index {index}, expected {expected} (rows must be numbered 0, 1, 2... with home at 0)")
        expected += 1
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            _bad(path, lineno, f"latitude/longitude {cols[8]}, {cols[9]} out of range")
        if not math.isfinite(alt):
            _bad(path, lineno, f"altitude {cols[10]} must be a finite number of metres")
        if any(math.isinf(p) for p in (p1, p2, p3, p4)):
            _bad(path, lineno, "PARAM1-4 must be finite numbers (or nan for an unset param)")
        if index == 0:
            home = None if (lat == 0.0 and lon == 0.0) else Home(lat, lon, alt)
            continue
        item = MissionItem(command=command, frame=frame, param1=p1, param2=p2, param3=p3, param4=p4,
                           lat_deg=lat, lon_deg=lon, alt_m=alt, autocontinue=autocontinue != 0)
        problem = item_problem(item)
        if problem:
            _bad(path, lineno, f"item {index}: {problem}")
        items.append(item)
    return Mission(items=tuple(items), home=home)


def write(m: Mission, path: Path | str) -> None:
    atomic_write(path, dumps(m))


def read(path: Path | str) -> Mission:
    return loads(read_text(path, "a QGC WPL 110 .waypoints file"), str(path))
