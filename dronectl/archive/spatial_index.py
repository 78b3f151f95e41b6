"""An in-memory spatial index of a catalogue's images, kept by a long-running process (the web server).

A map asks for the images in a box again and again. The catalogue answers from its R*Tree (SQLite) or GiST
index (PostGIS), then reads every candidate's row for its time and footprint, sorts them and checks each
footprint exactly: for a 1 km box of a 100,000-image archive that is ~1,200 rows read to send 500. This index
holds, for every image, what those steps need (id, time, service, footprint, in a GEOS STRtree) so that a page's
ids come in ~0.5 ms, and only the page's rows are read from the catalogue.

It is a cache, never the truth: it belongs to one version of the rows (the catalogue's ``rows_version``, counted
up by every transaction that adds or removes rows) and is used only while the catalogue still has that version;
otherwise the query runs in SQL as before while a new index is built in a background thread. Updates that do not
add or remove rows (holds, flags, Feature texts) change nothing it holds. Its answers are the SQL path's answers
(same exact-intersection test, same order: time then id); ``tests/archive/test_spatial_index.py`` compares them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely

log = logging.getLogger(__name__)

MAX_ROWS = 1_000_000  # ~300 MB of index a process at most (~300 bytes an image); a bigger catalogue stays in SQL
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def micros(dt: datetime) -> int:
    """A time as integer microseconds since 1970 (UTC), the index's time key."""
    return (dt - _EPOCH) // _ONE_US


@dataclass(frozen=True)
class SpatialIndex:
    version: str | None
    ids: np.ndarray  # int64 row ids
    rank: np.ndarray  # int64: each row's position in the catalogue's order (time, id)
    times: np.ndarray  # int64 µs
    service: np.ndarray  # int16 index into names
    names: tuple[str, ...]
    geoms: np.ndarray  # shapely geometries (footprints)
    tree: shapely.STRtree

    @classmethod
    def build(cls, version: str | None, rows: list[tuple[int, int, str, bytes]]) -> "SpatialIndex":
        """From (id, time µs, service, footprint WKB) rows."""
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), np.int64, n)
        times = np.fromiter((r[1] for r in rows), np.int64, n)
        names = tuple(sorted({r[2] for r in rows}))
        code = {s: k for k, s in enumerate(names)}
        service = np.fromiter((code[r[2]] for r in rows), np.int16, n)
        geoms = shapely.from_wkb([r[3] for r in rows]) if n else np.empty(0, dtype=object)
        rank = np.empty(n, np.int64)
        rank[np.lexsort((ids, times))] = np.arange(n)
        return cls(version, ids, rank, times, service, names, geoms, shapely.STRtree(geoms))

    def _matches(self, geometry, services, since: datetime | None, until: datetime | None) -> np.ndarray:
        """Positions of the rows that match, in the catalogue's order (time, id)."""
        k = self.tree.query(geometry, predicate="intersects")
        visible = np.zeros(len(self.names) + 1, bool)
        visible[[self.names.index(s) for s in services if s in self.names]] = True
        k = k[visible[self.service[k]]]
        if since is not None:
            k = k[self.times[k] >= micros(since)]
        if until is not None:
            k = k[self.times[k] <= micros(until)]
        return k[np.argsort(self.rank[k])]

    def page(self, q) -> tuple[list[int], list]:
        """(ids, footprints) of the matches of ``q`` (a catalogue Query), its offset and limit applied."""
        k = self._page(q)
        return self.ids[k].tolist(), list(self.geoms[k])

    def page_ids(self, q) -> list[int]:
        return self.ids[self._page(q)].tolist()

    def _page(self, q) -> np.ndarray:
        k = self._matches(q.geometry, q.services, q.since, q.until)[q.offset:]
        return k if q.limit is None else k[:q.limit]

    def count(self, q) -> int:
        """How many rows match ``q`` (its offset and limit ignored)."""
        return len(self._matches(q.geometry, q.services, q.since, q.until))


class _Slot:
    def __init__(self):
        self.index: SpatialIndex | None = None
        self.building = False
        self.next_build = 0.0  # monotonic time before which no new build starts (builds cost CPU)
        self.skipped_version: str | None = None  # too many rows at this version: no index


_slots: dict[tuple, _Slot] = {}
_lock = threading.Lock()


def current(key: tuple, version: str | None, load) -> SpatialIndex | None:
    """The index of catalogue ``key`` if it holds rows version ``version``; else None, and (unless one is being
    built, or one was built moments ago) a new one is built in a background thread by ``load()``, which reads
    ``(version, count, rows)`` in one snapshot of the catalogue (``rows`` an iterable, read only when count is at
    most :data:`MAX_ROWS`)."""
    with _lock:
        slot = _slots.setdefault(key, _Slot())
        if slot.index is not None and slot.index.version == version:
            return slot.index
        if slot.building or slot.skipped_version == version or time.monotonic() < slot.next_build:
            return None
        slot.building = True
    threading.Thread(target=_build, args=(slot, load), name="spatial-index", daemon=True).start()
    return None


def _build(slot: _Slot, load) -> None:
    started = time.monotonic()
    index, skipped = None, None
    try:
        version, count, rows = load()
        if count > MAX_ROWS:
            skipped = version
            log.info("no in-memory spatial index: %d images (more than %d)", count, MAX_ROWS)
        else:
            index = SpatialIndex.build(version, list(rows))
    except Exception as exc:  # the catalogue is unreachable or changing shape: queries stay in SQL
        log.warning("in-memory spatial index not built: %s", " ".join(str(exc).split())[:300] or type(exc).__name__)
    took = time.monotonic() - started
    with _lock:
        if index is not None:
            slot.index = index
        slot.skipped_version = skipped
        slot.building = False
        # a catalogue that keeps changing (an ingest) is re-indexed at most ~1/5 of the time
        slot.next_build = time.monotonic() + (4 * took if index is not None else 60.0)


def forget(key: tuple) -> None:
    """Drop a catalogue's index (tests; a catalogue removed)."""
    with _lock:
        _slots.pop(key, None)
