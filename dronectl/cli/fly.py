"""``dronectl fly FILE.plan --connect CONN``."""

from __future__ import annotations

import logging

import click

from dronectl.cli._common import emit_json, json_option, kv_table, progress
from dronectl.cli.mission import connect_option, preflight_or_force


@click.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@connect_option
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Record the telemetry to FILE.tlog.")
@click.option("--no-verify", is_flag=True, help="Do not read the mission back before flying.")
@click.option("--force", is_flag=True, help="Fly even if the plan fails its preflight checks.")
@click.option("--reason", help="Why the checks are overridden (required with --force; logged).")
@click.option("--link-timeout", type=float, default=5.0, show_default=True,
              help="Seconds of silence after which the link counts as lost.")
@click.option("--timeout", "timeout_s", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the heartbeat.")
@json_option
def fly(plan_file, conn, log_path, no_verify, force, reason, link_timeout, timeout_s, as_json):
    """Upload a plan, take off, fly it in AUTO and land (Ctrl-C: return to launch)."""
    from dronectl.formats import read_mission
    from dronectl.mavlink import flight, link

    link.check_connection_string(conn)
    m = read_mission(plan_file)
    forced = preflight_or_force(m, force, reason, plan_file)
    if forced and log_path:
        logging.basicConfig(filename=f"{log_path}.log", level=logging.INFO)
    with progress("flight", len(m.items), quiet=as_json) as bar:
        rec = flight.fly(conn, m, progress=bar.update, log_path=log_path, verify=not no_verify,
                         heartbeat_timeout_s=timeout_s, link_timeout_s=link_timeout)
    d = rec.to_dict()
    d.pop("track")
    if as_json:
        emit_json(d)
        return
    kv_table("Flight" + (" (interrupted: RTL)" if rec.interrupted else ""), [
        ("duration", f"{rec.duration_s:.0f} s"), ("distance", f"{rec.distance_m:.0f} m"),
        ("items reached", f"{rec.items_reached}/{rec.items_total}"), ("photos", rec.photos),
        ("battery used", f"{rec.battery_used_pct:.0f} %")] + ([("telemetry log", log_path)] if log_path else []))
