"""PNG preview: checked by its pixels (where the zone, hole, exclusion, path, photos and home land)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import box

from dronectl.errors import InputError
from dronectl.formats import png
from dronectl.mission import Home, Mission, MissionItem
from tests.formats.strategies import plan_data_of

# ~300 m east-west by ~150 m north-south near Soissons, a courtyard hole, and a no-fly square
ZONE = box(3.3200, 49.3800, 3.32410, 49.38135).difference(box(3.3203, 49.3809, 3.3207, 49.3812))
EXCL = box(3.3230, 49.3803, 3.3236, 49.3808)
HOME = Home(49.3801, 3.3201, 50.0)


def lawnmower(lats, lon_w=3.3202, lon_e=3.3239) -> Mission:
    items = [MissionItem(22, 3, 0, 0, 0, 0, HOME.lat_deg, HOME.lon_deg, 40)]
    for k, lat in enumerate(lats):
        a, b = (lon_w, lon_e) if k % 2 == 0 else (lon_e, lon_w)
        items += [MissionItem(16, 3, 0, 0, 0, 0, lat, a, 40), MissionItem(16, 3, 0, 0, 0, 0, lat, b, 40)]
    items.append(MissionItem(20, 2))
    return Mission(items=tuple(items), home=HOME, plan_data=plan_data_of("test", gsd_cm=1.6, duration_s=300))


M1 = lawnmower([49.3813])  # north of the hole and the exclusion
M2 = lawnmower([49.38015], lon_e=3.3228)  # south, stops short of the exclusion
EXTRAS = {"zone": ZONE, "exclusions": EXCL, "photos": [(3.3215, 49.3806)]}


def pixels(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"))


def colour_near(a: np.ndarray, xy, rgb, r: int = 2) -> int:
    x, y = xy
    win = a[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3)
    return int((win == np.array(rgb)).all(axis=1).sum())


@pytest.fixture(scope="module")
def rendered():
    data = png.render_png([M1, M2], EXTRAS, size_px=800)
    return pixels(data), png.layout_for([M1, M2], EXTRAS, size_px=800)


def test_requested_size(rendered):
    a, _ = rendered
    assert a.shape == (800, 800, 3)
    assert pixels(png.render_png(M1, EXTRAS, size_px=500)).shape == (500, 500, 3)


def test_zone_is_drawn_undistorted(rendered):
    a, _ = rendered
    inside = (a == np.array(png.ZONE_FILL)).all(axis=2)
    ys, xs = np.nonzero(inside)
    ratio = (xs.max() - xs.min()) / (ys.max() - ys.min())
    # ~297 m x 150 m: about 2:1 on the ground; plain lon/lat degrees would draw it about 3:1
    assert ratio == pytest.approx(297 / 150, rel=0.05)


def test_hole_left_blank_and_exclusion_red(rendered):
    a, lay = rendered
    assert colour_near(a, lay.px(3.3205, 49.38105), png.BACKGROUND, r=3) == 49
    x0, y0 = lay.px(3.3230, 49.3808)
    x1, y1 = lay.px(3.3236, 49.3803)
    win = a[y0 + 3:y1 - 3, x0 + 3:x1 - 3].reshape(-1, 3)
    hatch = (win == np.array(png.EXCLUSION)).all(axis=1).mean()
    fill = (win == np.array(png.EXCLUSION_FILL)).all(axis=1).mean()
    assert hatch > 0.1 and fill > 0.3 and hatch + fill > 0.99
    # plain zone elsewhere
    assert colour_near(a, lay.px(3.3220, 49.38085), png.ZONE_FILL, r=3) == 49


def test_paths_of_each_sortie_in_their_colours(rendered):
    a, lay = rendered
    assert colour_near(a, lay.px(3.3220, 49.3813), png.PATH_COLOURS[0]) > 0
    assert colour_near(a, lay.px(3.3215, 49.38015), png.PATH_COLOURS[1]) > 0
    # the first sortie's line does not pass there
    assert colour_near(a, lay.px(3.3215, 49.38015), png.PATH_COLOURS[0]) == 0


def test_photo_and_home_markers(rendered):
    a, lay = rendered
    assert colour_near(a, lay.px(3.3215, 49.3806), png.PHOTO, r=1) > 0
    assert colour_near(a, lay.px(HOME.lon_deg, HOME.lat_deg), png.HOME, r=8) > 20


def test_direction_arrows_on_long_legs():
    alone = pixels(png.render_png(M1, {"zone": ZONE}, size_px=800))
    lay = png.layout_for(M1, {"zone": ZONE}, size_px=800)
    # the arrowhead widens the line at the middle of the first transect (west to east)
    mid = lay.px((3.3202 + 3.3239) / 2, 49.3813)
    elsewhere = lay.px(3.3210, 49.3813)

    def thickness(xy):
        x, y = xy
        col = alone[y - 15:y + 16, x - 12:x + 13]
        return int((col == np.array(png.PATH_COLOURS[0])).all(axis=2).any(axis=1).sum())

    assert thickness(mid) > thickness(elsewhere) + 3


def test_mission_without_zone_still_renders():
    a = pixels(png.render_png(M1, None, size_px=400))
    assert (a == np.array(png.PATH_COLOURS[0])).all(axis=2).sum() > 100
    assert not (a == np.array(png.ZONE_FILL)).all(axis=2).any()


def test_nothing_to_draw_is_an_input_error():
    with pytest.raises(InputError, match="nothing to draw"):
        png.render_png(Mission(items=(MissionItem(20, 2),)), {})
