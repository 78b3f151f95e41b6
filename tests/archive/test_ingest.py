"""Ingest of generated photos and GeoTIFFs, duplicates, workers, and every bad input."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from dronectl.archive import footprint as fp
from dronectl.archive.catalog import Query
from tests.archive.badfiles import write_bad_inputs, write_geotiff
from tests.archive.conftest import line_events


def _metric(poly, lon0, lat0):
    from shapely.geometry import Polygon

    return Polygon([fp.lonlat_to_enu(lon0, lat0, x, y) for x, y in poly.exterior.coords])


def test_ingest_generated_photos_with_correct_footprints(archive, make_photos):
    events = line_events(6, alt_m=80.0)
    paths = make_photos(events, yaw_deg=35.0)
    rep = archive.ingest(paths, "technical", mission="m-1")
    assert len(rep.ingested) == 6 and not rep.duplicates and not rep.skipped
    recs = archive.catalog.search(Query())
    assert [r.source_name for r in recs] == [p.name for p in paths]
    # the sim camera: 6.4 x 4.8 mm behind 4.5 mm -> at 80 m a 113.8 m x 85.3 m rectangle, turned 35 deg
    w, h = 6.4 * 80 / 4.5, 4.8 * 80 / 4.5
    for ev, rec in zip(events, recs):
        assert rec.service == "technical" and rec.mission == "m-1" and rec.camera == "sim"
        assert rec.height_m == pytest.approx(80.0) and rec.pitch_deg == -90 and rec.yaw_deg == pytest.approx(35)
        assert rec.flags == ()
        m = _metric(rec.footprint, ev.lon_deg, ev.lat_deg)
        assert m.area == pytest.approx(w * h, rel=1e-6)
        assert m.centroid.distance(Point(0, 0)) < 0.01
        # the image width lies across the heading: its edges run at bearing 35 + 90 = 125 deg
        import math

        c = list(m.exterior.coords)
        for (x0, y0), (x1, y1) in zip(c, c[1:]):
            if abs(math.hypot(x1 - x0, y1 - y0) - w) < 0.01:
                assert math.degrees(math.atan2(x1 - x0, y1 - y0)) % 180 == pytest.approx(125, abs=0.01)
        assert archive.store.has(rec.sha256) and archive.store.thumb_path(rec.sha256).is_file()
        assert archive.store.blob_path(rec.sha256).read_bytes() == paths[ev.image_index].read_bytes()


def test_duplicates_per_service(archive, make_photos):
    paths = make_photos(line_events(3))
    assert len(archive.ingest(paths, "technical").ingested) == 3
    again = archive.ingest(paths, "technical")
    assert len(again.duplicates) == 3 and not again.ingested
    # the same bytes in another service: new rows, one blob each
    other = archive.ingest(paths, "communication")
    assert len(other.ingested) == 3
    assert archive.catalog.count() == 6
    assert sum(1 for _ in archive.store.iter_blobs()) == 3


def test_two_workers_same_result(archive, make_photos):
    paths = make_photos(line_events(8))
    rep = archive.ingest(paths, "technical", workers=2)
    assert len(rep.ingested) == 8
    assert sorted(r["path"] for r in rep.ingested) == sorted(str(p) for p in paths)
    assert archive.verify().clean


def test_folder_walk_and_progress(archive, make_photos, tmp_path):
    make_photos(line_events(3), folder="card/DCIM/100MEDIA")
    (tmp_path / "card" / "DCIM" / "100MEDIA" / "clip.mp4").write_bytes(b"\x00" * 10)
    seen = []
    rep = archive.ingest([tmp_path / "card"], "technical", progress=lambda d, t: seen.append((d, t)))
    assert len(rep.ingested) == 3 and not rep.skipped  # folders: only image suffixes are taken
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


def test_geotiff_ingest(archive, tmp_path):
    p = write_geotiff(tmp_path / "ortho.tif")
    rep = archive.ingest([p], "technical", mission="ortho")
    assert len(rep.ingested) == 1
    rec = archive.catalog.get(rep.ingested[0]["id"])
    assert rec.format == "geotiff" and rec.extra["crs"] == "EPSG:2154"
    assert rec.footprint.geom_type in ("Polygon", "MultiPolygon")
    assert archive.store.thumb_path(rec.sha256).is_file()


def test_every_bad_input_is_skipped_with_its_reason(archive, make_photos, tmp_path):
    good = make_photos(line_events(2))
    expected = write_bad_inputs(tmp_path / "bad", good[0])
    rep = archive.ingest([*good, tmp_path / "bad", tmp_path / "no-such-folder"], "police")
    reasons = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in rep.skipped}
    assert len(rep.ingested) == 2
    for name, word in expected.items():
        assert name in reasons, f"{name} was not skipped"
        assert word.lower() in reasons[name].lower(), (name, reasons[name])
        assert "\n" not in reasons[name]
    assert "no such file" in reasons["no-such-folder"]
    # nothing of them reached the store or the catalogue
    assert archive.catalog.count() == 2
    assert sum(1 for _ in archive.store.iter_blobs()) == 2
    assert archive.verify().clean


def test_missing_attitude_is_flagged(archive, tmp_path):
    from tests.archive.badfiles import good_jpeg

    p = tmp_path / "noxmp.jpg"
    p.write_bytes(good_jpeg(xmp=False))
    rep = archive.ingest([p], "technical")
    # no XMP: no height above ground either -> the footprint is the position only, and says so
    assert rep.ingested[0]["flags"] == ["height_unknown"]


def test_unknown_service_is_refused(archive, make_photos):
    from dronectl.errors import InputError

    with pytest.raises(InputError, match="unknown service 'firemen'"):
        archive.ingest(make_photos(line_events(1)), "firemen")


@pytest.mark.parametrize("embedded", [True, False])
def test_thumbnails_from_preview_or_decoded(archive, make_photos, embedded):
    import io

    from PIL import Image

    paths = make_photos(line_events(2), embed_thumbnail=embedded)
    archive.ingest(paths, "technical")
    for rec in archive.catalog.iter_all():
        im = Image.open(io.BytesIO(archive.store.thumb_path(rec.sha256).read_bytes()))
        assert im.format == "JPEG" and max(im.size) <= 256 and im.size[0] / im.size[1] == pytest.approx(4 / 3, rel=0.02)


def test_a_jpeg_with_an_mpf_preview_is_ingested_and_its_preview_is_the_thumbnail(archive, make_photos, tmp_path):
    """DJI and many cameras embed a 960 px preview in an APP2 MPF segment (Pillow calls such files MPO)."""
    import io

    from PIL import Image

    src = make_photos(line_events(1), embed_thumbnail=False)[0]
    with Image.open(src) as im:
        exif, xmp = im.info["exif"], im.info.get("xmp")
        primary = im.convert("RGB")
    preview = Image.new("RGB", (960, 720), (255, 0, 255))  # a colour the photo has nowhere: it tells the source
    mpo = tmp_path / "DJI_MPF.JPG"
    primary.save(mpo, "MPO", save_all=True, append_images=[preview], exif=exif, xmp=xmp, quality=90)
    from dronectl.archive.metadata import read_jpeg

    meta = read_jpeg(mpo.read_bytes())
    assert meta.embedded_thumbnail is not None and Image.open(io.BytesIO(meta.embedded_thumbnail)).size == (960, 720)
    rep = archive.ingest([mpo], "technical", mission="mpf")
    assert len(rep.ingested) == 1, rep.skipped
    rec = archive.catalog.get(rep.ingested[0]["id"])
    assert rec.lat_deg == pytest.approx(meta.lat_deg) and rec.height_m == pytest.approx(60.0)
    thumb = Image.open(io.BytesIO(archive.store.thumb_path(rec.sha256).read_bytes())).convert("RGB")
    assert max(thumb.size) == 256 and thumb.getpixel((10, 10)) == pytest.approx((255, 0, 255), abs=12)


def test_catalogue_first_then_thumbnails_resumable(archive, make_photos):
    """Photos without an embedded preview: rows first, no thumbnail yet; the second pass (or a later run) makes them."""
    paths = make_photos(line_events(4), embed_thumbnail=False)
    rep = archive.ingest(paths, "technical", mission="cf", thumbnails=False)
    assert len(rep.ingested) == 4 and rep.thumbnails == 0
    recs = archive.search("technical", mission="cf")
    assert len(recs) == 4 and not any(archive.store.thumb_path(r.sha256).is_file() for r in recs)
    assert len(archive.verify().missing_thumbs) == 4  # what a crash between the passes leaves
    seen = []
    done = archive.make_thumbnails(progress=lambda d, t: seen.append((d, t)))  # resumed later, from the rows
    assert done.thumbnails == 4 and seen[-1] == (4, 4)
    assert all(archive.store.thumb_path(r.sha256).is_file() for r in recs) and archive.verify().clean
    assert archive.make_thumbnails().thumbnails == 0  # nothing left to do


def test_ingesting_again_completes_missing_thumbnails(archive, make_photos):
    paths = make_photos(line_events(3), embed_thumbnail=False)
    archive.ingest(paths, "technical", thumbnails=False)
    rep = archive.ingest(paths, "technical", workers=2)
    assert len(rep.duplicates) == 3 and rep.thumbnails == 3
    assert archive.verify().clean


def test_embedded_previews_make_thumbnails_in_the_first_pass(archive, make_photos):
    paths = make_photos(line_events(3), embed_thumbnail=True)
    rep = archive.ingest(paths, "technical", thumbnails=False)
    assert rep.thumbnails == 0 and archive.verify().clean  # nothing was waiting for the second pass
