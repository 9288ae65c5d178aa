"""Named actions: every write records who did what to which target, and queues its events.

A domain service method changes rows, then calls ``record(...)`` once per action. The audit
record is chained in the same transaction; the events are published after commit (``kit.bus``).
Services never commit: the request, CLI command or job owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.audit.chain import append, canonical_changes
from wangge.authz.scope import Subject
from wangge.kit import bus
from wangge.kit.bus import Event
from wangge.kit.db import utcnow
from wangge.models import AuditRecord

Changes = dict[str, tuple[Any, Any]]


async def record(
    session: AsyncSession, subject: Subject, action: str, *, target_type: str, target_id: Any,
    region_code: str | None = None, changes: Changes | None = None, post: str | None = None,
    events: Sequence[Event] = (),
) -> AuditRecord:
    """Appends the audit record of one named action and queues its events."""
    rec = AuditRecord(
        at=utcnow(), actor_account_id=subject.account_id, actor=subject.name,
        post=post, action=action, target_type=target_type, target_id=str(target_id),
        region_code=region_code, changes=canonical_changes(changes),
        client_addr=subject.client_addr,
    )
    append(session, rec)
    if events:
        await bus.queue_many(session, events)  # flushes the audit record with them
    else:
        await session.flush()
    return rec
