"""A quick-look mosaic of a mission: its nadir photos warped onto the ground, as a Cloud-Optimized GeoTIFF.

Each photo is placed by its camera model, the same one its footprint came from
(:func:`dronectl.archive.footprint.ground_corners`: position, height above take-off, gimbal attitude, lens):
the four image corners on flat ground define a perspective transform from ground metres to photo pixels, so a
photo taken with a yaw lands rotated, not pasted as an axis-aligned box. Seams: each ground pixel comes from
the photo that saw it most nearly from above (the smallest angle between the ray and the vertical), which for
a grid of nadir photos is the photo whose centre is nearest.

The output grid is in the local metric CRS (Lambert-93 in France, UTM elsewhere), at the photos' median ground
sample distance unless told, and is built tile by tile (512 px) with a bounded cache of decoded photos, so
memory does not grow with the size of the mission. The result is written as a tiled GTiff with overviews,
copied into a COG, and only then moved to its name: an interrupted mosaic leaves nothing behind.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dronectl.archive.footprint import (FLAG_CLAMPED, FLAG_NO_HEIGHT, Intrinsics, enu_to_lonlat, ground_corners,
                                        homography, off_nadir_deg)
from dronectl.errors import InputError

TILE_PX = 512
MAX_NADIR_OFF_DEG = 10.0  # a photo farther than this from straight down is oblique
MAX_PIXELS = 40_000 * 40_000  # refuse a mosaic grid larger than this (ask for a coarser --gsd)
CACHE_BYTES = 512 * 1024 * 1024  # decoded photos kept between tiles
GDAL_CACHE_MB = 128  # GDAL's block cache while writing (its default is 5 % of the machine's memory)


@dataclass
class MosaicReport:
    path: str
    png: str | None
    mission: str
    photos_used: int
    skipped: list[dict] = field(default_factory=list)  # {"id", "reason"}
    gsd_cm: float = 0.0
    width_px: int = 0
    height_px: int = 0
    crs: str = ""
    bounds: tuple[float, float, float, float] = (0, 0, 0, 0)  # lon/lat W, S, E, N
    tiles_drawn: int = 0  # map tiles drawn when published (archive/tiles.py pretile)
    tile_zooms: tuple[int, int] | None = None  # their zooms (first, last); deeper ones are drawn when asked

    def to_dict(self) -> dict:
        return {"path": self.path, "png": self.png, "mission": self.mission, "photos_used": self.photos_used,
                "skipped": self.skipped, "gsd_cm": round(self.gsd_cm, 2), "width_px": self.width_px,
                "height_px": self.height_px, "crs": self.crs, "bounds": [round(v, 7) for v in self.bounds],
                "tiles_drawn": self.tiles_drawn, "tile_zooms": list(self.tile_zooms) if self.tile_zooms else None}


@dataclass
class _Photo:
    """A photo placed on the output grid: the ground -> pixel homography and where it was taken from."""

    id: int
    path: Path
    width_px: int
    height_px: int
    height_m: float
    cam_xy: tuple[float, float]  # metric position of the point under the camera
    ground_to_pixel: np.ndarray  # 3x3, metric (x, y, 1) -> homogeneous (u, v, w)
    footprint_m: object  # shapely Polygon in the metric CRS
    gsd_m: float


def _intrinsics(rec, cameras_file) -> Intrinsics | None:
    got = (rec.extra or {}).get("intrinsics_mm")
    if got and len(got) == 3:
        return Intrinsics(*(float(v) for v in got))
    if rec.camera:  # archives ingested before the lens was recorded: the camera database
        from dronectl.camera import find_camera

        try:
            cam = find_camera(rec.camera, cameras_file)
        except InputError:
            return None
        sw, sh = cam.sensor_width_mm, cam.sensor_height_mm
        if rec.width_px and rec.height_px and (rec.height_px > rec.width_px) != (sh > sw):
            sw, sh = sh, sw
        return Intrinsics(sw, sh, cam.focal_length_mm)
    return None


def _place(rec, path: Path, proj, oblique: bool, cameras_file) -> _Photo | str:
    """A photo on the grid, or the reason it is left out."""
    from shapely.geometry import Polygon

    if rec.format != "jpeg":
        return "not a photo (GeoTIFF)"
    if FLAG_NO_HEIGHT in rec.flags or not (rec.height_m or 0) > 0 or rec.lat_deg is None:
        return "no height above ground or position"
    if FLAG_CLAMPED in rec.flags:
        return "sees the horizon"
    off = off_nadir_deg(rec.pitch_deg)
    if not oblique and off is not None and off > MAX_NADIR_OFF_DEG:
        return f"oblique ({off:.0f} deg off nadir; --oblique to include)"
    intr = _intrinsics(rec, cameras_file)
    if intr is None or not rec.width_px or not rec.height_px:
        return "unknown lens or image size"
    pitch = -90.0 if rec.pitch_deg is None else rec.pitch_deg
    corners, clamped = ground_corners(intr, rec.height_m, pitch, rec.yaw_deg or 0.0, rec.roll_deg or 0.0)
    if clamped:
        return "sees the horizon"
    lonlat = [enu_to_lonlat(rec.lon_deg, rec.lat_deg, e, n) for e, n in corners]
    xy = [proj.xy(lon, lat) for lon, lat in lonlat]
    w, h = rec.width_px, rec.height_px
    H = homography(xy, [(0, 0), (w, 0), (w, h), (0, h)])
    gsd = rec.height_m * (intr.sensor_width_mm / w) / intr.focal_length_mm
    return _Photo(rec.id, path, w, h, rec.height_m, proj.xy(rec.lon_deg, rec.lat_deg), H, Polygon(xy), gsd)


class _PhotoCache:
    """Decoded photos (RGB uint8, maybe decoded at 1/2, 1/4, 1/8 scale), least recently used dropped first."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.items: OrderedDict[int, tuple[np.ndarray, float]] = OrderedDict()
        self.bytes, self.max_bytes = 0, max_bytes

    def get(self, photo: _Photo, out_gsd_m: float) -> tuple[np.ndarray, float]:
        """(pixels, scale): pixels[v * scale, u * scale] is the photo at full-size (u, v)."""
        if photo.id in self.items:
            self.items.move_to_end(photo.id)
            return self.items[photo.id]
        from PIL import Image

        with Image.open(photo.path) as im:
            # decode only the resolution the mosaic needs (JPEG DCT scaling: 1/2, 1/4, 1/8)
            factor = max(1, min(8, int(out_gsd_m / photo.gsd_m)))
            if factor > 1:
                im.draft("RGB", (photo.width_px // factor, photo.height_px // factor))
            arr = np.asarray(im.convert("RGB"))
        scale = arr.shape[1] / photo.width_px
        self.items[photo.id] = (arr, scale)
        self.bytes += arr.nbytes
        while self.bytes > self.max_bytes and len(self.items) > 1:
            _, (old, _) = self.items.popitem(last=False)
            self.bytes -= old.nbytes
        return arr, scale


def _bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample img (rows, cols, 3) at float pixel coordinates (pixel centres at .5)."""
    h, w = img.shape[:2]
    x = np.clip(u - 0.5, 0, w - 1)
    y = np.clip(v - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.intp), np.floor(y).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return np.clip(top * (1 - fy) + bottom * fy + 0.5, 0, 255).astype(np.uint8)


def _render_tile(photos: list[_Photo], cache: _PhotoCache, x0: float, y1: float, cols: int, rows: int,
                 gsd_m: float) -> np.ndarray:
    """RGBA tile (4, rows, cols) whose pixel (r, c) covers (x0 + c*gsd, y1 - r*gsd); alpha 0 where no photo.

    Each pixel goes to the photo that saw it most nearly from above among those that saw it at all: candidates
    are ranked by the tangent of the angle from the vertical (distance to the point under the camera over its
    height), and a pixel falls to the next candidate only where the best one's image does not reach it.
    """
    xs = x0 + (np.arange(cols) + 0.5) * gsd_m
    ys = y1 - (np.arange(rows) + 0.5) * gsd_m
    X, Y = (a.ravel() for a in np.meshgrid(xs, ys))
    score = np.full((rows, cols, len(photos)), np.inf, dtype=np.float32)
    for k, p in enumerate(photos):  # only inside the photo's footprint box: elsewhere it cannot compete
        fx0, fy0, fx1, fy1 = p.footprint_m.bounds
        c0, c1 = max(0, int((fx0 - x0) / gsd_m)), min(cols, int(math.ceil((fx1 - x0) / gsd_m)))
        r0, r1 = max(0, int((y1 - fy1) / gsd_m)), min(rows, int(math.ceil((y1 - fy0) / gsd_m)))
        if c0 < c1 and r0 < r1:
            score[r0:r1, c0:c1, k] = np.hypot(xs[None, c0:c1] - p.cam_xy[0], ys[r0:r1, None] - p.cam_xy[1]) / p.height_m
    score = score.reshape(-1, len(photos))
    out = np.zeros((X.size, 4), dtype=np.uint8)
    todo = np.arange(X.size)
    while todo.size:
        best = np.argmin(score[todo], axis=1)
        reachable = np.isfinite(score[todo, best])
        todo, best = todo[reachable], best[reachable]
        order = np.argsort(best, kind="stable")
        todo, best = todo[order], best[order]
        ks, starts = np.unique(best, return_index=True)
        missed = []
        for k, a, b in zip(ks, starts, list(starts[1:]) + [best.size]):
            sel = todo[a:b]
            p = photos[k]
            q = p.ground_to_pixel @ np.stack([X[sel], Y[sel], np.ones(sel.size)])
            u, v = q[0] / q[2], q[1] / q[2]
            inside = (q[2] > 0) & (u >= 0) & (u < p.width_px) & (v >= 0) & (v < p.height_px)
            if inside.any():
                img, scale = cache.get(p, gsd_m)
                hit = sel[inside]
                out[hit, :3] = _bilinear(img, u[inside] * scale, v[inside] * scale)
                out[hit, 3] = 255
            score[sel[~inside], k] = np.inf  # this photo does not reach them: the next best one may
            missed.append(sel[~inside])
        todo = np.concatenate(missed) if missed else todo[:0]
    return np.moveaxis(out.reshape(rows, cols, 4), -1, 0)


def build_mosaic(archive, asker: str, mission: str, out: Path | str, gsd_cm: float | None = None, zone=None,
                 oblique: bool = False, png: Path | str | None = None, progress=None, service: str | None = None,
                 publish: bool = False) -> MosaicReport:
    """Mosaic of ``mission``'s photos that ``asker`` may see (audited like a search) into the COG ``out``.

    ``zone``: a lon/lat polygon to clip to; ``gsd_cm``: output resolution (default: the photos' median);
    ``png``: also a quick-look PNG (at most 2048 px); ``progress(done, total)`` per tile of the mosaic, then
    ``progress(done, total, "drawing map tiles")`` per map tile when published; ``service``: only that service's
    photos; ``publish``: also keep it in the archive for the web map (one service's photos only), with its map
    tiles drawn (:func:`dronectl.archive.tiles.pretile`).
    """
    import rasterio
    import rasterio.shutil
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin
    from shapely import STRtree
    from shapely.ops import unary_union

    from dronectl.formats import atomic_write
    from dronectl.geo import Projector

    out = Path(out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"the mosaic is a GeoTIFF: give a file name ending in .tif, got '{out}'")
    if gsd_cm is not None and not (math.isfinite(gsd_cm) and 0.1 <= gsd_cm <= 1000):
        raise InputError(f"--gsd {gsd_cm:g}: must be between 0.1 and 1000 cm/px")
    from dronectl.archive.criteria import Criteria

    recs = archive.search(asker, Criteria(mission=mission, service=service), action="mosaic")
    if not recs:
        raise InputError(f"no image of mission '{mission}' visible to service '{asker}': "
                         "check the mission id with `dronectl archive search`")
    services = sorted({r.service for r in recs})
    if publish and len(services) > 1:
        raise InputError(f"mission '{mission}' has images of several services ({', '.join(services)}): "
                         "publish the mosaic of one of them with --service")
    proj = Projector.around(unary_union([r.footprint for r in recs]))
    cameras_file = getattr(archive, "cameras_file", None)
    photos, skipped = [], []
    for r in recs:
        placed = _place(r, archive.blob_path(r), proj, oblique, cameras_file)
        if isinstance(placed, str):
            skipped.append({"id": r.id, "reason": placed})
        else:
            photos.append(placed)
    if not photos:
        reasons = sorted({s["reason"] for s in skipped})
        raise InputError(f"no photo of mission '{mission}' can go into a mosaic ({'; '.join(reasons)})")
    gsd_m = gsd_cm / 100.0 if gsd_cm else float(np.median([p.gsd_m for p in photos]))
    area = unary_union([p.footprint_m for p in photos])
    if zone is not None:
        area = area.intersection(proj.to_metric(zone))
        if area.is_empty:
            raise InputError(f"the photos of mission '{mission}' do not reach the zone")
    minx, miny, maxx, maxy = area.bounds
    minx, miny = math.floor(minx / gsd_m) * gsd_m, math.floor(miny / gsd_m) * gsd_m
    width, height = max(1, math.ceil((maxx - minx) / gsd_m)), max(1, math.ceil((maxy - miny) / gsd_m))
    if width * height > MAX_PIXELS:
        raise InputError(f"a mosaic of {width} x {height} px at {100 * gsd_m:.1f} cm/px is too large: "
                         "give a coarser --gsd")
    transform = from_origin(minx, miny + height * gsd_m, gsd_m, gsd_m)
    tree = STRtree([p.footprint_m for p in photos])
    clip = area.buffer(gsd_m) if zone is not None else None

    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f".{out.name}.{os.getpid()}.work.tif")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    tiles = [(r0, c0) for r0 in range(0, height, TILE_PX) for c0 in range(0, width, TILE_PX)]
    cache = _PhotoCache()
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        try:
            profile = dict(driver="GTiff", width=width, height=height, count=4, dtype="uint8", crs=proj.crs.to_wkt(),
                           transform=transform, tiled=True, blockxsize=TILE_PX, blockysize=TILE_PX, compress="deflate",
                           photometric="RGB", alpha="YES")
            with rasterio.open(work, "w", **profile) as ds:
                for done, (r0, c0) in enumerate(tiles, start=1):
                    rows, cols = min(TILE_PX, height - r0), min(TILE_PX, width - c0)
                    x0, y1 = minx + c0 * gsd_m, miny + (height - r0) * gsd_m
                    from shapely.geometry import box

                    cell = box(x0, y1 - rows * gsd_m, x0 + cols * gsd_m, y1)
                    hits = [photos[i] for i in tree.query(cell, predicate="intersects")]
                    if hits:
                        tile = _render_tile(hits, cache, x0, y1, cols, rows, gsd_m)
                        if clip is not None:
                            tile[3] &= _clip_mask(clip, x0, y1, cols, rows, gsd_m)
                        ds.write(tile, window=((r0, r0 + rows), (c0, c0 + cols)))
                    if progress:
                        progress(done, len(tiles))
                factors = [f for f in (2, 4, 8, 16, 32, 64) if max(width, height) / f >= 256]
                if factors:
                    ds.build_overviews(factors, Resampling.average)
            rasterio.shutil.copy(work, tmp, driver="COG", compress="DEFLATE", blocksize=TILE_PX, overviews="AUTO")
            if png:
                atomic_write(png, _quicklook(tmp))
            drawn, zooms = 0, None
            if publish:
                drawn, zooms = _publish(archive.root, services[0], mission, tmp, len(photos), 100 * gsd_m,
                                        (lambda d, t: progress(d, t, "drawing map tiles")) if progress else None)
            os.replace(tmp, out)
        finally:
            for f in (work, tmp, Path(str(work) + ".ovr")):
                if f.exists():
                    f.unlink()
    w, s = proj.lonlat(minx, miny)
    e, n = proj.lonlat(minx + width * gsd_m, miny + height * gsd_m)
    return MosaicReport(str(out), str(png) if png else None, mission, len(photos), skipped, 100 * gsd_m, width,
                        height, proj.crs.to_string(), (w, s, e, n), drawn, zooms)


# --- mosaics kept in the archive for the web map --------------------------------------------------
WEB_MAX_PX = 2048


def _mosaic_key(root: Path, service: str, mission: str) -> Path:
    """Where the web copy of a mission's mosaic lives: named by a hash, so that no mission id reaches a path."""
    import hashlib

    return Path(root) / "mosaics" / service / hashlib.sha256(mission.encode("utf-8")).hexdigest()[:32]


def _publish(root: Path, service: str, mission: str, cog: Path, photos: int, gsd_cm: float,
             progress=None) -> tuple[int, tuple[int, int] | None]:
    """The COG, its map tiles, a PNG of the mosaic in Web Mercator (so that a map's image overlay is exact) and its
    bounds, in the archive. The tiles (:func:`dronectl.archive.tiles.pretile`, up to PRETILE_MAX) are drawn from the
    copy before it takes the COG's name, into the folder of that file version (a rename keeps the mtime), so the
    map's first view of a new mosaic is read from disk; older versions' tiles go. Returns (tiles drawn, zooms)."""
    import io
    import json
    import shutil

    import rasterio
    from PIL import Image
    from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

    from dronectl.archive.catalog import utcnow
    from dronectl.archive.tiles import pretile, tiles_dir, version_dir
    from dronectl.formats import atomic_write

    with rasterio.open(cog) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        k = max(1.0, max(w, h) / WEB_MAX_PX)
        w2, h2 = max(1, int(w / k)), max(1, int(h / k))
        from affine import Affine

        tr = tr @ Affine.scale(w / w2, h / h2)
        data = np.zeros((4, h2, w2), dtype=np.uint8)
        reproject(rasterio.band(src, [1, 2, 3, 4]), data, dst_transform=tr, dst_crs="EPSG:3857",
                  resampling=Resampling.average)
    west, north = tr @ (0, 0)
    east, south = tr @ (w2, h2)
    lonlat = transform_bounds("EPSG:3857", "EPSG:4326", west, south, east, north)
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(data, 0, -1), "RGBA").save(buf, "PNG", optimize=True)
    key = _mosaic_key(root, service, mission)
    key.parent.mkdir(parents=True, exist_ok=True)
    cog_copy = key.with_name(f".{key.name}.{os.getpid()}.part")
    final = key.with_suffix(".tif")
    drawn = None
    try:
        shutil.copyfile(cog, cog_copy)  # the COG itself, which the tile server reads (archive/tiles.py)
        drawn = version_dir(final, cog_copy.stat())
        count, zooms = pretile(cog_copy, drawn, progress=progress)
        os.replace(cog_copy, final)
    finally:
        if cog_copy.exists():  # interrupted: neither the copy nor its tiles stay
            cog_copy.unlink()
            if drawn is not None:
                shutil.rmtree(drawn, ignore_errors=True)
    for old in tiles_dir(final).iterdir() if tiles_dir(final).is_dir() else ():
        if old.name != drawn.name:
            shutil.rmtree(old, ignore_errors=True)
    atomic_write(key.with_suffix(".png"), buf.getvalue())
    atomic_write(key.with_suffix(".json"), json.dumps({
        "service": service, "mission": mission, "bounds": [round(v, 7) for v in lonlat], "photos": photos,
        "gsd_cm": round(gsd_cm, 2), "built_at": utcnow().isoformat()}))
    return count, zooms


def published_mosaic(root: Path, service: str, mission: str) -> tuple[Path, dict] | None:
    """(PNG path, its description) of a mission's mosaic kept for the web map, or None."""
    import json

    key = _mosaic_key(root, service, mission)
    try:
        meta = json.loads(key.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    png = key.with_suffix(".png")
    return (png, meta) if png.is_file() and meta.get("mission") == mission else None


def published_cog(root: Path, service: str, mission: str) -> tuple[Path, dict] | None:
    """(COG path, its description) of a mission's published mosaic, for the tile server; None without one."""
    found = published_mosaic(root, service, mission)
    if found is None:
        return None
    cog = found[0].with_suffix(".tif")
    return (cog, found[1]) if cog.is_file() else None


def unpublish_mosaic(root: Path, service: str, mission: str) -> bool:
    """Remove a mission's web mosaic and its map tiles (its photos were purged: their pixels must go too).
    True if one was there."""
    import shutil

    key = _mosaic_key(root, service, mission)
    tiles = key.with_suffix(".tiles")
    found = tiles.exists()
    if found:
        shutil.rmtree(tiles, ignore_errors=True)  # a tile the server writes meanwhile fails the first try
        if tiles.exists():
            shutil.rmtree(tiles)
    for f in (key.with_suffix(".png"), key.with_suffix(".tif"), key.with_suffix(".json")):
        if f.exists():
            f.unlink()
            found = True
    return found


def _clip_mask(clip, x0, y1, cols, rows, gsd_m) -> np.ndarray:
    from rasterio.features import geometry_mask
    from rasterio.transform import from_origin

    inside = ~geometry_mask([clip], (rows, cols), from_origin(x0, y1, gsd_m, gsd_m))
    return np.where(inside, 255, 0).astype(np.uint8)


def _quicklook(cog: Path, max_px: int = 2048) -> bytes:
    """A PNG of the mosaic (from its overviews), transparent where no photo reached."""
    import io

    import rasterio
    from PIL import Image

    with rasterio.open(cog) as ds:
        k = max(1, math.ceil(max(ds.width, ds.height) / max_px))
        data = ds.read(out_shape=(ds.count, max(1, ds.height // k), max(1, ds.width // k)))
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(data, 0, -1), "RGBA").save(buf, "PNG", optimize=True)
    return buf.getvalue()
