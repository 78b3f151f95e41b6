"""``dronectl mission upload | download | clear`` over MAVLink."""

from __future__ import annotations

from pathlib import Path

import click

from dronectl.cli._common import emit_json, group, json_option, progress
from dronectl.errors import InputError, OutputError

connect_option = click.option("--connect", "conn", required=True,
                              help="Connection: udp:127.0.0.1:14550, udpout:HOST:PORT, tcp:HOST:5760, /dev/ttyUSB0,57600.")
timeout_option = click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 3600), default=10.0,
                              show_default=True, help="Seconds to wait for the vehicle's heartbeat.")
force_options = [
    click.option("--force", is_flag=True, help="Go on even if the plan fails `dronectl plan check`."),
    click.option("--reason", help="Why the checks are overridden (required with --force; goes into the flight log)."),
]


vehicle_options = [
    click.option("--max-distance", type=click.FloatRange(0, min_open=True), default=50.0, show_default=True,
                 help="Refuse when the vehicle (or its home) is farther than this many metres from the plan's "
                      "take-off point."),
    click.option("--vlos", "vlos_m", type=click.FloatRange(0, min_open=True), default=500.0, show_default=True,
                 help="Refuse when a waypoint is farther than this many metres from where the vehicle is."),
]


register_options = [
    click.option("--pilot", help="The remote pilot, as registered (`dronectl pilots list`). Default: "
                                 "$DRONECTL_PILOT. Needed on a real vehicle."),
    click.option("--service", help="The service the flight is for (police, communication, technical...): a police "
                                   "mission goes only inside a valid authorisation."),
    click.option("--archive", "archive_path", type=click.Path(file_okay=False), envvar="DRONECTL_ARCHIVE",
                 default="archive", show_default=True,
                 help="The archive whose register (pilots, aircraft, authorisations, logbook) is used."),
    click.option("--zones", "zones_file", type=click.Path(dir_okay=False),
                 help="Zone file whose zones marked populated are checked. Default: the shipped one."),
]


def with_register(f):
    for opt in reversed(register_options):
        f = opt(f)
    return f


def with_force(f):
    for opt in reversed(force_options + vehicle_options):
        f = opt(f)
    return f


def say(text: str) -> None:
    """A line of the application layer for the pilot (waits, warnings), on stderr."""
    click.echo(f"dronectl: {text}", err=True)


def limits_of(max_distance: float, vlos_m: float):
    from dronectl.mavlink.vehicle_state import StateLimits

    return StateLimits(max_distance_m=max_distance, vlos_m=vlos_m)


@group()
def mission():
    """Upload, download and clear missions over MAVLink."""


@mission.command("upload")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@connect_option
@timeout_option
@click.option("--no-verify", is_flag=True, help="Do not read the mission back to compare it.")
@click.option("--method", type=click.Choice(["auto", "items", "ftp"]), default="auto", show_default=True,
              help="items: the mission protocol; ftp: one file over MAVLink FTP; auto: FTP for 50+ items when "
                   "the vehicle offers it, else (and as fallback) items.")
@with_force
@with_register
@json_option
def upload(plan_file, conn, timeout_s, no_verify, method, force, reason, max_distance, vlos_m, pilot, service,
           archive_path, zones_file, as_json):
    """Upload a plan (mission, geofence, rally points), then read it back and compare.

    First the register (pilot, aircraft, a police mission's authorisation), then the vehicle's position, home,
    GPS fix and battery are checked against the plan."""
    from dronectl.api import Crew, upload_plan

    crew = Crew(pilot, service or "", archive=archive_path, zones_file=zones_file)
    rec = upload_plan(plan_file, conn, verify=not no_verify, method=method, force=force, reason=reason,
                      limits=limits_of(max_distance, vlos_m), timeout_s=timeout_s,
                      progress=lambda label, total=None: progress(label, total, quiet=as_json), say=say, crew=crew)
    if as_json:
        emit_json(rec.to_dict())
    else:
        click.echo(rec.sentence())


@mission.command("download")
@connect_option
@timeout_option
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output .plan or .waypoints.")
@click.option("--method", type=click.Choice(["auto", "items", "ftp"]), default="auto", show_default=True,
              help="How the mission is read: the item protocol, several requests in flight (auto: the faster on "
                   "ArduPilot), or one file over MAVLink FTP (burst reads).")
@json_option
def download(conn, timeout_s, out, method, as_json):
    """Read the vehicle's mission, geofence and rally points into a file."""
    from dronectl.formats import export_mission
    from dronectl.mavlink import link, transfer

    suffix = Path(out).suffix.lower()
    if suffix not in (".plan", ".waypoints"):
        raise InputError(f"-o must end in .plan or .waypoints, got '{out}'")
    folder = Path(out).absolute().parent
    if not folder.is_dir():
        raise OutputError(f"-o {out}: the folder {folder} does not exist; create it, or choose another path "
                          "(nothing was downloaded)")
    link.check_connection_string(conn)
    master = link.connect(conn, timeout_s)
    try:
        with progress("download", quiet=as_json) as bar:
            m = transfer.download(master, progress=bar.update, method=method)
    finally:
        master.close()
    export_mission(m, suffix[1:], out)
    summary = {"file": out, "items": len(m.items), "fence_polygons": len(m.fence_polygons),
               "fence_circles": len(m.fence_circles), "rally_points": len(m.rally),
               "home": None if m.home is None else [m.home.lat_deg, m.home.lon_deg, m.home.alt_m]}
    if as_json:
        emit_json(summary)
    else:
        from dronectl.api.workflows import plural

        click.echo(f"wrote {out}: {plural(len(m.items), 'item')}, "
                   f"{plural(len(m.fence_polygons) + len(m.fence_circles), 'fence shape')}, "
                   f"{plural(len(m.rally), 'rally point')}")


@mission.command("clear")
@connect_option
@timeout_option
@json_option
def clear(conn, timeout_s, as_json):
    """Clear the vehicle's mission, geofence and rally points."""
    from dronectl.mavlink import link, transfer

    link.check_connection_string(conn)
    transfer.clear(conn, timeout_s=timeout_s)
    if as_json:
        emit_json({"cleared": ["mission", "fence", "rally"]})
    else:
        click.echo("cleared the mission, geofence and rally points")
