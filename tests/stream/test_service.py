"""The seam between replay and live events: nothing missed, nothing twice."""

from __future__ import annotations

import json

import pytest

from wangge.authz.scope import Subject
from wangge.kit import bus
from wangge.kit.bus import Bus, Event, InProcessBackend
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.stream.service import StreamRequest, stream_service, visible

pytestmark = pytest.mark.anyio

GRID = "410702001001001"


def north() -> Subject:
    return Subject(name="n", prefixes=("410702",), permissions=frozenset({"case:read"}))


class TestVisibility:
    def test_needs_both_scope_and_permission(self) -> None:
        ev = bus.PublishedEvent(1, "t", GRID, "case:read", {}, "x")
        assert visible(north(), ev)
        assert not visible(north(), bus.PublishedEvent(1, "t", "410703001001001", "case:read",
                                                       {}, "x"))
        assert not visible(north(), bus.PublishedEvent(1, "t", GRID, "admin:users", {}, "x"))
        assert not visible(Subject(name="nobody"), ev)


class TestSeam:
    async def test_an_event_both_replayed_and_delivered_live_is_sent_once(
        self, database: str
    ) -> None:
        engine = create_engine(database)
        maker = create_sessionmaker(engine)
        local = await Bus(InProcessBackend()).start()  # not this process's bus: no auto-publish
        try:
            async with maker() as session:
                first = await bus.queue(session, Event("t", GRID, "case:read", {"n": 1}))
                seam = await bus.queue(session, Event("t", GRID, "case:read", {"n": 2}))
                await session.commit()
            req = StreamRequest(subject=north(), last_event_id=first.id, token_hash=None)
            messages = stream_service.events(maker, local, req)
            replayed = await anext(messages)  # subscribed, then replayed the log
            # The same event now also arrives live (it committed while the stream subscribed),
            # followed by a new one.
            live = bus.PublishedEvent(seam.id + 1, "t", GRID, "case:read", {"n": 3}, "x")
            await local.publish([bus.PublishedEvent.from_entry(seam), live])
            following = await anext(messages)
            await messages.aclose()
        finally:
            await local.stop()
            await engine.dispose()
        assert replayed["id"] == str(seam.id) and json.loads(replayed["data"])["payload"] == {
            "n": 2}
        assert following["id"] == str(live.id)
        assert local.subscribers == 0
