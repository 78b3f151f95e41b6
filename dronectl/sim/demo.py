"""The demo chain on embedded defaults, for a first look and for testers.

Plan a survey over a shipped Soissons zone, fly it on the built-in test vehicle, render the photos the
simulated camera took, ingest them into an archive, and say where everything is.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

DEMO_ZONE = "chantier-mediatheque"
DEMO_CAMERA = "sim"


def _no_progress(label, total=None):
    class _Bar:
        def update(self, *args, **kwargs):
            pass

    return nullcontext(_Bar())


def run_demo(out_dir: Path, zone: str = DEMO_ZONE, speedup: float = 30.0, progress=_no_progress) -> dict:
    """Plan -> fly (built-in vehicle) -> photos -> archive. Returns a summary of where everything is.

    ``progress(label, total)`` returns a context manager yielding an object with ``update(done, total, text)``
    (the CLI passes its progress bar); one bar at a time.
    """
    from dronectl.archive import open_archive
    from dronectl.camera import find_camera
    from dronectl.formats import atomic_write, write_sorties
    from dronectl.geo import find_zone, load_airspace
    from dronectl.mavlink.flight import fly
    from dronectl.sim.camera import render_photos
    from dronectl.sim.vehicle import start_vehicle
    from dronectl.survey import SurveyParams, plan_survey

    out_dir.mkdir(parents=True, exist_ok=True)
    camera = find_camera(DEMO_CAMERA)
    z = find_zone(zone)
    result = plan_survey(z.geometry, camera, SurveyParams(altitude_m=40.0), airspace=load_airspace(), name=z.name)
    mission = result.missions[0]
    plan_path, preview = out_dir / f"{z.name}.plan", out_dir / f"{z.name}.png"
    write_sorties([mission], plan_path, preview)

    home = (mission.home.lat_deg, mission.home.lon_deg, mission.home.alt_m)
    vehicle = start_vehicle(listen="tcp:127.0.0.1:0", home=home, speedup=speedup)
    try:
        with progress("flight", len(mission.items)) as bar:
            record = fly(vehicle.connection_string, mission, progress=bar.update, log_path=out_dir / "flight.tlog")
    finally:
        vehicle.stop()
    flight_json = out_dir / "flight.json"
    atomic_write(flight_json, json.dumps(record.to_dict() if hasattr(record, "to_dict") else vars(record),
                                         indent=2, default=lambda o: getattr(o, "__dict__", str(o))))

    photos_dir = out_dir / "photos"
    photos = render_photos(record.camera_events, camera, photos_dir, home_amsl_m=mission.home.alt_m)
    mission_id = f"demo-{z.name}"
    with open_archive(out_dir / "archive") as archive:
        with progress("ingest", len(photos)) as bar:
            report = archive.ingest(photos, service="technical", mission=mission_id, workers=2, progress=bar.update)
        counts = report.to_dict()["counts"]
    return {
        "zone": z.name, "plan": str(plan_path), "preview": str(preview), "planned_photos": result.summary["photos"],
        "coverage": result.summary["coverage"], "flight_log": str(out_dir / "flight.tlog"),
        "flight_summary": str(flight_json), "photos_taken": len(record.camera_events), "photos_dir": str(photos_dir),
        "archive": str(out_dir / "archive"), "mission_id": mission_id, "ingest": counts,
        "next": [f"dronectl archive search --archive {out_dir / 'archive'} --mission {mission_id} --as technical",
                 f"dronectl archive coverage --archive {out_dir / 'archive'} --mission {mission_id} --zone {z.name} "
                 "--as technical",
                 f"dronectl users add demo --service technical --archive {out_dir / 'archive'}",
                 f"dronectl serve --archive {out_dir / 'archive'}   # then open the URL it prints, log in with "
                 "the token"],
    }
