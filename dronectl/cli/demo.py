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
@click.option("--serve", "then_serve", is_flag=True, help="Then serve the web map of the archive (user 'demo').")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port for --serve.")
@json_option
def demo(out_dir, zone, speedup, then_serve, port, as_json):
    """Plan a survey over a Soissons zone, fly it on the simulator, archive the photos, say where to look."""
    if then_serve and as_json:
        raise click.UsageError("--serve runs until Ctrl-C and --json prints one object: give one of them")
    s = run_demo(Path(out_dir).absolute(), zone, speedup, progress=lambda label, total=None: progress(label, total, quiet=as_json))
    if as_json:
        emit_json(s)
        return
    kv_table("dronectl demo", [
        ("zone", s["zone"]), ("mission", s["mission_id"]), ("plan and preview", ", ".join(s["plan"])),
        ("photos planned / taken", f"{s['photos_planned']} / {s['photos_taken']}"),
        ("ingested", f"{s['ingest']['ingested']} (duplicates {s['ingest']['duplicates']}, "
                     f"skipped {s['ingest']['skipped']})"),
        ("coverage (on the ground)", f"{s['coverage'] * 100:.2f} %"), ("mosaic", s.get("mosaic_png") or "-"),
        ("flight log", f"{s['out']}/sortie-1.tlog"), ("archive", s["archive"]), ("everything in", s["out"])])
    from dronectl.api.workflows import console_command

    exe = console_command()
    click.echo("\nWhere to look next:")
    for cmd in s["next"]:
        click.echo(f"  {exe}{cmd.removeprefix('dronectl')}" if cmd.startswith("dronectl ") else f"  {cmd}")
    if not then_serve:
        return
    from dronectl.archive import open_archive
    from dronectl.web import serve

    with open_archive(s["archive"]) as a:
        token = a.add_user("demo", "technical", replace=True)[1]  # a fresh token at each demo
    serve(s["archive"], port=port, on_ready=lambda url: click.echo(
        f"\nThe web map: open {url} and log in with the token\n  {token}\n(user 'demo', technical service; "
        "Ctrl-C stops)"))
