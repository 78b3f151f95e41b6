"""Search criteria: one value, :class:`Criteria`, that the CLI, the JSON API, STAC and :meth:`Archive.search`
share, and the parsers of what users type (zone name, W,S,E,N box, polygon file, dates) into it.

One clear :class:`InputError` per bad value, so the CLI and any other front end say the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime, time, timezone

from dronectl.errors import InputError


@dataclass(frozen=True)
class Criteria:
    """What images to look for (every given field must match). ``geometry`` is lon/lat (shapely); times are
    aware UTC. ``service`` is refused when the asker may not see it; ``services`` silently keeps only those
    (STAC ``collections``: one that is hidden or unknown matches nothing); ``items`` keeps only those (service,
    image id) pairs (STAC ``ids``)."""

    geometry: object | None = None
    since: datetime | None = None
    until: datetime | None = None
    mission: str | None = None
    service: str | None = None
    camera: str | None = None
    services: tuple[str, ...] | None = None
    ids: tuple[int, ...] | None = None
    items: tuple[tuple[str, str], ...] | None = None

    def to_dict(self) -> dict:
        from shapely.geometry import mapping

        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["geometry"] = mapping(self.geometry) if self.geometry is not None else None
        for k in ("since", "until"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        for k in ("services", "ids"):
            d[k] = list(d[k]) if d[k] is not None else None
        d["items"] = [list(i) for i in self.items] if self.items is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Criteria":
        from shapely.geometry import shape

        def when(v):
            return datetime.fromisoformat(v) if v else None

        return cls(geometry=shape(d["geometry"]) if d.get("geometry") else None, since=when(d.get("since")),
                   until=when(d.get("until")), mission=d.get("mission"), service=d.get("service"),
                   camera=d.get("camera"),
                   services=tuple(d["services"]) if d.get("services") is not None else None,
                   ids=tuple(int(i) for i in d["ids"]) if d.get("ids") is not None else None,
                   items=tuple((str(s), str(n)) for s, n in d["items"]) if d.get("items") is not None else None)

    @classmethod
    def from_words(cls, zone=None, zones_file=None, bbox=None, polygon=None, since=None, until=None, mission=None,
                   service=None, camera=None) -> "Criteria":
        """From the words a user types (the CLI's options)."""
        return cls(query_geometry(zone, zones_file, bbox, polygon), parse_date(since), parse_date(until, end=True),
                   mission, service, camera)


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
                    service=None, camera=None) -> Criteria:
    """:meth:`Criteria.from_words` (the CLI's options)."""
    return Criteria.from_words(zone, zones_file, bbox, polygon, since, until, mission, service, camera)
