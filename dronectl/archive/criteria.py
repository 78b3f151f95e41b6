"""Search criteria as users type them (zone name, W,S,E,N box, polygon file, dates) -> checked values.

One clear :class:`InputError` per bad value, so the CLI and any other front end say the same thing.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timezone

from dronectl.errors import InputError


def parse_bbox(text: str):
    """W,S,E,N in degrees -> shapely box; InputError with the expected form otherwise."""
    from shapely.geometry import box

    hint = "expected W,S,E,N in degrees (lon/lat), e.g. 3.30,49.37,3.34,49.39"
    parts = [p.strip() for p in text.split(",")]
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"bad --bbox '{text}': {hint}") from None
    if not all(map(lambda v: v == v and abs(v) != float("inf"), (w, s, e, n))):
        raise InputError(f"bad --bbox '{text}': {hint}")
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise InputError(f"bad --bbox '{text}': longitudes must be within ±180 and latitudes within ±90")
    if w >= e or s >= n:
        raise InputError(f"bad --bbox '{text}': west must be less than east and south less than north")
    return box(w, s, e, n)


def parse_date(text: str | None, end: bool = False) -> datetime | None:
    """YYYY-MM-DD (whole day) or an ISO date-time; without a zone, UTC."""
    if text is None:
        return None
    t = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            d = datetime.strptime(t, "%Y-%m-%d").date()
            return datetime.combine(d, time.max if end else time.min, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    except ValueError:
        raise InputError(f"bad date '{text}': use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]") from None
    except OverflowError:
        raise InputError(f"bad date '{text}': out of range (years 0001 to 9999 in UTC)") from None


def query_geometry(zone, zones_file, bbox, polygon):
    given = [x for x in (zone, bbox, polygon) if x]
    if len(given) > 1:
        raise InputError("give at most one of --zone, --bbox, --polygon")
    if zone:
        from dronectl.geo import find_zone

        return find_zone(zone, zones_file).geometry
    if bbox:
        return parse_bbox(bbox)
    if polygon:
        from dronectl.geo import load_polygon

        return load_polygon(polygon)
    return None


def search_criteria(zone=None, zones_file=None, bbox=None, polygon=None, since=None, until=None, mission=None,
                    service=None, camera=None) -> dict:
    """Keyword arguments of :meth:`Archive.search` from the words a user types (the CLI's options)."""
    return {"geometry": query_geometry(zone, zones_file, bbox, polygon), "since": parse_date(since),
            "until": parse_date(until, end=True), "mission": mission, "service": service, "camera": camera}
