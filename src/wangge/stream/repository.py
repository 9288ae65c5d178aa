"""Every query of the stream domain: the event log, read through the subscriber's scope."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, scope_ancestors, scope_clause
from wangge.kit.bus import PublishedEvent
from wangge.models import EventLogEntry


class EventLogRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def after(self, last_id: int, limit: int) -> list[PublishedEvent]:
        """Readable events with an id above ``last_id`` whose permission the subject holds
        (those that reach down included: ``stream.service.visible``)."""
        from wangge.stream.service import REACHES_DOWN

        where = scope_clause(self.subject, EventLogEntry.region_code)
        above = scope_ancestors(self.subject)
        if above:
            where = or_(where, and_(EventLogEntry.type.in_(sorted(REACHES_DOWN)),
                                    EventLogEntry.region_code.in_(above)))
        stmt = select(EventLogEntry).where(
            where, EventLogEntry.id > last_id,
            EventLogEntry.permission.in_(sorted(self.subject.permissions)),
        ).order_by(EventLogEntry.id).limit(limit)
        return [PublishedEvent.from_entry(e) for e in (await self.session.scalars(stmt))]
