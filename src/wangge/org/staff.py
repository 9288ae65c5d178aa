"""Synthetic "3+N" staff for a city: organisations, people and posts, generated from a seed.

Planning is pure (region tree + seed → rows) so it can be tested without a database; writing is
one bulk pass inside the caller's transaction. Re-running replaces the city's synthetic people and
posts and upserts its synthetic organisations by code, so posts imported against those
organisations survive a regeneration; rows imported from files (synthetic=False) are never touched.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from wangge.authz.scope import in_subtree
from wangge.kit.cli import Progress
from wangge.kit.db import utcnow
from wangge.models import Organisation, OrganisationCoverage, Person, Post
from wangge.org.divisions import ZONE_HOSTS
from wangge.org.names import synthetic_name

# Departments set up in every real county and at the city: (code suffix, name, "N" post title).
DEPARTMENTS = (
    ("SC", "市场监督管理局", "市场监管联络员"),
    ("YJ", "应急管理局", "应急信息员"),
    ("MZ", "民政局", "民政协理员"),
    ("SL", "水利局", "防汛责任人"),
)
# Share of grids with a second grid member, and with an "N" (grid_support) post: with one
# leader, one deputy and one member per grid this lands near 15,000 grid posts for Xinxiang.
SECOND_MEMBER_SHARE = 0.2
SUPPORT_SHARE = 0.13
POLICE_OFFICER_SHARE = 0.3  # the rest of the deputies are auxiliary police (辅警)
MALE_SHARE = {"government": 0.7, "police": 0.85, "social": 0.4, "other": 0.6}

COUNTY_COMMANDER_TITLE = {
    "district": "区委政法委书记", "county": "县委政法委书记", "county_city": "市委政法委书记",
    "zone": "管委会主任",
}
TOWNSHIP_COMMANDER_TITLE = {
    "street": "街道党工委书记", "town": "镇党委书记", "township": "乡党委书记", "other": "主任",
}
MEMBER_TITLES = {True: ("专职网格员", "物业经理", "楼栋长"), False: ("专职网格员", "村民组长")}


class RegionLike(Protocol):
    code: str
    parent_code: str | None
    level: str
    name: str
    kind: str | None
    urban: bool | None


@dataclass(frozen=True)
class OrgRow:
    code: str
    kind: str
    name: str
    region_code: str
    parent_code: str | None = None


@dataclass(frozen=True)
class PersonRow:
    staff_no: str
    name: str
    gender: str
    service: str


@dataclass(frozen=True)
class PostRow:
    staff_no: str
    role: str
    region_code: str
    organisation_code: str | None
    title: str


@dataclass
class StaffPlan:
    """Everything the generator will write for one city."""

    organisations: list[OrgRow] = field(default_factory=list)
    coverage: list[tuple[str, str]] = field(default_factory=list)  # (organisation code, region)
    people: list[PersonRow] = field(default_factory=list)
    posts: list[PostRow] = field(default_factory=list)
    grids: int = 0

    def posts_by_role(self) -> dict[str, int]:
        return dict(Counter(p.role for p in self.posts))

    def organisations_by_kind(self) -> dict[str, int]:
        return dict(Counter(o.kind for o in self.organisations))


def staff_prefix(city: str) -> str:
    """Staff numbers of a city's synthetic people start with this (reserved for the generator)."""
    return f"SYN{city}"


def station_groups(townships: Sequence[RegionLike]) -> list[list[RegionLike]]:
    """Groups a county's townships into police-station areas.

    Regular townships (codes below 400) get a station each; farms, parks and other units
    (400-599) share the station of a code-neighbouring regular township, one extra each.
    """
    ordered = sorted(townships, key=lambda t: t.code)
    groups = [[t] for t in ordered if int(t.code[6:9]) < 400]
    others = [t for t in ordered if int(t.code[6:9]) >= 400]
    for i, t in enumerate(others):
        if i < len(groups):
            groups[len(groups) - 1 - i].append(t)
        elif groups and len(groups[-1]) == 1 and int(groups[-1][0].code[6:9]) >= 400:
            groups[-1].append(t)
        else:
            groups.append([t])
    return sorted(groups, key=lambda g: g[0].code)


def short_township_name(name: str) -> str:
    for suffix in ("街道", "回族乡", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def bureau_name(city_name: str, county: RegionLike) -> str:
    if county.kind == "district":
        return f"{city_name}公安局{county.name.removesuffix('区')}分局"
    return f"{county.name}公安局"


def committee_name(village: RegionLike) -> str:
    if village.name.endswith("委员会"):
        return village.name
    return village.name + ("居委会" if village.urban else "村委会")


def host_county(zone: str, real_counties: Sequence[str]) -> str:
    return ZONE_HOSTS.get(zone) or real_counties[0]


class _Planner:
    def __init__(self, city: str, seed: int) -> None:
        self.city = city
        self.rng = random.Random(seed)
        self.plan = StaffPlan()
        self.next_no = 0

    def person(self, service: str) -> str:
        self.next_no += 1
        staff_no = f"{staff_prefix(self.city)}{self.next_no:06d}"
        gender = "M" if self.rng.random() < MALE_SHARE[service] else "F"
        name = synthetic_name(self.rng, gender)
        self.plan.people.append(PersonRow(staff_no, name, gender, service))
        return staff_no

    def post(self, staff_no: str, role: str, region: str, org: str | None, title: str) -> None:
        self.plan.posts.append(PostRow(staff_no, role, region, org, title))

    def org(self, row: OrgRow) -> str:
        self.plan.organisations.append(row)
        return row.code


def plan_staff(regions: Iterable[RegionLike], city: str, seed: int) -> StaffPlan:
    """Plans a city's organisations, people and posts (pure and deterministic in ``seed``)."""
    by_parent: dict[str, list[RegionLike]] = defaultdict(list)
    city_region: RegionLike | None = None
    for r in regions:
        if r.code == city:
            city_region = r
        elif r.parent_code is not None:
            by_parent[r.parent_code].append(r)
    for children in by_parent.values():
        children.sort(key=lambda r: r.code)
    if city_region is None:
        raise ValueError(f"region {city} is not in the tree")

    p = _Planner(city, seed)
    counties = [c for c in by_parent[city] if c.level == "county"]
    real = [c.code for c in counties if c.kind != "zone"] or [c.code for c in counties]

    # Organisations: bureaus and departments of each real county, then the city's departments.
    dept_codes: dict[str, dict[str, str]] = {}
    for c in counties:
        if c.code in real:
            p.org(OrgRow(f"PB{c.code}", "police_bureau", bureau_name(city_region.name, c), c.code))
            dept_codes[c.code] = {
                key: p.org(OrgRow(f"DP{c.code}-{key}", "department", c.name + name, c.code))
                for key, name, _ in DEPARTMENTS
            }
    city_depts = [
        p.org(OrgRow(f"DP{city}-{key}", "department", city_region.name + name, city))
        for key, name, _ in DEPARTMENTS
    ]

    # City posts.
    p.post(p.person("government"), "commander", city, None, "市委政法委书记")
    for _ in range(2):
        p.post(p.person("government"), "admin", city, None, "系统管理员")
    for _ in range(3):
        p.post(p.person("government"), "analyst", city, None, "数据分析员")
    for org_code in city_depts:
        p.post(p.person("government"), "department_officer", city, org_code, "局长")

    for county in counties:
        host = county.code if county.code in real else host_county(county.code, real)
        bureau = f"PB{host}"
        p.post(p.person("government"), "commander", county.code, None,
               COUNTY_COMMANDER_TITLE.get(county.kind or "", "政法委书记"))
        if county.code in real:
            chief = p.person("police")
            p.post(chief, "commander", county.code, None, "公安局长")
            p.post(chief, "department_officer", county.code, bureau, "局长")
            for org_code in dept_codes[county.code].values():
                p.post(p.person("government"), "department_officer", county.code, org_code, "局长")

        townships = [t for t in by_parent[county.code] if t.level == "township"]
        station_of: dict[str, str] = {}
        for group in station_groups(townships):
            home = group[0]
            code = p.org(OrgRow(
                f"PS{home.code}", "police_station",
                f"{bureau_name(city_region.name, _find(counties, host))}"
                f"{short_township_name(home.name)}派出所",
                home.code, parent_code=bureau,
            ))
            chief = p.person("police")
            p.post(chief, "department_officer", home.code, code, "所长")
            for t in group:
                station_of[t.code] = code
                p.plan.coverage.append((code, t.code))
                p.post(chief, "commander", t.code, None, "派出所所长")

        for township in townships:
            p.post(p.person("government"), "commander", township.code, None,
                   TOWNSHIP_COMMANDER_TITLE.get(township.kind or "", "党委书记"))
            support_people: dict[str, str] = {}
            for village in by_parent[township.code]:
                if village.level != "village":
                    continue
                _plan_village(p, village, by_parent[village.code], station_of[township.code],
                              dept_codes[host], support_people, host, township.code)
    return p.plan


def _find(counties: Sequence[RegionLike], code: str) -> RegionLike:
    return next(c for c in counties if c.code == code)


def _plan_village(
    p: _Planner, village: RegionLike, children: Sequence[RegionLike], station: str,
    depts: dict[str, str], support_people: dict[str, str], county: str, township: str,
) -> None:
    urban = bool(village.urban)
    committee = p.org(OrgRow(f"VC{village.code}", "village_committee", committee_name(village),
                             village.code))
    secretary = p.person("government")
    p.post(secretary, "commander", village.code, committee,
           "社区党组织书记、居委会主任" if urban else "村党支部书记、村委会主任")
    grids = [g for g in children if g.level == "grid"]
    if not grids:
        return
    p.plan.grids += len(grids)
    # One cadre leads up to two grids of the village; the secretary leads the first ones.
    leaders = [secretary] + [p.person("government") for _ in range(math.ceil(len(grids) / 2) - 1)]
    # "One police officer per village": the same officer is deputy in every grid of it.
    officer = p.person("police")
    rank = "社区民警" if p.rng.random() < POLICE_OFFICER_SHARE else "辅警"
    p.post(officer, "department_officer", township, station, rank)
    for i, grid in enumerate(grids):
        p.post(leaders[i // 2], "grid_leader", grid.code, committee, "网格长")
        p.post(officer, "deputy_grid_leader", grid.code, station, f"副网格长（{rank}）")
        titles = MEMBER_TITLES[urban]
        members = 2 if p.rng.random() < SECOND_MEMBER_SHARE else 1
        for m in range(members):
            title = titles[0] if m == 0 else p.rng.choice(titles[1:])
            p.post(p.person("social"), "grid_member", grid.code, committee, title)
        if p.rng.random() < SUPPORT_SHARE:
            key, _, title = p.rng.choice(DEPARTMENTS)
            dept = depts[key]
            helper = support_people.get(key)
            if helper is None:
                helper = support_people[key] = p.person("other")
                p.post(helper, "department_officer", county, dept, "驻乡联络员")
            p.post(helper, "grid_support", grid.code, dept, title)


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def remove_synthetic_people(conn: AsyncConnection, city: str) -> int:
    """Deletes the city's synthetic people and their posts; returns how many people went."""
    people, posts = Person.__table__, Post.__table__
    mine = people.c.synthetic.is_(True) & people.c.staff_no.startswith(staff_prefix(city))
    await conn.execute(delete(posts).where(posts.c.person_id.in_(select(people.c.id).where(mine))))
    return (await conn.execute(delete(people).where(mine))).rowcount


async def write_plan(
    conn: AsyncConnection, city: str, plan: StaffPlan, progress: Progress | None = None,
) -> None:
    """Replaces the city's synthetic staff with ``plan`` inside the caller's transaction."""
    now = utcnow()
    advance = progress or (lambda _: None)
    orgs, people, posts = Organisation.__table__, Person.__table__, Post.__table__
    coverage = OrganisationCoverage.__table__

    await remove_synthetic_people(conn, city)

    city_orgs = select(orgs.c.id).where(
        orgs.c.synthetic.is_(True), in_subtree(orgs.c.region_code, city)
    )
    await conn.execute(delete(coverage).where(coverage.c.organisation_id.in_(city_orgs)))

    # Upsert by code (not delete + insert): imported posts may point at these organisations.
    ids: dict[str, int] = {}
    for batch in (
        [o for o in plan.organisations if o.parent_code is None],
        [o for o in plan.organisations if o.parent_code is not None],
    ):
        if not batch:
            continue
        ins = _insert(conn, orgs)
        stmt = ins.on_conflict_do_update(
            index_elements=["code"],
            set_={c: ins.excluded[c] for c in ("kind", "name", "region_code", "parent_id",
                                               "synthetic")},
        ).returning(orgs.c.code, orgs.c.id)
        rows = [
            {"code": o.code, "kind": o.kind, "name": o.name, "region_code": o.region_code,
             "parent_id": ids[o.parent_code] if o.parent_code else None, "synthetic": True,
             "created_at": now}
            for o in batch
        ]
        ids.update({code: oid for code, oid in await conn.execute(stmt, rows)})
        advance(len(batch))
    await _drop_stale_organisations(conn, city, set(ids.values()))

    if plan.coverage:
        await conn.execute(
            coverage.insert(),
            [{"organisation_id": ids[o], "region_code": r} for o, r in plan.coverage],
        )

    person_ids: dict[str, int] = {}
    if plan.people:
        result = await conn.execute(
            people.insert().returning(people.c.staff_no, people.c.id),
            [{"staff_no": x.staff_no, "name": x.name, "gender": x.gender, "service": x.service,
              "synthetic": True, "created_at": now} for x in plan.people],
        )
        person_ids = {no: pid for no, pid in result}
        advance(len(plan.people))

    batch_size = 5_000
    for start in range(0, len(plan.posts), batch_size):
        chunk = plan.posts[start : start + batch_size]
        await conn.execute(
            posts.insert(),
            [{"person_id": person_ids[x.staff_no], "role": x.role, "region_code": x.region_code,
              "organisation_id": ids[x.organisation_code] if x.organisation_code else None,
              "title": x.title, "synthetic": True, "created_at": now} for x in chunk],
        )
        advance(len(chunk))


async def _drop_stale_organisations(conn: AsyncConnection, city: str, keep: set[int]) -> None:
    # Only matters when the region tree changed; organisations still used by posts stay.
    orgs, posts = Organisation.__table__, Post.__table__
    stale = and_(
        orgs.c.synthetic.is_(True), in_subtree(orgs.c.region_code, city),
        orgs.c.id.not_in(sorted(keep)),
    )
    await conn.execute(update(orgs).where(stale).values(parent_id=None))
    used = select(posts.c.organisation_id).where(posts.c.organisation_id.is_not(None))
    await conn.execute(delete(orgs).where(stale, orgs.c.id.not_in(used)))
