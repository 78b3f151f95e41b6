"""Writers of the bad inputs every ingest must survive, and of good GeoTIFFs."""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from dronectl.sim.camera import dji_xmp, photo_exif, sim_camera

BOMB_XMP = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
            + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                       for i in range(1, 10))
            + b']>\n<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:RelativeAltitude="&lol9;"/>'
              b'</rdf:RDF></x:xmpmeta>')

WHEN = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def jpeg_bytes(exif=None, xmp=None, size=(64, 48)) -> bytes:
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    kw = {}
    if exif is not None:
        kw["exif"] = exif
    if xmp is not None:
        kw["xmp"] = xmp
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def good_jpeg(lat=49.3817, lon=3.3236, alt=60.0, xmp=True) -> bytes:
    cam = sim_camera()
    return jpeg_bytes(photo_exif(cam, lat, lon, WHEN, alt), dji_xmp(alt, -90, 0) if xmp else None)


def write_bad_inputs(folder: Path, good_photo: Path) -> dict[str, str]:
    """Write each bad input into ``folder``; returns {file name: word expected in the skip reason}."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good_photo.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) * 6 // 10])
    (folder / "nogps.jpg").write_bytes(jpeg_bytes(photo_exif_without_gps()))
    (folder / "notes.jpg").write_text("these are the pilot's notes, not a photo\n")
    (folder / "bomb.jpg").write_bytes(jpeg_bytes(photo_exif(sim_camera(), 49.38, 3.32, WHEN, 60.0), BOMB_XMP))
    write_geotiff(folder / "nocrs.tif", crs=None)
    (folder / "empty.jpg").write_bytes(b"")
    os.symlink(folder / "vanished-from-the-card.jpg", folder / "dangling.jpg")
    expected = {"truncated.jpg": "truncated", "nogps.jpg": "GPS", "notes.jpg": "not a JPEG",
                "bomb.jpg": "XMP", "nocrs.tif": "CRS", "empty.jpg": "empty", "dangling.jpg": "symbolic link"}
    if os.geteuid() != 0:  # root reads any file whatever its mode
        locked = folder / "locked.jpg"
        locked.write_bytes(data)
        locked.chmod(0)
        expected["locked.jpg"] = "cannot read"
    return expected


def photo_exif_without_gps():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "dronectl", "SimCam"
    exif.get_ifd(0x8769)[0x9003] = "2026:11:22 10:00:00"
    return exif


def write_geotiff(path: Path, crs="EPSG:2154", origin=(740000.0, 6921000.0), res=0.5, size=(200, 160),
                  nodata_triangle=True, datetime_tag="2026:11:20 09:30:00") -> Path:
    import rasterio
    from rasterio.transform import from_origin

    w, h = size
    rng = np.random.default_rng(3)
    arr = rng.integers(1, 255, (3, h, w), dtype=np.uint8)
    if nodata_triangle:  # lower-left half is nodata: the outline is a triangle, half the bounds
        rows, cols = np.mgrid[0:h, 0:w]
        arr[:, rows * w > cols * h] = 0
    kw = {"crs": crs} if crs else {}
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", nodata=0,
                       transform=from_origin(origin[0], origin[1], res, res), **kw) as ds:
        ds.write(arr)
        if datetime_tag:
            ds.update_tags(TIFFTAG_DATETIME=datetime_tag)
    return path
