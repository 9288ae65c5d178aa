"""The synthetic demo cases: planned deterministically from a seed, made through the real case
service (every status, consistent rows, a sealable audit chain), backdated over 30 days."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select

from wangge.audit.chain import seal_all, verify
from wangge.auth.subjects import subject_for
from wangge.cases import workflow
from wangge.cases.categories import DEFAULT_CATEGORIES
from wangge.cases.demo import (
    COUNT,
    DAYS,
    OUTCOMES,
    SPREAD,
    Actors,
    Area,
    CasePlan,
    city_inputs,
    generate_cases,
    plan_cases,
)
from wangge.demo import CITY, DEMO_GRID, DEMO_GRID_ROLES, SEED
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.models import Account, Case, CaseAction, Organisation, OrganisationCoverage

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
LIMITS = {c.code: c.limits for c in DEFAULT_CATEGORIES}
GRIDS = (DEMO_GRID, f"{DEMO_GRID[:12]}001", "410702002017001", "410702001001001",
         "410703001002001", "410781100200001")
DEPARTMENTS = {"SC": "DP410702-SC", "YJ": "DP410702-YJ", "MZ": "DP410702-MZ",
               "SL": "DP410702-SL"}


def areas() -> list[Area]:
    return [Area(g, i % 2 == 0, None, f"PS{g[:9]}",
                 DEPARTMENTS if g.startswith("410702") else {})
            for i, g in enumerate(GRIDS)]


def plan(**kw: Any) -> list[CasePlan]:
    args: dict[str, Any] = {"seed": SEED, "count": 200, "now": NOW, "limits": LIMITS} | kw
    return plan_cases(areas(), **args)


def content(p: CasePlan) -> tuple[Any, ...]:
    """A plan without its times."""
    return (p.client_uuid, p.grid, p.category, p.title, p.description, p.parties, p.source,
            p.reporter, p.evidence, p.steps, p.status)


class TestPlanning:
    """``plan_cases`` is pure: the seed decides everything but the times, which follow now."""

    def test_the_same_seed_plans_the_same_cases(self) -> None:
        assert plan() == plan()

    def test_another_seed_plans_other_cases(self) -> None:
        assert [content(p) for p in plan()] != [content(p) for p in plan(seed=SEED + 1)]

    def test_now_moves_only_the_times(self) -> None:
        later = NOW + timedelta(days=3, hours=5)
        a = sorted(plan(), key=lambda p: p.client_uuid)
        b = sorted(plan(now=later), key=lambda p: p.client_uuid)
        assert [content(p) for p in a] == [content(p) for p in b]
        assert [tuple(t + (later - NOW) for t in p.times) for p in a] == [p.times for p in b]

    def test_every_status_and_outcome_occurs_in_a_small_plan(self) -> None:
        few = plan(count=len(OUTCOMES))
        assert {p.status for p in few} == set(workflow.STATUSES)
        assert any(p.evidence for p in few)  # self-handled
        assert any(s.action == "escalate" for p in few for s in p.steps)

    def test_times_run_forward_within_the_last_days(self) -> None:
        plans = plan(count=COUNT)
        for p in plans:
            assert list(p.times) == sorted(p.times)
            assert NOW - timedelta(days=DAYS) <= p.reported_at and p.times[-1] < NOW
            assert len(p.times) == 1 + (p.evidence is not None) + len(p.steps)
        assert [p.reported_at for p in plans] == sorted(p.reported_at for p in plans)
        ages = [(NOW - p.reported_at).days for p in plans]
        assert min(ages) == 0 and max(ages) >= DAYS - 3

    def test_most_cases_are_at_the_demo_grid_and_county(self) -> None:
        plans = plan(count=COUNT)
        where = Counter(p.grid for p in plans)
        assert where[DEMO_GRID] == round(COUNT * SPREAD[0])
        # The demo grid's neighbours in its village stay quiet.
        assert where[f"{DEMO_GRID[:12]}001"] == 0
        county = sum(n for g, n in where.items() if g.startswith(DEMO_GRID[:6]))
        assert county == round(COUNT * sum(SPREAD[:3]))

    def test_categories_are_weighted_like_real_grids(self) -> None:
        tops = Counter(p.category[:2] for p in plan(count=COUNT))
        assert tops.most_common(2)[0][0] == "01" and tops["08"] > tops["09"]
        assert 0 < tops["05"] < tops["02"] < tops["08"]

    def test_police_clues_go_to_the_station_and_its_officer(self) -> None:
        by_grid = {a.grid: a for a in areas()}
        clues = [p for p in plan(count=COUNT) if p.category == "05"]
        assert clues
        for p in clues:
            for s in p.steps:
                assert s.actor not in ("leader", "member", "support")  # no case:police
                if s.action == "dispatch":
                    assert s.handler == {"organisation": by_grid[p.grid].station}

    def test_no_grids_no_cases(self) -> None:
        assert plan_cases([], now=NOW, limits=LIMITS) == []


# --- the demo database ---------------------------------------------------------------------


@dataclass
class Demo:
    url: str
    cases: list[Case]
    timelines: dict[int, list[CaseAction]]
    replanned: dict[str, CasePlan]
    stations: dict[str, set[str]]  # police station → townships it covers
    chain: tuple[bool, int, int]  # verification after sealing: ok, records checked, pending
    checked_at: datetime


@pytest.fixture(scope="module")
def demo(xinxiang: str) -> Iterator[Demo]:
    """What generation left in the ``xinxiang`` demo (read only: the sealing that the chain
    check needs is rolled back)."""

    async def read() -> Demo:
        engine = create_engine(xinxiang)
        try:
            async with create_sessionmaker(engine)() as session:
                cases = list((await session.execute(select(Case).order_by(Case.id))).scalars())
                timelines: dict[int, list[CaseAction]] = {}
                for a in (await session.execute(
                        select(CaseAction).order_by(CaseAction.id))).scalars():
                    timelines.setdefault(a.case_id, []).append(a)
                inputs = await city_inputs(session, CITY)
                replanned = plan_cases(inputs.areas, seed=SEED, count=COUNT, now=utcnow(),
                                       limits=inputs.limits, police_only=inputs.police_only)
                stations: dict[str, set[str]] = {}
                for code, township in await session.execute(
                        select(Organisation.code, OrganisationCoverage.region_code)
                        .join(OrganisationCoverage,
                              OrganisationCoverage.organisation_id == Organisation.id)):
                    stations.setdefault(code, set()).add(township)
            async with create_sessionmaker(engine)() as session:
                # What the scheduler's sealer does within a second of the commit; undone.
                await seal_all(session)
                result = await verify(await session.connection())
                await session.rollback()
            return Demo(xinxiang, cases, timelines, {p.client_uuid: p for p in replanned},
                        stations, (result.ok, result.checked, result.pending), utcnow())
        finally:
            await engine.dispose()

    yield run_sync(read)


def without_date(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != "occurred_on"}


def steps_of(timeline: list[CaseAction]) -> list[str]:
    return [a.action for a in timeline if a.action not in ("report", "self_handle", "overdue")]


class TestGeneratedCases:
    """``wangge demo`` (``prepare``) generates the cases through the real service."""

    def test_the_cases_are_the_seeds_plans(self, demo: Demo) -> None:
        assert len(demo.cases) == COUNT
        for case in demo.cases:
            p = demo.replanned[case.client_uuid]
            assert (case.region_code, case.category_code, case.title, case.description,
                    case.source, case.status, case.self_handled) == (
                p.grid, p.category, p.title, p.description, p.source, p.status,
                p.evidence is not None)
            # The report's fields and the handler's, but the dispute's date: it follows the
            # report's planned day.
            fields = p.fields | {k: v for s in p.steps for k, v in (s.fields or {}).items()}
            assert without_date(json.loads(case.fields)) == without_date(fields)
            assert steps_of(demo.timelines[case.id]) == [s.action for s in p.steps]

    def test_every_status_occurs_and_every_case_is_consistent(self, demo: Demo) -> None:
        assert {c.status for c in demo.cases} == set(workflow.STATUSES)
        for case in demo.cases:
            assert workflow.check_invariants(case) == [], case.number
        assert any(c.self_handled and c.spot_check == "pending" for c in demo.cases)
        assert any(c.rating for c in demo.cases) and any(c.rework_count for c in demo.cases)
        assert any(c.extension_request for c in demo.cases)

    def test_timelines_are_backdated_over_the_last_days(self, demo: Demo) -> None:
        for case in demo.cases:
            timeline = demo.timelines[case.id]
            at = [a.at for a in timeline]
            assert at == sorted(at) and at[-1] <= demo.checked_at
            assert timeline[0].action == "report" and timeline[0].at == case.reported_at
            assert case.reported_at >= demo.checked_at - timedelta(days=DAYS, hours=1)
            for before, after in pairwise(timeline):
                assert after.from_status == before.to_status
            assert timeline[-1].to_status == case.status
        days = {c.reported_at.date() for c in demo.cases}
        assert len(days) >= DAYS - 5

    def test_some_cases_are_overdue_as_the_sweep_marked_them(self, demo: Demo) -> None:
        overdue = [c for c in demo.cases if c.overdue_at is not None]
        assert len(overdue) >= COUNT // 30
        for case in overdue:
            assert case.status in workflow.OPEN_STATUSES
            assert case.due_at is not None and case.overdue_at is not None
            assert case.due_at < case.overdue_at
            marks = [a for a in demo.timelines[case.id] if a.action == "overdue"]
            assert [(a.actor, a.at) for a in marks] == [("system", case.overdue_at)]

    def test_cases_are_escalated_and_dispatched_to_stations_and_departments(
            self, demo: Demo) -> None:
        owners = Counter(workflow.level_of(c.owner_code) for c in demo.cases)
        assert owners["village"] and owners["township"]
        handlers = Counter((c.handler_code or "")[:2] for c in demo.cases
                           if c.handler_kind == "organisation")
        assert handlers["PS"] and handlers["DP"]
        for case in demo.cases:
            handler = case.handler_code or ""
            if case.handler_kind == "organisation" and handler.startswith("PS"):
                assert case.region_code[:9] in demo.stations[handler]
            if case.category_code == "05":
                assert case.police_only

    def test_the_demo_log_ins_have_plenty_to_see_and_did_their_share(self, demo: Demo) -> None:
        at_grid = [c for c in demo.cases if c.region_code == DEMO_GRID]
        assert len(at_grid) == round(COUNT * SPREAD[0])
        actors = Counter(a.actor for c in at_grid for a in demo.timelines[c.id])
        for _, username in DEMO_GRID_ROLES:
            assert actors[username] > 0, username
        assert sum(c.region_code.startswith(DEMO_GRID[:6]) for c in demo.cases) > COUNT / 2

    def test_the_audit_chain_verifies(self, demo: Demo) -> None:
        ok, checked, pending = demo.chain
        assert ok and pending == 0
        assert checked > COUNT + sum(len(steps_of(t)) for t in demo.timelines.values())

    def test_a_second_run_generates_nothing(self, demo: Demo) -> None:
        async def again() -> int:
            engine = create_engine(demo.url)
            try:
                return (await generate_cases(engine)).created
            finally:
                await engine.dispose()

        assert run_sync(again) == 0


class TestActors:
    def test_people_act_as_their_accounts_would(self, xinxiang: str) -> None:
        """The generator builds the subjects of people without accounts in bulk; they are the
        ones ``subject_for`` builds from an account of the same person."""

        async def compare() -> int:
            engine = create_engine(xinxiang)
            try:
                async with create_sessionmaker(engine)() as session:
                    inputs = await city_inputs(session, CITY)
                    plans = plan_cases(inputs.areas, seed=SEED, count=100, now=utcnow(),
                                       limits=inputs.limits, police_only=inputs.police_only)
                    actors = await Actors(session).load(plans)
                    # Every 7th, and every department officer dispatched to.
                    chosen = set(sorted(actors.people)[::7]) | set(actors.officers.values())
                    people = [(p, actors.people[p]) for p in sorted(chosen)
                              if p in actors.people]
                    for person, subject in people:
                        stand_in = Account(username=subject.name, person_id=person)
                        assert await subject_for(session, stand_in) == subject
                    kinds = {p.code[:2] for _, s in people for p in s.posts}
                    assert {"PS", "DP"} <= kinds  # police and department posts among them
                    return len(people)
            finally:
                await engine.dispose()

        assert run_sync(compare) >= 30


class TestNothingToGenerate:
    def test_a_city_without_staffed_grids_gets_no_cases(self, database: str) -> None:
        said: list[str] = []

        async def work() -> tuple[int, int]:
            engine = create_engine(database)
            try:
                created = (await generate_cases(engine, say=said.append)).created
                async with engine.connect() as conn:
                    rows = len((await conn.execute(select(Case.id))).all())
                return created, rows
            finally:
                await engine.dispose()

        assert run_sync(work) == (0, 0)
        assert said == ["cases: no staffed grids, none generated"]
