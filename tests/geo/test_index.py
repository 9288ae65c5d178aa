from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from wangge.geo.index import GridIndex

BOX = (113.38, 34.88, 115.01, 35.84)
TOLERANCE = 1e-9


def voronoi(n: int, seed: int, box: tuple[float, ...] = BOX, step: float = 0.01) -> np.ndarray:
    """A seeded partition of ``box`` into ``n`` Voronoi cells, edges split every ``step``."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    frame = shapely.box(*box)
    sites = shapely.multipoints(np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=frame))
    return shapely.segmentize(shapely.intersection(cells, frame), step)


def truth(polygons: np.ndarray, lng: np.ndarray, lat: np.ndarray) -> NDArray[np.int64]:
    """Shapely's answer: the polygon whose interior holds each point, -1 if none."""
    tree = shapely.STRtree(polygons)
    point, poly = tree.query(shapely.points(lng, lat), predicate="within")
    out = np.full(len(lng), -1, dtype=np.int64)
    out[point] = poly
    return out


def border_distance(polygons: np.ndarray, lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lines = shapely.union_all(shapely.boundary(polygons))
    return shapely.distance(lines, shapely.points(lng, lat))


def assert_exact(index: GridIndex, polygons: np.ndarray, lng: np.ndarray, lat: np.ndarray) -> int:
    """Every point not within the tolerance of a border gets Shapely's answer; returns checked."""
    ours = index.locate(lng, lat)
    expected = truth(polygons, lng, lat)
    differ = np.flatnonzero(ours != expected)
    if len(differ):
        near = border_distance(polygons, lng[differ], lat[differ])
        far = differ[near > TOLERANCE]
        assert len(far) == 0, (
            f"{len(far)} points disagree, e.g. ({lng[far[0]]!r}, {lat[far[0]]!r}): "
            f"ours {ours[far[0]]}, shapely {expected[far[0]]}"
        )
    return len(lng) - len(differ)


def near_border_points(
    polygons: np.ndarray, rng: np.random.Generator, n: int, offsets: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Points on random edges, pushed off perpendicular by each offset (both sides)."""
    rings = shapely.get_parts(shapely.boundary(polygons))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    edges = np.flatnonzero(ring[:-1] == ring[1:])
    pick = rng.choice(edges, n)
    a, b = xy[pick], xy[pick + 1]
    t = rng.uniform(0, 1, n)[:, None]
    on = a + t * (b - a)
    d = b - a
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(d[:, 0], d[:, 1])[:, None]
    pts = [on + normal * s * off for off in offsets for s in (-1, 1)]
    allp = np.vstack(pts)
    return allp[:, 0], allp[:, 1]


@pytest.fixture(scope="module")
def partition() -> tuple[GridIndex, np.ndarray]:
    polygons = voronoi(300, seed=11)
    # Gaps (points in no grid) inside the box: drop a few cells.
    polygons = np.delete(polygons, [3, 50, 120])
    # A polygon with a hole whose inside is another polygon, and a multipolygon.
    donut_outer = shapely.box(115.2, 35.0, 115.4, 35.2)
    hole = shapely.box(115.25, 35.05, 115.35, 35.15)
    donut = shapely.difference(donut_outer, hole)
    multi = shapely.MultiPolygon([shapely.box(115.5, 35.0, 115.6, 35.1),
                                  shapely.box(115.7, 35.0, 115.8, 35.1)])
    polygons = np.concatenate([polygons, [donut, hole, multi]])
    codes = [f"g{i}" for i in range(len(polygons))]
    return GridIndex(codes, polygons, cells=1 << 20), polygons


class TestExactness:
    def test_uniform_points_match_shapely(self, partition: tuple) -> None:
        index, polygons = partition
        rng = np.random.default_rng(1)
        lng, lat = rng.uniform(113.3, 115.9, 200_000), rng.uniform(34.8, 35.9, 200_000)
        assert assert_exact(index, polygons, lng, lat) > 199_000

    def test_points_just_off_the_borders_match_shapely(self, partition: tuple) -> None:
        index, polygons = partition
        lng, lat = near_border_points(polygons, np.random.default_rng(2), 20_000,
                                      (1e-3, 1e-5, 1e-7, 3e-9))
        assert assert_exact(index, polygons, lng, lat) > 150_000

    def test_points_on_borders_get_a_touching_polygon_or_none(self, partition: tuple) -> None:
        index, polygons = partition
        lng, lat = near_border_points(polygons, np.random.default_rng(3), 5_000, (0.0,))
        xy = shapely.get_coordinates(shapely.boundary(polygons))
        lng, lat = np.concatenate([lng, xy[:, 0]]), np.concatenate([lat, xy[:, 1]])
        ours = index.locate(lng, lat)
        hit = ours >= 0
        assert shapely.intersects_xy(polygons[ours[hit]], lng[hit], lat[hit]).all()

    def test_hole_and_multipolygon(self, partition: tuple) -> None:
        index, polygons = partition
        n = len(polygons)
        assert index.locate_one(115.22, 35.1) == f"g{n - 3}"  # in the ring of the donut
        assert index.locate_one(115.3, 35.1) == f"g{n - 2}"  # in its hole
        assert index.locate_one(115.55, 35.05) == f"g{n - 1}"
        assert index.locate_one(115.75, 35.05) == f"g{n - 1}"
        assert index.locate_one(115.65, 35.05) is None  # between the two parts

    def test_locate_one_agrees_with_locate(self, partition: tuple) -> None:
        index, _ = partition
        rng = np.random.default_rng(4)
        lng, lat = rng.uniform(113.3, 115.9, 3000), rng.uniform(34.8, 35.9, 3000)
        many = index.locate(lng, lat)
        one = [index.locate_index(a, b) for a, b in zip(lng.tolist(), lat.tolist(), strict=True)]
        assert many.tolist() == one


class TestAwkwardGeometry:
    def test_axis_aligned_squares_on_the_raster_lines(self) -> None:
        # Squares whose edges fall on cell lines stress the corner handling of the border scan.
        side = 16
        squares = np.array([shapely.box(i, j, i + 1, j + 1) for i in range(side)
                            for j in range(side)])
        index = GridIndex([str(i) for i in range(len(squares))], squares, cells=64 * 64,
                          block=4)
        rng = np.random.default_rng(5)
        grid = rng.integers(0, side * 8, (2, 20_000)) / 8.0
        jitter = rng.choice([-1e-6, 0.0, 1e-6], (2, 20_000))
        lng, lat = grid[0] + jitter[0], grid[1] + jitter[1]
        assert_exact(index, squares, lng, lat)
        centres = index.locate(np.arange(side) + 0.5, np.full(side, 0.5))
        assert centres.tolist() == [i * side for i in range(side)]

    def test_fan_of_triangles_through_cell_corners(self) -> None:
        # Diagonals through many cell corners at once.
        centre = (8.0, 8.0)
        ring = [(0, 0), (8, 0), (16, 0), (16, 8), (16, 16), (8, 16), (0, 16), (0, 8)]
        triangles = np.array([
            shapely.Polygon([centre, ring[i], ring[(i + 1) % len(ring)]]) for i in range(len(ring))
        ])
        index = GridIndex([str(i) for i in range(len(triangles))], triangles, cells=128 * 128)
        rng = np.random.default_rng(6)
        lng, lat = rng.uniform(-1, 17, 50_000), rng.uniform(-1, 17, 50_000)
        diagonal = rng.uniform(0, 16, 5_000)
        lng = np.concatenate([lng, diagonal + 1e-7, diagonal - 1e-7, diagonal])
        lat = np.concatenate([lat, diagonal, diagonal, 16 - diagonal + 1e-8])
        assert_exact(index, triangles, lng, lat)

    @pytest.mark.parametrize("cells", [36 * 16, 36 * 64, 36 * 256])
    def test_triangulated_lattice_with_edges_through_cell_corners(self, cells: int) -> None:
        # Lattice spacing a whole number of cells, in degrees that binary cannot hold exactly.
        step, n = 0.1, 6
        xs, ys = 113.37 + step * np.arange(n + 1), 34.87 + step * np.arange(n + 1)
        triangles = []
        for i in range(n):
            for j in range(n):
                a, b = (xs[i], ys[j]), (xs[i + 1], ys[j])
                c, d = (xs[i + 1], ys[j + 1]), (xs[i], ys[j + 1])
                pair = ([a, b, c], [a, c, d]) if (i + j) % 2 else ([a, b, d], [b, c, d])
                triangles += [shapely.Polygon(t) for t in pair]
        polys = np.array(triangles)
        index = GridIndex([str(i) for i in range(len(polys))], polys, cells=cells, block=2)
        rng = np.random.default_rng(cells)
        lng, lat = rng.uniform(xs[0], xs[-1], 20_000), rng.uniform(ys[0], ys[-1], 20_000)
        near_lng, near_lat = near_border_points(polys, rng, 2_000, (1e-8,))
        assert_exact(index, polys, np.concatenate([lng, near_lng]),
                     np.concatenate([lat, near_lat]))

    def test_thin_sliver_between_wide_cells(self) -> None:
        left = shapely.box(0, 0, 1, 1)
        sliver = shapely.box(1, 0, 1 + 1e-6, 1)
        right = shapely.box(1 + 1e-6, 0, 2, 1)
        polys = np.array([left, sliver, right])
        index = GridIndex(["l", "s", "r"], polys, cells=1024)
        assert index.locate_one(1 + 5e-7, 0.5) == "s"
        assert index.locate_one(1 - 1e-7, 0.5) == "l"
        assert index.locate_one(1 + 2e-6, 0.5) == "r"


class TestEdges:
    def test_points_outside_the_box_or_not_numbers_are_minus_one(self, partition: tuple) -> None:
        index, _ = partition
        lng = np.array([0.0, 180.0, 114.0, np.nan, np.inf, 114.0])
        lat = np.array([0.0, 35.0, 80.0, 35.0, 35.0, np.nan])
        assert index.locate(lng, lat).tolist() == [-1] * 6
        assert index.locate_one(float("nan"), 35.0) is None

    def test_empty_index_finds_nothing(self) -> None:
        index = GridIndex([], [])
        assert index.locate([114.0], [35.0]).tolist() == [-1]
        assert index.locate_one(114.0, 35.0) is None
        assert len(index) == 0

    def test_codes_and_polygons_must_pair_up(self) -> None:
        with pytest.raises(ValueError, match="codes"):
            GridIndex(["a"], [])

    def test_lng_and_lat_must_pair_up(self, partition: tuple) -> None:
        with pytest.raises(ValueError, match="differ"):
            partition[0].locate([1.0, 2.0], [1.0])


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    cells=st.sampled_from([1 << 10, 1 << 13, 1 << 16]),
    block=st.sampled_from([1, 2, 8]),
)
def test_any_partition_matches_shapely(seed: int, n: int, cells: int, block: int) -> None:
    polygons = voronoi(n, seed, box=(0.0, 0.0, 1.0, 0.7), step=0.05)
    index = GridIndex([str(i) for i in range(len(polygons))], polygons, cells=cells, block=block)
    rng = np.random.default_rng(seed)
    lng, lat = rng.uniform(-0.1, 1.1, 4000), rng.uniform(-0.1, 0.8, 4000)
    near_lng, near_lat = near_border_points(polygons, rng, 500, (1e-4, 1e-8))
    assert_exact(index, polygons, np.concatenate([lng, near_lng]),
                 np.concatenate([lat, near_lat]))
