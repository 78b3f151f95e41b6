"""Survey geometry a plan file carries for previews and exports: zone, exclusions, a corridor's centre line,
photos, footprints, and a structure scan's building and camera headings.

The planner stores them in ``Mission.plan_data`` (lon/lat); this gathers them, so
``plan export`` draws the same picture from a saved ``.plan`` as from a fresh plan.
"""

from __future__ import annotations

import math
from typing import Sequence

from shapely.geometry import Polygon

from dronectl.geo import Projector
from dronectl.mission import Mission
from dronectl.plandata import CorridorPart, StructurePart


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
    d = mission.plan_data
    out: dict = {}
    if d is None:
        out["photos"] = []
        return out
    if d.area is not None:
        out["zone"] = d.area
    if d.exclusions is not None:
        out["exclusions"] = d.exclusions
    if isinstance(d.part, CorridorPart):  # a corridor's centre line
        out["line"] = d.part.line
    pts = d.photo_points
    out["photos"] = [(p.lon_deg, p.lat_deg) for p in pts]
    if isinstance(d.part, StructurePart):  # the building and where the camera looks
        out["structure"] = d.part.outline
        out["ticks"] = [(p.lon_deg, p.lat_deg, p.heading_deg) for p in pts]
    if footprints and pts and d.grid is not None:
        side, front = d.grid.footprint_side_m / 2, d.grid.footprint_front_m / 2
        proj = Projector.around(out.get("zone") or Polygon([(p.lon_deg, p.lat_deg) for p in pts[:3]] or [(0, 0)] * 3))
        xs, ys = proj.xy([p.lon_deg for p in pts], [p.lat_deg for p in pts])
        polys = []
        for x, y, p in zip(xs, ys, pts):
            b = math.radians(p.heading_deg)
            ux, uy = math.sin(b), math.cos(b)  # along track
            corners = [(x + ux * front * a - uy * side * c, y + uy * front * a + ux * side * c)
                       for a, c in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            polys.append(proj.to_lonlat(Polygon(corners)))
        out["footprints"] = polys
    return out
