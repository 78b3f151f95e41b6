"""Photo lines ready to fly (:class:`Run`): what the grid (``planner.grid_runs``) and the corridor
(``corridor.corridor_runs``) produce and :mod:`dronectl.survey.sorties` fits into sorties. Metric coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from shapely.geometry import Polygon

from dronectl.geo import Projector
from dronectl.errors import InputError
from dronectl.survey.route import Router

# With several take-off points a sortie keeps this fraction of the VLOS radius from its own, measured in the local
# metric CRS, so that `plan check` (great-circle distances) never finds it a few centimetres beyond.
VLOS_SAFETY = 0.998


@dataclass(frozen=True)
class Run:
    """A photo line in metric coordinates, ready to fly: optional lead-in, along ``path``, optional lead-out.

    The grid's runs are straight (``path`` = start, end); a corridor's follow a polyline. ``spans`` are the
    photo stretches as distances from ``start`` along the path; between them the camera is off. ``u`` is the
    unit vector of the flight direction at the start.
    """

    lead_in: tuple[float, float] | None
    path: tuple[tuple[float, float], ...]
    lead_out: tuple[float, float] | None
    u: tuple[float, float]
    spans: tuple[tuple[float, float], ...]

    @property
    def start(self) -> tuple[float, float]:
        return self.path[0]

    @property
    def end(self) -> tuple[float, float]:
        return self.path[-1]

    @property
    def first(self):
        return self.lead_in or self.start

    @property
    def straight(self) -> bool:
        return len(self.path) == 2

    @cached_property
    def _cum(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(np.asarray(self.path), axis=0).T))])

    @property
    def length(self) -> float:
        return math.dist(self.start, self.end) if self.straight else float(self._cum[-1])

    def _segment(self, s_m: float) -> int:
        return int(min(max(np.searchsorted(self._cum, s_m, side="right") - 1, 0), len(self.path) - 2))

    def direction(self, s_m: float) -> tuple[float, float]:
        """Unit vector of the flight direction at ``s_m`` along the path."""
        if self.straight:
            return self.u
        i = self._segment(s_m)
        (x0, y0), (x1, y1) = self.path[i], self.path[i + 1]
        d = math.hypot(x1 - x0, y1 - y0)
        return ((x1 - x0) / d, (y1 - y0) / d)

    def at(self, s_m: float) -> tuple[float, float]:
        if self.straight:
            return (self.start[0] + self.u[0] * s_m, self.start[1] + self.u[1] * s_m)
        i = self._segment(s_m)
        ux, uy = self.direction(s_m)
        t = s_m - float(self._cum[i])
        return (self.path[i][0] + ux * t, self.path[i][1] + uy * t)

    def stops(self) -> list[tuple[float, float]]:
        """Where the run changes direction or switches the camera, in flight order (after ``first``)."""
        marks = [(a, 0) for a, b in self.spans] + [(b, 1) for a, b in self.spans]
        if not self.straight:
            marks += [(float(c), 2) for c in self._cum[1:-1]]
        out = [self.start] if self.lead_in else []
        out += [self.at(s) for s, _ in sorted(marks)]
        return out + ([self.lead_out] if self.lead_out else [])

    def photo_offsets(self, trigger_m: float) -> list[np.ndarray]:
        """Where the camera fires, per span: at the span start, then every trigger distance."""
        return [a + trigger_m * np.arange(int(math.floor((b - a) / trigger_m + 1e-9)) + 1) for a, b in self.spans]

    def bearing_deg(self, s_m: float) -> float:
        ux, uy = self.direction(s_m)
        return round(math.degrees(math.atan2(ux, uy)) % 360.0, 2)

    def seen(self, trigger_m: float, front_m: float, side_m: float) -> list[Polygon]:
        """The ground the nadir photos see: per span, one rectangle from the first to the last footprint of a
        straight run; each photo's footprint along a polyline."""
        hf, hs = front_m / 2, side_m / 2
        out = []
        for offs in self.photo_offsets(trigger_m):
            for o0, o1 in ([(offs[0], offs[-1])] if self.straight else [(o, o) for o in offs]):
                ux, uy = self.direction(o0)
                if self.straight:
                    p0, p1 = self.at(o0 - hf), self.at(o1 + hf)
                else:
                    (x0, y0), (x1, y1) = self.at(o0), self.at(o1)
                    p0, p1 = (x0 - ux * hf, y0 - uy * hf), (x1 + ux * hf, y1 + uy * hf)
                out.append(Polygon([(p0[0] - uy * hs, p0[1] + ux * hs), (p1[0] - uy * hs, p1[1] + ux * hs),
                                    (p1[0] + uy * hs, p1[1] - ux * hs), (p0[0] + uy * hs, p0[1] - ux * hs)]))
        return out

    def cuts(self, trigger_m: float) -> list[tuple[int, float]]:
        """Places to end a sortie: after any photo that leaves at least one photo of its span for later."""
        return [(k, float(o)) for k, offs in enumerate(self.photo_offsets(trigger_m)) for o in offs[:-1]]

    def _sub(self, s0: float, s1: float) -> tuple[tuple[float, float], ...]:
        a = self.start if s0 == 0 else self.at(s0)
        b = self.end if s1 == self.length else self.at(s1)
        if self.straight:
            return (a, b)
        return (a,) + tuple(self.path[i] for i in range(1, len(self.path) - 1) if s0 < self._cum[i] < s1) + (b,)

    def split(self, k: int, cut_m: float, trigger_m: float) -> tuple["Run", "Run"]:
        """End after the photo at ``cut_m`` (in span k); the rest resumes one trigger distance on."""
        r0 = cut_m + trigger_m
        first = Run(self.lead_in, self._sub(0, cut_m), None, self.u, self.spans[:k] + ((self.spans[k][0], cut_m),))
        rest = Run(None, self._sub(r0, self.length), self.lead_out, self.direction(r0),
                   ((0.0, self.spans[k][1] - r0),) + tuple((a - r0, b - r0) for a, b in self.spans[k + 1:]))
        return first, rest


def extend_clear(router: Router, p, direction, dist):
    """The point ``dist`` beyond p along direction, shortened until the leg is clear (None if it can't be)."""
    if dist <= 0:
        return None
    for f in (1.0, 0.5, 0.25):
        q = (p[0] + direction[0] * dist * f, p[1] + direction[1] * dist * f)
        if router.clear(p, q):
            return q
    return None


def check_reach(runs: list[Run], homes_m: list, vlos_m: float, proj: Projector) -> None:
    """Refuse, with the distance that is missing, photo lines that no take-off point sees within VLOS."""
    pts = []
    for r in runs:
        n = max(2, int(math.ceil(r.length / 5.0)) + 1)
        pts += [r.at(s) for s in np.linspace(0.0, r.length, n)] + [p for p in (r.lead_in, r.lead_out) if p]
    xy = np.asarray(pts)
    h = np.asarray(homes_m)
    d = np.min(np.hypot(xy[:, None, 0] - h[None, :, 0], xy[:, None, 1] - h[None, :, 1]), axis=1)
    worst = int(np.argmax(d))
    if d[worst] > vlos_m * VLOS_SAFETY:
        lon, lat = proj.lonlat(*xy[worst])
        raise InputError(f"no take-off point keeps the whole zone in sight: the photo line at {lat:.6f},{lon:.6f} is "
                         f"{d[worst]:.0f} m from the nearest one, {math.ceil(d[worst] - vlos_m * VLOS_SAFETY):.0f} m beyond the "
                         f"{vlos_m:g} m visual line of sight: add a take-off point (--home) near it")
