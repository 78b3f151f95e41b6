"""Archive the photos of a flight, search them, and find what to fly again.

    .venv/bin/python examples/archive_a_flight.py [PHOTOS_DIR] [--out OUT_DIR]

With PHOTOS_DIR (JPEGs with EXIF GPS, e.g. a drone's SD card DCIM folder, or GeoTIFFs) the example archives
those. Without it, it first makes some: a short survey of `chantier-mediatheque` flown on the built-in simulator,
with the synthetic camera rendering a JPEG (EXIF GPS + DJI XMP attitude) at every photo the vehicle reports.
Then: ingest into the technical service, search by zone and date, the coverage of the zone by the flight, and
the re-fly polygon (GeoJSON) of what no photo saw.
"""

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dronectl import api
from dronectl.archive.criteria import Criteria
from dronectl.geo import find_zone

ZONE = "chantier-mediatheque"

ap = argparse.ArgumentParser(description="Archive a flight's photos, search them, compute coverage.")
ap.add_argument("photos", nargs="?", help="folder of photos (default: fly the simulator to make some)")
ap.add_argument("--out", default="archive-example", help="where the archive and the re-fly polygon go")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

photos = args.photos
if photos is None:
    from dronectl.sim.camera import render_photos

    plan = api.plan_survey(zone=ZONE, camera="sim", altitude_m=40)
    mission = plan.missions[0]
    with api.simulator(home=mission.home, speedup=30) as sim, api.connect(sim.connection_string) as drone:
        drone.wait_ready()
        record = drone.fly(mission)
    # every CAMERA_FEEDBACK becomes a JPEG seen from where the vehicle was (a generated city raster)
    photos = out / "photos"
    render_photos(record.camera_events, "sim", photos, home_amsl_m=mission.home.alt_m,
                  start_time=datetime.now(timezone.utc) - timedelta(minutes=10))
    # as if the SD card had lost a run of photos mid-flight, so that the coverage below has a gap to show
    lost = sorted(photos.glob("*.JPG"))[12:40]
    for p in lost:
        p.unlink()
    print(f"flew {record.photos} photos into {photos} ({len(lost)} of them 'lost' on purpose)")

with api.open_archive(out / "archive") as archive:
    # 1. Ingest: SHA-256 dedupe, EXIF/XMP metadata, ground footprint, thumbnail; atomic per image.
    report = archive.ingest([photos], service="technical", mission="example-1", workers=2)
    print("ingest:", report.to_dict()["counts"])

    # 2. Search as the technical service: by zone and by date (the same words as `dronectl archive search`).
    criteria = Criteria.from_words(zone=ZONE, since=(datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d"))
    hits = archive.search("technical", criteria)
    print(f"search: {len(hits)} images over {ZONE} since yesterday")
    for rec in hits[:3]:
        print(f"  #{rec.id} {rec.source_name} taken {rec.captured_at:%Y-%m-%d %H:%M:%S} at {rec.height_m:.0f} m "
              f"-> {archive.blob_path(rec)}")

    # 3. Coverage of the zone by this mission's footprints, and the gaps as polygons to fly again.
    cov = archive.coverage("technical", "example-1", find_zone(ZONE).geometry)
    print(f"coverage: {100 * cov.covered_fraction:.1f} % of {ZONE} seen by at least one photo")
    refly = out / "refly.geojson"
    refly.write_text(json.dumps(cov.gaps_geojson(), indent=2))
    print(f"re-fly polygon: {refly} ({len(cov.gaps_geojson()['features'])} gap polygon(s))")

# 4. Plan the re-fly over the gaps (the CLI: `dronectl plan survey --polygon refly.geojson`).
if not cov.gaps.is_empty:
    again = api.plan_survey(polygon=cov.gaps, camera="sim", altitude_m=40, name="refly")
    api.write_plan(again.missions, out / "refly.plan")
    print(f"re-fly plan: {out / 'refly.plan'} ({again.summary.photos} photos, "
          f"{again.summary.duration_s / 60:.1f} min)")
