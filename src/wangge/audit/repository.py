"""Every query of audit searches, scoped by the record's region."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.audit.schemas import AuditQuery
from wangge.authz.scope import Subject, in_subtree, readable
from wangge.models import AuditRecord


class AuditRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def get_readable_statement(self) -> Select[AuditRecord]:
        """Records whose region lies in the subject's scope.

        A record without a region is system-wide (e.g. loading all of China's divisions): only a
        subject whose scope is the whole tree (the empty prefix) reads it.
        """
        stmt = select(AuditRecord)
        if "" in self.subject.prefixes:
            return readable(self.subject, stmt, func.coalesce(AuditRecord.region_code, ""))
        return readable(self.subject, stmt, AuditRecord.region_code)

    async def search(self, query: AuditQuery, *, after_id: int | None, limit: int
                     ) -> list[AuditRecord]:
        """Up to ``limit`` matching records, newest first, with ids below ``after_id``."""
        stmt = self.get_readable_statement()
        if query.actor:
            stmt = stmt.where(AuditRecord.actor == query.actor)
        if query.action:
            if query.action.endswith("*"):
                stmt = stmt.where(AuditRecord.action.startswith(query.action[:-1],
                                                                autoescape=True))
            else:
                stmt = stmt.where(AuditRecord.action == query.action)
        if query.target_type:
            stmt = stmt.where(AuditRecord.target_type == query.target_type)
        if query.target_id:
            stmt = stmt.where(AuditRecord.target_id == query.target_id)
        if query.region:
            stmt = stmt.where(in_subtree(AuditRecord.region_code, query.region))
        if query.since:
            stmt = stmt.where(AuditRecord.at >= query.since)
        if query.until:
            stmt = stmt.where(AuditRecord.at < query.until)
        if after_id is not None:
            stmt = stmt.where(AuditRecord.id < after_id)
        return list((await self.session.scalars(
            stmt.order_by(AuditRecord.id.desc()).limit(limit)
        )).all())
