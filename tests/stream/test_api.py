"""GET /api/v1/stream against a real uvicorn server: auth, scope, replay, heartbeats, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from tests.stream.support import (
    NORTH,
    NORTH_GRID,
    SOUTH,
    SOUTH_GRID,
    SSEStream,
    add_regions,
    issue_token,
    serve,
)

from wangge.app import create_app
from wangge.config import Settings
from wangge.kit import bus
from wangge.kit.bus import Event
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.models import AuthSession

pytestmark = pytest.mark.anyio


@dataclass
class World:
    url: str
    tokens: dict[str, str]
    auth_ids: dict[str, int]

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

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}


def ev(grid: str, n: int, permission: str = "case:read") -> Event:
    return Event(type="case.reported", region_code=grid, permission=permission,
                 payload={"n": n})


@pytest.fixture
async def world(database: str) -> AsyncIterator[World]:
    engine = create_engine(database)
    tokens, ids = {}, {}
    try:
        async with create_sessionmaker(engine)() as session:
            await add_regions(session)
            for who, posts in {
                "north": [("commander", NORTH)], "south": [("commander", SOUTH)],
                "city_admin": [("admin", "4107")], "nopost": [],
            }.items():
                tokens[who], auth = await issue_token(session, who, posts)
                ids[who] = auth.id
            await session.commit()
    finally:
        await engine.dispose()
    yield World(database, tokens, ids)


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, scheduler=False, stream_heartbeat_seconds=0.3,
                    stream_recheck_seconds=0.5)


@pytest.fixture
async def server(world: World) -> AsyncIterator[tuple[str, object]]:
    async with serve(create_app(settings_for(world.url))) as running:
        yield running


async def wait_subscribers(n: int) -> None:
    for _ in range(200):
        current = bus.current()
        if current is not None and current.subscribers >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} subscriber(s) never connected")


class TestAccess:
    async def test_refuses_without_a_token(self, server: tuple[str, object]) -> None:
        async with httpx.AsyncClient(base_url=server[0]) as client:
            res = await client.get("/api/v1/stream")
        assert res.status_code == 401 and res.json()["error"] == "unauthorized"

    async def test_refuses_an_account_without_posts(self, world: World,
                                                    server: tuple[str, object]) -> None:
        async with httpx.AsyncClient(base_url=server[0]) as client:
            res = await client.get("/api/v1/stream", headers=world.headers("nopost"))
        assert res.status_code == 403 and res.json()["permission"] == "stream:read"

    async def test_a_malformed_last_event_id_names_the_field(
        self, world: World, server: tuple[str, object]
    ) -> None:
        async with httpx.AsyncClient(base_url=server[0]) as client:
            res = await client.get("/api/v1/stream", params={"last_event_id": "abc"},
                                   headers=world.headers("north"))
        assert res.status_code == 422 and res.json()["field"] == "last_event_id"


class TestDelivery:
    async def test_each_subscriber_gets_exactly_its_scope_and_permissions(
        self, world: World, server: tuple[str, object]
    ) -> None:
        base, stream_url = server[0], "/api/v1/stream"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client, \
                client.stream("GET", stream_url, headers=world.headers("north")) as north_res, \
                client.stream("GET", stream_url, headers=world.headers("south")) as south_res, \
                client.stream("GET", stream_url, headers=world.headers("city_admin")) \
                as admin_res:
            assert north_res.status_code == 200
            assert north_res.headers["content-type"].startswith("text/event-stream")
            north, south, admin = (SSEStream(r) for r in (north_res, south_res, admin_res))
            await wait_subscribers(3)
            ids = await world.publish(
                ev(NORTH_GRID, 1), ev(SOUTH_GRID, 2), ev(NORTH_GRID, 3, "admin:users"),
                ev(NORTH_GRID, 4))
            got_north = await north.events(2)
            got_south = await south.events(1)
            got_admin = await admin.events(4)
            for leaky in (north, south):  # nothing further arrives after the last event
                with pytest.raises(TimeoutError):
                    await leaky.next(timeout=0.3)
        assert [m.json()["payload"]["n"] for m in got_north] == [1, 4]
        assert [m.json()["payload"]["n"] for m in got_south] == [2]
        assert [m.json()["payload"]["n"] for m in got_admin] == [1, 2, 3, 4]
        first = got_north[0]
        assert first.id == str(ids[0]) and first.event == "case.reported"
        body = first.json()
        assert set(body) == {"id", "type", "region_code", "at", "payload"}
        assert body["id"] == ids[0] and body["region_code"] == NORTH_GRID

    async def test_sends_heartbeats_and_holds_no_database_connection_while_idle(
        self, world: World, server: tuple[str, object]
    ) -> None:
        async with httpx.AsyncClient(base_url=server[0], timeout=10) as client, \
                client.stream("GET", "/api/v1/stream", headers=world.headers("north")) as res:
            stream = SSEStream(res)
            await wait_subscribers(1)
            with pytest.raises(TimeoutError):
                await stream.next(timeout=1.0)  # nothing to deliver: only heartbeats
        assert stream.comments and all(c.startswith("ping") for c in stream.comments)

    async def test_no_connection_is_checked_out_during_a_stream(
        self, world: World, database: str
    ) -> None:
        app = create_app(settings_for(database))
        async with serve(app) as (base, _), httpx.AsyncClient(base_url=base, timeout=10) \
                as client, client.stream("GET", "/api/v1/stream",
                                         headers=world.headers("north")) as res:
            assert res.status_code == 200
            await wait_subscribers(1)
            await asyncio.sleep(0.3)
            assert app.state.engine.pool.checkedout() == 0


class TestResume:
    async def test_last_event_id_replays_missed_events_then_goes_live(
        self, world: World, server: tuple[str, object]
    ) -> None:
        ids = await world.publish(ev(NORTH_GRID, 1), ev(SOUTH_GRID, 2), ev(NORTH_GRID, 3),
                                  ev(NORTH_GRID, 4))
        async with httpx.AsyncClient(base_url=server[0], timeout=10) as client:
            headers = world.headers("north", **{"Last-Event-ID": str(ids[0])})
            async with client.stream("GET", "/api/v1/stream", headers=headers) as res:
                stream = SSEStream(res)
                replayed = await stream.events(2)
                await wait_subscribers(1)
                live_ids = await world.publish(ev(NORTH_GRID, 5))
                live = await stream.events(1)
                with pytest.raises(TimeoutError):
                    await stream.next(timeout=0.5)
            async with client.stream("GET", "/api/v1/stream", headers=world.headers("north"),
                                     params={"last_event_id": str(live_ids[0] - 1)}) as res:
                again = await SSEStream(res).events(1)
        assert [m.json()["payload"]["n"] for m in replayed] == [3, 4]
        assert [m.id for m in replayed] == [str(ids[2]), str(ids[3])]
        assert [m.json()["payload"]["n"] for m in live] == [5]
        assert again[0].id == str(live_ids[0])


class TestEnding:
    async def test_a_revoked_token_ends_the_stream(self, world: World,
                                                   server: tuple[str, object]) -> None:
        async with httpx.AsyncClient(base_url=server[0], timeout=10) as client, \
                client.stream("GET", "/api/v1/stream", headers=world.headers("north")) as res:
            stream = SSEStream(res)
            await wait_subscribers(1)
            engine = create_engine(world.url)
            try:
                async with create_sessionmaker(engine)() as session:
                    auth = await session.get(AuthSession, world.auth_ids["north"])
                    assert auth is not None
                    auth.revoked_at = utcnow()
                    await session.commit()
            finally:
                await engine.dispose()
            assert await stream.next(timeout=5) is None

    async def test_server_shutdown_ends_open_streams(self, world: World) -> None:
        app = create_app(settings_for(world.url))
        async with httpx.AsyncClient(timeout=10) as client, serve(app) as (base, server), \
                client.stream("GET", f"{base}/api/v1/stream",
                              headers=world.headers("north")) as res:
            stream = SSEStream(res)
            await wait_subscribers(1)
            server.should_exit = True
            ended = await stream.next(timeout=8)
        assert ended is None
