"""The deadline sweep: overdue steps are marked once, then escalated one level per grace period
by the system (督办) up to the city, where they are only supervised.

The sweep is given ``now`` in the future instead of the test sleeping; the service's own actions
(escalation, extension) use the real clock, as they would on a live server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.cases.actors import (
    CITY,
    COUNTY,
    GRID,
    INDEX,
    SIBLING_GRID,
    TOWNSHIP,
    VILLAGE,
    load_subjects,
    remove_cases,
    writable_demo,
)

from wangge.authz.scope import Subject
from wangge.cases.schemas import ActionIn, CaseCreate, CaseOut, Evidence, Handler
from wangge.cases.service import case_service, reference
from wangge.cases.tasks import SweepResult, sweep
from wangge.kit import bus
from wangge.kit.bus import InProcessBackend, PublishedEvent
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.models import AuditRecord, Case, CaseAction, EventLogEntry
from wangge.models.case import case_number

pytestmark = pytest.mark.anyio

GRACE = 2.0  # hours


@pytest.fixture(scope="module")
def demo_copy(xinxiang: str, pg_schemas: list[str],
              tmp_path_factory: pytest.TempPathFactory) -> str:
    return writable_demo(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("cases-tasks")))


@dataclass
class Env:
    maker: async_sessionmaker[AsyncSession]
    subjects: dict[str, Subject]
    start: datetime  # the real time the test began
    audit_after: int  # the last audit record and event before the test
    events_after: int

    async def report(self, category: str = "06", who: str = "grid-member",
                     **extra: Any) -> CaseOut:
        async with self.maker() as session:
            out, created = await case_service.create(session, self.subjects[who], CaseCreate(
                client_uuid=uuid.uuid4(), category_code=category, title="测试事件",
                description="期限测试", grid_code=GRID, **extra), INDEX)
            await session.commit()
        assert created
        return out

    async def act(self, who: str, case_id: int, action: str, **kw: Any) -> CaseOut:
        async with self.maker() as session:
            case = await session.get(Case, case_id)
            assert case is not None
            out = await case_service.act(session, self.subjects[who], case_id, action,
                                         ActionIn(version=case.version, **kw))
            await session.commit()
            return out

    async def sweep(self, after: timedelta, grace_hours: float = GRACE) -> SweepResult:
        async with self.maker() as session:
            result = await sweep(session, now=self.start + after, grace_hours=grace_hours)
            await session.commit()
            return result

    async def clone(self, case_id: int, ids: Iterable[int], **changes: Any) -> None:
        """Copies of a case under the given ids (a quick way to fill a grid)."""
        table = Case.__table__
        async with self.maker() as session:
            row = (await session.execute(select(table).where(table.c.id == case_id))).one()
            await session.execute(insert(table), [
                {**row._asdict(), **changes, "id": i, "client_uuid": str(uuid.uuid4())}
                for i in ids])
            await session.commit()

    async def case(self, case_id: int) -> Case:
        async with self.maker() as session:
            case = await session.get(Case, case_id)
            assert case is not None
            return case

    async def timeline(self, case_id: int) -> list[CaseAction]:
        async with self.maker() as session:
            return list((await session.execute(
                select(CaseAction).where(CaseAction.case_id == case_id)
                .order_by(CaseAction.id))).scalars())

    async def audit(self, action: str) -> list[AuditRecord]:
        async with self.maker() as session:
            return list((await session.execute(
                select(AuditRecord).where(AuditRecord.id > self.audit_after,
                                          AuditRecord.action == action)
                .order_by(AuditRecord.id))).scalars())

    async def events(self, type_: str) -> list[EventLogEntry]:
        async with self.maker() as session:
            return list((await session.execute(
                select(EventLogEntry).where(EventLogEntry.id > self.events_after,
                                            EventLogEntry.type == type_)
                .order_by(EventLogEntry.id))).scalars())


@pytest.fixture
async def env(demo_copy: str) -> AsyncIterator[Env]:
    """The demo copy without any case (the sweep reads the whole table)."""
    reference.invalidate()
    engine = create_engine(demo_copy)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as session:
            await remove_cases(session)
            subjects = await load_subjects(session)
            audit_after = await session.scalar(select(func.max(AuditRecord.id))) or 0
            events_after = await session.scalar(select(func.max(EventLogEntry.id))) or 0
        yield Env(maker, subjects, utcnow(), audit_after, events_after)
    finally:
        await engine.dispose()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


class TestMarkOverdue:
    async def test_a_step_past_its_deadline_is_marked_once(self, env: Env) -> None:
        case = await env.report()  # epidemic check: accept within 30 minutes
        assert case.due_at is not None and case.step == "accept"
        assert await env.sweep(minutes(20)) == SweepResult(0, 0)
        assert await env.audit("case.deadline_sweep") == []

        assert await env.sweep(hours(1)) == SweepResult(1, 0)
        row = await env.case(case.id)
        assert row.overdue_at == env.start + hours(1)
        assert (row.status, row.version, row.owner_code) == ("reported", case.version, GRID)
        entries = await env.timeline(case.id)
        assert [e.action for e in entries] == ["report", "overdue"]
        overdue = entries[-1]
        assert (overdue.actor, overdue.actor_account_id) == ("system", None)
        assert (overdue.from_status, overdue.to_status) == ("reported", "reported")
        assert json.loads(overdue.data) == {"step": "accept"}
        [event] = await env.events("case.overdue")
        assert (event.region_code, event.permission) == (GRID, "case:read")
        payload = json.loads(event.payload)
        assert payload["count"] == 1 and [c["id"] for c in payload["cases"]] == [case.id]
        assert payload["cases"][0]["step"] == "accept"
        assert payload["cases"][0]["number"] == case.number
        [audit] = await env.audit("case.deadline_sweep")
        assert audit.actor == "system"
        assert json.loads(audit.changes)["marked_overdue"] == [None, 1]

        # Later sweeps leave it alone until the grace has passed.
        assert await env.sweep(hours(1.5)) == SweepResult(0, 0)
        assert [e.action for e in await env.timeline(case.id)] == ["report", "overdue"]
        assert len(await env.events("case.overdue")) == 1
        assert len(await env.audit("case.deadline_sweep")) == 1

        async with env.maker() as session:
            seen = await case_service.get(session, env.subjects["grid-leader"], case.id)
        assert seen.overdue and seen.overdue_at == env.start + hours(1)

    async def test_a_police_only_case_is_announced_to_police_readers(self, env: Env) -> None:
        case = await env.report("05")  # criminal clue: accept within 30 minutes
        assert await env.sweep(hours(1)) == SweepResult(1, 0)
        [event] = await env.events("case.overdue")
        assert (event.region_code, event.permission) == (GRID, "case:police")
        assert [c["id"] for c in json.loads(event.payload)["cases"]] == [case.id]

    async def test_suspended_closed_and_voided_cases_are_never_marked(self, env: Env) -> None:
        suspended = (await env.report()).id
        await env.act("grid-leader", suspended, "accept")
        await env.act("grid-leader", suspended, "suspend", reason="等待疾控中心结果")
        closed = (await env.report(self_handled=True, evidence=Evidence(note="当场处理"))).id
        voided = (await env.report()).id
        await env.act("grid-leader", voided, "void", reason="重复上报")
        assert await env.sweep(timedelta(days=30)) == SweepResult(0, 0)
        assert await env.sweep(timedelta(days=31), grace_hours=0) == SweepResult(0, 0)
        for case_id in (suspended, closed, voided):
            assert "overdue" not in [e.action for e in await env.timeline(case_id)]
            assert (await env.case(case_id)).overdue_at is None
        assert await env.events("case.overdue") == []

        # Resumed, its clock runs again with the time it had left.
        resumed = await env.act("grid-leader", suspended, "resume")
        assert resumed.status == "accepted" and resumed.due_at is not None
        assert resumed.due_at - utcnow() <= hours(1)  # the dispatch limit
        assert await env.sweep(timedelta(days=30)) == SweepResult(1, 0)


class TestOverdueEvents:
    async def test_one_event_per_grid_and_class_lists_the_first_hundred_and_counts_all(
        self, env: Env
    ) -> None:
        first = await env.report()
        # 104 more in the grid (their numbers cross from five digits to six), two police-only
        # ones there, three in the sibling grid reported just after midnight in Shanghai.
        crowd = range(99_990, 100_094)
        await env.clone(first.id, crowd)
        await env.clone(first.id, [100_200, 100_201], police_only=True)
        await env.clone(first.id, [100_300, 100_301, 100_302], region_code=SIBLING_GRID,
                        owner_code=SIBLING_GRID,
                        reported_at=datetime(2026, 11, 29, 16, 30, tzinfo=UTC))
        assert await env.sweep(hours(1)) == SweepResult(110, 0)

        events = {(e.region_code, e.permission): json.loads(e.payload)
                  for e in await env.events("case.overdue")}
        assert sorted(events) == [(SIBLING_GRID, "case:read"), (GRID, "case:police"),
                                  (GRID, "case:read")]
        crowded = events[(GRID, "case:read")]
        assert crowded["count"] == 105
        assert [c["id"] for c in crowded["cases"]] == [first.id, *crowd[:99]]
        assert crowded["cases"][0] == {"id": first.id, "step": "accept", "number": first.number,
                                       "handler_code": None, "owner_code": GRID}
        numbers = {c["id"]: c["number"] for p in events.values() for c in p["cases"]}
        async with env.maker() as session:
            rows = (await session.execute(
                select(Case.id, Case.region_code, Case.reported_at)
                .where(Case.id.in_(list(numbers))))).all()
        assert numbers == {i: case_number(i, region, at) for i, region, at in rows}
        assert numbers[99_999].endswith("-99999") and numbers[100_000].endswith("-100000")
        assert numbers[100_300] == "SJ-410702-20261130-100300"
        assert events[(GRID, "case:police")] == {"count": 2, "cases": [
            {"id": i, "step": "accept", "number": numbers[i], "handler_code": None,
             "owner_code": GRID} for i in (100_200, 100_201)]}
        sibling = events[(SIBLING_GRID, "case:read")]
        assert sibling["count"] == 3
        assert [c["owner_code"] for c in sibling["cases"]] == [SIBLING_GRID] * 3

        async with env.maker() as session:
            marked = (await session.execute(
                select(CaseAction.case_id, func.count()).where(CaseAction.action == "overdue")
                .group_by(CaseAction.case_id))).all()
        assert len(marked) == 110 and {n for _, n in marked} == {1}
        [audit] = await env.audit("case.deadline_sweep")
        assert json.loads(audit.changes)["marked_overdue"] == [None, 110]

    async def test_the_events_reach_an_app_published_bus_after_commit(self, env: Env) -> None:
        # The in-process bus (SQLite's; on PostgreSQL it stands for any bus the database does
        # not feed): the sweep hands the logged rows to it.
        case = await env.report()
        await env.clone(case.id, [100_400], region_code=SIBLING_GRID)
        running = await bus.start(InProcessBackend())
        try:
            sub = running.subscribe()
            async with env.maker() as session:
                assert await sweep(session, now=env.start + hours(1)) == SweepResult(2, 0)
                with pytest.raises(TimeoutError):
                    await sub.get(timeout=0.05)
                await session.commit()
            got = [await sub.get(timeout=1) for _ in range(2)]
        finally:
            await bus.stop(running)
        logged = [PublishedEvent.from_entry(e) for e in await env.events("case.overdue")]
        assert sorted(got, key=lambda e: e.id if e else 0) == logged
        assert {(e.region_code, e.payload["count"]) for e in logged} == {(GRID, 1),
                                                                         (SIBLING_GRID, 1)}


class TestSupervision:
    async def test_after_the_grace_the_system_escalates_one_level(self, env: Env) -> None:
        case = await env.report()
        assert await env.sweep(hours(1)) == SweepResult(1, 0)
        assert await env.sweep(hours(1 + GRACE) - minutes(1)) == SweepResult(0, 0)
        before = await env.case(case.id)

        assert await env.sweep(hours(1 + GRACE) + minutes(1)) == SweepResult(0, 1)
        row = await env.case(case.id)
        assert (row.status, row.owner_code, row.escalations) == ("reported", VILLAGE, 1)
        assert row.version == before.version + 1
        assert row.step == "accept" and row.overdue_at is None and row.supervised_at is None
        # A new deadline for the new level (the accept limit from the escalation).
        assert row.due_at is not None and before.due_at is not None
        assert row.due_at > before.due_at
        assert row.due_at - utcnow() <= minutes(30)
        entry = (await env.timeline(case.id))[-1]
        assert (entry.action, entry.actor, entry.actor_account_id) == ("escalate", "system",
                                                                      None)
        assert (entry.from_status, entry.to_status, entry.version) == ("reported", "reported",
                                                                       row.version)
        assert json.loads(entry.data) == {"from": GRID, "to": VILLAGE}
        assert entry.note is not None and entry.note.startswith("督办")
        [audit] = await env.audit("case.escalate")
        assert (audit.actor, audit.target_id, audit.region_code) == ("system", str(case.id),
                                                                     GRID)
        assert json.loads(audit.changes)["owner_code"] == [GRID, VILLAGE]
        assert [json.loads(e.payload)["id"] for e in await env.events("case.escalate")] == [
            case.id]
        sweeps = await env.audit("case.deadline_sweep")
        assert json.loads(sweeps[-1].changes)["supervised"] == [None, 1]

        # The village now manages it; the grid leader no longer does.
        async with env.maker() as session:
            village = await case_service.get(session, env.subjects["village"], case.id)
            leader = await case_service.get(session, env.subjects["grid-leader"], case.id)
        assert "accept" in village.allowed_actions and "accept" not in leader.allowed_actions

    async def test_repeated_sweeps_climb_to_the_city_then_only_supervise(
        self, env: Env
    ) -> None:
        case = await env.report()
        t = hours(1)
        for level in (VILLAGE, TOWNSHIP, COUNTY, CITY):
            assert await env.sweep(t) == SweepResult(1, 0)
            assert await env.sweep(t + hours(GRACE / 2)) == SweepResult(0, 0)
            assert await env.sweep(t + hours(GRACE) + minutes(1)) == SweepResult(0, 1)
            assert (await env.case(case.id)).owner_code == level
            t += timedelta(days=1)

        # At the city: marked again, then supervised without escalating, once.
        assert await env.sweep(t) == SweepResult(1, 0)
        assert await env.sweep(t + hours(GRACE) + minutes(1)) == SweepResult(0, 0)
        row = await env.case(case.id)
        assert (row.owner_code, row.escalations, row.status) == (CITY, 4, "reported")
        assert row.supervised_at is not None and row.overdue_at == env.start + t
        assert await env.sweep(t + timedelta(days=10)) == SweepResult(0, 0)

        entries = await env.timeline(case.id)
        assert [e.action for e in entries] == ["report"] + ["overdue", "escalate"] * 4 + [
            "overdue", "supervise"]
        assert all(e.actor == "system" for e in entries[1:])
        assert [tuple(json.loads(e.data).values()) for e in entries if e.action == "escalate"
                ] == [(GRID, VILLAGE), (VILLAGE, TOWNSHIP), (TOWNSHIP, COUNTY), (COUNTY, CITY)]
        assert json.loads(entries[-1].data) == {"escalated": False}
        assert entries[-1].note == "overdue at the top level: supervised, not escalated"
        assert entries[-1].version == row.version
        assert len(await env.audit("case.escalate")) == 4
        assert len(await env.events("case.overdue")) == 5

    async def test_a_dispatched_case_goes_back_to_accepted_one_level_up(
        self, env: Env
    ) -> None:
        case = await env.report()
        await env.act("grid-leader", case.id, "accept")
        await env.act("grid-leader", case.id, "dispatch", handler=Handler(region=GRID))
        dispatched = await env.case(case.id)
        assert dispatched.step == "handle" and dispatched.due_at is not None
        late = dispatched.due_at - env.start + minutes(1)  # the handling limit: 1 day
        assert await env.sweep(late) == SweepResult(1, 0)
        assert await env.sweep(late + hours(GRACE) + minutes(1)) == SweepResult(0, 1)
        row = await env.case(case.id)
        assert (row.status, row.owner_code, row.step) == ("accepted", VILLAGE, "dispatch")
        assert row.handler_code is None and row.handler_kind is None


    async def test_an_overdue_verification_is_supervised_where_it_is(self, env: Env) -> None:
        # A handled case waits for its manager's verification: it cannot be escalated.
        case = await env.report()
        await env.act("grid-leader", case.id, "accept")
        await env.act("grid-leader", case.id, "dispatch", handler=Handler(region=GRID))
        out = await env.act("grid-deputy", case.id, "report_handled", note="已处置")
        assert out.step == "verify" and out.due_at is not None
        late = out.due_at - env.start + minutes(1)  # the verification limit: 1 day
        assert await env.sweep(late) == SweepResult(1, 0)
        assert await env.sweep(late + hours(GRACE) + minutes(1)) == SweepResult(0, 0)
        row = await env.case(case.id)
        assert (row.status, row.owner_code, row.escalations) == ("handled", GRID, 0)
        assert row.supervised_at is not None
        entry = (await env.timeline(case.id))[-1]
        assert (entry.action, entry.actor) == ("supervise", "system")
        assert entry.note == "overdue while handled: supervised, not escalated"
        assert await env.sweep(late + timedelta(days=5)) == SweepResult(0, 0)
        # Closing it stops the clock for good.
        await env.act("grid-leader", case.id, "close")
        assert (await env.case(case.id)).overdue_at is None


class TestExtension:
    async def dispatched_and_overdue(self, env: Env) -> tuple[int, datetime]:
        case = await env.report()
        await env.act("grid-leader", case.id, "accept")
        out = await env.act("grid-leader", case.id, "dispatch", handler=Handler(region=GRID))
        assert out.due_at is not None and out.due_at - utcnow() <= timedelta(days=1)
        assert await env.sweep(timedelta(days=2), grace_hours=48) == SweepResult(1, 0)
        await env.act("grid-deputy", case.id, "request_extension", extra="3d",
                      reason="需协调卫生院复查")
        assert (await env.case(case.id)).overdue_at is not None
        return case.id, out.due_at

    async def test_approving_an_extension_clears_overdue(self, env: Env) -> None:
        case_id, due = await self.dispatched_and_overdue(env)
        out = await env.act("grid-leader", case_id, "approve_extension", approve=True)
        assert out.due_at == due + timedelta(days=3)
        assert not out.overdue and out.overdue_at is None and out.extension_request is None
        assert await env.sweep(timedelta(days=2), grace_hours=48) == SweepResult(0, 0)
        # The new deadline is watched like the first.
        assert await env.sweep(timedelta(days=4, hours=1), grace_hours=48) == SweepResult(1, 0)
        assert [e.action for e in await env.timeline(case_id)].count("overdue") == 2

    async def test_a_refused_extension_leaves_it_overdue(self, env: Env) -> None:
        case_id, due = await self.dispatched_and_overdue(env)
        out = await env.act("grid-leader", case_id, "approve_extension", approve=False)
        assert out.due_at == due and out.overdue and out.extension_request is None
        # Still escalated once the grace has passed.
        assert await env.sweep(timedelta(days=4, minutes=1), grace_hours=48) == \
            SweepResult(0, 1)
        assert (await env.case(case_id)).owner_code == VILLAGE
