"""Benchmark: assign 2,000,000 random points over Xinxiang to its 4,507 grids.

Ours: ``wangge.geo.index.GridIndex`` (two-level raster, exact tests only in border cells). Peer:
what a user would otherwise write — ``geopandas.sjoin(points, grids, predicate="within")``, the
points made with ``points_from_xy`` from the same arrays. Both start from the same lng/lat arrays
and the same polygons; index build times are shown apart from the lookups. Every point on which
the two differ must lie within 1e-9 degrees of a grid border.

The grids come from the demo (``wangge.demo.prepare(seed=7)``) in a temporary SQLite database.
``--quick`` uses a small seeded Voronoi partition of Xinxiang's box instead, so it runs in seconds.

    python bench/locate.py [--quick] [--points N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from wangge.authz.scope import Subject
from wangge.geo.index import GridIndex
from wangge.geo.repository import GridShapeRepository
from wangge.kit import migrate
from wangge.kit.db import create_engine, create_sessionmaker

BORDER_TOLERANCE = 1e-9
# Xinxiang's extent (WGS-84), used for the quick synthetic partition.
XINXIANG_BOX = (113.3765, 34.8786, 115.0115, 35.8375)


def demo_grids() -> tuple[list[str], NDArray[np.object_]]:
    """The demo's grids, generated into a temporary SQLite database and read back."""
    from wangge.demo import prepare

    async def run(url: str) -> list[tuple[str, str]]:
        engine = create_engine(url)
        try:
            await prepare(engine, seed=7)
            async with create_sessionmaker(engine)() as session:
                return await GridShapeRepository(session, Subject.everything()).grid_shapes()
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        shapes = asyncio.run(run(url))
    return [c for c, _ in shapes], shapely.from_geojson([g for _, g in shapes])


def synthetic_grids(n: int, seed: int) -> tuple[list[str], NDArray[np.object_]]:
    """A seeded Voronoi partition of Xinxiang's box (quick runs)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = XINXIANG_BOX
    box = shapely.box(x0, y0, x1, y1)
    sites = shapely.multipoints(np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=box))
    cells = shapely.segmentize(shapely.intersection(cells, box), 0.01)
    return [f"{i:015d}" for i in range(len(cells))], cells


def disagreements(
    lng: NDArray[np.float64], lat: NDArray[np.float64], ours: NDArray[np.int64],
    pairs: tuple[NDArray[np.int64], NDArray[np.int64]], polygons: NDArray[np.object_],
) -> tuple[int, int]:
    """(points answered differently, of which farther than the tolerance from every border)."""
    left, right = pairs
    peer = np.full(len(ours), -1, dtype=np.int64)
    peer[left] = right
    differ = np.flatnonzero(ours != peer)
    if len(differ) == 0:
        return 0, 0
    # A point inside two overlapping polygons may be answered with either.
    matched = set(zip(left.tolist(), right.tolist(), strict=True))
    differ = np.array([i for i in differ.tolist() if (i, int(ours[i])) not in matched], dtype=int)
    if len(differ) == 0:
        return 0, 0
    points = shapely.points(lng[differ], lat[differ])
    near = np.full(len(differ), np.inf)
    for answer in (ours[differ], peer[differ]):
        has = answer >= 0
        near[has] = np.minimum(
            near[has], shapely.distance(shapely.boundary(polygons[answer[has]]), points[has])
        )
    return len(differ), int(np.count_nonzero(near > BORDER_TOLERANCE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (synthetic grids)")
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n_points = args.points or (20_000 if args.quick else 2_000_000)

    started = time.perf_counter()
    if args.quick:
        source = "synthetic Voronoi partition (quick)"
        codes, polygons = synthetic_grids(400, args.seed)
    else:
        source = "demo grids, wangge.demo.prepare(seed=7)"
        codes, polygons = demo_grids()
    print(f"grids: {len(codes):,} from {source} in {time.perf_counter() - started:.1f} s")

    rng = np.random.default_rng(args.seed)
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(polygons))
    lng, lat = rng.uniform(x0, x1, n_points), rng.uniform(y0, y1, n_points)

    t = time.perf_counter()
    index = GridIndex(codes, polygons)
    ours_build = time.perf_counter() - t
    ours_s = np.inf
    for _ in range(3):
        t = time.perf_counter()
        ours = index.locate(lng, lat)
        ours_s = min(ours_s, time.perf_counter() - t)

    sample_lng, sample_lat = lng[:20_000].tolist(), lat[:20_000].tolist()
    t = time.perf_counter()
    for a, b in zip(sample_lng, sample_lat, strict=True):
        index.locate_one(a, b)
    single_us = (time.perf_counter() - t) / len(sample_lng) * 1e6

    t = time.perf_counter()
    grids = gpd.GeoDataFrame({"code": codes}, geometry=polygons, crs="EPSG:4326")
    _ = grids.sindex
    peer_build = time.perf_counter() - t
    t = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lng, lat), crs="EPSG:4326")
    made = time.perf_counter()
    joined = gpd.sjoin(points, grids, predicate="within", how="inner")
    peer_s = time.perf_counter() - t
    sjoin_s = time.perf_counter() - made
    pairs = (joined.index.to_numpy(np.int64), joined["index_right"].to_numpy(np.int64))

    differ, far = disagreements(lng, lat, ours, pairs, polygons)
    agree = far == 0
    ours_rate, peer_rate = n_points / ours_s, n_points / peer_s
    ratio = ours_rate / peer_rate

    rows = [
        ("", "build s", "lookup s", "points/s"),
        ("wangge GridIndex", f"{ours_build:.2f}", f"{ours_s:.3f}", f"{ours_rate:,.0f}"),
        ("geopandas.sjoin", f"{peer_build:.2f}", f"{peer_s:.3f}", f"{peer_rate:,.0f}"),
        ("  of which sjoin", "", f"{sjoin_s:.3f}", f"{n_points / sjoin_s:,.0f}"),
    ]
    print(f"points: {n_points:,} uniform over ({x0:.4f}, {y0:.4f}, {x1:.4f}, {y1:.4f}), "
          f"seed {args.seed}; inside a grid: {np.count_nonzero(ours >= 0):,}")
    for row in rows:
        print(f"{row[0]:<20}{row[1]:>10}{row[2]:>12}{row[3]:>16}")
    print(f"ratio: {ratio:.1f}x (vs the sjoin call alone: {ours_rate * sjoin_s / n_points:.1f}x)")
    print(f"single point: {single_us:.1f} us; border cells: {index.border_cells:,}")
    print(f"disagreements: {differ} (farther than {BORDER_TOLERANCE:g} from a border: {far})")
    print(json.dumps({
        "bench": "locate", "points": n_points, "grids": len(codes),
        "ours_per_s": round(ours_rate), "peer": "geopandas.sjoin", "peer_per_s": round(peer_rate),
        "ratio": round(ratio, 1), "agree": agree, "single_point_us": round(single_us, 2),
        "ours_build_s": round(ours_build, 2), "sjoin_only_per_s": round(n_points / sjoin_s),
    }))


if __name__ == "__main__":
    main()
