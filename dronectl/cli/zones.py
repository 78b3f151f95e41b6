"""``dronectl zones list`` and ``dronectl cameras list``."""

from __future__ import annotations

import click

from dronectl.camera import all_cameras
from dronectl.cli._common import emit_json, group, json_option, table, terminal_safe
from dronectl.cli.options import cameras_option, zones_option


@group()
def zones():
    """City zones (named polygons, and lines for corridors)."""


@zones.command("list")
@zones_option
@json_option
def zones_list(zones_file, as_json):
    """List the zones of a zone file: areas with their size, lines (for `plan corridor`) with their length."""
    from dronectl.geo import Projector, load_named, swapped_axes_warning

    rows = []
    for z in load_named(zones_file):
        metric = Projector.around(z.geometry).to_metric(z.geometry)
        c = z.geometry.centroid
        warning = swapped_axes_warning(z.geometry, f"zone '{z.name}'")
        if warning:
            click.echo(f"dronectl: warning: {terminal_safe(warning)}", err=True)
        row = {"name": z.name, "kind": z.listed_kind, "service": z.service}
        row.update({"area_m2": round(metric.area, 1)} if z.kind == "polygon" else {"length_m": round(metric.length, 1)})
        rows.append(dict(row, centroid=[round(c.y, 6), round(c.x, 6)], notes=z.notes,
                         warnings=[warning] if warning else []))
    if as_json:
        emit_json(rows)
    else:
        table("Zones", ["name", "kind", "service", "size", "centre (lat, lon)"],
              [[r["name"], r["kind"], r["service"] or "",
                f"{r['area_m2'] / 1e4:.2f} ha" if "area_m2" in r else f"{r['length_m'] / 1000:.2f} km",
                f"{r['centroid'][0]}, {r['centroid'][1]}"] for r in rows], keep=("name", "service"))


@group()
def cameras():
    """The camera database."""


@cameras.command("list")
@cameras_option
@json_option
def cameras_list(cameras_file, as_json):
    """List the cameras the planner knows."""
    cams = all_cameras(cameras_file)
    if as_json:
        emit_json([c.to_dict() for c in cams])
    else:
        table("Cameras", ["id", "name", "sensor (mm)", "focal (mm)", "image (px)", "GSD at 60 m (cm)"],
              [[c.id, c.name, f"{c.sensor_width_mm:g} x {c.sensor_height_mm:g}", f"{c.focal_length_mm:g}",
                f"{c.image_width_px} x {c.image_height_px}", f"{c.gsd_cm(60):.2f}"] for c in cams], keep=("id",))
