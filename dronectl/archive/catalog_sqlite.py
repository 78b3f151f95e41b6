"""SQLite catalogue: one file, WAL journal, an R*Tree on the footprints' bounding boxes.

A bbox or polygon search asks the R*Tree for candidate ids (the R*Tree drives the join), then keeps
the rows whose footprint really intersects the query geometry (shapely, vectorised). Each ``add`` is
its own transaction: the row and its R*Tree entry commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

import shapely

from dronectl.archive.catalog import AuditEntry, ImageRecord, Query, from_iso, iso
from dronectl.errors import ArchiveError

SCHEMA_VERSION = 1

_COLUMNS = ("id", "sha256", "service", "format", "footprint", "ingested_at", "captured_at", "mission",
            "source_name", "camera", "make", "model", "lon_deg", "lat_deg", "height_m", "pitch_deg", "yaw_deg",
            "roll_deg", "width_px", "height_px", "size_bytes", "interior", "flags", "hold_reason", "held_at",
            "extra")
_SELECT = ", ".join(f"i.{c}" for c in _COLUMNS)
_REF_TIME = "COALESCE(i.captured_at, i.ingested_at)"

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
    UNIQUE (service, sha256)
);
CREATE INDEX IF NOT EXISTS images_sha ON images (sha256);
CREATE INDEX IF NOT EXISTS images_mission ON images (mission);
CREATE INDEX IF NOT EXISTS images_time ON images (COALESCE(captured_at, ingested_at));
CREATE VIRTUAL TABLE IF NOT EXISTS images_rtree USING rtree (id, minx, maxx, miny, maxy);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    image_id INTEGER, sha256 TEXT, service TEXT, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""


def _row_values(r: ImageRecord) -> tuple:
    return (r.sha256, r.service, r.format, shapely.to_wkb(r.footprint), iso(r.ingested_at), iso(r.captured_at),
            r.mission, r.source_name, r.camera, r.make, r.model, r.lon_deg, r.lat_deg, r.height_m, r.pitch_deg,
            r.yaw_deg, r.roll_deg, r.width_px, r.height_px, r.size_bytes, int(bool(r.interior)), ",".join(r.flags),
            r.hold_reason, iso(r.held_at), json.dumps(r.extra or {}, sort_keys=True))


_INSERT = (f"INSERT INTO images ({', '.join(_COLUMNS[1:])}) VALUES ({', '.join('?' * (len(_COLUMNS) - 1))}) "
           "ON CONFLICT (service, sha256) DO NOTHING")


def _record(row, footprint=None) -> ImageRecord:
    d = dict(zip(_COLUMNS, row))
    return ImageRecord(
        id=d["id"], sha256=d["sha256"], service=d["service"], format=d["format"],
        footprint=footprint if footprint is not None else shapely.from_wkb(d["footprint"]),
        ingested_at=from_iso(d["ingested_at"]), captured_at=from_iso(d["captured_at"]), mission=d["mission"],
        source_name=d["source_name"], camera=d["camera"], make=d["make"], model=d["model"], lon_deg=d["lon_deg"],
        lat_deg=d["lat_deg"], height_m=d["height_m"], pitch_deg=d["pitch_deg"], yaw_deg=d["yaw_deg"],
        roll_deg=d["roll_deg"], width_px=d["width_px"], height_px=d["height_px"], size_bytes=d["size_bytes"],
        interior=bool(d["interior"]), flags=tuple(f for f in d["flags"].split(",") if f),
        hold_reason=d["hold_reason"], held_at=from_iso(d["held_at"]), extra=json.loads(d["extra"] or "{}"))


class SqliteCatalog:
    backend = "sqlite"

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable against process crashes
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise ArchiveError(f"catalogue {self.path} cannot be opened: {exc}") from None

    # --- writing ---------------------------------------------------------------------------
    def _insert(self, cur, rec: ImageRecord) -> int | None:
        cur.execute(_INSERT, _row_values(rec))
        if cur.rowcount == 0:
            return None
        rid = cur.lastrowid
        w, s, e, n = rec.footprint.bounds
        cur.execute("INSERT INTO images_rtree VALUES (?, ?, ?, ?, ?)", (rid, w, e, s, n))
        return rid

    def add(self, rec: ImageRecord) -> int | None:
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            rid = self._insert(cur, rec)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        if rid is not None:
            rec.id = rid
        return rid

    def add_many(self, recs: Iterable[ImageRecord]) -> int:
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        n = 0
        try:
            for rec in recs:
                if self._insert(cur, rec) is not None:
                    n += 1
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return n

    def delete(self, image_id: int) -> None:
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("DELETE FROM images WHERE id = ?", (image_id,))
            cur.execute("DELETE FROM images_rtree WHERE id = ?", (image_id,))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def set_hold(self, image_id: int, reason: str | None, at: datetime | None) -> None:
        self.db.execute("UPDATE images SET hold_reason = ?, held_at = ? WHERE id = ?", (reason, iso(at), image_id))

    # --- reading ---------------------------------------------------------------------------
    def get(self, image_id: int) -> ImageRecord | None:
        row = self.db.execute(f"SELECT {_SELECT} FROM images i WHERE i.id = ?", (image_id,)).fetchone()
        return _record(row) if row else None

    def find(self, service: str, sha256: str) -> ImageRecord | None:
        row = self.db.execute(f"SELECT {_SELECT} FROM images i WHERE i.service = ? AND i.sha256 = ?",
                              (service, sha256)).fetchone()
        return _record(row) if row else None

    def search(self, q: Query) -> list[ImageRecord]:
        where, params = [], []
        if q.geometry is not None:
            w, s, e, n = q.geometry.bounds
            frm = "images_rtree r CROSS JOIN images i ON i.id = r.id"  # CROSS JOIN: the R*Tree drives
            where += ["r.minx <= ?", "r.maxx >= ?", "r.miny <= ?", "r.maxy >= ?"]
            params += [e, w, n, s]
        else:
            frm = "images i"
        if q.services is not None:
            if not q.services:
                return []
            where.append(f"i.service IN ({', '.join('?' * len(q.services))})")
            params += list(q.services)
        if q.since is not None:
            where.append(f"{_REF_TIME} >= ?")
            params.append(iso(q.since))
        if q.until is not None:
            where.append(f"{_REF_TIME} <= ?")
            params.append(iso(q.until))
        if q.mission is not None:
            where.append("i.mission = ?")
            params.append(q.mission)
        if q.camera is not None:
            where.append("(i.camera = ? COLLATE NOCASE OR i.model = ? COLLATE NOCASE)")
            params += [q.camera, q.camera]
        sql = f"SELECT {_SELECT} FROM {frm}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_REF_TIME}, i.id"
        if q.limit is not None and q.geometry is None:
            sql += f" LIMIT {int(q.limit)}"
        rows = self.db.execute(sql, params).fetchall()
        if q.geometry is None:
            return [_record(r) for r in rows]
        if not rows:
            return []
        geoms = shapely.from_wkb([r[4] for r in rows])
        shapely.prepare(q.geometry)
        hit = shapely.intersects(q.geometry, geoms)
        out = [_record(r, g) for r, g, h in zip(rows, geoms, hit) if h]
        return out[: q.limit] if q.limit is not None else out

    def iter_all(self) -> Iterator[ImageRecord]:
        cur = self.db.execute(f"SELECT {_SELECT} FROM images i ORDER BY i.id")
        for row in cur:
            yield _record(row)

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def sha_refs(self, sha256: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images WHERE sha256 = ?", (sha256,)).fetchone()[0]

    def all_sha256(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT sha256 FROM images")}

    def older_than(self, service: str, before: datetime, interior: bool | None) -> list[ImageRecord]:
        sql = f"SELECT {_SELECT} FROM images i WHERE i.service = ? AND {_REF_TIME} < ?"
        params: list = [service, iso(before)]
        if interior is not None:
            sql += " AND i.interior = ?"
            params.append(int(interior))
        return [_record(r) for r in self.db.execute(sql + " ORDER BY i.id", params)]

    # --- audit -----------------------------------------------------------------------------
    def audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.executemany("INSERT INTO audit (at, actor, action, image_id, sha256, service, detail) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(iso(e.at), e.actor, e.action, e.image_id, e.sha256, e.service, e.detail)
                             for e in entries])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def audit_entries(self, since: datetime | None = None, image_id: int | None = None,
                      actor: str | None = None) -> list[AuditEntry]:
        where, params = [], []
        if since is not None:
            where.append("at >= ?")
            params.append(iso(since))
        if image_id is not None:
            where.append("image_id = ?")
            params.append(image_id)
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        sql = "SELECT at, actor, action, image_id, sha256, service, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [AuditEntry(from_iso(r[0]), *r[1:]) for r in self.db.execute(sql + " ORDER BY id", params)]

    def prune_audit(self, before: datetime) -> int:
        cur = self.db.execute("DELETE FROM audit WHERE at < ?", (iso(before),))
        return cur.rowcount

    def close(self) -> None:
        self.db.close()
