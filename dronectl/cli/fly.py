"""``dronectl fly FILE.plan --connect CONN``."""

from __future__ import annotations

import click

from dronectl.cli._common import emit_json, json_option, kv_table, progress
from dronectl.cli.mission import connect_option, limits_of, say, with_force, with_register


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
@click.option("--camera-sim", "camera_dir", type=click.Path(file_okay=False),
              help="Render the synthetic camera's photo of every CAMERA_FEEDBACK into DIR (any vehicle, SITL too).")
@click.option("--imagery", type=click.Path(dir_okay=False), help="With --camera-sim: the orthophoto it sees.")
@click.option("--image-scale", type=float, default=0.25, show_default=True,
              help="With --camera-sim: photo size relative to the camera's.")
@click.option("--ingest", is_flag=True, help="With --camera-sim: then ingest the photos (--service, --archive).")
@with_register
@click.option("--purpose", help="Why the flight is made (goes into the logbook).")
@click.option("--authorisation", help="The reference of the authorisation or declaration it flies under.")
@click.option("--mission", "mission_id",
              help="The mission id, in the logbook and for --ingest (default: the plan's name, with --ingest and "
                   "the time).")
@json_option
def fly(plan_file, conn, log_path, no_verify, force, reason, max_distance, vlos_m, link_timeout, timeout_s,
        ready_timeout, camera_dir, imagery, image_scale, ingest, pilot, service, archive_path, zones_file, purpose,
        authorisation, mission_id, as_json):
    """Upload a plan, take off, fly it in AUTO and land (Ctrl-C: return to launch); the flight goes into the
    logbook.

    First the register (pilot, aircraft, maintenance, a police mission's authorisation), then the vehicle's
    position, home, GPS fix and battery are checked against the plan. With --camera-sim the synthetic camera
    photographs the flight, as a real camera would at each trigger."""
    from dronectl.api import CameraSim, Crew, fly_plan
    from dronectl.cli._common import ctrl_c_returns_to_launch
    from dronectl.errors import EXIT_INTERRUPTED, EXIT_VEHICLE, InputError

    ctrl_c_returns_to_launch()
    if (imagery or ingest) and not camera_dir:
        raise InputError("--imagery and --ingest go with --camera-sim DIR (where the photos are written)")
    if ingest and not service:
        raise InputError("--ingest needs --service (police, communication, technical...)")
    camera = CameraSim(camera_dir, imagery, image_scale, service if ingest else None, archive_path,
                       mission_id) if camera_dir else None
    r = fly_plan(plan_file, conn, log_path=log_path, verify=not no_verify, force=force, reason=reason,
                 limits=limits_of(max_distance, vlos_m), link_timeout_s=link_timeout, heartbeat_timeout_s=timeout_s,
                 ready_timeout_s=ready_timeout, camera=camera,
                 crew=Crew(pilot, service or "", purpose or "", authorisation or "", mission_id, archive_path,
                           zones_file),
                 progress=lambda label, total=None: progress(label, total, quiet=as_json), say=say)
    rec, photos = r.record, r.photos
    if as_json:
        emit_json(r.to_dict(track=False))
    else:
        title = {"interrupted": " (interrupted: returned to launch)", "failsafe": " (ended by the vehicle's failsafe)",
                 "incomplete": " (mission not completed)"}.get(r.outcome, "")
        kv_table("Flight" + title, [
            ("duration", f"{rec.duration_s:.0f} s"), ("distance", f"{rec.distance_m:.0f} m"),
            ("items reached", f"{rec.items_reached}/{rec.items_total}"), ("photos", rec.photos),
            ("battery used", f"{rec.battery_used_pct:.0f} %"), ("landed", "yes" if rec.landed else "no")]
            + ([("failsafe", rec.failsafe)] if rec.failsafe else [])
            + ([("telemetry log", log_path)] if log_path else [])
            + ([("logbook", ("simulated entry " if r.register.simulated else "entry ")
                 + ", ".join(f"#{n}" for n in r.logbook))] if r.logbook else [])
            + ([("synthetic photos", f"{photos.photos} in {camera_dir}")] if photos is not None else [])
            + ([("ingested", f"{photos.ingest['ingested']} into {archive_path} as mission {photos.mission}")]
               if photos is not None and photos.ingest is not None else []))
    if r.outcome == "interrupted":
        raise SystemExit(EXIT_INTERRUPTED)
    if r.outcome != "completed":
        click.echo(f"dronectl: error: the mission did not complete (items reached {rec.items_reached}/"
                   f"{rec.items_total}{f'; {rec.failsafe}' if rec.failsafe else ''})", err=True)
        raise SystemExit(EXIT_VEHICLE)
