"""Map tiles of a published mosaic (Web Mercator, XYZ numbering, 256 px PNG), drawn from its Cloud-Optimized GeoTIFF
by rio-tiler (its overviews at low zoom, windowed reads at high zoom, reprojected to Web Mercator per tile) and
kept: in memory, and on disk beside the published COG (``<hash>.tiles/<mtime_ns>-<size>/<z>/<x>/<y>.png``, one
folder per file version, so a mosaic published again never shows old pixels). Publishing draws the tiles of the
zooms that fit :data:`PRETILE_MAX` (:func:`pretile`); the server draws deeper ones when asked and keeps them too.
The web layer (``dronectl.web.tiles``) names and describes the tiles and decides who may see them.
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

TILE_PX = 256


@lru_cache(maxsize=1)
def empty_tile() -> bytes:
    """A fully transparent 256 px PNG: the answer for a tile outside a mosaic (not an error)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (TILE_PX, TILE_PX), (0, 0, 0, 0)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


TILE_CACHE_BYTES = 64 * 1024 * 1024  # rendered tiles kept in memory (~1,000 tiles of ~60 kB)
PRETILE_MAX = 4000  # tiles drawn when a mosaic is published (~100 s of CPU); deeper zooms are drawn when asked
_tiles: OrderedDict[tuple, bytes] = OrderedDict()
_tiles_bytes = 0
_tiles_lock = threading.Lock()


def tiles_dir(cog: Path) -> Path:
    """Where the drawn tiles of a published COG are kept on disk, one folder per file version."""
    return cog.with_suffix(".tiles")


def version_dir(cog: Path, st: os.stat_result | None = None) -> Path:
    """The folder of the tiles of this version of the COG (its ``stat()``: a mosaic published again is a new
    file, so a new mtime): ``<cog>.tiles/<mtime_ns>-<size>/``, which holds ``<z>/<x>/<y>.png``."""
    st = st or cog.stat()
    return tiles_dir(cog) / f"{st.st_mtime_ns}-{st.st_size}"


def render_tile(cog: Path, z: int, x: int, y: int) -> bytes:
    """PNG bytes of tile z/x/y (Web Mercator, XYZ numbering) of the COG; the empty tile where it has no data.

    Drawing one costs ~25 ms of CPU (reading and warping the COG's blocks, then PNG), so a tile comes from, in
    order: memory (the last :data:`TILE_CACHE_BYTES` of tiles served), the COG's tile folder on disk (drawn when
    the mosaic was published, :func:`pretile`, or when first asked), and only then is drawn, and kept in both.
    Both are per file version (a mosaic published again is a new file or a new mtime): no old pixels. A tile
    outside the mosaic's bounds is the empty tile, neither drawn nor stored; tiles deeper than the mosaic's own
    resolution (upsampled) are not stored on disk. A tile folder that cannot be read or written only costs the
    drawing."""
    global _tiles_bytes
    st = cog.stat()
    key = (str(cog), st.st_mtime_ns, st.st_size, z, x, y)
    with _tiles_lock:
        png = _tiles.get(key)
        if png is not None:
            _tiles.move_to_end(key)
            return png
    f = version_dir(cog, st) / str(z) / str(x) / f"{y}.png"
    try:
        png = f.read_bytes()
    except OSError:
        png = None
    if not png:
        _, maxzoom, bounds = _cog_info(cog, st.st_mtime_ns, st.st_size)
        c0, r0, c1, r1 = tile_indices(z, *bounds)
        if not (c0 <= x <= c1 and r0 <= y <= r1):
            return empty_tile()
        png = _render_tile(cog, z, x, y)
        if z <= maxzoom:
            try:
                _store(f, png)
                if not cog.exists():  # unpublished (purged) while this tile was drawn: its pixels go too
                    f.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only or missing tile folder: the tile is still served, drawn each time
    with _tiles_lock:
        if key not in _tiles:
            _tiles[key] = png
            _tiles_bytes += len(png)
            while _tiles_bytes > TILE_CACHE_BYTES:
                _tiles_bytes -= len(_tiles.popitem(last=False)[1])
    return png


def _store(f: Path, png: bytes) -> None:
    """Write a tile file whole or not at all (readers never see half a PNG)."""
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(png)
        os.replace(tmp, f)
    finally:
        tmp.unlink(missing_ok=True)


def pretile(cog: Path, out: Path, max_tiles: int = PRETILE_MAX, progress=None,
            workers: int | None = None) -> tuple[int, tuple[int, int] | None]:
    """Draw the tiles of ``cog`` into the folder ``out`` (``<z>/<x>/<y>.png``), every zoom from the COG's
    minzoom down to the deepest one whose tiles, added to those of the zooms above, stay within ``max_tiles``;
    tiles over the mosaic's bounds only (empty ones included, so that none is drawn again when asked).
    ``progress(done, total)`` per tile. Returns (tiles drawn, (first zoom, last zoom) or None)."""
    from concurrent.futures import ThreadPoolExecutor

    st = cog.stat()
    minzoom, maxzoom, bounds = _cog_info(cog, st.st_mtime_ns, st.st_size)
    todo, zooms = [], None
    for z in range(minzoom, maxzoom + 1):
        c0, r0, c1, r1 = tile_indices(z, *bounds)
        at_z = [(z, x, y) for x in range(c0, c1 + 1) for y in range(r0, r1 + 1)]
        if len(todo) + len(at_z) > max_tiles:
            break
        todo += at_z
        zooms = (minzoom, z)

    def draw(t):
        z, x, y = t
        _store(out / str(z) / str(x) / f"{y}.png", _render_tile(cog, z, x, y))

    # GDAL reads and warps without holding the GIL: one drawing thread per core (314 tiles on 2 cores: 8.5 s with
    # one thread, 5.3 s with two or four)
    pool = ThreadPoolExecutor(workers or max(1, min(8, os.cpu_count() or 1)))
    try:
        for done, _ in enumerate(pool.map(draw, todo), start=1):
            if progress:
                progress(done, len(todo))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return len(todo), zooms


_import_lock = threading.Lock()


def _rio_tiler():
    """rio-tiler's (Reader, TileOutsideBounds), imported by one thread at a time: a fresh server's first tiles
    are asked at once (a map shows ~20), and rio-tiler's package imports itself in a circle, which concurrent
    first imports turn into ImportError ('partially initialized module') and requests that never answer."""
    with _import_lock:
        from rio_tiler.errors import TileOutsideBounds
        from rio_tiler.io import Reader
    return Reader, TileOutsideBounds


def _render_tile(cog: Path, z: int, x: int, y: int) -> bytes:
    Reader, TileOutsideBounds = _rio_tiler()
    with Reader(str(cog)) as src:
        try:
            img = src.tile(x, y, z, tilesize=TILE_PX)
        except TileOutsideBounds:
            return empty_tile()
    if not img.mask.any():
        return empty_tile()
    # zlib level 1: 4 ms to encode instead of 17 ms (GDAL's default 6), for tiles ~20 % larger
    return img.render(img_format="PNG", add_mask=True, ZLEVEL=1)


@lru_cache(maxsize=256)
def _cog_info(cog: Path, mtime_ns: int, size: int) -> tuple[int, int, tuple[float, float, float, float]]:
    """(minzoom, maxzoom, lon/lat bounds) rio-tiler derives from the COG (cached per file version)."""
    Reader = _rio_tiler()[0]
    from rasterio.crs import CRS

    with Reader(str(cog)) as src:
        bounds = src.get_geographic_bounds(CRS.from_epsg(4326))
        return int(src.minzoom), int(src.maxzoom), tuple(float(v) for v in bounds)


def zoom_range(cog: Path, mtime_ns: int) -> tuple[int, int]:
    """(minzoom, maxzoom) rio-tiler derives from the COG's resolution and overviews (cached per file version)."""
    return _cog_info(cog, mtime_ns, cog.stat().st_size)[:2]


def tile_indices(z: int, w: float, s: float, e: float, n: float) -> tuple[int, int, int, int]:
    """(min col, min row, max col, max row) of the XYZ tiles at zoom z that cover a lon/lat box."""
    def col(lon):
        return min(2 ** z - 1, max(0, int((lon + 180.0) / 360.0 * 2 ** z)))

    def row(lat):
        lat = max(-85.05112878, min(85.05112878, lat))
        y = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2
        return min(2 ** z - 1, max(0, int(y * 2 ** z)))

    return col(w), row(n), col(e), row(s)
