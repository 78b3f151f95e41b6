"""STAC export (pystac, view extension), read back and checked with pystac."""

from __future__ import annotations

import json

import pystac
import pytest
from pystac.extensions.view import ViewExtension
from shapely.geometry import shape

from tests.archive.conftest import LAT0, line_events


def test_export_reads_back_with_pystac(archive, make_photos, tmp_path):
    archive.ingest(make_photos(line_events(3), yaw_deg=200.0), "technical", mission="m-7")
    archive.ingest(make_photos(line_events(2, lat0=LAT0 + 0.004), folder="p"), "police", mission="m-7")
    path, n = archive.export_stac("technical", tmp_path / "stac", mission="m-7")
    assert n == 3  # police images are not exported to technical
    cat = pystac.Catalog.from_file(str(path))
    items = list(cat.get_items(recursive=True))
    assert len(items) == 3
    recs = {f"{r.service}-{r.public_id}": r for r in archive.search("technical")}
    for item in items:
        d = item.to_dict()
        again = pystac.Item.from_dict(json.loads(json.dumps(d)))  # strict round trip
        assert again.id == item.id and again.datetime == item.datetime
        rec = recs[item.id]
        assert shape(item.geometry).equals_exact(rec.footprint, 1e-9)
        assert item.bbox == pytest.approx(list(rec.footprint.bounds))
        assert ViewExtension.has_extension(item)
        view = ViewExtension.ext(item)
        assert view.off_nadir == 0.0 and view.azimuth == pytest.approx(200.0)
        assert item.properties["dronectl:mission"] == "m-7" and item.properties["instruments"] == ["sim"]
        assert item.assets["image"].media_type == "image/jpeg"
        assert item.assets["thumbnail"].roles == ["thumbnail"]
    # item files are where the catalogue's links say
    for link in cat.get_item_links():
        assert (tmp_path / "stac" / link.href).resolve().is_file()


def test_export_with_assets_copied(archive, make_photos, tmp_path):
    archive.ingest(make_photos(line_events(2)), "technical")
    path, n = archive.export_stac("technical", tmp_path / "out", copy_assets=True)
    for item in pystac.Catalog.from_file(str(path)).get_items(recursive=True):
        href = item.assets["image"].get_absolute_href()
        assert href.startswith(str(tmp_path / "out")) and open(href, "rb").read(3) == b"\xff\xd8\xff"


def _pystac_item(rec, image_href, thumb_href):
    """The same Item made by pystac's own classes: the reference item_dict must match."""
    from shapely.geometry import mapping

    from dronectl.archive.footprint import off_nadir_deg
    from dronectl.archive.stac import MEDIA, item_id

    props = {"dronectl:service": rec.service, "dronectl:sha256": rec.sha256, "dronectl:format": rec.format,
             "dronectl:flags": list(rec.flags), "dronectl:interior": rec.interior,
             "dronectl:ingested": rec.ingested_at.isoformat().replace("+00:00", "Z")}
    if rec.mission:
        props["dronectl:mission"] = rec.mission
    if rec.height_m is not None:
        props["dronectl:height_m"] = rec.height_m
    if rec.camera or rec.model:
        props["instruments"] = [rec.camera or rec.model]
    if rec.holds:
        props["dronectl:holds"] = list(rec.holds)
    item = pystac.Item(id=item_id(rec), geometry=mapping(rec.footprint), bbox=list(rec.footprint.bounds),
                       datetime=rec.captured_at or rec.ingested_at, properties=props)
    view = ViewExtension.ext(item, add_if_missing=True)
    on = off_nadir_deg(rec.pitch_deg)
    if on is not None:
        view.off_nadir = round(on, 3)
    if rec.yaw_deg is not None:
        view.azimuth = round(rec.yaw_deg % 360.0, 3)
    if rec.format == "geotiff":
        view.off_nadir = 0.0
    item.add_asset("image", pystac.Asset(href=image_href, media_type=MEDIA.get(rec.format), roles=["data"],
                                         title=rec.source_name))
    if thumb_href:
        item.add_asset("thumbnail", pystac.Asset(href=thumb_href, media_type="image/jpeg", roles=["thumbnail"]))
    return item.to_dict(include_self_link=False, transform_hrefs=False)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["jpeg", "geotiff"]), st.one_of(st.none(), st.floats(-180, 180)),
       st.one_of(st.none(), st.floats(-720, 720)), st.one_of(st.none(), st.floats(0, 500)),
       st.datetimes(min_value=__import__("datetime").datetime(1990, 1, 1),
                    max_value=__import__("datetime").datetime(2100, 1, 1)),
       st.lists(st.text(max_size=8), max_size=2), st.one_of(st.none(), st.text(max_size=12)), st.booleans())
def test_item_dict_is_what_pystac_writes(fmt, pitch, yaw, height, when, holds, mission, thumb):
    """The plain-dict Item (fast enough for 100,000-image exports) equals pystac's Item for the same row."""
    from datetime import timezone

    from shapely.geometry import box

    from dronectl.archive.catalog import ImageRecord
    from dronectl.archive.stac import item_dict

    when = when.replace(tzinfo=timezone.utc)
    rec = ImageRecord(sha256="ab" * 32, service="technical", format=fmt, footprint=box(3.3, 49.3, 3.31, 49.31),
                      ingested_at=when, captured_at=when, mission=mission or None, source_name="DJI_0001.JPG",
                      camera="sim", height_m=height, pitch_deg=pitch, yaw_deg=yaw, holds=tuple(holds), id=7)
    th = "http://h/t.jpg" if thumb else None
    assert item_dict(rec, "http://h/i.jpg", th) == _pystac_item(rec, "http://h/i.jpg", th)


def test_export_writes_an_ndjson_of_the_items_with_absolute_hrefs(archive, make_photos, tmp_path):
    archive.ingest(make_photos(line_events(3)), "technical", mission="m-1")
    path, n = archive.export_stac("technical", tmp_path / "out", copy_assets=True)
    lines = (tmp_path / "out" / "items.ndjson").read_text().splitlines()
    assert n == 3 and len(lines) == 3
    catalog_items = {i.id: i for i in pystac.Catalog.from_file(str(path)).get_items(recursive=True)}
    for line in lines:
        item = pystac.Item.from_dict(json.loads(line))
        assert item.id in catalog_items
        href = item.assets["image"].href
        assert href.startswith("/") and open(href, "rb").read(3) == b"\xff\xd8\xff"
