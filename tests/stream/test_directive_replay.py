"""Directive events on the stream reach down into their region (decision 0013), on the replay
path as well as live: a grid worker back from away gets, from ``Last-Event-ID``, the
``directive.issued`` of a directive issued to its county meanwhile; a worker of the other
county does not; and an event of any other type at the county's code still does not reach
the grids below it (only ``stream.service.REACHES_DOWN`` types do)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from tests.stream.support import (
    CITY,
    NORTH,
    NORTH_GRID,
    SOUTH_GRID,
    SSE,
    SSEStream,
    add_regions,
    issue_token,
    serve,
)

from wangge.app import create_app
from wangge.auth.subjects import subject_for
from wangge.config import Settings
from wangge.kit import bus
from wangge.kit.bus import Event
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.models import Account
from wangge.stream.repository import EventLogRepository
from wangge.stream.service import REACHES_DOWN, visible

pytestmark = pytest.mark.anyio

STREAM = "/api/v1/stream"
# Event types at a county's code that must not reach its grids, with their permissions.
STAYS_UP = {"case.reported": "case:read", "assignment.acknowledge": "directive:read",
            "assignment.escalate": "directive:read", "directive.overdue": "directive:read"}
ACCOUNTS = {
    "city": [("commander", CITY)],
    "north_county": [("commander", NORTH)],
    "north_grid": [("grid_member", NORTH_GRID)],
    "south_grid": [("grid_member", SOUTH_GRID)],
}


@dataclass
class World:
    url: str
    tokens: dict[str, str]

    def headers(self, who: str, last_event_id: int | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.tokens[who]}"}
        if last_event_id is not None:
            out["Last-Event-ID"] = str(last_event_id)
        return out

    async def publish(self, *events: Event) -> list[int]:
        """Commits events the way an action does (queue + commit) from another connection."""
        engine = create_engine(self.url)
        try:
            async with create_sessionmaker(engine)() as session:
                ids = [(await bus.queue(session, e)).id for e in events]
                await session.commit()
            return ids
        finally:
            await engine.dispose()


@pytest.fixture
async def world(database: str) -> AsyncIterator[World]:
    engine = create_engine(database)
    tokens = {}
    try:
        async with create_sessionmaker(engine)() as session:
            await add_regions(session)
            for who, posts in ACCOUNTS.items():
                tokens[who], _ = await issue_token(session, who, posts)
            await session.commit()
    finally:
        await engine.dispose()
    yield World(database, tokens)


@pytest.fixture
async def server(world: World) -> AsyncIterator[str]:
    settings = Settings(database_url=world.url, scheduler=False, stream_heartbeat_seconds=0.3,
                        stream_recheck_seconds=0.5)
    async with serve(create_app(settings)) as (base, _):
        yield base


async def wait_subscribers(n: int) -> None:
    for _ in range(200):
        current = bus.current()
        if current is not None and current.subscribers >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} subscriber(s) never connected")


def case_event(region: str, n: int) -> Event:
    return Event("case.reported", region, "case:read", {"n": n})


async def replay(client: httpx.AsyncClient, world: World, who: str, last_id: int,
                 expected: int) -> list[SSE]:
    """Reconnects as ``who`` from ``last_id``: the ``expected`` replayed events, then checks
    that nothing else arrives."""
    async with client.stream("GET", STREAM, headers=world.headers(who, last_id)) as res:
        assert res.status_code == 200
        stream = SSEStream(res)
        got = await stream.events(expected)
        with pytest.raises(TimeoutError):
            await stream.next(timeout=0.6)
    return got


class TestReplayReachesDown:
    async def test_a_worker_back_from_away_gets_the_directive_issued_to_its_county(
        self, world: World, server: str
    ) -> None:
        async with httpx.AsyncClient(base_url=server, timeout=10) as client:
            # Both workers are connected and each sees an event of its own grid; then they go.
            last: dict[str, int] = {}
            async with client.stream("GET", STREAM, headers=world.headers("north_grid")) as n, \
                    client.stream("GET", STREAM, headers=world.headers("south_grid")) as s:
                north, south = SSEStream(n), SSEStream(s)
                await wait_subscribers(2)
                await world.publish(case_event(NORTH_GRID, 1), case_event(SOUTH_GRID, 2))
                [seen_n], [seen_s] = await north.events(1), await south.events(1)
                assert seen_n.json()["payload"] == {"n": 1}
                assert seen_s.json()["payload"] == {"n": 2}
                last = {"north_grid": int(seen_n.id or 0), "south_grid": int(seen_s.id or 0)}
            # Meanwhile the city issues a directive to the north county, and a case event is
            # published at the county's own code.
            r = await client.post("/api/v1/directives", headers=world.headers("city"), json={
                "targets": [{"subtree": NORTH}], "title": "防汛检查", "body": "立即排查",
                "kind": "emergency"})
            assert r.status_code == 201, r.text
            directive = r.json()
            assert directive["target_count"] == 1
            [at_county] = await world.publish(case_event(NORTH, 3))

            [issued] = await replay(client, world, "north_grid", last["north_grid"], 1)
            assert issued.event == "directive.issued"
            body = issued.json()
            assert body["region_code"] == NORTH
            assert body["payload"]["id"] == directive["id"]
            assert body["payload"]["target"] == NORTH and body["payload"]["issuer_region"] == CITY
            assert int(issued.id or 0) < at_county  # the case event after it was not sent

            # The other county's worker missed nothing of its own: nothing to replay.
            await replay(client, world, "south_grid", last["south_grid"], 0)

            # The county itself replays both: the case event exists, it just stays up.
            county = await replay(client, world, "north_county", last["north_grid"], 2)
            assert [m.event for m in county] == ["directive.issued", "case.reported"]
            assert county[1].id == str(at_county)

    async def test_live_a_case_event_at_the_county_stays_up_a_reminder_reaches_down(
        self, world: World, server: str
    ) -> None:
        async with httpx.AsyncClient(base_url=server, timeout=10) as client, \
                client.stream("GET", STREAM, headers=world.headers("north_grid")) as n, \
                client.stream("GET", STREAM, headers=world.headers("south_grid")) as s:
            north, south = SSEStream(n), SSEStream(s)
            await wait_subscribers(2)
            ids = await world.publish(
                case_event(NORTH, 1),
                Event("directive.reminded", NORTH, "directive:read", {"n": 2}))
            [got] = await north.events(1)
            with pytest.raises(TimeoutError):
                await north.next(timeout=0.4)
            with pytest.raises(TimeoutError):
                await south.next(timeout=0.2)
        assert (got.event, got.id) == ("directive.reminded", str(ids[1]))


class TestReplayQuery:
    async def test_the_replay_query_and_the_live_filter_agree_on_every_type(
        self, world: World
    ) -> None:
        """One event of each reaching-down type and of each type that stays up, at the north
        county's code: ``EventLogRepository.after`` (SQL) returns to each subscriber exactly
        what ``visible`` (live) lets through — the reaching-down types to the grid below, all
        of them to the county, none to the other county's grid."""
        types = {**dict.fromkeys(sorted(REACHES_DOWN), "directive:read"), **STAYS_UP}
        engine = create_engine(world.url)
        maker = create_sessionmaker(engine)
        try:
            async with maker() as session:
                marker = await bus.queue(session, case_event(CITY, 0))
                entries = [await bus.queue(session, Event(t, NORTH, p, {"t": t}))
                           for t, p in types.items()]
                await session.commit()
                published = [bus.PublishedEvent.from_entry(e) for e in entries]
                got: dict[str, list[str]] = {}
                for who in ("north_grid", "north_county", "south_grid"):
                    account = (await session.execute(
                        select(Account).where(Account.username == who))).scalar_one()
                    subject = await subject_for(session, account)
                    replayed = await EventLogRepository(session, subject).after(marker.id, 100)
                    got[who] = [e.type for e in replayed]
                    assert got[who] == [e.type for e in published if visible(subject, e)], who
        finally:
            await engine.dispose()
        # The three types addressed to a whole subtree (docs/directives.md), and no other.
        assert got["north_grid"] == ["directive.comment", "directive.issued",
                                     "directive.reminded"]
        assert got["north_county"] == list(types)
        assert got["south_grid"] == []
