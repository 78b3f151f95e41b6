"""The mission mosaic against the ground truth it was photographed from.

A test orthophoto with sharp, unique structure is photographed by the synthetic camera (rotated photos
included), the photos are ingested, mosaicked, and the mosaic compared with the orthophoto tile by tile by phase
correlation. This proves that camera, metadata, footprint and mosaic agree on where every pixel is; a camera
whose position is off by 2 m must fail the same comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject

from dronectl.archive.mosaic import build_mosaic
from dronectl.errors import InputError
from dronectl.geo import LAMBERT93, Projector
from dronectl.sim.camera import BaseRaster, CameraEvent, render_photos, sim_camera

LAT0, LON0 = 49.3790, 3.3300
CAM = sim_camera(400, 300)  # 14 cm/px at 40 m
ALT = 40.0
ORTHO_RES = 0.05


def orthophoto(seed: int = 3) -> BaseRaster:
    """180 m x 180 m at 5 cm in Lambert-93: multi-scale noise plus random coloured rectangles (no repeats)."""
    from PIL import Image, ImageDraw

    proj = Projector.for_crs(LAMBERT93)
    cx, cy = proj.xy(LON0, LAT0)
    n = int(180 / ORTHO_RES)
    rng = np.random.default_rng(seed)
    base = np.zeros((n, n), dtype=np.float32)
    for cell in (8, 32, 128):
        coarse = rng.random((n // cell + 2, n // cell + 2)).astype(np.float32)
        base += np.asarray(Image.fromarray(coarse, "F").resize((n + cell, n + cell), Image.BICUBIC))[:n, :n]
    rgb = np.stack([base, base * 0.8 + 0.3, 1.2 - base * 0.5], -1)
    rgb = (255 * (rgb - rgb.min()) / np.ptp(rgb)).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(1500):
        x, y = rng.integers(0, n, 2)
        w, h = rng.integers(10, 80, 2)
        draw.rectangle([int(x), int(y), int(x + w), int(y + h)], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    transform = Affine(ORTHO_RES, 0, cx - 90, 0, -ORTHO_RES, cy + 90)
    return BaseRaster(np.asarray(img), transform, rasterio.crs.CRS.from_epsg(2154))


def grid_events(yaw_deg: float) -> list[CameraEvent]:
    """Three lines of photos over the middle 60 m of the orthophoto, 80 % / 70 % overlap at 40 m."""
    proj = Projector.for_crs(LAMBERT93)
    cx, cy = proj.xy(LON0, LAT0)
    fw = ALT * CAM.sensor_width_mm / CAM.focal_length_mm  # footprint across (56.9 m)
    fh = ALT * CAM.sensor_height_mm / CAM.focal_length_mm
    out, k = [], 0
    for line in range(3):
        x = cx - 0.3 * fw + line * 0.3 * fw
        for j in range(8):
            y = cy - 20 + j * 0.2 * fh
            lon, lat = proj.lonlat(x, y)
            out.append(CameraEvent(lat, lon, ALT, k, 2.0 * k, yaw_deg=yaw_deg))
            k += 1
    return out


def phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(dy, dx) in pixels that moves b onto a (normalised cross-power spectrum, parabolic sub-pixel peak)."""
    wy, wx = np.hanning(a.shape[0])[:, None], np.hanning(a.shape[1])[None, :]
    fa, fb = np.fft.fft2((a - a.mean()) * wy * wx), np.fft.fft2((b - b.mean()) * wy * wx)
    r = fa * np.conj(fb)
    corr = np.real(np.fft.ifft2(r / (np.abs(r) + 1e-9)))
    py, px = np.unravel_index(np.argmax(corr), corr.shape)

    def sub(c_m, c_0, c_p):
        d = c_m - 2 * c_0 + c_p
        return 0.0 if d == 0 else 0.5 * (c_m - c_p) / d

    h, w = corr.shape
    dy = py + sub(corr[(py - 1) % h, px], corr[py, px], corr[(py + 1) % h, px])
    dx = px + sub(corr[py, (px - 1) % w], corr[py, px], corr[py, (px + 1) % w])
    return (dy - h if dy > h / 2 else dy, dx - w if dx > w / 2 else dx)


def tile_errors_px(mosaic_path, ortho: BaseRaster, tile: int = 96) -> list[float]:
    """Position error (pixels of the mosaic) of every fully covered tile of the mosaic against the orthophoto."""
    with rasterio.open(mosaic_path) as ds:
        data = ds.read()
        truth = np.zeros((3, ds.height, ds.width), dtype=np.uint8)
        reproject(np.moveaxis(ortho.rgb, -1, 0), truth, src_transform=ortho.transform, src_crs=ortho.crs,
                  dst_transform=ds.transform, dst_crs=ds.crs, resampling=Resampling.average)
    gray_m = data[:3].astype(np.float64).mean(0)
    gray_t = truth.astype(np.float64).mean(0)
    alpha = data[3]
    errs = []
    for r in range(0, data.shape[1] - tile + 1, tile):
        for c in range(0, data.shape[2] - tile + 1, tile):
            if alpha[r:r + tile, c:c + tile].min() < 255:
                continue
            dy, dx = phase_shift(gray_t[r:r + tile, c:c + tile], gray_m[r:r + tile, c:c + tile])
            errs.append(math.hypot(dy, dx))
    return errs


@pytest.fixture(scope="module")
def ortho():
    return orthophoto()


def mosaic_of(tmp_path, archive, ortho_for_camera: BaseRaster, yaw_deg: float, name: str):
    photos = render_photos(grid_events(yaw_deg), CAM, tmp_path / f"photos-{name}", base_raster=ortho_for_camera,
                           sensor_noise=2.0)
    archive.ingest(photos, "technical", mission=name)
    return build_mosaic(archive, "technical", name, tmp_path / f"{name}.tif", png=tmp_path / f"{name}.png")


@pytest.mark.parametrize("yaw_deg", [0.0, 33.0])
def test_mosaic_matches_the_orthophoto(tmp_path, archive, ortho, yaw_deg):
    rep = mosaic_of(tmp_path, archive, ortho, yaw_deg, f"m{int(yaw_deg)}")
    assert rep.photos_used == 24 and not rep.skipped
    assert rep.gsd_cm == pytest.approx(100 * ALT * CAM.sensor_width_mm / CAM.image_width_px / CAM.focal_length_mm)
    errs = tile_errors_px(rep.path, ortho)
    assert len(errs) >= 12, "the mosaic covers the photographed area"
    assert float(np.median(errs)) < 2.0 and max(errs) < 5.0, sorted(errs)[-5:]
    with rasterio.open(rep.path) as ds:  # a Cloud-Optimized GeoTIFF in Lambert-93, with overviews
        assert ds.crs.to_epsg() == 2154 and ds.profile["tiled"] and ds.overviews(1)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert (tmp_path / f"m{int(yaw_deg)}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_camera_2m_off_fails_the_comparison(tmp_path, archive, ortho):
    """The photos were taken 2 m east of where their metadata says: the check must see it."""
    shifted = BaseRaster(ortho.rgb, Affine.translation(-2.0, 0.0) @ ortho.transform, ortho.crs)
    rep = mosaic_of(tmp_path, archive, shifted, 0.0, "off")
    errs = tile_errors_px(rep.path, ortho)
    gsd_m = rep.gsd_cm / 100
    assert float(np.median(errs)) * gsd_m == pytest.approx(2.0, abs=0.3)
    assert float(np.median(errs)) > 5.0


def test_seams_take_the_most_vertical_view(tmp_path, archive, ortho):
    """A pixel under one photo's centre comes from that photo, not from a neighbour that saw it obliquely."""
    rep = mosaic_of(tmp_path, archive, ortho, 0.0, "seams")
    ev = grid_events(0.0)[9]  # an inner photo
    with rasterio.open(rep.path) as ds:
        proj = Projector.for_crs(LAMBERT93)
        x, y = proj.xy(ev.lon_deg, ev.lat_deg)
        r, c = ds.index(x, y)
        assert ds.read(4)[r, c] == 255
    # the mosaic pixel equals the photo's centre pixel (up to JPEG noise), so it came from that photo
    from PIL import Image

    photo = np.asarray(Image.open(tmp_path / "photos-seams" / "DJI_0009.JPG").convert("RGB")).astype(float)
    with rasterio.open(rep.path) as ds:
        px = ds.read([1, 2, 3])[:, r, c].astype(float)
    assert np.abs(photo[150, 200] - px).max() < 40


def test_mosaic_refuses_clearly(tmp_path, archive, ortho, make_photos):
    with pytest.raises(InputError, match="no image of mission 'nope'"):
        build_mosaic(archive, "technical", "nope", tmp_path / "x.tif")
    with pytest.raises(InputError, match="ending in .tif"):
        build_mosaic(archive, "technical", "nope", tmp_path / "x.png")
    oblique = render_photos(grid_events(0.0)[:3], CAM, tmp_path / "obl", base_raster=ortho, pitch_deg=-45.0)
    archive.ingest(oblique, "technical", mission="obl")
    with pytest.raises(InputError, match="oblique"):
        build_mosaic(archive, "technical", "obl", tmp_path / "obl.tif")
    assert not list(tmp_path.glob("*.tif")) and not list(tmp_path.glob(".*part"))


def test_police_mosaic_is_police_only_and_audited(tmp_path, archive, ortho):
    photos = render_photos(grid_events(0.0)[:4], CAM, tmp_path / "p", base_raster=ortho)
    archive.ingest(photos, "police", mission="pv-1")
    with pytest.raises(InputError, match="visible to service 'technical'"):
        build_mosaic(archive, "technical", "pv-1", tmp_path / "t.tif")
    rep = build_mosaic(archive, "police", "pv-1", tmp_path / "p.tif")
    assert rep.photos_used == 4
    assert len([e for e in archive.audit_log() if e.action == "mosaic"]) == 4


def test_cli_mosaic_through_the_console_script(tmp_path, ortho):
    import json
    import subprocess

    from dronectl.archive import open_archive
    from tests.conftest import console_script

    photos = render_photos(grid_events(0.0), CAM, tmp_path / "photos", base_raster=ortho)
    with open_archive(tmp_path / "archive") as a:
        a.ingest(photos, "technical", mission="m-1")
        a.ingest(photos[:3], "police", mission="pv-2")

    def run(*args):
        return subprocess.run([console_script(), "archive", "mosaic", "--archive", str(tmp_path / "archive"), *args],
                              capture_output=True, text=True, timeout=120)

    p = run("--mission", "m-1", "--as", "technical", "-o", str(tmp_path / "out" / "m.tif"),
            "--png", str(tmp_path / "m.png"), "--gsd", "20", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["photos_used"] == 24 and rep["gsd_cm"] == 20 and (tmp_path / "out" / "m.tif").is_file()
    for args, code, words in [
        (["--mission", "pv-2", "--as", "technical", "-o", str(tmp_path / "p.tif")], 2, "no image of mission 'pv-2'"),
        (["--mission", "m-1", "--as", "nobody", "-o", str(tmp_path / "p.tif")], 2, "nobody"),
        (["--mission", "m-1", "--as", "technical", "-o", str(tmp_path / "x.tif"), "--gsd", "nan"], 2, "--gsd nan"),
        (["--mission", "m-1", "--as", "technical", "-o", str(tmp_path / "x.jpg")], 2, "ending in .tif"),
        (["--mission", "m-1", "--as", "technical", "-o", str(tmp_path / "photos" / "DJI_0000.JPG" / "x.tif")], 3,
         "is a file, not a folder"),
        (["--mission", "m-1", "--as", "technical", "-o", str(tmp_path / "x.tif"), "--gsd", "0.1"], 2, "too large"),
    ]:
        p = run(*args)
        assert p.returncode == code and words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "p.tif").exists()
    assert not [f for f in tmp_path.rglob(".*") if f.is_file()]  # no work or part file left


def test_published_mosaic_is_in_web_mercator_where_the_photos_are(tmp_path, archive, ortho):
    from dronectl.archive.mosaic import published_mosaic, unpublish_mosaic

    photos = render_photos(grid_events(0.0), CAM, tmp_path / "pub", base_raster=ortho)
    archive.ingest(photos, "technical", mission="pub-1")
    assert published_mosaic(archive.root, "technical", "pub-1") is None
    archive.mosaic("technical", "pub-1", tmp_path / "pub.tif", publish=True)
    png, meta = published_mosaic(archive.root, "technical", "pub-1")
    assert meta["mission"] == "pub-1" and meta["photos"] == 24
    w, s, e, n = meta["bounds"]
    from shapely.geometry import box
    from shapely.ops import unary_union

    union = unary_union([r.footprint for r in archive.search("technical", mission="pub-1")])
    assert box(w, s, e, n).buffer(1e-6).contains(union) and box(w, s, e, n).area < 1.2 * union.envelope.area
    from PIL import Image

    im = Image.open(png)
    assert im.mode == "RGBA" and max(im.size) <= 2048
    assert list((archive.root / "mosaics" / "technical").glob("*.tiles/*/*/*/*.png"))  # its map tiles
    assert unpublish_mosaic(archive.root, "technical", "pub-1") and published_mosaic(archive.root, "technical", "pub-1") is None
    assert list((archive.root / "mosaics" / "technical").iterdir()) == []  # nothing of it left


def test_publish_needs_one_service(tmp_path, archive, ortho):
    photos = render_photos(grid_events(0.0)[:4], CAM, tmp_path / "two", base_raster=ortho)
    archive.ingest(photos[:2], "technical", mission="both")
    archive.ingest(photos[2:], "communication", mission="both")
    with pytest.raises(InputError, match="several services"):
        archive.mosaic("technical", "both", tmp_path / "b.tif", publish=True)
    rep = archive.mosaic("technical", "both", tmp_path / "b.tif", publish=True, service="technical")
    assert rep.photos_used == 2
