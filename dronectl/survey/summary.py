"""What a plan reports, as one typed record shared by every pattern: :class:`PlanSummary`.

The common fields mean the same in every pattern (``altitude_m`` the height of the first flight level above the
take-off point, ``trigger_distance_m`` the distance between consecutive photos along the path, ``coverage`` the
fraction of what the pattern photographs, ground or facade, inside at least one photo; ``None`` where the pattern
measures none). :attr:`PlanSummary.figures` is the pattern's own part: no field is reused for another meaning.
``to_dict`` is the ``--json`` object (flat: the common keys, then the pattern's); ``cli/plan.py`` renders it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Union


@dataclass(frozen=True)
class TakeOff:
    """A take-off point and the sorties (1-based) that start from it."""

    home: int  # 1-based
    lat: float
    lon: float
    alt_m: float
    sorties: tuple[int, ...]


@dataclass(frozen=True)
class SurveyFigures:
    area_m2: float
    transects: int  # photo stretches (the camera on, then off)
    passes: int  # photo lines flown
    line_spacing_m: float
    footprint_side_m: float
    footprint_front_m: float
    angle_deg: float  # bearing of the lines


@dataclass(frozen=True)
class CorridorFigures:
    area_m2: float
    transects: int
    passes: int
    line_spacing_m: float
    footprint_side_m: float
    footprint_front_m: float
    corridor_length_m: float
    width_m: float
    lines: int  # flight lines across the width


@dataclass(frozen=True)
class OrbitFigures:
    center: tuple[float, float]  # lat, lon
    radius_m: float
    altitudes_m: tuple[float, ...]
    rings: int
    photos_per_ring: int
    photo_spacing_m: float
    pitch_deg: tuple[float, ...]  # per ring
    slant_distance_m: float


@dataclass(frozen=True)
class StructureFigures:
    layers: int
    altitudes_m: tuple[float, ...]
    layer_spacing_m: float | None  # None with one layer
    frame_width_m: float  # the photo's frame on the wall
    frame_height_m: float
    facade_coverage: float
    facade_area_m2: float
    perimeter_m: float
    distance_m: float
    height_m: float
    bottom_m: float
    pitch_deg: float
    safe_altitude_m: float
    path_length_m: float
    photos_per_layer: int


Figures = Union[SurveyFigures, CorridorFigures, OrbitFigures, StructureFigures]
FIGURES = {"survey": SurveyFigures, "corridor": CorridorFigures, "orbit": OrbitFigures, "structure": StructureFigures}


@dataclass(frozen=True)
class PlanSummary:
    """The figures a plan reports (``plan survey|corridor|orbit|structure``, table or ``--json``)."""

    pattern: str
    zone: str
    camera: str
    altitude_m: float
    gsd_cm: float  # on what is photographed: the ground, the wall, the orbit's centre
    speed_mps: float
    trigger_distance_m: float
    length_m: float
    duration_s: float
    photos: int
    coverage: float | None
    sorties: int
    items: tuple[int, ...]  # per sortie, without home
    homes: tuple[TakeOff, ...]
    sortie_homes: tuple[int, ...]  # per sortie, its take-off point (1-based)
    warnings: tuple[str, ...]
    figures: Figures

    def to_dict(self) -> dict:
        common = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "figures"}
        common.update(items=list(self.items), homes=[dict(asdict(h), sorties=list(h.sorties)) for h in self.homes],
                      sortie_homes=list(self.sortie_homes), warnings=list(self.warnings))
        own = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.figures).items()}
        assert not set(own) & set(common), "a pattern's figure reuses a common name"
        return {**common, **own}

    @classmethod
    def from_dict(cls, d: dict) -> "PlanSummary":
        figures_cls = FIGURES[d["pattern"]]

        def typed(c, src):
            return c(**{f.name: tuple(src[f.name]) if isinstance(src[f.name], list) else src[f.name]
                        for f in fields(c)})
        common = {f.name: d[f.name] for f in fields(cls) if f.name not in ("figures", "homes")}
        common.update(items=tuple(d["items"]), sortie_homes=tuple(d["sortie_homes"]), warnings=tuple(d["warnings"]))
        return cls(**common, homes=tuple(typed(TakeOff, h) for h in d["homes"]), figures=typed(figures_cls, d))


def take_offs(missions, sortie_homes: list[int]) -> tuple[tuple[TakeOff, ...], tuple[int, ...]]:
    """Per take-off point (``sortie_homes``: 0-based per sortie) where it is and its sorties; and the 1-based
    take-off point of each sortie."""
    rows: dict[int, TakeOff] = {}
    for n, (h, m) in enumerate(zip(sortie_homes, missions), start=1):
        row = rows.get(h) or TakeOff(h + 1, m.home.lat_deg, m.home.lon_deg, m.home.alt_m, ())
        rows[h] = TakeOff(row.home, row.lat, row.lon, row.alt_m, row.sorties + (n,))
    return tuple(rows[h] for h in sorted(rows)), tuple(h + 1 for h in sortie_homes)
