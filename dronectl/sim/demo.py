"""The demo on embedded defaults, for a first look and for testers: ``sim run`` on a shipped Soissons zone.

It keeps no chain of its own (that is :mod:`dronectl.sim.run`): it chooses the zone, the camera, the height and
the output folder, and adds how to browse the result on the web map.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from dronectl.sim.run import no_progress

DEMO_ZONE = "chantier-mediatheque"
DEMO_CAMERA = "sim"
DEMO_ALTITUDE_M = 40.0


def run_demo(out_dir: Path, zone: str = DEMO_ZONE, speedup: float = 30.0, progress=no_progress) -> dict:
    """Plan → fly (built-in vehicle) → photos → archive → coverage → mosaic, under ``out_dir``; the summary of
    ``sim run`` plus how to browse the archive. ``progress`` as in :func:`dronectl.sim.run.run_simulated_mission`."""
    from dronectl.geo import find_zone
    from dronectl.sim.run import SimRun, run_simulated_mission
    from dronectl.survey import SurveyParams

    z = find_zone(zone)
    out_dir = Path(out_dir)
    mission_id = f"demo-{z.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    s = run_simulated_mission(SimRun(z.geometry, z.name, service="technical", camera=DEMO_CAMERA, out_dir=out_dir,
                                     image_scale=0.5, speedup=speedup, mission_id=mission_id),
                              SurveyParams(altitude_m=DEMO_ALTITUDE_M), progress=progress)
    a = f"--archive {s['archive']}"
    s["next"] = [f"dronectl archive search {a} --mission {mission_id} --as technical --format table",
                 f"dronectl archive coverage {a} --mission {mission_id} --zone {z.name} --as technical",
                 f"dronectl users add demo --service technical {a}",
                 f"dronectl serve {a}   # then open the URL it prints, log in with the token"]
    return s
