"""Coverage of a zone by a mission's footprints, against hand-computed fractions."""

from __future__ import annotations

import pytest
from shapely.geometry import Polygon

from dronectl.archive import footprint as fp
from dronectl.errors import InputError
from tests.archive.conftest import LAT0, LON0, line_events

HALF_W = 6.4 * 60 / 4.5 / 2  # sim camera at 60 m: 85.33 m across (east-west at yaw 0)


def _zone(x0, y0, x1, y1):
    return Polygon([fp.enu_to_lonlat(LON0, LAT0, x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])


def test_covered_zone(archive, make_photos):
    archive.ingest(make_photos(line_events(1, alt_m=60.0)), "technical", mission="m-9")
    rep = archive.coverage("technical", "m-9", _zone(-20, -20, 20, 20))
    assert rep.covered_fraction == pytest.approx(1.0, abs=1e-6) and rep.gaps.is_empty and rep.images == 1


def test_partly_covered_zone_and_its_gap(archive, make_photos):
    archive.ingest(make_photos(line_events(1, alt_m=60.0)), "technical", mission="m-9")
    archive.ingest(make_photos(line_events(1, alt_m=60.0, lon0=LON0 + 0.01), folder="other"), "technical",
                   mission="m-other")  # another mission's photo does not count
    rep = archive.coverage("technical", "m-9", _zone(-20, -20, 80, 20))
    assert rep.covered_fraction == pytest.approx((HALF_W + 20) / 100, abs=2e-3)
    gaps = rep.gaps_geojson()["features"]
    assert len(gaps) == 1 and gaps[0]["properties"]["area_m2"] == pytest.approx((80 - HALF_W) * 40, rel=5e-3)


def test_mission_without_images_is_an_error(archive):
    # A typo in the mission id (or asking as the wrong service) must not read as "0 % covered".
    with pytest.raises(InputError, match="no image of mission 'nothing' is visible to service 'technical'"):
        archive.coverage("technical", "nothing", _zone(0, 0, 10, 10))


def test_a_gap_worth_a_refly_is_one_no_photo_covers():
    """A gap that fits in one photo footprint (any bearing) is not proposed for a refly; a long sliver is."""
    from shapely.geometry import box
    from shapely import affinity

    from dronectl.archive.coverage import fits_in_one_photo

    foot = (57.0, 43.0)
    assert fits_in_one_photo(box(0, 0, 50, 40), foot)
    assert fits_in_one_photo(affinity.rotate(box(0, 0, 55, 2), 37), foot)  # a rotated sliver, shorter than a photo
    assert not fits_in_one_photo(box(0, 0, 120, 2), foot)  # a 2 m sliver longer than any photo: one leg covers it
    assert not fits_in_one_photo(box(0, 0, 50, 50), foot)  # wider than the photo's short side both ways
