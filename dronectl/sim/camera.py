"""The synthetic camera: at each trigger, the picture the camera would take, as a real-looking JPEG.

For every camera event (a flight's ``CAMERA_FEEDBACK``: position, height above take-off, image index,
time) it projects the image corners to the ground with the same ray model the archive uses
(:mod:`dronectl.archive.footprint`), maps the image onto a base raster with one perspective transform
(Pillow), and writes a JPEG with the tags a DJI drone writes: EXIF GPS, DateTimeOriginal, Make/Model,
focal length, and an XMP packet with ``drone-dji:RelativeAltitude`` and the gimbal/flight attitude.
The archive ingests those files like any SD card.

The base raster is a user's orthophoto GeoTIFF (any CRS), or by default a procedural city-like texture
(streets, roofs, trees, grass) in the local projected CRS (Lambert-93 in France), generated with numpy
over the area the events cover. :func:`make_base_raster` can also write it as a GeoTIFF.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from dronectl.archive.footprint import Intrinsics, enu_to_lonlat, ground_corners, homography
from dronectl.camera import Camera, find_camera

SIM_MAKE = "dronectl"
SIM_MODEL = "SimCam"
DEFAULT_START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CameraEvent:
    """One trigger: where the camera was (WGS 84, height above take-off) and when (s since take-off)."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    image_index: int
    time_s: float
    yaw_deg: float | None = None  # heading of the camera, when the flight record has it


def _get(ev, name, default=None):
    if isinstance(ev, dict):
        return ev.get(name, default)
    return getattr(ev, name, default)


@dataclass
class BaseRaster:
    """An RGB uint8 array (rows, cols, 3) with its affine transform and CRS."""

    rgb: np.ndarray
    transform: object  # affine.Affine
    crs: object  # rasterio CRS

    def write(self, path: Path | str) -> Path:
        import rasterio

        path = Path(path)
        h, w, _ = self.rgb.shape
        with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs=self.crs,
                           transform=self.transform, compress="deflate", tiled=True, photometric="RGB") as ds:
            ds.write(np.moveaxis(self.rgb, -1, 0))
        return path


# --- procedural city ----------------------------------------------------------------------
def _hash2(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random uint32 per integer cell."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return (h ^ (h >> 16)) & 0xFFFFFFFF


def _smooth_noise(shape, cell_px: int, rng: np.random.Generator) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled bilinearly."""
    from PIL import Image

    h, w = shape
    coarse = rng.random((max(2, h // cell_px + 2), max(2, w // cell_px + 2))).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((w, h), Image.BILINEAR)
    return np.asarray(img)


def city_texture(x0_m: float, y1_m: float, width_px: int, height_px: int, res_m: float, seed: int = 7,
                 chunk_rows: int = 256) -> np.ndarray:
    """RGB uint8 texture of a city-like ground; pixel (row, col) covers (x0 + col*res, y1 - row*res)."""
    rng = np.random.default_rng(seed)
    grass = _smooth_noise((height_px, width_px), max(4, int(6 / res_m)), rng)
    trees = _smooth_noise((height_px, width_px), max(3, int(5 / res_m)), rng)
    out = np.empty((height_px, width_px, 3), dtype=np.uint8)
    for r0 in range(0, height_px, chunk_rows):
        r1 = min(height_px, r0 + chunk_rows)
        out[r0:r1] = _city_chunk(x0_m, y1_m - r0 * res_m, width_px, r1 - r0, res_m, seed, grass[r0:r1],
                                 trees[r0:r1], rng)
    return out


def _city_chunk(x0_m, y1_m, width_px, height_px, res_m, seed, grass, trees, rng) -> np.ndarray:
    cols = x0_m + (np.arange(width_px, dtype=np.float64) + 0.5) * res_m
    rows = y1_m - (np.arange(height_px, dtype=np.float64) + 0.5) * res_m
    X, Y = np.meshgrid(cols, rows)
    block, road = 72.0, 9.0
    bx, by = np.floor(X / block), np.floor(Y / block)
    lx, ly = X - bx * block, Y - by * block
    h = _hash2(bx, by, seed)
    rgb = np.empty((height_px, width_px, 3), dtype=np.float32)
    # grass everywhere, then parcels, buildings, trees, roads on top
    rgb[..., 0] = 70 + 40 * grass
    rgb[..., 1] = 110 + 50 * grass
    rgb[..., 2] = 55 + 20 * grass
    margin = 4.0 + (h % 7).astype(np.float32)
    split = 0.35 + ((h >> 3) % 30).astype(np.float32) / 100.0
    street = (lx < road) | (ly < road)
    building = (lx > road + margin) & (lx < block - margin) & (ly > road + margin) & (ly < block - margin)
    building &= (h >> 9) % 6 != 0  # one block in six is a park
    palette = np.array([[178, 94, 66], [150, 80, 60], [112, 112, 120], [90, 92, 100], [196, 190, 180],
                        [160, 70, 50]], dtype=np.float32)
    # a ridge across each roof: the half beyond it a little darker
    shade = np.where((lx - road) / (block - road) > split, np.float32(0.82), np.float32(1.0))
    roof = palette[((h[building] >> 12) % len(palette)).astype(np.int64)] * shade[building][:, None]
    rgb[building] = roof
    # courtyards: a light square inside some buildings
    court = building & (np.abs(lx - (road + block) / 2) < 6) & (np.abs(ly - (road + block) / 2) < 6) & ((h >> 20) % 3 == 0)
    rgb[court] = (205, 200, 185)
    tree = ~building & (trees > 0.72) & ~street
    rgb[tree] = np.float32([40, 80, 38]) + 25 * trees[tree][:, None]
    rgb[street] = (88, 88, 92)
    # lane markings: a dashed white line in the middle of each street
    dash = ((np.floor(X / 3.0) % 2 == 0) & (np.abs(ly - road / 2) < 0.12)) | \
           ((np.floor(Y / 3.0) % 2 == 0) & (np.abs(lx - road / 2) < 0.12))
    rgb[dash & street] = (235, 235, 235)
    rgb += rng.integers(-6, 7, (height_px, width_px, 1), dtype=np.int8).astype(np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_base_raster(bounds_lonlat: tuple[float, float, float, float], res_m: float = 0.25,
                     max_px: int = 4000, seed: int = 7, path: Path | str | None = None) -> BaseRaster:
    """A procedural city over ``bounds_lonlat`` (W, S, E, N) in the local CRS (Lambert-93 in France);
    the resolution is coarsened if the raster would exceed ``max_px`` on a side."""
    from pyproj import Transformer
    from rasterio.crs import CRS as RioCRS
    from rasterio.transform import from_origin

    from dronectl.geo import local_crs

    w, s, e, n = bounds_lonlat
    crs = local_crs((w + e) / 2, (s + n) / 2)
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = fwd.transform([w, e, e, w], [s, s, n, n])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    res_m = max(res_m, (x1 - x0) / max_px, (y1 - y0) / max_px)
    width, height = max(1, int(math.ceil((x1 - x0) / res_m))), max(1, int(math.ceil((y1 - y0) / res_m)))
    rgb = city_texture(x0, y1, width, height, res_m, seed)
    base = BaseRaster(rgb, from_origin(x0, y1, res_m, res_m), RioCRS.from_user_input(crs.to_wkt()))
    if path is not None:
        base.write(path)
    return base


def load_base_raster(path: Path | str, bounds_lonlat=None, max_px: int = 8000) -> BaseRaster:
    """An orthophoto GeoTIFF as RGB uint8 (a window over ``bounds_lonlat`` when given)."""
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    from dronectl.errors import InputError

    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"base raster {path} cannot be read: {exc}") from None
    with ds:
        if ds.crs is None:
            raise InputError(f"base raster {path} has no CRS: the camera cannot place it")
        window = Window(0, 0, ds.width, ds.height)
        if bounds_lonlat is not None:
            b = transform_bounds("EPSG:4326", ds.crs, *bounds_lonlat)
            window = from_bounds(*b, transform=ds.transform).round_offsets().round_lengths()
            window = window.intersection(Window(0, 0, ds.width, ds.height))
        scale = max(1.0, max(window.width, window.height) / max_px)
        out_shape = (max(1, int(window.height / scale)), max(1, int(window.width / scale)))
        bands = [1, 2, 3] if ds.count >= 3 else [1, 1, 1]
        arr = ds.read(bands, window=window, out_shape=(3,) + out_shape, resampling=rasterio.enums.Resampling.average)
        from affine import Affine

        transform = ds.window_transform(window) @ Affine.scale(window.width / out_shape[1],
                                                               window.height / out_shape[0])
        crs = ds.crs
    if arr.dtype != np.uint8:
        lo, hi = np.percentile(arr, (1, 99))
        arr = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    return BaseRaster(np.ascontiguousarray(np.moveaxis(arr, 0, -1)), transform, crs)


# --- rendering ----------------------------------------------------------------------------
def _intrinsics(cam: Camera) -> Intrinsics:
    return Intrinsics(cam.sensor_width_mm, cam.sensor_height_mm, cam.focal_length_mm)


def _event_bounds(events, cam: Camera, pitch_deg: float) -> tuple[float, float, float, float]:
    lons, lats = [], []
    for ev in events:
        lat, lon, alt = float(_get(ev, "lat_deg")), float(_get(ev, "lon_deg")), float(_get(ev, "alt_rel_m"))
        # half diagonal of the nadir footprint (x1.5 for oblique shots and any yaw), plus 20 m
        r = 1.5 * alt * math.hypot(cam.sensor_width_mm, cam.sensor_height_mm) / (2 * cam.focal_length_mm) + 20
        if pitch_deg > -80:
            r = max(r, alt / math.tan(math.radians(10)) + 20)
        for de, dn in ((-r, -r), (r, r)):
            lo, la = enu_to_lonlat(lon, lat, de, dn)
            lons.append(lo)
            lats.append(la)
    return min(lons), min(lats), max(lons), max(lats)


def _rational(x: float, den: int = 10000):
    from PIL.TiffImagePlugin import IFDRational

    return IFDRational(int(round(x * den)), den)


def _dms(value: float):
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return (_rational(d, 1), _rational(m, 1), _rational(s))


def dji_xmp(relative_altitude_m: float, gimbal_pitch_deg: float, gimbal_yaw_deg: float, gimbal_roll_deg: float = 0.0,
            flight_yaw_deg: float | None = None, extra: str = "", make: str = SIM_MAKE, model: str = SIM_MODEL) -> bytes:
    """An XMP packet laid out the way DJI drones write it (attributes of ``rdf:Description``)."""
    fy = gimbal_yaw_deg if flight_yaw_deg is None else flight_yaw_deg
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"\n'
        '    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"\n'
        f'    tiff:Make="{make}" tiff:Model="{model}"\n'
        f'    drone-dji:RelativeAltitude="{relative_altitude_m:+.2f}"\n'
        f'    drone-dji:GimbalRollDegree="{gimbal_roll_deg:+.2f}"\n'
        f'    drone-dji:GimbalYawDegree="{gimbal_yaw_deg:+.2f}"\n'
        f'    drone-dji:GimbalPitchDegree="{gimbal_pitch_deg:+.2f}"\n'
        f'    drone-dji:FlightRollDegree="+0.00" drone-dji:FlightPitchDegree="+0.00"\n'
        f'    drone-dji:FlightYawDegree="{fy:+.2f}"{extra}/>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def photo_exif(cam: Camera, lat_deg: float, lon_deg: float, when: datetime, altitude_m: float | None = None,
               make: str = SIM_MAKE, model: str = SIM_MODEL):
    """A Pillow ``Exif`` with what a drone writes: Make/Model, time, focal lengths, GPS."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0131] = "dronectl sim"
    when = when.astimezone(timezone.utc)
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = stamp
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = stamp
    sub[0x9004] = stamp
    sub[0x9011] = "+00:00"
    sub[0x920A] = _rational(cam.focal_length_mm, 100)
    crop = 43.2666 / math.hypot(cam.sensor_width_mm, cam.sensor_height_mm)
    sub[0xA405] = int(round(cam.focal_length_mm * crop))
    gps = exif.get_ifd(0x8825)
    gps[0] = b"\x02\x03\x00\x00"
    gps[1] = "N" if lat_deg >= 0 else "S"
    gps[2] = _dms(lat_deg)
    gps[3] = "E" if lon_deg >= 0 else "W"
    gps[4] = _dms(lon_deg)
    if altitude_m is not None:
        gps[5] = b"\x00" if altitude_m >= 0 else b"\x01"
        gps[6] = _rational(abs(altitude_m), 100)
    gps[7] = (_rational(when.hour, 1), _rational(when.minute, 1), _rational(when.second + when.microsecond / 1e6, 1000))
    gps[0x1D] = when.strftime("%Y:%m:%d")
    return exif


def exif_with_thumbnail(exif, thumbnail_jpeg: bytes) -> bytes:
    """EXIF APP1 payload with ``thumbnail_jpeg`` as the IFD1 thumbnail, the way cameras embed their
    preview. Pillow serialises IFD0 and its sub-IFDs; IFD1 is appended and IFD0's next-IFD link set."""
    import struct

    block = exif.tobytes()
    assert block[:6] == b"Exif\x00\x00"
    tiff = bytearray(block[6:])
    end = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack_from(end + "I", tiff, 4)[0]
    n0 = struct.unpack_from(end + "H", tiff, ifd0)[0]
    if len(tiff) % 2:
        tiff += b"\x00"
    ifd1 = len(tiff)
    entries = [(0x0103, 3, 1, 6), (0x0201, 4, 1, 0), (0x0202, 4, 1, len(thumbnail_jpeg))]
    data_off = ifd1 + 2 + 12 * len(entries) + 4
    entries[1] = (0x0201, 4, 1, data_off)
    out = struct.pack(end + "H", len(entries))
    for tag, typ, count, value in entries:
        out += struct.pack(end + "HHI", tag, typ, count)
        out += struct.pack(end + "HH", value, 0) if typ == 3 else struct.pack(end + "I", value)
    out += struct.pack(end + "I", 0)
    struct.pack_into(end + "I", tiff, ifd0 + 2 + 12 * n0, ifd1)
    return b"Exif\x00\x00" + bytes(tiff) + out + thumbnail_jpeg


def render_photos(events: Iterable, camera: Camera | str = "sim", out_dir: Path | str = ".",
                  base_raster: Path | str | BaseRaster | None = None,
                  yaw_deg: float | Sequence[float] | Callable[[object], float] = 0.0, pitch_deg: float = -90.0,
                  start_time: datetime | None = None, quality: int = 90, sensor_noise: float = 3.0,
                  name: str = "DJI_{index:04d}.JPG", home_amsl_m: float = 0.0, seed: int = 7,
                  embed_thumbnail: bool = True) -> list[Path]:
    """Render one JPEG per camera event into ``out_dir``; returns their paths (in event order).

    ``events``: objects or dicts with ``lat_deg``, ``lon_deg``, ``alt_rel_m``, ``image_index``, ``time_s``
    (and optionally ``yaw_deg``). ``yaw_deg``: the camera heading, one value, one per event, or a function
    of the event; an event's own ``yaw_deg`` wins. ``pitch_deg``: -90 is nadir. ``start_time``: the
    time of ``time_s = 0`` (default 2026-11-22 10:00 UTC, so outputs are reproducible).
    ``embed_thumbnail``: write a 320 px preview in EXIF IFD1, as drone cameras do.
    Like a real camera, it goes on numbering in a folder that holds photos already: a second flight into the same
    folder writes ``DJI_0058.JPG``... after ``DJI_0057.JPG``, never over the first flight's photos.
    """
    from PIL import Image
    from pyproj import Transformer

    events = list(events)
    cam = find_camera(camera) if isinstance(camera, str) else camera
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not events:
        return []
    if isinstance(base_raster, BaseRaster):
        base = base_raster
    elif base_raster is not None:
        base = load_base_raster(base_raster, _event_bounds(events, cam, pitch_deg))
    else:
        base = make_base_raster(_event_bounds(events, cam, pitch_deg), seed=seed)
    src = Image.fromarray(base.rgb, "RGB")
    to_raster = Transformer.from_crs("EPSG:4326", base.crs.to_wkt(), always_xy=True)
    inv = ~base.transform
    W, H = cam.image_width_px, cam.image_height_px
    intr = _intrinsics(cam)
    start = start_time or DEFAULT_START
    # the camera's own EXIF Make/Model, so that the archive recognises its lens (the sim camera's otherwise)
    make, model = cam.exif_make or SIM_MAKE, cam.exif_models[0] if cam.exif_models else SIM_MODEL
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, sensor_noise, (H, W, 1)).astype(np.int16) if sensor_noise > 0 else None
    paths = []
    offset = _numbering_offset(out, name, [int(_get(ev, "image_index", k)) for k, ev in enumerate(events)])
    for k, ev in enumerate(events):
        lat, lon = float(_get(ev, "lat_deg")), float(_get(ev, "lon_deg"))
        alt = float(_get(ev, "alt_rel_m"))
        idx = int(_get(ev, "image_index", k)) + offset
        t = float(_get(ev, "time_s", 0.0))
        yaw = _get(ev, "yaw_deg")
        if yaw is None:
            yaw = yaw_deg(ev) if callable(yaw_deg) else (yaw_deg[k] if isinstance(yaw_deg, (list, tuple, np.ndarray)) else yaw_deg)
        yaw = float(yaw) % 360.0
        corners, _ = ground_corners(intr, max(alt, 0.5), pitch_deg, yaw, 0.0)
        lonlat = [enu_to_lonlat(lon, lat, e_, n_) for e_, n_ in corners]
        xs, ys = to_raster.transform([p[0] for p in lonlat], [p[1] for p in lonlat])
        pix = [inv @ (x, y) for x, y in zip(xs, ys)]
        # Pillow maps each output (image) pixel to an input (raster) pixel with the first 8 coefficients
        coeffs = tuple(homography([(0, 0), (W, 0), (W, H), (0, H)], pix).ravel()[:8])
        img = src.transform((W, H), Image.PERSPECTIVE, coeffs, resample=Image.BILINEAR, fillcolor=(0, 0, 0))
        if grain is not None:
            arr = np.asarray(img, dtype=np.int16) + grain
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
        when = start + timedelta(seconds=t)
        exif = photo_exif(cam, lat, lon, when, home_amsl_m + alt, make, model)
        xmp = dji_xmp(alt, pitch_deg, yaw if yaw <= 180 else yaw - 360.0, make=make, model=model)
        path = out / name.format(index=idx)
        buf = io.BytesIO()
        if embed_thumbnail:  # like DJI cameras: a small preview in EXIF IFD1
            small = img.copy()
            small.thumbnail((320, 240))
            tb = io.BytesIO()
            small.save(tb, "JPEG", quality=75)
            exif = exif_with_thumbnail(exif, tb.getvalue())
        img.save(buf, "JPEG", quality=quality, exif=exif, xmp=xmp)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)
        paths.append(path)
    return paths


def _numbering_offset(out: Path, name: str, indexes: list[int]) -> int:
    """How far to shift this flight's image numbers so that they follow the photos ``out`` already holds under
    the same pattern (``name`` with one ``{index...}`` field); 0 when none would be overwritten."""
    import re

    m = re.search(r"\{index(?::[^}]*)?\}", name)
    if m is None or not indexes:
        return 0
    if not any((out / name.format(index=i)).exists() for i in indexes):
        return 0
    pattern = re.compile(re.escape(name[:m.start()]) + r"(\d+)" + re.escape(name[m.end():]) + r"$")
    taken = [int(g.group(1)) for f in out.iterdir() if (g := pattern.match(f.name))]
    return max(taken) + 1 - min(indexes)


def sim_camera(width_px: int | None = None, height_px: int | None = None) -> Camera:
    """The database's ``sim`` camera, optionally at another resolution (same field of view), e.g.
    ``sim_camera(4000, 3000)`` for 12 MP images."""
    cam = find_camera("sim")
    if width_px and height_px:
        cam = replace(cam, image_width_px=width_px, image_height_px=height_px)
    return cam
