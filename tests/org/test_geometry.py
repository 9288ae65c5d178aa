from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from wangge.geo.crs import gcj02_to_wgs84, transform_geometry
from wangge.org import geometry
from wangge.org.geometry import (
    carve_zone,
    merge,
    official_counties,
    partition,
    reading_order,
    snap_coverage,
    to_geojson,
)

# A U-shaped parent: Voronoi cells clipped to it often fall apart into two pieces.
U_SHAPE = Polygon([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)])


def assert_partition(parent: shapely.Geometry, pieces: list, rel: float = 1e-9) -> None:
    union = shapely.union_all(pieces)
    assert shapely.symmetric_difference(union, parent).area < rel * parent.area
    overlap = sum(pieces[i].intersection(pieces[j]).area
                  for i in range(len(pieces)) for j in range(i + 1, len(pieces)))
    assert overlap < rel * parent.area


class TestPartition:
    @pytest.mark.parametrize("n", [1, 2, 7, 40])
    def test_pieces_cover_the_parent_without_overlap(self, n: int) -> None:
        pieces = partition(U_SHAPE, n, np.random.default_rng(n))
        assert len(pieces) == n
        assert all(isinstance(p, Polygon) and p.area > 0 for p in pieces)
        assert_partition(U_SHAPE, pieces)

    def test_same_seed_same_pieces(self) -> None:
        a = partition(U_SHAPE, 9, np.random.default_rng(3))
        b = partition(U_SHAPE, 9, np.random.default_rng(3))
        c = partition(U_SHAPE, 9, np.random.default_rng(4))
        assert [p.wkb for p in a] == [p.wkb for p in b]
        assert [p.wkb for p in a] != [p.wkb for p in c]

    def test_lloyd_relaxation_gives_similar_areas(self) -> None:
        pieces = partition(box(0, 0, 1, 1), 16, np.random.default_rng(1), iterations=8)
        areas = np.array([p.area for p in pieces])
        assert areas.max() / areas.min() < 3


class TestSnapCoverage:
    def test_vertices_on_the_storage_grid_and_union_exact(self) -> None:
        parent = shapely.affinity.scale(U_SHAPE, 0.01, 0.01, origin=(0, 0))
        parent = shapely.affinity.translate(parent, 113.5, 35.2)
        pieces = snap_coverage(partition(parent, 12, np.random.default_rng(5)))
        coords = shapely.get_coordinates(np.asarray(pieces, dtype=object))
        assert np.abs(coords * 1e6 - np.round(coords * 1e6)).max() < 1e-6
        union = merge(pieces)
        assert isinstance(union, Polygon)
        assert abs(union.area - parent.area) < 1e-9 * parent.area + parent.length * 1e-6
        # Children of a snapped coverage share vertices exactly: their union has no slivers.
        assert shapely.symmetric_difference(union, shapely.union_all(pieces)).area == 0
        assert_partition(union, pieces, rel=1e-12)


class TestCarveZone:
    def test_zone_and_rest_partition_the_host(self) -> None:
        host = official_counties()["410725"]
        zone, rest = carve_zone(host, 6 / 19, np.random.default_rng(2))
        assert isinstance(zone, Polygon) and isinstance(rest, Polygon)
        assert 0.2 < zone.area / host.area < 0.45
        assert_partition(host, [zone, rest], rel=1e-9)


class TestReadingOrder:
    def test_bands_north_to_south_then_west_to_east(self) -> None:
        # A 3×3 lattice given in scrambled order; labels are row-major from the north-west.
        labels = {(x, y): (2 - y) * 3 + x for x in range(3) for y in range(3)}
        points = list(labels)
        np.random.default_rng(0).shuffle(points)
        order = reading_order(np.array(points, dtype=float))
        assert [labels[points[i]] for i in order] == list(range(9))

    def test_two_grids_side_by_side_read_west_first(self) -> None:
        assert reading_order(np.array([[2.0, 0.0], [1.0, 0.1]])) == [1, 0]


class TestCountiesAndGeoJSON:
    def test_counties_are_converted_from_gcj02(self) -> None:
        counties = official_counties()
        assert len(counties) == 12
        with geometry.COUNTIES_FILE.open(encoding="utf-8") as fh:
            features = json.load(fh)["features"]
        raw = next(f for f in features if f["properties"]["adcode"] == "410702")
        gcj = shapely.geometry.shape(raw["geometry"])
        wgs = counties["410702"]
        # Around Xinxiang, WGS-84 lies about 600 m west of GCJ-02 (and barely north).
        dx = wgs.centroid.x - gcj.centroid.x
        dy = wgs.centroid.y - gcj.centroid.y
        assert -0.01 < dx < -0.003 and abs(dy) < 0.002
        assert wgs.equals_exact(transform_geometry(gcj, gcj02_to_wgs84), 1e-12)

    def test_geojson_has_at_most_six_decimals(self) -> None:
        text = to_geojson(box(113.1234567891, 35.1, 113.2, 35.2))
        coords = shapely.get_coordinates(shapely.from_geojson(text))
        assert json.loads(text)["type"] == "Polygon"
        assert np.allclose(coords, np.round(coords, 6), rtol=0, atol=1e-12)
        assert "113.123457" in text
