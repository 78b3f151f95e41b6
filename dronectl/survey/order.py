"""Group photo segments into boustrophedon cells and order the cells to keep deadhead short.

A cell is a run of segments on consecutive lines where each overlaps exactly one segment of the
next line and the other way round (a trapezoidal cell of the boustrophedon decomposition): inside
a cell the drone sweeps back and forth with short turns. Where a hole or a concavity splits a line,
new cells begin. Cells are visited greedily, each from its nearest corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dronectl.survey.grid import Segment


@dataclass(frozen=True)
class Pass:
    """A segment flown in one direction (sweep frame)."""

    seg: Segment
    forward: bool  # True: from x0 to x1

    @property
    def start(self) -> tuple[float, float]:
        return (self.seg.x0 if self.forward else self.seg.x1, self.seg.y)

    @property
    def end(self) -> tuple[float, float]:
        return (self.seg.x1 if self.forward else self.seg.x0, self.seg.y)

    def spans_along(self) -> tuple[tuple[float, float], ...]:
        """Photo stretches as distances from the pass start, in flight order."""
        x0, x1 = self.seg.x0, self.seg.x1
        if self.forward:
            return tuple((a - x0, b - x0) for a, b in self.seg.spans)
        return tuple((x1 - b, x1 - a) for a, b in reversed(self.seg.spans))


def _overlap(a: Segment, b: Segment) -> bool:
    return a.x0 <= b.x1 and b.x0 <= a.x1


def build_cells(lines: list[list[Segment]]) -> list[list[Segment]]:
    cells: list[list[Segment]] = []
    open_cells: dict[Segment, int] = {}  # last segment of a cell -> cell index
    prev: list[Segment] = []
    for segs in lines:
        adjacent = bool(prev) and segs[0].line == prev[0].line + 1
        succ = {a: [b for b in segs if _overlap(a, b)] for a in prev} if adjacent else {}
        new_open: dict[Segment, int] = {}
        for b in segs:
            preds = [a for a in prev if _overlap(a, b)] if adjacent else []
            if len(preds) == 1 and len(succ[preds[0]]) == 1 and preds[0] in open_cells:
                idx = open_cells[preds[0]]
                cells[idx].append(b)
            else:
                cells.append([b])
                idx = len(cells) - 1
            new_open[b] = idx
        open_cells, prev = new_open, segs
    return cells


def _cell_passes(cell: list[Segment], reverse_lines: bool, first_forward: bool) -> list[Pass]:
    segs = list(reversed(cell)) if reverse_lines else cell
    return [Pass(s, first_forward if i % 2 == 0 else not first_forward) for i, s in enumerate(segs)]


def _tour(cells: list[list[Segment]], start_xy, pick, revs=(False, True)) -> tuple[float, list[Pass]]:
    """Visit every cell, the next one chosen by ``pick(remaining, here)``, each from its nearest allowed corner.

    ``revs`` says from which end a cell may be entered: its first line (False), its last line (True).
    """
    remaining = list(range(len(cells)))
    here = start_xy
    out: list[Pass] = []
    deadhead = 0.0
    while remaining:
        candidates = pick(remaining, here)
        best = None
        for ci in candidates:
            cell = cells[ci]
            for rev in revs:
                first = cell[-1] if rev else cell[0]
                for fwd in (True, False):
                    d = math.dist(here, (first.x0 if fwd else first.x1, first.y))
                    if best is None or d < best[0]:
                        best = (d, ci, rev, fwd)
        d, ci, rev, fwd = best
        passes = _cell_passes(cells[ci], rev, fwd)
        deadhead += d + sum(math.dist(a.end, b.start) for a, b in zip(passes, passes[1:]))
        out.extend(passes)
        here = passes[-1].end
        remaining.remove(ci)
    return deadhead + math.dist(here, start_xy), out


def order_passes(cells: list[list[Segment]], start_xy: tuple[float, float]) -> list[Pass]:
    """The shortest of three tours: nearest cell next, or the cells swept in line order either way
    (the way a lawnmower goes, but each cell flown on its own)."""
    first_line = [c[0].line for c in cells]
    last_line = [c[-1].line for c in cells]
    tours = [
        _tour(cells, start_xy, lambda rem, here: rem),
        _tour(cells, start_xy, lambda rem, here: [min(rem, key=lambda i: (first_line[i], math.dist(
            here, (cells[i][0].x0, cells[i][0].y))))], revs=(False,)),
        _tour(cells, start_xy, lambda rem, here: [max(rem, key=lambda i: (last_line[i], -math.dist(
            here, (cells[i][-1].x0, cells[i][-1].y))))], revs=(True,)),
    ]
    return min(tours, key=lambda t: t[0])[1]
