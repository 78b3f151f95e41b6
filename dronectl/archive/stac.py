"""Catalogue rows as STAC Items (pystac, with the view extension) and a static STAC catalogue export."""

from __future__ import annotations

import shutil
from pathlib import Path

from shapely.geometry import mapping

from dronectl.archive.catalog import ImageRecord
from dronectl.archive.footprint import off_nadir_deg

MEDIA = {"jpeg": "image/jpeg", "geotiff": "image/tiff; application=geotiff"}


def item_id(rec: ImageRecord) -> str:
    return f"{rec.service}-{rec.id}"


def record_to_item(rec: ImageRecord, image_href: str, thumb_href: str | None = None):
    import pystac
    from pystac.extensions.view import ViewExtension

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
    return item


def items_for(archive, recs, copy_to: Path | None = None):
    out = []
    for rec in recs:
        blob, thumb = archive.blob_path(rec), archive.thumb_path(rec)
        img_href, th_href = str(blob.resolve()), str(thumb.resolve()) if thumb.is_file() else None
        if copy_to is not None:
            d = copy_to / item_id(rec)
            d.mkdir(parents=True, exist_ok=True)
            ext = ".jpg" if rec.format == "jpeg" else ".tif"
            shutil.copyfile(blob, d / f"image{ext}")
            img_href = str((d / f"image{ext}").resolve())
            if th_href:
                shutil.copyfile(thumb, d / "thumbnail.jpg")
                th_href = str((d / "thumbnail.jpg").resolve())
        out.append(record_to_item(rec, img_href, th_href))
    return out


def item_collection(archive, recs) -> dict:
    import pystac

    return pystac.ItemCollection(items_for(archive, recs)).to_dict()


def export_stac(archive, asker: str, out_dir: Path, criteria=None, copy_assets: bool = False) -> tuple[Path, int]:
    """A self-contained static STAC catalogue of the images ``asker`` may see (filtered by ``criteria``, a
    :class:`dronectl.archive.criteria.Criteria`). Returns (catalog.json path, number of items)."""
    import pystac

    recs = archive.search(asker, criteria, action="export")
    out_dir.mkdir(parents=True, exist_ok=True)
    cat = pystac.Catalog(id="dronectl-archive", description=f"dronectl archive export for service {asker}",
                         title="dronectl image archive")
    for item in items_for(archive, recs, out_dir if copy_assets else None):
        cat.add_item(item)
    cat.normalize_hrefs(str(out_dir))
    if copy_assets:
        for item in cat.get_items(recursive=True):
            item.make_asset_hrefs_relative()
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out_dir / "catalog.json", len(recs)
