"""Read a planned Mission back as geometry, the way a reviewer would: path, photo legs, photos."""

from __future__ import annotations

from shapely.geometry import LineString, Point, Polygon

from dronectl.geo import Projector
from dronectl.mission import CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_RETURN_TO_LAUNCH, Mission


def flown_path_lonlat(m: Mission) -> list[tuple[float, float]]:
    """Home, every positioned item in order, and home again for the RTL."""
    pts = [(m.home.lon_deg, m.home.lat_deg)]
    for it in m.items:
        if it.has_position:
            pts.append((it.lon_deg, it.lat_deg))
        if it.command == CMD_NAV_RETURN_TO_LAUNCH:
            pts.append((m.home.lon_deg, m.home.lat_deg))
    return pts


def photo_legs_lonlat(m: Mission) -> list[LineString | Point]:
    """The stretches flown with distance triggering on (from the on command to the off command)."""
    legs, current, last = [], None, None
    for it in m.items:
        if it.command == CMD_DO_SET_CAM_TRIGG_DIST:
            if it.param1 > 0:
                current = [last]
            else:
                legs.append(LineString(current) if len(set(current)) > 1 else Point(current[0]))
                current = None
        elif it.has_position:
            last = (it.lon_deg, it.lat_deg)
            if current is not None:
                current.append(last)
    assert current is None, "camera left on at the end of the mission"
    return legs


def metric(geom, proj: Projector):
    return proj.to_metric(geom)


def photos_from_items(m: Mission, proj: Projector) -> list[tuple[float, float, float, float]]:
    """(x, y, heading radians, height) of every photo the mission's own items take, in ``proj``'s metres, as
    ArduPilot takes them: DO_SET_CAM_TRIGG_DIST(d, 0, 1) takes one at once, then one every d metres travelled along
    the waypoints until DO_SET_CAM_TRIGG_DIST(0). Nothing from the planner's report or plan data."""
    import math

    out, trigger, travelled, last = [], 0.0, 0.0, None
    for it in m.items:
        if it.command == CMD_DO_SET_CAM_TRIGG_DIST:
            trigger, travelled = it.param1, 0.0
            if trigger > 0 and last is not None:
                out.append((last, None))
        elif it.has_position:
            x, y = (float(v) for v in proj.xy(it.lon_deg, it.lat_deg))
            here = (x, y, it.alt_m)
            if trigger > 0 and last is not None:
                x0, y0, z0 = last
                step = math.hypot(x - x0, y - y0)
                s = trigger - travelled
                while s <= step + 1e-6:
                    f = s / step
                    out.append(((x0 + f * (x - x0), y0 + f * (y - y0), z0 + f * (it.alt_m - z0)), (x0, y0, x, y)))
                    s += trigger
                travelled = (travelled + step) % trigger if step > 0 else travelled
            last = here
    photos = []
    for k, ((x, y, z), leg) in enumerate(out):
        if leg is None:  # the one taken at once: its heading is that of the leg after it
            leg = next((lg for _, lg in out[k + 1:] if lg is not None), (0.0, 0.0, 0.0, 1.0))
        x0, y0, x1, y1 = leg
        photos.append((x, y, math.atan2(x1 - x0, y1 - y0), z))
    return photos


def footprints_from_items(m: Mission, proj: Projector, camera, portrait: bool = False) -> list[Polygon]:
    """The nadir footprint (the camera's, at the item's height) of every photo :func:`photos_from_items` finds."""
    import math

    from dronectl.camera import grid_geometry

    out = []
    for x, y, b, z in photos_from_items(m, proj):
        g = grid_geometry(camera, z, 0.0, 0.0, portrait)
        front, side = g.footprint_front_m / 2, g.footprint_side_m / 2
        ux, uy = math.sin(b), math.cos(b)
        out.append(Polygon([(x + ux * front * a - uy * side * c, y + uy * front * a + ux * side * c)
                            for a, c in ((-1, -1), (1, -1), (1, 1), (-1, 1))]))
    return out
