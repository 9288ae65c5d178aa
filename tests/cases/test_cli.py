"""`wangge cases sweep|categories` and `wangge calendar set|show`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from tests.cases.actors import (
    GRID,
    INDEX,
    VILLAGE,
    load_subjects,
    remove_cases,
    writable_demo,
)
from typer.testing import CliRunner

from wangge.cases.schemas import ActionIn, CaseCreate, CaseOut, Handler
from wangge.cases.service import case_service, reference
from wangge.cli import app as cli
from wangge.config import get_settings
from wangge.kit.calendar import LOCAL, Limit, WorkCalendar
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.models import AuditRecord, CalendarDay, Case, CaseAction

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_copy(xinxiang: str, pg_schemas: list[str],
              tmp_path_factory: pytest.TempPathFactory) -> str:
    return writable_demo(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("cases-cli")))


def use(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANGGE_DATABASE_URL", url)
    get_settings.cache_clear()
    reference.invalidate()


@pytest.fixture
def url(demo_copy: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The demo copy as the CLI's database, without calendar overrides before and after."""
    use(demo_copy, monkeypatch)
    run_sync(lambda: clear_calendar(demo_copy))
    yield demo_copy
    run_sync(lambda: clear_calendar(demo_copy))
    get_settings.cache_clear()
    reference.invalidate()


async def clear_calendar(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(CalendarDay))
    finally:
        await engine.dispose()


def calendar_rows(url: str) -> list[tuple[date, str, str]]:
    async def work() -> list[tuple[date, str, str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(CalendarDay.day, CalendarDay.kind,
                                                 CalendarDay.name).order_by(CalendarDay.day))
                return [(d, k, n) for d, k, n in rows]
        finally:
            await engine.dispose()

    return run_sync(work)


class TestCategories:
    def test_prints_the_tree_with_levels_departments_and_limits(self, url: str) -> None:
        res = runner.invoke(cli, ["cases", "categories"])
        assert res.exit_code == 0, res.output
        lines = res.output.splitlines()
        clue = next(line for line in lines if "│ 05 " in line)
        assert "涉案线索" in clue and "township" in clue and "police_station" in clue
        assert "30m/1h/5wd/2wd" in clue and "police" in clue.split("│")[-2]
        child = next(line for line in lines if "│   0106 " in line)  # indented under 01
        assert "village" in child and "2h/4h/5wd/2wd" in child
        codes = [c for c in ("01", "0101", "0115", "02", "03", "0301", "05", "06", "99")
                 if any(f" {c} " in line for line in lines)]
        assert len(codes) == 9
        assert "accept/dispatch/handle/verify" in res.output


class TestCalendar:
    def test_show_lists_official_holidays_and_make_up_days(self, url: str) -> None:
        res = runner.invoke(cli, ["calendar", "show", "2026"])
        assert res.exit_code == 0, res.output
        rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
                for line in res.output.splitlines() if line.startswith("│ 2026-")}
        assert rows["2026-10-01"] == ["Thu", "holiday", "official", "国庆节"]
        assert rows["2026-09-20"][:3] == ["Sun", "workday", "official"]
        assert rows["2026-10-10"][:3] == ["Sat", "workday", "official"]
        assert "2026-10-08" not in rows and "2026-11-28" not in rows  # plain days

    def test_set_overrides_a_day_and_is_audited(self, url: str) -> None:
        res = runner.invoke(cli, ["calendar", "set", "2026-11-30", "holiday", "地方节日"])
        assert res.exit_code == 0, res.output
        assert "2026-11-30 is now a holiday: 地方节日" in res.output
        res = runner.invoke(cli, ["calendar", "set", "2026-10-01", "workday", "国庆值班"])
        assert res.exit_code == 0, res.output
        assert calendar_rows(url) == [(date(2026, 10, 1), "workday", "国庆值班"),
                                      (date(2026, 11, 30), "holiday", "地方节日")]
        shown = runner.invoke(cli, ["calendar", "show", "2026"]).output
        assert any("2026-11-30" in line and "override" in line and "地方节日" in line
                   for line in shown.splitlines())
        assert any("2026-10-01" in line and "workday" in line and "override" in line
                   for line in shown.splitlines())
        # Setting a day again replaces it.
        assert runner.invoke(cli, ["calendar", "set", "2026-11-30", "workday", "补班"]
                             ).exit_code == 0
        assert calendar_rows(url)[-1] == (date(2026, 11, 30), "workday", "补班")

        async def audited() -> list[tuple[str, str, list[str | None]]]:
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    return [(actor, target, json.loads(changes)["kind"])
                            for actor, target, changes in await conn.execute(
                                select(AuditRecord.actor, AuditRecord.target_id,
                                       AuditRecord.changes)
                                .where(AuditRecord.action == "calendar.day_set")
                                .order_by(AuditRecord.id))]
            finally:
                await engine.dispose()

        assert run_sync(audited)[-3:] == [("system", "2026-11-30", [None, "holiday"]),
                                          ("system", "2026-10-01", [None, "workday"]),
                                          ("system", "2026-11-30", ["holiday", "workday"])]

    def test_deadlines_in_working_days_skip_a_day_set_off(self, url: str) -> None:
        today = utcnow().astimezone(LOCAL).date()
        day_off = WorkCalendar().add_working_days(today, 1)
        res = runner.invoke(cli, ["calendar", "set", day_off.isoformat(), "holiday", "停工"])
        assert res.exit_code == 0, res.output

        async def dispatched() -> CaseOut:
            engine = create_engine(url)
            try:
                async with create_sessionmaker(engine)() as session:
                    people = await load_subjects(session)
                    out, _ = await case_service.create(session, people["grid-member"], CaseCreate(
                        client_uuid=uuid.uuid4(), category_code="99", title="测试",
                        description="按工作日计算期限", grid_code=GRID), INDEX)
                    leader = people["grid-leader"]
                    out = await case_service.act(session, leader, out.id, "accept",
                                                 ActionIn(version=out.version))
                    out = await case_service.act(session, leader, out.id, "dispatch", ActionIn(
                        version=out.version, handler=Handler(region=GRID)))
                    await session.commit()
                    return out
            finally:
                await engine.dispose()

        case = run_sync(dispatched)  # "Other": handled within 3 working days
        assert case.step == "handle" and case.due_at is not None
        assert case.dispatched_at is not None
        usual = WorkCalendar().deadline(case.dispatched_at, Limit(3, "wd"))
        assert case.due_at == WorkCalendar({day_off: "holiday"}).deadline(
            case.dispatched_at, Limit(3, "wd"))
        assert case.due_at.astimezone(LOCAL).date() > usual.astimezone(LOCAL).date()

    @pytest.mark.parametrize("args, message", [
        (["set", "2026-02-30", "holiday", "x"], "is not a date"),
        (["set", "tomorrow", "holiday", "x"], "is not a date"),
        (["set", "2026-11-30", "off", "x"], "'off' is not one of"),
        (["set", "2026-11-30", "holiday", "x" * 65], "between 1 and 64 characters"),
        (["set", "2026-11-30", "holiday", " "], "between 1 and 64 characters"),
        (["show", "1999"], "greater than or equal to 2000"),
    ])
    def test_bad_input_is_exit_2_and_nothing_stored(
        self, url: str, args: list[str], message: str
    ) -> None:
        res = runner.invoke(cli, ["calendar", *args])
        assert res.exit_code == 2
        assert message in " ".join(res.output.split()).replace("│", "").replace("  ", " ")
        assert calendar_rows(url) == []


@pytest.fixture
def late_case(url: str) -> tuple[str, int]:
    """The only case of the demo copy, its accept deadline an hour ago."""

    async def work() -> int:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                await remove_cases(session)
                member = (await load_subjects(session))["grid-member"]
                out, _ = await case_service.create(session, member, CaseCreate(
                    client_uuid=uuid.uuid4(), category_code="06", title="测试",
                    description="命令行督办", grid_code=GRID), INDEX)
                # Backdated deadline: its 30-minute accept limit ran out an hour ago.
                await session.execute(update(Case).where(Case.id == out.id).values(
                    due_at=utcnow() - timedelta(hours=1)))
                await session.commit()
                return out.id
        finally:
            await engine.dispose()

    return url, run_sync(work)


def case_state(url: str, case_id: int) -> tuple[str, bool, list[str]]:
    async def work() -> tuple[str, bool, list[str]]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                case = await session.get(Case, case_id)
                assert case is not None
                actions = list((await session.execute(
                    select(CaseAction.action).where(CaseAction.case_id == case_id)
                    .order_by(CaseAction.id))).scalars())
                n = await session.scalar(select(func.count()).select_from(Case))
                assert n == 1
                return case.owner_code, case.overdue_at is not None, actions
        finally:
            await engine.dispose()

    return run_sync(work)


class TestSweep:
    def test_marks_then_escalates_after_the_grace(self, late_case: tuple[str, int]) -> None:
        url, case_id = late_case
        res = runner.invoke(cli, ["cases", "sweep"])
        assert res.exit_code == 0, res.output
        assert res.output.strip() == "marked overdue: 1; supervised (escalated): 0"
        assert case_state(url, case_id) == (GRID, True, ["report", "overdue"])
        # Within the default grace (24 h): nothing more.
        res = runner.invoke(cli, ["cases", "sweep"])
        assert res.output.strip() == "marked overdue: 0; supervised (escalated): 0"
        # No grace: the system escalates it to the village.
        res = runner.invoke(cli, ["cases", "sweep", "--grace-hours", "0"])
        assert res.exit_code == 0, res.output
        assert res.output.strip() == "marked overdue: 0; supervised (escalated): 1"
        assert case_state(url, case_id) == (VILLAGE, False,
                                            ["report", "overdue", "escalate"])

    def test_the_grace_comes_from_the_settings(
        self, late_case: tuple[str, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url, case_id = late_case
        monkeypatch.setenv("WANGGE_CASE_ESCALATION_GRACE_HOURS", "0")
        get_settings.cache_clear()
        assert runner.invoke(cli, ["cases", "sweep"]).output.strip() == \
            "marked overdue: 1; supervised (escalated): 0"
        assert runner.invoke(cli, ["cases", "sweep"]).output.strip() == \
            "marked overdue: 0; supervised (escalated): 1"
        assert case_state(url, case_id)[0] == VILLAGE

    def test_a_negative_grace_is_refused(self, late_case: tuple[str, int]) -> None:
        url, case_id = late_case
        res = runner.invoke(cli, ["cases", "sweep", "--grace-hours", "-1"])
        assert res.exit_code == 2
        assert case_state(url, case_id) == (GRID, False, ["report"])
