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
    """A stretch of one line flown in one go (sweep frame): from x0 to x1 along y = ``y``.

    ``gaps`` are the stretches crossed with the camera off (a courtyard, a concavity): flying straight
    over a small gap is quicker than treating each side as its own cell.
    """

    line: int
    y: float
    x0: float
    x1: float
    gaps: tuple[tuple[float, float], ...] = ()

    @property
    def length(self) -> float:
        return self.x1 - self.x0

    @property
    def spans(self) -> list[tuple[float, float]]:
        """The photo stretches: [x0, x1] minus the gaps."""
        out, a = [], self.x0
        for g0, g1 in self.gaps:
            out.append((a, g0))
            a = g1
        out.append((a, self.x1))
        return out


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
                      spacing_m: float, no_fly_sweep: BaseGeometry | None = None,
                      max_gap_m: float = 0.0, trim_m: float = 0.0) -> list[list[Segment]]:
    """Photo segments per line, in the sweep frame. Lines with nothing to image are left out.

    Neighbouring segments of a line are joined across a gap of at most ``max_gap_m`` that does not
    touch ``no_fly_sweep``: the drone flies straight over it with the camera off. Each end is pulled in
    by ``trim_m``, the reach of the footprint beyond the last photo (half the footprint length minus
    one trigger distance), so no photo is taken of ground the previous one already shows.
    """
    if area_sweep.is_empty:
        return []
    xmin, ymin, xmax, ymax = area_sweep.bounds
    ys = line_offsets(ymin, ymax, spacing_m)
    half = spacing_m / 2.0
    shapely.prepare(area_sweep)
    bands = shapely.intersection(shapely.box(xmin - 1.0, ys - half, xmax + 1.0, ys + half), area_sweep)
    parts, idx = shapely.get_parts(bands, return_index=True)
    bounds = shapely.bounds(parts)
    per_line: dict[int, list[tuple[float, float]]] = {}
    for k, (x0, _, x1, _) in zip(idx.tolist(), bounds.tolist()):
        if x1 >= x0:
            per_line.setdefault(k, []).append((x0, x1))
    # candidate photo segments, then cut where the line itself is over a no-photo area
    cand = []
    for k in sorted(per_line):
        for a, c in _merge(per_line[k]):
            if c - a > 2 * trim_m:
                cand.append((k, a + trim_m, c - trim_m))
            else:
                cand.append((k, (a + c) / 2, (a + c) / 2))
    pieces: dict[int, list[tuple[float, float]]] = {}
    if cand and no_photo_sweep is not None and not no_photo_sweep.is_empty:
        shapely.prepare(no_photo_sweep)
        lines = shapely.linestrings([[[a, ys[k]], [max(c, a + 1e-6), ys[k]]] for k, a, c in cand])
        hit = shapely.intersects(no_photo_sweep, lines)
        for (k, a, c), line, h in zip(cand, lines, hit):
            if not h:
                pieces.setdefault(k, []).append((a, c))
                continue
            for g in shapely.get_parts(shapely.difference(line, no_photo_sweep)):
                if g.geom_type == "LineString" and not g.is_empty:
                    xs = [p[0] for p in g.coords]
                    pieces.setdefault(k, []).append((min(xs), max(xs)))
    else:
        for k, a, c in cand:
            pieces.setdefault(k, []).append((a, c))
    out: list[list[Segment]] = []
    for k in sorted(pieces):
        segs = [Segment(k, float(ys[k]), p0, p1) for p0, p1 in _merge(pieces[k])
                if p1 - p0 >= MIN_SEGMENT_M or (p1 == p0 and trim_m > 0)]
        if segs and max_gap_m > 0:
            segs = _join_gaps(segs, max_gap_m, no_fly_sweep)
        if segs:
            out.append(segs)
    return out


def _join_gaps(segs: list[Segment], max_gap_m: float, no_fly: BaseGeometry | None) -> list[Segment]:
    out = [segs[0]]
    for b in segs[1:]:
        a = out[-1]
        gap = b.x0 - a.x1
        crossable = gap <= max_gap_m and (
            no_fly is None or no_fly.is_empty
            or not shapely.intersects(no_fly, shapely.linestrings([[a.x1, a.y], [b.x0, a.y]])))
        if crossable:
            out[-1] = Segment(a.line, a.y, a.x0, b.x1, a.gaps + ((a.x1, b.x0),) + b.gaps)
        else:
            out.append(b)
    return out
