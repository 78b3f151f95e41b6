"""A simulated mission, end to end: plan → vehicle → flight with the synthetic camera → archive → coverage → mosaic.

What ``dronectl sim run`` and ``dronectl demo`` do. The vehicle is the built-in test vehicle, or ArduPilot SITL
when a binary is given; each sortie is flown on a freshly started vehicle (a battery change is a power cycle).
At every ``CAMERA_FEEDBACK`` the synthetic camera renders the photo the camera would have taken, cut from a
user's orthophoto or from a generated city raster; the photos are ingested under a new mission id, the coverage
of the zone is measured on the ground footprints, the gaps are written as a polygon to re-fly, and the nadir
photos are mosaicked into a Cloud-Optimized GeoTIFF.

Ctrl-C during a flight commands RTL and waits for the landing; the photos taken so far are then rendered and
ingested (ingest is atomic per image), and every vehicle started here is stopped on the way out.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dronectl.errors import InputError


def no_progress(label, total=None):
    class _Bar:
        def update(self, *args, **kwargs):
            pass

    return nullcontext(_Bar())


@dataclass(frozen=True)
class SimRun:
    """What to fly and where the results go."""

    area: object  # shapely (Multi)Polygon, lon/lat
    name: str
    service: str = "technical"
    camera: object = "sim"  # a camera id, or a Camera
    out_dir: Path = Path("sim-out")
    archive: Path | None = None  # default: OUT/archive
    sitl: str | None = None  # an arducopter binary: fly on ArduPilot SITL
    imagery: Path | None = None  # an orthophoto GeoTIFF for the synthetic camera
    image_scale: float = 0.25  # the synthetic photos' size relative to the camera's
    speedup: float = 30.0
    refly: str | None = None  # a mission id: fly the gaps it left over the area
    mission_id: str | None = None
    mosaic: bool = True

    def __post_init__(self):
        if not (math.isfinite(self.image_scale) and 0.02 <= self.image_scale <= 1.0):
            raise InputError(f"--image-scale {self.image_scale:g}: must be between 0.02 and 1 (1 = full size)")
        if not (math.isfinite(self.speedup) and 1 <= self.speedup <= 200):
            raise InputError(f"--speedup {self.speedup:g}: must be between 1 and 200")


def _check_imagery(path: Path, area) -> None:
    """The zone must lie inside the orthophoto: refused in one line otherwise."""
    import rasterio
    from rasterio.warp import transform_bounds
    from shapely.geometry import box

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise InputError(f"imagery {path} has no CRS: give a georeferenced GeoTIFF")
            bounds = box(*transform_bounds(ds.crs, "EPSG:4326", *ds.bounds))
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"imagery {path} cannot be read as a GeoTIFF ({str(exc).splitlines()[0]})") from None
    if not bounds.contains(area):
        raise InputError(f"the zone is not inside the imagery {path} (imagery covers lon {bounds.bounds[0]:.5f}.."
                         f"{bounds.bounds[2]:.5f}, lat {bounds.bounds[1]:.5f}..{bounds.bounds[3]:.5f}): "
                         "give an orthophoto that covers the whole zone")


def synthetic_camera(camera, image_scale: float):
    """The camera the synthetic photos are rendered with: ``camera`` (an id or a Camera) at ``image_scale`` of its
    image size (same field of view, so the same footprints)."""
    from dronectl.camera import find_camera

    if not (math.isfinite(image_scale) and 0.02 <= image_scale <= 1.0):
        raise InputError(f"--image-scale {image_scale:g}: must be between 0.02 and 1 (1 = full size)")
    cam = find_camera(camera) if isinstance(camera, str) else camera
    return replace(cam, image_width_px=max(16, round(cam.image_width_px * image_scale)),
                   image_height_px=max(12, round(cam.image_height_px * image_scale)))


def photograph(record, camera, out_dir: Path, home_amsl_m: float, start_time: datetime, imagery=None,
               name: str = "DJI_{index:04d}.JPG") -> list[Path]:
    """The synthetic photos of a flight: one JPEG per camera event of its FlightRecord (``CAMERA_FEEDBACK``),
    seen from where the vehicle said it was, cut from ``imagery`` (an orthophoto) or a generated city."""
    from dronectl.sim.camera import render_photos

    return render_photos(record.camera_events, camera, out_dir, base_raster=imagery, home_amsl_m=home_amsl_m,
                         start_time=start_time, name=name)


def check_imagery(path: Path, area) -> None:
    """The area must lie inside the orthophoto: refused in one line otherwise."""
    _check_imagery(path, area)


def _gaps_to_refly(archive, service: str, mission: str, area):
    cov = archive.coverage(service, mission, area)
    if cov.gaps.is_empty:
        raise InputError(f"mission '{mission}' left no gap over this zone ({100 * cov.covered_fraction:.2f} % "
                         "covered): nothing to re-fly")
    return cov.gaps


def _refly_command(run: "SimRun", mission_id: str, gaps_path: Path, archive_path: Path, camera,
                   altitude_m: float, exclusions_path: Path | None = None) -> str:
    """The ``dronectl sim run`` that re-flies a mission's gaps, ready to paste: the gaps file as the area."""
    import shlex

    args = ["dronectl", "sim", "run", "--polygon", str(gaps_path), "--refly", mission_id,
            "--archive", str(archive_path), "--service", run.service, "--camera", camera.id,
            "--altitude", f"{altitude_m:g}", "--speedup", f"{run.speedup:g}", "--image-scale", f"{run.image_scale:g}",
            "--out", f"{Path(run.out_dir)}-refly"]
    if run.imagery:
        args += ["--imagery", str(run.imagery)]
    if exclusions_path is not None:
        args += ["--exclude", str(exclusions_path)]
    if run.sitl:
        args += ["--sitl", str(run.sitl)]
    return " ".join(shlex.quote(a) for a in args)


def _start_vehicle(run: SimRun, home):
    if run.sitl:
        from dronectl.sim.sitl import start_sitl

        return start_sitl(run.sitl, home=home, speedup=min(run.speedup, 10.0), camera=True)
    from dronectl.sim.vehicle import start_vehicle

    return start_vehicle(listen="tcp:127.0.0.1:0", home=home, speedup=run.speedup)


def run_simulated_mission(run: SimRun, params=None, airspace=None, exclusions=None, terrain=None,
                          progress=no_progress, say=None) -> dict:
    """Plan, fly every sortie, photograph, ingest, measure coverage, mosaic. Returns the summary (a dict).

    ``params``: :class:`dronectl.survey.SurveyParams` (altitude, overlaps...); ``airspace``: restriction zones
    (default: the shipped file); ``exclusions``: no-fly polygons; ``terrain``: a DEM. ``progress(label, total)``
    returns a context manager whose object has ``update(done, total, text)``; one bar at a time. ``say(text)``
    hears the flight's waits, the Ctrl-C line and failsafes (:func:`dronectl.mavlink.flight.fly`).
    """
    from dronectl.archive import open_archive
    from dronectl.camera import find_camera
    from dronectl.formats import atomic_write, write_sorties
    from dronectl.geo import load_airspace
    from dronectl.mavlink.flight import fly
    from dronectl.survey import SurveyParams, plan_survey

    out = Path(run.out_dir)
    archive_path = Path(run.archive) if run.archive else out / "archive"
    refly_area = None
    if run.refly:  # the archive that holds the mission, and its gaps: a refusal here creates nothing
        with open_archive(archive_path, create=False) as archive:
            archive.services.get(run.service)
            refly_area = _gaps_to_refly(archive, run.service, run.refly, run.area)
    out.mkdir(parents=True, exist_ok=True)
    camera = find_camera(run.camera) if isinstance(run.camera, str) else run.camera
    if run.imagery:
        _check_imagery(Path(run.imagery), run.area)
    shot = synthetic_camera(camera, run.image_scale)
    started = datetime.now(timezone.utc).replace(microsecond=0)
    mission_id = run.mission_id or f"sim-{run.name}-{started:%Y%m%dT%H%M%S}"

    survey_params = params or SurveyParams()
    altitude_m = survey_params.resolve_altitude(camera)
    footprint_m = camera.footprint_m(altitude_m, survey_params.portrait)
    with open_archive(archive_path) as archive:
        archive.services.get(run.service)
        area = refly_area if run.refly else run.area
        plan = plan_survey(area, camera, params or SurveyParams(), name=run.name, exclusions_lonlat=exclusions,
                           airspace=load_airspace() if airspace is None else airspace, dem_path=terrain)
        plan_path = out / f"{run.name}.plan"
        plan_files = write_sorties(plan.missions, plan_path, out / f"{run.name}.png").written

        photos, records, interrupted = [], [], False
        for k, mission in enumerate(plan.missions, start=1):
            home = (mission.home.lat_deg, mission.home.lon_deg, mission.home.alt_m)
            vehicle = _start_vehicle(run, home)
            try:
                label = "flight" if len(plan.missions) == 1 else f"sortie {k}/{len(plan.missions)}"
                with progress(label, len(mission.items)) as bar:
                    rec = fly(vehicle.connection_string, mission, progress=bar.update, log_path=out / f"sortie-{k}.tlog",
                              say=say)
            finally:
                vehicle.stop()
            records.append(rec)
            atomic_write(out / f"sortie-{k}.json", json.dumps(rec.to_dict(), indent=2, allow_nan=False))
            t0 = started + timedelta(seconds=sum(r.duration_s for r in records[:-1]) + 60 * (k - 1))
            with progress("photos", len(rec.camera_events)) as bar:
                photos += photograph(rec, shot, out / "photos", mission.home.alt_m, t0, run.imagery,
                                     name=f"{mission_id}_S{k}_{{index:04d}}.JPG")
                bar.update(len(rec.camera_events), len(rec.camera_events))
            if rec.interrupted:
                interrupted = True
                break

        with progress("ingest", len(photos)) as bar:
            report = archive.ingest(photos, run.service, mission=mission_id, workers=2, progress=bar.update)
        counts = report.to_dict()["counts"]
        summary = {
            "mission_id": mission_id, "zone": run.name, "service": run.service,
            "vehicle": "ArduPilot SITL" if run.sitl else "built-in test vehicle", "refly_of": run.refly,
            "plan": [str(p) for p in plan_files], "sorties": len(plan.missions), "sorties_flown": len(records),
            "interrupted": interrupted, "photos_planned": plan.summary["photos"],
            "photos_taken": sum(len(r.camera_events) for r in records), "ingest": counts,
            "archive": str(archive_path), "out": str(out),
        }
        if counts["ingested"] or counts["duplicates"]:
            cov = archive.coverage(run.service, mission_id, area)
            gaps_path = out / "gaps.geojson"
            atomic_write(gaps_path, json.dumps(cov.gaps_geojson(), indent=2, allow_nan=False))
            from dronectl.archive.coverage import worth_reflying
            from dronectl.geo import clean, polygon_parts

            flyable = cov.gaps if not exclusions else cov.gaps.difference(exclusions)  # never inside a no-fly zone
            summary.update(coverage=round(cov.covered_fraction, 4), gaps=len(cov.gaps_geojson()["features"]),
                           gaps_file=str(gaps_path),
                           gaps_to_refly=len(polygon_parts(worth_reflying(clean(flyable), footprint_m))))
            if run.refly:  # the original and its refly measured together over the original area
                both = archive.coverage(run.service, (run.refly, mission_id), run.area)
                summary.update(coverage_with_refly_of=round(both.covered_fraction, 4))
            if run.mosaic:
                with progress("mosaic") as bar:
                    mos = archive.mosaic(run.service, mission_id, out / "mosaic.tif", png=out / "mosaic.png",
                                         zone=area, progress=bar.update, service=run.service, publish=True)
                summary.update(mosaic=mos.path, mosaic_png=mos.png)
        else:
            summary.update(coverage=0.0, gaps=None, gaps_file=None)
    a = f"--archive {archive_path}"
    summary["next"] = [f"dronectl archive search {a} --mission {mission_id} --as {run.service} --format table"]
    if summary.get("mosaic_png"):
        summary["next"].append(f"open {summary['mosaic_png']} (the site on that day; {summary['mosaic']} in QGIS)")
    if summary.get("gaps_to_refly"):
        excl_path = None
        if exclusions is not None and not exclusions.is_empty:  # the refly keeps out of the same no-fly zones
            from shapely.geometry import mapping

            excl_path = out / "exclusions.geojson"
            atomic_write(excl_path, json.dumps({"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"name": "exclusions"}, "geometry": mapping(exclusions)}]}))
        summary["next"].append(_refly_command(run, mission_id, Path(summary["gaps_file"]), archive_path, camera,
                                              altitude_m, excl_path)
                               + f"   # fly the {summary['gaps_to_refly']} gap(s) larger than one photo again")
    elif summary.get("gaps"):
        summary["next"].append(f"# the {summary['gaps']} gap(s) left ({summary['gaps_file']}) are each smaller than "
                               "one photo footprint: a refly would not cover them better")
    atomic_write(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False))
    return summary
