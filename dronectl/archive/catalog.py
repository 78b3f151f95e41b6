"""The catalogue: one small protocol, two backends (SQLite + R*Tree, PostgreSQL + PostGIS).

Rows are :class:`ImageRecord` values; footprints are shapely geometries in WGS 84 lon/lat; times are
timezone-aware UTC datetimes. An image is unique per (service, sha256): the same bytes ingested twice
into one service are a duplicate, into two services two rows sharing one blob.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator, Protocol

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """Fixed-width UTC text (sorts like the times it stands for)."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass
class ImageRecord:
    sha256: str
    service: str
    format: str  # "jpeg" | "geotiff"
    footprint: BaseGeometry  # lon/lat
    ingested_at: datetime
    captured_at: datetime | None = None
    mission: str | None = None
    source_name: str | None = None
    camera: str | None = None  # camera database id, when recognised
    make: str | None = None
    model: str | None = None
    lon_deg: float | None = None
    lat_deg: float | None = None
    height_m: float | None = None
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    roll_deg: float | None = None
    width_px: int | None = None
    height_px: int | None = None
    size_bytes: int | None = None
    interior: bool = False
    flags: tuple[str, ...] = ()
    hold_reason: str | None = None
    held_at: datetime | None = None
    extra: dict = field(default_factory=dict)
    id: int | None = None

    @property
    def reference_time(self) -> datetime:
        """The time retention counts from: capture, or ingest when the capture time is unknown."""
        return self.captured_at or self.ingested_at

    def to_dict(self) -> dict:
        d = asdict(self)
        d["footprint"] = mapping(self.footprint)
        d["flags"] = list(self.flags)
        for k in ("ingested_at", "captured_at", "held_at"):
            d[k] = iso(d[k]) if d[k] else None
        return d

    def to_feature(self) -> dict:
        props = self.to_dict()
        geom = props.pop("footprint")
        return {"type": "Feature", "id": self.id, "geometry": geom, "properties": props}


@dataclass
class Query:
    """What to look for. ``geometry`` is lon/lat (a bbox is given as its polygon); ``services`` is the set
    the asker may see, already intersected with any --service filter."""

    geometry: BaseGeometry | None = None
    since: datetime | None = None
    until: datetime | None = None
    mission: str | None = None
    services: tuple[str, ...] | None = None
    camera: str | None = None
    limit: int | None = None


@dataclass
class AuditEntry:
    at: datetime
    actor: str
    action: str  # search, show, export, coverage, hold, release, purge, repair
    image_id: int | None = None
    sha256: str | None = None
    service: str | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["at"] = iso(self.at)
        return d


def dump_json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


class Catalog(Protocol):
    """What the archive asks of a catalogue backend."""

    def add(self, rec: ImageRecord) -> int | None:
        """Insert a row and commit; its id, or None if (service, sha256) is already there."""

    def add_many(self, recs: Iterable[ImageRecord]) -> int:
        """Bulk insert in one transaction (benchmarks, imports); duplicates ignored. Returns rows added."""

    def get(self, image_id: int) -> ImageRecord | None: ...

    def find(self, service: str, sha256: str) -> ImageRecord | None: ...

    def search(self, q: Query) -> list[ImageRecord]:
        """Rows matching every given criterion; geometry by exact intersection; ordered by time, id."""

    def iter_all(self) -> Iterator[ImageRecord]: ...

    def count(self) -> int: ...

    def sha_refs(self, sha256: str) -> int:
        """How many rows use this blob (over all services)."""

    def all_sha256(self) -> set[str]: ...

    def delete(self, image_id: int) -> None: ...

    def set_hold(self, image_id: int, reason: str | None, at: datetime | None) -> None: ...

    def older_than(self, service: str, before: datetime, interior: bool | None) -> list[ImageRecord]:
        """Rows of ``service`` whose reference time is before ``before`` (``interior`` None: any)."""

    def audit(self, entries: list[AuditEntry]) -> None: ...

    def audit_entries(self, since: datetime | None = None, image_id: int | None = None,
                      actor: str | None = None) -> list[AuditEntry]: ...

    def prune_audit(self, before: datetime) -> int: ...

    def close(self) -> None: ...
