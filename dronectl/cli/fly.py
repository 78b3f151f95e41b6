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
@click.option("--camera-sim", "camera_dir", type=click.Path(file_okay=False),
              help="Render the synthetic camera's photo of every CAMERA_FEEDBACK into DIR (any vehicle, SITL too).")
@click.option("--imagery", type=click.Path(dir_okay=False), help="With --camera-sim: the orthophoto it sees.")
@click.option("--image-scale", type=float, default=0.25, show_default=True,
              help="With --camera-sim: photo size relative to the camera's.")
@click.option("--ingest", is_flag=True, help="With --camera-sim: then ingest the photos (--service, --archive).")
@click.option("--service", help="With --ingest: the service the photos belong to.")
@click.option("--archive", "archive_path", type=click.Path(file_okay=False), envvar="DRONECTL_ARCHIVE",
              default="archive", show_default=True, help="With --ingest: the archive folder.")
@click.option("--mission", "mission_id", help="With --ingest: the mission id (default: the plan's name and the time).")
@json_option
def fly(plan_file, conn, log_path, no_verify, force, reason, max_distance, vlos_m, link_timeout, timeout_s,
        ready_timeout, camera_dir, imagery, image_scale, ingest, service, archive_path, mission_id, as_json):
    """Upload a plan, take off, fly it in AUTO and land (Ctrl-C: return to launch).

    First the vehicle's position, home, GPS fix and battery are checked against the plan. With --camera-sim the
    synthetic camera photographs the flight, as a real camera would at each trigger."""
    from datetime import datetime, timezone
    from pathlib import Path

    from dronectl.errors import InputError
    from dronectl.formats import read_mission
    from dronectl.mavlink import flight, link, vehicle_state

    link.check_connection_string(conn)
    m = read_mission(plan_file)
    vehicle_state.require_items(m, plan_file)
    shot = None
    if (imagery or ingest) and not camera_dir:
        raise InputError("--imagery and --ingest go with --camera-sim DIR (where the photos are written)")
    if ingest and not service:
        raise InputError("--ingest needs --service (police, communication, technical...)")
    if camera_dir:
        from dronectl.sim.run import check_imagery, synthetic_camera

        shot = synthetic_camera(m.plan_data.camera if m.plan_data else "sim", image_scale)
        if imagery:
            from shapely.geometry import MultiPoint

            check_imagery(Path(imagery), MultiPoint([(lon, lat) for lat, lon, _ in m.positions()]).convex_hull)
        if ingest:
            from dronectl.archive import open_archive

            with open_archive(archive_path) as a:
                a.services.get(service)  # an unknown service is refused before the flight, not after
    started = datetime.now(timezone.utc).replace(microsecond=0)
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
    if shot is not None:
        from dronectl.sim.run import photograph

        home_amsl = m.home.alt_m if m.home else 0.0
        with progress("photos", len(rec.camera_events), quiet=as_json) as bar:
            photos = photograph(rec, shot, Path(camera_dir), home_amsl, started, imagery)
            bar.update(len(photos), len(photos))
        d["camera_sim"] = {"dir": camera_dir, "photos": len(photos)}
        if ingest:
            from dronectl.archive import open_archive

            mission_id = mission_id or f"{Path(plan_file).stem}-{started:%Y%m%dT%H%M%S}"
            with open_archive(archive_path) as a, progress("ingest", len(photos), quiet=as_json) as bar:
                report = a.ingest(photos, service, mission=mission_id, workers=2, progress=bar.update)
            d["camera_sim"].update(archive=str(archive_path), mission=mission_id, ingest=report.to_dict()["counts"])
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
        + ([("telemetry log", log_path)] if log_path else [])
        + ([("synthetic photos", f"{d['camera_sim']['photos']} in {camera_dir}")] if shot is not None else [])
        + ([("ingested", f"{d['camera_sim']['ingest']['ingested']} into {archive_path} as mission "
                         f"{d['camera_sim']['mission']}")] if ingest else []))
