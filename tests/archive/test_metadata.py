"""Metadata readers: EXIF, DJI XMP, GeoTIFF, and their refusals."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dronectl.archive.metadata import UnreadableImage, parse_dji_xmp, read_jpeg, read_metadata
from tests.archive.badfiles import BOMB_XMP, good_jpeg, jpeg_bytes, photo_exif_without_gps, write_geotiff
from tests.archive.conftest import LAT0, LON0, line_events


def test_synthetic_photo_metadata(make_photos):
    p = make_photos(line_events(1, alt_m=72.5), yaw_deg=30.0)[0]
    m = read_metadata(p)
    assert m.format == "jpeg" and (m.width_px, m.height_px) == (320, 240)
    assert m.lat_deg == pytest.approx(LAT0, abs=1e-7) and m.lon_deg == pytest.approx(LON0, abs=1e-7)
    assert m.captured_at == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
    assert (m.make, m.model) == ("dronectl", "SimCam")
    assert m.focal_length_mm == pytest.approx(4.5)
    assert m.relative_altitude_m == pytest.approx(72.5)
    assert m.gimbal_pitch_deg == -90 and m.gimbal_yaw_deg == pytest.approx(30) and m.gimbal_roll_deg == 0
    assert m.flight_yaw_deg == pytest.approx(30)
    assert m.flags == []


def test_xmp_as_elements_and_attributes():
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:GimbalPitchDegree="-45.5">
        <drone-dji:RelativeAltitude>+33.10</drone-dji:RelativeAltitude>
        <drone-dji:GimbalYawDegree>-120.0</drone-dji:GimbalYawDegree>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    assert parse_dji_xmp(packet) == {"gimbal_pitch_deg": -45.5, "relative_altitude_m": 33.1, "gimbal_yaw_deg": -120.0}
    assert parse_dji_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>") == {}


def test_entity_bomb_is_refused_quickly():
    with pytest.raises(UnreadableImage, match="XMP packet rejected"):
        parse_dji_xmp(BOMB_XMP)


@pytest.mark.parametrize("data, match", [
    (lambda: good_jpeg()[:-300], "truncated"),
    (lambda: jpeg_bytes(photo_exif_without_gps()), "no GPS"),
    (lambda: jpeg_bytes(), "no GPS"),
])
def test_refusals(data, match):
    with pytest.raises(UnreadableImage, match=match):
        read_jpeg(data())


def test_time_zone_without_offset_is_flagged():
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (49.0, 0.0, 0.0), 3: "E", 4: (3.0, 0.0, 0.0)})
    exif.get_ifd(0x8769)[0x9003] = "2026:06:01 12:00:00"
    m = read_jpeg(jpeg_bytes(exif))
    assert m.captured_at == datetime(2026, 6, 1, 12, tzinfo=timezone.utc) and "time_zone_assumed_utc" in m.flags


def test_geotiff_outline(tmp_path):
    from shapely.geometry import box

    p = write_geotiff(tmp_path / "ortho.tif")
    m = read_metadata(p)
    assert m.format == "geotiff" and m.crs == "EPSG:2154"
    assert m.captured_at == datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    # valid data is the upper-right triangle: about half of the bounds, inside them
    from pyproj import Transformer
    from shapely.ops import transform

    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform
    outline = transform(to_l93, m.outline_lonlat)
    bounds = box(740000, 6921000 - 80, 740100, 6921000)
    assert outline.area == pytest.approx(bounds.area / 2, rel=0.05)
    assert bounds.buffer(0.5).contains(outline)


def test_geotiff_without_crs(tmp_path):
    with pytest.raises(UnreadableImage, match="no CRS"):
        read_metadata(write_geotiff(tmp_path / "x.tif", crs=None))


def test_embedded_exif_thumbnail(make_photos):
    import io

    from PIL import Image

    with_thumb = read_metadata(make_photos(line_events(1))[0])
    assert Image.open(io.BytesIO(with_thumb.embedded_thumbnail)).size == (320, 240)
    without = read_metadata(make_photos(line_events(1), folder="plain", embed_thumbnail=False)[0])
    assert without.embedded_thumbnail is None
