"""Survey geometry a plan file carries for previews and exports: zone, exclusions, a corridor's centre line,
photos, footprints, and a structure scan's building and camera headings.

The planner stores them in ``Mission.meta`` (lon/lat); this rebuilds shapely geometries from it, so
``plan export`` draws the same picture from a saved ``.plan`` as from a fresh plan.
"""

from __future__ import annotations

import math
from typing import Sequence

from shapely.geometry import Polygon, shape

from dronectl.geo import Projector
from dronectl.mission import Mission


def survey_extras(mission: Mission | Sequence[Mission], footprints: bool = True) -> dict:
    """Zone, exclusions, photo points and footprints of a mission, or of several sorties merged (one zone,
    all their photos and footprints)."""
    if not isinstance(mission, Mission):
        merged: dict = {}
        for m in mission:
            for k, v in survey_extras(m, footprints).items():
                if isinstance(v, list):
                    merged.setdefault(k, []).extend(v)
                else:
                    merged.setdefault(k, v)
        return merged
    meta = mission.meta or {}
    out: dict = {}
    if meta.get("area"):
        out["zone"] = shape(meta["area"])
    if meta.get("exclusions"):
        out["exclusions"] = shape(meta["exclusions"])
    if meta.get("line"):  # a corridor's centre line
        out["line"] = shape(meta["line"])
    pts = meta.get("photo_points") or []
    out["photos"] = [(float(p[0]), float(p[1])) for p in pts]
    if meta.get("pattern") == "structure" and meta.get("outline"):  # the building and where the camera looks
        out["structure"] = shape(meta["outline"])
        out["ticks"] = [(float(p[0]), float(p[1]), float(p[2])) for p in pts if len(p) > 2]
    if footprints and pts and meta.get("footprint_side_m") and meta.get("footprint_front_m"):
        side, front = float(meta["footprint_side_m"]) / 2, float(meta["footprint_front_m"]) / 2
        proj = Projector.around(out.get("zone") or Polygon([(p[0], p[1]) for p in pts[:3]] or [(0, 0)] * 3))
        xs, ys = proj.xy([p[0] for p in pts], [p[1] for p in pts])
        polys = []
        for x, y, p in zip(xs, ys, pts):
            b = math.radians(float(p[2]) if len(p) > 2 else float(meta.get("angle_deg", 0.0)))
            ux, uy = math.sin(b), math.cos(b)  # along track
            corners = [(x + ux * front * a - uy * side * c, y + uy * front * a + ux * side * c)
                       for a, c in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            polys.append(proj.to_lonlat(Polygon(corners)))
        out["footprints"] = polys
    return out
