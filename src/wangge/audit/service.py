"""Reading the audit trail: scoped searches for administrators, and chain verification."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wangge.audit import chain
from wangge.audit.repository import AuditRepository
from wangge.audit.schemas import AuditPage, AuditQuery, AuditRecordOut, ChangeOut
from wangge.authz.permissions import AUDIT_READ
from wangge.authz.scope import Subject
from wangge.kit.db import create_sessionmaker, transaction
from wangge.kit.errors import Forbidden, InvalidInput
from wangge.models import AuditRecord

MAX_LIMIT = 200


def record_out(r: AuditRecord) -> AuditRecordOut:
    changes = json.loads(r.changes) if r.changes else {}
    return AuditRecordOut(
        id=r.id, at=r.at, actor=r.actor, actor_account_id=r.actor_account_id, post=r.post,
        action=r.action, target_type=r.target_type, target_id=r.target_id,
        region_code=r.region_code, client_addr=r.client_addr, hash=r.hash,
        changes={k: ChangeOut(before=v[0], after=v[1]) for k, v in changes.items()},
    )


def check_query(query: AuditQuery) -> None:
    """Refuses filters that cannot mean what the caller intended (naming the field)."""
    if query.region is not None and (not query.region.isdigit() or len(query.region) > 15):
        raise InvalidInput("region", f"{query.region!r} is not a region code (1-15 digits)")
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise InvalidInput(name, "give a timezone offset, e.g. 2026-01-01T08:00:00+08:00")
    if query.since and query.until and query.since >= query.until:
        raise InvalidInput("until", "must be later than since")


class AuditService:
    async def search(
        self, session: AsyncSession, subject: Subject, query: AuditQuery, *,
        after_id: int | None = None, limit: int = 50,
    ) -> AuditPage:
        """A page of the records in the subject's scope that match ``query``, newest first."""
        if not subject.can(AUDIT_READ):
            raise Forbidden(f"permission {AUDIT_READ} required", permission=AUDIT_READ)
        check_query(query)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
        if after_id is not None and after_id < 1:
            raise InvalidInput("after_id", "must be a record id (1 or more)")
        rows = await AuditRepository(session, subject).search(query, after_id=after_id,
                                                              limit=limit + 1)
        more = len(rows) > limit
        items = [record_out(r) for r in rows[:limit]]
        return AuditPage(items=items, next_after_id=items[-1].id if more else None)

    async def verify(
        self, engine: AsyncEngine, *, anchors: Sequence[tuple[int, str]] = (),
        progress: Callable[[int], None] | None = None,
    ) -> chain.Verification:
        """Seals what is committed, then recomputes the whole chain (a system job: it reads
        every record, unscoped)."""
        async with transaction(create_sessionmaker(engine)) as session:
            await chain.seal_all(session)
        async with engine.connect() as conn:
            return await chain.verify(conn, anchors=anchors, progress=progress)

    async def count(self, engine: AsyncEngine) -> int:
        """How many records the chain holds (for a progress bar)."""
        async with engine.connect() as conn:
            return await chain.count(conn)


audit_service = AuditService()
