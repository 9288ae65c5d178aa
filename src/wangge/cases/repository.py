"""Every query of the cases domain. Lists and details start from ``readable_cases``."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    Select,
    Text,
    TextClause,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import CASE_POLICE
from wangge.authz.scope import Subject, in_subtree, readable
from wangge.cases.workflow import OPEN_STATUSES
from wangge.kit.db import UTCDateTime, utcnow
from wangge.models import (
    AuditRecord,
    CalendarDay,
    Case,
    CaseAction,
    CaseCategory,
    CasePhoto,
    EventLogEntry,
    Organisation,
    OrganisationCoverage,
    Region,
)
from wangge.models.case import SHANGHAI

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True)
class CaseFilters:
    status: Sequence[str] = ()
    category: str | None = None
    subtree: str | None = None
    overdue: bool | None = None
    self_handled: bool | None = None
    # (region codes, organisation codes) the caller works for: cases assigned to them.
    assigned: tuple[Sequence[str], Sequence[str]] | None = None
    # Region codes where the caller verifies: cases waiting for acceptance or closure there.
    managing: Sequence[str] | None = None


def _with_id(payload: str, case_id: int) -> str:
    """The event payload with the new case's id, and its number completed (the payload holds
    the number's prefix ``SJ-<county>-<day>-``)."""
    body = json.loads(payload)
    body["id"] = case_id
    body["number"] = f"{body['number']}{case_id:05d}"
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def _json_param(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=lambda v: v.isoformat()
                      if isinstance(v, datetime) else str(v))


def _report_sql(case: dict[str, Any], entries: list[dict[str, Any]], audit: dict[str, Any],
                event: dict[str, Any]) -> str:
    """The statement in psycopg's parameter style (``%(c)s``)."""
    return _report_statement(tuple(case), tuple(entries[0]), tuple(audit), tuple(event),
                             "%({})s")


@functools.lru_cache(maxsize=16)
def _report_text(case_cols: tuple[str, ...], entry_cols: tuple[str, ...],
                 audit_cols: tuple[str, ...], event_cols: tuple[str, ...]) -> TextClause:
    """The statement for a SQLAlchemy session (``:c``)."""
    return text(_report_statement(case_cols, entry_cols, audit_cols, event_cols, ":{}"))


def _report_params(case: dict[str, Any], entries: list[dict[str, Any]], audit: dict[str, Any],
                   event: dict[str, Any]) -> dict[str, str]:
    # Four JSON parameters, whatever the row shapes: the statement text is the same for every
    # report, so it is parsed and planned once per connection (prepared).
    return {"c": _json_param(case), "e": _json_param(entries), "a": _json_param(audit),
            "v": _json_param(event)}


def _report_result(row: Sequence[Any] | None) -> tuple[int, list[int], int] | None:
    if row is None:
        return None
    return int(row[0]), [int(x) for x in row[2]], int(row[1])


@functools.lru_cache(maxsize=16)
def _report_statement(case_cols: tuple[str, ...], entry_cols: tuple[str, ...],
                      audit_cols: tuple[str, ...], event_cols: tuple[str, ...],
                      param: str) -> str:
    """The intake statement: case, timeline entries, audit record and event from four JSON
    documents (``jsonb_populate_record``), skipping everything when the client UUID exists.
    ``param`` formats a parameter's name in the driver's style."""
    c, e, a, v = (param.format(n) for n in "ceav")

    def cols(names: Sequence[str], prefix: str = "") -> str:
        return ", ".join(f"{prefix}{n}" for n in names)

    others = [k for k in event_cols if k != "payload"]
    return (
        f"WITH c AS (INSERT INTO cases ({cols(case_cols)}) "
        f"SELECT {cols(case_cols, 'r.')} FROM jsonb_populate_record(NULL::cases, "
        f"CAST({c} AS jsonb)) r ON CONFLICT (client_uuid) DO NOTHING RETURNING id), "
        f"e AS (INSERT INTO case_actions (case_id, {cols(entry_cols)}) "
        f"SELECT c.id, {cols(entry_cols, 'r.')} FROM c, jsonb_populate_recordset("
        f"NULL::case_actions, CAST({e} AS jsonb)) r ORDER BY r.version RETURNING id), "
        f"a AS (INSERT INTO audit_records (target_id, {cols(audit_cols)}) "
        f"SELECT c.id::text, {cols(audit_cols, 'r.')} FROM c, jsonb_populate_record("
        f"NULL::audit_records, CAST({a} AS jsonb)) r), "
        f"v AS (INSERT INTO event_log (payload, {cols(others)}) "
        "SELECT (CAST(r.payload AS jsonb) || jsonb_build_object('id', c.id, 'number', "
        "(CAST(r.payload AS jsonb) ->> 'number') || CASE WHEN c.id < 100000 "
        "THEN lpad(c.id::text, 5, '0') ELSE c.id::text END))::text, "
        f"{cols(others, 'r.')} FROM c, jsonb_populate_record(NULL::event_log, "
        f"CAST({v} AS jsonb)) r RETURNING id) "
        "SELECT c.id, (SELECT id FROM v), (SELECT array_agg(id ORDER BY id) FROM e) FROM c")


class CaseRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    # --- scoping ---------------------------------------------------------------------------

    def readable_cases(self) -> Select[Case]:
        """Cases in the subject's scope; police-only ones only for police readers and the
        reporter."""
        stmt = readable(self.subject, select(Case), Case.region_code)
        if not self.subject.can(CASE_POLICE):
            mine = (Case.reporter_account_id == self.subject.account_id
                    if self.subject.account_id is not None else None)
            stmt = stmt.where(or_(Case.police_only.is_(False), mine) if mine is not None
                              else Case.police_only.is_(False))
        return stmt

    async def get(self, case_id: int) -> Case | None:
        return (await self.session.execute(
            self.readable_cases().where(Case.id == case_id))).scalar_one_or_none()

    async def by_client_uuid(self, client_uuid: str) -> Case | None:
        """The case with this client UUID whoever reported it (idempotency check only)."""
        return (await self.session.execute(
            select(Case).where(Case.client_uuid == client_uuid))).scalar_one_or_none()

    def _filtered(self, f: CaseFilters) -> Select[Case]:
        stmt = self.readable_cases()
        if f.status:
            stmt = stmt.where(Case.status.in_(list(f.status)))
        if f.category:
            stmt = stmt.where(in_subtree(Case.category_code, f.category))
        if f.subtree:
            stmt = stmt.where(in_subtree(Case.region_code, f.subtree))
        if f.overdue is not None:
            stmt = stmt.where(Case.overdue_at.is_not(None) if f.overdue
                              else Case.overdue_at.is_(None))
        if f.self_handled is not None:
            stmt = stmt.where(Case.self_handled.is_(f.self_handled))
        clauses = []
        if f.assigned is not None:
            regions, orgs = f.assigned
            if regions:
                clauses.append(and_(Case.handler_kind == "region",
                                    Case.handler_code.in_(list(regions)),
                                    Case.status.in_(("dispatched", "in_progress"))))
            if orgs:
                clauses.append(and_(Case.handler_kind == "organisation",
                                    Case.handler_code.in_(list(orgs)),
                                    Case.status.in_(("dispatched", "in_progress"))))
        if f.managing:
            clauses.append(and_(Case.owner_code.in_(list(f.managing)),
                                Case.status.in_(("reported", "accepted", "handled"))))
        if f.assigned is not None or f.managing is not None:
            stmt = stmt.where(or_(*clauses) if clauses else ~true())
        return stmt

    async def page(self, f: CaseFilters, before: int | None, limit: int) -> list[Case]:
        """Newest first; ``before`` is the last id of the previous page (keyset)."""
        stmt = self._filtered(f)
        if before is not None:
            stmt = stmt.where(Case.id < before)
        return list((await self.session.execute(
            stmt.order_by(Case.id.desc()).limit(limit))).scalars())

    async def counts(self, f: CaseFilters) -> tuple[dict[str, int], int]:
        """Per-status counts and the number of open overdue cases under the filters."""
        base = self._filtered(f).subquery()
        rows = (await self.session.execute(
            select(base.c.status, func.count(),
                   func.count(base.c.overdue_at)).group_by(base.c.status))).all()
        by_status = {status: int(n) for status, n, _ in rows}
        return by_status, sum(int(o) for _, _, o in rows)

    async def open_counts_by_prefix(self, f: CaseFilters, length: int
                                    ) -> dict[str, tuple[int, int]]:
        """{region prefix of ``length``: (open cases, open overdue cases)} under the filters,
        in one grouped query (a command centre colours its child regions with it)."""
        base = self._filtered(f).where(Case.status.in_(OPEN_STATUSES)).subquery()
        prefix = func.substr(base.c.region_code, 1, length)
        rows = (await self.session.execute(
            select(prefix, func.count(), func.count(base.c.overdue_at)).group_by(prefix))).all()
        return {str(p): (int(n), int(o)) for p, n, o in rows}

    async def timeline(self, case_id: int) -> list[CaseAction]:
        return list((await self.session.execute(
            select(CaseAction).where(CaseAction.case_id == case_id).order_by(CaseAction.id)
        )).scalars())

    async def photos_of(self, case_ids: Sequence[int]) -> list[CasePhoto]:
        if not case_ids:
            return []
        return list((await self.session.execute(
            select(CasePhoto).where(CasePhoto.case_id.in_(list(case_ids)))
            .order_by(CasePhoto.id))).scalars())

    # --- writes' helpers -------------------------------------------------------------------

    async def insert_report(self, case: dict[str, Any], entries: list[dict[str, Any]],
                            audit: dict[str, Any], event: dict[str, Any],
                            direct: AsyncConnectionPool | None = None
                            ) -> tuple[int, list[int], int] | None:
        """Inserts a new case with its timeline entries, audit record and event, in one
        statement on PostgreSQL (the intake hot path). Returns (case id, entry ids, event id),
        or None when a case with the same client UUID exists (nothing is written then).

        With ``direct`` (PostgreSQL) the statement runs on an autocommit connection of that
        pool, outside the session: it commits by itself (decision 0012)."""
        if direct is not None:
            async with direct.connection() as conn:
                cur = await conn.execute(_report_sql(case, entries, audit, event),
                                         _report_params(case, entries, audit, event),
                                         prepare=True)
                return _report_result(await cur.fetchone())
        if (await self.session.connection()).dialect.name == "postgresql":
            return _report_result((await self.session.execute(
                _report_text(tuple(case), tuple(entries[0]), tuple(audit), tuple(event)),
                _report_params(case, entries, audit, event))).first())
        stmt = sqlite.insert(Case).values(**case).on_conflict_do_nothing(
            index_elements=[Case.client_uuid]).returning(Case.id)
        case_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if case_id is None:
            return None
        entry_ids = [(await self.session.execute(
            insert(CaseAction).values(case_id=case_id, **e).returning(CaseAction.id)
        )).scalar_one() for e in entries]
        await self.session.execute(insert(AuditRecord).values(target_id=str(case_id), **audit))
        event_id = (await self.session.execute(insert(EventLogEntry).values(
            payload=_with_id(event["payload"], case_id),
            **{k: v for k, v in event.items() if k != "payload"}).returning(EventLogEntry.id)
        )).scalar_one()
        return case_id, entry_ids, event_id

    async def claim_photos(self, photo_ids: Sequence[int], case_id: int,
                           action_id: int | None) -> int:
        """Attaches the caller's unattached uploads to a case; returns how many matched."""
        if not photo_ids:
            return 0
        result = await self.session.execute(
            update(CasePhoto)
            .where(CasePhoto.id.in_(list(photo_ids)), CasePhoto.case_id.is_(None),
                   CasePhoto.uploaded_by == self.subject.account_id)
            .values(case_id=case_id, action_id=action_id)
            .execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def photo(self, photo_id: int) -> CasePhoto | None:
        """A photo the caller uploaded, or one attached to a case, a directive or an
        assignment the caller may read."""
        from wangge.directives.repository import DirectiveRepository

        row = await self.session.get(CasePhoto, photo_id)
        if row is None:
            return None
        if row.case_id is not None:
            return row if await self.get(row.case_id) is not None else None
        directives = DirectiveRepository(self.session, self.subject)
        if row.directive_id is not None:
            return row if await directives.get(row.directive_id) is not None else None
        if row.assignment_id is not None:
            return row if await directives.assignment(row.assignment_id) is not None else None
        return row if row.uploaded_by == self.subject.account_id else None

    # --- reference data ---------------------------------------------------------------------

    async def categories(self) -> list[CaseCategory]:
        return list((await self.session.execute(
            select(CaseCategory).order_by(CaseCategory.sort_order, CaseCategory.code)
        )).scalars())

    async def category(self, code: str) -> CaseCategory | None:
        return await self.session.get(CaseCategory, code)

    async def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        """Names of regions (handlers and owners are on the case's path: above the grid)."""
        if not codes:
            return {}
        rows = await self.session.execute(
            select(Region.code, Region.name).where(Region.code.in_(list(codes))))
        return {c: n for c, n in rows}

    async def region_exists(self, code: str) -> bool:
        return (await self.session.execute(
            select(Region.code).where(Region.code == code))).first() is not None

    async def serving_organisation(self, code: str, region_code: str
                                   ) -> Organisation | None:
        """The organisation ``code`` if it serves ``region_code`` (covers one of its
        ancestors, or sits above it when it declares no coverage)."""
        org = (await self.session.execute(
            select(Organisation).where(Organisation.code == code))).scalar_one_or_none()
        if org is None:
            return None
        covered = list((await self.session.execute(
            select(OrganisationCoverage.region_code)
            .where(OrganisationCoverage.organisation_id == org.id))).scalars())
        homes = covered or [org.region_code]
        return org if any(region_code.startswith(h) for h in homes) else None

    async def serving_organisations(self, region_code: str) -> list[Organisation]:
        """Organisations serving ``region_code``: those covering one of its ancestors (or
        itself), and those without coverage whose home region lies above it."""
        prefixes = [region_code[:n] for n in range(2, len(region_code) + 1)]
        covering = select(OrganisationCoverage.organisation_id).where(
            OrganisationCoverage.region_code.in_(prefixes))
        any_coverage = select(OrganisationCoverage.organisation_id).where(
            OrganisationCoverage.organisation_id == Organisation.id).exists()
        return list((await self.session.execute(
            select(Organisation).where(or_(
                Organisation.id.in_(covering),
                and_(~any_coverage, Organisation.region_code.in_(prefixes))))
            .order_by(Organisation.region_code, Organisation.kind, Organisation.code)
        )).scalars())

    async def calendar_overrides(self) -> dict[date, str]:
        rows = await self.session.execute(select(CalendarDay.day, CalendarDay.kind))
        return {d: k for d, k in rows}

    async def calendar_day(self, day: date) -> CalendarDay | None:
        return await self.session.get(CalendarDay, day)

    # --- deadline sweep (set-based; runs as the system) -------------------------------------

    async def mark_overdue(self, now: datetime, actor: str, announce: OverdueAnnouncement,
                           returning: bool) -> tuple[int, list[EventLogEntry]]:
        """Marks every running clock past its deadline with ``overdue_at = now``, adds an
        ``overdue`` timeline entry by ``actor`` to each case marked and logs ``announce``'s
        events for them. Returns how many were marked and, with ``returning`` (the app
        publishes them itself), the events logged.

        Set-based, the cases never come to Python: a sweep may mark a hundred thousand at once.
        On PostgreSQL it is one statement, the entries and events read the UPDATE's RETURNING;
        elsewhere (SQLite has no UPDATE in a WITH) three, the entries and events finding the
        cases by their mark (``_marked_at``)."""
        mark = (update(Case).where(Case.due_at < now, Case.overdue_at.is_(None))
                .values(overdue_at=now).execution_options(synchronize_session=False))
        dialect = (await self.session.connection()).dialect.name
        if dialect == "postgresql":
            marked = mark.returning(*_MARKED_COLUMNS).cte("marked")
            events = _overdue_events(marked, announce, dialect).returning(
                *(_EVENT_COLUMNS if returning else (EventLogEntry.id,))).cte("events")
            # One row per event, each carrying the number marked (no row: none marked).
            rows = (await self.session.execute(
                select(events, select(func.count()).select_from(marked).scalar_subquery()
                       .label("marked"))
                .add_cte(_overdue_entries(marked, now, actor).cte("entries")))).all()
            logged = [EventLogEntry(**{k: v for k, v in r._mapping.items() if k != "marked"})
                      for r in rows] if returning else []
            return (int(rows[0].marked) if rows else 0), logged
        count = int((await self.session.execute(mark)).rowcount or 0)  # type: ignore[attr-defined]
        if not count:
            return 0, []
        stamped = select(*_MARKED_COLUMNS).where(*_marked_at(now)).subquery("marked")
        await self.session.execute(_overdue_entries(stamped, now, actor))
        insert_events = _overdue_events(stamped, announce, dialect)
        if not returning:
            await self.session.execute(insert_events)
            return count, []
        return count, list((await self.session.execute(
            insert_events.returning(EventLogEntry))).scalars())

    async def due_for_supervision(self, marked_before: datetime, limit: int) -> list[Case]:
        """Cases overdue since before ``marked_before`` that the system has not escalated.
        (A case is marked after its deadline, so its deadline is before ``marked_before`` too:
        the query ranges over ``ix_cases_due_at``.)"""
        return list((await self.session.execute(
            select(Case).where(Case.overdue_at < marked_before, Case.supervised_at.is_(None),
                               Case.due_at < marked_before)
            .order_by(Case.overdue_at).limit(limit))).scalars())


# --- the deadline sweep's statements ----------------------------------------------------------


@dataclass(frozen=True)
class OverdueAnnouncement:
    """The stream event logged per grid and visibility class for the cases the sweep marks:
    payload ``{"cases": [the first ``listed`` by id: id, step, number, handler_code,
    owner_code], "count": n}``, readable with ``police_permission`` when the cases are
    police-only, else with ``read_permission``."""

    type: str
    police_permission: str
    read_permission: str
    listed: int


# What the timeline entries and the events need of each marked case.
_MARKED_COLUMNS = (Case.id, Case.status, Case.version, Case.step, Case.region_code,
                   Case.police_only, Case.handler_code, Case.owner_code, Case.reported_at)
_EVENT_COLUMNS = (EventLogEntry.id, EventLogEntry.at, EventLogEntry.type,
                  EventLogEntry.region_code, EventLogEntry.permission, EventLogEntry.payload)


def _marked_at(marked_at: datetime) -> tuple[ColumnElement[bool], ...]:
    """The cases the sweep marked at ``marked_at``. Each was due before its mark; saying so
    lets the query range over ``ix_cases_due_at``."""
    return Case.overdue_at == marked_at, Case.due_at < marked_at


def _overdue_entries(marked: FromClause, marked_at: datetime, actor: str) -> Insert:
    """An ``overdue`` timeline entry for each case of ``marked`` (see ``_MARKED_COLUMNS``)."""
    m = marked.c
    step = func.coalesce(m.step, "")
    return insert(CaseAction).from_select(
        ["case_id", "action", "at", "actor", "from_status", "to_status", "version", "note",
         "data"],
        select(m.id, literal("overdue"), literal(marked_at, UTCDateTime()), literal(actor),
               m.status, m.status, m.version, literal("step ") + step + literal(" overdue"),
               literal('{"step": "') + step + literal('"}')))


def _overdue_events(marked: FromClause, announce: OverdueAnnouncement, dialect: str) -> Insert:
    """``announce``'s events for the cases of ``marked``, payloads built in the database."""
    group = (marked.c.region_code, marked.c.police_only)
    ranked = (select(marked, func.row_number().over(partition_by=group, order_by=marked.c.id)
                     .label("rank"))
              # SQLite aggregates in input order (it has no ORDER BY inside an aggregate).
              .order_by(*group, marked.c.id).subquery("ranked"))
    m = ranked.c
    entry = _json_object(dialect, id=m.id, step=m.step,
                         number=_case_number(dialect, m.id, m.region_code, m.reported_at),
                         handler_code=m.handler_code, owner_code=m.owner_code)
    cases = (func.json_agg(aggregate_order_by(entry, m.id)) if dialect == "postgresql"
             else func.json_group_array(entry))
    payload = _json_object(dialect, cases=cases.filter(m.rank <= announce.listed),
                           count=func.count())
    return insert(EventLogEntry).from_select(
        ["at", "type", "region_code", "permission", "payload"],
        select(literal(utcnow(), UTCDateTime()), literal(announce.type), m.region_code,
               sql_case((m.police_only, announce.police_permission),
                        else_=announce.read_permission),
               cast(payload, Text))
        .group_by(m.region_code, m.police_only).order_by(m.region_code, m.police_only))


def _json_object(dialect: str, **members: ColumnElement[Any]) -> ColumnElement[str]:
    """A JSON object built in the database, members in the given order."""
    args = [arg for key, value in members.items() for arg in (literal(key), value)]
    return (func.json_build_object if dialect == "postgresql" else func.json_object)(*args)


def _case_number(dialect: str, case_id: ColumnElement[int], region_code: ColumnElement[str],
                 reported_at: ColumnElement[datetime]) -> ColumnElement[str]:
    """``wangge.models.case.case_number`` in SQL: ``SJ-<county>-<local date>-<id>``."""
    day: ColumnElement[str]
    serial: ColumnElement[str]
    if dialect == "postgresql":
        day = func.to_char(func.timezone(SHANGHAI.key, reported_at), "YYYYMMDD")
        serial = sql_case((case_id < 100000, func.lpad(cast(case_id, Text), 5, "0")),
                          else_=cast(case_id, Text))
    else:
        # SQLite stores naive UTC and knows no time zones; Shanghai has kept UTC+8 since 1991.
        day = func.strftime("%Y%m%d", reported_at, "+8 hours")
        serial = func.printf("%05d", case_id)
    return literal("SJ-") + func.substr(region_code, 1, 6) + "-" + day + "-" + serial
