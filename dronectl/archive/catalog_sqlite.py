"""SQLite catalogue: one file, WAL journal, an R*Tree on the footprints' bounding boxes.

A bbox or polygon search asks the R*Tree for candidate ids (the R*Tree drives the join), then keeps
the rows whose footprint really intersects the query geometry (shapely, vectorised). Each ``add`` is
its own transaction: the row and its R*Tree entry commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path
import shapely

from dronectl.archive.catalog import (COLUMNS, FEATURE_COLUMNS, REF_TIME, Catalog, ImageRecord, Query, from_iso,
                                      holds_in, iso, link_pieces, new_public_id)
from dronectl.errors import ArchiveError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    service TEXT NOT NULL,
    format TEXT NOT NULL,
    footprint BLOB NOT NULL,            -- WKB, lon/lat
    ingested_at TEXT NOT NULL,          -- fixed-width UTC ISO text
    captured_at TEXT,
    mission TEXT,
    source_name TEXT,
    camera TEXT, make TEXT, model TEXT,
    lon_deg REAL, lat_deg REAL, height_m REAL, pitch_deg REAL, yaw_deg REAL, roll_deg REAL,
    width_px INTEGER, height_px INTEGER, size_bytes INTEGER,
    interior INTEGER NOT NULL DEFAULT 0,
    flags TEXT NOT NULL DEFAULT '',
    hold_reason TEXT, held_at TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    public_id TEXT,                     -- what web clients name the image by (catalog.new_public_id)
    feature TEXT,                       -- the row as GeoJSON Feature text (catalog.feature_text); NULL: not made
    map_feature TEXT,                   -- the same for the map (catalog.map_feature_text)
    UNIQUE (service, sha256)
);
CREATE INDEX IF NOT EXISTS images_sha ON images (sha256);
CREATE INDEX IF NOT EXISTS images_mission ON images (mission);
CREATE INDEX IF NOT EXISTS images_time ON images (COALESCE(captured_at, ingested_at));
CREATE INDEX IF NOT EXISTS images_service_time ON images (service, COALESCE(captured_at, ingested_at), id);
CREATE VIRTUAL TABLE IF NOT EXISTS images_rtree USING rtree (id, minx, maxx, miny, maxy);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    image_id INTEGER, sha256 TEXT, service TEXT, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, service TEXT NOT NULL, admin INTEGER NOT NULL DEFAULT 0,
    selector TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL,   -- SHA-256 of the token's secret, never the token
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,              -- SHA-256 of the session id the cookie holds, never the id
    name TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_name ON sessions (name);
"""


def _row_values(r: ImageRecord) -> tuple:
    r.public_id = r.public_id or new_public_id()
    return (r.sha256, r.service, r.format, shapely.to_wkb(r.footprint), iso(r.ingested_at), iso(r.captured_at),
            r.mission, r.source_name, r.camera, r.make, r.model, r.lon_deg, r.lat_deg, r.height_m, r.pitch_deg,
            r.yaw_deg, r.roll_deg, r.width_px, r.height_px, r.size_bytes, int(bool(r.interior)), ",".join(r.flags),
            holds_in(r.holds), iso(r.held_at), json.dumps(r.extra or {}, sort_keys=True, allow_nan=False),
            r.public_id)


_FOOTPRINT = COLUMNS.index("footprint")
_INSERT = (f"INSERT INTO images ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))}) "
           "ON CONFLICT (service, sha256) DO NOTHING")


class SqliteCatalog(Catalog):
    backend = "sqlite"

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable against process crashes
            self.db.executescript(_SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(images)")}
            for column in FEATURE_COLUMNS:  # older archives: the texts are made on first read
                if column not in have:
                    self.db.execute(f"ALTER TABLE images ADD COLUMN {column} TEXT")
            if "public_id" not in have:
                self.db.execute("ALTER TABLE images ADD COLUMN public_id TEXT")
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'images_public_id'").fetchone() or \
                    self.db.execute("SELECT 1 FROM images WHERE public_id IS NULL LIMIT 1").fetchone():
                with self._transaction():  # once, for an archive made before public ids
                    self._public_ids()
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise ArchiveError(f"catalogue {self.path} cannot be opened: {exc}") from None

    def bound_time(self, seconds: float) -> None:
        def progress():
            return 1 if self.deadline is not None and time.monotonic() > self.deadline else 0

        self.db.set_progress_handler(progress, 1_000_000)

    def out_of_time(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted"

    def _time_in(self, dt):
        return iso(dt)

    def _time_out(self, value):
        return from_iso(value)

    def _extra_out(self, value) -> dict:
        return json.loads(value or "{}")

    @contextmanager
    def _transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def _snapshot(self):
        """Statements that read one state of the catalogue (a read transaction, unless one is open)."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        deadline = self.deadline
        try:
            yield
        finally:  # ended even past the request's time budget (its progress handler would interrupt the COMMIT),
            self.deadline = None  # or the pooled connection would stay in this transaction
            try:
                if self.db.in_transaction:
                    self.db.execute("COMMIT")
            finally:
                self.deadline = deadline

    def _insert(self, rec: ImageRecord) -> int | None:
        cur = self.db.execute(_INSERT, _row_values(rec))
        if cur.rowcount == 0:
            return None
        w, s, e, n = rec.footprint.bounds
        self.db.execute("INSERT INTO images_rtree VALUES (?, ?, ?, ?, ?)", (cur.lastrowid, w, e, s, n))
        return cur.lastrowid

    def _index_key(self) -> tuple:
        return ("sqlite", str(self.path.resolve()))

    def _index_load(self) -> tuple[str | None, int, list]:
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        try:
            db.execute("BEGIN")  # one snapshot: the version and the rows it counts
            return self._index_rows(db)
        finally:
            db.close()

    def _contended(self, exc: BaseException) -> bool:
        # another process held the write lock longer than the 30 s busy timeout
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))

    def _delete_row(self, image_id: int) -> None:
        self.db.execute("DELETE FROM images WHERE id = ?", (image_id,))
        self.db.execute("DELETE FROM images_rtree WHERE id = ?", (image_id,))

    _EXTENT = ("images_rtree r JOIN images i ON i.id = r.id", "MIN(r.minx), MIN(r.miny), MAX(r.maxx), MAX(r.maxy)")

    def _matching(self, q: Query, select: str, footprint_at: int, narrow: bool = False) -> tuple[list, list | None]:
        """The rows (columns ``select``; the footprint WKB at ``footprint_at``) matching ``q``, in order, with
        their footprint geometries when the query has a geometry. ``narrow``: ``select`` is a few columns, read
        with the candidates (else a page with an area reads the candidates first, then its rows)."""
        if q.geometry is not None and self.memory_index:
            with self._snapshot():  # the rows of the ids, as they were when the index was current
                index = self._indexed(q)
                if index is not None:
                    ids, geoms = index.page(q)
                    return self._rows_of(ids, select), geoms
        if q.geometry is not None and q.limit is not None and not narrow:
            with self._snapshot():  # the rows of the ids, as they were when the ids were read
                ids, geoms = self._spatial_page(q)
                return self._rows_of(ids, select), geoms
        where, params = self._filters(q)
        if q.geometry is not None:
            frm = self._spatial_filter(q, where, params)
        else:
            frm = "images i"
        sql = f"SELECT {select} FROM {frm}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {REF_TIME}, i.id"
        if q.geometry is None and (q.limit is not None or q.offset):
            sql += f" LIMIT {int(q.limit) if q.limit is not None else -1} OFFSET {int(q.offset)}"
        rows = self._query(sql, params)
        if q.geometry is None or not rows:
            return rows, None
        geoms = shapely.from_wkb([r[footprint_at] for r in rows])
        shapely.prepare(q.geometry)
        hit = shapely.intersects(q.geometry, geoms)
        keep = [i for i, h in enumerate(hit) if h][q.offset:]
        if q.limit is not None:
            keep = keep[: q.limit]
        return [rows[i] for i in keep], [geoms[i] for i in keep]

    @staticmethod
    def _spatial_filter(q: Query, where: list, params: list) -> str:
        """The FROM clause of a query with a geometry (its bounding box's terms added to ``where``)."""
        w, s, e, n = q.geometry.bounds
        where += ["r.minx <= ?", "r.maxx >= ?", "r.miny <= ?", "r.maxy >= ?"]
        params += [e, w, n, s]
        return "images_rtree r CROSS JOIN images i ON i.id = r.id"  # CROSS JOIN: the R*Tree drives

    def _spatial_page(self, q: Query) -> tuple[list[int], list]:
        """A page of a query with a geometry and a limit: the ids (in order: time, id) and footprints of the rows
        that really intersect it, offset and limit applied."""
        ids, geoms, hit = self._spatial_matches(q)
        keep = [k for k, h in enumerate(hit) if h][q.offset:q.offset + q.limit]
        return [ids[k] for k in keep], [geoms[k] for k in keep]

    def _spatial_matches(self, q: Query) -> tuple[list[int], list, list[bool]]:
        """The R*Tree's candidates of a query with a geometry, in order (time, id): their ids, footprints and
        whether each really intersects it. They come back as one aggregated row (ids, times, footprints
        concatenated and cut again by their lengths) rather than as ~1,000 rows (for a 1 km box of 100,000 images)
        of every column of which a page keeps ~100: a STAC search page costs 20 % less CPU."""
        # kept for the next call with the same criteria while no row is added or removed: a STAC page asks for
        # its rows, then (numberMatched) how many there are in all
        key = (self.meta(self.ROWS_VERSION), shapely.to_wkb(q.geometry), q.since, q.until, q.mission, q.services,
               q.camera, q.ids, q.items)
        kept = self.__dict__.get("_spatial_kept")
        if kept is not None and kept[0] == key:
            return kept[1]
        found = self._spatial_candidates(q)
        self._spatial_kept = (key, found) if len(found[0]) <= 20_000 else None
        return found

    def _spatial_candidates(self, q: Query) -> tuple[list[int], list, list[bool]]:
        where, params = self._filters(q)
        frm = self._spatial_filter(q, where, params)
        row = self._query(f"SELECT group_concat(id), group_concat(t), group_concat(length(fp)), "
                          f"CAST(group_concat(fp, '') AS BLOB) FROM (SELECT i.id AS id, {REF_TIME} AS t, "
                          f"i.footprint AS fp FROM {frm} WHERE {' AND '.join(where)})", params)[0]
        if row[0] is None:
            return [], [], []
        ids, times = [int(v) for v in row[0].split(",")], row[1].split(",")
        order = sorted(range(len(ids)), key=lambda k: (times[k], ids[k]))
        geoms = shapely.from_wkb(_cut(row[2], row[3], order))
        shapely.prepare(q.geometry)
        return [ids[k] for k in order], list(geoms), shapely.intersects(q.geometry, geoms).tolist()

    def count_matching(self, q: Query) -> int:
        if q.geometry is not None:
            index = self._indexed(q)
            if index is not None:
                return index.count(q)
            return sum(self._spatial_matches(q)[2])
        where, params = self._filters(q)
        return self._query("SELECT COUNT(*) FROM images i" + (" WHERE " + " AND ".join(where) if where else ""),
                           params)[0][0]

    def _rows_of(self, ids: list[int], select: str) -> list:
        """Rows ``ids`` (columns ``select``), in that order."""
        if not ids:
            return []
        rows = self._query(f"SELECT i.id, {select} FROM images i WHERE i.id IN ({','.join(map(str, ids))})")
        at = {r[0]: r[1:] for r in rows}
        return [at[i] for i in ids]  # all there: read in the same snapshot as the ids

    def search(self, q: Query) -> list[ImageRecord]:
        rows, geoms = self._matching(q, self.SELECT, _FOOTPRINT)
        if geoms is None:
            return [self._record(r) for r in rows]
        return [self._record(r, g) for r, g in zip(rows, geoms)]

    def _matching_features(self, q: Query, column: str) -> list[tuple]:
        # the text as a BLOB: UTF-8 bytes, joined into the answer without decoding. Not through _spatial_page:
        # the candidates' texts in one aggregated row cost more CPU than these ~1,000 rows of six columns.
        return self._matching(q, f"i.id, i.service, i.sha256, CAST(i.{column} AS BLOB), i.public_id, i.footprint",
                              5, True)[0]

    def search_ids(self, q: Query) -> list[int]:
        index = self._indexed(q)
        if index is not None:
            return index.page_ids(q)
        if q.geometry is None:
            return [r[0] for r in self._matching(q, "i.id", 0)[0]]
        return [r[0] for r in self._matching(q, "i.id, i.footprint", 1, True)[0]]

    def _features_of(self, ids: list[int], column: str, services: tuple[str, ...], links) -> tuple[bytes, int] | None:
        # joined by SQLite (no Python object a row): json_each keeps the order of ids (its key), which the
        # subquery's ORDER BY hands to group_concat; links by one printf a row (each || would copy the text again),
        # the text cut as bytes (no UTF-8 to scan)
        expr, params = f"i.{column}", []
        if links is not None:
            pieces = link_pieces(links)
            cut = f"substr(CAST({expr} AS BLOB), 1, length(CAST({expr} AS BLOB)) - 1)"
            expr = (f"CASE WHEN {expr} IS NOT NULL THEN printf(?, {cut}{', i.public_id' * (len(pieces) - 1)}) END")
            params = ["%s" + "%s".join(p.replace("%", "%%") for p in pieces)]
        n, missing, body = self._query(
            f"SELECT COUNT(*), SUM(x IS NULL), CAST(group_concat(x, ',') AS BLOB) FROM (SELECT {expr} AS x "
            f"FROM json_each(?) j CROSS JOIN images i ON i.id = j.value "
            f"WHERE i.service IN ({', '.join('?' * len(services)) or 'NULL'}) ORDER BY j.key)",
            [*params, "[" + ",".join(map(str, map(int, ids))) + "]", *services])[0]
        return None if missing else (bytes(body or b""), n)


def _cut(lengths: str, joined: bytes, which: list[int]) -> list[bytes]:
    """Values ``which`` (positions) of those a ``group_concat(col, '')`` of a NOT NULL column joined, cut by
    ``group_concat(length(col))``."""
    sizes = [int(n) for n in lengths.split(",")]
    ends = list(accumulate(sizes))
    return [joined[ends[k] - sizes[k]:ends[k]] for k in which]
