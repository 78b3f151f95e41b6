"""``dronectl demo``: the whole chain on embedded defaults (see dronectl/sim/demo.py)."""

from __future__ import annotations

from pathlib import Path

import click

from dronectl.cli._common import emit_json, json_option, kv_table, progress
from dronectl.sim.demo import DEMO_ZONE, run_demo


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo-out", show_default=True,
              help="Folder for the plan, preview, flight log, photos and archive.")
@click.option("--zone", default=DEMO_ZONE, show_default=True, help="Zone of the shipped Soissons file to survey.")
@click.option("--speedup", type=float, default=30.0, show_default=True, help="Simulation speed-up.")
@json_option
def demo(out_dir, zone, speedup, as_json):
    """Plan a survey over a Soissons zone, fly it on the simulator, archive the photos, say where to look."""
    s = run_demo(Path(out_dir), zone, speedup, progress=lambda label, total=None: progress(label, total, quiet=as_json))
    if as_json:
        emit_json(s)
        return
    kv_table("dronectl demo", [
        ("zone", s["zone"]), ("plan", s["plan"]), ("preview", s["preview"]),
        ("photos planned / taken", f"{s['planned_photos']} / {s['photos_taken']}"),
        ("coverage (planned)", f"{s['coverage'] * 100:.2f} %"), ("flight log", s["flight_log"]),
        ("photos", s["photos_dir"]), ("archive", s["archive"]),
        ("ingested", f"{s['ingest']['ingested']} (duplicates {s['ingest']['duplicates']}, "
                     f"skipped {s['ingest']['skipped']})")])
    click.echo("\nWhere to look next:")
    for cmd in s["next"]:
        click.echo(f"  .venv/bin/{cmd}")
