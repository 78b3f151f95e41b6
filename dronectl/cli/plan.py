"""``dronectl plan survey | check | export``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from dronectl.cli._common import emit_json, group, json_option, kv_table
from dronectl.cli.options import LATLON, airspace_option, cameras_option, zones_option
from dronectl.errors import EXIT_CHECKS, InputError


@group()
def plan():
    """Plan survey missions, check them, export them."""


class Angle(click.ParamType):
    name = "DEG|auto"

    def convert(self, value, param, ctx):
        if value is None or str(value).lower() == "auto":
            return None
        try:
            return float(value)
        except ValueError:
            self.fail(f"'{value}' is not a bearing in degrees or 'auto'", param, ctx)


def _fraction(percent: float | None) -> float | None:
    """A percentage option as the fraction the core takes (the core checks its range)."""
    return None if percent is None else percent / 100.0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "survey"


@plan.command("survey")
@click.option("--zone", "zone_name", help="Name of a zone in the zone file (see `dronectl zones list`).")
@click.option("--polygon", "polygon_file", type=click.Path(dir_okay=False),
              help="Survey this polygon instead (GeoJSON or GeoPackage).")
@zones_option
@click.option("--exclude", "exclude_files", multiple=True, type=click.Path(dir_okay=False),
              help="No-fly polygons (GeoJSON or GeoPackage); repeatable. The path never enters them.")
@click.option("--camera", "camera_id", default="mavic3e", show_default=True, help="Camera id (see `dronectl cameras list`).")
@cameras_option
@click.option("--altitude", type=float, help="Height above ground in metres (default 60).")
@click.option("--gsd", type=float, help="Wanted ground sample distance in cm/px (sets the altitude).")
@click.option("--front-overlap", type=float, default=80.0, show_default=True, help="Front overlap, percent.")
@click.option("--side-overlap", type=float, default=70.0, show_default=True, help="Side overlap, percent.")
@click.option("--angle", type=Angle(), default="auto", show_default=True,
              help="Bearing of the flight lines in degrees, or 'auto' for the quickest.")
@click.option("--speed", type=float, default=5.0, show_default=True, help="Survey speed, m/s.")
@click.option("--turnaround", type=float, default=5.0, show_default=True,
              help="Lead-in/lead-out beyond each photo line, metres.")
@click.option("--crosshatch", is_flag=True, help="Add a second grid at +90 degrees.")
@click.option("--portrait", is_flag=True, help="Camera in portrait orientation (image height across track).")
@click.option("--terrain", "dem", type=click.Path(dir_okay=False), help="DEM GeoTIFF: keep the height above ground.")
@click.option("--terrain-tolerance", type=float, default=3.0, show_default=True,
              help="Allowed deviation from the height above ground, metres.")
@click.option("--home", type=LATLON, help="Take-off point LAT,LON[,ALT_AMSL]. Default: the zone's centre.")
@click.option("--battery-min", type=float, default=25.0, show_default=True, help="Flight time of one battery, minutes.")
@click.option("--reserve", type=float, default=25.0, show_default=True, help="Battery reserve, percent.")
@click.option("--capacity", type=int, default=650, show_default=True,
              help="Autopilot mission capacity in items, home included.")
@click.option("--vlos", "vlos_m", type=float, default=500.0, show_default=True,
              help="Visual line of sight: no waypoint farther from the take-off point, metres.")
@airspace_option
@click.option("--no-airspace", is_flag=True, help="Do not apply any airspace file (the 120 m limit still holds).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output .plan (default: ZONE.plan).")
@click.option("--preview", type=click.Path(dir_okay=False), help="Also write a PNG preview of the plan.")
@json_option
def survey(zone_name, polygon_file, zones_file, exclude_files, camera_id, cameras_file, altitude, gsd, front_overlap,
           side_overlap, angle, speed, turnaround, crosshatch, portrait, dem, terrain_tolerance, home, battery_min,
           reserve, capacity, vlos_m, airspace_file, no_airspace, out, preview, as_json):
    """Plan a photogrammetry survey over a zone and write QGroundControl .plan file(s)."""
    from dronectl.camera import find_camera
    from dronectl.formats import write_sorties
    from dronectl.geo import find_zone, load_airspace, load_polygon
    from dronectl.survey import SurveyParams, plan_survey

    if bool(zone_name) == bool(polygon_file):
        raise InputError("give the area with --zone NAME or --polygon FILE (one of them)")
    if zone_name:
        zone = find_zone(zone_name, zones_file)
        area, name = zone.geometry, zone.name
    else:
        area, name = load_polygon(polygon_file), Path(polygon_file).stem
    camera = find_camera(camera_id, cameras_file)
    exclusions = None
    if exclude_files:
        from shapely import union_all

        exclusions = union_all([load_polygon(f) for f in exclude_files])
    airspace = [] if no_airspace else load_airspace(airspace_file)
    if out and not out.endswith(".plan"):
        raise InputError(f"--out must end in .plan, got '{out}'")
    if preview and not preview.lower().endswith(".png"):
        raise InputError(f"--preview must end in .png, got '{preview}'")
    params = SurveyParams(
        altitude_m=altitude, gsd_cm=gsd, front_overlap=_fraction(front_overlap),
        side_overlap=_fraction(side_overlap), angle_deg=angle, speed_mps=speed,
        turnaround_m=turnaround, crosshatch=crosshatch, portrait=portrait,
        home_latlon=(home[0], home[1]) if home else None, home_alt_m=home[2] if home and len(home) > 2 else None,
        battery_min=battery_min, reserve=_fraction(reserve), capacity=capacity,
        terrain_tolerance_m=terrain_tolerance, vlos_m=vlos_m)
    result = plan_survey(area, camera, params, exclusions_lonlat=exclusions, airspace=airspace, dem_path=dem, name=name)

    files = write_sorties(result.missions, out or f"{_slug(name)}.plan", preview)
    if files.removed:
        click.echo(f"dronectl: removed {len(files.removed)} stale file(s) of an earlier plan of the same name: "
                   f"{', '.join(str(p) for p in files.removed)}", err=True)
    summary = dict(result.summary, files=[str(p) for p in files.written], removed=[str(p) for p in files.removed])
    if as_json:
        emit_json(summary)
        return
    s = summary
    rows = [("zone", s["zone"]), ("camera", s["camera"]), ("altitude", f"{s['altitude_m']:g} m"),
            ("GSD", f"{s['gsd_cm']:.2f} cm/px"), ("footprint", f"{s['footprint_side_m']:.1f} x {s['footprint_front_m']:.1f} m"),
            ("line spacing", f"{s['line_spacing_m']:.1f} m"), ("trigger distance", f"{s['trigger_distance_m']:.1f} m"),
            ("bearing", f"{s['angle_deg']:g} deg"), ("area", f"{s['area_m2'] / 1e4:.2f} ha"),
            ("transects", s["transects"]), ("length", f"{s['length_m'] / 1000:.2f} km"),
            ("duration", f"{s['duration_s'] / 60:.1f} min"), ("photos", s["photos"]),
            ("sorties", s["sorties"]), ("coverage", f"{s['coverage'] * 100:.2f} %"),
            ("files", ", ".join(s["files"]))]
    rows += [("warning", w) for w in s["warnings"]]
    kv_table("Survey plan", rows)


@plan.command("check")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@airspace_option
@click.option("--no-airspace", is_flag=True, help="Check against the 120 m limit only.")
@click.option("--vlos", "vlos_m", type=float,
              help="Maximum distance from the take-off point (visual line of sight), metres "
                   "(default: the plan's, else 500).")
@click.option("--battery-min", type=float, help="Battery flight time in minutes (default: from the plan, else 25).")
@click.option("--reserve", type=float, help="Battery reserve, percent (default: from the plan, else 25).")
@click.option("--capacity", type=int, help="Autopilot mission capacity, home included (default: the plan's, else 650).")
@json_option
def check(plan_file, airspace_file, no_airspace, vlos_m, battery_min, reserve, capacity, as_json):
    """Preflight checks of a mission file; exit 1 with one line per violation."""
    from dronectl.checks import PLANNED, check_plan_file

    violations = check_plan_file(plan_file, airspace_file=None if no_airspace else airspace_file,
                                 use_airspace=not no_airspace, vlos_m=PLANNED if vlos_m is None else vlos_m,
                                 battery_min=battery_min, reserve=_fraction(reserve),
                                 capacity=PLANNED if capacity is None else capacity)
    if as_json:
        emit_json({"file": plan_file, "ok": not violations,
                   "violations": [{"rule": v.rule, "item": v.item, "message": v.message} for v in violations]})
    else:
        for v in violations:
            click.echo(f"{plan_file}: {v.message}", err=True)
        if not violations:
            click.echo(f"{plan_file}: all preflight checks passed")
    if violations:
        raise SystemExit(EXIT_CHECKS)


EXPORT_FORMATS = {"waypoints": ".waypoints", "geojson": ".geojson", "kml": ".kml", "png": ".png", "plan": ".plan"}


@plan.command("export")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(sorted(EXPORT_FORMATS)), required=True, help="Output format.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default: next to the plan).")
@json_option
def export(plan_file, fmt, out, as_json):
    """Convert a .plan (or .waypoints) file to another format."""
    from dronectl.formats import export_mission, read_mission
    from dronectl.survey.extras import survey_extras

    mission = read_mission(plan_file)
    out_path = Path(out) if out else Path(plan_file).with_suffix(EXPORT_FORMATS[fmt])
    if out_path.resolve() == Path(plan_file).resolve():
        raise InputError(f"output {out_path} would overwrite the input: give another -o")
    export_mission(mission, fmt, out_path, survey_extras(mission))
    if as_json:
        emit_json({"file": str(out_path), "format": fmt, "items": len(mission.items)})
    else:
        click.echo(f"wrote {out_path} ({fmt}, {len(mission.items)} items)")
