"""``dronectl sim vehicle`` (the built-in MAVLink test vehicle) and ``dronectl sim sitl`` (ArduPilot SITL)."""

from __future__ import annotations

import signal
import threading

import click

from dronectl.cli._common import emit_json, group, json_option, kv_table, progress

from dronectl.cli.options import LATLON, survey_arguments, survey_options

home_option = click.option("--home", type=LATLON, default="49.3817,3.3236,60", show_default=True,
                           help="Home as LAT,LON[,ALT_AMSL].")


def _home3(home):
    return (home[0], home[1], home[2] if len(home) > 2 else 0.0)


def _serve_until_signal(alive=lambda: True) -> None:
    """Block until SIGTERM, Ctrl-C, or ``alive()`` turns false."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    try:
        while not done.wait(0.5):
            if not alive():
                return
    except KeyboardInterrupt:
        pass


@group()
def sim():
    """Simulators: the built-in test vehicle, ArduPilot SITL."""


@sim.command("vehicle")
@click.option("--listen", default="tcp:127.0.0.1:5760", show_default=True,
              help="tcp:HOST:PORT to serve on, or pty (alias serial): a pseudo-terminal, connected to as to a "
                   "telemetry radio (/dev/pts/N,57600).")
@home_option
@click.option("--speedup", type=click.FloatRange(0.1, 1000), default=1.0, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--loss", type=click.FloatRange(0, 1), default=0.0, help="Share of packets lost, each way (0-1).")
@click.option("--duplicate", type=click.FloatRange(0, 1), default=0.0, help="Share of packets delivered twice.")
@click.option("--delay-ms", type=click.FloatRange(0, 5000), default=0.0, help="Delay of every packet it sends.")
@click.option("--gps-delay", type=click.FloatRange(0, 3600), default=20.0, show_default=True,
              help="Simulated seconds until a GPS fix.")
@click.option("--ekf-delay", type=click.FloatRange(0, 3600), default=40.0, show_default=True,
              help="Simulated seconds until it can arm.")
@click.option("--capacity", type=click.IntRange(2, 100000), default=650, show_default=True,
              help="Mission items it can hold, home included.")
@click.option("--battery", "battery_pct", type=click.FloatRange(0, 100), default=100.0, show_default=True,
              help="Battery charge at start, percent; it drains in flight and is kept between flights.")
@click.option("--seed", type=click.IntRange(0, 2**63), default=None,
              help="Seed of the fault injection (--loss, --duplicate), to repeat a run; default: a random one, "
                   "printed.")
def vehicle(listen, home, speedup, loss, duplicate, delay_ms, gps_delay, ekf_delay, capacity, battery_pct, seed):
    """Serve the built-in test vehicle (a protocol stand-in for ArduCopter) until SIGTERM or Ctrl-C."""
    import random

    from dronectl.sim.vehicle import start_vehicle

    if seed is None:
        seed = random.randrange(2**31)
    h = start_vehicle(listen, home=_home3(home), speedup=speedup, loss=loss, duplicate=duplicate,
                      delay_ms=delay_ms, gps_delay_s=gps_delay, ekf_delay_s=ekf_delay, capacity=capacity, seed=seed,
                      battery_pct=battery_pct)
    click.echo(h.connection_string)
    if loss or duplicate:
        click.echo(f"dronectl: fault injection seed {seed} (--seed {seed} repeats it)", err=True)
    click.echo(f"dronectl: test vehicle on {h.connection_string} (speed-up {speedup:g}); SIGTERM or Ctrl-C stops it",
               err=True)
    try:
        _serve_until_signal()
    finally:
        h.stop()


@sim.command("sitl")
@click.option("--sitl", "binary", type=click.Path(dir_okay=False),
              help="The arducopter SITL binary (default: $DRONECTL_SITL_BIN).")
@home_option
@click.option("--speedup", type=click.FloatRange(0.1, 100), default=1.0, show_default=True)
@click.option("--instance", type=click.IntRange(0, 40), default=None,
              help="SITL instance (ports 5760 + 10 x N); default: the first free one.")
@click.option("--no-camera", is_flag=True, help="Do not configure a camera (skips a reboot).")
def sitl(binary, home, speedup, instance, no_camera):
    """Start ArduPilot SITL in a scratch folder, print its connection string, tear it down on exit."""
    from dronectl.sim.sitl import find_binary, start_sitl

    binary = find_binary(binary)
    click.echo(f"dronectl: starting ArduPilot SITL ({binary}); waiting for a GPS fix...", err=True)
    h = start_sitl(binary, home=_home3(home), speedup=speedup, instance=instance, camera=not no_camera)
    click.echo(h.connection_string)
    click.echo(f"dronectl: SITL ready on {h.connection_string} (scratch {h.workdir}); SIGTERM or Ctrl-C stops it",
               err=True)
    try:
        _serve_until_signal(h.alive)
        if not h.alive():
            from dronectl.errors import LinkError

            raise LinkError(f"ArduPilot SITL exited (code {h.process.returncode})")
    finally:
        h.stop()


@sim.command("run")
@survey_options(default_camera="sim")
@click.option("--service", default="technical", show_default=True, help="Archive service the photos belong to.")
@click.option("--archive", "archive_path", type=click.Path(file_okay=False),
              help="Archive folder (default: OUT/archive).")
@click.option("--sitl", "sitl_bin", type=click.Path(dir_okay=False), help="Fly on ArduPilot SITL: the arducopter binary.")
@click.option("--imagery", type=click.Path(dir_okay=False), help="Orthophoto GeoTIFF the camera sees (any CRS).")
@click.option("--image-scale", type=float, default=0.25, show_default=True,
              help="Size of the synthetic photos relative to the camera's (1 = full size).")
@click.option("--speedup", type=float, default=30.0, show_default=True, help="Simulation speed-up.")
@click.option("--refly", help="A mission id: fly again the gaps it left over the zone.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (default: sim-out/NAME).")
@click.option("--no-mosaic", is_flag=True, help="Skip the mosaic.")
@json_option
def run(service, archive_path, sitl_bin, imagery, image_scale, speedup, refly, out_dir, no_mosaic, as_json, **options):
    """Plan, fly on a simulator with the synthetic camera, archive, measure coverage, mosaic: one mission."""
    from pathlib import Path

    from dronectl.api import simulate, survey_inputs
    from dronectl.cli._common import ctrl_c_returns_to_launch
    from dronectl.errors import EXIT_INTERRUPTED
    from dronectl.sim.run import SimRun

    ctrl_c_returns_to_launch()
    survey = survey_inputs(**survey_arguments(options))
    if sitl_bin:
        from dronectl.sim.sitl import find_binary

        sitl_bin = find_binary(sitl_bin)
    spec = SimRun(survey.area, survey.name, service=service, camera=survey.camera,
                  out_dir=Path(out_dir or Path("sim-out") / survey.name),
                  archive=Path(archive_path) if archive_path else None, sitl=sitl_bin,
                  imagery=Path(imagery) if imagery else None, image_scale=image_scale, speedup=speedup, refly=refly,
                  mosaic=not no_mosaic)
    s = simulate(spec, survey.params, airspace=list(survey.airspace), exclusions=survey.exclusions,
                 terrain=survey.terrain,
                 progress=lambda label, total=None: progress(label, total, quiet=as_json),
                 say=lambda text: click.echo(f"dronectl: {text}", err=True))
    if as_json:
        emit_json(s)
    else:
        kv_table(f"Simulated mission {s['mission_id']}" + (" (interrupted: landed early)" if s["interrupted"] else ""), [
            ("zone", s["zone"]), ("vehicle", s["vehicle"]), ("sorties flown", f"{s['sorties_flown']}/{s['sorties']}"),
            ("photos planned / taken", f"{s['photos_planned']} / {s['photos_taken']}"),
            ("ingested", f"{s['ingest']['ingested']} (duplicates {s['ingest']['duplicates']}, "
                         f"skipped {s['ingest']['skipped']})"),
            ("coverage", f"{100 * s['coverage']:.2f} %"), ("gaps", s.get("gaps_file") or "-"),
            ("mosaic", s.get("mosaic") or "-"), ("archive", s["archive"]), ("everything in", s["out"])])
        click.echo("\nWhere to look next:")
        for line in s["next"]:
            click.echo(f"  {line}")
    if s["interrupted"]:
        raise SystemExit(EXIT_INTERRUPTED)
