"""Shortest legs that stay inside the flyable region (around exclusion zones).

A leg that is clear flies straight. A blocked one follows the shortest path on the visibility graph
of the region's boundary vertices, built lazily: visibility from a vertex is computed (vectorised)
only when Dijkstra expands it, so a plan pays only for the detours it needs.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from dronectl.errors import PlanningError

TOLERANCE_M = 0.05


class Router:
    def __init__(self, flyable: BaseGeometry):
        self.flyable = flyable
        self._check = flyable.buffer(TOLERANCE_M)
        shapely.prepare(self._check)
        coords = []
        for poly in shapely.get_parts(flyable):
            for ring in [poly.exterior, *poly.interiors]:
                coords.extend(ring.coords[:-1])
        self.nodes = np.array(coords, dtype=float).reshape(-1, 2)
        self._vis: dict[int, np.ndarray] = {}
        self.detours = 0

    def clear(self, p, q) -> bool:
        return bool(shapely.covers(self._check, shapely.linestrings([p, q])))

    def contains(self, p) -> bool:
        return bool(shapely.covers(self._check, shapely.points(p)))

    def _visible_from(self, xy: np.ndarray, targets: np.ndarray) -> np.ndarray:
        if len(targets) == 0:
            return np.zeros(0, dtype=bool)
        segs = np.stack([np.broadcast_to(xy, targets.shape), targets], axis=1)
        return shapely.covers(self._check, shapely.linestrings(segs))

    def leg(self, p, q) -> list[tuple[float, float]]:
        """Points from p to q (both included) along the shortest clear path."""
        p, q = (float(p[0]), float(p[1])), (float(q[0]), float(q[1]))
        if self.clear(p, q):
            return [p, q]
        self.detours += 1
        n = len(self.nodes)
        pts = np.vstack([self.nodes, [p], [q]])
        src, dst = n, n + 1
        vis_to_q = self._visible_from(np.array(q), self.nodes)
        dist = {src: 0.0}
        prev: dict[int, int] = {}
        heap = [(math.dist(p, q), 0.0, src)]
        done = set()
        while heap:
            _, d, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            if u == dst:
                break
            if u == src:
                vis = self._visible_from(np.array(p), self.nodes)
            else:
                if u not in self._vis:
                    self._vis[u] = self._visible_from(self.nodes[u], self.nodes)
                vis = self._vis[u]
            cand = list(np.nonzero(vis)[0])
            if u != src and vis_to_q[u]:
                cand.append(dst)
            for v in cand:
                if v == u or v in done:
                    continue
                nd = d + math.dist(pts[u], pts[v])
                if nd < dist.get(v, math.inf):
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd + math.dist(pts[v], q), nd, v))
        if dst not in prev:
            raise PlanningError("no flyable path between two parts of the survey: an exclusion zone cuts the area "
                                "in two; plan each part separately")
        path = [dst]
        while path[-1] != src:
            path.append(prev[path[-1]])
        return [(float(pts[i][0]), float(pts[i][1])) for i in reversed(path)]
