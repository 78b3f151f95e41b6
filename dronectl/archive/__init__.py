"""The image archive: ingest JPEG/GeoTIFF, footprints, catalogue by service, retention and audit.

Python entry point::

    from dronectl.archive import open_archive
    with open_archive("archive") as a:
        report = a.ingest(["photos/"], service="technical", mission="m-42", workers=2)
        hits = a.search("technical", geometry=zone_polygon)
"""

from dronectl.archive.archive import AccessDenied, Archive, NoSuchImage, open_archive
from dronectl.archive.catalog import ImageRecord, Query
from dronectl.archive.ingest import IngestReport

__all__ = ["Archive", "open_archive", "AccessDenied", "NoSuchImage", "ImageRecord", "Query", "IngestReport"]
