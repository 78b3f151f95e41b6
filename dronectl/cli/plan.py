"""``dronectl plan survey | corridor | orbit | structure | check | export``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from dronectl.cli._common import emit_json, group, json_option, kv_table
from dronectl.cli.options import (LATLON, airspace_option, corridor_arguments, corridor_options, fraction,
                                  ring_flight_arguments, ring_flight_options, survey_arguments, survey_options,
                                  zones_option)
from dronectl.errors import EXIT_CHECKS, InputError


@group()
def plan():
    """Plan survey missions, check them, export them."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "survey"


def _outputs(default: str):
    """``-o/--out``, ``--preview`` and ``--json`` of a planning command."""
    def decorate(f):
        f = json_option(f)
        f = click.option("--preview", type=click.Path(dir_okay=False), help="Also write a PNG preview of the plan.")(f)
        return click.option("-o", "--out", type=click.Path(dir_okay=False),
                            help=f"Output .plan (default: {default}.plan).")(f)
    return decorate


def _plan_and_report(planner, out, preview, as_json, title: str, rows) -> None:
    """Check the outputs, plan, write the sorties, and print the summary: JSON, or the table ``rows(summary)``
    followed by the files written and the warnings."""
    _check_outputs(out, preview)
    s = _write(planner(), out, preview)
    if as_json:
        emit_json(s)
        return
    kv_table(title, rows(s) + [("files", ", ".join(s["files"]))] + [("warning", w) for w in s["warnings"]])


def _grid_rows(own_rows, every_home: bool):
    """The table rows a survey and a corridor share, with the pattern's own after the trigger distance, and one
    per take-off point."""
    def rows(s: dict) -> list:
        out = [("zone", s["zone"]), ("camera", s["camera"]), ("altitude", f"{s['altitude_m']:g} m"),
               ("GSD", f"{s['gsd_cm']:.2f} cm/px"),
               ("footprint", f"{s['footprint_side_m']:.1f} x {s['footprint_front_m']:.1f} m"),
               ("line spacing", f"{s['line_spacing_m']:.1f} m"),
               ("trigger distance", f"{s['trigger_distance_m']:.1f} m"), *own_rows(s),
               ("length", f"{s['length_m'] / 1000:.2f} km"), ("duration", f"{s['duration_s'] / 60:.1f} min"),
               ("photos", s["photos"]), ("sorties", s["sorties"]), ("coverage", f"{s['coverage'] * 100:.2f} %")]
        if every_home or len(s["homes"]) > 1:
            out += [(f"take-off {h['home']}", f"{h['lat']:.6f}, {h['lon']:.6f}: "
                     f"sortie{'s' if len(h['sorties']) > 1 else ''} {', '.join(str(n) for n in h['sorties'])}")
                    for h in s["homes"]]
        return out
    return rows


@plan.command("survey")
@survey_options()
@_outputs("ZONE")
def survey(out, preview, as_json, **options):
    """Plan a photogrammetry survey over a zone and write QGroundControl .plan file(s)."""
    from dronectl.api import plan_survey

    _plan_and_report(lambda: plan_survey(**survey_arguments(options)), out, preview, as_json, "Survey plan",
                     _grid_rows(lambda s: [("bearing", f"{s['angle_deg']:g} deg"),
                                           ("area", f"{s['area_m2'] / 1e4:.2f} ha"), ("transects", s["transects"])],
                                every_home=False))


@plan.command("corridor")
@corridor_options()
@_outputs("LINE")
def corridor(out, preview, as_json, **options):
    """Plan a corridor scan along a line (a river bank, a road): photo lines parallel to it across --width."""
    from dronectl.api import plan_corridor

    _plan_and_report(lambda: plan_corridor(**corridor_arguments(options)), out, preview, as_json, "Corridor plan",
                     _grid_rows(lambda s: [("corridor", f"{s['corridor_length_m'] / 1000:.2f} km x {s['width_m']:g} m"),
                                           ("flight lines", s["lines"]), ("area", f"{s['area_m2'] / 1e4:.2f} ha")],
                                every_home=True))


def _check_outputs(out, preview) -> None:
    if out and not out.endswith(".plan"):
        raise InputError(f"--out must end in .plan, got '{out}'")
    if preview and not preview.lower().endswith(".png"):
        raise InputError(f"--preview must end in .png, got '{preview}'")


def _write(result, out, preview) -> dict:
    """Write the sorties (all or nothing) and return the summary with the files written and removed."""
    from dronectl.formats import write_sorties

    files = write_sorties(result.missions, out or f"{_slug(result.summary['zone'])}.plan", preview)
    if files.removed:
        click.echo(f"dronectl: removed {len(files.removed)} stale file(s) of an earlier plan of the same name: "
                   f"{', '.join(str(p) for p in files.removed)}", err=True)
    return dict(result.summary, files=[str(p) for p in files.written], removed=[str(p) for p in files.removed])


class Heights(click.ParamType):
    """``A,B,...``: heights in metres."""

    name = "A,B,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return tuple(float(x) for x in str(value).split(","))
        except ValueError:
            self.fail(f"'{value}' is not a list of heights in metres (e.g. 30,50)", param, ctx)


@plan.command("orbit")
@click.option("--center", required=True, type=LATLON, help="Point of interest LAT,LON.")
@click.option("--radius", type=float, required=True, help="Radius of the circle, metres.")
@click.option("--altitude", type=float, help="Height of the circle above the take-off point, metres.")
@click.option("--altitudes", type=Heights(), help="Several circles, one per height (A,B,...), instead of --altitude.")
@click.option("--photos", type=int, default=24, show_default=True, help="Photos per circle, evenly spaced.")
@click.option("--pitch", type=float,
              help="Camera pitch in degrees below the horizon (negative). Default: aimed at the centre's foot.")
@ring_flight_options("Default: on the circle, south.", "Speed along the circle, m/s.")
@_outputs("NAME")
def orbit(center, radius, altitude, altitudes, photos, pitch, out, preview, as_json, **flight):
    """Circle(s) around a point of interest, the camera on it, one photo per waypoint."""
    from dronectl.api import plan_orbit

    def planner():
        if altitude is not None and altitudes:
            raise InputError("give --altitude or --altitudes, not both")
        return plan_orbit(center[:2], radius, altitudes or ((altitude,) if altitude is not None else ()),
                          photos=photos, pitch_deg=pitch, **ring_flight_arguments(flight))

    _plan_and_report(planner, out, preview, as_json, "Orbit plan", lambda s: [
        ("centre", f"{s['center'][0]:.6f}, {s['center'][1]:.6f}"), ("radius", f"{s['radius_m']:g} m"),
        ("heights", ", ".join(f"{a:g} m" for a in s["altitudes_m"])),
        ("camera pitch", ", ".join(f"{p:g} deg" for p in s["pitch_deg"])),
        ("photos", f"{s['photos']} ({s['photos_per_ring']} per circle, {s['photo_spacing_m']:.1f} m apart)"),
        ("length", f"{s['length_m'] / 1000:.2f} km"), ("duration", f"{s['duration_s'] / 60:.1f} min"),
        ("sorties", s["sorties"])])


@plan.command("structure")
@click.option("--zone", "zone_name", help="A structure of the zone file (its height_m is the default --height).")
@click.option("--polygon", "polygon_file", type=click.Path(dir_okay=False),
              help="The structure's outline instead (GeoJSON or GeoPackage, one polygon).")
@zones_option
@click.option("--distance", type=float, required=True, help="Distance of the camera from the walls, metres (>= 3).")
@click.option("--height", type=float,
              help="Top of the structure above the take-off point, metres (default: the zone's height_m).")
@click.option("--bottom", type=float, default=0.0, show_default=True, help="Lowest height of the facade to scan, metres.")
@click.option("--vertical-overlap", type=float, default=70.0, show_default=True,
              help="Overlap of the photos of one layer with the next, percent.")
@click.option("--side-overlap", type=float, default=70.0, show_default=True,
              help="Overlap of neighbouring photos along a layer, percent.")
@click.option("--pitch", type=float, default=0.0, show_default=True,
              help="Camera pitch in degrees below the horizon (negative; 0 looks level at the wall).")
@click.option("--bottom-up", is_flag=True, help="Fly the lowest layer first (default: from the top down).")
@ring_flight_options("Default: on the path, its southernmost point.", "Speed along the layers, m/s.")
@_outputs("NAME")
def structure(zone_name, polygon_file, zones_file, distance, height, bottom, vertical_overlap, side_overlap, pitch,
              bottom_up, out, preview, as_json, **flight):
    """Scan a building's facade: layers around its outline at --distance, the camera on the wall."""
    from dronectl.api import plan_structure

    _plan_and_report(lambda: plan_structure(
        zone_name, polygon_file, distance, height, zones_file=zones_file, bottom_m=bottom,
        vertical_overlap=fraction(vertical_overlap), side_overlap=fraction(side_overlap), pitch_deg=pitch,
        bottom_up=bottom_up, **ring_flight_arguments(flight)), out, preview, as_json, "Structure scan", lambda s: [
            ("structure", s["zone"]), ("camera", s["camera"]),
            ("facade", f"{s['perimeter_m']:.0f} m around, {s['bottom_m']:g} to {s['height_m']:g} m high"),
            ("distance", f"{s['distance_m']:g} m (GSD {s['gsd_cm']:.2f} cm/px on the wall)"),
            ("layers", f"{s['layers']}: " + ", ".join(f"{a:g}" for a in s["altitudes_m"]) + " m"),
            ("camera pitch", f"{s['pitch_deg']:g} deg"),
            ("photos", f"{s['photos']} ({s['photos_per_layer']} per layer, {s['trigger_distance_m']:.1f} m apart)"),
            ("entry and exit", f"{s['safe_altitude_m']:g} m"),
            ("length", f"{s['length_m'] / 1000:.2f} km"), ("duration", f"{s['duration_s'] / 60:.1f} min"),
            ("sorties", s["sorties"]), ("facade coverage", f"{s['facade_coverage'] * 100:.2f} %")])


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
    from dronectl.api import check_plan
    from dronectl.checks import PLANNED

    result = check_plan(plan_file, airspace_file=None if no_airspace else airspace_file,
                        use_airspace=not no_airspace, vlos_m=PLANNED if vlos_m is None else vlos_m,
                        battery_min=battery_min, reserve=fraction(reserve),
                        capacity=PLANNED if capacity is None else capacity)
    violations = result.violations
    if as_json:
        emit_json(result.to_dict())
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
