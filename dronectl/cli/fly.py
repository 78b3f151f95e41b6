"""``dronectl fly FILE.plan --connect CONN``."""

from __future__ import annotations

import click

from dronectl.cli._common import emit_json, json_option, kv_table, progress
from dronectl.cli.mission import connect_option, log_event, preflight_or_force, vehicle_gate, with_force


@click.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@connect_option
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Record the telemetry to FILE.tlog.")
@click.option("--no-verify", is_flag=True, help="Do not read the mission back before flying.")
@with_force
@click.option("--link-timeout", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
              help="Seconds of silence after which the link counts as lost.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds to wait for the heartbeat.")
@click.option("--ready-timeout", type=click.FloatRange(1, 3600), default=120.0, show_default=True,
              help="Seconds to wait for a GPS fix, then for the vehicle to accept arming.")
@json_option
def fly(plan_file, conn, log_path, no_verify, force, reason, max_distance, vlos_m, link_timeout, timeout_s,
        ready_timeout, as_json):
    """Upload a plan, take off, fly it in AUTO and land (Ctrl-C: return to launch).

    First the vehicle's position, home, GPS fix and battery are checked against the plan."""
    from dronectl.formats import read_mission
    from dronectl.mavlink import flight, link, vehicle_state

    link.check_connection_string(conn)
    m = read_mission(plan_file)
    vehicle_state.require_items(m, plan_file)
    limits = vehicle_state.StateLimits(max_distance_m=max_distance, vlos_m=vlos_m)
    forced = preflight_or_force(plan_file, force, reason, "fly", conn)
    override = vehicle_gate(force, reason, "fly", plan_file, conn)
    with progress("flight", len(m.items), quiet=as_json) as bar:
        try:
            rec = flight.fly(conn, m, progress=bar.update, log_path=log_path, verify=not no_verify,
                             heartbeat_timeout_s=timeout_s, fix_timeout_s=ready_timeout, arm_timeout_s=ready_timeout,
                             link_timeout_s=link_timeout, limits=limits, override=override)
        except Exception as exc:
            log_event({"event": "flight failed", "plan": plan_file, "connect": conn, "error": str(exc),
                       **({"reason": reason, "violations": forced} if forced else {})})
            raise
    d = rec.to_dict(track=False)
    d.pop("statustexts")
    log_event({"event": "flight", "plan": plan_file, "connect": conn, "tlog": log_path,
               **{k: d[k] for k in ("duration_s", "distance_m", "photos", "items_reached", "interrupted")},
               **({"reason": reason, "violations": forced} if forced else {})})
    if as_json:
        emit_json(d)
        return
    kv_table("Flight" + (" (interrupted: returned to launch)" if rec.interrupted else ""), [
        ("duration", f"{rec.duration_s:.0f} s"), ("distance", f"{rec.distance_m:.0f} m"),
        ("items reached", f"{rec.items_reached}/{rec.items_total}"), ("photos", rec.photos),
        ("battery used", f"{rec.battery_used_pct:.0f} %"), ("landed", "yes" if rec.landed else "no")]
        + ([("telemetry log", log_path)] if log_path else []))
