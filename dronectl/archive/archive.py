"""The archive folder: configuration, blob store, catalogue, and the operations over them.

``open_archive(path)`` creates the folder on first use::

    archive/
      config.toml        services, retention, visibility, catalogue URL
      catalogue.sqlite   the SQLite catalogue (unless config.toml names a PostGIS one)
      blobs/ab/<sha256>  images, content-addressed
      thumbs/ab/<sha256>.jpg
      tmp/               files being written (a crash may leave some; verify --repair removes them)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from dronectl.archive.catalog import AuditEntry, Catalog, ImageRecord, Query, utcnow
from dronectl.archive.ingest import IngestReport, run_ingest
from dronectl.archive.services import DEFAULT_CONFIG, Services, load_config
from dronectl.archive.store import BlobStore
from dronectl.errors import ArchiveError, InputError, OutputError

ENV_ARCHIVE = "DRONECTL_ARCHIVE"
ENV_CATALOG = "DRONECTL_CATALOG_URL"


def default_archive_path() -> Path:
    return Path(os.environ.get(ENV_ARCHIVE) or "archive")


def open_catalog(url: str | None, root: Path, schema: str = "dronectl") -> Catalog:
    if not url or url.startswith("sqlite:"):
        from dronectl.archive.catalog_sqlite import SqliteCatalog

        path = url[len("sqlite:"):] if url else ""
        path = path[2:] if path.startswith("//") else path  # sqlite:///abs/file or sqlite:rel/file
        return SqliteCatalog(Path(path) if path else root / "catalogue.sqlite")
    if url.startswith(("postgresql://", "postgres://", "host=", "dbname=")):
        from dronectl.archive.catalog_postgis import PostgisCatalog

        return PostgisCatalog(url, schema=schema)
    raise InputError(f"catalogue URL '{url}' is neither sqlite: nor postgresql://")


def open_archive(path: Path | str | None = None, catalog_url: str | None = None, create: bool = True) -> "Archive":
    """The archive in ``path`` (default: $DRONECTL_ARCHIVE, else ./archive), created if missing."""
    root = Path(path) if path else default_archive_path()
    if root.exists() and not root.is_dir():
        raise OutputError(f"archive path {root} is a file, not a folder; give --archive a folder")
    config = root / "config.toml"
    if not config.exists():
        if not create:
            raise ArchiveError(f"no archive in {root}: ingest images first, or give --archive PATH")
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / "config.toml.tmp"
        tmp.write_text(DEFAULT_CONFIG, encoding="utf-8")
        os.replace(tmp, config)
    services, cat_cfg = load_config(config)
    url = catalog_url or os.environ.get(ENV_CATALOG) or cat_cfg.get("url")
    store = BlobStore(root)
    store.create()
    return Archive(root, services, open_catalog(url, root, cat_cfg.get("schema", "dronectl")), store)


class AccessDenied(ArchiveError):
    pass


@dataclass
class Archive:
    root: Path
    services: Services
    catalog: Catalog
    store: BlobStore
    cameras_file: str | None = field(default=None)

    # --- ingest ----------------------------------------------------------------------------
    def ingest(self, paths, service: str, mission: str | None = None, workers: int = 1, progress=None,
               interior: bool = False) -> IngestReport:
        """Ingest files and folders into ``service``. Bad files are skipped with their reason."""
        self.services.get(service)
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        if isinstance(paths, (str, Path)):
            paths = [paths]
        return run_ingest(self.catalog, self.root, paths, self.services.get(service).name, mission, workers,
                          progress, interior, self.cameras_file)

    # --- access ----------------------------------------------------------------------------
    def _audit_access(self, asker: str, action: str, recs: list[ImageRecord], detail: str = "") -> None:
        entries = [AuditEntry(utcnow(), asker, action, r.id, r.sha256, r.service, detail)
                   for r in recs if self.services.get(r.service).audit_access]
        self.catalog.audit(entries)

    def visible_services(self, asker: str, service: str | None = None) -> tuple[str, ...]:
        visible = self.services.visible_to(asker)
        if service is None:
            return tuple(visible)
        self.services.get(service)
        if service not in visible:
            raise AccessDenied(f"service '{asker}' may not see images of service '{service}'")
        return (service,)

    def search(self, asker: str, geometry: BaseGeometry | None = None, since: datetime | None = None,
               until: datetime | None = None, mission: str | None = None, service: str | None = None,
               camera: str | None = None, limit: int | None = None, action: str = "search") -> list[ImageRecord]:
        """Images ``asker`` may see that match every criterion; access to audited services is logged."""
        if since and until and since > until:
            raise InputError("--since is after --until: nothing can match")
        q = Query(geometry, since, until, mission, self.visible_services(asker, service), camera, limit)
        out = self.catalog.search(q)
        self._audit_access(asker, action, out)
        return out

    def show(self, asker: str, image_id: int) -> ImageRecord:
        rec = self.catalog.get(image_id)
        if rec is None or not self.services.can_see(asker, rec.service):
            # the same answer for "absent" and "not yours": do not reveal what another service holds
            raise ArchiveError(f"no image {image_id} visible to service '{asker}'")
        self._audit_access(asker, "show", [rec])
        return rec

    def blob_path(self, rec: ImageRecord) -> Path:
        return self.store.blob_path(rec.sha256)

    def thumb_path(self, rec: ImageRecord) -> Path:
        return self.store.thumb_path(rec.sha256)

    # --- retention -------------------------------------------------------------------------
    def hold(self, image_id: int, reason: str, actor: str = "admin") -> ImageRecord:
        from dronectl.archive.retention import hold

        return hold(self, image_id, reason, actor)

    def release(self, image_id: int, reason: str | None = None, all_holds: bool = False,
                actor: str = "admin") -> ImageRecord:
        from dronectl.archive.retention import release

        return release(self, image_id, reason, all_holds, actor)

    def purge(self, now: datetime | None = None, dry_run: bool = False, actor: str = "retention"):
        from dronectl.archive.retention import purge

        return purge(self, now or utcnow(), dry_run, actor)

    def audit_log(self, since: datetime | None = None, image_id: int | None = None, actor: str | None = None):
        return self.catalog.audit_entries(since, image_id, actor)

    # --- integrity, exports ----------------------------------------------------------------
    def verify(self, repair: bool = False):
        from dronectl.archive.verify import verify

        return verify(self, repair)

    def coverage(self, asker: str, mission: str, zone: BaseGeometry):
        from dronectl.archive.coverage import coverage

        return coverage(self, asker, mission, zone)

    def export_stac(self, asker: str, out_dir: Path | str, **criteria):
        from dronectl.archive.stac import export_stac

        return export_stac(self, asker, Path(out_dir), **criteria)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


