"""Site preparation shared by the patterns of photo lines (survey and corridor): the camera's height, photo
geometry and speed; the projection; the exclusion zones and forbidden airspace; the take-off points; the geofence,
the region the legs may cross and their router; the terrain; and how the plan flies between places (:class:`Flyer`).

:func:`prepare_site` runs these steps in order for a zone (the survey's polygon, the corridor's buffered line) and
returns a :class:`Site`; each pattern then lays its photo lines over ``site.coverable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from dronectl.camera import Camera, grid_geometry
from dronectl.errors import InputError, PlanningError
from dronectl.geo import AirspaceZone, Projector, clean
from dronectl.limits import SPEED_MPS
from dronectl.survey.rings import photo_speed
from dronectl.survey.route import Router


def camera_settings(camera: Camera, params, warnings: list[str]):
    """The height above ground, the photo geometry and the speed (lowered when the camera cannot keep up)."""
    altitude = params.resolve_altitude(camera)
    geo = grid_geometry(camera, altitude, params.front_overlap, params.side_overlap, params.portrait)
    max_speed = geo.trigger_distance_m / camera.min_trigger_interval_s
    min_speed = SPEED_MPS[0]
    if max_speed < min_speed:
        # the camera cannot take photos this close together at any speed the vehicle flies a survey at
        raise InputError(f"--front-overlap {params.front_overlap * 100:g}: photos every "
                         f"{geo.trigger_distance_m:.2f} m, but camera '{camera.id}' needs "
                         f"{camera.min_trigger_interval_s:g} s between photos, which means flying at "
                         f"{max_speed:.2f} m/s, below {min_speed:g} m/s: lower the front overlap or fly higher")
    speed, lowered = photo_speed(camera, geo.trigger_distance_m, params.speed_mps,
                                 f"--front-overlap {params.front_overlap * 100:g}", "lower the front overlap or fly higher")
    warnings += lowered
    return altitude, geo, speed


def exclusions_m(proj: Projector, area_m, reach_m, exclusions_lonlat, airspace, altitude: float,
                 warnings: list[str]) -> BaseGeometry:
    """The user's exclusions and the airspace where flying is forbidden (metric); refuse an altitude over a
    ceiling that caps the area."""
    excl_parts = []
    if exclusions_lonlat is not None and not exclusions_lonlat.is_empty:
        excl_parts.append(clean(proj.to_metric(exclusions_lonlat)))
    for z in airspace or []:
        zm = clean(proj.to_metric(z.geometry))
        if not zm.intersects(reach_m):
            continue
        if z.ceiling_m <= 0:
            excl_parts.append(zm)
            warnings.append(f"airspace '{z.name}' forbids flight over part of the area: treated as an exclusion zone")
        elif altitude > z.ceiling_m and zm.intersects(area_m):
            raise InputError(f"altitude {altitude:.0f} m is above the {z.ceiling_m:g} m ceiling of airspace '{z.name}' "
                             f"over this zone: use --altitude {z.ceiling_m:g} or less")
    return clean(shapely.union_all(excl_parts)) if excl_parts else Polygon()


def take_off_points(params, proj: Projector, area_m, coverable, excl_fly,
                    warnings: list[str]) -> list[tuple[float, float]]:
    """The take-off points in metres: those given, or the point of the area nearest its centroid."""
    given = params.take_off_points()
    if not given:
        c = coverable.centroid
        home_pt = c if coverable.contains(c) else nearest_points(coverable, c)[0]
        return [(home_pt.x, home_pt.y)]
    out, outside = [], 0
    for n, (lat, lon, _) in enumerate(given, start=1):
        hx, hy = proj.xy(lon, lat)
        home_m = (float(hx), float(hy))
        which = "the take-off point (--home)" if len(given) == 1 else f"take-off point {n} ({lat:g},{lon:g})"
        if not excl_fly.is_empty and excl_fly.contains(Point(home_m)):
            raise InputError(f"{which} is inside an exclusion zone: choose another one")
        if not area_m.buffer(params.fence_margin_m).contains(Point(home_m)):
            outside += 1
        out.append(home_m)
    if outside:
        warnings.append("the take-off point is outside the zone: transit legs are added" if len(given) == 1 else
                        f"{outside} of the {len(given)} take-off points are outside the zone: transit legs are added")
    return out


class Flyer:
    """How a plan flies between places: legs round exclusion zones (the router), at the survey height above
    the ground (terrain following from a DEM when there is one), heights relative to a take-off point."""

    def __init__(self, router: Router, altitude: float, terrain=None, tolerance_m: float = 3.0):
        self.router, self.altitude, self.terrain, self.tolerance_m = router, altitude, terrain, tolerance_m

    def ground(self, p) -> float:
        return 0.0 if self.terrain is None else float(self.terrain.ground(*p)[0])

    def leg3d(self, p, q, home_ground: float):
        """Points after p up to q (q included), with heights relative to a take-off point on ``home_ground``."""
        if self.terrain is None:
            return [(x, y, self.altitude) for x, y in self.router.leg(p, q)[1:]]
        pts = self.router.leg(p, q)
        out = []
        for a, b in zip(pts, pts[1:]):
            out.extend((x, y, z - home_ground) for x, y, z in
                       self.terrain.profile(a, b, self.altitude, self.tolerance_m)[1:])
        return out

    def alt_at(self, p, home_ground: float) -> float:
        return self.altitude if self.terrain is None else self.ground(p) + self.altitude - home_ground


@dataclass
class Site:
    """Where and how a pattern of photo lines flies (metric geometries in ``proj``'s CRS)."""

    name: str
    camera: Camera
    altitude: float  # height above ground
    geo: object  # the photo geometry (dronectl.camera.GridGeometry)
    speed: float
    proj: Projector
    area_m: BaseGeometry  # the zone to photograph
    excl_m: BaseGeometry  # exclusion zones and forbidden airspace
    coverable: BaseGeometry  # the zone minus the exclusions: what coverage is measured on
    excl_fly: BaseGeometry  # the exclusions grown by the margin: where the drone does not fly
    homes_m: list  # the take-off points
    fence_m: BaseGeometry  # the inclusion geofence
    router: Router  # legs inside the fence, round the exclusions
    flyer: Flyer
    terrain: object  # dronectl.survey.terrain.Terrain or None
    warnings: list[str]


def refuse_empty(area_m: BaseGeometry, coverable: BaseGeometry, proj: Projector, label: str, what: str) -> None:
    """PlanningError when less than 1 m² is left to photograph, saying why: the zone itself measures nothing (named
    with the CRS it was projected to, and, far from France, the likely cause: degrees declared in a metric CRS), or
    the exclusion zones cover it."""
    if not (coverable.is_empty or coverable.area < 1.0):
        return
    epsg = proj.crs.to_epsg()
    if area_m.is_empty or area_m.area < 1.0:
        why = ": draw it larger, or check that its coordinates are in the unit its CRS says"
        if epsg != 2154 and not area_m.is_empty:  # dronectl works in Lambert-93 (EPSG:2154) in France
            c = proj.to_lonlat(area_m).centroid
            why = (f"; it lies at {c.y:.5f},{c.x:.5f}, far from France: coordinates in degrees declared in a metric "
                   "CRS (such as EPSG:2154, Lambert-93) land there; declare the file's CRS as EPSG:4326, or fix its "
                   "coordinates")
        raise PlanningError(f"{label} measures {area_m.area:.3g} m² once projected to EPSG:{epsg}{why}")
    raise PlanningError(f"nothing left to survey: the exclusion zones cover the whole {what}")


def site_frame(geom_lonlat: BaseGeometry, camera: Camera, params, warnings: list[str]):
    """The first steps: the height above ground, the photo geometry, the speed (:func:`camera_settings`) and the
    local metric projection around the zone."""
    altitude, geo, speed = camera_settings(camera, params, warnings)
    return altitude, geo, speed, Projector.around(geom_lonlat)


def prepare_site(name: str, what: str, camera: Camera, params, warnings: list[str], frame, area_m: BaseGeometry,
                 exclusions_lonlat: BaseGeometry | None, airspace: list[AirspaceZone] | None, dem_path: str | None,
                 fence_of: Callable[[BaseGeometry, list, float], BaseGeometry]) -> Site:
    """The steps every pattern of photo lines takes before laying its lines (module docstring), after
    :func:`site_frame` (``frame``) and the zone in metres (``area_m``). ``fence_of(area_m, homes_m, reach_m)`` is
    the geofence grown ``reach_m`` round what is flown; ``what`` names the zone in messages ("area",
    "corridor"). ``params``: :class:`dronectl.survey.planner.SurveyParams`."""
    altitude, geo, speed, proj = frame

    # Exclusions: the user's, and airspace where flying is forbidden; other restrictions cap the altitude.
    reach = params.fence_margin_m + geo.line_spacing_m / 2 + params.turnaround_m
    excl_m = exclusions_m(proj, area_m, area_m.buffer(reach + geo.line_spacing_m / 2), exclusions_lonlat, airspace,
                          altitude, warnings)
    coverable = clean(area_m.difference(excl_m)) if not excl_m.is_empty else area_m
    refuse_empty(area_m, coverable, proj, f"zone '{name}'" if what == "area" else f"corridor '{name}'", what)
    excl_fly = excl_m.buffer(params.exclusion_margin_m, quad_segs=2) if not excl_m.is_empty else Polygon()

    # Home: given (one or several), or the point of the area nearest its centroid.
    homes_m = take_off_points(params, proj, area_m, coverable, excl_fly, warnings)
    fence_m = fence_of(area_m, homes_m, reach)
    flyable = clean(fence_m.difference(excl_fly)) if not excl_fly.is_empty else fence_m
    router = Router(flyable)
    if not all(router.contains(h) for h in homes_m):
        raise InputError(f"the take-off point cannot reach the {'zone' if what == 'area' else what} without "
                         "crossing an exclusion zone")
    terrain = None
    if dem_path:
        from dronectl.survey.terrain import Terrain

        terrain = Terrain.load(dem_path, proj.crs, fence_m.bounds)
    flyer = Flyer(router, altitude, terrain, params.terrain_tolerance_m)
    return Site(name, camera, altitude, geo, speed, proj, area_m, excl_m, coverable, excl_fly, homes_m, fence_m,
                router, flyer, terrain, warnings)
