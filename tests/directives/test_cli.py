"""`wangge directives sweep` and the demo's directives."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, update
from tests.cases.actors import writable_demo
from typer.testing import CliRunner

from wangge.cli import app as cli
from wangge.config import get_settings
from wangge.kit.db import sync_url, utcnow
from wangge.models import AssignmentAction, AuditRecord, Directive, DirectiveAssignment

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_copy(xinxiang: str, pg_schemas: list[str],
              tmp_path_factory: pytest.TempPathFactory) -> str:
    return writable_demo(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("directives-cli")))


def test_the_demo_has_directives_in_progress(demo_copy: str) -> None:
    engine = create_engine(sync_url(demo_copy))
    try:
        with engine.connect() as conn:
            kinds = dict(conn.execute(select(Directive.kind, Directive.target_count)).all())
            statuses = dict(conn.execute(
                select(DirectiveAssignment.status, func.count())
                .group_by(DirectiveAssignment.status)).all())
            grids = conn.scalar(select(func.count()).select_from(DirectiveAssignment).where(
                DirectiveAssignment.directive_id == select(Directive.id).where(
                    Directive.kind == "notice").scalar_subquery()))
    finally:
        engine.dispose()
    assert set(kinds) == {"notice", "inspection", "emergency"}
    assert kinds["notice"] == grids == 4507  # the city-wide notice reached every grid
    assert statuses["delivered"] > statuses["acknowledged"] > 0
    assert statuses["completed"] > 0


def test_sweep_marks_late_units_and_escalates_emergencies(
        demo_copy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANGGE_DATABASE_URL", demo_copy)
    get_settings.cache_clear()
    engine = create_engine(sync_url(demo_copy))
    try:
        emergency = select(Directive.id).where(Directive.kind == "emergency").scalar_subquery()
        past = utcnow().replace(year=2020)
        with engine.begin() as conn:
            late = conn.execute(
                update(DirectiveAssignment)
                .where(DirectiveAssignment.directive_id == emergency,
                       DirectiveAssignment.status == "delivered")
                .values(ack_due_at=past, delivered_at=past)).rowcount
        result = runner.invoke(cli, ["directives", "sweep"])
        assert result.exit_code == 0, result.output
        assert f"marked overdue: {late:,}; escalated: {late:,}" in result.output
        again = runner.invoke(cli, ["directives", "sweep"])
        assert "marked overdue: 0; escalated: 0" in again.output
        with engine.connect() as conn:
            entries = dict(conn.execute(
                select(AssignmentAction.action, func.count())
                .where(AssignmentAction.directive_id == emergency,
                       AssignmentAction.action.in_(("overdue", "escalate")))
                .group_by(AssignmentAction.action)).all())
            audits = conn.scalar(select(func.count()).select_from(AuditRecord).where(
                AuditRecord.action == "directive.deadline_sweep"))
    finally:
        engine.dispose()
        get_settings.cache_clear()
    assert entries == {"overdue": late, "escalate": late} and late > 0
    assert audits == 1
