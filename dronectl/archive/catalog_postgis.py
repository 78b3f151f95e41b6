"""PostgreSQL + PostGIS catalogue: the same protocol as the SQLite one, for a unit that outgrows a machine.

Footprints are ``geometry(Geometry, 4326)`` with a GiST index; a search is ``footprint && envelope AND
ST_Intersects(footprint, query)``. Tables live in one schema (default ``dronectl``) so that several
archives, or test runs, can share a database. Needs the ``postgis`` extension in the database
(``CREATE EXTENSION postgis``) and the ``psycopg`` driver.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable, Iterator

import shapely

from dronectl.archive.catalog import AuditEntry, ImageRecord, Query
from dronectl.errors import ArchiveError

_COLUMNS = ("id", "sha256", "service", "format", "footprint", "ingested_at", "captured_at", "mission",
            "source_name", "camera", "make", "model", "lon_deg", "lat_deg", "height_m", "pitch_deg", "yaw_deg",
            "roll_deg", "width_px", "height_px", "size_bytes", "interior", "flags", "hold_reason", "held_at",
            "extra")
_SELECT = ", ".join("ST_AsBinary(i.footprint)" if c == "footprint" else f"i.{c}" for c in _COLUMNS)
_REF_TIME = "COALESCE(i.captured_at, i.ingested_at)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id BIGSERIAL PRIMARY KEY,
    sha256 TEXT NOT NULL,
    service TEXT NOT NULL,
    format TEXT NOT NULL,
    footprint geometry(Geometry, 4326) NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    captured_at TIMESTAMPTZ,
    mission TEXT,
    source_name TEXT,
    camera TEXT, make TEXT, model TEXT,
    lon_deg DOUBLE PRECISION, lat_deg DOUBLE PRECISION, height_m DOUBLE PRECISION,
    pitch_deg DOUBLE PRECISION, yaw_deg DOUBLE PRECISION, roll_deg DOUBLE PRECISION,
    width_px INTEGER, height_px INTEGER, size_bytes BIGINT,
    interior BOOLEAN NOT NULL DEFAULT FALSE,
    flags TEXT NOT NULL DEFAULT '',
    hold_reason TEXT, held_at TIMESTAMPTZ,
    extra JSONB NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (service, sha256)
);
CREATE INDEX IF NOT EXISTS images_footprint ON images USING GIST (footprint);
CREATE INDEX IF NOT EXISTS images_sha ON images (sha256);
CREATE INDEX IF NOT EXISTS images_mission ON images (mission);
CREATE INDEX IF NOT EXISTS images_time ON images ((COALESCE(captured_at, ingested_at)));
CREATE TABLE IF NOT EXISTS audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    image_id BIGINT, sha256 TEXT, service TEXT, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""

_INSERT = (f"INSERT INTO images ({', '.join(_COLUMNS[1:])}) VALUES "
           f"(%s, %s, %s, ST_GeomFromWKB(%s, 4326), {', '.join(['%s'] * (len(_COLUMNS) - 5))}) "
           "ON CONFLICT (service, sha256) DO NOTHING RETURNING id")


def _utc(dt):
    return dt.astimezone(timezone.utc) if dt is not None else None


def _values(r: ImageRecord) -> tuple:
    from psycopg.types.json import Jsonb

    return (r.sha256, r.service, r.format, shapely.to_wkb(r.footprint), r.ingested_at, r.captured_at, r.mission,
            r.source_name, r.camera, r.make, r.model, r.lon_deg, r.lat_deg, r.height_m, r.pitch_deg, r.yaw_deg,
            r.roll_deg, r.width_px, r.height_px, r.size_bytes, bool(r.interior), ",".join(r.flags), r.hold_reason,
            r.held_at, Jsonb(r.extra or {}))


def _record(row, footprint=None) -> ImageRecord:
    d = dict(zip(_COLUMNS, row))
    return ImageRecord(
        id=d["id"], sha256=d["sha256"], service=d["service"], format=d["format"],
        footprint=footprint if footprint is not None else shapely.from_wkb(bytes(d["footprint"])),
        ingested_at=_utc(d["ingested_at"]), captured_at=_utc(d["captured_at"]), mission=d["mission"],
        source_name=d["source_name"], camera=d["camera"], make=d["make"], model=d["model"], lon_deg=d["lon_deg"],
        lat_deg=d["lat_deg"], height_m=d["height_m"], pitch_deg=d["pitch_deg"], yaw_deg=d["yaw_deg"],
        roll_deg=d["roll_deg"], width_px=d["width_px"], height_px=d["height_px"], size_bytes=d["size_bytes"],
        interior=bool(d["interior"]), flags=tuple(f for f in (d["flags"] or "").split(",") if f),
        hold_reason=d["hold_reason"], held_at=_utc(d["held_at"]), extra=dict(d["extra"] or {}))


class PostgisCatalog:
    backend = "postgis"

    def __init__(self, dsn: str, schema: str = "dronectl"):
        try:
            import psycopg
        except ImportError:
            raise ArchiveError("the PostGIS catalogue needs psycopg: pip install 'psycopg[binary]'") from None
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ArchiveError(f"bad catalogue schema name '{schema}': lower-case letters, digits, underscores")
        self.schema = schema
        try:
            self.db = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArchiveError(f"cannot connect to the PostGIS catalogue: {first}") from None
        try:
            with self.db.transaction():
                self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                self.db.execute(f"SET search_path TO {schema}, public")
                self.db.execute(_SCHEMA)
        except psycopg.Error as exc:
            self.db.close()
            first = str(exc).strip().splitlines()[0]
            raise ArchiveError(f"cannot set up the PostGIS catalogue (is the postgis extension installed?): {first}") from None

    # --- writing ---------------------------------------------------------------------------
    def add(self, rec: ImageRecord) -> int | None:
        row = self.db.execute(_INSERT, _values(rec)).fetchone()
        if row is None:
            return None
        rec.id = row[0]
        return row[0]

    def add_many(self, recs: Iterable[ImageRecord]) -> int:
        n = 0
        with self.db.transaction():
            with self.db.cursor() as cur:
                for rec in recs:
                    cur.execute(_INSERT, _values(rec))
                    n += cur.fetchone() is not None
        return n

    def delete(self, image_id: int) -> None:
        self.db.execute("DELETE FROM images WHERE id = %s", (image_id,))

    def set_hold(self, image_id: int, reason: str | None, at: datetime | None) -> None:
        self.db.execute("UPDATE images SET hold_reason = %s, held_at = %s WHERE id = %s", (reason, at, image_id))

    # --- reading ---------------------------------------------------------------------------
    def get(self, image_id: int) -> ImageRecord | None:
        row = self.db.execute(f"SELECT {_SELECT} FROM images i WHERE i.id = %s", (image_id,)).fetchone()
        return _record(row) if row else None

    def find(self, service: str, sha256: str) -> ImageRecord | None:
        row = self.db.execute(f"SELECT {_SELECT} FROM images i WHERE i.service = %s AND i.sha256 = %s",
                              (service, sha256)).fetchone()
        return _record(row) if row else None

    def search(self, q: Query) -> list[ImageRecord]:
        where, params = [], []
        if q.geometry is not None:
            where.append("i.footprint && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
            params += list(q.geometry.bounds)
            where.append("ST_Intersects(i.footprint, ST_GeomFromWKB(%s, 4326))")
            params.append(shapely.to_wkb(q.geometry))
        if q.services is not None:
            if not q.services:
                return []
            where.append("i.service = ANY(%s)")
            params.append(list(q.services))
        if q.since is not None:
            where.append(f"{_REF_TIME} >= %s")
            params.append(q.since)
        if q.until is not None:
            where.append(f"{_REF_TIME} <= %s")
            params.append(q.until)
        if q.mission is not None:
            where.append("i.mission = %s")
            params.append(q.mission)
        if q.camera is not None:
            where.append("(lower(i.camera) = lower(%s) OR lower(i.model) = lower(%s))")
            params += [q.camera, q.camera]
        sql = f"SELECT {_SELECT} FROM images i"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_REF_TIME}, i.id"
        if q.limit is not None:
            sql += f" LIMIT {int(q.limit)}"
        return [_record(r) for r in self.db.execute(sql, params).fetchall()]

    def iter_all(self) -> Iterator[ImageRecord]:
        with self.db.cursor() as cur:
            cur.execute(f"SELECT {_SELECT} FROM images i ORDER BY i.id")
            for row in cur:
                yield _record(row)

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def sha_refs(self, sha256: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images WHERE sha256 = %s", (sha256,)).fetchone()[0]

    def all_sha256(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT sha256 FROM images")}

    def older_than(self, service: str, before: datetime, interior: bool | None) -> list[ImageRecord]:
        sql = f"SELECT {_SELECT} FROM images i WHERE i.service = %s AND {_REF_TIME} < %s"
        params: list = [service, before]
        if interior is not None:
            sql += " AND i.interior = %s"
            params.append(bool(interior))
        return [_record(r) for r in self.db.execute(sql + " ORDER BY i.id", params).fetchall()]

    # --- audit -----------------------------------------------------------------------------
    def audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        with self.db.transaction():
            with self.db.cursor() as cur:
                cur.executemany("INSERT INTO audit (at, actor, action, image_id, sha256, service, detail) "
                                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                [(e.at, e.actor, e.action, e.image_id, e.sha256, e.service, e.detail) for e in entries])

    def audit_entries(self, since: datetime | None = None, image_id: int | None = None,
                      actor: str | None = None) -> list[AuditEntry]:
        where, params = [], []
        if since is not None:
            where.append("at >= %s")
            params.append(since)
        if image_id is not None:
            where.append("image_id = %s")
            params.append(image_id)
        if actor is not None:
            where.append("actor = %s")
            params.append(actor)
        sql = "SELECT at, actor, action, image_id, sha256, service, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [AuditEntry(_utc(r[0]), *r[1:]) for r in self.db.execute(sql + " ORDER BY id", params).fetchall()]

    def prune_audit(self, before: datetime) -> int:
        return self.db.execute("DELETE FROM audit WHERE at < %s", (before,)).rowcount

    def drop_schema(self) -> None:
        """Remove this catalogue's schema and everything in it (tests)."""
        self.db.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def close(self) -> None:
        self.db.close()
