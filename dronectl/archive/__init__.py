"""The image archive: ingest JPEG/GeoTIFF, footprints, catalogue by service, retention and audit.

Python entry point::

    from dronectl.archive import open_archive
    with open_archive("archive") as a:
        report = a.ingest(["photos/"], service="technical", mission="m-42", workers=2)
        hits = a.search("technical", geometry=zone_polygon)
"""

# Imported on first use (PEP 562), so that ``dronectl archive --help`` and the light modules of this package
# (criteria) do not pay for the catalogue, rasterio and Pillow.
_EXPORTS = {"Archive": "archive", "open_archive": "archive", "AccessDenied": "archive",
            "NoSuchImage": "archive",
            "ImageRecord": "catalog", "Query": "catalog", "IngestReport": "ingest"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dronectl.archive' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"dronectl.archive.{_EXPORTS[name]}"), name)
