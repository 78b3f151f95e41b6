"""Published mission mosaics as map tiles: XYZ (Web Mercator, 256 px PNG), TileJSON 3.0 and OGC WMTS 1.0.

The tiles are drawn from the mosaic's Cloud-Optimized GeoTIFF by rio-tiler and kept in memory and on disk
(``dronectl.archive.tiles``: most of them when the mosaic is published); this module only names the tiles and
describes them (TileJSON for the web map and XYZ clients, a WMTS capabilities document for QGIS). Who may see
which mosaic is decided by the web layer (``app.py``), before a tile is asked for.
"""

from __future__ import annotations

from urllib.parse import quote
from xml.sax.saxutils import escape

from dronectl.archive.tiles import TILE_PX, tile_indices

MAX_ZOOM = 24  # ~1 cm/px at the equator: finer than any drone mosaic
# Web Mercator: the half-width of the world in metres, and the WMTS scale denominator at zoom 0 for 256 px tiles
# (OGC's 0.28 mm "standardized rendering pixel").
HALF_WORLD_M = 20037508.342789244
SCALE_Z0 = 559082264.0287178


def tile_path(service: str, mission: str) -> str:
    """The URL path of a mosaic's tiles, without the ``/{z}/{x}/{y}.png`` end."""
    return f"/api/tiles/{quote(service, safe='')}/{quote(mission, safe='')}"


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z


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
            c0, r0, c1, r1 = tile_indices(z, w, s, e, n)
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
