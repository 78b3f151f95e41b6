"""``dronectl plan survey | check | export``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from dronectl.cli._common import emit_json, group, json_option, kv_table
from dronectl.cli.options import airspace_option, fraction, survey_arguments, survey_options
from dronectl.errors import EXIT_CHECKS, InputError


@group()
def plan():
    """Plan survey missions, check them, export them."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "survey"


@plan.command("survey")
@survey_options()
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output .plan (default: ZONE.plan).")
@click.option("--preview", type=click.Path(dir_okay=False), help="Also write a PNG preview of the plan.")
@json_option
def survey(out, preview, as_json, **options):
    """Plan a photogrammetry survey over a zone and write QGroundControl .plan file(s)."""
    from dronectl.api import plan_survey
    from dronectl.formats import write_sorties

    if out and not out.endswith(".plan"):
        raise InputError(f"--out must end in .plan, got '{out}'")
    if preview and not preview.lower().endswith(".png"):
        raise InputError(f"--preview must end in .png, got '{preview}'")
    result = plan_survey(**survey_arguments(options))
    name = result.summary["zone"]

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
                                 battery_min=battery_min, reserve=fraction(reserve),
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
