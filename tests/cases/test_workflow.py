"""The case workflow as a property: random sequences of actions by random users.

Whatever the sequence, against the real service and database:

- a case never reaches an invalid state (``workflow.check_invariants`` finds nothing);
- no transition is lost: the timeline, the audit trail and the event log each hold exactly the
  creation and the successful actions, in order, with versions rising by one per entry;
- the ``allowed_actions`` a user is shown are exactly the actions that then succeed for them
  (the others fail with 409 when the state forbids them, 403 when the role does);
- the case is never visible outside its scope: users of the sibling grid and county get a 404
  for it, their lists do not show it, and asking for its grid's subtree gives them nothing.

Hypothesis drives SQLite with many examples and PostgreSQL with a few, derandomized (CI sees
the same sequences every run).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tests.cases.actors import (
    ACTORS,
    DEMO_USERS,
    GRID,
    INDEX,
    OUTSIDERS,
    STATION,
    load_subjects,
    writable_demo,
)

from wangge.authz.permissions import CASE_POLICE
from wangge.authz.scope import Subject
from wangge.cases import workflow
from wangge.cases.schemas import ActionIn, CaseCreate, CaseOut, Evidence, Handler
from wangge.cases.service import allowed_actions, case_service, possible_actions, reference
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.kit.errors import Conflict, Forbidden, NotFound, WanggeError
from wangge.models import AuditRecord, Case, CaseAction, EventLogEntry

# A dispute, a police-only criminal clue, an epidemic check (grid level), a public-order hazard.
CATEGORIES = ("0106", "05", "06", "02")
HANDLERS = ("grid", "owner", "station")
FORWARD = ("accept", "dispatch", "start", "report_handled", "close", "rate", "spot_check",
           "approve_extension")


@dataclass
class World:
    url: str
    runner: asyncio.Runner
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    subjects: dict[str, Subject]
    # Successful actions over all examples (the run must have explored the workflow).
    succeeded: Counter[str] = field(default_factory=Counter)

    @property
    def postgresql(self) -> bool:
        return self.url.startswith("postgresql")


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = writable_demo(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("cases-workflow")))
    reference.invalidate()  # categories and calendar of another test database
    runner = asyncio.Runner()
    engine = create_engine(url)
    maker = create_sessionmaker(engine)

    async def subjects() -> dict[str, Subject]:
        async with maker() as session:
            return await load_subjects(session)

    try:
        yield World(url, runner, engine, maker, runner.run(subjects()))
    finally:
        runner.run(engine.dispose())
        runner.close()
        reference.invalidate()


# --- the oracle ------------------------------------------------------------------------------


@dataclass
class Expected:
    """What the stores must hold for one case: one entry per creation step and action."""

    case_id: int
    timeline: list[tuple[str, str]]  # (action, actor)
    audit: list[str]
    events: list[str]
    first_event: int
    version: int


def may_see(subject: Subject, case: Case) -> bool:
    """The scope rule: the grid in the subject's regions, and police-only cases only for police
    readers and the reporter."""
    return subject.can_read_code(case.region_code) and (
        not case.police_only or subject.can(CASE_POLICE)
        or subject.account_id == case.reporter_account_id)


async def view(w: World, actor: str, case_id: int) -> CaseOut | None:
    async with w.maker() as session:
        try:
            return await case_service.get(session, w.subjects[actor], case_id)
        except NotFound:
            return None


async def check_stores(w: World, exp: Expected) -> Case:
    """The invariants, and every store holding exactly the expected entries."""
    async with w.maker() as session:
        case = await session.get(Case, exp.case_id)
        assert case is not None
        assert workflow.check_invariants(case) == []
        entries = list((await session.execute(
            select(CaseAction).where(CaseAction.case_id == case.id).order_by(CaseAction.id)
        )).scalars())
        assert [(e.action, e.actor) for e in entries] == exp.timeline
        assert [e.version for e in entries] == list(range(1, len(entries) + 1))
        assert entries[-1].version == case.version
        assert entries[0].from_status is None and entries[-1].to_status == case.status
        for before, after in itertools.pairwise(entries):
            assert after.from_status == before.to_status, (before.action, after.action)
            assert after.at >= before.at
        audit = list((await session.execute(
            select(AuditRecord.action).where(AuditRecord.target_type == "case",
                                             AuditRecord.target_id == str(case.id))
            .order_by(AuditRecord.id))).scalars())
        assert audit == exp.audit
        events = [(t, json.loads(p)) for t, p in await session.execute(
            select(EventLogEntry.type, EventLogEntry.payload)
            .where(EventLogEntry.id > exp.first_event, EventLogEntry.type.startswith("case."))
            .order_by(EventLogEntry.id))]
        assert [t for t, p in events if p.get("id") == case.id] == exp.events
        assert all(p["version"] <= case.version for _, p in events if p.get("id") == case.id)
        return case


async def check_outsiders(w: World, case_id: int) -> None:
    """Users of the sibling grid and county never see the case: by id, in their lists (the
    case is the newest: it would be on the first page), or asking for its grid's subtree."""
    async with w.maker() as session:
        for actor in OUTSIDERS:
            subject = w.subjects[actor]
            with pytest.raises(NotFound):
                await case_service.get(session, subject, case_id)
            page = await case_service.list(session, subject, case_service.filters(subject))
            assert case_id not in [c.id for c in page.items]
            assert all(subject.can_read_code(c.region_code) for c in page.items)
            there = case_service.filters(subject, subtree=GRID)
            assert (await case_service.list(session, subject, there)).items == []
            summary = await case_service.summary(session, subject, there)
            assert summary.by_status == {} and summary.overdue == 0


def body(data: st.DataObject, version: int, handler: str, case: Case) -> ActionIn:
    """An action body valid for every action (each reads the fields it needs)."""
    if handler == "station":
        target = Handler(organisation=STATION)
    else:
        target = Handler(region=case.region_code if handler == "grid" else case.owner_code)
    return ActionIn(
        version=version, note="处理情况说明", reason="说明原因", handler=target,
        extra=data.draw(st.sampled_from(["30m", "4h", "2d", "1wd"]), label="extra"),
        approve=data.draw(st.booleans(), label="approve"),
        rating=data.draw(st.integers(1, 5), label="rating"),
        passed=data.draw(st.booleans(), label="passed"))


# --- one example -----------------------------------------------------------------------------


async def create(w: World, data: st.DataObject) -> Expected:
    reporter = data.draw(st.sampled_from(DEMO_USERS), label="reporter")
    category = data.draw(st.sampled_from(CATEGORIES), label="category")
    self_handled = data.draw(st.integers(0, 4), label="self_handled?") == 4
    async with w.maker() as session:
        first_event = int(await session.scalar(select(func.max(EventLogEntry.id))) or 0)
        out, created = await case_service.create(session, w.subjects[reporter], CaseCreate(
            client_uuid=uuid.uuid4(), category_code=category, title="随机事件",
            description="属性测试", grid_code=GRID, self_handled=self_handled,
            evidence=Evidence(note="当场处置完毕") if self_handled else None), INDEX)
        await session.commit()
    assert created and out.status == ("closed" if self_handled else "reported")
    timeline = [("report", reporter)] + ([("self_handle", reporter)] if self_handled else [])
    return Expected(out.id, timeline, ["case.reported"],
                    ["case.self_handle" if self_handled else "case.report"], first_event,
                    out.version)


async def step(w: World, data: st.DataObject, exp: Expected) -> None:
    async with w.maker() as session:
        case = await session.get(Case, exp.case_id)
        assert case is not None
        assert workflow.check_invariants(case) == []
        assert case.version == exp.version  # refused actions changed nothing
        version, possible = case.version, possible_actions(case)
        # Mostly an action someone may take (progress) by one who may, sometimes anything by
        # anyone. The offers come from the service's rules; each is then checked against what
        # the service answers that user.
        offers: dict[str, list[str]] = {}
        for name in ACTORS:
            if may_see(w.subjects[name], case):
                for a in allowed_actions(w.subjects[name], case):
                    offers.setdefault(a, []).append(name)
        progress = bool(offers) and data.draw(st.integers(0, 3), label="anything?") < 3
        if progress:
            # Mostly forward, towards closure; side steps sometimes; voiding (which ends the
            # story) rarely.
            kind = data.draw(st.integers(0, 5), label="forward/side/void")
            forward = [a for a in offers if a in FORWARD
                       and not (a == "dispatch" and case.status == "dispatched")]
            side = [a for a in offers if a not in forward and a != "void"]
            pool = forward if kind < 3 else side if kind < 5 else \
                [a for a in offers if a == "void"]
            action = data.draw(st.sampled_from(pool or list(offers)), label="action")
            actor = data.draw(st.sampled_from(offers[action]), label="actor")
        else:
            action = data.draw(st.sampled_from(workflow.ACTIONS), label="action")
            actor = data.draw(st.sampled_from(ACTORS), label="actor")
        subject = w.subjects[actor]
        seen = await view(w, actor, exp.case_id)
        assert (seen is not None) == may_see(subject, case), actor
        allowed = seen.allowed_actions if seen else []
        assert set(allowed) <= set(possible)
        assert not progress or action in allowed
        stale = data.draw(st.integers(0, 15), label="stale?") == 15 and version > 1
        handler = data.draw(st.sampled_from(HANDLERS), label="handler")
        payload = body(data, version - 1 if stale else version, handler, case)
    error: WanggeError | None = None
    async with w.maker() as session:
        try:
            out = await case_service.act(session, subject, exp.case_id, action, payload)
            await session.commit()
        except WanggeError as e:
            await session.rollback()
            error = e
    if seen is None:
        assert isinstance(error, NotFound), (actor, action, error)
    elif stale:
        assert isinstance(error, Conflict) and error.detail.get("field") == "version"
    elif action not in possible:
        assert isinstance(error, Conflict), (actor, action, error)
        assert error.detail["allowed"] == possible
    elif action not in allowed:
        assert isinstance(error, Forbidden), (actor, action, allowed, error)
        assert error.detail["allowed"] == allowed
    else:
        assert error is None, (actor, action, allowed, error)
        assert out.version == version + 1
        after = await view(w, actor, exp.case_id)
        # The answer of the action offers what a fresh read offers.
        assert after is None or after.allowed_actions == out.allowed_actions
        exp.timeline.append((action, actor))
        exp.audit.append(f"case.{action}")
        exp.events.append(f"case.{action}")
        exp.version += 1
        w.succeeded[action] += 1


async def run_example(w: World, data: st.DataObject, max_steps: int) -> None:
    exp = await create(w, data)
    await check_stores(w, exp)
    for _ in range(data.draw(st.integers(3, max_steps), label="steps")):
        await step(w, data, exp)
    # The stores are append-only and the case's grid never changes: both are checked once the
    # case has been through its steps.
    case = await check_stores(w, exp)
    assert case.version == exp.version and case.region_code == GRID
    await check_outsiders(w, exp.case_id)


class TestRandomActionSequences:
    def test_valid_states_no_lost_transitions_exact_allowed_actions_no_leaks(
        self, world: World
    ) -> None:
        pg = world.postgresql

        @settings(max_examples=6 if pg else 30, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            world.runner.run(run_example(world, data, max_steps=25))

        run()
        # Not vacuous: the sequences went through the whole workflow.
        core = {"accept", "dispatch", "report_handled", "close"}
        assert core <= set(world.succeeded), world.succeeded
        assert pg or len(world.succeeded) >= 9, world.succeeded
