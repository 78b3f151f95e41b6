"""The catalogue: one base class, two backends (SQLite + R*Tree, PostgreSQL + PostGIS).

Rows are :class:`ImageRecord` values; footprints are shapely geometries in WGS 84 lon/lat; times are
timezone-aware UTC datetimes. An image is unique per (service, sha256): the same bytes ingested twice
into one service are a duplicate, into two services two rows sharing one blob.
"""

from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, NamedTuple

import shapely

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from dronectl.archive.times import from_iso, iso, utcnow  # noqa: F401 (re-exported: the catalogue's times)
from dronectl.archive.users import User
from dronectl.errors import ArchiveError


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
    holds: tuple[str, ...] = ()  # the reasons of the legal holds in force, oldest first
    held_at: datetime | None = None  # since when the image is held (its oldest hold in force)
    extra: dict = field(default_factory=dict)
    id: int | None = None  # the catalogue's row id (the administrator's CLI and the audit log name images by it)
    public_id: str | None = None  # what web clients name the image by: random, so that ids count nothing

    @property
    def hold_reason(self) -> str | None:
        """The holds in force as one line ("PV 2026-118; réquisition 42"), None when not held."""
        return "; ".join(self.holds) if self.holds else None

    @property
    def reference_time(self) -> datetime:
        """The time retention counts from: capture, or ingest when the capture time is unknown."""
        return self.captured_at or self.ingested_at

    def to_dict(self) -> dict:
        # field by field, not dataclasses.asdict: that deep-copies the footprint geometry (most of the cost)
        d = {f: getattr(self, f) for f in _RECORD_FIELDS}
        d["extra"] = json.loads(json.dumps(self.extra)) if self.extra else {}
        d["footprint"] = mapping(self.footprint)
        d["flags"] = list(self.flags)
        d["holds"] = list(self.holds)
        for k in ("ingested_at", "captured_at", "held_at"):
            d[k] = iso(d[k]) if d[k] else None
        return d

    def to_feature(self) -> dict:
        props = self.to_dict()
        geom = props.pop("footprint")
        return {"type": "Feature", "id": self.id, "geometry": geom, "properties": props}

    def to_public_feature(self) -> dict:
        """The Feature web clients get: named by its public id, without the row id."""
        f = self.to_feature()
        f["id"] = f["properties"].pop("public_id")
        del f["properties"]["id"]
        return f


_RECORD_FIELDS = tuple(f.name for f in fields(ImageRecord))


def new_public_id() -> str:
    """A random public image id: 20 hex digits (80 bits), unique in the catalogue (a unique index)."""
    import secrets

    return secrets.token_hex(10)


def feature_text(rec: ImageRecord) -> str:
    """The record's public GeoJSON Feature as compact JSON text: what the ``feature`` column keeps, so that a
    search for the map answers by joining stored text instead of rebuilding and re-serialising every record."""
    return json.dumps(rec.to_public_feature(), separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def map_feature_text(rec: ImageRecord) -> str:
    """What a map draws, and no more, as compact JSON text (the ``map_feature`` column): id, service, capture
    time, the footprint to 6 decimals (~0.1 m)."""
    geom = shapely.to_geojson(shapely.transform(rec.footprint, lambda c: c.round(6)))
    props = json.dumps({"service": rec.service, "captured_at": iso(rec.captured_at)}, separators=(",", ":"),
                       ensure_ascii=False)
    return f'{{"type":"Feature","id":{json.dumps(rec.public_id)},"geometry":{geom},"properties":{props}}}'


def link_pieces(links: tuple[str, tuple[tuple[str, str], ...]]) -> list[str]:
    """The literal texts around each public id in a Feature's links (:meth:`Catalog.features_of`):
    ``,"links":{"self":"BASE`` | id | ``","thumbnail":"BASE`` | id | ... ``}}`` (the last closes the Feature)."""
    base, kinds = links
    pieces = [',"links":{']
    for k, (name, suffix) in enumerate(kinds):
        pieces[-1] += ("," if k else "") + json.dumps(name) + ':"' + base
        pieces.append(suffix + '"')
    pieces[-1] += "}}"
    return pieces


def joined_features(texts, links=None) -> bytes:
    """Feature texts, from (UTF-8 text, public id) pairs, each with ``links`` spliced in before its closing brace
    (as :meth:`Catalog.features_of` does in SQL), joined by commas."""
    if links is None:
        return b",".join(text for text, _ in texts)
    pieces = link_pieces(links)
    template, k = "%s".join(p.replace("%", "%%") for p in pieces).encode("utf-8"), len(pieces) - 1
    return b",".join(text[:-1] + template % ((pid.encode(),) * k) for text, pid in texts)


_EXTENTS: dict[tuple, dict] = {}  # (catalogue, rows version, services) -> Catalog.extents' answer, per process


class Hit(NamedTuple):
    """One match of :meth:`Catalog.search_features`: enough to audit it, and its Feature as UTF-8 JSON."""

    id: int
    service: str
    sha256: str
    feature: bytes
    public_id: str


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
    offset: int = 0  # skip this many matches (in the search's order) before the first returned
    ids: tuple[int, ...] | None = None  # only these image ids
    items: tuple[tuple[str, str], ...] | None = None  # only these (service, public id) pairs


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


def holds_in(holds: tuple[str, ...]) -> str | None:
    """The ``hold_reason`` column: the reasons of the holds in force as a JSON list, NULL when none."""
    return dump_json(list(holds)) if holds else None


def holds_out(value: str | None) -> tuple[str, ...]:
    """The holds of a ``hold_reason`` column (a JSON list; a plain reason from archives made before lists)."""
    if not value:
        return ()
    try:
        v = json.loads(value)
    except ValueError:
        return (value,)
    return tuple(str(x) for x in v) if isinstance(v, list) else (value,)


def _utf8(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def dump_json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, allow_nan=False)


COLUMNS = ("id", "sha256", "service", "format", "footprint", "ingested_at", "captured_at", "mission",
           "source_name", "camera", "make", "model", "lon_deg", "lat_deg", "height_m", "pitch_deg", "yaw_deg",
           "roll_deg", "width_px", "height_px", "size_bytes", "interior", "flags", "hold_reason", "held_at",
           "extra", "public_id")
FEATURE_COLUMNS = ("feature", "map_feature")  # JSON text kept per row: feature_text, map_feature_text
REF_TIME = "COALESCE(i.captured_at, i.ingested_at)"  # what retention and --since/--until count from
_AUDIT_COLUMNS = "at, actor, action, image_id, sha256, service, detail"


RETRIES = 10


def retried(method):
    """A write of one transaction, run again (after a short random wait) when the backend says that another
    writer got in the way (a deadlock, a serialization failure, a row someone else just inserted, a locked
    SQLite file): several processes or machines may write to one catalogue at once. The transaction was
    rolled back, so running it again is safe; the last failure is raised."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        for attempt in range(RETRIES):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if attempt == RETRIES - 1 or not self._contended(exc):
                    raise
                time.sleep(random.uniform(0.0, 0.005 * 2 ** attempt))
    return run


class Catalog:
    """What the archive asks of a catalogue, and the SQL both backends share.

    A backend opens ``self.db`` (a DB-API connection whose ``execute`` returns a cursor), sets its
    placeholder ``P`` and ``SELECT`` (the columns of :data:`COLUMNS`, footprint as WKB), converts times and
    the ``extra`` JSON its dialect's way, and writes its own schema, transactions, inserts and spatial search."""

    backend: str
    P = "?"
    SELECT = ", ".join(f"i.{c}" for c in COLUMNS)
    db = None
    deadline: float | None = None  # time.monotonic() past which statements stop (after bound_time)

    # --- time bounds (the web server's budget per request) -----------------------------------
    def bound_time(self, seconds: float) -> None:
        """From now on, stop a statement that runs past ``self.deadline`` (SQLite) or longer than
        ``seconds`` (PostgreSQL); :meth:`out_of_time` recognises the error raised then."""

    def out_of_time(self, exc: BaseException) -> bool:
        return False

    # --- dialect ---------------------------------------------------------------------------
    def _time_in(self, dt: datetime | None):
        return dt

    def _time_out(self, value) -> datetime | None:
        return value.astimezone(timezone.utc) if value is not None else None

    def _extra_out(self, value) -> dict:
        return dict(value or {})

    def _transaction(self):
        """A context manager: one transaction, committed on exit, rolled back on an exception."""
        raise NotImplementedError

    def _contended(self, exc: BaseException) -> bool:
        """Whether ``exc`` means "another writer got in the way": :func:`retried` runs the write again."""
        return False

    def _lock_blob(self, sha256: str) -> None:
        """Within a transaction: hold the lock of one blob until commit, so that adding a row that uses it
        and deleting its last row (then the file) do not interleave. SQLite's BEGIN IMMEDIATE already
        serialises writers."""

    def _record(self, row, footprint: BaseGeometry | None = None) -> ImageRecord:
        d = dict(zip(COLUMNS, row))
        t = self._time_out
        return ImageRecord(
            id=d["id"], sha256=d["sha256"], service=d["service"], format=d["format"],
            footprint=footprint if footprint is not None else shapely.from_wkb(bytes(d["footprint"])),
            ingested_at=t(d["ingested_at"]), captured_at=t(d["captured_at"]), mission=d["mission"],
            source_name=d["source_name"], camera=d["camera"], make=d["make"], model=d["model"],
            lon_deg=d["lon_deg"], lat_deg=d["lat_deg"], height_m=d["height_m"], pitch_deg=d["pitch_deg"],
            yaw_deg=d["yaw_deg"], roll_deg=d["roll_deg"], width_px=d["width_px"], height_px=d["height_px"],
            size_bytes=d["size_bytes"], interior=bool(d["interior"]),
            flags=tuple(f for f in (d["flags"] or "").split(",") if f), holds=holds_out(d["hold_reason"]),
            held_at=t(d["held_at"]), extra=self._extra_out(d["extra"]), public_id=d["public_id"])

    def _exec(self, sql: str, params=()):
        """Run one statement written with ``?`` placeholders; the cursor."""
        return self.db.execute(sql.replace("?", self.P), params)

    def _query(self, sql: str, params=()) -> list:
        return self._exec(sql, params).fetchall()

    # --- writing ---------------------------------------------------------------------------
    @retried
    def add(self, rec: ImageRecord, audit: Callable[[int], list[AuditEntry]] | None = None) -> int | None:
        """Insert a row and commit; its id, or None if (service, sha256) is already there. ``audit(id)``:
        entries written in the same transaction (so the log has them exactly when the row exists)."""
        with self._transaction():
            self._lock_blob(rec.sha256)
            rid = self._insert(rec)
            if rid is not None:
                self._bump_rows()
                self._write_features([rid], strict=False)
                if audit is not None:
                    self._insert_audit(audit(rid))
        if rid is not None:
            rec.id = rid
        return rid

    @retried
    def add_many(self, recs: Iterable[ImageRecord]) -> int:
        """Bulk insert in one transaction (benchmarks, imports); duplicates ignored. Returns rows added."""
        with self._transaction():
            ids = [rid for rid in map(self._insert, recs) if rid is not None]
            if ids:
                self._bump_rows()
            self._write_features(ids, strict=False)
            return len(ids)

    def _insert(self, rec: ImageRecord) -> int | None:
        raise NotImplementedError

    ROWS_VERSION = "rows_version"  # meta key: counts the transactions that added or removed rows

    def _bump_rows(self) -> None:
        """Within a write transaction: the rows changed (what :meth:`extents` keeps until they change again)."""
        self._exec("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = "
                   "CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)", (self.ROWS_VERSION,))

    @retried
    def delete(self, image_id: int) -> None:
        with self._transaction():
            self._delete_row(image_id)
            self._bump_rows()

    def _delete_row(self, image_id: int) -> None:
        self._exec("DELETE FROM images WHERE id = ?", (image_id,))

    @retried
    def delete_unused_blob(self, sha256: str, unlink: Callable[[], None], image_id: int | None = None) -> bool:
        """Delete row ``image_id`` (if given), then, when no row uses blob ``sha256`` any more, ``unlink()`` its
        files: in one transaction holding the blob's lock, so that an ingest adding a row for the same bytes
        at that moment either comes first (the file stays) or after (it sees the file gone and writes it
        again). Whether the files were unlinked."""
        with self._transaction():
            self._lock_blob(sha256)
            if image_id is not None:
                self._delete_row(image_id)
                self._bump_rows()
            if self._query("SELECT COUNT(*) FROM images WHERE sha256 = ?", (sha256,))[0][0]:
                return False
            unlink()
            return True

    FOR_UPDATE = ""  # row lock of a read-modify-write; SQLite's BEGIN IMMEDIATE already serialises writers

    @retried
    def change_holds(self, image_id: int, change, audit: Callable[[tuple, tuple], list]) -> tuple[str, ...]:
        """Read an image's holds, ``change(old) -> new``, write them and the audit entries ``audit(old, new)``
        in one transaction (so two holds set at once both count). The new holds."""
        with self._transaction():
            row = self._query(f"SELECT hold_reason, held_at FROM images WHERE id = ?{self.FOR_UPDATE}", (image_id,))
            if not row:
                raise ArchiveError(f"no image {image_id} in the archive")
            old = holds_out(row[0][0])
            new = tuple(change(old))
            self._insert_audit(audit(old, new))
            at = None if not new else (self._time_out(row[0][1]) if old and row[0][1] is not None else utcnow())
            self._exec("UPDATE images SET hold_reason = ?, held_at = ? WHERE id = ?",
                       (holds_in(new), self._time_in(at), image_id))
            self._write_features([image_id], strict=False)  # the Feature shows the holds
        return new

    @retried
    def add_flag(self, sha256: str, flag: str) -> list[int]:
        """Add ``flag`` to the rows of blob ``sha256`` that lack it (and to their Feature texts); their ids."""
        with self._transaction():
            rows = self._query(f"SELECT id, flags FROM images WHERE sha256 = ?{self.FOR_UPDATE}", (sha256,))
            ids = []
            for rid, flags in rows:
                have = [f for f in (flags or "").split(",") if f]
                if flag not in have:
                    self._exec("UPDATE images SET flags = ? WHERE id = ?", (",".join(have + [flag]), rid))
                    ids.append(rid)
            self._write_features(ids, strict=False)
        return ids

    # --- reading ---------------------------------------------------------------------------
    def get(self, image_id: int, services: tuple[str, ...] | None = None) -> ImageRecord | None:
        """Row ``image_id``; with ``services``, only if it belongs to one of them (decided in the query, so
        that a row of another service and no row take the same path)."""
        sql, params = f"SELECT {self.SELECT} FROM images i WHERE i.id = ?", [image_id]
        if services is not None:
            sql += f" AND i.service IN ({', '.join('?' * len(services)) or 'NULL'})"
            params += list(services)
        rows = self._query(sql, params)
        return self._record(rows[0]) if rows else None

    def get_public(self, public_id: str, services: tuple[str, ...]) -> ImageRecord | None:
        """The row of this public id if it belongs to one of ``services`` (decided in the query, as :meth:`get`)."""
        sql = (f"SELECT {self.SELECT} FROM images i WHERE i.public_id = ? AND "
               f"i.service IN ({', '.join('?' * len(services)) or 'NULL'})")
        rows = self._query(sql, [public_id, *services])
        return self._record(rows[0]) if rows else None

    def _public_ids(self) -> None:
        """Within the catalogue's setup: the unique index of public ids, and one for the rows made before them
        (their Feature texts held the row id: made again on first read)."""
        self._exec("CREATE UNIQUE INDEX IF NOT EXISTS images_public_id ON images (public_id)")
        rows = self._query("SELECT id FROM images WHERE public_id IS NULL")
        if rows:
            self.db.cursor().executemany(f"UPDATE images SET public_id = {self.P}, feature = NULL, map_feature = NULL "
                                         f"WHERE id = {self.P}", [(new_public_id(), r[0]) for r in rows])

    def find(self, service: str, sha256: str) -> ImageRecord | None:
        rows = self._query(f"SELECT {self.SELECT} FROM images i WHERE i.service = ? AND i.sha256 = ?",
                           (service, sha256))
        return self._record(rows[0]) if rows else None

    def search(self, q: Query) -> list[ImageRecord]:
        """Rows matching every given criterion; geometry by exact intersection; ordered by time, id."""
        raise NotImplementedError

    def count_matching(self, q: Query) -> int:
        """How many rows :meth:`search` would answer for ``q`` without its limit and offset."""
        raise NotImplementedError

    def search_features(self, q: Query, column: str = "feature") -> list[Hit]:
        """The same matches as :meth:`search`, in the same order, as :class:`Hit` values: the stored Feature
        text (``column``: ``feature``, the whole record, or ``map_feature``, see :func:`map_feature_text`),
        made now (and kept) for rows that have none (rows catalogued before the columns existed)."""
        if column not in FEATURE_COLUMNS:
            raise ValueError(f"no feature column {column!r}")
        rows = self._matching_features(q, column)  # (id, service, sha256, feature text or None, public id)
        missing = [r[0] for r in rows if r[3] is None]
        made = self.complete_features(missing)[column] if missing else {}
        return [Hit(r[0], r[1], r[2], _utf8(r[3]) if r[3] is not None else made[r[0]], r[4]) for r in rows]

    def _matching_features(self, q: Query, column: str) -> list[tuple]:
        raise NotImplementedError

    # --- the in-memory spatial index (archive/spatial_index.py) ------------------------------
    memory_index = False  # set by a long-running process (the web server) on the catalogues it keeps open

    def _indexed(self, q: Query):
        """The in-memory spatial index, when ``memory_index`` is set, ``q`` is what it answers (an area, with
        services and dates; no mission, camera or id filters) and it holds the catalogue's current rows; else
        None (the query runs in SQL). Called in the snapshot in which the page's rows are then read."""
        if not self.memory_index or q.geometry is None or q.services is None or q.mission is not None or \
                q.camera is not None or q.ids is not None or q.items is not None:
            return None
        from dronectl.archive import spatial_index

        return spatial_index.current(self._index_key(), self.meta(self.ROWS_VERSION), self._index_load)

    def _index_key(self) -> tuple:
        raise NotImplementedError

    def _index_load(self) -> tuple[str | None, int, list]:
        """(rows version, row count, [(id, time µs, service, footprint WKB)]) read in one snapshot, on a
        connection of its own (called by the index's builder thread)."""
        raise NotImplementedError

    _FOOTPRINT_WKB = "i.footprint"

    def _index_rows(self, db) -> tuple[str | None, int, list]:
        """:meth:`_index_load`'s answer, read on ``db`` (a connection in a read transaction)."""
        from dronectl.archive import spatial_index

        version = db.execute(f"SELECT value FROM meta WHERE key = {self.P}", (self.ROWS_VERSION,)).fetchone()
        version = version[0] if version else None
        count = db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        if count > spatial_index.MAX_ROWS:
            return version, count, []
        rows = db.execute(f"SELECT i.id, {REF_TIME}, i.service, {self._FOOTPRINT_WKB} FROM images i").fetchall()
        micros, out = spatial_index.micros, self._time_out
        return version, count, [(r[0], micros(out(r[1])), r[2], bytes(r[3])) for r in rows]

    def search_ids(self, q: Query) -> list[int]:
        """The ids of :meth:`search`'s matches, in the same order (a streamed answer reads its rows by them)."""
        raise NotImplementedError

    def features_of(self, ids: list[int], column: str, services: tuple[str, ...],
                    links: tuple[str, tuple[tuple[str, str], ...]] | None = None) -> tuple[bytes, int] | None:
        """The stored Feature texts (``column``) of rows ``ids`` that are of ``services``, in the order of
        ``ids``, joined by commas: (UTF-8 bytes, how many). SQLite joins them itself into one value (no Python
        object a row); PostgreSQL sends the rows, which its string functions would make dearer. ``links``:
        (base, ((name, suffix), ...)) spliced before each Feature's closing brace as ``"links":{name: base + public id + suffix, ...}``. None when one of them has
        no stored text yet (:meth:`search_features` makes it). A row removed meanwhile is left out."""
        if column not in FEATURE_COLUMNS:
            raise ValueError(f"no feature column {column!r}")
        if not ids:
            return b"", 0
        return self._features_of(ids, column, services, links)

    def _features_of(self, ids: list[int], column: str, services: tuple[str, ...], links) -> tuple[bytes, int] | None:
        raise NotImplementedError

    @retried
    def complete_features(self, ids: list[int]) -> dict[str, dict[int, bytes]]:
        """Make and keep the Feature texts of these rows (in one transaction); column -> id -> UTF-8 text."""
        with self._transaction():
            return self._write_features(ids, strict=True)

    def _write_features(self, ids: list[int], strict: bool) -> dict[str, dict[int, bytes]]:
        """Within a transaction: the Feature columns of these rows from their current values. A row whose
        Feature cannot be written as JSON (a NaN somewhere) raises if ``strict``, else keeps NULL."""
        out: dict[str, dict[int, bytes]] = {c: {} for c in FEATURE_COLUMNS}
        for k in range(0, len(ids), 500):
            chunk = ids[k:k + 500]
            rows = self._query(f"SELECT {self.SELECT} FROM images i WHERE i.id IN ({', '.join('?' * len(chunk))})"
                               f"{self.FOR_UPDATE}", chunk)
            done = []
            for row in rows:
                rec = self._record(row)
                try:
                    texts = (feature_text(rec), map_feature_text(rec))
                except ValueError:
                    if strict:
                        raise
                    continue
                done.append((*texts, rec.id))
                for c, text in zip(FEATURE_COLUMNS, texts):
                    out[c][rec.id] = text.encode("utf-8")
            if done:
                self.db.cursor().executemany(f"UPDATE images SET feature = {self.P}, map_feature = {self.P} "
                                             f"WHERE id = {self.P}", done)
        return out

    def _filters(self, q: Query) -> tuple[list[str], list]:
        """The WHERE terms (``?`` placeholders) and parameters of a query's non-spatial criteria."""
        where, params = [], []
        if q.services is not None:
            where.append(f"i.service IN ({', '.join('?' * len(q.services)) or 'NULL'})")
            params += list(q.services)
        if q.since is not None:
            where.append(f"{REF_TIME} >= ?")
            params.append(self._time_in(q.since))
        if q.until is not None:
            where.append(f"{REF_TIME} <= ?")
            params.append(self._time_in(q.until))
        if q.ids is not None:
            where.append(f"i.id IN ({', '.join('?' * len(q.ids)) or 'NULL'})")
            params += [int(i) for i in q.ids]
        if q.items is not None:
            where.append("(" + (" OR ".join(["(i.service = ? AND i.public_id = ?)"] * len(q.items)) or "1 = 0") + ")")
            params += [v for svc, pid in q.items for v in (svc, str(pid))]
        if q.mission is not None:
            where.append("i.mission = ?")
            params.append(q.mission)
        if q.camera is not None:
            where.append("(lower(i.camera) = lower(?) OR lower(i.model) = lower(?))")
            params += [q.camera, q.camera]
        return where, params

    def iter_all(self) -> Iterator[ImageRecord]:
        for row in self.db.execute(f"SELECT {self.SELECT} FROM images i ORDER BY i.id"):
            yield self._record(row)

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM images")[0][0]

    def services_of(self, sha256: str) -> set[str]:
        """The services whose rows use this blob."""
        return {r[0] for r in self._query("SELECT DISTINCT service FROM images WHERE sha256 = ?", (sha256,))}

    def sha_refs(self, sha256: str) -> int:
        """How many rows use this blob (over all services)."""
        return self._query("SELECT COUNT(*) FROM images WHERE sha256 = ?", (sha256,))[0][0]

    def all_sha256(self) -> set[str]:
        return {r[0] for r in self._query("SELECT DISTINCT sha256 FROM images")}

    def older_than(self, service: str, before: datetime, interior: bool | None) -> list[ImageRecord]:
        """Rows of ``service`` whose reference time is before ``before`` (``interior`` None: any)."""
        sql = f"SELECT {self.SELECT} FROM images i WHERE i.service = ? AND {REF_TIME} < ?"
        params: list = [service, self._time_in(before)]
        if interior is not None:
            sql += " AND i.interior = ?"
            params.append(bool(interior))
        return [self._record(r) for r in self._query(sql + " ORDER BY i.id", params)]

    # --- audit -----------------------------------------------------------------------------
    @retried
    def audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        with self._transaction():
            self._insert_audit(entries)

    def _insert_audit(self, entries: list[AuditEntry]) -> None:
        if entries:
            self.db.cursor().executemany(
                f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES ({', '.join([self.P] * 7)})",
                [(self._time_in(e.at), e.actor, e.action, e.image_id, e.sha256, e.service, e.detail)
                 for e in entries])

    def audit_entries(self, since: datetime | None = None, image_id: int | None = None,
                      actor: str | None = None) -> list[AuditEntry]:
        where, params = [], []
        for term, value in (("at >= ?", self._time_in(since)), ("image_id = ?", image_id), ("actor = ?", actor)):
            if value is not None:
                where.append(term)
                params.append(value)
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
        return [AuditEntry(self._time_out(r[0]), *r[1:]) for r in self._query(sql + " ORDER BY id", params)]

    # --- missions ----------------------------------------------------------------------------
    def missions(self, services: tuple[str, ...]) -> list[dict]:
        """One row per (mission, service) among ``services``: first and last time, image count."""
        if not services:
            return []
        rows = self._query(
            f"SELECT i.mission, i.service, MIN({REF_TIME}), MAX({REF_TIME}), COUNT(*) FROM images i "
            f"WHERE i.mission IS NOT NULL AND i.service IN ({', '.join('?' * len(services))}) "
            "GROUP BY i.mission, i.service ORDER BY MIN(" + REF_TIME + "), i.mission, i.service", list(services))
        return [{"mission": r[0], "service": r[1], "first": self._time_out(r[2]), "last": self._time_out(r[3]),
                 "images": r[4]} for r in rows]

    _EXTENT = ("images i", "MIN(ST_XMin(i.footprint)), MIN(ST_YMin(i.footprint)), MAX(ST_XMax(i.footprint)), "
               "MAX(ST_YMax(i.footprint))")  # (FROM, bounds columns): PostGIS; SQLite reads its R*Tree

    def extents(self, services: tuple[str, ...]) -> dict[str, tuple[tuple[float, ...], datetime, datetime, int]]:
        """Per service among ``services`` that holds images: (W, S, E, N of the footprints, first and last
        time, image count)."""
        if not services:
            return {}
        # kept until rows are added or removed (one primary-key read per call): a STAC client asks for a
        # collection's extent with every page, and computing it reads every row of the service. Kept for the
        # process, not the connection: a server's 20 pooled connections would each compute it again.
        key = (self._index_key(), self.meta(self.ROWS_VERSION), tuple(services))
        found = _EXTENTS.get(key)
        if found is None:
            found = self._extents(services)
            if len(_EXTENTS) > 64:
                _EXTENTS.clear()
            _EXTENTS[key] = found
        return found

    def _extents(self, services: tuple[str, ...]) -> dict:
        frm, box = self._EXTENT
        rows = self._query(f"SELECT i.service, {box}, MIN({REF_TIME}), MAX({REF_TIME}), COUNT(*) FROM {frm} "
                           f"WHERE i.service IN ({', '.join('?' * len(services))}) GROUP BY i.service", list(services))
        return {r[0]: (tuple(float(v) for v in r[1:5]), self._time_out(r[5]), self._time_out(r[6]), r[7])
                for r in rows}

    def camera_positions(self, mission: str, service: str) -> list[tuple[float, float]]:
        """(lon, lat) of a mission's images that have a position, in capture order."""
        return [(r[0], r[1]) for r in self._query(
            f"SELECT i.lon_deg, i.lat_deg FROM images i WHERE i.mission = ? AND i.service = ? "
            f"AND i.lon_deg IS NOT NULL AND i.lat_deg IS NOT NULL ORDER BY {REF_TIME}, i.id", (mission, service))]

    # --- users -------------------------------------------------------------------------------
    _USER_COLUMNS = "name, service, admin, created_at, revoked_at"

    def _user(self, row):
        return User(row[0], row[1], bool(row[2]), self._time_out(row[3]), self._time_out(row[4]))

    @retried
    def put_user(self, name: str, service: str, admin: bool, selector: str, token_hash: str,
                 at: datetime, replace: bool) -> bool:
        """Create a user, or (``replace``) give an existing one a new service, role and token. False when
        the name is taken and ``replace`` is not set."""
        with self._transaction():
            exists = self._query("SELECT revoked_at FROM users WHERE name = ?", (name,))
            if exists and not replace and exists[0][0] is None:  # a revoked user's name may be given again
                return False
            if exists:
                self._exec("UPDATE users SET service = ?, admin = ?, selector = ?, token_hash = ?, created_at = ?, "
                           "revoked_at = NULL WHERE name = ?",
                           (service, bool(admin), selector, token_hash, self._time_in(at), name))
            else:
                self._exec("INSERT INTO users (name, service, admin, selector, token_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (name, service, bool(admin), selector, token_hash,
                                                         self._time_in(at)))
        return True

    def get_user(self, name: str):
        rows = self._query(f"SELECT {self._USER_COLUMNS} FROM users WHERE name = ?", (name,))
        return self._user(rows[0]) if rows else None

    def user_by_selector(self, selector: str):
        """(user, token hash) of the row with this selector, or (None, None)."""
        rows = self._query(f"SELECT {self._USER_COLUMNS}, token_hash FROM users WHERE selector = ?", (selector,))
        return (self._user(rows[0]), rows[0][5]) if rows else (None, None)

    def users(self) -> list:
        return [self._user(r) for r in self._query(f"SELECT {self._USER_COLUMNS} FROM users ORDER BY name")]

    @retried
    def revoke_user(self, name: str, at: datetime) -> None:
        with self._transaction():
            self._exec("UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                       (self._time_in(at), name))
            self._exec("DELETE FROM sessions WHERE name = ?", (name,))

    # --- sessions (the web server's logins by cookie) ----------------------------------------
    @retried
    def put_session(self, id_hash: str, name: str, at: datetime, expires: datetime) -> None:
        with self._transaction():
            self._exec("DELETE FROM sessions WHERE expires_at < ?", (self._time_in(at),))
            self._exec("INSERT INTO sessions (id_hash, name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                       (id_hash, name, self._time_in(at), self._time_in(expires)))

    def session_user(self, id_hash: str, now: datetime):
        """The active user of an unexpired session, or None."""
        rows = self._query(f"SELECT {', '.join('u.' + c for c in self._USER_COLUMNS.split(', '))} FROM sessions s "
                           "JOIN users u ON u.name = s.name WHERE s.id_hash = ? AND s.expires_at > ? "
                           "AND u.revoked_at IS NULL", (id_hash, self._time_in(now)))
        return self._user(rows[0]) if rows else None

    @retried
    def end_sessions(self, id_hash: str | None = None, name: str | None = None) -> int:
        """End one session (by its id's hash) or all of a user's; how many ended."""
        with self._transaction():
            if id_hash is not None:
                return self._exec("DELETE FROM sessions WHERE id_hash = ?", (id_hash,)).rowcount
            return self._exec("DELETE FROM sessions WHERE name = ?", (name,)).rowcount

    # --- the archive's identity (migrations) -------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    @retried
    def set_meta(self, key: str, value: str) -> None:
        with self._transaction():
            self._exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                       "excluded.value", (key, value))

    @retried
    def archive_id(self) -> str:
        """The archive's identity (made on first use): a migration knows its own rows by it."""
        import uuid

        with self._transaction():
            self._exec("INSERT INTO meta (key, value) VALUES ('archive_id', ?) ON CONFLICT (key) DO NOTHING",
                       (uuid.uuid4().hex,))
            return self.meta("archive_id")

    @retried
    def prune_audit(self, before: datetime) -> int:
        return self._exec("DELETE FROM audit WHERE at < ?", (self._time_in(before),)).rowcount

    def close(self) -> None:
        self.db.close()
