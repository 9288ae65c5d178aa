from __future__ import annotations

import random
from collections import Counter, defaultdict
from functools import cache

import pytest
from sqlalchemy import func, select

from wangge.kit.db import create_engine, utcnow
from wangge.kit.errors import InvalidInput, NotFound
from wangge.models import Organisation, OrganisationCoverage, Person, Post, Region
from wangge.models.post import GRID_ROLES
from wangge.org.divisions import Selection, read_divisions
from wangge.org.service import org_service
from wangge.org.staff import StaffPlan, plan_staff, station_groups

pytestmark = pytest.mark.anyio


@cache
def xinxiang_tree() -> tuple[Region, ...]:
    """Xinxiang's divisions plus 1-2 grids per village, as unsaved Region objects."""
    rows = read_divisions(Selection(province="41", city="4107"))
    regions = [Region(code=c, parent_code=p, level=lv, name=n, kind=k, urban=u)
               for c, p, lv, n, k, u in rows]
    rng = random.Random(0)
    for v in [r for r in regions if r.level == "village"]:
        for i in range(1, 2 + (rng.random() < 0.18)):
            regions.append(Region(code=f"{v.code}{i:03d}", parent_code=v.code, level="grid",
                                  name=f"第{i}网格", kind="urban" if v.urban else "rural",
                                  urban=v.urban))
    return tuple(regions)


@cache
def xinxiang_plan(seed: int = 7) -> StaffPlan:
    return plan_staff(xinxiang_tree(), "4107", seed)


def posts_by(plan: StaffPlan, role: str) -> list:
    return [p for p in plan.posts if p.role == role]


class TestOrganisations:
    def test_counts_per_kind(self) -> None:
        assert xinxiang_plan().organisations_by_kind() == {
            "police_bureau": 12, "police_station": 153, "village_committee": 3825,
            "department": 13 * 4,
        }

    def test_stations_cover_the_170_townships_exactly_once(self) -> None:
        plan = xinxiang_plan()
        covered = Counter(region for _, region in plan.coverage)
        townships = {r.code for r in xinxiang_tree() if r.level == "township"}
        assert len(townships) == 170
        assert set(covered) == townships and set(covered.values()) == {1}

    def test_a_station_covers_one_or_two_townships_of_one_county(self) -> None:
        areas: dict[str, list[str]] = defaultdict(list)
        for station, region in xinxiang_plan().coverage:
            areas[station].append(region)
        assert Counter(len(a) for a in areas.values()) == {1: 136, 2: 17}
        assert all(len({t[:6] for t in a}) == 1 for a in areas.values())

    def test_stations_belong_to_their_bureau_zones_to_the_host(self) -> None:
        orgs = {o.code: o for o in xinxiang_plan().organisations}
        parents = {o.region_code[:6]: o.parent_code for o in orgs.values()
                   if o.kind == "police_station"}
        assert parents["410702"] == "PB410702" and parents["410783"] == "PB410783"
        assert parents["410771"] == "PB410702"
        assert parents["410772"] == "PB410721"
        assert parents["410773"] == "PB410725"
        assert orgs["PS410702001"].name == "新乡市公安局红旗分局西街派出所"
        assert orgs["PB410721"].name == "新乡县公安局"

    def test_farms_and_parks_share_a_neighbouring_station(self) -> None:
        tree = [r for r in xinxiang_tree() if r.code.startswith("410724") and r.level == "township"]
        groups = [[t.code for t in g] for g in station_groups(tree)]
        assert len(groups) == 11
        assert ["410724200", "410724401"] in groups


class TestGridPosts:
    def test_every_grid_has_leader_deputy_and_one_or_two_members(self) -> None:
        plan = xinxiang_plan()
        grids = {r.code for r in xinxiang_tree() if r.level == "grid"}
        per_grid: dict[str, Counter[str]] = defaultdict(Counter)
        for p in plan.posts:
            if p.role in GRID_ROLES:
                per_grid[p.region_code][p.role] += 1
        assert set(per_grid) == grids
        assert all(c["grid_leader"] == c["deputy_grid_leader"] == 1 for c in per_grid.values())
        assert {c["grid_member"] for c in per_grid.values()} == {1, 2}
        assert {c["grid_support"] for c in per_grid.values()} == {0, 1}

    def test_about_15000_grid_posts(self) -> None:
        counts = xinxiang_plan().posts_by_role()
        total = sum(counts[r] for r in GRID_ROLES)
        assert 13_500 <= total <= 16_500
        assert counts["grid_leader"] == xinxiang_plan().grids

    def test_leaders_are_cadres_of_the_grid_village(self) -> None:
        plan = xinxiang_plan()
        leaders: dict[str, set[str]] = defaultdict(set)
        for p in posts_by(plan, "grid_leader"):
            assert p.organisation_code == f"VC{p.region_code[:12]}"
            leaders[p.staff_no].add(p.region_code[:12])
        assert all(len(villages) == 1 for villages in leaders.values())
        assert max(Counter(p.staff_no for p in posts_by(plan, "grid_leader")).values()) == 2
        services = {x.staff_no: x.service for x in plan.people}
        assert {services[s] for s in leaders} == {"government"}

    def test_one_police_officer_per_village_from_the_covering_station(self) -> None:
        plan = xinxiang_plan()
        covering = {region: station for station, region in plan.coverage}
        officers: dict[str, set[str]] = defaultdict(set)
        services = {x.staff_no: x.service for x in plan.people}
        for p in posts_by(plan, "deputy_grid_leader"):
            assert p.organisation_code == covering[p.region_code[:9]]
            assert services[p.staff_no] == "police"
            officers[p.region_code[:12]].add(p.staff_no)
        assert all(len(o) == 1 for o in officers.values())
        desk = {(p.staff_no, p.organisation_code) for p in posts_by(plan, "department_officer")}
        assert all((p.staff_no, p.organisation_code) in desk
                   for p in posts_by(plan, "deputy_grid_leader"))


class TestThreeEntries:
    def test_station_chief_commands_the_townships_and_sits_in_the_station(self) -> None:
        plan = xinxiang_plan()
        by_person: dict[str, set[tuple[str, str, str | None]]] = defaultdict(set)
        for p in plan.posts:
            by_person[p.staff_no].add((p.role, p.region_code, p.organisation_code))
        chief = next(s for s, posts in by_person.items()
                     if ("department_officer", "410724200", "PS410724200") in posts)
        assert by_person[chief] == {
            ("department_officer", "410724200", "PS410724200"),
            ("commander", "410724200", None), ("commander", "410724401", None),
        }

    def test_bureau_chief_commands_the_county_and_sits_in_the_bureau(self) -> None:
        plan = xinxiang_plan()
        chiefs = {p.staff_no for p in plan.posts
                  if p.role == "department_officer" and p.organisation_code == "PB410782"}
        assert len(chiefs) == 1
        (chief,) = chiefs
        assert {(p.role, p.region_code) for p in plan.posts if p.staff_no == chief} == {
            ("department_officer", "410782"), ("commander", "410782")}

    def test_every_village_township_and_county_has_a_commander(self) -> None:
        plan = xinxiang_plan()
        commanded = {p.region_code for p in posts_by(plan, "commander")}
        levels = {r.code for r in xinxiang_tree() if r.level in ("county", "township", "village")}
        assert levels <= commanded and "4107" in commanded


class TestDeterminism:
    def test_same_seed_same_plan(self) -> None:
        again = plan_staff(xinxiang_tree(), "4107", 7)
        assert again.people == xinxiang_plan().people and again.posts == xinxiang_plan().posts

    def test_another_seed_other_names(self) -> None:
        other = plan_staff(xinxiang_tree(), "4107", 8)
        assert [p.name for p in other.people[:50]] != [p.name for p in xinxiang_plan().people[:50]]
        assert other.organisations == xinxiang_plan().organisations

    def test_staff_numbers_are_unique(self) -> None:
        numbers = [p.staff_no for p in xinxiang_plan().people]
        assert len(set(numbers)) == len(numbers)
        assert all(n.startswith("SYN4107") for n in numbers)


async def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        out = {
            label: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for label, table in (("people", Person), ("posts", Post), ("orgs", Organisation),
                                 ("coverage", OrganisationCoverage))
        }
    await engine.dispose()
    return out


class TestGenerate:
    async def test_writes_the_plan(self, city_with_grids: str) -> None:
        engine = create_engine(city_with_grids)
        plan = await org_service.generate_staff(engine, "4107", 7)
        await engine.dispose()
        assert await _counts(city_with_grids) == {
            "people": len(plan.people), "posts": len(plan.posts),
            "orgs": len(plan.organisations), "coverage": 170,
        }
        assert 13_500 <= sum(plan.posts_by_role()[r] for r in GRID_ROLES) <= 16_500

    async def test_rerunning_replaces_synthetic_rows_and_keeps_imported_ones(
        self, city_with_grids: str
    ) -> None:
        engine = create_engine(city_with_grids)
        await org_service.generate_staff(engine, "4107", 7)
        async with engine.begin() as conn:
            station = await conn.scalar(
                select(Organisation.id).where(Organisation.code == "PS410702001"))
            person = (await conn.execute(Person.__table__.insert().returning(Person.id), {
                "staff_no": "A001", "name": "张三", "synthetic": False, "created_at": utcnow()
            })).scalar_one()
            await conn.execute(Post.__table__.insert(), {
                "person_id": person, "role": "department_officer", "region_code": "410702001",
                "organisation_id": station, "synthetic": False, "created_at": utcnow()})
        first = await _counts(city_with_grids)
        await org_service.generate_staff(engine, "4107", 7)
        again = await _counts(city_with_grids)
        plan = await org_service.generate_staff(engine, "4107", 8)
        async with engine.connect() as conn:
            station_after = await conn.scalar(
                select(Organisation.id).where(Organisation.code == "PS410702001"))
            kept = await conn.scalar(select(func.count()).select_from(Post)
                                     .where(Post.person_id == person))
            people = await conn.scalar(select(func.count()).select_from(Person))
        await engine.dispose()
        assert again == first
        assert station_after == station and kept == 1
        assert people == len(plan.people) + 1

    async def test_unknown_city_or_bad_code(self, database: str) -> None:
        engine = create_engine(database)
        with pytest.raises(NotFound):
            await org_service.generate_staff(engine, "4107", 7)
        with pytest.raises(InvalidInput) as err:
            await org_service.generate_staff(engine, "41x7", 7)
        await engine.dispose()
        assert err.value.detail["field"] == "city"

    async def test_city_without_grids_gets_organisations_but_no_grid_posts(
        self, database: str
    ) -> None:
        engine = create_engine(database)
        await org_service.load_divisions(engine, Selection(province="41", city="4107"))
        plan = await org_service.generate_staff(engine, "4107", 7)
        async with engine.connect() as conn:
            grid_posts = await conn.scalar(select(func.count()).select_from(Post)
                                           .where(Post.role.in_(GRID_ROLES)))
        await engine.dispose()
        assert plan.grids == 0 and grid_posts == 0
        assert plan.organisations_by_kind()["police_station"] == 153
