"""Coverage of a zone by a mission's images, and the gaps to fly again."""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from dronectl.errors import InputError
from dronectl.geo import Projector, clean, polygon_parts

MIN_GAP_M2 = 1.0  # slivers smaller than this are numerical noise, not gaps


@dataclass
class CoverageReport:
    mission: str
    images: int
    zone_area_m2: float
    covered_area_m2: float
    gaps: BaseGeometry  # lon/lat, possibly empty

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
        return {"mission": self.mission, "images": self.images, "zone_area_m2": round(self.zone_area_m2, 1),
                "covered_area_m2": round(self.covered_area_m2, 1), "covered_fraction": round(self.covered_fraction, 5),
                "gaps": self.gaps_geojson()}


def coverage(archive, asker: str, mission: str, zone: BaseGeometry) -> CoverageReport:
    recs = archive.search(asker, geometry=zone, mission=mission, action="coverage")
    if not recs and not archive.search(asker, mission=mission, limit=1, action="coverage"):
        raise InputError(f"no image of mission '{mission}' is visible to service '{asker}': check the mission id "
                         "(`dronectl archive search --mission ID`)")
    proj = Projector.around(zone)
    zm = proj.to_metric(zone)
    union = unary_union([proj.to_metric(r.footprint) for r in recs]) if recs else None
    covered = zm.intersection(union).area if union is not None else 0.0
    gaps = zm.difference(union) if union is not None else zm
    gaps = clean(gaps)
    parts = [p for p in polygon_parts(gaps) if p.area >= MIN_GAP_M2]
    gaps_ll = clean(proj.to_lonlat(unary_union(parts))) if parts else clean(zm.difference(zm))
    return CoverageReport(mission, len(recs), zm.area, covered, gaps_ll)
