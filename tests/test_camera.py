"""GSD, footprint, spacing and trigger formulas against values computed by hand."""

import pytest

from dronectl.camera import BUILTIN_CAMERAS, find_camera, grid_geometry, load_user_cameras
from dronectl.errors import InputError


def test_phantom4rtk_at_100m_by_hand():
    # 13.2 mm x 8.8 mm sensor, 8.8 mm lens, 5472 x 3648 px.
    cam = find_camera("p4rtk")
    g = grid_geometry(cam, 100.0, front_overlap=0.80, side_overlap=0.70)
    assert g.footprint_side_m == pytest.approx(150.0)  # 13.2 * 100 / 8.8
    assert g.footprint_front_m == pytest.approx(100.0)  # 8.8 * 100 / 8.8
    assert g.line_spacing_m == pytest.approx(45.0)  # 150 * (1 - 0.7)
    assert g.trigger_distance_m == pytest.approx(20.0)  # 100 * (1 - 0.8)
    assert g.gsd_cm == pytest.approx(2.7412, abs=1e-4)  # 13.2 * 100 / (8.8 * 5472) m


def test_mavic3e_at_100m_by_hand():
    # 17.3 mm x 13.0 mm sensor, 12.29 mm lens, 5280 x 3956 px.
    cam = find_camera("mavic3e")
    g = grid_geometry(cam, 100.0, front_overlap=0.75, side_overlap=0.60)
    assert g.footprint_side_m == pytest.approx(140.765, abs=1e-3)  # 17.3 * 100 / 12.29
    assert g.footprint_front_m == pytest.approx(105.777, abs=1e-3)  # 13.0 * 100 / 12.29
    assert g.line_spacing_m == pytest.approx(56.306, abs=1e-3)  # 140.765 * 0.4
    assert g.trigger_distance_m == pytest.approx(26.444, abs=1e-3)  # 105.777 * 0.25
    # the coarser axis: 13.0 * 100 / (12.29 * 3956) = 0.026738 m
    assert g.gsd_cm == pytest.approx(2.6738, abs=1e-4)


def test_portrait_swaps_the_footprint():
    cam = find_camera("p4rtk")
    g = grid_geometry(cam, 100.0, 0.8, 0.7, portrait=True)
    assert (g.footprint_side_m, g.footprint_front_m) == pytest.approx((100.0, 150.0))


@pytest.mark.parametrize("cam", BUILTIN_CAMERAS, ids=lambda c: c.id)
def test_altitude_and_gsd_are_inverse(cam):
    for alt in (15.0, 60.0, 120.0):
        assert cam.altitude_for_gsd(cam.gsd_cm(alt)) == pytest.approx(alt)


def test_overlap_of_100_percent_is_refused():
    with pytest.raises(InputError, match="below 100 %"):
        grid_geometry(find_camera("p4rtk"), 60, 1.0, 0.7)


def test_unknown_camera_names_the_known_ones():
    with pytest.raises(InputError, match="unknown camera 'nope'.*mavic3e"):
        find_camera("nope")


def test_user_camera_file(tmp_path):
    f = tmp_path / "cams.toml"
    f.write_text('[[camera]]\nid = "mycam"\nsensor_width_mm = 10\nsensor_height_mm = 7.5\nfocal_length_mm = 10\n'
                 'image_width_px = 4000\nimage_height_px = 3000\n')
    cam = find_camera("mycam", f)
    assert cam.footprint_m(50) == pytest.approx((50.0, 37.5))
    f.write_text('[[camera]]\nid = "bad"\nsensor_width_mm = 10\n')
    with pytest.raises(InputError, match="lacks"):
        load_user_cameras(f)
