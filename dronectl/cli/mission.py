"""``dronectl mission upload | download | clear`` over MAVLink."""

from __future__ import annotations

from pathlib import Path

import click

from dronectl.cli._common import emit_json, group, json_option, progress
from dronectl.errors import InputError, MissionRejected
from dronectl.flightlog import flight_log_path, preflight_gate
from dronectl.flightlog import log_event as log_event_to_file

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


def with_force(f):
    for opt in reversed(force_options + vehicle_options):
        f = opt(f)
    return f


def vehicle_gate(force, reason, command, plan_file, conn):
    """The override of the vehicle-state checks (``--force --reason``): logged, and said on stderr."""
    from dronectl.flightlog import vehicle_override

    logged = vehicle_override(force, reason, command, plan_file, conn)

    def override(problems):
        logged(problems)
        click.echo(f"dronectl: warning: {problems[0]}{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}"
                   f"; going on because: {reason} (logged in {flight_log_path()})", err=True)

    return override


def log_event(event: dict) -> None:
    """Append to the flight log; a warning, not a failure, when it cannot be written."""
    try:
        log_event_to_file(event)
    except OSError as exc:
        click.echo(f"dronectl: warning: cannot write the flight log {flight_log_path()}: {exc.strerror}", err=True)


def preflight_or_force(plan_file: str, force: bool, reason: str | None, command: str, conn: str) -> list[str]:
    """:func:`dronectl.flightlog.preflight_gate`, saying on stderr when checks are overridden."""
    violations = preflight_gate(plan_file, force, reason, command, conn)
    if violations:
        click.echo(f"dronectl: warning: {plan_file} fails {len(violations)} preflight check"
                   f"{'s' if len(violations) > 1 else ''}; going on because: {reason} "
                   f"(logged in {flight_log_path()})", err=True)
    return violations


def _read_plan(plan_file):
    from dronectl.formats import read_mission

    return read_mission(plan_file)


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
@json_option
def upload(plan_file, conn, timeout_s, no_verify, method, force, reason, max_distance, vlos_m, as_json):
    """Upload a plan (mission, geofence, rally points), then read it back and compare.

    First the vehicle's position, home, GPS fix and battery are checked against the plan."""
    from dronectl.mavlink import link, transfer, vehicle_state

    link.check_connection_string(conn)
    m = _read_plan(plan_file)
    vehicle_state.require_items(m, plan_file)
    limits = vehicle_state.StateLimits(max_distance_m=max_distance, vlos_m=vlos_m)
    forced = preflight_or_force(plan_file, force, reason, "mission upload", conn)
    override = vehicle_gate(force, reason, "mission upload", plan_file, conn)
    master = link.connect(conn, timeout_s)
    try:
        state_forced = vehicle_state.check(master, m, limits, override)
        with progress("upload", len(m.items) + 1, quiet=as_json) as bar:
            sent = transfer.upload(master, m, progress=bar.update, method=method)
        diffs = [] if no_verify else transfer.verify(master, m)
    finally:
        master.close()
    if diffs:
        more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
        raise MissionRejected(f"the mission read back from the vehicle differs from {plan_file}: {diffs[0]}{more}")
    result = {"file": plan_file, "items": len(m.items), "fence_polygons": len(m.fence_polygons),
              "fence_circles": len(m.fence_circles), "rally_points": len(m.rally), "verified": not no_verify,
              "method": sent.method, "ftp_fallback": sent.fallback_reason, "forced_violations": forced,
              "forced_vehicle_problems": state_forced}
    if as_json:
        emit_json(result)
    else:
        if sent.fallback_reason:
            click.echo(f"dronectl: MAVLink FTP failed ({sent.fallback_reason}); used the item protocol", err=True)
        click.echo(f"uploaded {len(m.items)} items ({'MAVLink FTP' if sent.method == 'ftp' else 'item protocol'}), "
                   f"{len(m.fence_polygons) + len(m.fence_circles)} fence shapes, {len(m.rally)} rally points"
                   f"{'; read back identical' if not no_verify else ' (not verified)'}")


@mission.command("download")
@connect_option
@timeout_option
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output .plan or .waypoints.")
@json_option
def download(conn, timeout_s, out, as_json):
    """Read the vehicle's mission, geofence and rally points into a file."""
    from dronectl.formats import export_mission
    from dronectl.mavlink import link, transfer

    suffix = Path(out).suffix.lower()
    if suffix not in (".plan", ".waypoints"):
        raise InputError(f"-o must end in .plan or .waypoints, got '{out}'")
    link.check_connection_string(conn)
    master = link.connect(conn, timeout_s)
    try:
        with progress("download", quiet=as_json) as bar:
            m = transfer.download(master, progress=bar.update)
    finally:
        master.close()
    export_mission(m, suffix[1:], out)
    summary = {"file": out, "items": len(m.items), "fence_polygons": len(m.fence_polygons),
               "fence_circles": len(m.fence_circles), "rally_points": len(m.rally),
               "home": None if m.home is None else [m.home.lat_deg, m.home.lon_deg, m.home.alt_m]}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {out}: {len(m.items)} items, {len(m.fence_polygons) + len(m.fence_circles)} fence shapes, "
                   f"{len(m.rally)} rally points")


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
