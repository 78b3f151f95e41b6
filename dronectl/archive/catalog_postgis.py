"""PostgreSQL + PostGIS catalogue: the same protocol as the SQLite one, for a unit that outgrows a machine.

Footprints are ``geometry(Geometry, 4326)`` with a GiST index; a search is ``footprint && envelope AND
ST_Intersects(footprint, query)``. Tables live in one schema (default ``dronectl``) so that several
archives, or test runs, can share a database. Needs the ``postgis`` extension in the database
(``CREATE EXTENSION postgis``) and the ``psycopg`` driver.
"""

from __future__ import annotations

import re

import shapely

from dronectl.archive.catalog import (COLUMNS, FEATURE_COLUMNS, REF_TIME, Catalog, ImageRecord, Query, holds_in,
                                      joined_features, new_public_id)
from dronectl.errors import ArchiveError

_SELECT = ", ".join("ST_AsBinary(i.footprint)" if c == "footprint" else f"i.{c}" for c in COLUMNS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
    public_id TEXT,
    UNIQUE (service, sha256)
);
CREATE INDEX IF NOT EXISTS images_footprint ON images USING GIST (footprint);
CREATE INDEX IF NOT EXISTS images_sha ON images (sha256);
CREATE INDEX IF NOT EXISTS images_mission ON images (mission);
CREATE INDEX IF NOT EXISTS images_time ON images ((COALESCE(captured_at, ingested_at)));
CREATE INDEX IF NOT EXISTS images_service_time ON images (service, (COALESCE(captured_at, ingested_at)), id);
CREATE TABLE IF NOT EXISTS audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    image_id BIGINT, sha256 TEXT, service TEXT, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, service TEXT NOT NULL, admin BOOLEAN NOT NULL DEFAULT FALSE,
    selector TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,              -- SHA-256 of the session id the cookie holds, never the id
    name TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_name ON sessions (name);
"""

_INSERT = (f"INSERT INTO images ({', '.join(COLUMNS[1:])}) VALUES "
           f"(%s, %s, %s, ST_GeomFromWKB(%s, 4326), {', '.join(['%s'] * (len(COLUMNS) - 5))}) "
           "ON CONFLICT (service, sha256) DO NOTHING RETURNING id")


def _values(r: ImageRecord) -> tuple:
    from psycopg.types.json import Jsonb

    r.public_id = r.public_id or new_public_id()
    return (r.sha256, r.service, r.format, shapely.to_wkb(r.footprint), r.ingested_at, r.captured_at, r.mission,
            r.source_name, r.camera, r.make, r.model, r.lon_deg, r.lat_deg, r.height_m, r.pitch_deg, r.yaw_deg,
            r.roll_deg, r.width_px, r.height_px, r.size_bytes, bool(r.interior), ",".join(r.flags), holds_in(r.holds),
            r.held_at, Jsonb(r.extra or {}), r.public_id)


class PostgisCatalog(Catalog):
    backend = "postgis"
    P = "%s"
    SELECT = _SELECT
    FOR_UPDATE = " FOR UPDATE"

    def __init__(self, dsn: str, schema: str = "dronectl"):
        try:
            import psycopg
        except ImportError:
            raise ArchiveError("the PostGIS catalogue needs psycopg: pip install 'psycopg[binary]'") from None
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ArchiveError(f"bad catalogue schema name '{schema}': lower-case letters, digits, underscores")
        self.schema, self.dsn = schema, dsn
        try:
            self.db = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArchiveError(f"cannot connect to the PostGIS catalogue: {first}") from None
        try:
            with self.db.transaction():
                # two processes setting up one new schema at once would collide in the system catalogues
                self.db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"dronectl-schema:{schema}",))
                self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                self.db.execute(f"SET search_path TO {schema}, public")
                self.db.execute(_SCHEMA)
                have = {r[0] for r in self.db.execute("SELECT column_name FROM information_schema.columns "
                                                      "WHERE table_schema = %s AND table_name = 'images'", (schema,))}
                for column in FEATURE_COLUMNS:
                    # GeoJSON Feature texts (catalog.feature_text, map_feature_text); older archives: made on first read
                    if column not in have:
                        self.db.execute(f"ALTER TABLE images ADD COLUMN {column} TEXT")
                if "public_id" not in have:  # what web clients name the image by (catalog.new_public_id)
                    self.db.execute("ALTER TABLE images ADD COLUMN public_id TEXT")
                self._public_ids()
        except psycopg.Error as exc:
            self.db.close()
            first = str(exc).strip().splitlines()[0]
            raise ArchiveError(f"cannot set up the PostGIS catalogue (is the postgis extension installed?): {first}") from None

    def _transaction(self):
        return self.db.transaction()

    def bound_time(self, seconds: float) -> None:
        self.db.execute(f"SET statement_timeout = {int(seconds * 1000)}")

    def out_of_time(self, exc: BaseException) -> bool:
        from psycopg import errors

        return isinstance(exc, errors.QueryCanceled)

    def _contended(self, exc: BaseException) -> bool:
        from psycopg import errors

        return isinstance(exc, (errors.SerializationFailure, errors.DeadlockDetected, errors.UniqueViolation,
                                errors.LockNotAvailable))

    def _lock_blob(self, sha256: str) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"dronectl-blob:{sha256}",))

    def _insert(self, rec: ImageRecord) -> int | None:
        row = self.db.execute(_INSERT, _values(rec)).fetchone()
        return row[0] if row is not None else None

    def _where(self, q: Query) -> tuple[list[str], list]:
        where, params = self._filters(q)
        if q.geometry is not None:
            where.append("i.footprint && ST_MakeEnvelope(?, ?, ?, ?, 4326)")
            params += list(q.geometry.bounds)
            where.append("ST_Intersects(i.footprint, ST_GeomFromWKB(?, 4326))")
            params.append(shapely.to_wkb(q.geometry))
        return where, params

    _FOOTPRINT_WKB = "ST_AsBinary(i.footprint)"

    def _index_key(self) -> tuple:
        return ("postgis", self.dsn, self.schema)

    def _index_load(self) -> tuple[str | None, int, list]:
        import psycopg

        db = psycopg.connect(self.dsn)
        try:
            db.execute(f"SET search_path TO {self.schema}, public")
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # one snapshot
            return self._index_rows(db)
        finally:
            db.close()

    def count_matching(self, q: Query) -> int:
        index = self._indexed(q)
        if index is not None:
            return index.count(q)
        where, params = self._where(q)
        return self._query("SELECT COUNT(*) FROM images i" + (" WHERE " + " AND ".join(where) if where else ""),
                           params)[0][0]

    def _matching(self, q: Query, select: str) -> list:
        index = self._indexed(q)
        if index is not None:  # the page's rows by id; one deleted since the index's version is left out
            ids = index.page_ids(q)
            rows = self._query(f"SELECT i.id, {select} FROM images i WHERE i.id = ANY(?) AND i.service = ANY(?)",
                               (ids, list(q.services)))
            at = {r[0]: r[1:] for r in rows}
            return [at[i] for i in ids if i in at]
        where, params = self._where(q)
        sql = f"SELECT {select} FROM images i"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {REF_TIME}, i.id"
        if q.limit is not None:
            sql += f" LIMIT {int(q.limit)}"
        if q.offset:
            sql += f" OFFSET {int(q.offset)}"
        return self._query(sql, params)

    def search(self, q: Query) -> list[ImageRecord]:
        return [self._record(r) for r in self._matching(q, self.SELECT)]

    def _matching_features(self, q: Query, column: str) -> list[tuple]:
        return self._matching(q, f"i.id, i.service, i.sha256, i.{column}, i.public_id")

    def search_ids(self, q: Query) -> list[int]:
        index = self._indexed(q)
        if index is not None:
            return index.page_ids(q)
        return [r[0] for r in self._matching(q, "i.id")]

    def _features_of(self, ids: list[int], column: str, services: tuple[str, ...], links) -> tuple[bytes, int] | None:
        # the rows, joined in Python: joined by string_agg (left() and concat() of ~1 KB texts), a page of 500
        # cost PostgreSQL 6 ms against 3 ms for the rows (benchmarks/RESULTS.md, 2026-12-05)
        rows = self._query(f"SELECT i.id, i.{column}, i.public_id FROM images i WHERE i.id = ANY(?) "
                           "AND i.service = ANY(?)", ([int(i) for i in ids], list(services)))
        if any(r[1] is None for r in rows):
            return None
        at = {r[0]: r for r in rows}
        texts = [(at[i][1].encode("utf-8"), at[i][2]) for i in ids if i in at]
        return joined_features(texts, links), len(texts)

    def drop_schema(self) -> None:
        """Remove this catalogue's schema and everything in it (tests)."""
        self.db.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
