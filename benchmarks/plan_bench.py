"""Planning time and path quality: the shipped Soissons zones and a 1 km2 concave zone with 5 holes; orbits; the
2 km corridor along the Aisne's left bank.

For each zone it prints the planning time (best of 5), the flight length, the number of turns (photo
legs), the estimated duration, the coverage, and the same figures for a plain one-direction
lawnmower (QGroundControl-style: every line flown across the whole zone, straight over holes and
concavities, in line order) at the bearing dronectl chose and at 0 degrees.

    .venv/bin/python benchmarks/plan_bench.py
"""

from __future__ import annotations

import platform
import time

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, box

from dronectl.camera import find_camera, grid_geometry
from dronectl.geo import Projector, load_zones
from dronectl.survey import SurveyParams, plan_survey
from dronectl.survey.grid import SweepFrame, line_offsets
from dronectl.timing import path_duration_s


def concave_km2_with_holes():
    """A U-shaped 1 km2 block near Soissons with 5 courtyards (lon/lat)."""
    c = Point(3.3236, 49.3817)
    proj = Projector.around(c)
    cx, cy = proj.xy(c.x, c.y)
    outer = box(cx - 600, cy - 500, cx + 600, cy + 500).difference(box(cx - 200, cy - 100, cx + 200, cy + 500))
    holes = [Point(cx + dx, cy + dy).buffer(r, quad_segs=4) for dx, dy, r in
             ((-400, 300, 40), (400, 250, 50), (-350, -300, 60), (0, -300, 45), (380, -250, 35))]
    zone = Polygon(outer.exterior.coords, [h.exterior.coords for h in holes])
    return proj.to_lonlat(zone), zone.area


def lawnmower(area_ll, camera, altitude, bearing, speed=5.0, turnaround=5.0):
    """Plain lawnmower baseline: (length_m, duration_s, lines)."""
    proj = Projector.around(area_ll)
    area = proj.to_metric(area_ll)
    g = grid_geometry(camera, altitude, 0.8, 0.7)
    frame = SweepFrame(bearing, (area.centroid.x, area.centroid.y))
    a = frame.to_sweep(area)
    xmin, ymin, xmax, ymax = a.bounds
    pts = []
    home = frame.to_sweep(area.centroid)
    pts.append((home.x, home.y, 0.0))
    pts.append((home.x, home.y, altitude))
    fwd = True
    lines = 0
    for y in line_offsets(ymin, ymax, g.line_spacing_m):
        inter = a.intersection(shapely.linestrings([[xmin - 1, y], [xmax + 1, y]]))
        if inter.is_empty:
            continue
        x0, _, x1, _ = inter.bounds
        xs = (x0 - turnaround, x1 + turnaround) if fwd else (x1 + turnaround, x0 - turnaround)
        pts += [(xs[0], y, altitude), (xs[1], y, altitude)]
        fwd = not fwd
        lines += 1
    pts += [(home.x, home.y, altitude), (home.x, home.y, 0.0)]
    arr = np.array(pts)
    length = float(np.hypot(*np.diff(arr[:, :2], axis=0).T).sum())
    return length, path_duration_s(arr, speed), lines


def main():
    camera = find_camera("mavic3e")
    altitude = 60.0
    zones = [(z.name, z.geometry) for z in load_zones() if z.name != "zone-activites-sud"]
    big, big_area = concave_km2_with_holes()
    zones.append((f"concave {big_area / 1e6:.2f} km2, 5 holes", big))
    print(f"# plan_bench  {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}  "
          f"Python {platform.python_version()}  camera {camera.id} at {altitude:g} m, 80/70 % overlap, "
          "battery 25 min (sorties split)")
    header = ("zone", "plan s", "bearing", "legs", "length km", "dur min", "sorties", "coverage",
              "mower@same km", "mower@same min", "mower@0 km", "mower@0 min", "time ratio")
    print(" | ".join(header))
    for name, geom in zones:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            p = plan_survey(geom, camera, SurveyParams(altitude_m=altitude, vlos_m=10000), name=name)
            times.append(time.perf_counter() - t0)
        s = p.summary.to_dict()
        l_same, d_same, _ = lawnmower(geom, camera, altitude, s["angle_deg"])
        l_0, d_0, _ = lawnmower(geom, camera, altitude, 0.0)
        # compare one continuous flight: remove the sortie overheads from dronectl's figure
        print(" | ".join(str(x) for x in (
            name, f"{min(times):.3f}", f"{s['angle_deg']:g}", s["transects"], f"{s['length_m'] / 1000:.2f}",
            f"{s['duration_s'] / 60:.1f}", s["sorties"], f"{s['coverage'] * 100:.2f} %",
            f"{l_same / 1000:.2f}", f"{d_same / 60:.1f}", f"{l_0 / 1000:.2f}", f"{d_0 / 60:.1f}",
            f"{s['duration_s'] / min(d_same, d_0):.2f}")))
    print("\nOne-battery comparison (battery 600 min: a single sortie, no split overhead):")
    for name, geom in zones[-1:] + zones[:1]:
        t0 = time.perf_counter()
        p = plan_survey(geom, camera, SurveyParams(altitude_m=altitude, battery_min=600, vlos_m=10000), name=name)
        dt = time.perf_counter() - t0
        s = p.summary.to_dict()
        l_same, d_same, _ = lawnmower(geom, camera, altitude, s["angle_deg"])
        l_0, d_0, _ = lawnmower(geom, camera, altitude, 0.0)
        print(f"{name}: dronectl {s['length_m'] / 1000:.2f} km {s['duration_s'] / 60:.1f} min (planned in {dt:.3f} s); "
              f"lawnmower same bearing {l_same / 1000:.2f} km {d_same / 60:.1f} min; at 0 deg {l_0 / 1000:.2f} km "
              f"{d_0 / 60:.1f} min; ratio {s['duration_s'] / min(d_same, d_0):.2f}")
    print("\nOrbits (plan orbit, mavic3e, 24 photos a circle, 5 m/s):")
    print("orbit | plan s | rings | photos | photo spacing m | length km | dur min | sorties")
    from dronectl.survey.orbit import OrbitParams, plan_orbit

    for label, radius, alts in (("cathedrale r 40 m at 30 m", 40.0, (30.0,)),
                                ("abbaye r 80 m at 30/50/70 m", 80.0, (30.0, 50.0, 70.0))):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            p = plan_orbit(camera, OrbitParams((49.3817, 3.3236), radius, alts))
            times.append(time.perf_counter() - t0)
        s = p.summary.to_dict()
        print(f"{label} | {min(times):.3f} | {s['rings']} | {s['photos']} | {s['photo_spacing_m']:.1f} | "
              f"{s['length_m'] / 1000:.2f} | {s['duration_s'] / 60:.1f} | {s['sorties']}")
    structure_rows(camera)


def structure_rows(camera):
    """Structure scans (plan structure) of the shipped abbey facade, its zone's height (70 m)."""
    from dronectl.api import plan_structure

    print("\nStructure scans (plan structure --zone abbaye-facade, mavic3e, 70/70 % overlap, 5 m/s, zone's height):")
    print("scan | plan s | layers | photos | facade coverage | length km | dur min | sorties | items")
    for label, kw in (("abbaye-facade from 15 m", dict(distance_m=15.0)),
                      ("abbaye-facade from 10 m", dict(distance_m=10.0)),
                      ("abbaye-facade from 15 m, pitch -20", dict(distance_m=15.0, pitch_deg=-20.0))):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            p = plan_structure("abbaye-facade", **kw)
            times.append(time.perf_counter() - t0)
        s = p.summary.to_dict()
        print(f"{label} | {min(times):.3f} | {s['layers']} | {s['photos']} | {s['facade_coverage'] * 100:.2f} % | "
              f"{s['length_m'] / 1000:.2f} | {s['duration_s'] / 60:.1f} | {s['sorties']} | {sum(s['items'])}")

    print("\nCorridors (plan corridor, mavic3e at 60 m, 80/70 % overlap, 5 m/s):")
    print("corridor | plan s | km x m | lines | photos | length km | dur min | sorties | coverage")
    from dronectl.geo import find_zone
    from dronectl.survey.corridor import plan_corridor

    bank = find_zone("aisne-rive-gauche", kind="line").geometry
    for label, width, params in (
            ("aisne-rive-gauche 40 m, one take-off point (VLOS lifted)", 40.0, SurveyParams(vlos_m=10000)),
            ("aisne-rive-gauche 40 m, three take-off points", 40.0,
             SurveyParams(homes=((49.3855, 3.3165), (49.3862, 3.3265), (49.3855, 3.3365)))),
            ("aisne-rive-gauche 120 m, one take-off point (VLOS lifted)", 120.0, SurveyParams(vlos_m=10000))):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            p = plan_corridor(bank, width, camera, params, name="aisne-rive-gauche")
            times.append(time.perf_counter() - t0)
        s = p.summary.to_dict()
        print(f"{label} | {min(times):.3f} | {s['corridor_length_m'] / 1000:.2f} x {width:g} | {s['lines']} | "
              f"{s['photos']} | {s['length_m'] / 1000:.2f} | {s['duration_s'] / 60:.1f} | {s['sorties']} | "
              f"{s['coverage'] * 100:.2f} %")


if __name__ == "__main__":
    main()
