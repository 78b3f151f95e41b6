"""The synthetic camera: tags a drone writes, pixels where the geometry says, files the archive takes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin

from dronectl.archive import footprint as fp
from dronectl.archive import open_archive
from dronectl.archive.metadata import read_metadata
from dronectl.sim.camera import BaseRaster, CameraEvent, render_photos, sim_camera

LAT0, LON0 = 49.3817, 3.3236
CAM = sim_camera(400, 300)


def marker_raster(crs_epsg: int, marker_lonlat, half_m=200.0, res=0.25, marker_m=2.0) -> BaseRaster:
    """A dark raster with one bright square (marker_m wide) centred on ``marker_lonlat``."""
    fwd = Transformer.from_crs("EPSG:4326", f"EPSG:{crs_epsg}", always_xy=True)
    mx, my = fwd.transform(*marker_lonlat)
    x0, y1 = mx - half_m, my + half_m
    n = int(2 * half_m / res)
    rgb = np.full((n, n, 3), 30, np.uint8)
    k = int(marker_m / res / 2)
    c = n // 2
    rgb[c - k:c + k, c - k:c + k] = 250
    return BaseRaster(rgb, from_origin(x0, y1, res, res), CRS.from_epsg(crs_epsg))


def expected_pixel(cam, ev_lon, ev_lat, alt, yaw_deg, target_lonlat):
    """Where a ground point appears in a nadir image, computed the other way round (camera frame)."""
    e, n = fp.lonlat_to_enu(ev_lon, ev_lat, *target_lonlat)
    psi = math.radians(yaw_deg)
    right = e * math.cos(psi) - n * math.sin(psi)
    ahead = e * math.sin(psi) + n * math.cos(psi)
    a, b = cam.sensor_width_mm / (2 * cam.focal_length_mm), cam.sensor_height_mm / (2 * cam.focal_length_mm)
    col = (right / alt / a + 1) * cam.image_width_px / 2
    row = (1 - ahead / alt / b) * cam.image_height_px / 2
    return col, row


def bright_centroid(path):
    from PIL import Image

    arr = np.asarray(Image.open(path).convert("L"), dtype=float)
    rows, cols = np.nonzero(arr > 140)
    assert len(rows) > 0, "marker not in the image"
    return cols.mean() + 0.5, rows.mean() + 0.5


@pytest.mark.parametrize("epsg, yaw", [(2154, 0.0), (2154, 30.0), (32631, -75.0)])
def test_marker_lands_where_the_geometry_says(tmp_path, epsg, yaw):
    marker = fp.enu_to_lonlat(LON0, LAT0, 12.0, -7.0)  # 12 m east, 7 m south of the camera
    base = marker_raster(epsg, marker)
    if epsg != 2154:  # as a user's orthophoto file in another CRS
        base = base.write(tmp_path / "ortho.tif")
    ev = CameraEvent(LAT0, LON0, 50.0, 1, 0.0)
    path = render_photos([ev], CAM, tmp_path / "out", base_raster=base, yaw_deg=yaw, sensor_noise=0)[0]
    col, row = bright_centroid(path)
    ecol, erow = expected_pixel(CAM, LON0, LAT0, 50.0, yaw, marker)
    assert col == pytest.approx(ecol, abs=1.5) and row == pytest.approx(erow, abs=1.5)


def test_tags_and_ingest(tmp_path):
    events = [{"lat_deg": LAT0 + 0.0004 * i, "lon_deg": LON0, "alt_rel_m": 70.0, "image_index": i + 1,
               "time_s": 3.5 * i} for i in range(4)]
    paths = render_photos(events, "sim", tmp_path / "photos", yaw_deg=[10, 20, 30, 40])
    assert [p.name for p in paths] == ["DJI_0001.JPG", "DJI_0002.JPG", "DJI_0003.JPG", "DJI_0004.JPG"]
    m = read_metadata(paths[2])
    assert (m.make, m.model, m.width_px, m.height_px) == ("dronectl", "SimCam", 1600, 1200)
    assert m.lat_deg == pytest.approx(LAT0 + 0.0008, abs=1e-7) and m.relative_altitude_m == 70.0
    assert m.gimbal_pitch_deg == -90 and m.gimbal_yaw_deg == 30 and m.captured_at.second == 7
    with open_archive(tmp_path / "arch") as a:
        rep = a.ingest(paths, "communication", mission="sim-1")
        assert len(rep.ingested) == 4 and all(r["flags"] == [] for r in rep.ingested)
        for ev, rec in zip(events, a.search("communication")):
            expected = fp.photo_footprint(ev["lon_deg"], ev["lat_deg"], 70.0,
                                          fp.Intrinsics(6.4, 4.8, 4.5), -90.0, rec.yaw_deg, 0.0).polygon
            assert rec.camera == "sim" and rec.footprint.symmetric_difference(expected).area < 1e-12


def test_default_base_is_a_city(tmp_path):
    from PIL import Image

    p = render_photos([CameraEvent(LAT0, LON0, 60.0, 0, 0.0)], CAM, tmp_path)[0]
    arr = np.asarray(Image.open(p))
    assert arr.std() > 20  # not a flat colour: streets, roofs, trees
    assert (arr.reshape(-1, 3) == 0).all(axis=1).mean() < 0.01  # the base covers the whole view


def test_no_events_no_files(tmp_path):
    assert render_photos([], "sim", tmp_path) == []


def test_a_second_flight_into_the_same_folder_goes_on_numbering(tmp_path):
    """As a real camera does: a second flight's photos follow the first one's, never over them."""
    first = render_photos([CameraEvent(LAT0, LON0, 60.0, i, i) for i in range(1, 4)], CAM, tmp_path)
    before = {p.name: p.read_bytes() for p in first}
    assert sorted(before) == ["DJI_0001.JPG", "DJI_0002.JPG", "DJI_0003.JPG"]
    second = render_photos([CameraEvent(LAT0 + 0.001, LON0, 60.0, i, i) for i in range(1, 3)], CAM, tmp_path)
    assert [p.name for p in second] == ["DJI_0004.JPG", "DJI_0005.JPG"]
    assert {p.name: p.read_bytes() for p in first} == before  # the first flight's photos untouched
    other = render_photos([CameraEvent(LAT0, LON0, 60.0, 1, 1)], CAM, tmp_path, name="M2_{index:04d}.JPG")
    assert [p.name for p in other] == ["M2_0001.JPG"]  # another name pattern starts at its own numbers
