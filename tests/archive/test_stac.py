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
    recs = {f"{r.service}-{r.id}": r for r in archive.search("technical")}
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
