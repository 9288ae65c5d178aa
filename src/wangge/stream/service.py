"""One subscriber's stream: live events from the bus, filtered by scope, after a replay.

The order matters for "nothing missed, nothing twice": subscribe to the bus first, then replay
the event log from ``Last-Event-ID`` (a short session per page), then pass live events on,
skipping those the replay already sent. No database session is held while waiting; the token
is re-checked every ``recheck_seconds`` with a short session, and the stream ends when it has
been revoked or has expired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wangge.auth.repository import AuthRepository
from wangge.authz.scope import Subject, scope_ancestors
from wangge.kit.bus import Bus, PublishedEvent, Subscription
from wangge.kit.db import utcnow
from wangge.stream.repository import EventLogRepository

REPLAY_PAGE = 500


# Events addressed to a whole subtree: seen by every level above their region (as all events
# are) and also by everyone below it — a directive issued to a county reaches its grids.
REACHES_DOWN = frozenset({"directive.issued", "directive.reminded", "directive.comment"})


def visible(subject: Subject, event: PublishedEvent,
            above: frozenset[str] | None = None) -> bool:
    """The subject may see ``event``: it holds its permission, and the event's region lies in
    scope — or, for an event that reaches down, above it (``above``: the subject's
    ``scope_ancestors``, computed once per subscriber)."""
    if not subject.can(event.permission):
        return False
    if subject.can_read_code(event.region_code):
        return True
    if event.type not in REACHES_DOWN:
        return False
    if above is None:
        above = frozenset(scope_ancestors(subject))
    return event.region_code in above


def sse_message(event: PublishedEvent) -> dict[str, Any]:
    """``id:`` = event-log id, ``event:`` = type, ``data:`` = the event as JSON (encoded once
    per event, however many subscribers it goes to)."""
    return {"id": str(event.id), "event": event.type, "data": event.message_json}


@dataclass
class StreamRequest:
    subject: Subject
    last_event_id: int | None
    token_hash: str | None


class StreamService:
    async def replay(self, session: AsyncSession, subject: Subject, last_id: int,
                     limit: int = REPLAY_PAGE) -> list[PublishedEvent]:
        """The subject's readable events after ``last_id`` (one page)."""
        return await EventLogRepository(session, subject).after(last_id, limit)

    async def token_live(self, session: AsyncSession, token_hash: str) -> bool:
        return await AuthRepository(session).live_session(token_hash, utcnow()) is not None

    async def events(
        self, sessionmaker: async_sessionmaker[AsyncSession], bus: Bus, req: StreamRequest, *,
        queue_size: int = 1000, recheck_seconds: float = 60.0,
        shutdown: anyio.Event | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The SSE messages for one subscriber, until the bus closes, the server shuts down
        (``shutdown`` is set) or the token dies."""
        subject = req.subject
        above = frozenset(scope_ancestors(subject))
        sub = bus.subscribe(lambda ev: visible(subject, ev, above), maxsize=queue_size)
        watcher = asyncio.create_task(_close_on(shutdown, sub)) if shutdown else None
        try:
            replayed: set[int] = set()
            if req.last_event_id is not None:
                last = req.last_event_id
                while True:
                    async with sessionmaker() as session:
                        page = await self.replay(session, subject, last)
                    for ev in page:
                        replayed.add(ev.id)
                        last = ev.id
                        yield sse_message(ev)
                    if len(page) < REPLAY_PAGE:
                        break
            next_check = time.monotonic() + recheck_seconds
            while True:
                try:
                    item = await sub.get(timeout=max(0.0, next_check - time.monotonic()))
                except TimeoutError:
                    if req.token_hash is not None:
                        async with sessionmaker() as session:
                            if not await self.token_live(session, req.token_hash):
                                return
                    next_check = time.monotonic() + recheck_seconds
                    continue
                if item is None:
                    return
                if item.id in replayed:
                    replayed.discard(item.id)
                    continue
                yield sse_message(item)
                await asyncio.sleep(0)
        finally:
            if watcher is not None:
                watcher.cancel()
            bus.unsubscribe(sub)


async def _close_on(shutdown: anyio.Event, sub: Subscription) -> None:
    # Ending the generator (rather than being cancelled) lets the response finish cleanly.
    await shutdown.wait()
    sub.close()


stream_service = StreamService()
