"""``dronectl mission upload | download | clear`` over MAVLink."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from dronectl.cli._common import emit_json, json_option, progress
from dronectl.errors import CheckFailed, InputError

connect_option = click.option("--connect", "conn", required=True,
                              help="Connection: udp:127.0.0.1:14550, udpout:HOST:PORT, tcp:HOST:5760, /dev/ttyUSB0,57600.")
timeout_option = click.option("--timeout", "timeout_s", type=float, default=10.0, show_default=True,
                              help="Seconds to wait for the vehicle's heartbeat.")
log = logging.getLogger("dronectl.flightlog")


def preflight_or_force(mission, force: bool, reason: str | None, source: str) -> list[str]:
    """Refuse a mission that fails the preflight checks, unless forced with a reason (logged)."""
    from dronectl.checks import check_mission
    from dronectl.geo import load_airspace

    violations = [v.message for v in check_mission(mission, airspace=load_airspace())]
    if violations and not force:
        raise CheckFailed(f"{source} fails its preflight checks: {violations[0]}"
                          f"{f' (and {len(violations) - 1} more)' if len(violations) > 1 else ''}; fix the plan, "
                          "or fly it anyway with --force --reason TEXT")
    if force and violations:
        if not reason:
            raise InputError("--force needs --reason TEXT: it goes into the flight log")
        log.warning("forced despite %d violation(s): %s; reason: %s", len(violations), "; ".join(violations), reason)
        click.echo(f"dronectl: warning: flying {source} despite failed checks; reason logged: {reason}", err=True)
    return violations


@click.group()
def mission():
    """Upload, download and clear missions over MAVLink."""


@mission.command("upload")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@connect_option
@timeout_option
@click.option("--no-verify", is_flag=True, help="Do not read the mission back to compare it.")
@click.option("--force", is_flag=True, help="Upload even if the plan fails its preflight checks.")
@click.option("--reason", help="Why the checks are overridden (required with --force; logged).")
@json_option
def upload(plan_file, conn, timeout_s, no_verify, force, reason, as_json):
    """Upload a plan (mission, geofence, rally points) and read it back."""
    from dronectl.formats import read_mission
    from dronectl.mavlink import link, transfer

    link.check_connection_string(conn)
    m = read_mission(plan_file)
    forced = preflight_or_force(m, force, reason, plan_file)
    master = link.connect(conn, timeout_s)
    try:
        with progress("upload", len(m.items) + 1, quiet=as_json) as bar:
            transfer.upload(master, m, progress=bar.update)
        diffs = [] if no_verify else transfer.verify(master, m)
    finally:
        master.close()
    if diffs:
        from dronectl.errors import MissionRejected

        raise MissionRejected(f"the mission read back differs from {plan_file}: {diffs[0]}"
                              f"{f' (and {len(diffs) - 1} more)' if len(diffs) > 1 else ''}")
    result = {"file": plan_file, "items": len(m.items), "fence_polygons": len(m.fence_polygons),
              "rally_points": len(m.rally), "verified": not no_verify, "forced_violations": forced}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"uploaded {len(m.items)} items, {len(m.fence_polygons)} fence polygons, {len(m.rally)} rally "
                   f"points{'; read back identical' if not no_verify else ''}")


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
    if as_json:
        emit_json({"file": out, "items": len(m.items), "fence_polygons": len(m.fence_polygons), "rally_points": len(m.rally)})
    else:
        click.echo(f"wrote {out}: {len(m.items)} items, {len(m.fence_polygons)} fence polygons, {len(m.rally)} rally points")


@mission.command("clear")
@connect_option
@timeout_option
@json_option
def clear(conn, timeout_s, as_json):
    """Clear the vehicle's mission, geofence and rally points."""
    from dronectl.mavlink import link, transfer

    link.check_connection_string(conn)
    master = link.connect(conn, timeout_s)
    try:
        for t in (transfer.TYPE_MISSION, transfer.TYPE_FENCE, transfer.TYPE_RALLY):
            transfer.clear(master, t)
    finally:
        master.close()
    if as_json:
        emit_json({"cleared": ["mission", "fence", "rally"]})
    else:
        click.echo("cleared the mission, geofence and rally points")
