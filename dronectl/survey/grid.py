"""Transects of a lawnmower grid over any polygon: concave, with holes, minus no-photo areas.

Work happens in a *sweep frame*: the metric geometry rotated so that flight lines run along +x.
Line ``k`` sits at ``y_k``; the strip it images is the band ``y_k ± spacing/2``. Its photo
segments are the x-extent of (band ∩ area), so ground that a slanted edge puts in the band but off the
line is still under the camera, minus the stretches where the line itself is over a no-photo area
(a courtyard hole, an exclusion zone). Everything here is pure geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

MIN_SEGMENT_M = 0.5  # shorter photo segments are dropped; the neighbouring lines cover them


@dataclass(frozen=True)
class SweepFrame:
    """Rotation between the metric CRS and the sweep frame for one grid bearing.

    ``bearing_deg`` is the compass direction of the flight lines (0 = north-south lines, 90 = east-west).
    """

    bearing_deg: float
    origin: tuple[float, float]

    @property
    def _ccw_deg(self) -> float:
        return self.bearing_deg - 90.0  # rotating by this puts the bearing along +x

    def to_sweep(self, geom: BaseGeometry) -> BaseGeometry:
        return affinity.rotate(geom, self._ccw_deg, origin=Point(self.origin))

    def from_sweep(self, geom: BaseGeometry) -> BaseGeometry:
        return affinity.rotate(geom, -self._ccw_deg, origin=Point(self.origin))

    def points_from_sweep(self, xy: np.ndarray) -> np.ndarray:
        """(n, 2) sweep-frame coordinates -> metric coordinates."""
        t = math.radians(-self._ccw_deg)
        c, s = math.cos(t), math.sin(t)
        ox, oy = self.origin
        dx, dy = xy[:, 0] - ox, xy[:, 1] - oy
        return np.column_stack((ox + c * dx - s * dy, oy + s * dx + c * dy))


@dataclass(frozen=True)
class Segment:
    """One photo segment in the sweep frame: along y = ``y`` from x0 to x1 (x0 <= x1)."""

    line: int
    y: float
    x0: float
    x1: float

    @property
    def length(self) -> float:
        return self.x1 - self.x0


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def line_offsets(ymin: float, ymax: float, spacing_m: float) -> np.ndarray:
    """Centred line positions: the first and last bands reach past the area's edges."""
    height = ymax - ymin
    n = max(1, math.ceil(height / spacing_m - 1e-9))
    first = ymin + (height - (n - 1) * spacing_m) / 2.0
    return first + spacing_m * np.arange(n)


def transect_segments(area_sweep: BaseGeometry, no_photo_sweep: BaseGeometry | None,
                      spacing_m: float) -> list[list[Segment]]:
    """Photo segments per line, in the sweep frame. Lines with nothing to image are left out."""
    if area_sweep.is_empty:
        return []
    xmin, ymin, xmax, ymax = area_sweep.bounds
    ys = line_offsets(ymin, ymax, spacing_m)
    half = spacing_m / 2.0
    boxes = shapely.box(xmin - 1.0, ys - half, xmax + 1.0, ys + half)
    shapely.prepare(area_sweep)
    bands = shapely.intersection(boxes, area_sweep)
    if no_photo_sweep is not None and not no_photo_sweep.is_empty:
        shapely.prepare(no_photo_sweep)
    lines: list[list[Segment]] = []
    for k, (y, band) in enumerate(zip(ys, bands)):
        if band.is_empty:
            continue
        parts = shapely.get_parts(band)
        b = shapely.bounds(parts)
        intervals = _merge([(float(r[0]), float(r[2])) for r in b if r[2] - r[0] >= 0 and np.isfinite(r[0])])
        segs: list[Segment] = []
        for a, c in intervals:
            pieces = [(a, c)]
            if no_photo_sweep is not None and not no_photo_sweep.is_empty:
                line = shapely.linestrings([[a, y], [c, y]]) if c > a else None
                if line is not None and shapely.intersects(no_photo_sweep, line):
                    rest = shapely.difference(line, no_photo_sweep)
                    pieces = []
                    for g in shapely.get_parts(rest):
                        if g.geom_type == "LineString" and not g.is_empty:
                            xs = [p[0] for p in g.coords]
                            pieces.append((min(xs), max(xs)))
                    pieces = _merge(pieces)
            segs.extend(Segment(k, float(y), p0, p1) for p0, p1 in pieces if p1 - p0 >= MIN_SEGMENT_M)
        if segs:
            lines.append(segs)
    return lines
