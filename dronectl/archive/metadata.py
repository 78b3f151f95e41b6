"""Read what the archive needs from image files: position, time, camera, attitude, georeferencing.

- JPEG: EXIF (GPS, DateTimeOriginal, Make/Model, focal length) through Pillow, which reads only the
  header segments, and the DJI-style XMP packet (``drone-dji:RelativeAltitude``, ``GimbalPitchDegree``,
  ``GimbalYawDegree``, ``GimbalRollDegree``, ``FlightYawDegree``) through defusedxml, which refuses
  entity declarations (no "billion laughs").
- GeoTIFF: CRS, transform and the outline of valid data through rasterio.

Every problem with a file is an :class:`UnreadableImage` whose message is the one-line reason the
ingest summary shows.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dronectl.errors import ArchiveError

JPEG = "jpeg"
GEOTIFF = "geotiff"

DJI_NS = "http://www.dji.com/drone-dji/1.0/"
_XMP_KEYS = {
    "RelativeAltitude": "relative_altitude_m",
    "GimbalPitchDegree": "gimbal_pitch_deg",
    "GimbalYawDegree": "gimbal_yaw_deg",
    "GimbalRollDegree": "gimbal_roll_deg",
    "FlightYawDegree": "flight_yaw_deg",
    "FlightPitchDegree": "flight_pitch_deg",
    "FlightRollDegree": "flight_roll_deg",
}
MAX_XMP_BYTES = 256 * 1024

FLAG_TIME_ASSUMED_UTC = "time_zone_assumed_utc"


class UnreadableImage(ArchiveError):
    """A file the archive cannot take; the message is the reason shown in the ingest summary."""


@dataclass
class ImageMeta:
    format: str
    width_px: int | None = None
    height_px: int | None = None
    lon_deg: float | None = None
    lat_deg: float | None = None
    gps_altitude_m: float | None = None
    captured_at: datetime | None = None  # timezone-aware, UTC
    make: str | None = None
    model: str | None = None
    focal_length_mm: float | None = None
    focal_length_35mm: float | None = None
    relative_altitude_m: float | None = None
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    gimbal_roll_deg: float | None = None
    flight_yaw_deg: float | None = None
    flight_pitch_deg: float | None = None
    flight_roll_deg: float | None = None
    # GeoTIFF
    crs: str | None = None  # "EPSG:2154" or WKT
    transform: tuple[float, ...] | None = None
    outline_lonlat: object | None = None  # shapely geometry, lon/lat
    embedded_thumbnail: bytes | None = field(default=None, repr=False)  # EXIF IFD1 or MPF preview JPEG
    flags: list[str] = field(default_factory=list)


def sniff(head: bytes) -> str | None:
    """The format from the first bytes, never from the file name."""
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return GEOTIFF
    return None


# --- JPEG ---------------------------------------------------------------------------------
def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if math.isfinite(f) else None


def _dms(v) -> float | None:
    try:
        d, m, s = (float(x) for x in v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    out = d + m / 60.0 + s / 3600.0
    return out if math.isfinite(out) else None


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    v = str(v).replace("\x00", "").strip()
    return v or None


def _parse_time(dt_text, offset_text, gps_date, gps_time) -> tuple[datetime | None, list[str]]:
    """Capture time, UTC. DateTimeOriginal with its offset; else the GPS clock (UTC); else
    DateTimeOriginal read as UTC (flagged)."""
    local = None
    t = _text(dt_text)
    if t:
        try:
            local = datetime.strptime(t[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            local = None
    off = _text(offset_text)
    if local is not None and off:
        m = re.fullmatch(r"([+-])(\d\d):(\d\d)", off)
        if m:
            delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
            delta = delta if m.group(1) == "+" else -delta
            return (local - delta).replace(tzinfo=timezone.utc), []
    d = _text(gps_date)
    if d and gps_time is not None:
        try:
            h, mi, s = (float(x) for x in gps_time)
            day = datetime.strptime(d[:10], "%Y:%m:%d").replace(tzinfo=timezone.utc)
            return day + timedelta(hours=h, minutes=mi, seconds=s), []
        except (TypeError, ValueError, ZeroDivisionError):
            pass
    if local is not None:
        return local.replace(tzinfo=timezone.utc), [FLAG_TIME_ASSUMED_UTC]
    return None, []


def parse_dji_xmp(packet: bytes) -> dict[str, float]:
    """The drone-dji attitude/altitude values of an XMP packet (attributes or elements).

    Raises :class:`UnreadableImage` for a packet that is not well-formed or declares entities.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    if len(packet) > MAX_XMP_BYTES:
        raise UnreadableImage(f"XMP packet is {len(packet)} bytes, more than the {MAX_XMP_BYTES} allowed")
    if b"drone-dji" not in packet and DJI_NS.encode() not in packet and b"<!" not in packet:
        return {}
    # Pillow hands over the packet as found; strip the xpacket processing instructions' padding.
    text = packet.strip(b"\x00 \r\n\t")
    try:
        root = fromstring(text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnreadableImage(f"XMP packet rejected: {type(exc).__name__} (entity or DTD declarations are not allowed)") from None
    except ParseError as exc:
        raise UnreadableImage(f"XMP packet is not well-formed XML ({exc})") from None
    prefix = "{" + DJI_NS + "}"
    out: dict[str, float] = {}
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.startswith(prefix) and k[len(prefix):] in _XMP_KEYS:
                n = _num(v)
                if n is not None:
                    out[_XMP_KEYS[k[len(prefix):]]] = n
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.startswith(prefix) and tag[len(prefix):] in _XMP_KEYS and el.text:
            n = _num(el.text.strip())
            if n is not None:
                out[_XMP_KEYS[tag[len(prefix):]]] = n
    return out


def exif_thumbnail(exif_block: bytes | None) -> bytes | None:
    """The JPEG thumbnail of EXIF IFD1 (what cameras, DJI's among them, embed for quick previews), if any.

    ``exif_block`` is the APP1 payload (``Exif\\0\\0`` + TIFF), as Pillow keeps it in ``info["exif"]``.
    """
    import struct

    if not exif_block:
        return None
    tiff = exif_block[6:] if exif_block[:6] == b"Exif\x00\x00" else exif_block
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        ifd0 = struct.unpack_from(end + "I", tiff, 4)[0]
        n0 = struct.unpack_from(end + "H", tiff, ifd0)[0]
        ifd1 = struct.unpack_from(end + "I", tiff, ifd0 + 2 + 12 * n0)[0]
        if not ifd1 or ifd1 + 2 > len(tiff):
            return None
        n1 = struct.unpack_from(end + "H", tiff, ifd1)[0]
        tags = {}
        for k in range(min(n1, 64)):
            tag, typ, count = struct.unpack_from(end + "HHI", tiff, ifd1 + 2 + 12 * k)
            if typ == 4 and count == 1:
                tags[tag] = struct.unpack_from(end + "I", tiff, ifd1 + 2 + 12 * k + 8)[0]
        off, length = tags.get(0x0201), tags.get(0x0202)
    except struct.error:
        return None
    if not off or not length or off + length > len(tiff):
        return None
    thumb = tiff[off:off + length]
    return thumb if thumb[:3] == b"\xff\xd8\xff" else None


def mpf_preview(data: bytes) -> bytes | None:
    """The preview image of a Multi-Picture Format JPEG (CIPA DC-007), which DJI and many other cameras embed:
    an ``APP2`` segment ``MPF\\0`` + a TIFF-style header whose MP index (tag 0xB002) lists 16-byte entries
    (attribute, size, offset from that header, two dependent-image numbers); the first is the primary image.
    Returns the smallest other JPEG it lists, or None."""
    import struct

    pos, header = 2, None
    while pos + 8 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no MPF segment before the image data
            return None
        if marker == 0xE2 and data[pos + 4:pos + 8] == b"MPF\x00":
            header = pos + 8
            break
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    if header is None or data[header:header + 2] not in (b"II", b"MM"):
        return None
    end = "<" if data[header:header + 2] == b"II" else ">"
    try:
        ifd = header + struct.unpack_from(end + "I", data, header + 4)[0]
        count = struct.unpack_from(end + "H", data, ifd)[0]
        entries = []
        for k in range(min(count, 32)):
            tag, _typ, n, value = struct.unpack_from(end + "HHII", data, ifd + 2 + 12 * k)
            if tag == 0xB002:
                start = header + value
                entries = [struct.unpack_from(end + "III", data, start + 16 * e) for e in range(n // 16)]
    except struct.error:
        return None
    for _attr, size, off in sorted(entries[1:], key=lambda e: e[1]):
        blob = bytes(data[header + off:header + off + size]) if off and size else b""
        if blob[:3] == b"\xff\xd8\xff":
            return blob
    return None


def jpeg_is_complete(data: bytes) -> bool:
    """A complete JPEG ends with the EOI marker (ignoring zero padding some cameras add)."""
    tail = data[-2:] if data[-1:] != b"\x00" else data.rstrip(b"\x00")[-2:]
    return tail == b"\xff\xd9"


def read_jpeg(src) -> ImageMeta:
    """Metadata of a JPEG: ``src`` is its bytes, or a binary file object (only its header and its
    last bytes are read). Needs a GPS position; the rest is optional."""
    from PIL import Image, UnidentifiedImageError

    raw = None
    if isinstance(src, (bytes, bytearray, memoryview)):
        complete = jpeg_is_complete(src)
        raw, src = src, io.BytesIO(src)
    else:
        src.seek(0, io.SEEK_END)
        size = src.tell()
        src.seek(max(0, size - 4096))
        complete = jpeg_is_complete(src.read())
        src.seek(0)
    if not complete:
        raise UnreadableImage("JPEG is truncated (no end-of-image marker): copy the file again from the card")
    try:
        im = Image.open(src)
        if im.format not in ("JPEG", "MPO"):  # MPO: a JPEG with an embedded preview (MPF), as DJI writes
            raise UnreadableImage(f"not a JPEG image (Pillow reads it as {im.format})")
        exif = im.getexif()
        gps = exif.get_ifd(0x8825)
        sub = exif.get_ifd(0x8769)
        size = im.size
        xmp = im.info.get("xmp")
        exif_block = im.info.get("exif")
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage("not a JPEG image (cannot identify its content)") from None
    except Exception as exc:  # Pillow raises many types for corrupt headers
        raise UnreadableImage(f"JPEG header is corrupt ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    meta = ImageMeta(JPEG, width_px=size[0], height_px=size[1])
    meta.embedded_thumbnail = exif_thumbnail(exif_block) or (mpf_preview(raw) if raw is not None else None)
    lat, lon = _dms(gps.get(2)), _dms(gps.get(4))
    if lat is None or lon is None:
        raise UnreadableImage("JPEG has no GPS position in its EXIF: it cannot be placed on the map")
    if _text(gps.get(1)) == "S":
        lat = -lat
    if _text(gps.get(3)) == "W":
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UnreadableImage(f"JPEG GPS position is out of range ({lat}, {lon})")
    meta.lat_deg, meta.lon_deg = lat, lon
    alt = _num(gps.get(6))
    if alt is not None:
        ref = gps.get(5)
        meta.gps_altitude_m = -alt if ref in (1, b"\x01") else alt
    meta.captured_at, tflags = _parse_time(sub.get(0x9003) or exif.get(0x0132), sub.get(0x9011),
                                           gps.get(0x1D), gps.get(7))
    meta.flags.extend(tflags)
    meta.make, meta.model = _text(exif.get(0x010F)), _text(exif.get(0x0110))
    meta.focal_length_mm = _num(sub.get(0x920A))
    meta.focal_length_35mm = _num(sub.get(0xA405))
    if xmp:
        for k, v in parse_dji_xmp(xmp if isinstance(xmp, bytes) else str(xmp).encode()).items():
            setattr(meta, k, v)
    return meta


# --- GeoTIFF ------------------------------------------------------------------------------
def read_geotiff(path: Path, max_mask_px: int = 512) -> ImageMeta:
    """CRS, transform and valid-data outline (lon/lat) of a GeoTIFF."""
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.features import shapes
    from rasterio.warp import transform_geom
    from shapely.geometry import shape
    from shapely.ops import unary_union

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise UnreadableImage("GeoTIFF has no CRS: it cannot be placed on the map (set one with gdal_edit.py -a_srs)")
            meta = ImageMeta(GEOTIFF, width_px=ds.width, height_px=ds.height)
            meta.crs = ds.crs.to_string()
            meta.transform = tuple(ds.transform)[:6]
            scale = max(1.0, max(ds.width, ds.height) / max_mask_px)
            h, w = max(1, int(round(ds.height / scale))), max(1, int(round(ds.width / scale)))
            mask = ds.dataset_mask(out_shape=(h, w))
            tr = ds.transform @ ds.transform.scale(ds.width / w, ds.height / h)
            valid = (mask > 0).astype(np.uint8)
            if not valid.any():
                raise UnreadableImage("GeoTIFF has no valid pixels (all nodata)")
            polys = [shape(g) for g, v in shapes(valid, mask=valid.astype(bool), transform=tr) if v == 1]
            outline = unary_union(polys).simplify(abs(tr.a) * 0.5)
            geom = shape(transform_geom(ds.crs, "EPSG:4326", outline.__geo_interface__))
            meta.outline_lonlat = geom if geom.is_valid else geom.buffer(0)
            c = meta.outline_lonlat.centroid
            meta.lon_deg, meta.lat_deg = c.x, c.y
            stamp = ds.tags().get("TIFFTAG_DATETIME")
            if stamp:
                meta.captured_at, tflags = _parse_time(stamp, None, None, None)
                meta.flags.extend(tflags)
            return meta
    except UnreadableImage:
        raise
    except (RasterioError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableImage(f"GeoTIFF cannot be read ({first})") from None


# --- entry point --------------------------------------------------------------------------
def read_metadata(path: Path | str, data: bytes | None = None) -> ImageMeta:
    """Metadata of one image file. JPEGs are read from ``data`` when given (the ingest already holds
    the bytes); otherwise only the file's header is read."""
    path = Path(path)
    if data is not None:
        head = data[:16]
        kind = sniff(head)
        if kind == JPEG:
            return read_jpeg(data)
    else:
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
                kind = sniff(head)
                if kind == JPEG:
                    return read_jpeg(fh)
        except OSError as exc:
            raise UnreadableImage(f"cannot read the file ({exc.strerror or exc})") from None
    if kind == GEOTIFF:
        return read_geotiff(path)
    if not head:
        raise UnreadableImage("file is empty")
    raise UnreadableImage("not a JPEG or TIFF image (its content says otherwise, whatever the name)")
