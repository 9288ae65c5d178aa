"""Polygon synthesis: official county shapes, carved zones and seeded Voronoi partitions.

No public boundaries exist below the county, so townships, villages and grids are synthesised as
partitions of their parent: seeded points, a few Lloyd iterations, Voronoi cells clipped to the
parent, disconnected fragments handed to a neighbour. Finally :func:`snap_coverage` nodes the
whole arrangement once on the storage grid (1e-6°), so every stored vertex is exact and each
parent is exactly the union of its children. All coordinates here are WGS-84 longitude/latitude.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from wangge.config import DATA_DIR
from wangge.geo.crs import gcj02_to_wgs84, transform_geometry

COUNTIES_FILE = DATA_DIR / "xinxiang" / "counties.geojson"
GRID_SIZE = 1e-6  # storage precision: 6 decimals of a degree (about 0.1 m)

Area: TypeAlias = Polygon | MultiPolygon


def official_counties(path: Path = COUNTIES_FILE) -> dict[str, Polygon]:
    """County polygons by adcode, converted from GCJ-02 to WGS-84."""
    with path.open(encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    out: dict[str, Polygon] = {}
    for feature in features:
        geom = transform_geometry(shape(feature["geometry"]), gcj02_to_wgs84)
        out[str(feature["properties"]["adcode"])] = shapely.make_valid(geom)
    return out


def _single(geom: shapely.Geometry) -> Area:
    """Drops non-areal debris and float-noise slivers; unwraps a one-part MultiPolygon."""
    if isinstance(geom, Polygon):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    if len(parts) > 1:
        floor = max(g.area for g in parts) * 1e-9
        parts = [g for g in parts if g.area > floor]
    if len(parts) == 1:
        return parts[0]
    return MultiPolygon(parts)


def carve_zone(
    host: Polygon, share: float, rng: np.random.Generator, *, cells: int = 64,
) -> tuple[Polygon, Area]:
    """Cuts a compact zone of about ``share`` of the host's area out of it; returns (zone, rest).

    The host is split into ``cells`` Voronoi cells; the zone grows from a seeded start cell by
    adding the neighbour nearest that start until it reaches the target area. Start cells are
    tried until the rest is one polygon (preferably without a hole).
    """
    pieces = np.asarray(partition(host, cells, rng, iterations=2), dtype=object)
    centres = shapely.get_coordinates(shapely.centroid(pieces))
    tree = shapely.STRtree(pieces)
    a, b = tree.query(shapely.buffer(pieces, 1e-9), predicate="intersects")
    neighbours: list[set[int]] = [set() for _ in pieces]
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if i != j:
            neighbours[i].add(j)
    areas = shapely.area(pieces)
    target = host.area * share
    fallback: tuple[Polygon, Area] | None = None
    for start in rng.permutation(len(pieces)).tolist():
        chosen, total = {start}, float(areas[start])
        while total < target:
            frontier = set().union(*(neighbours[i] for i in chosen)) - chosen
            if not frontier:
                break
            nxt = min(frontier, key=lambda j: float(np.hypot(*(centres[j] - centres[start]))))
            chosen.add(nxt)
            total += float(areas[nxt])
        zone = _single(shapely.union_all(pieces[sorted(chosen)]))
        rest = _single(shapely.difference(host, zone))
        if not (isinstance(zone, Polygon) and isinstance(rest, Polygon)):
            continue
        if not rest.interiors:
            return zone, rest
        fallback = fallback or (zone, rest)
    if fallback is None:
        raise ValueError("cannot carve a connected zone")
    return fallback


def sample_points(area: Area, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct uniform random points strictly inside ``area`` (rejection sampling)."""
    shapely.prepare(area)
    minx, miny, maxx, maxy = area.bounds
    fill = max(area.area / max((maxx - minx) * (maxy - miny), 1e-18), 0.02)
    found: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int((n - have) / fill * 1.5) + 16
        xy = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
        inside = xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]
        found.append(inside)
        have += len(inside)
    points = np.unique(np.concatenate(found)[:n], axis=0)
    if len(points) < n:  # duplicates are practically impossible; draw again if they happen
        return sample_points(area, n, rng)
    return rng.permutation(points)


def _cells(parent: Area, seeds: np.ndarray) -> np.ndarray:
    minx, miny, maxx, maxy = parent.bounds
    frame = shapely.box(minx, miny, maxx, maxy).buffer(max(maxx - minx, maxy - miny))
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    return shapely.intersection(np.asarray(shapely.get_parts(vor)), parent)


def partition(
    parent: Area, n: int, rng: np.random.Generator, *, iterations: int = 4,
) -> list[Area]:
    """Splits ``parent`` into ``n`` non-empty pieces without gaps or overlaps (float precision).

    Seeds are drawn uniformly inside the parent and Lloyd-relaxed ``iterations`` times, so pieces
    come out compact and of similar area; pieces are returned in seed order.
    """
    if n == 1:
        return [parent]
    shapely.prepare(parent)
    seeds = sample_points(parent, n, rng)
    for _ in range(iterations):
        cells = _cells(parent, seeds)
        centres = shapely.centroid(cells)
        outside = ~shapely.contains(parent, centres)
        if outside.any():
            centres[outside] = shapely.point_on_surface(cells[outside])
        moved = shapely.get_coordinates(centres)
        if len(np.unique(moved, axis=0)) < n:
            break
        seeds = moved
    return _connect(list(_cells(parent, seeds)), seeds)


def _connect(cells: Sequence[shapely.Geometry], seeds: np.ndarray) -> list[Area]:
    """Hands every fragment not holding its seed to the neighbour it shares most border with."""
    pieces = [_single(c) for c in cells]
    for _ in range(8):
        moved = False
        for i, piece in enumerate(pieces):
            if not isinstance(piece, MultiPolygon):
                continue
            parts = list(piece.geoms)
            seed = shapely.Point(seeds[i])
            keep = next((k for k, g in enumerate(parts) if g.intersects(seed)),
                        int(np.argmax([g.area for g in parts])))
            pieces[i] = parts[keep]
            for k, frag in enumerate(parts):
                if k == keep:
                    continue
                halo = frag.buffer(1e-9)
                scores = shapely.area(shapely.intersection(halo, np.asarray(pieces, dtype=object)))
                scores[i] = 0.0
                j = int(np.argmax(scores))
                if scores[j] <= 0:  # no neighbour: keep it (only if unavoidable)
                    pieces[i] = _single(shapely.union(pieces[i], frag))
                    continue
                pieces[j] = _single(shapely.union(pieces[j], frag))
                moved = True
        if not moved:
            break
    return pieces


def snap_coverage(pieces: Sequence[Area]) -> list[Area]:
    """Re-draws a float partition on the storage grid as an exact coverage.

    All piece boundaries are noded together with snap rounding and polygonised; each face goes to
    the piece holding its interior point. Neighbours then share identical vertices, so unions of
    pieces are exact and every stored coordinate has at most six decimals.
    """
    arr = np.asarray(pieces, dtype=object)
    lines = shapely.unary_union(shapely.boundary(arr), grid_size=GRID_SIZE)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))
    points = shapely.point_on_surface(faces)
    tree = shapely.STRtree(arr)
    point_idx, piece_idx = tree.query(points, predicate="within")
    owner = np.full(len(faces), -1)
    owner[point_idx[::-1]] = piece_idx[::-1]  # the first hit wins
    missing = np.flatnonzero(owner < 0)
    if len(missing):
        owner[missing] = tree.query_nearest(points[missing], all_matches=False)[1]
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(arr) + 1))
    out: list[Area] = []
    for i in range(len(arr)):
        mine = faces[order[bounds[i] : bounds[i + 1]]]
        if len(mine) == 0:
            raise ValueError(f"piece {i} vanished on the storage grid")
        out.append(_single(mine[0] if len(mine) == 1 else shapely.coverage_union_all(mine)))
    return out


def merge(children: Sequence[Area]) -> Area:
    """The exact union of snapped pieces that form a coverage."""
    if len(children) == 1:
        return children[0]
    return _single(shapely.coverage_union_all(np.asarray(children, dtype=object)))


def reading_order(points: np.ndarray) -> list[int]:
    """Indices of ``points`` (lng, lat) in reading order: north→south bands, west→east inside.

    With ``n`` points, bands hold ``ceil(sqrt(n))`` points each: points are sorted north to south,
    cut into consecutive bands of that size, and each band is read west to east. This is the grid
    sequence rule (网格编号自西向东、自北向南).
    """
    n = len(points)
    if n == 0:
        return []
    per_band = math.ceil(math.sqrt(n))
    north_first = sorted(range(n), key=lambda i: (-points[i][1], points[i][0]))
    out: list[int] = []
    for start in range(0, n, per_band):
        out.extend(sorted(north_first[start : start + per_band], key=lambda i: points[i][0]))
    return out


def to_geojson(geom: Area) -> str:
    """GeoJSON geometry text with coordinates on the storage grid."""
    return shapely.to_geojson(shapely.set_precision(geom, GRID_SIZE))
