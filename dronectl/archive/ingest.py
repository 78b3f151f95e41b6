"""Ingest: files -> (hash, metadata, footprint, blob) -> catalogue rows, then thumbnails.

Catalogue first: the row of an image does not wait for its thumbnail. Work per image:

- :func:`prepare` (any process): read the bytes, hash them, read the metadata, compute the footprint, write
  the blob atomically; the thumbnail too when the camera embedded a preview (EXIF IFD1 or MPF: milliseconds).
  Nothing is written for a file that fails any check, so a bad file leaves no trace but its line in the summary.
- the caller's process commits the row, one transaction per image, after the blob is durable.
- a second pass (:func:`make_thumbnails`, same workers) decodes the photos that embed no preview (~50 ms for
  12 MP even at 1/8 scale) and writes their thumbnails. It is resumable: it works from the rows that lack a
  thumbnail, so ingesting again, ``archive thumbnails``, ``verify --repair`` or the web server's first request
  for one completes what a crash left.

Several ingests may run at once, in several processes or on several machines sharing the catalogue and the
blob folder: a row is unique per (service, sha256) (the loser of a race counts a duplicate), a blob reaches its
name only whole, and a row is added while holding its blob's lock, so that a purge or ``verify --repair``
removing the same bytes at that moment cannot leave the row without its file (the ingest writes it again).
For a service whose access is audited, the row and its ``ingest`` audit entry commit together.

A crash leaves at worst a blob with no row (``verify`` lists it as an orphan; ingesting again adopts it) or a
row with no thumbnail yet; it can never leave a row without its blob.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dronectl.archive import footprint as fp
from dronectl.archive.catalog import ImageRecord, utcnow
from dronectl.archive.metadata import JPEG, ImageMeta, UnreadableImage, read_geotiff, read_jpeg, sniff
from dronectl.archive.store import BlobStore, sha256_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".tif", ".tiff"}
MAX_FILE_BYTES = 1 << 30  # 1 GiB: a file is read whole into memory


class NotAnImageFile(Exception):
    """A path ingest does not read: not a regular file (a symbolic link, FIFO, device, socket) or too large."""


def read_regular_file(path: Path | str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, never following a symbolic link nor blocking on a FIFO, the size checked
    before reading (and the read itself capped, should the file grow meanwhile)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if os.path.islink(path):
        raise NotAnImageFile("a symbolic link: give the file itself (ingest reads regular files only)")
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == getattr(__import__("errno"), "ELOOP", -1):
            raise NotAnImageFile("a symbolic link: give the file itself (ingest reads regular files only)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise NotAnImageFile(f"{kind}: ingest reads regular files only")
        if st.st_size > limit:
            raise NotAnImageFile(f"file too large ({st.st_size / 2**20:.0f} MiB, at most {limit / 2**20:.0f} MiB)")
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise NotAnImageFile(f"file too large (more than {limit / 2**20:.0f} MiB)")
        return data
    finally:
        if fd >= 0:
            os.close(fd)
THUMB_PX = 256
TRUNCATED = "truncated"  # the flag of an image whose JPEG data ends early (found when it is decoded)
_DIAG_35MM = (36.0 ** 2 + 24.0 ** 2) ** 0.5


@dataclass
class IngestReport:
    ingested: list[dict] = field(default_factory=list)  # {id, path, sha256, flags}
    duplicates: list[dict] = field(default_factory=list)  # {path, id}: already in this service
    skipped: list[dict] = field(default_factory=list)  # {path, reason}
    thumbnails: int = 0  # made in the second pass
    thumbnail_errors: list[dict] = field(default_factory=list)  # {sha256, reason}
    blobs: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (sha256, format) now catalogued

    def add_thumbnails(self, made: int, errors: list, truncated: list) -> None:
        """The second pass's outcome: the ingested images whose data ends early get their ``truncated`` flag."""
        self.thumbnails, self.thumbnail_errors = made, errors
        for entry in self.ingested:
            if entry["sha256"] in truncated and TRUNCATED not in entry["flags"]:
                entry["flags"].append(TRUNCATED)

    def to_dict(self) -> dict:
        return {"ingested": self.ingested, "duplicates": self.duplicates, "skipped": self.skipped,
                "thumbnail_errors": self.thumbnail_errors,
                "counts": {"ingested": len(self.ingested), "duplicates": len(self.duplicates),
                           "skipped": len(self.skipped), "thumbnails": self.thumbnails}}


def collect_files(paths) -> tuple[list[Path], list[dict]]:
    """Files to ingest: named files as given, folders walked for .jpg/.jpeg/.tif/.tiff (sorted)."""
    files, missing = [], []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for dirpath, dirnames, names in os.walk(p):
                dirnames.sort()
                for n in sorted(names):
                    if Path(n).suffix.lower() in IMAGE_SUFFIXES:
                        files.append(Path(dirpath) / n)
        elif p.exists() or p.is_symlink():
            files.append(p)
        else:
            missing.append({"path": str(p), "reason": "no such file or folder"})
    return files, missing


def resolve_intrinsics(meta: ImageMeta, cameras_file=None) -> tuple[fp.Intrinsics | None, str | None]:
    """Sensor and lens of a photo: the camera database by EXIF Make/Model, else EXIF focal lengths
    (35 mm equivalent gives the sensor size), else None (the footprint then flags a generic lens)."""
    from dronectl.camera import camera_for_exif

    cam = camera_for_exif(meta.make, meta.model, cameras_file)
    portrait = bool(meta.width_px and meta.height_px and meta.height_px > meta.width_px)
    if cam is not None:
        sw, sh = cam.sensor_width_mm, cam.sensor_height_mm
        if portrait != (sh > sw):
            sw, sh = sh, sw
        focal = meta.focal_length_mm if meta.focal_length_mm and meta.focal_length_mm > 0 else cam.focal_length_mm
        return fp.Intrinsics(sw, sh, focal), cam.id
    f, f35 = meta.focal_length_mm, meta.focal_length_35mm
    if f and f35 and f > 0 and f35 > 0 and meta.width_px and meta.height_px:
        diag = _DIAG_35MM * f / f35
        w, h = meta.width_px, meta.height_px
        k = diag / (w * w + h * h) ** 0.5
        return fp.Intrinsics(w * k, h * k, f), None
    return None, None


USE_EMBEDDED_THUMBNAILS = True  # benchmarks turn it off to measure the decoding path


def jpeg_thumbnail(data: bytes, embedded: bytes | None = None, decode: bool = True) -> bytes | None:
    """A thumbnail of at most 256 px. From the embedded preview when the camera wrote one of at least
    120 px (no decoding of the 12 MP image: milliseconds); otherwise, unless ``decode`` is false (then None),
    decoded at 1/2..1/8 scale (libjpeg DCT scaling)."""
    from PIL import Image

    if embedded is not None and USE_EMBEDDED_THUMBNAILS:
        try:
            im = Image.open(io.BytesIO(embedded))
            im.draft("RGB", (THUMB_PX, THUMB_PX))  # an MPF preview can be 960 px: decode it at 1/2..1/8
            if max(im.size) >= 120:
                im = im.convert("RGB")
                im.thumbnail((THUMB_PX, THUMB_PX))
                out = io.BytesIO()
                im.save(out, "JPEG", quality=80)
                return out.getvalue()
        except Exception:  # a broken embedded thumbnail: make one from the image itself
            pass
    if not decode:
        return None
    return decoded_thumbnail(data)[0]


def decoded_thumbnail(data: bytes) -> tuple[bytes, bool]:
    """A thumbnail of the JPEG decoded at 1/2..1/8 scale (libjpeg DCT scaling), and whether its image data ends
    early: a file cut short and closed with an end-of-image marker decodes without an error, libjpeg filling
    the missing blocks with mid-grey (exactly 128, 128, 128), so the last row of blocks is all that grey (a
    photo's is not)."""
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (THUMB_PX, THUMB_PX))
    im = im.convert("RGB")
    last = im.crop((0, im.height - 1, im.width, im.height)).tobytes()
    ends_early = last == b"\x80" * len(last)
    im.thumbnail((THUMB_PX, THUMB_PX))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80)
    return out.getvalue(), ends_early


def geotiff_thumbnail(path: Path) -> bytes:
    import numpy as np
    import rasterio
    from PIL import Image

    with rasterio.open(path) as ds:
        scale = max(1.0, max(ds.width, ds.height) / THUMB_PX)
        shape = (max(1, int(ds.height / scale)), max(1, int(ds.width / scale)))
        bands = [1, 2, 3] if ds.count >= 3 else [1]
        arr = ds.read(bands, out_shape=(len(bands),) + shape, masked=True).astype("float64")
    valid = ~np.ma.getmaskarray(arr).any(axis=0)
    out = np.zeros(arr.shape, dtype=np.uint8)
    if valid.any():
        data = arr.filled(0)
        for i in range(len(bands)):
            lo, hi = np.percentile(data[i][valid], (2, 98))
            span = hi - lo if hi > lo else 1.0
            out[i] = np.clip((data[i] - lo) / span * 255, 0, 255).astype(np.uint8) * valid
    img = Image.fromarray(np.moveaxis(out, 0, -1).squeeze() if len(bands) == 3 else out[0])
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def prepare(path: str, root: str, service: str, mission: str | None, interior: bool,
            cameras_file: str | None = None) -> dict:
    """Everything but the row: ``{"record": ImageRecord}`` or ``{"path", "reason"}`` for a skipped file."""
    p = Path(path)
    try:
        try:
            data = read_regular_file(p)
        except NotAnImageFile as exc:
            return {"path": path, "reason": str(exc)}
        except OSError as exc:
            return {"path": path, "reason": f"cannot read the file ({exc.strerror or _first_line(exc)})"}
        kind = sniff(data[:16])
        if kind is None:
            why = "file is empty" if not data else "not a JPEG or TIFF image (its content says otherwise, whatever the name)"
            return {"path": path, "reason": why}
        sha = sha256_bytes(data)
        store = BlobStore(root)
        if kind == JPEG:
            meta = read_jpeg(data)
            intr, cam_id = resolve_intrinsics(meta, cameras_file)
            # DJI's GimbalYawDegree is the camera's heading; FlightYawDegree the airframe's, a fair stand-in
            yaw = meta.gimbal_yaw_deg if meta.gimbal_yaw_deg is not None else meta.flight_yaw_deg
            foot = fp.photo_footprint(meta.lon_deg, meta.lat_deg, meta.relative_altitude_m, intr,
                                      meta.gimbal_pitch_deg, yaw, meta.gimbal_roll_deg)
            geom, flags = foot.polygon, list(meta.flags) + list(foot.flags)
            need_thumb = not store.thumb_path(sha).is_file()
            try:  # only from an embedded preview here: decoding waits for the second pass
                thumb = jpeg_thumbnail(data, meta.embedded_thumbnail, decode=False) if need_thumb else None
            except OSError as exc:
                if "truncated" in str(exc):
                    return {"path": path, "reason": "JPEG image data is truncated: copy the file again from the card"}
                return {"path": path, "reason": f"JPEG image data is corrupt ({_first_line(exc)})"}
            # the lens the footprint used, for the mosaic's camera model
            extra = {"intrinsics_mm": [intr.sensor_width_mm, intr.sensor_height_mm, intr.focal_length_mm]} if intr else {}
            height, pitch, roll = meta.relative_altitude_m, meta.gimbal_pitch_deg, meta.gimbal_roll_deg
        else:
            meta = read_geotiff(p)
            geom, flags, cam_id, yaw, height, pitch, roll = meta.outline_lonlat, list(meta.flags), None, None, None, None, None
            need_thumb = not store.thumb_path(sha).is_file()
            thumb = geotiff_thumbnail(p) if need_thumb else None
            extra = {"crs": meta.crs, "transform": list(meta.transform)}
        rec = ImageRecord(
            sha256=sha, service=service, format=kind, footprint=geom, ingested_at=utcnow(),
            captured_at=meta.captured_at, mission=mission, source_name=p.name, camera=cam_id, make=meta.make,
            model=meta.model, lon_deg=meta.lon_deg, lat_deg=meta.lat_deg, height_m=height, pitch_deg=pitch,
            yaw_deg=yaw, roll_deg=roll, width_px=meta.width_px, height_px=meta.height_px, size_bytes=len(data),
            interior=interior, flags=tuple(flags), extra=extra)
        # Writes last: blob (durable), then thumbnail. The row comes after, in the caller.
        store.put(sha, data)
        if thumb is not None:
            store.put_thumb(sha, thumb)
        return {"record": rec}
    except UnreadableImage as exc:
        return {"path": path, "reason": str(exc)}
    except MemoryError:
        return {"path": path, "reason": "file too large to read in memory"}
    except Exception as exc:  # never let one file stop the ingest
        return {"path": path, "reason": f"unexpected error ({_first_line(exc)})"}


def _prepare_star(args):
    return prepare(*args)


def thumbnail_for(store: BlobStore, sha: str, fmt: str, catalog=None) -> bool:
    """Make and store the thumbnail of blob ``sha`` (``fmt``: "jpeg" or "geotiff"); raises on a bad blob.
    Whether the JPEG's image data ends early (see :func:`decoded_thumbnail`): then, given the ``catalog``, the
    rows of that blob are flagged ``truncated``."""
    path = store.blob_path(sha)
    thumb, ends_early = decoded_thumbnail(path.read_bytes()) if fmt == "jpeg" else (geotiff_thumbnail(path), False)
    store.put_thumb(sha, thumb)
    if ends_early and catalog is not None:
        catalog.add_flag(sha, TRUNCATED)
    return ends_early


def _thumb_job(args) -> dict:
    root, sha, fmt = args
    try:
        return {"sha256": sha, "truncated": True} if thumbnail_for(BlobStore(Path(root)), sha, fmt) else {}
    except Exception as exc:  # a blob we cannot thumbnail is still a valid blob
        return {"sha256": sha, "reason": _first_line(exc)}


def make_thumbnails(root: Path, blobs: list[tuple[str, str]], workers: int = 1, progress=None,
                    catalog=None) -> tuple[int, list, list]:
    """The thumbnails of ``blobs`` ((sha256, format) pairs) that do not exist yet; returns (made, errors, the
    blobs whose JPEG data ends early: their rows in ``catalog`` are flagged ``truncated``)."""
    store = BlobStore(root)
    todo = [(str(root), sha, fmt) for sha, fmt in dict(blobs).items() if not store.thumb_path(sha).is_file()]
    update = _progress_fn(progress)
    update(0, len(todo))
    if not todo:
        return 0, [], []
    errors, truncated = [], []
    for done, res in enumerate(_map(_thumb_job, todo, workers), start=1):
        if res.get("truncated"):
            truncated.append(res["sha256"])
            if catalog is not None:
                catalog.add_flag(res["sha256"], TRUNCATED)
        elif res:
            errors.append(res)
        update(done, len(todo))
    return len(todo) - len(errors), errors, truncated


def _map(fn, jobs: list, workers: int):
    """``fn`` over ``jobs`` in order: here, or in a pool of forked workers."""
    if workers <= 1 or len(jobs) <= 1:
        yield from (fn(job) for job in jobs)
        return
    import multiprocessing as mp

    pool = mp.get_context("fork").Pool(processes=workers)
    try:
        yield from pool.imap(fn, jobs, chunksize=1)
    finally:
        pool.terminate()
        pool.join()


def ingest_actor() -> str:
    """Who ingests, for the audit log: user@host (several machines may ingest into one catalogue)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _restore_blob(store: BlobStore, path: str, rec: ImageRecord) -> None:
    """Write a catalogued image's blob again from its source file (it was removed while we added the row)."""
    data = read_regular_file(path)
    if sha256_bytes(data) != rec.sha256:
        raise OSError(f"{path} changed while it was ingested")
    store.put(rec.sha256, data)


def run_ingest(catalog, root: Path, paths, service: str, mission: str | None = None, workers: int = 1,
               progress=None, interior: bool = False, cameras_file=None, thumbnails: bool = True,
               thumb_progress=None, audited: bool = False, audited_services: frozenset = frozenset()) -> IngestReport:
    """Pass 1 (rows) over ``paths``, then pass 2 (thumbnails still missing for these files) unless told not to.
    ``audited``: write an ``ingest`` audit entry with each new row. A blob is never shared across the boundary
    of an audited service (``audited_services``): the same bytes already catalogued under another service, when
    either side is audited, are skipped (so that a police purge removes the police bytes)."""
    from dronectl.archive.catalog import AuditEntry

    store = BlobStore(root)
    actor = ingest_actor()
    files, missing = collect_files(paths)
    report = IngestReport(skipped=list(missing))
    total = len(files)
    update = _progress_fn(progress)
    update(0, total)
    jobs = [(str(f), str(root), service, mission, interior, str(cameras_file) if cameras_file else None) for f in files]

    def handle(path: str, res: dict) -> None:
        if "record" not in res:
            report.skipped.append({"path": path, "reason": res["reason"]})
            return
        rec = res["record"]
        others = {svc for svc in catalog.services_of(rec.sha256) if svc != rec.service}
        if others and (rec.service in audited_services or others & audited_services):
            report.skipped.append({"path": path, "reason": "the same bytes are catalogued under service "
                                   f"'{sorted(others)[0]}'; images are not shared with or out of an audited service"})
            return
        audit = (lambda rid: [AuditEntry(utcnow(), actor, "ingest", rid, rec.sha256, rec.service,
                                         rec.source_name or "")]) if audited else None
        rid = catalog.add(rec, audit)
        if not store.has(rec.sha256):  # a purge or verify --repair elsewhere removed the bytes meanwhile
            _restore_blob(store, path, rec)
        if rid is None:
            existing = catalog.find(rec.service, rec.sha256)
            report.duplicates.append({"path": path, "id": existing.id if existing else None})
        else:
            report.ingested.append({"id": rid, "path": path, "sha256": rec.sha256, "flags": list(rec.flags)})

    for done, (job, res) in enumerate(zip(jobs, _map(_prepare_star, jobs, workers)), start=1):
        handle(job[0], res)
        if "record" in res:  # ingested or duplicate: its thumbnail may still be missing
            report.blobs.append((res["record"].sha256, res["record"].format))
        update(done, total)
    if thumbnails:
        report.add_thumbnails(*make_thumbnails(root, report.blobs, workers, thumb_progress, catalog))
    return report


def _progress_fn(progress):
    if progress is None:
        return lambda done, total: None
    if hasattr(progress, "update"):
        return lambda done, total: progress.update(done, total)
    return progress
