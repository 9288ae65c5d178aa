"""Every query of the cases domain. Lists and details start from ``readable_cases``."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Select,
    TextClause,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import CASE_POLICE
from wangge.authz.scope import Subject, in_subtree, readable
from wangge.kit.db import UTCDateTime
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


@functools.lru_cache(maxsize=16)
def _report_statement(case_cols: tuple[str, ...], entry_cols: tuple[str, ...],
                      audit_cols: tuple[str, ...], event_cols: tuple[str, ...]) -> TextClause:
    """The intake statement: case, timeline entries, audit record and event from four JSON
    documents (``jsonb_populate_record``), skipping everything when the client UUID exists."""
    def cols(names: Sequence[str], prefix: str = "") -> str:
        return ", ".join(f"{prefix}{n}" for n in names)

    others = [k for k in event_cols if k != "payload"]
    return text(
        f"WITH c AS (INSERT INTO cases ({cols(case_cols)}) "
        f"SELECT {cols(case_cols, 'r.')} FROM jsonb_populate_record(NULL::cases, "
        "CAST(:c AS jsonb)) r ON CONFLICT (client_uuid) DO NOTHING RETURNING id), "
        f"e AS (INSERT INTO case_actions (case_id, {cols(entry_cols)}) "
        f"SELECT c.id, {cols(entry_cols, 'r.')} FROM c, jsonb_populate_recordset("
        "NULL::case_actions, CAST(:e AS jsonb)) r ORDER BY r.version RETURNING id), "
        f"a AS (INSERT INTO audit_records (target_id, {cols(audit_cols)}) "
        f"SELECT c.id::text, {cols(audit_cols, 'r.')} FROM c, jsonb_populate_record("
        "NULL::audit_records, CAST(:a AS jsonb)) r), "
        f"v AS (INSERT INTO event_log (payload, {cols(others)}) "
        "SELECT (CAST(r.payload AS jsonb) || jsonb_build_object('id', c.id, 'number', "
        "(CAST(r.payload AS jsonb) ->> 'number') || CASE WHEN c.id < 100000 "
        "THEN lpad(c.id::text, 5, '0') ELSE c.id::text END))::text, "
        f"{cols(others, 'r.')} FROM c, jsonb_populate_record(NULL::event_log, "
        "CAST(:v AS jsonb)) r RETURNING id) "
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
                            audit: dict[str, Any], event: dict[str, Any]
                            ) -> tuple[int, list[int], int] | None:
        """Inserts a new case with its timeline entries, audit record and event, in one
        statement on PostgreSQL (the intake hot path). Returns (case id, entry ids, event id),
        or None when a case with the same client UUID exists (nothing is written then)."""
        if (await self.session.connection()).dialect.name == "postgresql":
            return await self._insert_report_pg(case, entries, audit, event)
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

    async def _insert_report_pg(self, case: dict[str, Any], entries: list[dict[str, Any]],
                                audit: dict[str, Any], event: dict[str, Any]
                                ) -> tuple[int, list[int], int] | None:
        # Four JSON parameters, whatever the row shapes: the statement text is the same for
        # every report, so SQLAlchemy and psycopg reuse its compiled and prepared forms.
        stmt = _report_statement(tuple(case), tuple(entries[0]), tuple(audit), tuple(event))
        row = (await self.session.execute(stmt, {
            "c": _json_param(case), "e": _json_param(entries), "a": _json_param(audit),
            "v": _json_param(event)})).first()
        if row is None:
            return None
        return int(row[0]), [int(x) for x in row[2]], int(row[1])

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
        """A photo the caller uploaded, or one attached to a case the caller may read."""
        row = await self.session.get(CasePhoto, photo_id)
        if row is None:
            return None
        if row.case_id is None:
            return row if row.uploaded_by == self.subject.account_id else None
        return row if await self.get(row.case_id) is not None else None

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

    async def mark_overdue(self, now: datetime) -> list[dict[str, Any]]:
        """Marks every running clock past its deadline; returns the cases marked."""
        stmt = (update(Case).where(Case.due_at < now, Case.overdue_at.is_(None))
                .values(overdue_at=now)
                .returning(Case.id, Case.region_code, Case.reported_at, Case.status, Case.step,
                           Case.version, Case.handler_code, Case.owner_code, Case.police_only)
                .execution_options(synchronize_session=False))
        return [dict(r._mapping) for r in await self.session.execute(stmt)]

    async def add_overdue_entries(self, marked_at: datetime, actor: str) -> None:
        """Adds an ``overdue`` timeline entry to every case marked at ``marked_at`` (set-based:
        the sweep may mark a hundred thousand cases at once)."""
        step = func.coalesce(Case.step, "")
        await self.session.execute(insert(CaseAction).from_select(
            ["case_id", "action", "at", "actor", "from_status", "to_status", "version", "note",
             "data"],
            select(Case.id, literal("overdue"), literal(marked_at, UTCDateTime()),
                   literal(actor), Case.status, Case.status, Case.version,
                   literal("step ") + step + literal(" overdue"),
                   literal('{"step": "') + step + literal('"}'))
            .where(Case.overdue_at == marked_at, Case.supervised_at.is_(None))))

    async def due_for_supervision(self, marked_before: datetime, limit: int) -> list[Case]:
        """Cases overdue since before ``marked_before`` that the system has not escalated."""
        return list((await self.session.execute(
            select(Case).where(Case.overdue_at < marked_before, Case.supervised_at.is_(None),
                               Case.due_at.is_not(None))
            .order_by(Case.overdue_at).limit(limit))).scalars())
