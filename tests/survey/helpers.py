"""Read a planned Mission back as geometry, the way a reviewer would: path, photo legs, photos."""

from __future__ import annotations

from shapely.geometry import LineString, Point

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
