from __future__ import annotations

import numpy as np
import pytest
from coord_convert import transform

from wangge.geo.crs import from_wgs84, gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02


@pytest.fixture(scope="module")
def china() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.uniform(74.0, 135.0, 2000), rng.uniform(18.0, 53.0, 2000)


class TestRoundTrip:
    def test_wgs_to_gcj_and_back_is_below_1e_7_degrees(self, china: tuple) -> None:
        lng, lat = china
        back_lng, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat))
        assert np.abs(back_lng - lng).max() < 1e-7
        assert np.abs(back_lat - lat).max() < 1e-7

    def test_to_and_from_wgs84_dispatch_on_crs(self, china: tuple) -> None:
        lng, lat = china
        gcj = from_wgs84(lng, lat, "gcj02")
        assert not np.allclose(gcj[0], lng)
        back = to_wgs84(*gcj, "gcj02")
        assert np.abs(back[0] - lng).max() < 1e-7
        same = to_wgs84(lng, lat, "wgs84")
        assert np.array_equal(same[0], lng) and np.array_equal(same[1], lat)

    def test_the_offset_in_xinxiang_is_hundreds_of_metres(self) -> None:
        gx, gy = wgs84_to_gcj02(113.9, 35.3)
        assert 0.002 < abs(float(gx) - 113.9) < 0.01 and 0.0002 < abs(float(gy) - 35.3) < 0.01


class TestAgainstReference:
    """The ``coord_convert`` package's formulas, point by point."""

    def test_forward_matches(self, china: tuple) -> None:
        lng, lat = china
        gx, gy = wgs84_to_gcj02(lng, lat)
        ref = np.array([transform.wgs2gcj(a, b) for a, b in zip(lng, lat, strict=True)])
        assert np.abs(gx - ref[:, 0]).max() < 1e-6
        assert np.abs(gy - ref[:, 1]).max() < 1e-6

    def test_inverse_matches(self, china: tuple) -> None:
        gx, gy = wgs84_to_gcj02(*china)
        wx, wy = gcj02_to_wgs84(gx, gy)
        ref = np.array([transform.gcj2wgs(a, b) for a, b in zip(gx, gy, strict=True)])
        assert np.abs(wx - ref[:, 0]).max() < 1e-6
        assert np.abs(wy - ref[:, 1]).max() < 1e-6


class TestOutsideChina:
    @pytest.mark.parametrize(("lng", "lat"), [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9),
                                              (139.7, 60.0)])
    def test_points_outside_china_are_unchanged(self, lng: float, lat: float) -> None:
        assert tuple(map(float, wgs84_to_gcj02(lng, lat))) == (lng, lat)
        assert tuple(map(float, gcj02_to_wgs84(lng, lat))) == (lng, lat)
        assert transform.wgs2gcj(lng, lat) == (lng, lat)
