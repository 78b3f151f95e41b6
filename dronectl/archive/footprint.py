"""Ground footprints of photos: pure geometry, no I/O.

A pinhole camera ``height_m`` above flat ground. Its attitude follows the DJI gimbal conventions:

- ``pitch_deg``: 0 looks at the horizon, -90 straight down (nadir);
- ``yaw_deg``: heading of the optical axis, degrees clockwise from north;
- ``roll_deg``: rotation about the optical axis, positive puts the image's right side down.

Each image corner defines a ray; where it meets the ground is a footprint corner. At nadir the four
points make a rectangle, oblique they make a trapezoid. A ray that is above the horizon, or less than
``min_depression_deg`` below it, would reach the ground very far away (or never): it is clamped to the
distance at that depression angle, and the footprint is flagged ``clamped_near_horizon``.

Coordinates are local east/north metres around the point under the camera; :func:`enu_to_lonlat`
places them on the WGS 84 ellipsoid (a tangent-plane approximation, millimetre-exact over the few
hundred metres a photo covers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import MultiPoint, Polygon

# WGS 84
_A = 6378137.0
_E2 = 6.69437999014e-3

FLAG_NADIR_ASSUMED = "nadir_assumed"  # no gimbal attitude in the file
FLAG_CLAMPED = "clamped_near_horizon"  # one or more corner rays clamped
FLAG_NO_YAW = "yaw_unknown"  # heading unknown: the footprint's orientation is a guess (north up)
FLAG_NO_HEIGHT = "height_unknown"  # no height above ground: the footprint is the camera position only
FLAG_INTRINSICS_ASSUMED = "intrinsics_assumed"  # unknown camera: a generic 84 deg wide-angle assumed

DEFAULT_MIN_DEPRESSION_DEG = 10.0


@dataclass(frozen=True)
class Intrinsics:
    """What the footprint needs of a camera: sensor size and focal length, in millimetres."""

    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float

    def half_tangents(self) -> tuple[float, float]:
        """tan of the half field of view across the image width and height."""
        return (self.sensor_width_mm / (2 * self.focal_length_mm),
                self.sensor_height_mm / (2 * self.focal_length_mm))


# A generic drone wide-angle (24 mm equivalent, 4:3): used when the camera cannot be identified.
GENERIC_INTRINSICS = Intrinsics(17.3, 13.0, 12.29)


def _ray(u: float, v: float, pitch: float, yaw: float, roll: float) -> tuple[float, float, float]:
    """Direction (east, north, up) of the ray through image point (u, v) (tangent units; v up)."""
    # camera frame at zero attitude: x = right (east), y = forward (north), z = up
    x, y, z = u, 1.0, v
    cr, sr = math.cos(roll), math.sin(roll)
    x, z = x * cr + z * sr, -x * sr + z * cr
    cp, sp = math.cos(pitch), math.sin(pitch)
    y, z = y * cp - z * sp, y * sp + z * cp
    cy, sy = math.cos(yaw), math.sin(yaw)
    x, y = x * cy + y * sy, -x * sy + y * cy
    return x, y, z


def ground_corners(intrinsics: Intrinsics, height_m: float, pitch_deg: float = -90.0, yaw_deg: float = 0.0,
                   roll_deg: float = 0.0, min_depression_deg: float = DEFAULT_MIN_DEPRESSION_DEG
                   ) -> tuple[list[tuple[float, float]], bool]:
    """Ground points (east, north metres) of the image corners: top-left, top-right, bottom-right,
    bottom-left ("top" is the far side when oblique). Returns (corners, clamped)."""
    if not height_m > 0:
        raise ValueError(f"height above ground must be positive, got {height_m!r}")
    a, b = intrinsics.half_tangents()
    pitch, yaw, roll = (math.radians(x) for x in (pitch_deg, yaw_deg, roll_deg))
    max_range = height_m / math.tan(math.radians(min_depression_deg))
    clamped = False
    out = []
    for u, v in ((-a, b), (a, b), (a, -b), (-a, -b)):
        dx, dy, dz = _ray(u, v, pitch, yaw, roll)
        horiz = math.hypot(dx, dy)
        depression = math.atan2(-dz, horiz)
        if depression < math.radians(min_depression_deg):
            clamped = True
            if horiz < 1e-12:  # cannot happen with a finite field of view; keep it defined
                out.append((0.0, 0.0))
                continue
            out.append((dx / horiz * max_range, dy / horiz * max_range))
        else:
            t = height_m / -dz
            out.append((dx * t, dy * t))
    return out, clamped


def homography(src, dst):
    """The 3x3 perspective transform H (numpy) with dst ~ H @ (x, y, 1) for four point pairs (x, y) -> (u, v)."""
    import numpy as np

    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.array(a, dtype=float), np.array(b, dtype=float))
    return np.append(h, 1.0).reshape(3, 3)


def enu_to_lonlat(lon0_deg: float, lat0_deg: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Local east/north offsets (m) around (lon0, lat0) to lon/lat degrees (WGS 84 tangent plane)."""
    lat0 = math.radians(lat0_deg)
    s = math.sin(lat0)
    w = math.sqrt(1 - _E2 * s * s)
    n_radius = _A / w  # prime vertical radius of curvature
    m_radius = _A * (1 - _E2) / (w ** 3)  # meridian radius of curvature
    return (lon0_deg + math.degrees(east_m / (n_radius * math.cos(lat0))),
            lat0_deg + math.degrees(north_m / m_radius))


def lonlat_to_enu(lon0_deg: float, lat0_deg: float, lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """Inverse of :func:`enu_to_lonlat`."""
    lat0 = math.radians(lat0_deg)
    s = math.sin(lat0)
    w = math.sqrt(1 - _E2 * s * s)
    n_radius = _A / w
    m_radius = _A * (1 - _E2) / (w ** 3)
    return (math.radians(lon_deg - lon0_deg) * n_radius * math.cos(lat0),
            math.radians(lat_deg - lat0_deg) * m_radius)


@dataclass(frozen=True)
class PhotoFootprint:
    polygon: Polygon  # lon/lat
    flags: tuple[str, ...]


def photo_footprint(lon_deg: float, lat_deg: float, height_m: float | None, intrinsics: Intrinsics | None,
                    pitch_deg: float | None = None, yaw_deg: float | None = None, roll_deg: float | None = None,
                    min_depression_deg: float = DEFAULT_MIN_DEPRESSION_DEG) -> PhotoFootprint:
    """The ground footprint of a photo in lon/lat, with flags saying what was assumed.

    Missing attitude falls back to nadir (``nadir_assumed``), a missing heading to north
    (``yaw_unknown``), an unknown camera to a generic wide angle (``intrinsics_assumed``). With no height
    above ground the footprint is a 1 m square on the camera position (``height_unknown``).
    """
    flags: list[str] = []
    if height_m is None or not height_m > 0:
        half = 0.5
        ring = [enu_to_lonlat(lon_deg, lat_deg, e, n) for e, n in ((-half, -half), (half, -half), (half, half), (-half, half))]
        return PhotoFootprint(Polygon(ring), (FLAG_NO_HEIGHT,))
    if intrinsics is None:
        intrinsics = GENERIC_INTRINSICS
        flags.append(FLAG_INTRINSICS_ASSUMED)
    if pitch_deg is None:
        pitch_deg, roll_deg = -90.0, 0.0
        flags.append(FLAG_NADIR_ASSUMED)
    if yaw_deg is None:
        yaw_deg = 0.0
        flags.append(FLAG_NO_YAW)
    corners, clamped = ground_corners(intrinsics, height_m, pitch_deg, yaw_deg, roll_deg or 0.0, min_depression_deg)
    if clamped:
        flags.append(FLAG_CLAMPED)
    pts = [enu_to_lonlat(lon_deg, lat_deg, e, n) for e, n in corners]
    poly = MultiPoint(pts).convex_hull  # always a valid polygon, whatever the clamping did
    if not isinstance(poly, Polygon):  # degenerate (all corners on a line): give it a tiny width
        poly = poly.buffer(1e-7)
    return PhotoFootprint(poly, tuple(flags))


def off_nadir_deg(pitch_deg: float | None) -> float | None:
    """Angle between the optical axis and straight down (STAC ``view:off_nadir``)."""
    if pitch_deg is None:
        return None
    return abs(90.0 + pitch_deg)
