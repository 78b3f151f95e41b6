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
from typing import TYPE_CHECKING

from shapely.geometry.base import BaseGeometry

from dronectl.archive.catalog import AuditEntry, Catalog, Hit, ImageRecord, Query, utcnow
from dronectl.archive.criteria import Criteria
from dronectl.archive.ingest import IngestReport, run_ingest
from dronectl.archive.services import DEFAULT_CONFIG, Services, load_config
from dronectl.archive.store import BlobStore
from dronectl.errors import ArchiveError, InputError, OutputError

if TYPE_CHECKING:
    from dronectl.archive.users import User

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


def owner_only() -> None:
    """From now on this process creates files and folders for its own account only (umask 077): the archive
    holds police images, the users table and the audit log, whatever the umask of the shell was."""
    old = os.umask(0o077)
    os.umask(old | 0o077)


def check_private(root: Path | str) -> None:
    """Refuse an archive folder that other accounts of this machine may enter (group or other permission bits):
    ``serve`` and ``ingest`` call it unless told ``--shared-archive``."""
    root = Path(root)
    try:
        mode = root.stat().st_mode & 0o777
    except OSError:
        return  # no archive yet: open_archive says so, or creates it owner-only
    if mode & 0o077:
        raise ArchiveError(f"archive {root} can be read by other accounts of this machine (mode {mode:o}): "
                           f"chmod -R go-rwx {root}, or give --shared-archive if they may")


def open_archive(path: Path | str | None = None, catalog_url: str | None = None, create: bool = True) -> "Archive":
    """The archive in ``path`` (default: $DRONECTL_ARCHIVE, else ./archive), created if missing, owner-only
    (folders 0700, files 0600; see :func:`owner_only`)."""
    root = Path(path) if path else default_archive_path()
    if root.exists() and not root.is_dir():
        raise OutputError(f"archive path {root} is a file, not a folder; give --archive a folder")
    owner_only()
    config = root / "config.toml"
    if not config.exists():
        if not create:
            raise ArchiveError(f"no archive in {root}: ingest images first, or give --archive PATH")
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)  # a folder made before (by the user, or a shell under umask 022) becomes ours alone
        tmp = root / "config.toml.tmp"
        tmp.write_text(DEFAULT_CONFIG, encoding="utf-8")
        os.replace(tmp, config)
    services, cat_cfg = load_config(config)
    url = catalog_url or os.environ.get(ENV_CATALOG) or cat_cfg.get("url")
    store = BlobStore(root)
    store.create()
    return Archive(root, services, open_catalog(url, root, cat_cfg.get("schema", "dronectl")), store)


def _criteria(criteria: Criteria | None, fields: dict) -> Criteria:
    if criteria is not None and fields:
        raise TypeError("give a Criteria or its fields as keywords, not both")
    return criteria if criteria is not None else Criteria(**fields)


class AccessDenied(ArchiveError):
    pass


class NoSuchImage(ArchiveError):
    """No image with that id that this service may see (absent and hidden are the same answer)."""


@dataclass
class Archive:
    root: Path
    services: Services
    catalog: Catalog
    store: BlobStore
    cameras_file: str | None = field(default=None)

    # --- ingest ----------------------------------------------------------------------------
    def ingest(self, paths, service: str, mission: str | None = None, workers: int = 1, progress=None,
               interior: bool = False, thumbnails: bool = True, thumb_progress=None) -> IngestReport:
        """Ingest files and folders into ``service``. Bad files are skipped with their reason.

        Rows first, then (unless ``thumbnails`` is false) the thumbnails the photos did not embed, with
        ``thumb_progress(done, total)``; :meth:`make_thumbnails` completes them later."""
        self.services.get(service)
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        if isinstance(paths, (str, Path)):
            paths = [paths]
        svc = self.services.get(service)
        return run_ingest(self.catalog, self.root, paths, svc.name, mission, workers, progress, interior,
                          self.cameras_file, thumbnails, thumb_progress, audited=svc.audit_access,
                          audited_services=frozenset(n for n, s in self.services.by_name.items() if s.audit_access))

    def make_thumbnails(self, report: IngestReport | None = None, workers: int = 1, progress=None) -> IngestReport:
        """The thumbnails still missing: of one ingest's files (``report``, from ``ingest(thumbnails=False)``),
        or of every catalogued image (after a crash). Returns the report with ``thumbnails`` and errors set."""
        from dronectl.archive.ingest import make_thumbnails

        if report is None:
            report = IngestReport(blobs=[(r.sha256, r.format) for r in self.catalog.iter_all()])
        report.add_thumbnails(*make_thumbnails(self.root, report.blobs, workers, progress, self.catalog))
        return report

    # --- access ----------------------------------------------------------------------------
    def _audit_access(self, actor: str, action: str, recs: list[ImageRecord] | list[Hit], detail: str = "") -> None:
        audited = {s for s in {r.service for r in recs} if self.services.get(s).audit_access}
        if not audited:
            return
        entries = [AuditEntry(utcnow(), actor, action, r.id, r.sha256, r.service, detail)
                   for r in recs if r.service in audited]
        self.catalog.audit(entries)

    def visible_services(self, asker: str, service: str | None = None) -> tuple[str, ...]:
        visible = self.services.visible_to(asker)
        if service is None:
            return tuple(visible)
        self.services.get(service)
        if service not in visible:
            raise AccessDenied(f"service '{asker}' may not see images of service '{service}'")
        return (service,)

    def search(self, asker: str, criteria: Criteria | None = None, *, limit: int | None = None, offset: int = 0,
               action: str = "search", actor: str | None = None, peek: bool = False,
               **fields) -> list[ImageRecord]:
        """Images ``asker`` may see that match ``criteria`` (a :class:`Criteria`, or its fields as keywords);
        access to audited services is logged (as ``actor``, default the service: the web server passes its
        user's name). ``peek``: one more match than ``limit`` when there is one, not audited (a next page
        exists)."""
        extra = 1 if peek and limit is not None else 0
        q = self._query(asker, _criteria(criteria, fields), None if limit is None else limit + extra, offset)
        out = self.catalog.search(q)
        self._audit_access(actor or asker, action, out[:limit] if extra else out)
        return out

    def count(self, asker: str, criteria: Criteria | None = None) -> int:
        """How many images ``asker`` may see match ``criteria`` (:meth:`search`'s answer without a limit; nothing
        is shown, so nothing is audited): a STAC search's ``numberMatched``."""
        return self.catalog.count_matching(self._query(asker, _criteria(criteria, {}), None, 0))

    def search_features(self, asker: str, criteria: Criteria | None = None, *, limit: int | None = None,
                        offset: int = 0, action: str = "search", actor: str | None = None, form: str = "feature",
                        peek: bool = False, **fields) -> list[Hit]:
        """:meth:`search`, with the same rules and audit, answering each image's stored GeoJSON Feature text
        (:class:`Hit`) instead of a record: what the web map's list sends. ``form``: ``feature`` (the whole
        record) or ``map_feature`` (id, service, time, footprint). ``peek``: one more hit than ``limit`` when
        there is one (to know that a next page exists), not audited: the caller does not send it."""
        extra = 1 if peek and limit is not None else 0
        q = self._query(asker, _criteria(criteria, fields), None if limit is None else limit + extra, offset)
        out = self.catalog.search_features(q, form)
        self._audit_access(actor or asker, action, out[:limit] if extra else out)
        return out

    def feature_page(self, asker: str, criteria: Criteria, *, limit: int, offset: int = 0, actor: str | None = None,
                     form: str = "feature", links=None) -> tuple[bytes, int, bool]:
        """:meth:`search_features`'s page, same rules and audit, as (its Features joined by commas, how many,
        whether more match), the page's ids from the search (the in-memory spatial index in the server), its
        texts and ``links`` joined by :meth:`Catalog.features_of`: what keeps a busy map server's answers cheap."""
        q = self._query(asker, criteria, limit + 1, offset)
        ids = self.catalog.search_ids(q)
        more, ids = len(ids) > limit, ids[:limit]
        joined = self.catalog.features_of(ids, form, q.services, links)
        if joined is None:  # rows catalogued before their texts were kept: made (and kept) now
            self.catalog.complete_features(ids)
            joined = self.catalog.features_of(ids, form, q.services, links)
        audited = tuple(s for s in q.services if self.services.get(s).audit_access)
        if audited and ids:
            self._audit_access(actor or asker, "search", self.catalog.search(Query(ids=tuple(ids), services=audited)))
        return joined[0], joined[1], more

    def search_ids(self, asker: str, criteria: Criteria, *, limit: int | None = None, offset: int = 0) -> list[int]:
        """The ids of :meth:`search`'s matches, in its order, not audited: nothing of the images is shown yet.
        A streamed answer then reads (and audits) them a page at a time, by ``Criteria(ids=...)``."""
        return self.catalog.search_ids(self._query(asker, criteria, limit, offset))

    def _query(self, asker: str, c: Criteria, limit: int | None, offset: int) -> Query:
        """The catalogue query for ``asker``: the services it may see (``service`` refused when it may not,
        ``services`` silently narrowed to those it may), and the criteria."""
        if c.since is not None and c.until is not None and c.since > c.until:
            raise InputError("the start date (--since, since) is after the end date (--until, until): nothing can "
                             "match")
        visible = self.visible_services(asker, c.service)
        if c.services is not None:
            visible = tuple(s for s in visible if s in c.services)
        return Query(c.geometry, c.since, c.until, c.mission, visible, c.camera, limit, offset, c.ids, c.items)

    def show(self, asker: str, image_id: int | str, action: str = "show", actor: str | None = None,
             service: str | None = None) -> ImageRecord:
        """One image ``asker`` may see (and, with ``service``, of that service), by row id or (a string) public
        id; :class:`NoSuchImage` for one that is absent or not visible. Visibility is part of the query: absent
        and hidden take the same path."""
        visible = tuple(s for s in self.services.visible_to(asker) if service is None or s == service)
        if isinstance(image_id, str):
            rec = self.catalog.get_public(image_id, visible)
        else:
            rec = self.catalog.get(image_id if 0 <= image_id < 2**63 else -1, visible)
        if rec is None:
            # the same answer for "absent" and "not yours": do not reveal what another service holds
            raise NoSuchImage(f"no image {image_id} visible to service '{asker}'")
        self._audit_access(actor or asker, action, [rec])
        return rec

    def _audit_views(self, actor: str | None, action: str, counts: dict[str, int], detail: str) -> None:
        """One entry per audited service whose metadata (missions, extents, counts) was shown: ``counts``
        maps each service shown to how many rows of it."""
        if actor is None:
            return
        self.catalog.audit([AuditEntry(utcnow(), actor, action, None, None, svc, f"{detail} ({n})")
                            for svc, n in counts.items() if self.services.get(svc).audit_access])

    def missions(self, asker: str, service: str | None = None, tracks: bool = True,
                 actor: str | None = None) -> list[dict]:
        """The missions among the images ``asker`` may see: id, service, first and last time, image count,
        and the camera track (lon/lat of the images in capture order) when the images have positions. With
        ``actor``, the view of an audited service's missions is audited (``missions-view``)."""
        out = self.catalog.missions(self.visible_services(asker, service))
        for m in out:
            pts = self.catalog.camera_positions(m["mission"], m["service"]) if tracks else []
            m["track"] = pts if len(pts) >= 2 else None
        counts: dict[str, int] = {}
        for m in out:
            counts[m["service"]] = counts.get(m["service"], 0) + 1
        self._audit_views(actor, "missions-view", counts, "missions")
        return out

    def extents(self, asker: str, actor: str | None = None, service: str | None = None) -> dict:
        """Per service ``asker`` may see (or only ``service``) that holds images: (W, S, E, N, first time, last
        time, count). With ``actor``, the view of an audited service's extent is audited (``collection-view``)."""
        services = self.visible_services(asker)
        if service is not None:
            services = tuple(s for s in services if s == service)
        out = self.catalog.extents(services)
        self._audit_views(actor, "collection-view", {s: v[3] for s, v in out.items()}, "extent and image count")
        return out

    # --- users (the web server's logins) ----------------------------------------------------
    def add_user(self, name: str, service: str, admin: bool = False, replace: bool = False,
                 actor: str = "admin") -> tuple["User", str]:
        """Create a user of ``service``; (user, token). The token is returned once and stored only hashed.
        ``replace`` gives an existing user a new token (and service, role), revoking the old token."""
        from dronectl.archive.users import check_name, new_token

        check_name(name)
        svc = self.services.get(service).name
        token, selector, token_hash = new_token()
        if not self.catalog.put_user(name, svc, admin, selector, token_hash, utcnow(), replace):
            raise InputError(f"user '{name}' exists; 'dronectl users rotate {name}' gives it a new token, "
                             "or choose another name")
        self.catalog.audit([AuditEntry(utcnow(), actor, "user-add", None, None, svc,
                                       f"user {name}" + (" (admin)" if admin else ""))])
        return self.catalog.get_user(name), token

    def users(self) -> list["User"]:
        return self.catalog.users()

    def revoke_user(self, name: str, actor: str = "admin") -> "User":
        """Revoke a user's token and end its sessions: from the next request on, both are refused."""
        user = self.catalog.get_user(name)
        if user is None:
            raise InputError(f"no user '{name}'; 'dronectl users list' shows them")
        self.catalog.revoke_user(name, utcnow())
        self.catalog.audit([AuditEntry(utcnow(), actor, "user-revoke", None, None, user.service, f"user {name}")])
        return self.catalog.get_user(name)

    def rotate_user(self, name: str, actor: str = "admin") -> tuple["User", str]:
        """Give an active user a new token: the old one (and every session opened with it) is refused at once."""
        user = self.catalog.get_user(name)
        if user is None:
            raise InputError(f"no user '{name}'; 'dronectl users list' shows them")
        if not user.active:
            raise InputError(f"user '{name}' is revoked; 'dronectl users add {name} --service SERVICE' gives it "
                             "a token again")
        from dronectl.archive.users import new_token

        token, selector, token_hash = new_token()
        self.catalog.put_user(name, user.service, user.admin, selector, token_hash, user.created_at, True)
        self.catalog.end_sessions(name=name)
        self.catalog.audit([AuditEntry(utcnow(), actor, "user-rotate", None, None, user.service, f"user {name}")])
        return self.catalog.get_user(name), token

    def start_session(self, user: "User", hours: float) -> str:
        """A new session of ``user`` for ``hours``: its id (what the cookie holds; the catalogue keeps its hash)."""
        from datetime import timedelta

        from dronectl.archive.users import SESSION_PREFIX, hash_secret

        import secrets

        sid = f"{SESSION_PREFIX}.{secrets.token_urlsafe(32)}"
        now = utcnow()
        self.catalog.put_session(hash_secret(sid), user.name, now, now + timedelta(hours=hours))
        return sid

    def session_user(self, sid: str) -> "User | None":
        """The active user of an unexpired session id, or None."""
        from dronectl.archive.users import hash_secret, is_session_id

        if not is_session_id(sid):
            return None
        return self.catalog.session_user(hash_secret(sid), utcnow())

    def end_session(self, sid: str) -> None:
        from dronectl.archive.users import hash_secret, is_session_id

        if is_session_id(sid):
            self.catalog.end_sessions(id_hash=hash_secret(sid))

    def authenticate(self, token: str) -> "User | None":
        """The active user a token belongs to, or None (malformed, unknown, wrong secret or revoked)."""
        from dronectl.archive.users import secret_matches, split_token

        parts = split_token(token)
        if parts is None:
            return None
        user, token_hash = self.catalog.user_by_selector(parts[0])
        if not secret_matches(parts[1], token_hash) or not user.active:
            return None
        return user

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

    def coverage(self, asker: str, mission, zone: BaseGeometry, since=None, until=None):
        """Coverage of ``zone`` by a mission's images, several missions' (a tuple), or all (None) in a date range."""
        from dronectl.archive.coverage import coverage

        return coverage(self, asker, mission, zone, since=since, until=until)

    def mosaic(self, asker: str, mission: str, out: Path | str, **options):
        """A Cloud-Optimized GeoTIFF of the mission's nadir photos (see :mod:`dronectl.archive.mosaic`)."""
        from dronectl.archive.mosaic import build_mosaic

        return build_mosaic(self, asker, mission, out, **options)

    def export_stac(self, asker: str, out_dir: Path | str, criteria: Criteria | None = None, copy_assets: bool = False,
                    **fields):
        from dronectl.archive.stac import export_stac

        return export_stac(self, asker, Path(out_dir), _criteria(criteria, fields), copy_assets)

    # --- annotations (archive/annotations.py) -----------------------------------------------------
    def _annotation_store(self):
        from dronectl.archive.annotations import AnnotationStore

        return AnnotationStore(self.catalog)

    def _audit_annotations(self, actor: str, action: str, anns) -> None:
        self.catalog.audit([AuditEntry(utcnow(), actor, action, None, None, x.service, f"annotation {x.id}")
                            for x in anns if self.services.get(x.service).audit_access])

    def annotations(self, asker: str, actor: str | None = None, bbox=None, service: str | None = None) -> list:
        """The annotations of the services ``asker`` may see (``service``: only that one), newest first; a view of
        an audited service's annotations is audited (action ``annotation-view``)."""
        out = self._annotation_store().list(self.visible_services(asker, service), bbox)
        self._audit_annotations(actor or asker, "annotation-view", out)
        return out

    def add_annotation(self, feature, service: str, author: str):
        """A new annotation of ``service`` by ``author`` from a GeoJSON Feature (checked: InputError)."""
        from dronectl.archive.annotations import check_annotation

        self.services.get(service)
        ann = self._annotation_store().add(check_annotation(feature, service, author))
        self._audit_annotations(author, "annotation-add", [ann])
        return ann

    def delete_annotation(self, asker: str, ann_id: str, actor: str, admin: bool = False) -> None:
        """Delete an annotation: its author, or an administrator; NoSuchImage (404) when ``asker`` may not see it,
        AccessDenied when it may see it but not delete it."""
        store = self._annotation_store()
        ann = store.get(ann_id, self.visible_services(asker))
        if ann is None:
            raise NoSuchImage("no such annotation")
        if ann.author != actor and not admin:
            raise AccessDenied(f"only its author ({ann.author}) or an administrator may delete this annotation")
        store.delete(ann_id)
        self._audit_annotations(actor, "annotation-delete", [ann])

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


