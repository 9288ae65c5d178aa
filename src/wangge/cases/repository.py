"""Every query of the cases domain. Lists and details start from ``readable_cases``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import CASE_POLICE
from wangge.authz.scope import Subject, in_subtree, readable
from wangge.models import (
    CalendarDay,
    Case,
    CaseAction,
    CaseCategory,
    CaseCounter,
    CasePhoto,
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

    async def next_number(self, county: str, day: str) -> int:
        """The next case serial of a county and day (one atomic upsert)."""
        dialect = (await self.session.connection()).dialect.name
        ins = (postgresql.insert(CaseCounter) if dialect == "postgresql"
               else sqlite.insert(CaseCounter))
        stmt = ins.values(county=county, day=day, last=1).on_conflict_do_update(
            index_elements=[CaseCounter.county, CaseCounter.day],
            set_={"last": CaseCounter.last + 1},
        ).returning(CaseCounter.last)
        return int((await self.session.execute(stmt)).scalar_one())

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
                .returning(Case.id, Case.region_code, Case.number, Case.status, Case.step,
                           Case.version, Case.handler_code, Case.owner_code, Case.police_only)
                .execution_options(synchronize_session=False))
        return [dict(r._mapping) for r in await self.session.execute(stmt)]

    async def due_for_supervision(self, marked_before: datetime, limit: int) -> list[Case]:
        """Cases overdue since before ``marked_before`` that the system has not escalated."""
        return list((await self.session.execute(
            select(Case).where(Case.overdue_at < marked_before, Case.supervised_at.is_(None),
                               Case.due_at.is_not(None))
            .order_by(Case.overdue_at).limit(limit))).scalars())
