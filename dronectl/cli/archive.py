"""``dronectl archive ...``: ingest, search, show, export, coverage, retention, audit, verify, migrate.

Each command parses its options, calls one method of :class:`dronectl.archive.Archive`, renders.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click

from dronectl.archive.criteria import Criteria, parse_date, search_criteria
from dronectl.cli._common import emit_json, group, json_option, kv_table, progress, table, terminal_safe
from dronectl.cli.options import layer_option
from dronectl.errors import EXIT_INPUT, InputError

FORMATS = ("table", "json", "geojson", "stac")

archive_option = click.option(
    "--archive", "archive_path", envvar="DRONECTL_ARCHIVE", default="archive", show_default=True,
    type=click.Path(path_type=Path), help="Archive folder (or $DRONECTL_ARCHIVE).")
as_option = click.option(
    "--as", "asker", envvar="DRONECTL_AS", required=True, metavar="SERVICE",
    help="The service asking (police, communication, technical...); or $DRONECTL_AS.")


def _open(path: Path, create: bool = False):
    from dronectl.archive import open_archive

    return open_archive(path, create=create)


def filter_options(f):
    opts = [
        click.option("--zone", help="Name of a zone of the zone file (an area, or a line: searched along it, "
                                    "within --buffer)."),
        click.option("--zones", "zones_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Zone file (GeoJSON/GeoPackage); default: the shipped Soissons zones."),
        layer_option,
        click.option("--buffer", "buffer_m", type=click.FloatRange(0.5, 5000), default=LINE_BUFFER_M,
                     show_default=True, help="With a line zone (a river bank, a road): metres either side of it."),
        click.option("--bbox", help="W,S,E,N in degrees (longitude first)."),
        click.option("--polygon", type=click.Path(dir_okay=False, path_type=Path), help="Polygon file (any CRS)."),
        click.option("--since", help="Captured on or after (YYYY-MM-DD or ISO date-time, UTC by default)."),
        click.option("--until", help="Captured on or before (a date includes the whole day)."),
        click.option("--mission", help="Mission id."),
        click.option("--service", help="Only this service's images."),
        click.option("--camera", help="Camera database id or EXIF model."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


LINE_BUFFER_M = 30.0


def _area_of_zone(zone: str, zones_file, buffer_m: float = LINE_BUFFER_M):
    """The area a zone name stands for in the archive commands: a polygon as is; a line (a river bank, a road)
    widened by ``buffer_m`` either side, said on stderr."""
    from dronectl.geo import Projector, find_zone, load_named

    named = {z.name: z for z in load_named(zones_file)}
    z = named.get(zone) or next((v for k, v in named.items() if k.lower() == zone.lower()), None)
    if z is None or z.kind == "polygon":
        return find_zone(zone, zones_file)  # the zone, or the error that lists the known ones
    proj = Projector.around(z.geometry)
    area = proj.to_lonlat(proj.to_metric(z.geometry).buffer(buffer_m))
    click.echo(f"dronectl: '{terminal_safe(z.name)}' is a line: images within {buffer_m:g} m of it "
               "(--buffer M to change)", err=True)
    from dronectl.geo import Zone

    return Zone(z.name, area, z.service, z.notes)


def _criteria(zone, zones_file, buffer_m, bbox, polygon, since, until, mission, service, camera) -> Criteria:
    """search_criteria, with a line zone searched along its buffer and a bbox typed lat,lon warned."""
    if zone and (bbox or polygon):
        raise InputError("give at most one of --zone, --bbox, --polygon")
    crit = search_criteria(None, zones_file, bbox, polygon, since, until, mission, service, camera)
    if zone:
        crit = dataclasses.replace(crit, geometry=_area_of_zone(zone, zones_file, buffer_m).geometry)
    if bbox:
        from dronectl.geo import swapped_axes_warning

        warning = swapped_axes_warning(crit.geometry, f"--bbox {bbox}",
                                       fix="--bbox is W,S,E,N: longitudes first, e.g. 3.30,49.37,3.34,49.39")
        if warning:
            click.echo(f"dronectl: warning: {terminal_safe(warning)}", err=True)
    if crit.since and crit.until and crit.since > crit.until:
        raise InputError(f"--since {since} is after --until {until}: swap them")
    return crit


def _plain(v) -> str:
    """A value as words, not a Python repr: yes/no, lists joined, a dict as ``key value; ...``."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.10g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_plain(x) for x in v) or "-"
    if isinstance(v, dict):
        return "; ".join(f"{k} {_plain(x)}" for k, x in v.items()) or "-"
    return str(v)


def _when(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def _size(rec) -> str:
    from dronectl.geo import Projector

    try:
        area = Projector.around(rec.footprint).to_metric(rec.footprint).area
    except Exception:
        return "?"
    return f"{area / 1e4:.2f} ha" if area >= 1e4 else f"{area:.0f} m²"


# --- commands -----------------------------------------------------------------------------
@group()
def archive():
    """The image archive: ingest, search, retention, audit."""


@archive.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--service", required=True, help="Service the images belong to (police, communication, technical...).")
@click.option("--mission", help="Mission id to tag the images with.")
@click.option("--workers", type=click.IntRange(1, 64), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Processes reading, hashing and thumbnailing in parallel.")
@click.option("--interior", is_flag=True, help="Images show private interiors (police: 48 h retention).")
@click.option("--shared-archive", is_flag=True, help="Ingest into an archive other accounts can read (refused otherwise).")
@archive_option
@json_option
def ingest(paths, service, mission, workers, interior, shared_archive, archive_path, as_json):
    """Ingest JPEG and GeoTIFF files or folders of them."""
    if not shared_archive:
        from dronectl.archive.archive import check_private

        check_private(archive_path)
    from dronectl.archive.ingest import collect_files

    files, missing = collect_files(paths)
    if not files:  # refused before the archive is opened: a refusal creates nothing
        raise InputError("nothing to ingest: " + "; ".join(
            [f"{m['path']}: {m['reason']}" for m in missing]
            + [f"no JPEG or GeoTIFF file in {p}" for p in paths if Path(p).exists()]))
    with _open(archive_path, create=True) as a:
        a.services.get(service)
        with progress("ingest", quiet=False) as bar:
            rep = a.ingest(list(paths), service, mission=mission, workers=workers, progress=bar, interior=interior,
                           thumbnails=False)
        with progress("thumbnails", quiet=False) as bar:  # catalogue first, thumbnails second
            a.make_thumbnails(rep, workers=workers, progress=bar)
        shas = dict(rep.blobs)
        with_thumb = sum(a.store.thumb_path(sha).is_file() for sha in shas)
    nothing = not rep.ingested and not rep.duplicates
    if as_json:
        d = rep.to_dict()
        d["counts"]["with_thumbnail"] = with_thumb
        emit_json(d)
        if nothing:  # the report above says why, file by file
            raise SystemExit(EXIT_INPUT)
        return
    kv_table("Ingest", [("ingested", len(rep.ingested)), ("duplicates (already in this service)", len(rep.duplicates)),
                        ("skipped", len(rep.skipped)),
                        ("thumbnails", f"{with_thumb} of {len(shas)}" + (f" ({rep.thumbnails} decoded now)"
                                                                        if rep.thumbnails else "")),
                        ("archive", str(archive_path))])
    for e in rep.thumbnail_errors:
        click.echo(f"no thumbnail for {e['sha256'][:12]}…: {terminal_safe(e['reason'])}", err=True)
    cut = [r for r in rep.ingested if "truncated" in r["flags"]]
    if cut:
        click.echo(f"{len(cut)} image(s) flagged truncated: their image data ends early (grey from there on), e.g. "
                   f"{terminal_safe(Path(cut[0]['path']).name)}; copy them again from the card", err=True)
    flagged = [r for r in rep.ingested if set(r["flags"]) - {"truncated"}]
    if flagged:
        click.echo(f"{len(flagged)} footprint(s) flagged as approximate, e.g. {terminal_safe(Path(flagged[0]['path']).name)}: "
                   f"{', '.join(flagged[0]['flags'])}")
    for s in rep.skipped:
        click.echo(f"skipped {terminal_safe(s['path'])}: {terminal_safe(s['reason'])}", err=True)
    if nothing:
        raise InputError("nothing was ingested: no file could be read (see above)")


@archive.command()
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes.")
@archive_option
@json_option
def thumbnails(workers, archive_path, as_json):
    """Make the thumbnails catalogued images still lack (after an interrupted ingest)."""
    with _open(archive_path) as a:
        with progress("thumbnails", quiet=as_json) as bar:
            rep = a.make_thumbnails(workers=workers, progress=bar)
    if as_json:
        emit_json({"thumbnails": rep.thumbnails, "errors": rep.thumbnail_errors})
        return
    click.echo(f"made {rep.thumbnails} thumbnail(s)" + (f", {len(rep.thumbnail_errors)} could not be made"
                                                        if rep.thumbnail_errors else ""))


@archive.command()
@filter_options
@as_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(1), help="At most this many results.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (as --format json).")
@archive_option
def search(zone, zones_file, buffer_m, bbox, polygon, since, until, mission, service, camera, asker, fmt, limit,
           as_json, archive_path):
    """Find images by place, date, mission, service, camera."""
    crit = _criteria(zone, zones_file, buffer_m, bbox, polygon, since, until, mission, service, camera)
    if as_json and fmt == "table":
        fmt = "json"
    with _open(archive_path) as a:
        a.services.get(asker)
        if service:
            a.services.get(service)
        recs = a.search(asker, crit, limit=limit)
        if fmt == "json":
            emit_json([r.to_dict() for r in recs])
        elif fmt == "geojson":
            emit_json({"type": "FeatureCollection", "features": [r.to_feature() for r in recs]})
        elif fmt == "stac":
            from dronectl.archive.stac import item_collection

            emit_json(item_collection(a, recs))
        else:
            table(f"{len(recs)} image(s)", ["id", "captured (UTC)", "service", "mission", "camera", "lat, lon",
                                            "footprint", "flags"],
                  [[r.id, _when(r.captured_at), r.service, r.mission or "-", r.camera or r.model or "-",
                    f"{r.lat_deg:.6f}, {r.lon_deg:.6f}" if r.lat_deg is not None else "-", _size(r),
                    ",".join(r.flags) or "-"] for r in recs], keep=("id", "service", "mission"))


@archive.command()
@click.option("--mission", required=True, help="Mission id.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output Cloud-Optimized GeoTIFF (.tif).")
@click.option("--gsd", "gsd_cm", type=float, help="Ground resolution in cm/px (default: the photos' median).")
@click.option("--zone", help="Clip to this zone.")
@click.option("--zones", "zones_file", type=click.Path(dir_okay=False, path_type=Path), help="Zone file.")
@click.option("--oblique", is_flag=True, help="Include oblique photos (left out by default).")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), help="Also write a PNG quick look.")
@click.option("--service", help="Only this service's photos.")
@click.option("--publish", is_flag=True, help="Also show it on the web map (a layer of the mission).")
@as_option
@archive_option
@json_option
def mosaic(mission, out, gsd_cm, zone, zones_file, oblique, png, service, publish, asker, archive_path, as_json):
    """A quick-look mosaic of a mission's nadir photos, each warped onto the ground by its camera model."""
    zone_geom = None
    if zone:
        from dronectl.geo import find_zone

        zone_geom = find_zone(zone, zones_file).geometry
    if png and png.suffix.lower() != ".png":
        raise InputError(f"--png must end in .png, got '{png}'")
    with _open(archive_path) as a:
        a.services.get(asker)
        with progress("mosaic", quiet=as_json) as bar:
            rep = a.mosaic(asker, mission, out, gsd_cm=gsd_cm, zone=zone_geom, oblique=oblique, png=png,
                           progress=bar.update, service=service, publish=publish)
    if as_json:
        emit_json(rep.to_dict())
        return
    kv_table(f"Mosaic of mission {mission}", [
        ("file", rep.path), ("photos", rep.photos_used), ("left out", len(rep.skipped)),
        ("resolution", f"{rep.gsd_cm:.1f} cm/px"), ("size", f"{rep.width_px} x {rep.height_px} px"),
        ("CRS", rep.crs)] + ([("quick look", rep.png)] if rep.png else [])
        + ([("map tiles", f"{rep.tiles_drawn} drawn, zooms {rep.tile_zooms[0]}-{rep.tile_zooms[1]}")]
           if rep.tile_zooms else []))


@archive.command()
@click.argument("image_id", type=int)
@as_option
@archive_option
@json_option
def show(image_id, asker, archive_path, as_json):
    """One image's metadata, footprint and files."""
    with _open(archive_path) as a:
        a.services.get(asker)
        rec = a.show(asker, image_id)
        d = rec.to_dict()
        d["blob"], d["thumbnail"] = str(a.blob_path(rec)), str(a.thumb_path(rec))
    if as_json:
        emit_json(d)
        return
    fp = d.pop("footprint")
    rows = [(k, _plain(v)) for k, v in d.items() if v is not None and v != "" and v != [] and v != {}]
    rows.append(("footprint", json.dumps(fp, allow_nan=False)))
    kv_table(f"Image {image_id}", rows)


@archive.command()
@click.option("--stac", "stac_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the STAC catalogue to.")
@click.option("--copy-assets", is_flag=True, help="Copy images and thumbnails next to their Items.")
@filter_options
@as_option
@archive_option
@json_option
def export(stac_dir, copy_assets, zone, zones_file, buffer_m, bbox, polygon, since, until, mission, service, camera,
           asker, archive_path, as_json):
    """Export images as a static STAC catalogue (one Item per image, view extension)."""
    crit = _criteria(zone, zones_file, buffer_m, bbox, polygon, since, until, mission, service, camera)
    with _open(archive_path) as a:
        a.services.get(asker)
        path, n = a.export_stac(asker, stac_dir, crit, copy_assets=copy_assets)
    if as_json:
        emit_json({"catalog": str(path), "items": n})
    else:
        click.echo(f"wrote {n} STAC item(s): {terminal_safe(path)}")


@archive.command()
@click.option("--mission", "missions", multiple=True,
              help="Mission id; repeat it to measure several together (an original and its refly). "
                   "Default: every mission (with --since/--until: over that date range).")
@click.option("--zone", required=True, help="Zone name (a line: its --buffer either side).")
@click.option("--zones", "zones_file", type=click.Path(dir_okay=False, path_type=Path), help="Zone file.")
@layer_option
@click.option("--buffer", "buffer_m", type=click.FloatRange(0.5, 5000), default=LINE_BUFFER_M, show_default=True,
              help="With a line zone: metres either side of it.")
@click.option("--since", help="Images captured on or after (YYYY-MM-DD or ISO date-time).")
@click.option("--until", help="Images captured on or before (a date includes the whole day).")
@click.option("--gaps", "gaps_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the gaps (GeoJSON) to this file; '-' for stdout.")
@as_option
@archive_option
@json_option
def coverage(missions, zone, zones_file, buffer_m, since, until, gaps_file, asker, archive_path, as_json):
    """How much of a zone the images of one or several missions (or of a date range) cover, and the gaps to fly
    again."""
    z = _area_of_zone(zone, zones_file, buffer_m)
    after, before = parse_date(since), parse_date(until, end=True)
    if after and before and after > before:
        raise InputError(f"--since {since} is after --until {until}: swap them")
    with _open(archive_path) as a:
        a.services.get(asker)
        rep = a.coverage(asker, missions or None, z.geometry, since=after, until=before)
    if gaps_file:
        text = json.dumps(rep.gaps_geojson(), indent=2, allow_nan=False)
        if str(gaps_file) == "-":
            click.echo(text)
            return
        from dronectl.formats import atomic_write

        atomic_write(gaps_file, text)
    if as_json:
        emit_json(rep.to_dict())
        return
    kv_table(f"Coverage of '{z.name}' by {'mission ' if len(missions) == 1 else ''}{rep.mission}",
             [("images", rep.images), ("zone area", f"{rep.zone_area_m2 / 1e4:.2f} ha"),
              ("covered", f"{rep.covered_fraction * 100:.2f} %"),
              ("gaps", f"{len(rep.gaps_geojson()['features'])} polygon(s)"
                       + (f" written to {gaps_file}" if gaps_file else " (--gaps FILE to save them)"))])


def _holds_said(rec) -> str:
    return terminal_safe(", ".join(f"'{r}'" for r in rec.holds))


@archive.command()
@click.argument("image_id", type=int)
@click.option("--reason", required=True, help="Why (case, requisition number...). Goes into the audit log.")
@click.option("--as", "actor", envvar="DRONECTL_AS", default="admin", show_default=True, help="Who sets the hold.")
@archive_option
@json_option
def hold(image_id, reason, actor, archive_path, as_json):
    """Put an image under legal hold: purge keeps it until released. A second hold (another case) adds to the
    list; each is released on its own."""
    with _open(archive_path) as a:
        rec = a.hold(image_id, reason, actor)
    if as_json:
        emit_json({"id": image_id, "holds": list(rec.holds), "held_at": rec.to_dict()["held_at"]})
    else:
        click.echo(f"image {image_id} held for {_holds_said(rec)}")


@archive.command()
@click.argument("image_id", type=int)
@click.option("--reason", help="The reason of the hold to release (as given to `archive hold`).")
@click.option("--all", "all_holds", is_flag=True, help="Release every hold of the image.")
@click.option("--as", "actor", envvar="DRONECTL_AS", default="admin", show_default=True)
@archive_option
@json_option
def release(image_id, reason, all_holds, actor, archive_path, as_json):
    """Release one legal hold of an image (--reason), or all of them (--all); retention applies again once
    none is left."""
    with _open(archive_path) as a:
        rec = a.release(image_id, reason, all_holds, actor)
    if as_json:
        emit_json({"id": image_id, "holds": list(rec.holds)})
    elif rec.holds:
        click.echo(f"image {image_id}: hold released; still held for {_holds_said(rec)}")
    else:
        click.echo(f"image {image_id} released: no hold left")


@archive.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@archive_option
@json_option
def purge(dry_run, archive_path, as_json):
    """Delete images past their service's retention (legal holds excepted); prune the audit log."""
    with _open(archive_path) as a:
        rep = a.purge(dry_run=dry_run)
    if as_json:
        emit_json(rep.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for d in rep.deleted:
        click.echo(terminal_safe(f"{verb} image {d['id']} ({d['service']}, {d['captured_at']}): {d['reason']}"))
    for h in rep.held:
        click.echo(terminal_safe(f"kept image {h['id']} ({h['service']}): under legal hold ({', '.join(h['holds'])})"))
    for m in rep.mosaics:
        click.echo(terminal_safe(f"{verb} the web mosaic of mission {m['mission']} ({m['service']}): some of its photos "
                                 "are purged"))
    click.echo(f"{verb} {len(rep.deleted)} image(s); {len(rep.held)} held"
               + ("" if dry_run else f"; {rep.blobs_deleted} file(s) removed; {rep.audit_entries_pruned} audit entries pruned"))


@archive.command()
@click.option("--since", help="Entries on or after this date.")
@click.option("--image", "image_id", type=int, help="Entries about this image.")
@click.option("--actor", help="Entries by this service or user.")
@archive_option
@json_option
def audit(since, image_id, actor, archive_path, as_json):
    """Read the audit log (access to police images, holds, purges)."""
    with _open(archive_path) as a:
        entries = a.audit_log(parse_date(since), image_id, actor)
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    table(f"{len(entries)} audit entries", ["at (UTC)", "actor", "action", "image", "service", "detail"],
          [[_when(e.at), e.actor, e.action, e.image_id if e.image_id is not None else "-", e.service or "-",
            e.detail or ""] for e in entries], keep=("actor", "image", "service"))


@archive.command()
@click.option("--repair", is_flag=True, help="Remove orphans and leftovers, quarantine corrupt blobs, remake thumbnails.")
@archive_option
@json_option
def verify(repair, archive_path, as_json):
    """Check every row has its blob and every blob its hash; list orphans."""
    with _open(archive_path) as a:
        rep = a.verify(repair=repair)
    if as_json:
        emit_json(rep.to_dict())
    else:
        kv_table("Verify", [("rows", rep.rows), ("blobs", rep.blobs),
                            ("rows without blob", len(rep.missing_blobs)), ("corrupt blobs", len(rep.corrupt_blobs)),
                            ("orphan blobs", len(rep.orphan_blobs)), ("leftover tmp files", len(rep.tmp_files)),
                            ("missing thumbnails", len(rep.missing_thumbs)), ("stray files", len(rep.stray_files))])
        for line in rep.repaired:
            click.echo(terminal_safe(line))
    if not rep.ok and not repair:
        raise SystemExit(1)


@archive.command()
@click.option("--to", "to_url", required=True, metavar="URL",
              help="PostgreSQL + PostGIS catalogue: postgresql://user:password@host/database.")
@click.option("--schema", default="dronectl", show_default=True, help="Schema of the tables in that database.")
@click.option("--batch-size", type=click.IntRange(1), default=2000, show_default=True,
              help="Rows per transaction (a kill loses at most one batch; run again to resume).")
@archive_option
@json_option
def migrate(to_url, schema, batch_size, archive_path, as_json):
    """Move the archive's SQLite catalogue into PostGIS, check both sides, then switch config.toml to it.
    Resumable: run it again after an interruption. Stop ingests and the web server meanwhile."""
    from dronectl.api import migrate_archive
    from dronectl.archive.migrate import ENV_PAUSE

    pause = os.environ.get(ENV_PAUSE)
    with progress("migrate", quiet=False) as bar:
        rep = migrate_archive(archive_path, to_url, schema=schema, batch=batch_size, progress=bar.update,
                              pause_after=int(pause) if pause else None)
    if as_json:
        emit_json(rep.to_dict())
        return
    kv_table("Migrate", [(t, f"{d['target']} rows ({d['copied']} copied now)") for t, d in rep.tables.items()]
             + [("rows compared", rep.sampled), ("catalogue", f"{rep.url} (schema {rep.schema})"),
                ("config", f"{rep.config} now points at it")])
