"""Every query of the directives domain. Reads pass through the subject's scope
(``authz.scope``): a directive is readable where its issuing region is in scope or where one
of its assignments is; an assignment where its unit is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, in_subtree, scope_ancestors, scope_clause
from wangge.models import (
    AssignmentAction,
    CasePhoto,
    Directive,
    DirectiveAssignment,
    Region,
)

A = DirectiveAssignment
# Statuses in which a unit still owes something (acknowledgement or feedback).
UNFINISHED = ("delivered", "acknowledged", "returned")


def overdue_clause() -> ColumnElement[bool]:
    """An assignment counts as overdue while a step is late and not yet done."""
    return and_(A.overdue_at.is_not(None), A.status.in_(UNFINISHED))


@dataclass(frozen=True)
class UnitTarget:
    """One resolved target: every region of ``level`` under ``under`` (a subtree of grids is
    level "grid"), or an explicit list of grid ``codes``."""

    level: str
    under: str | None = None
    codes: tuple[str, ...] = ()

    def clause(self) -> ColumnElement[bool]:
        if self.codes:
            return and_(Region.level == "grid", Region.code.in_(self.codes))
        assert self.under is not None
        return and_(Region.level == self.level, in_subtree(Region.code, self.under))


def units_clause(targets: Sequence[UnitTarget]) -> ColumnElement[bool]:
    return or_(*(t.clause() for t in targets)) if targets else false()


@dataclass(frozen=True)
class AssignmentFilters:
    directive_id: int | None = None
    status: tuple[str, ...] = ()
    overdue: bool | None = None
    subtree: str | None = None
    units: tuple[str, ...] | None = None  # "mine": the caller's own units


class DirectiveRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    # --- directives ---------------------------------------------------------------------------

    def readable_directives(self) -> Select[Directive]:
        """Directives issued in scope, or with an assignment in scope."""
        if "" in self.subject.prefixes:
            return select(Directive)
        reaches = exists().where(A.directive_id == Directive.id,
                                 scope_clause(self.subject, A.region_code))
        return select(Directive).where(or_(scope_clause(self.subject, Directive.region_code),
                                           reaches))

    async def get(self, directive_id: int) -> Directive | None:
        return (await self.session.execute(
            self.readable_directives().where(Directive.id == directive_id))).scalar_one_or_none()

    async def by_client_uuid(self, client_uuid: str) -> Directive | None:
        return (await self.session.execute(
            select(Directive).where(Directive.client_uuid == client_uuid))).scalar_one_or_none()

    async def page(self, kind: str | None, before: int | None, limit: int, *,
                   region: str | None = None, status: str | None = None) -> list[Directive]:
        """Readable directives, newest first. ``region``: issued in or reaching into that
        subtree. ``status``: ``open`` (a unit in scope still owes something), ``overdue`` (one
        is late), ``done`` (none owes anything)."""
        stmt = self.readable_directives()
        if kind is not None:
            stmt = stmt.where(Directive.kind == kind)
        if region is not None:
            stmt = stmt.where(or_(in_subtree(Directive.region_code, region), exists().where(
                A.directive_id == Directive.id, in_subtree(A.region_code, region))))
        if status is not None:
            owing = exists().where(A.directive_id == Directive.id,
                                   scope_clause(self.subject, A.region_code),
                                   *([in_subtree(A.region_code, region)] if region else []),
                                   overdue_clause() if status == "overdue"
                                   else A.status.in_(UNFINISHED))
            stmt = stmt.where(~owing if status == "done" else owing)
        if before is not None:
            stmt = stmt.where(Directive.id < before)
        return list((await self.session.execute(
            stmt.order_by(Directive.id.desc()).limit(limit))).scalars())

    # --- targets and fan-out --------------------------------------------------------------------

    async def existing_regions(self, codes: Sequence[str]) -> dict[str, str]:
        """code → level of the regions that exist among ``codes``."""
        if not codes:
            return {}
        return dict((await self.session.execute(
            select(Region.code, Region.level).where(Region.code.in_(list(codes))))).all())

    async def count_units(self, targets: Sequence[UnitTarget]) -> dict[str, int]:
        """level → how many distinct units the targets reach."""
        rows = await self.session.execute(
            select(Region.level, func.count()).where(units_clause(targets))
            .group_by(Region.level))
        return {level: int(n) for level, n in rows.all()}

    async def fan_out(self, directive: Directive, targets: Sequence[UnitTarget],
                      now: datetime) -> int:
        """One assignment per unit the targets reach, in one INSERT ... SELECT (a unit reached
        by two targets gets one). Returns how many."""
        units = select(
            literal(directive.id).label("directive_id"), Region.code, Region.level,
            literal("delivered").label("status"), literal(1).label("version"),
            literal(directive.kind == "emergency").label("emergency"),
            literal(now, A.delivered_at.type).label("delivered_at"),
            literal(directive.ack_due_at, A.ack_due_at.type).label("ack_due_at"),
            literal(directive.due_at, A.due_at.type).label("due_at"),
            literal(0).label("returns"), literal(0).label("reminders"),
            literal(now, A.updated_at.type).label("updated_at"),
        ).where(units_clause(targets))
        result = await self.session.execute(
            insert(A.__table__).from_select(
                ["directive_id", "region_code", "level", "status", "version", "emergency",
                 "delivered_at", "ack_due_at", "due_at", "returns", "reminders", "updated_at"],
                units).execution_options(preserve_rowcount=True))
        # A Core insert (an ORM one would return every new id to Python); SQLAlchemy reports
        # an INSERT's row count only when asked to preserve it.
        return int(result.rowcount)  # type: ignore[attr-defined]

    # --- assignments ----------------------------------------------------------------------------

    def _assignments(self, f: AssignmentFilters) -> Select[DirectiveAssignment]:
        stmt = select(A).where(scope_clause(self.subject, A.region_code))
        if f.directive_id is not None:
            stmt = stmt.where(A.directive_id == f.directive_id)
        if f.status:
            stmt = stmt.where(A.status.in_(f.status))
        if f.overdue is True:
            stmt = stmt.where(overdue_clause())
        elif f.overdue is False:
            stmt = stmt.where(~overdue_clause())
        if f.subtree:
            stmt = stmt.where(in_subtree(A.region_code, f.subtree))
        if f.units is not None:
            stmt = stmt.where(A.region_code.in_(f.units) if f.units else false())
        return stmt

    async def assignment(self, assignment_id: int) -> DirectiveAssignment | None:
        return (await self.session.execute(
            self._assignments(AssignmentFilters()).where(A.id == assignment_id)
        )).scalar_one_or_none()

    async def assignment_page(self, f: AssignmentFilters, before: int | None,
                              limit: int) -> list[DirectiveAssignment]:
        stmt = self._assignments(f)
        if before is not None:
            stmt = stmt.where(A.id < before)
        return list((await self.session.execute(stmt.order_by(A.id.desc()).limit(limit)))
                    .scalars())

    async def directives_by_id(self, ids: Sequence[int]) -> dict[int, Directive]:
        if not ids:
            return {}
        rows = await self.session.execute(select(Directive).where(Directive.id.in_(list(ids))))
        return {d.id: d for d in rows.scalars()}

    async def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        if not codes:
            return {}
        return dict((await self.session.execute(
            select(Region.code, Region.name).where(Region.code.in_(list(set(codes)))))).all())

    async def region(self, code: str) -> Region | None:
        return await self.session.get(Region, code)

    async def children(self, code: str) -> list[Region]:
        return list((await self.session.execute(
            select(Region).where(Region.parent_code == code).order_by(Region.code))).scalars())

    async def counts(self, directive_ids: Sequence[int], subtree: str | None = None,
                     child_length: int | None = None
                     ) -> list[tuple[int, str, str, bool, int]]:
        """(directive, region prefix, status, overdue, count) of the readable assignments of
        ``directive_ids`` under ``subtree``, per prefix of ``child_length`` — or, without it,
        per directive alone (the prefix is then "")."""
        if not directive_ids:
            return []
        late = case((overdue_clause(), True), else_=False)
        keys: list[Any] = [A.directive_id, A.status, late]
        if child_length:
            keys.append(func.substr(A.region_code, 1, child_length))
        stmt = select(*keys, func.count()).where(
            A.directive_id.in_(list(directive_ids)), scope_clause(self.subject, A.region_code))
        if subtree:
            stmt = stmt.where(in_subtree(A.region_code, subtree))
        rows = await self.session.execute(stmt.group_by(*keys))
        return [(int(r[0]), str(r[3]) if child_length else "", str(r[1]), bool(r[2]),
                 int(r[-1])) for r in rows.all()]

    async def timeline(self, assignment_id: int) -> list[AssignmentAction]:
        return list((await self.session.execute(
            select(AssignmentAction).where(AssignmentAction.assignment_id == assignment_id)
            .order_by(AssignmentAction.id))).scalars())

    async def comments(self, directive_id: int) -> list[AssignmentAction]:
        """Comments on a directive made in the caller's scope or above it."""
        above = scope_ancestors(self.subject)
        visible = scope_clause(self.subject, AssignmentAction.region_code)
        if above:
            visible = or_(visible, AssignmentAction.region_code.in_(above))
        return list((await self.session.execute(
            select(AssignmentAction).where(
                AssignmentAction.directive_id == directive_id,
                AssignmentAction.assignment_id.is_(None), visible)
            .order_by(AssignmentAction.id))).scalars())

    async def photo_ids(self, *, directive_id: int | None = None,
                        assignment_ids: Sequence[int] = ()) -> dict[int, list[int]]:
        """Attached photos: {directive_id or assignment_id: [photo ids]}."""
        if directive_id is not None:
            rows = await self.session.execute(
                select(CasePhoto.directive_id, CasePhoto.id)
                .where(CasePhoto.directive_id == directive_id).order_by(CasePhoto.id))
        elif assignment_ids:
            rows = await self.session.execute(
                select(CasePhoto.assignment_id, CasePhoto.id)
                .where(CasePhoto.assignment_id.in_(list(assignment_ids))).order_by(CasePhoto.id))
        else:
            return {}
        out: dict[int, list[int]] = {}
        for owner, photo in rows.all():
            if owner is not None:
                out.setdefault(int(owner), []).append(int(photo))
        return out

    async def claim_photos(self, photo_ids: Sequence[int], **owner: int) -> int:
        """Attaches the caller's unattached uploads to a directive or an assignment."""
        if not photo_ids:
            return 0
        result = await self.session.execute(
            update(CasePhoto)
            .where(CasePhoto.id.in_(list(photo_ids)), CasePhoto.case_id.is_(None),
                   CasePhoto.directive_id.is_(None), CasePhoto.assignment_id.is_(None),
                   CasePhoto.uploaded_by == self.subject.account_id)
            .values(**owner).execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def unfinished_under(self, directive_id: int, subtree: str) -> list[tuple[int, str]]:
        """(id, region) of the readable assignments under ``subtree`` still owing something."""
        rows = await self.session.execute(
            select(A.id, A.region_code).where(
                A.directive_id == directive_id, A.status.in_(UNFINISHED),
                in_subtree(A.region_code, subtree), scope_clause(self.subject, A.region_code)))
        return [(int(i), str(r)) for i, r in rows.all()]

    async def bump_reminders(self, ids: Sequence[int], now: datetime) -> None:
        """A reminder changes no state: no version bump (a unit's pending action stays valid)."""
        for start in range(0, len(ids), 1000):
            await self.session.execute(
                update(A).where(A.id.in_(list(ids[start:start + 1000])))
                .values(reminders=A.reminders + 1, updated_at=now)
                .execution_options(synchronize_session=False))

    async def add_actions(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(AssignmentAction), rows)

    # --- the deadline sweep ---------------------------------------------------------------------

    async def mark_overdue(self, now: datetime) -> list[tuple[int, int, str, str]]:
        """Marks late steps: unacknowledged past ``ack_due_at`` (step "acknowledge"), then
        unfinished past ``due_at`` (step "complete"). Returns (id, directive, region, step) of
        each newly marked assignment."""
        marked: list[tuple[int, int, str, str]] = []
        for step, late in (
            ("acknowledge", and_(A.status == "delivered", A.ack_due_at < now,
                                 A.overdue_at.is_(None))),
            ("complete", and_(A.status.in_(UNFINISHED), A.due_at.is_not(None), A.due_at < now,
                              or_(A.overdue_at.is_(None), A.overdue_step == "acknowledge"))),
        ):
            rows = await self.session.execute(
                update(A).where(late).values(overdue_at=now, overdue_step=step)
                .returning(A.id, A.directive_id, A.region_code)
                .execution_options(synchronize_session=False))
            marked += [(int(i), int(d), str(r), step) for i, d, r in rows.all()]
        return marked

    async def escalate_emergencies(self, delivered_before: datetime, now: datetime
                                   ) -> list[tuple[int, int, str]]:
        """Flags emergency assignments still unacknowledged since before ``delivered_before``;
        returns (id, directive, region) of each newly flagged."""
        rows = await self.session.execute(
            update(A).where(A.emergency.is_(True), A.status == "delivered",
                            A.escalated_at.is_(None), A.delivered_at < delivered_before)
            .values(escalated_at=now)
            .returning(A.id, A.directive_id, A.region_code)
            .execution_options(synchronize_session=False))
        return [(int(i), int(d), str(r)) for i, d, r in rows.all()]
