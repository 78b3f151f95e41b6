"""Integrity check of an archive: every row has its blob, every blob matches its hash.

Orphans (blobs no row uses, half-written files left in ``tmp/`` by a crash, thumbnails of nothing)
are listed; ``repair`` removes them, makes missing thumbnails again, moves corrupt blobs to
``quarantine/`` and removes the rows whose blob is gone (they can be ingested again from the source).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dronectl.archive.catalog import AuditEntry, utcnow
from dronectl.archive.store import sha256_file


@dataclass
class VerifyReport:
    rows: int = 0
    blobs: int = 0
    missing_blobs: list[dict] = field(default_factory=list)  # rows without their blob {id, service, sha256}
    corrupt_blobs: list[str] = field(default_factory=list)  # sha256 whose file does not hash to its name
    orphan_blobs: list[str] = field(default_factory=list)  # paths
    stray_files: list[str] = field(default_factory=list)  # files in blobs/ that are not a blob name
    tmp_files: list[str] = field(default_factory=list)
    missing_thumbs: list[str] = field(default_factory=list)
    orphan_thumbs: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # what repair did, one line each

    @property
    def ok(self) -> bool:
        """No row without its blob and no corrupt blob (orphans are housekeeping, not damage)."""
        return not self.missing_blobs and not self.corrupt_blobs

    @property
    def clean(self) -> bool:
        return self.ok and not (self.orphan_blobs or self.stray_files or self.tmp_files or self.missing_thumbs
                                or self.orphan_thumbs)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["ok"], d["clean"] = self.ok, self.clean
        return d


def verify(archive, repair: bool = False) -> VerifyReport:
    from dronectl.archive.ingest import thumbnail_for

    store, cat = archive.store, archive.catalog
    rep = VerifyReport()
    rows_by_sha: dict[str, list] = {}
    for rec in cat.iter_all():
        rep.rows += 1
        rows_by_sha.setdefault(rec.sha256, []).append(rec)
    present = set()
    for sha, path in store.iter_blobs():
        if sha is None:
            rep.stray_files.append(str(path))
            continue
        rep.blobs += 1
        if sha not in rows_by_sha:
            rep.orphan_blobs.append(str(path))
            continue
        if sha256_file(path) != sha:
            rep.corrupt_blobs.append(sha)
            continue
        present.add(sha)
    for sha, recs in rows_by_sha.items():
        if sha not in present and sha not in rep.corrupt_blobs:
            rep.missing_blobs += [{"id": r.id, "service": r.service, "sha256": sha} for r in recs]
    for sha in sorted(present):
        if not store.thumb_path(sha).is_file():
            rep.missing_thumbs.append(sha)
    for sha, path in store.iter_thumbs():
        if sha is None or sha not in rows_by_sha:
            rep.orphan_thumbs.append(str(path))
    rep.tmp_files = [str(p) for p in store.tmp_files()]
    if not repair:
        return rep

    for p in rep.orphan_blobs:
        # unless an ingest elsewhere catalogued it since we looked (it takes the blob's lock to add its row)
        if cat.delete_unused_blob(Path(p).name, lambda: Path(p).unlink(missing_ok=True)):
            rep.repaired.append(f"removed {p}")
    for p in rep.stray_files + rep.orphan_thumbs + rep.tmp_files:
        os.unlink(p) if os.path.isfile(p) else None
        rep.repaired.append(f"removed {p}")
    quarantine = archive.root / "quarantine"
    for sha in rep.corrupt_blobs:
        quarantine.mkdir(exist_ok=True)
        os.replace(store.blob_path(sha), quarantine / sha)
        store.thumb_path(sha).unlink(missing_ok=True)
        rep.repaired.append(f"moved corrupt blob {sha[:12]}… to {quarantine}")
    lost = rep.missing_blobs + [{"id": r.id, "service": r.service, "sha256": r.sha256}
                                for sha in rep.corrupt_blobs for r in rows_by_sha[sha]]
    for row in lost:
        cat.audit([AuditEntry(utcnow(), "verify", "repair", row["id"], row["sha256"], row["service"],
                              "row removed: its blob is missing or corrupt; ingest the source again")])
        sha = row["sha256"]
        cat.delete_unused_blob(sha, lambda: store.delete(sha), row["id"])  # its thumbnail, now of nothing
        rep.repaired.append(f"removed row {row['id']} (blob {row['sha256'][:12]}… missing or corrupt)")
    for sha in rep.missing_thumbs:
        try:
            thumbnail_for(store, sha, rows_by_sha[sha][0].format, cat)
        except Exception as exc:  # a blob we cannot thumbnail is still a valid blob
            rep.repaired.append(f"could not make thumbnail of {sha[:12]}…: {exc}")
            continue
        rep.repaired.append(f"made thumbnail of {sha[:12]}…")
    return rep
