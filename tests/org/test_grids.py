from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select

from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine
from wangge.kit.errors import InvalidInput
from wangge.models import Person, Post, Region, RegionShape
from wangge.org.divisions import Selection, read_divisions
from wangge.org.geometry import official_counties, reading_order
from wangge.org.grids import (
    URBAN_MAX,
    URBAN_MIN,
    ZONE_HOSTS,
    Village,
    draw_households,
    grid_counts,
    short_name,
    split_households,
)
from wangge.org.service import org_service

pytestmark = pytest.mark.anyio
CITY = "4107"


@cache
def xinxiang_villages() -> tuple[Village, ...]:
    rows = read_divisions(Selection(province="41", city=CITY))
    return tuple(Village(c, n, bool(u)) for c, _p, lv, n, _k, u in rows if lv == "village")


async def read_city(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(regions by code, shapes by code) of the city, straight from the database."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        regions = {r.code: r for r in (await conn.execute(
            select(Region).where(Region.code.startswith(CITY)))).all()}
        shapes = {s.code: s for s in (await conn.execute(
            select(RegionShape).where(RegionShape.code.startswith(CITY)))).all()}
    await engine.dispose()
    return regions, shapes


@pytest.fixture(scope="module")
def city_rows(xinxiang: str) -> tuple[dict[str, Any], dict[str, Any]]:

    return run_sync(lambda: read_city(xinxiang))


def grids_of(regions: dict[str, Any]) -> list[Any]:
    return sorted((r for r in regions.values() if r.level == "grid"), key=lambda r: r.code)


class TestHouseholds:
    def test_calibration_hits_the_reported_grid_total(self) -> None:
        villages = list(xinxiang_villages())
        households = draw_households(villages, 7, 4507)
        counts = grid_counts(np.array([households[v.code] for v in villages]),
                             np.array([v.urban for v in villages]))
        assert abs(int(counts.sum()) - 4507) <= 2

    def test_same_seed_same_households_other_seed_differs(self) -> None:
        villages = list(xinxiang_villages())
        assert draw_households(villages, 7, 4507) == draw_households(villages, 7, 4507)
        assert draw_households(villages, 7, 4507) != draw_households(villages, 8, 4507)

    def test_urban_communities_are_larger_than_rural_villages(self) -> None:
        villages = list(xinxiang_villages())
        h = draw_households(villages, 7, 4507)
        urban = np.median([h[v.code] for v in villages if v.urban])
        rural = np.median([h[v.code] for v in villages if not v.urban])
        assert urban > 2 * rural

    @pytest.mark.parametrize("total", [300, 499, 500, 600, 999, 1000, 1777, 5003])
    def test_urban_split_stays_within_300_to_500(self, total: int) -> None:
        n = int(grid_counts(np.array([total]), np.array([True]))[0])
        sizes = split_households(total, n, True, np.random.default_rng(total))
        assert sum(sizes) == total
        assert all(URBAN_MIN <= s <= URBAN_MAX for s in sizes)

    def test_rural_grids_are_about_300(self) -> None:
        assert grid_counts(np.array([120, 440, 460, 900]), np.array([False] * 4)).tolist() == [
            1, 1, 2, 3]


class TestNames:
    @pytest.mark.parametrize(("name", "short"), [
        ("王庄村民委员会", "王庄村"), ("杨岗村村民委员会（新乡市古龙实业公司））", "杨岗村"),
        ("王庄村委会", "王庄村"), ("曙光社区居民委员会", "曙光社区"),
        ("北关居民委员会", "北关社区"),
        ("金谷社区", "金谷社区"), ("原种场虚拟生活区", "原种场虚拟生活区"),
    ])
    def test_short_names(self, name: str, short: str) -> None:
        assert short_name(name) == short


class TestGeneratedGrids:
    def test_total_and_codes(self, city_rows: tuple[dict, dict]) -> None:
        regions, _ = city_rows
        grids = grids_of(regions)
        assert 4462 <= len(grids) <= 4552
        villages = {c for c, r in regions.items() if r.level == "village"}
        for g in grids:
            assert len(g.code) == 15 and g.code.isdigit()
            assert g.parent_code == g.code[:12] and g.parent_code in villages
            assert g.synthetic and g.kind == ("urban" if g.urban else "rural")
            assert g.name.endswith("网格")
        # Every village has grids numbered 001..n without holes.
        by_village: dict[str, list[str]] = defaultdict(list)
        for g in grids:
            by_village[g.parent_code].append(g.code[12:])
        assert set(by_village) == villages
        assert all(seqs == [f"{i:03d}" for i in range(1, len(seqs) + 1)]
                   for seqs in by_village.values())

    def test_households_sum_up_and_urban_grids_hold_300_to_500(
        self, city_rows: tuple[dict, dict]
    ) -> None:
        regions, _ = city_rows
        grids = grids_of(regions)
        per_village: dict[str, int] = defaultdict(int)
        for g in grids:
            per_village[g.parent_code] += g.households
        for code, total in per_village.items():
            village = regions[code]
            assert village.households == total
            if village.urban and total >= URBAN_MIN:
                assert all(URBAN_MIN <= g.households <= URBAN_MAX
                           for g in grids if g.parent_code == code)
        assert regions[CITY].households == sum(per_village.values())
        # Households in the database are the seeded draw (seed 7, as the demo uses).
        assert dict(per_village) == draw_households(list(xinxiang_villages()), 7, 4507)

    def test_grids_are_numbered_west_to_east_north_to_south(
        self, city_rows: tuple[dict, dict]
    ) -> None:
        regions, shapes = city_rows
        by_village: dict[str, list[str]] = defaultdict(list)
        for g in grids_of(regions):
            by_village[g.parent_code].append(g.code)
        checked = 0
        for codes in by_village.values():
            if len(codes) < 2:
                continue
            geoms = [shapely.from_geojson(shapes[c].geometry) for c in codes]
            points = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms)))
            assert reading_order(points) == list(range(len(codes)))
            # The first grid lies in the northern band: nothing is much further north.
            assert points[0][1] >= np.sort(points[:, 1])[-int(np.ceil(np.sqrt(len(codes))))]
            checked += 1
        assert checked > 100

    def test_every_region_has_a_flagged_shape(self, city_rows: tuple[dict, dict]) -> None:
        regions, shapes = city_rows
        assert set(shapes) == {c for c, r in regions.items() if r.level != "province"}
        for code, s in shapes.items():
            level = regions[code].level
            if level in ("township", "village", "grid") or code in ZONE_HOSTS:
                assert (s.source, s.synthetic) == ("synthetic", True), code
            elif code in ZONE_HOSTS.values():
                assert (s.source, s.synthetic) == ("derived", True), code
            else:
                assert (s.source, s.synthetic) == ("official", False), code
            geom = shapely.from_geojson(s.geometry)
            assert geom.geom_type == "Polygon" and geom.is_valid and geom.area > 0, code
            assert (s.min_lng, s.min_lat, s.max_lng, s.max_lat) == pytest.approx(geom.bounds)
            assert geom.contains(shapely.Point(s.centre_lng, s.centre_lat)) or geom.distance(
                shapely.Point(s.centre_lng, s.centre_lat)) < 1e-6


class TestPartitions:
    """Children's union equals the parent and siblings do not overlap, at every level."""

    @pytest.mark.parametrize("level", ["county", "township", "village", "grid"])
    def test_children_partition_their_parent(
        self, city_rows: tuple[dict, dict], level: str
    ) -> None:
        regions, shapes = city_rows
        children: dict[str, list[str]] = defaultdict(list)
        for code, r in regions.items():
            if r.level == level:
                children[r.parent_code].append(code)
        geom = {c: shapely.from_geojson(shapes[c].geometry)
                for cs in children.values() for c in [*cs, regions[cs[0]].parent_code]}
        for parent, codes in children.items():
            union = shapely.union_all([geom[c] for c in codes])
            gap = shapely.symmetric_difference(union, geom[parent]).area
            assert gap < 1e-6 * geom[parent].area, (parent, gap)
        codes = [c for cs in children.values() for c in cs]
        arr = np.asarray([geom[c] for c in codes])
        left, right = shapely.STRtree(arr).query(arr, predicate="intersects")
        pairs = [(i, j) for i, j in zip(left, right, strict=True) if i < j]
        assert pairs  # neighbours touch
        for i, j in pairs:
            overlap = arr[i].intersection(arr[j]).area
            assert overlap < 1e-6 * min(arr[i].area, arr[j].area), (codes[i], codes[j])

    def test_zones_are_carved_out_of_their_hosts(self, city_rows: tuple[dict, dict]) -> None:
        _, shapes = city_rows
        official = official_counties()
        for zone, host in ZONE_HOSTS.items():
            z = shapely.from_geojson(shapes[zone].geometry)
            rest = shapely.from_geojson(shapes[host].geometry)
            whole = official[host]
            assert z.intersection(rest).area < 1e-9 * whole.area
            # Equal to the official shape up to the 6-decimal storage grid along the boundary.
            gap = shapely.symmetric_difference(z.union(rest), whole).area
            assert gap < whole.length * 1e-6, zone
            assert 0.05 < z.area / whole.area < 0.5


class TestGenerate:
    async def test_needs_divisions(self, database: str) -> None:
        engine = create_engine(database)
        with pytest.raises(InvalidInput) as err:
            await org_service.generate_grids(engine, CITY, 7)
        await engine.dispose()
        assert err.value.detail["field"] == "city"

    async def test_rerun_is_idempotent_drops_synthetic_staff_and_refuses_imported_posts(
        self, database: str
    ) -> None:
        engine = create_engine(database)
        await org_service.load_divisions(engine, Selection(province="41", city=CITY))
        await org_service.generate_grids(engine, CITY, 7)
        first = await read_city(database)
        summary = await org_service.generate_grids(engine, CITY, 7)
        second = await read_city(database)
        assert summary.grids == len(grids_of(second[0]))

        def snapshot(rows: tuple[dict, dict]) -> tuple[list, list]:
            regions, shapes = rows
            return ([(r.code, r.name, r.households, r.urban) for r in grids_of(regions)],
                    sorted((s.code, s.geometry, s.source) for s in shapes.values()))

        assert snapshot(first) == snapshot(second)

        # Synthetic staff are planned on the grids: regenerating removes them, and says so.
        await org_service.generate_staff(engine, CITY, 7)
        again = await org_service.generate_grids(engine, CITY, 7)
        async with engine.connect() as conn:
            left = await conn.scalar(select(func.count()).select_from(Post))
        assert again.staff_removed > 0 and left == 0

        grid = grids_of(second[0])[0].code
        async with engine.begin() as conn:
            person = (await conn.execute(Person.__table__.insert().returning(Person.id).values(
                staff_no="T1", name="张三", synthetic=False))).scalar_one()
            await conn.execute(Post.__table__.insert(), [
                {"person_id": person, "role": "grid_leader", "region_code": grid,
                 "synthetic": False}])
        with pytest.raises(InvalidInput) as err:
            await org_service.generate_grids(engine, CITY, 8)
        async with engine.connect() as conn:
            n = await conn.scalar(select(func.count()).where(Region.level == "grid"))
        await engine.dispose()
        assert err.value.detail["field"] == "city" and "posts" in err.value.message
        assert n == len(grids_of(second[0]))
