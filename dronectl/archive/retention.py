"""Retention per service, legal holds, purge, and the audit log's own retention.

Defaults (see :mod:`dronectl.archive.services`): police images 7 days after capture, 48 hours for
images of private interiors (ingested with ``--interior``); other services without limit. An image
under legal hold is never purged. Every hold, release and deletion is written to the audit log, which
is itself kept three years.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dronectl.archive.catalog import AuditEntry, iso, utcnow
from dronectl.errors import ArchiveError, InputError


@dataclass
class PurgeReport:
    now: datetime
    dry_run: bool
    deleted: list[dict] = field(default_factory=list)  # {id, service, sha256, reason}
    held: list[dict] = field(default_factory=list)  # expired but under legal hold: kept
    blobs_deleted: int = 0
    audit_entries_pruned: int = 0
    mosaics: list[dict] = field(default_factory=list)  # {service, mission}: web mosaics of purged photos, removed

    def to_dict(self) -> dict:
        return {"now": iso(self.now), "dry_run": self.dry_run, "deleted": self.deleted, "held": self.held,
                "blobs_deleted": self.blobs_deleted, "audit_entries_pruned": self.audit_entries_pruned,
                "mosaics": self.mosaics}


def _get(archive, image_id: int):
    rec = archive.catalog.get(image_id)
    if rec is None:
        raise ArchiveError(f"no image {image_id} in the archive")
    return rec


def hold(archive, image_id: int, reason: str, actor: str = "admin"):
    """Put an image under a legal hold for ``reason``. An image may be held for several reasons (cases) at
    once: a second hold adds to the list, each is written to the audit log, and each is released on its own."""
    reason = (reason or "").strip()
    if not reason:
        raise InputError("a legal hold needs a reason (--reason), e.g. a case or requisition number")
    rec = _get(archive, image_id)

    def add(old):
        if reason in old:
            raise ArchiveError(f"image {image_id} is already held for '{reason}'")
        return old + (reason,)

    archive.catalog.change_holds(rec.id, add, lambda old, new: [
        AuditEntry(utcnow(), actor, "hold", rec.id, rec.sha256, rec.service, reason)])
    return archive.catalog.get(rec.id)


def release(archive, image_id: int, reason: str | None = None, all_holds: bool = False, actor: str = "admin"):
    """Release the hold given by its ``reason``, or every hold with ``all_holds``; each release is audited."""
    rec = _get(archive, image_id)
    reason = (reason or "").strip() or None

    def remove(old):
        if not old:
            raise ArchiveError(f"image {image_id} is not under legal hold")
        held = ", ".join(f"'{r}'" for r in old)
        if all_holds:
            if reason:
                raise InputError("give --reason REASON or --all, not both")
            return ()
        if reason is None:
            raise InputError(f"image {image_id} is held for {held}: give the --reason of the hold to release, "
                             "or --all")
        if reason not in old:
            raise ArchiveError(f"image {image_id} has no hold for '{reason}'; it is held for {held}")
        return tuple(r for r in old if r != reason)

    archive.catalog.change_holds(rec.id, remove, lambda old, new: [
        AuditEntry(utcnow(), actor, "release", rec.id, rec.sha256, rec.service, f"hold was: {r}")
        for r in old if r not in new])
    return archive.catalog.get(rec.id)


def expired(archive, now: datetime) -> list[tuple[object, str]]:
    """(record, reason) of every image past its service's retention, held or not."""
    out = []
    for svc in archive.services.by_name.values():
        rules = []
        if svc.interior_retention_s is not None:
            rules.append((True, svc.interior_retention_s, "interior"))
            if svc.retention_s is not None:
                rules.append((False, svc.retention_s, ""))
        elif svc.retention_s is not None:
            rules.append((None, svc.retention_s, ""))
        for interior, limit_s, what in rules:
            limit = timedelta(seconds=limit_s)
            for rec in archive.catalog.older_than(svc.name, now - limit, interior):
                label = f"{limit_s / 3600:g} h" if what or limit_s % 86400 else f"{limit_s / 86400:g} days"
                out.append((rec, f"{svc.name}{' ' + what if what else ''} retention {label} passed"))
    return out


def purge(archive, now: datetime | None = None, dry_run: bool = False, actor: str = "retention") -> PurgeReport:
    from dronectl.archive.mosaic import published_mosaic, unpublish_mosaic

    now = now or utcnow()
    report = PurgeReport(now, dry_run)
    touched = set()  # (service, mission) that lose an image: their web mosaics hold its pixels and go too
    for rec, reason in expired(archive, now):
        row = {"id": rec.id, "service": rec.service, "sha256": rec.sha256, "captured_at": iso(rec.reference_time),
               "reason": reason}
        if rec.holds:
            report.held.append({**row, "holds": list(rec.holds)})
            continue
        report.deleted.append(row)
        if rec.mission:
            touched.add((rec.service, rec.mission))
        if dry_run:
            continue
        # audit first, then the row, then the blob if no other service's row uses it: a crash in between
        # leaves at worst an orphan blob (verify --repair) and never a row without its file.
        archive.catalog.audit([AuditEntry(utcnow(), actor, "purge", rec.id, rec.sha256, rec.service, reason)])
        if archive.catalog.delete_unused_blob(rec.sha256, lambda: archive.store.delete(rec.sha256), rec.id):
            report.blobs_deleted += 1
    for service, mission in sorted(touched):
        if published_mosaic(archive.root, service, mission) is None:
            continue
        report.mosaics.append({"service": service, "mission": mission})
        if not dry_run:
            unpublish_mosaic(archive.root, service, mission)
            archive.catalog.audit([AuditEntry(utcnow(), actor, "purge-mosaic", None, None, service,
                                              f"mosaic of mission {mission}: some of its photos were purged")])
    if not dry_run:
        report.audit_entries_pruned = archive.catalog.prune_audit(now - timedelta(seconds=archive.services.audit_retention_s))
    return report
