"""Coverage of a zone by the images of one or several missions (an original and its refly), or by every image
taken over it in a date range, and the gaps to fly again."""

from __future__ import annotations

from dataclasses import dataclass, field

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from dronectl.errors import InputError
from dronectl.geo import Projector, clean, polygon_parts

MIN_GAP_M2 = 1.0  # slivers smaller than this are numerical noise, not gaps


@dataclass
class CoverageReport:
    mission: str  # the missions measured, as said to a user ("m-1 + m-1-refly"; "all missions" with none)
    images: int
    zone_area_m2: float
    covered_area_m2: float
    gaps: BaseGeometry  # lon/lat, possibly empty
    missions: tuple[str, ...] = field(default=())

    @property
    def covered_fraction(self) -> float:
        return self.covered_area_m2 / self.zone_area_m2 if self.zone_area_m2 > 0 else 0.0

    def gaps_geojson(self) -> dict:
        feats = []
        proj = Projector.around(self.gaps) if not self.gaps.is_empty else None
        for i, part in enumerate(polygon_parts(self.gaps), start=1):
            feats.append({"type": "Feature", "geometry": mapping(part),
                          "properties": {"gap": i, "mission": self.mission,
                                         "area_m2": round(proj.to_metric(part).area, 1)}})
        return {"type": "FeatureCollection", "features": feats}

    def to_dict(self) -> dict:
        return {"mission": self.mission, "missions": list(self.missions), "images": self.images,
                "zone_area_m2": round(self.zone_area_m2, 1), "covered_area_m2": round(self.covered_area_m2, 1),
                "covered_fraction": round(self.covered_fraction, 5), "gaps": self.gaps_geojson()}


def _missions(mission) -> tuple[str, ...]:
    if mission is None:
        return ()
    return (mission,) if isinstance(mission, str) else tuple(dict.fromkeys(mission))


def coverage(archive, asker: str, mission, zone: BaseGeometry, since=None, until=None) -> CoverageReport:
    """How much of ``zone`` (lon/lat) the images ``asker`` may see cover: of ``mission`` (an id, or several ids
    measured together: an original and its refly), of every mission when None; within ``since``..``until``."""
    missions = _missions(mission)
    recs = {}
    for m in missions or (None,):
        found = archive.search(asker, geometry=zone, mission=m, since=since, until=until, action="coverage")
        if m is not None and not found and not archive.search(asker, mission=m, limit=1, action="coverage"):
            raise InputError(f"no image of mission '{m}' is visible to service '{asker}': check the mission id "
                             "(`dronectl archive search --mission ID`)")
        recs.update((r.id, r) for r in found)
    if not missions and not recs:
        raise InputError(f"no image visible to service '{asker}' covers this zone"
                         + (" in that date range" if since or until else "")
                         + ": check the dates and the zone (`dronectl archive search --zone NAME`)")
    recs = list(recs.values())
    proj = Projector.around(zone)
    zm = proj.to_metric(zone)
    union = unary_union([proj.to_metric(r.footprint) for r in recs]) if recs else None
    covered = zm.intersection(union).area if union is not None else 0.0
    gaps = zm.difference(union) if union is not None else zm
    gaps = clean(gaps)
    parts = [p for p in polygon_parts(gaps) if p.area >= MIN_GAP_M2]
    gaps_ll = clean(proj.to_lonlat(unary_union(parts))) if parts else clean(zm.difference(zm))
    label = " + ".join(missions) if missions else "all missions"
    return CoverageReport(label, len(recs), zm.area, covered, gaps_ll, missions)


def fits_in_one_photo(gap_m: BaseGeometry, footprint_m: tuple[float, float]) -> bool:
    """Whether a gap (metres) fits inside one photo footprint (``(side, front)`` metres, any bearing): its
    smallest enclosing rectangle is no longer and no wider than the footprint. Such a gap is not worth a refly:
    a survey planned over it covers it no better (its photos are laid on a grid that need not centre on it)."""
    from shapely import minimum_rotated_rectangle

    rect = minimum_rotated_rectangle(gap_m)
    if rect.geom_type != "Polygon":
        return True
    xs = list(rect.exterior.coords)
    import math

    a = math.dist(xs[0], xs[1])
    b = math.dist(xs[1], xs[2])
    short, long_ = sorted((a, b))
    fs, fl = sorted(footprint_m)
    return short <= fs and long_ <= fl


def worth_reflying(gaps_lonlat: BaseGeometry, footprint_m: tuple[float, float]) -> BaseGeometry:
    """The gaps (lon/lat) that do not fit in one photo footprint (possibly empty)."""
    if gaps_lonlat.is_empty:
        return gaps_lonlat
    proj = Projector.around(gaps_lonlat)
    keep = [p for p in polygon_parts(gaps_lonlat) if not fits_in_one_photo(proj.to_metric(p), footprint_m)]
    return clean(unary_union(keep)) if keep else clean(gaps_lonlat.difference(gaps_lonlat))
