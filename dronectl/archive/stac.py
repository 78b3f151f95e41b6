"""Catalogue rows as STAC Items (with the view extension) and a static STAC catalogue export (read by pystac)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from shapely.geometry import mapping

from dronectl.archive.catalog import ImageRecord
from dronectl.archive.footprint import off_nadir_deg

MEDIA = {"jpeg": "image/jpeg", "geotiff": "image/tiff; application=geotiff"}


def item_id(rec: ImageRecord) -> str:
    """SERVICE-PUBLICID: the public id, never the row id (row ids would count another service's images)."""
    return f"{rec.service}-{rec.public_id}"


STAC_VERSION = "1.1.0"
VIEW_EXTENSION = "https://stac-extensions.github.io/view/v1.0.0/schema.json"


def _time(dt) -> str:
    """RFC 3339 in UTC with a Z, microseconds only when there are some (as pystac writes it)."""
    from datetime import timezone

    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond:06d}" if dt.microsecond else "") + "Z"


def item_dict(rec: ImageRecord, image_href: str, thumb_href: str | None = None, links: list | None = None) -> dict:
    """A catalogue row as a STAC Item (1.1.0, view extension), built as a plain dict: what pystac would write for
    the same Item (``tests/archive/test_stac.py`` holds the two equal) at a fraction of the cost, so that a search
    page, an export of 100,000 images or an ndjson dump costs the JSON encoding and little else."""
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
    on = 0.0 if rec.format == "geotiff" else off_nadir_deg(rec.pitch_deg)
    if on is not None:
        props["view:off_nadir"] = round(on, 3) if rec.format != "geotiff" else 0.0
    if rec.yaw_deg is not None:
        props["view:azimuth"] = round(rec.yaw_deg % 360.0, 3)
    props["datetime"] = _time(rec.captured_at or rec.ingested_at)
    image = {"href": image_href}
    if MEDIA.get(rec.format):
        image["type"] = MEDIA[rec.format]
    if rec.source_name is not None:
        image["title"] = rec.source_name
    image["roles"] = ["data"]
    assets = {"image": image}
    if thumb_href:
        assets["thumbnail"] = {"href": thumb_href, "type": "image/jpeg", "roles": ["thumbnail"]}
    return {"type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": [VIEW_EXTENSION],
            "id": item_id(rec), "geometry": mapping(rec.footprint), "bbox": list(rec.footprint.bounds),
            "properties": props, "links": list(links or ()), "assets": assets}


def _hrefs(archive, rec: ImageRecord, copy_to: Path | None = None) -> tuple[str, str | None]:
    """(image, thumbnail) hrefs of a row in a file export: the archive's own files, or copies beside the item."""
    blob, thumb = archive.blob_path(rec), archive.thumb_path(rec)
    img_href, th_href = os.path.abspath(blob), os.path.abspath(thumb) if thumb.is_file() else None
    if copy_to is not None:
        d = copy_to / item_id(rec)
        d.mkdir(parents=True, exist_ok=True)
        ext = ".jpg" if rec.format == "jpeg" else ".tif"
        shutil.copyfile(blob, d / f"image{ext}")
        img_href = f"./image{ext}"
        if th_href:
            shutil.copyfile(thumb, d / "thumbnail.jpg")
            th_href = "./thumbnail.jpg"
    return img_href, th_href


def item_collection(archive, recs) -> dict:
    """The rows as a STAC ItemCollection (what ``archive search --format stac`` prints)."""
    return {"type": "FeatureCollection", "features": [item_dict(r, *_hrefs(archive, r)) for r in recs]}


def _dump(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def export_stac(archive, asker: str, out_dir: Path, criteria=None, copy_assets: bool = False,
                progress=None) -> tuple[Path, int]:
    """A self-contained static STAC catalogue of the images ``asker`` may see (filtered by ``criteria``, a
    :class:`dronectl.archive.criteria.Criteria`): ``catalog.json``, one ``ID/ID.json`` per item (relative links,
    so the folder can move), and ``items.ndjson`` (one Item a line, with absolute asset hrefs: what bulk loaders
    such as ``pypgstac load items`` read). Written item by item (no catalogue object in memory);
    ``progress(done, total)``. Returns (catalog.json path, number of items)."""
    recs = archive.search(asker, criteria, action="export")
    out_dir.mkdir(parents=True, exist_ok=True)
    root = {"rel": "root", "href": "../catalog.json", "type": "application/json",
            "title": "dronectl image archive"}
    parent = {**root, "rel": "parent"}
    item_links = []
    with open(out_dir / "items.ndjson", "w", encoding="utf-8") as nd:
        for done, rec in enumerate(recs, start=1):
            iid = item_id(rec)
            d = out_dir / iid
            d.mkdir(parents=True, exist_ok=True)
            image, thumb = _hrefs(archive, rec, out_dir if copy_assets else None)
            item = item_dict(rec, image, thumb, [root, parent])
            (d / f"{iid}.json").write_text(_dump(item), encoding="utf-8")
            if copy_assets:  # the ndjson lines stand alone: absolute hrefs
                for asset in item["assets"].values():
                    asset["href"] = str((d / asset["href"]).resolve())
            nd.write(_dump({**item, "links": []}) + "\n")
            item_links.append({"rel": "item", "href": f"./{iid}/{iid}.json", "type": "application/geo+json"})
            if progress and (done % 1000 == 0 or done == len(recs)):
                progress(done, len(recs))
    catalog = {"type": "Catalog", "id": "dronectl-archive", "stac_version": STAC_VERSION,
               "description": f"dronectl archive export for service {asker}", "title": "dronectl image archive",
               "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json",
                          "title": "dronectl image archive"}] + item_links}
    (out_dir / "catalog.json").write_text(_dump(catalog), encoding="utf-8")
    return out_dir / "catalog.json", len(recs)
