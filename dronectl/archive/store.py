"""Content-addressed blob store and thumbnails on disk.

``blobs/ab/<sha256>`` holds an image's exact bytes; ``thumbs/ab/<sha256>.jpg`` its thumbnail. Every
file reaches its final name only by ``rename`` from ``tmp/`` after being written in full (and, for
blobs, fsynced with their directory): a reader, or a crash, never sees half a blob under its name.
Leftovers in ``tmp/`` are what a crash leaves; :meth:`BlobStore.clean_tmp` removes them.

Several processes, on one machine or several sharing the folder, may write at once: a temporary file is
named after its host and process, so that cleaning up leaves the files of live writers alone, and the same
blob arriving twice is written twice to two temporary names and renamed twice onto the same final name (the
same bytes: either rename leaves a whole, correct file).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import uuid
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{64}$")
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"
_TMP = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.part$")
FOREIGN_TMP_AGE_S = 3600.0  # a temporary file of another machine is a leftover after this long untouched


def _writer_alive(path: Path) -> bool:
    """Whether the process that is writing this temporary file may still be at it."""
    m = _TMP.search(path.name)
    if m is None:
        return False
    if m["host"] != _HOST:  # another machine's process: we cannot ask, go by age
        try:
            return time.time() - path.stat().st_mtime < FOREIGN_TMP_AGE_S
        except FileNotFoundError:
            return False
    pid = int(m["pid"])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is still "there": a zombie writes nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.thumbs = self.root / "thumbs"
        self.tmp = self.root / "tmp"

    def create(self) -> None:
        for d in (self.blobs, self.thumbs, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    def blob_path(self, sha: str) -> Path:
        return self.blobs / sha[:2] / sha

    def thumb_path(self, sha: str) -> Path:
        return self.thumbs / sha[:2] / f"{sha}.jpg"

    def has(self, sha: str) -> bool:
        return self.blob_path(sha).is_file()

    def _write(self, final: Path, data: bytes, durable: bool) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{final.name}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, final)
        if durable:
            _fsync_dir(final.parent)

    def put(self, sha: str, data: bytes) -> bool:
        """Store ``data`` under ``sha``; False if it was already there."""
        if not _SHA.match(sha):
            raise ValueError(f"not a SHA-256 hex digest: {sha!r}")
        final = self.blob_path(sha)
        if final.is_file() and final.stat().st_size == len(data):
            return False
        self._write(final, data, durable=True)
        return True

    def put_thumb(self, sha: str, data: bytes) -> None:
        # A thumbnail can be made again from its blob (verify --repair): no fsync.
        self._write(self.thumb_path(sha), data, durable=False)

    def delete(self, sha: str) -> None:
        self.blob_path(sha).unlink(missing_ok=True)
        self.thumb_path(sha).unlink(missing_ok=True)

    def iter_blobs(self):
        """(sha, path) of every file under blobs/; names that are not a digest come with sha None."""
        if not self.blobs.is_dir():
            return
        for sub in sorted(self.blobs.iterdir()):
            if not sub.is_dir():
                yield None, sub
                continue
            for p in sorted(sub.iterdir()):
                yield (p.name if _SHA.match(p.name) and p.name[:2] == sub.name else None), p

    def iter_thumbs(self):
        if not self.thumbs.is_dir():
            return
        for p in sorted(self.thumbs.glob("*/*")):
            sha = p.name[:-4] if p.name.endswith(".jpg") else None
            yield (sha if sha and _SHA.match(sha) else None), p

    def tmp_files(self) -> list[Path]:
        """The leftovers in ``tmp/``: files no live writer is still writing."""
        if not self.tmp.is_dir():
            return []
        return sorted(p for p in self.tmp.iterdir() if not _writer_alive(p))

    def clean_tmp(self) -> list[Path]:
        out = self.tmp_files()
        for p in out:
            p.unlink(missing_ok=True)
        return out
