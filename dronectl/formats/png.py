"""A preview picture of a plan over its zone, for a human eye (PNG, Pillow).

Everything is projected to the local metric CRS first (:class:`dronectl.geo.Projector`), so a square
field looks square and the scale bar is true. Drawn, bottom to top: the zone (green, holes left
blank; a corridor's centre line as a thin green line), exclusion zones (red, hatched), photo footprints (faint
outlines), a structure scan's building (grey), the flight path of each sortie (blue for the first, other colours
for the next; a structure scan's layers are its rings) with arrows giving the direction, camera headings (short
crimson ticks), photo points (dark dots), the take-off point (orange disc), then a scale bar, a north arrow and a
title line (zone,
GSD, flight time, sorties).

:func:`render_png` is pure: missions and geometry in, PNG bytes out. :func:`layout_for` gives the
lon/lat → pixel mapping the picture uses, for callers that annotate it (and for tests).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFont
from shapely.geometry import GeometryCollection, MultiPoint
from shapely.geometry.base import BaseGeometry

from dronectl.errors import InputError
from dronectl.geo import Projector, polygon_parts
from dronectl.mission import CMD_NAV_RETURN_TO_LAUNCH, Mission

BACKGROUND = (246, 246, 242)
ZONE_FILL = (204, 232, 192)
ZONE_EDGE = (60, 140, 40)
EXCLUSION_FILL = (246, 196, 196)
EXCLUSION = (215, 35, 35)
FOOTPRINT = (120, 140, 190, 70)
PATH_COLOURS = [(0, 90, 225), (150, 0, 190), (0, 150, 150), (225, 120, 0), (90, 90, 90)]
PHOTO = (30, 30, 30)
HOME = (255, 140, 0)
STRUCTURE_FILL = (150, 150, 150)
STRUCTURE = (60, 60, 60)
TICK = (200, 0, 90)
TEXT = (20, 20, 20)

_MIN_EXTENT_M = 50.0


@dataclass(frozen=True)
class Layout:
    """How metres and lon/lat map to pixels in a preview of ``width`` x ``height``."""

    proj: Projector
    min_x: float
    max_y: float
    scale_px_per_m: float
    origin_px: tuple[float, float]
    width: int
    height: int
    map_box: tuple[int, int, int, int]  # left, top, right, bottom of the drawing area

    def px_m(self, x_m: float, y_m: float) -> tuple[float, float]:
        return (self.origin_px[0] + (x_m - self.min_x) * self.scale_px_per_m,
                self.origin_px[1] + (self.max_y - y_m) * self.scale_px_per_m)

    def px(self, lon: float, lat: float) -> tuple[int, int]:
        x, y = self.px_m(*self.proj.xy(lon, lat))
        return round(x), round(y)


def _as_list(missions) -> list[Mission]:
    if isinstance(missions, Mission):
        return [missions]
    return list(missions or [])


def _flight_path(m: Mission) -> list[tuple[float, float]]:
    """lon/lat of home, every positioned item, and home again where an RTL brings the vehicle back."""
    pts = []
    if m.home is not None:
        pts.append((m.home.lon_deg, m.home.lat_deg))
    for it in m.items:
        if it.has_position:
            pts.append((it.lon_deg, it.lat_deg))
        elif it.command == CMD_NAV_RETURN_TO_LAUNCH and m.home is not None:
            pts.append((m.home.lon_deg, m.home.lat_deg))
    return pts


def _geom(extras: dict, key: str) -> BaseGeometry | None:
    g = extras.get(key)
    return g if g is not None and not g.is_empty else None


def layout_for(missions: Mission | Sequence[Mission], extras: dict | None = None, size_px: int = 1200) -> Layout:
    """The lon/lat → pixel mapping of the preview: all content fitted, centred, north up."""
    missions, extras = _as_list(missions), extras or {}
    pts = [p for m in missions for p in _flight_path(m)] + [tuple(p[:2]) for p in extras.get("photos") or []]
    geoms = [g for g in (_geom(extras, "zone"), _geom(extras, "exclusions"), _geom(extras, "structure")) if g is not None]
    everything = GeometryCollection(geoms + ([MultiPoint(pts)] if pts else []))
    if everything.is_empty:
        raise InputError("nothing to draw: the mission has no positions and no zone was given")
    proj = Projector.around(everything)
    min_x, min_y, max_x, max_y = proj.to_metric(everything).bounds
    for fp in extras.get("footprints") or []:  # footprints widen the view a little at the edges
        a, b, c, d = proj.to_metric(fp).bounds
        min_x, min_y, max_x, max_y = min(min_x, a), min(min_y, b), max(max_x, c), max(max_y, d)
    cx, cy = (min_x + max_x) / 2, (min_y + max_y) / 2
    w_m, h_m = max(max_x - min_x, _MIN_EXTENT_M), max(max_y - min_y, _MIN_EXTENT_M)
    width = height = int(size_px)
    margin = max(16, width // 30)
    top = margin + max(24, height // 20)  # title band
    bottom = height - margin - max(24, height // 25)  # scale bar band
    box = (margin, top, width - margin, bottom)
    scale = min((box[2] - box[0]) / w_m, (box[3] - box[1]) / h_m)
    ox = (box[0] + box[2]) / 2 - w_m / 2 * scale
    oy = (box[1] + box[3]) / 2 - h_m / 2 * scale
    return Layout(proj, cx - w_m / 2, cy + h_m / 2, scale, (ox, oy), width, height, box)


def _rings_px(lay: Layout, poly_m) -> tuple[list, list[list]]:
    ext = [lay.px_m(x, y) for x, y in poly_m.exterior.coords]
    holes = [[lay.px_m(x, y) for x, y in r.coords] for r in poly_m.interiors]
    return ext, holes


def _mask(lay: Layout, geom_m: BaseGeometry) -> Image.Image:
    """An 'L' mask, 255 inside the polygon(s), holes cut out."""
    mask = Image.new("L", (lay.width, lay.height), 0)
    d = ImageDraw.Draw(mask)
    for part in polygon_parts(geom_m):
        ext, holes = _rings_px(lay, part)
        d.polygon(ext, fill=255)
        for h in holes:
            d.polygon(h, fill=0)
    return mask


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not above ``max_m``."""
    k = 10 ** math.floor(math.log10(max_m))
    for f in (5, 2, 1):
        if f * k <= max_m:
            return f * k
    return k


def _arrow(d: ImageDraw.ImageDraw, a, b, colour, size: float) -> None:
    """An arrowhead at the middle of a-b pointing towards b."""
    (x0, y0), (x1, y1) = a, b
    length = math.hypot(x1 - x0, y1 - y0)
    if length < 4 * size:
        return
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    mx, my = (x0 + x1) / 2 + ux * size / 2, (y0 + y1) / 2 + uy * size / 2
    d.polygon([(mx, my), (mx - ux * size - uy * size * 0.6, my - uy * size + ux * size * 0.6),
               (mx - ux * size + uy * size * 0.6, my - uy * size - ux * size * 0.6)], fill=colour)


def _title(missions: list[Mission], extras: dict) -> str:
    data = missions[0].plan_data if missions else None
    parts = [str((data.zone if data else None) or extras.get("name") or "mission")]
    if data is not None and data.grid is not None:
        parts.append(f"GSD {data.grid.gsd_cm:.2f} cm/px")
        parts.append(f"{data.grid.altitude_m:g} m")
    if missions:
        if all(m.plan_data is not None and m.plan_data.duration_s is not None for m in missions):
            total = sum(m.plan_data.duration_s for m in missions)
        else:
            from dronectl.timing import estimate_duration_s

            total = sum(estimate_duration_s(m) for m in missions)
        parts.append(f"{total / 60:.1f} min")
        if len(missions) > 1:
            parts.append(f"{len(missions)} sorties")
    photos = extras.get("photos")
    if photos:
        parts.append(f"{len(photos)} photo{'s' if len(photos) > 1 else ''}")
    return "  ·  ".join(parts)


def render_png(missions: Mission | Sequence[Mission], extras: dict | None = None, size_px: int = 1200) -> bytes:
    """A PNG preview of one mission or of several sorties over their zone.

    ``extras`` may hold ``"zone"`` and ``"exclusions"`` (shapely lon/lat geometries, holes allowed),
    ``"photos"`` ((lon, lat) pairs), ``"footprints"`` (shapely lon/lat polygons), ``"structure"`` (a building's
    footprint) and ``"ticks"`` ((lon, lat, heading degrees) of camera directions), as
    :func:`dronectl.survey.extras.survey_extras` returns them.
    """
    missions, extras = _as_list(missions), extras or {}
    lay = layout_for(missions, extras, size_px)
    img = Image.new("RGB", (lay.width, lay.height), BACKGROUND)
    d = ImageDraw.Draw(img)
    line_w = max(2, lay.width // 400)

    zone = _geom(extras, "zone")
    if zone is not None:
        zone_m = lay.proj.to_metric(zone)
        img.paste(ZONE_FILL, mask=_mask(lay, zone_m))
        for part in polygon_parts(zone_m):
            ext, holes = _rings_px(lay, part)
            for ring in [ext, *holes]:
                d.line(ring, fill=ZONE_EDGE, width=line_w)

    centre = _geom(extras, "line")  # a corridor's centre line
    if centre is not None:
        for part in getattr(centre, "geoms", [centre]):
            d.line([lay.px(*c[:2]) for c in part.coords], fill=ZONE_EDGE, width=max(1, line_w // 2))

    excl = _geom(extras, "exclusions")
    if excl is not None:
        excl_m = lay.proj.to_metric(excl)
        mask = _mask(lay, excl_m)
        img.paste(EXCLUSION_FILL, mask=mask)
        hatch = Image.new("L", img.size, 0)
        hd = ImageDraw.Draw(hatch)
        step = max(8, lay.width // 80)
        for k in range(-lay.height, lay.width, step):
            hd.line([(k, lay.height), (k + lay.height, 0)], fill=255, width=line_w)
        img.paste(EXCLUSION, mask=ImageChops.multiply(hatch, mask))
        for part in polygon_parts(excl_m):
            ext, holes = _rings_px(lay, part)
            for ring in [ext, *holes]:
                d.line(ring, fill=EXCLUSION, width=line_w)

    footprints = extras.get("footprints") or []
    if footprints:
        overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
        od = ImageDraw.Draw(overlay)
        for fp in lay.proj.to_metric(GeometryCollection(list(footprints))).geoms:
            for part in polygon_parts(fp):
                od.line([lay.px_m(x, y) for x, y in part.exterior.coords], fill=FOOTPRINT, width=1)
        img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
        d = ImageDraw.Draw(img)

    structure = _geom(extras, "structure")
    if structure is not None:
        st_m = lay.proj.to_metric(structure)
        img.paste(STRUCTURE_FILL, mask=_mask(lay, st_m))
        for part in polygon_parts(st_m):
            d.line(_rings_px(lay, part)[0], fill=STRUCTURE, width=line_w)

    for k, m in enumerate(missions):
        colour = PATH_COLOURS[k % len(PATH_COLOURS)]
        path = [lay.px(lon, lat) for lon, lat in _flight_path(m)]
        if len(path) >= 2:
            d.line(path, fill=colour, width=line_w, joint="curve")
            for a, b in zip(path, path[1:]):
                _arrow(d, a, b, colour, size=4 * line_w)

    tick = max(8, lay.width // 50)
    for lon, lat, heading in extras.get("ticks") or []:  # where the camera looks from each photo point
        x, y = lay.px(lon, lat)
        b = math.radians(heading)  # the preview is north up, a projected grid's convergence aside
        d.line([(x, y), (x + math.sin(b) * tick, y - math.cos(b) * tick)], fill=TICK, width=max(1, line_w // 2))

    r = max(2, lay.width // 500)
    for ph in extras.get("photos") or []:
        x, y = lay.px(ph[0], ph[1])
        d.ellipse([x - r, y - r, x + r, y + r], fill=PHOTO)

    for m in missions[:1] if missions and all(m.home == missions[0].home for m in missions) else missions:
        if m.home is not None:
            x, y = lay.px(m.home.lon_deg, m.home.lat_deg)
            hr = 4 * r + 2
            d.ellipse([x - hr, y - hr, x + hr, y + hr], fill=HOME, outline=TEXT, width=max(1, line_w // 2))
            d.text((x, y), "H", fill=TEXT, font=_font(int(hr * 1.4)), anchor="mm")

    font = _font(max(12, lay.width // 55))
    left, top, right, bottom = lay.map_box
    d.text((left, top // 2), _title(missions, extras), fill=TEXT, font=font, anchor="lm")

    # scale bar, bottom left
    bar_m = _nice_length((right - left) / 4 / lay.scale_px_per_m)
    bar_px = bar_m * lay.scale_px_per_m
    y = bottom + (lay.height - bottom) // 2
    d.rectangle([left, y - line_w * 2, left + bar_px, y + line_w * 2], fill=TEXT)
    d.rectangle([left + bar_px / 2, y - line_w * 2 + 1, left + bar_px, y + line_w * 2 - 1], fill=BACKGROUND)
    label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    d.text((left + bar_px + 8, y), label, fill=TEXT, font=font, anchor="lm")

    # north arrow, top right: true north, which a projected grid tilts by its convergence
    mx = lay.min_x + ((left + right) / 2 - lay.origin_px[0]) / lay.scale_px_per_m
    my = lay.max_y - ((top + bottom) / 2 - lay.origin_px[1]) / lay.scale_px_per_m
    lon, lat = lay.proj.lonlat(mx, my)
    (x0, y0), (x1, y1) = lay.proj.xy(lon, lat), lay.proj.xy(lon, lat + 0.01)
    n = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / n, -(y1 - y0) / n  # pixel rows grow downwards
    size = max(18, lay.width // 40)
    ax, ay = right - size, top + size * 1.5
    tip = (ax + ux * size, ay + uy * size)
    d.polygon([tip, (ax - uy * size * 0.45 - ux * size * 0.6, ay + ux * size * 0.45 - uy * size * 0.6),
               (ax - ux * size * 0.2, ay - uy * size * 0.2),
               (ax + uy * size * 0.45 - ux * size * 0.6, ay - ux * size * 0.45 - uy * size * 0.6)], fill=TEXT)
    d.text((ax - ux * size * 1.1, ay - uy * size * 1.1), "N", fill=TEXT, font=font, anchor="mm")

    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
