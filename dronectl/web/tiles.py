"""Published mission mosaics as map tiles: XYZ (Web Mercator, 256 px PNG), TileJSON 3.0 and OGC WMTS 1.0.

The tiles are read from the mosaic's Cloud-Optimized GeoTIFF by rio-tiler (its overviews at low zoom, windowed
reads at high zoom, reprojected to Web Mercator per tile); this module only names the tiles, describes them
(TileJSON for the web map and XYZ clients, a WMTS capabilities document for QGIS) and renders a transparent
tile outside the mosaic. Who may see which mosaic is decided by the web layer, before anything here is called.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

TILE_PX = 256
MAX_ZOOM = 24  # ~1 cm/px at the equator: finer than any drone mosaic
# Web Mercator: the half-width of the world in metres, and the WMTS scale denominator at zoom 0 for 256 px tiles
# (OGC's 0.28 mm "standardized rendering pixel").
HALF_WORLD_M = 20037508.342789244
SCALE_Z0 = 559082264.0287178


def tile_path(service: str, mission: str) -> str:
    """The URL path of a mosaic's tiles, without the ``/{z}/{x}/{y}.png`` end."""
    return f"/api/tiles/{quote(service, safe='')}/{quote(mission, safe='')}"


@lru_cache(maxsize=1)
def empty_tile() -> bytes:
    """A fully transparent 256 px PNG: the answer for a tile outside a mosaic (not an error)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (TILE_PX, TILE_PX), (0, 0, 0, 0)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z


TILE_CACHE_BYTES = 64 * 1024 * 1024  # rendered tiles kept in memory (~1,000 tiles of ~60 kB)
_tiles: OrderedDict[tuple, bytes] = OrderedDict()
_tiles_bytes = 0
_tiles_lock = threading.Lock()


def render_tile(cog: Path, z: int, x: int, y: int) -> bytes:
    """PNG bytes of tile z/x/y (Web Mercator, XYZ numbering) of the COG; the empty tile where it has no data.
    Rendering one costs ~25 ms of CPU (reading and warping the COG's blocks, then PNG): the last
    :data:`TILE_CACHE_BYTES` of tiles rendered are kept, per file version (a mosaic published again is a new
    file or a new mtime), so that a map's tiles asked again, or by a colleague, come from memory."""
    global _tiles_bytes
    st = cog.stat()
    key = (str(cog), st.st_mtime_ns, st.st_size, z, x, y)
    with _tiles_lock:
        png = _tiles.get(key)
        if png is not None:
            _tiles.move_to_end(key)
            return png
    png = _render_tile(cog, z, x, y)
    with _tiles_lock:
        if key not in _tiles:
            _tiles[key] = png
            _tiles_bytes += len(png)
            while _tiles_bytes > TILE_CACHE_BYTES:
                _tiles_bytes -= len(_tiles.popitem(last=False)[1])
    return png


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
def zoom_range(cog: Path, mtime_ns: int) -> tuple[int, int]:
    """(minzoom, maxzoom) rio-tiler derives from the COG's resolution and overviews (cached per file version)."""
    Reader = _rio_tiler()[0]

    with Reader(str(cog)) as src:
        return int(src.minzoom), int(src.maxzoom)


def tilejson(base_url: str, service: str, mission: str, meta: dict, zooms: tuple[int, int]) -> dict:
    """A TileJSON 3.0 document for one mosaic (``base_url``: scheme and host the client reached us on)."""
    w, s, e, n = meta["bounds"]
    minzoom, maxzoom = zooms
    return {
        "tilejson": "3.0.0",
        "name": f"{service} / {mission}",
        "description": f"Mosaic of mission {mission} ({meta.get('photos', '?')} photos, "
                       f"{meta.get('gsd_cm', '?')} cm/px), built {meta.get('built_at', '?')}",
        "scheme": "xyz",
        "tiles": [f"{base_url}{tile_path(service, mission)}/{{z}}/{{x}}/{{y}}.png"],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [w, s, e, n],
        "center": [(w + e) / 2, (s + n) / 2, min(maxzoom, max(minzoom, maxzoom - 2))],
    }


def _tile_indices(z: int, w: float, s: float, e: float, n: float) -> tuple[int, int, int, int]:
    """(min col, min row, max col, max row) of the XYZ tiles at zoom z that cover a lon/lat box."""
    def col(lon):
        return min(2 ** z - 1, max(0, int((lon + 180.0) / 360.0 * 2 ** z)))

    def row(lat):
        lat = max(-85.05112878, min(85.05112878, lat))
        y = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2
        return min(2 ** z - 1, max(0, int(y * 2 ** z)))

    return col(w), row(n), col(e), row(s)


def wmts_capabilities(base_url: str, layers: list[tuple[str, str, dict, tuple[int, int]]]) -> str:
    """An OGC WMTS 1.0.0 capabilities document (RESTful encoding) listing ``layers``: (service, mission,
    description, (minzoom, maxzoom)). One TileMatrixSet, GoogleMapsCompatible (EPSG:3857) up to the deepest
    zoom of any layer; each layer limits the matrices it uses and their tile ranges to its bounds."""
    top = max((z[1] for *_, z in layers), default=18)
    matrices = []
    for z in range(top + 1):
        matrices.append(
            f"<TileMatrix><ows:Identifier>{z}</ows:Identifier><ScaleDenominator>{SCALE_Z0 / 2 ** z!r}"
            f"</ScaleDenominator><TopLeftCorner>{-HALF_WORLD_M!r} {HALF_WORLD_M!r}</TopLeftCorner>"
            f"<TileWidth>{TILE_PX}</TileWidth><TileHeight>{TILE_PX}</TileHeight>"
            f"<MatrixWidth>{2 ** z}</MatrixWidth><MatrixHeight>{2 ** z}</MatrixHeight></TileMatrix>")
    out = []
    for service, mission, meta, (minzoom, maxzoom) in layers:
        w, s, e, n = meta["bounds"]
        limits = []
        for z in range(minzoom, maxzoom + 1):
            c0, r0, c1, r1 = _tile_indices(z, w, s, e, n)
            limits.append(f"<TileMatrixLimits><TileMatrix>{z}</TileMatrix><MinTileRow>{r0}</MinTileRow>"
                          f"<MaxTileRow>{r1}</MaxTileRow><MinTileCol>{c0}</MinTileCol><MaxTileCol>{c1}</MaxTileCol>"
                          "</TileMatrixLimits>")
        ident = escape(f"{service}/{mission}")
        template = escape(f"{base_url}{tile_path(service, mission)}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png")
        out.append(
            f"<Layer><ows:Title>{ident}</ows:Title><ows:Abstract>{escape(str(meta.get('photos', '?')))} photos, "
            f"{escape(str(meta.get('gsd_cm', '?')))} cm/px</ows:Abstract>"
            f"<ows:WGS84BoundingBox><ows:LowerCorner>{w!r} {s!r}</ows:LowerCorner>"
            f"<ows:UpperCorner>{e!r} {n!r}</ows:UpperCorner></ows:WGS84BoundingBox>"
            f"<ows:Identifier>{ident}</ows:Identifier>"
            "<Style isDefault=\"true\"><ows:Identifier>default</ows:Identifier></Style>"
            "<Format>image/png</Format>"
            "<TileMatrixSetLink><TileMatrixSet>GoogleMapsCompatible</TileMatrixSet>"
            f"<TileMatrixSetLimits>{''.join(limits)}</TileMatrixSetLimits></TileMatrixSetLink>"
            f"<ResourceURL format=\"image/png\" resourceType=\"tile\" template=\"{template}\"/></Layer>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">'
        "<ows:ServiceIdentification><ows:Title>dronectl mission mosaics</ows:Title>"
        "<ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>"
        "</ows:ServiceIdentification>"
        f"<Contents>{''.join(out)}"
        "<TileMatrixSet><ows:Identifier>GoogleMapsCompatible</ows:Identifier>"
        "<ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>"
        "<WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>"
        f"{''.join(matrices)}</TileMatrixSet></Contents>"
        f"<ServiceMetadataURL xlink:href=\"{escape(base_url)}/api/wmts/1.0.0/WMTSCapabilities.xml\"/>"
        "</Capabilities>")
