"""Synthetic grids (网格) and region polygons for a city, generated deterministically from a seed.

Household counts per village are drawn (urban communities larger than rural villages) and scaled
by one factor, found by bisection, so the city's grid total hits its reported figure. Villages are
split into grids of 300–500 households (urban) or about 300 (rural). Polygons: official county
shapes, functional zones carved out of their hosts, then seeded Voronoi partitions for townships,
villages and grids (see :mod:`wangge.org.geometry`). Everything is written in bulk inside the
caller's transaction, replacing what an earlier run wrote.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wangge.authz.scope import in_subtree
from wangge.kit.cli import Progress
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput
from wangge.models import Organisation, OrganisationCoverage, Post, Region, RegionShape
from wangge.org import geometry
from wangge.org.divisions import ZONE_HOSTS
from wangge.org.geometry import Area

# Grid totals reported by each city; the calibration aims at this figure.
TARGET_GRIDS = {"4107": 4507}
URBAN_MIN, URBAN_MAX, RURAL_SIZE = 300, 500, 300
# Median households and log-spread of the draws before calibration.
URBAN_MEDIAN, URBAN_SIGMA = 1000.0, 0.5
RURAL_MEDIAN, RURAL_SIGMA = 300.0, 0.3
MIN_HOUSEHOLDS = 30

@dataclass(frozen=True)
class Village:
    code: str
    name: str
    urban: bool


@dataclass
class Divisions:
    """The official rows of one city that grid generation needs."""

    city: str
    counties: list[str]
    townships: dict[str, list[str]]  # county → township codes
    villages: dict[str, list[Village]]  # township → villages

    def all_villages(self) -> list[Village]:
        return [v for county in self.counties for t in self.townships[county]
                for v in self.villages[t]]


@dataclass(frozen=True)
class GridSummary:
    """What a generation run wrote, for the CLI's closing line."""

    city: str
    grids: int
    urban_grids: int
    villages: int
    households: int
    shapes: int
    # Synthetic staff removed because their posts were at the replaced grids.
    staff_removed: int = 0


@dataclass
class Plan:
    """Rows to write: grid regions, every shape of the city, households per division."""

    city: str
    grids: list[dict[str, Any]] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    households: dict[str, int] = field(default_factory=dict)

    def summary(self) -> GridSummary:
        return GridSummary(
            city=self.city, grids=len(self.grids),
            urban_grids=sum(1 for g in self.grids if g["urban"]),
            villages=len({g["parent_code"] for g in self.grids}),
            households=self.households.get(self.city, 0), shapes=len(self.shapes),
        )


# --- households -----------------------------------------------------------------------------


def _round(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def grid_counts(households: np.ndarray, urban: np.ndarray) -> np.ndarray:
    """How many grids each village gets: urban 300–500 households each, rural about 300."""
    h = households.astype(np.float64)
    most = np.maximum(np.floor(h / URBAN_MIN), 1)
    urban_n = np.clip(_round(h / 400), np.ceil(h / URBAN_MAX), most)
    rural_n = np.maximum(_round(h / RURAL_SIZE), 1)
    return np.where(urban, urban_n, rural_n).astype(np.int64)


def scaled_households(base: np.ndarray, urban: np.ndarray, scale: float) -> np.ndarray:
    """Households at ``scale``; urban counts avoid 501–599, which no 300–500 split can hold."""
    h = np.maximum(_round(base * scale), MIN_HOUSEHOLDS)
    gap = urban & (h > URBAN_MAX) & (h < 2 * URBAN_MIN)
    return np.where(gap, np.where(h < 550, URBAN_MAX, 2 * URBAN_MIN), h)


def calibrate(base: np.ndarray, urban: np.ndarray, target: int) -> np.ndarray:
    """Households per village, scaled so the grid total is as close to ``target`` as possible."""

    def total(scale: float) -> int:
        return int(grid_counts(scaled_households(base, urban, scale), urban).sum())

    lo, hi = 1e-3, 1.0
    while total(hi) < target:
        hi *= 2
        if hi > 1e6:
            break
    for _ in range(60):  # smallest scale reaching the target
        mid = (lo + hi) / 2
        if total(mid) >= target:
            hi = mid
        else:
            lo = mid
    best = min((lo, hi), key=lambda s: (abs(total(s) - target), -s))
    return scaled_households(base, urban, best)


def draw_households(villages: list[Village], seed: int, target: int) -> dict[str, int]:
    """Deterministic synthetic households per village code, calibrated to ``target`` grids."""
    rng = np.random.default_rng([seed, 1])
    urban = np.array([v.urban for v in villages], dtype=bool)
    base = np.where(
        urban,
        rng.lognormal(math.log(URBAN_MEDIAN), URBAN_SIGMA, len(villages)),
        rng.lognormal(math.log(RURAL_MEDIAN), RURAL_SIGMA, len(villages)),
    )
    households = calibrate(base, urban, target)
    return {v.code: int(h) for v, h in zip(villages, households, strict=True)}


def split_households(total: int, n: int, urban: bool, rng: np.random.Generator) -> list[int]:
    """Splits a village's households over ``n`` grids, near-equal with a little seeded jitter."""
    base, rest = divmod(total, n)
    if urban and total >= URBAN_MIN:
        amplitude = max(0, min(40, base - URBAN_MIN, URBAN_MAX - 1 - base))
    else:
        amplitude = min(40, base // 5)
    sizes = [base + (1 if i < rest else 0) for i in range(n)]
    for i in range(0, n - 1, 2):  # zero-sum pairs keep the total and the bounds
        d = int(rng.integers(-amplitude, amplitude + 1)) if amplitude else 0
        sizes[i] += d
        sizes[i + 1] -= d
    return sizes


# --- names ----------------------------------------------------------------------------------

_SUFFIXES = (("村民委员会", "村"), ("村民委员民", "村"), ("村委会", "村"),
             ("社区居民委员会", "社区"), ("居民委员会", "社区"), ("社区居委会", "社区"),
             ("居委会", "社区"))


def short_name(name: str) -> str:
    """A village's everyday name: 王庄村民委员会 → 王庄村, 曙光社区居民委员会 → 曙光社区."""
    name = name.split("（", 1)[0].split("(", 1)[0].strip() or name
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return stem if stem.endswith(kind) else stem + kind
    return name


def grid_name(village_name: str, sequence: int) -> str:
    return f"{short_name(village_name)}第{sequence}网格"


# --- plan -----------------------------------------------------------------------------------


def _shape_row(code: str, geom: Area, source: str, synthetic: bool) -> dict[str, Any]:
    point = shapely.point_on_surface(geom)
    minx, miny, maxx, maxy = geom.bounds
    return {
        "code": code, "geometry": geometry.to_geojson(geom), "source": source,
        "synthetic": synthetic, "centre_lng": round(point.x, 6), "centre_lat": round(point.y, 6),
        "min_lng": round(minx, 6), "min_lat": round(miny, 6),
        "max_lng": round(maxx, 6), "max_lat": round(maxy, 6),
    }


def build_plan(
    div: Divisions, seed: int, *, target: int | None = None, progress: Progress | None = None,
) -> Plan:
    """Computes every grid row and shape of the city (pure: no database)."""
    target = target or TARGET_GRIDS.get(div.city)
    if target is None:
        raise InvalidInput("city", f"no grid figure or county boundaries for city {div.city}")
    official = geometry.official_counties()
    real = [c for c in div.counties if c not in ZONE_HOSTS]
    missing = sorted(set(real) - set(official))
    if missing:
        raise InvalidInput("city", f"no county boundaries for {', '.join(missing)}")

    villages = div.all_villages()
    households = draw_households(villages, seed, target)
    counts = grid_counts(np.array([households[v.code] for v in villages]),
                         np.array([v.urban for v in villages], dtype=bool))
    n_grids = {v.code: int(n) for v, n in zip(villages, counts, strict=True)}

    rng = np.random.default_rng([seed, 2])
    areas: dict[str, Area] = {c: official[c] for c in real}
    for zone in sorted(z for z in div.counties if z in ZONE_HOSTS):
        host = ZONE_HOSTS[zone]
        host_area = areas[host]
        if not isinstance(host_area, shapely.Polygon):
            raise InvalidInput("city", f"county {host} cannot host zone {zone}")
        share = len(div.townships[zone]) / (len(div.townships[zone]) + len(div.townships[host]))
        areas[zone], areas[host] = geometry.carve_zone(host_area, share, rng)

    # Float partitions top-down; grid pieces are collected flat and snapped together at the end.
    grid_pieces: list[Area] = []
    grid_owner: list[str] = []
    for county in div.counties:
        towns = div.townships[county]
        for town, town_area in zip(towns, geometry.partition(areas[county], len(towns), rng),
                                   strict=True):
            vills = div.villages[town]
            pieces = geometry.partition(town_area, len(vills), rng)
            for village, village_area in zip(vills, pieces, strict=True):
                for piece in geometry.partition(village_area, n_grids[village.code], rng):
                    grid_pieces.append(piece)
                    grid_owner.append(village.code)
            if progress:
                progress(len(vills))
    snapped = geometry.snap_coverage(grid_pieces)

    plan = Plan(div.city)
    now = utcnow()
    by_village: dict[str, list[Area]] = defaultdict(list)
    for code, geom in zip(grid_owner, snapped, strict=True):
        by_village[code].append(geom)
    split_rng = np.random.default_rng([seed, 3])
    shapes: dict[str, Area] = {}
    for village in villages:
        pieces = by_village[village.code]
        order = geometry.reading_order(
            shapely.get_coordinates(shapely.point_on_surface(np.asarray(pieces, dtype=object)))
        )
        sizes = split_households(households[village.code], len(pieces), village.urban, split_rng)
        for seq, (i, size) in enumerate(zip(order, sizes, strict=True), start=1):
            code = f"{village.code}{seq:03d}"
            plan.grids.append({
                "code": code, "parent_code": village.code, "level": "grid",
                "name": grid_name(village.name, seq), "kind": "urban" if village.urban else "rural",
                "urban": village.urban, "households": size, "synthetic": True, "created_at": now,
            })
            plan.shapes.append(_shape_row(code, pieces[i], "synthetic", True))
        shapes[village.code] = geometry.merge(pieces)
        plan.households[village.code] = households[village.code]
    for county in div.counties:
        for town in div.townships[county]:
            codes = [v.code for v in div.villages[town]]
            shapes[town] = geometry.merge([shapes[c] for c in codes])
            plan.households[town] = sum(plan.households[c] for c in codes)
        shapes[county] = geometry.merge([shapes[t] for t in div.townships[county]])
        plan.households[county] = sum(plan.households[t] for t in div.townships[county])
    shapes[div.city] = geometry.merge([shapes[c] for c in div.counties])
    plan.households[div.city] = sum(plan.households[c] for c in div.counties)

    for code in (div.city, *div.counties):
        if code in ZONE_HOSTS:
            source, synthetic = "synthetic", True
        elif code in ZONE_HOSTS.values():
            source, synthetic = "derived", True
        else:
            source, synthetic = "official", False
        plan.shapes.append(_shape_row(code, shapes[code], source, synthetic))
    for county in div.counties:
        for town in div.townships[county]:
            plan.shapes.append(_shape_row(town, shapes[town], "synthetic", True))
            for v in div.villages[town]:
                plan.shapes.append(_shape_row(v.code, shapes[v.code], "synthetic", True))
    return plan


# --- database -------------------------------------------------------------------------------


async def read_city(conn: AsyncConnection, city: str) -> Divisions:
    """The city's counties, townships and villages; InvalidInput if they are not loaded."""
    rows = (await conn.execute(
        select(Region.code, Region.parent_code, Region.level, Region.name, Region.urban)
        .where(in_subtree(Region.code, city), Region.level.in_(("county", "township", "village")))
        .order_by(Region.code)
    )).all()
    counties: list[str] = []
    townships: dict[str, list[str]] = defaultdict(list)
    villages: dict[str, list[Village]] = defaultdict(list)
    for code, parent, level, name, urban in rows:
        if level == "county":
            counties.append(code)
        elif level == "township":
            townships[str(parent)].append(code)
        else:
            villages[str(parent)].append(Village(code, name, bool(urban)))
    if not villages:
        raise InvalidInput(
            "city", f"divisions of {city} are not loaded (run: wangge divisions load --city {city})"
        )
    empty = [t for ts in townships.values() for t in ts if not villages.get(t)]
    empty += [c for c in counties if not townships.get(c)]
    if empty:
        raise InvalidInput("city", f"divisions without villages: {', '.join(empty[:5])}")
    return Divisions(city, counties, dict(townships), dict(villages))


async def ensure_grids_unreferenced(conn: AsyncConnection, city: str) -> None:
    """Refuses to replace grids that imported posts or organisations point at (they would be
    orphaned); synthetic staff are removed before this check."""
    checks = (("posts", Post.region_code), ("organisations", Organisation.region_code),
              ("organisation coverage", OrganisationCoverage.region_code))
    for label, column in checks:
        n = await conn.scalar(select(func.count()).where(
            in_subtree(column, city), func.length(column) == 15))
        if n:
            raise InvalidInput(
                "city", f"{n:,} imported {label} reference grids of {city}; remove them first"
            )


async def write_plan(conn: AsyncConnection, city: str, plan: Plan, batch: int = 2000) -> None:
    """Replaces the city's grids and shapes with the plan's rows (bulk, in the caller's txn)."""
    await conn.execute(delete(RegionShape).where(in_subtree(RegionShape.code, city)))
    await conn.execute(delete(Region).where(in_subtree(Region.code, city), Region.level == "grid"))
    for rows, table in ((plan.grids, Region.__table__), (plan.shapes, RegionShape.__table__)):
        for start in range(0, len(rows), batch):
            await conn.execute(insert(table), rows[start : start + batch])
    table = Region.__table__
    await conn.execute(
        update(table).where(table.c.code == bindparam("b_code"))
        .values(households=bindparam("b_households")),
        [{"b_code": c, "b_households": h} for c, h in plan.households.items()],
    )
