"""kit.bus: events reach subscribers only after commit, on every backend."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from wangge.kit import bus
from wangge.kit.bus import (
    NOTIFY_LIMIT,
    Bus,
    Event,
    InProcessBackend,
    PostgresBackend,
    PublishedEvent,
    RedisBackend,
)
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.models import EventLogEntry

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"


def grid_event(n: int = 1, **payload: object) -> Event:
    return Event(type="test.ping", region_code="410702001001001", permission="case:read",
                 payload={"n": n, **payload})


async def drain(sub: bus.Subscription, wait: float = 0.2) -> list[PublishedEvent]:
    """Everything the subscription received within ``wait`` seconds of quiet."""
    got: list[PublishedEvent] = []
    while True:
        try:
            item = await sub.get(timeout=wait)
        except TimeoutError:
            return got
        if item is None:
            return got
        got.append(item)


@pytest.fixture
async def local_bus():
    running = await bus.start(InProcessBackend())
    yield running
    await bus.stop(running)


class TestAfterCommit:
    async def test_events_are_published_only_after_commit(self, database: str,
                                                          local_bus: Bus) -> None:
        engine = create_engine(database)
        sub = local_bus.subscribe()
        try:
            async with create_sessionmaker(engine)() as session:
                entry = await bus.queue(session, grid_event(1))
                await bus.queue(session, grid_event(2))
                assert await drain(sub, 0.1) == []  # flushed, logged, not yet published
                await session.commit()
            got = await drain(sub)
        finally:
            await engine.dispose()
        assert [e.payload["n"] for e in got] == [1, 2]
        assert got[0].id == entry.id and got[1].id > entry.id
        assert got[0].region_code == "410702001001001" and got[0].at.endswith("Z")

    async def test_rollback_publishes_nothing_and_logs_nothing(self, database: str,
                                                               local_bus: Bus) -> None:
        engine = create_engine(database)
        sub = local_bus.subscribe()
        try:
            async with create_sessionmaker(engine)() as session:
                await bus.queue(session, grid_event(1))
                await session.rollback()
                # The same session commits later work: the rolled-back event stays gone.
                await bus.queue(session, grid_event(2))
                await session.commit()
            async with create_sessionmaker(engine)() as session:
                logged = await session.scalar(select(func.count()).select_from(EventLogEntry))
            got = await drain(sub)
        finally:
            await engine.dispose()
        assert [e.payload["n"] for e in got] == [2]
        assert logged == 1

    async def test_a_rolled_back_savepoint_drops_only_its_own_events(
        self, database: str, local_bus: Bus
    ) -> None:
        engine = create_engine(database)
        sub = local_bus.subscribe()
        try:
            async with create_sessionmaker(engine)() as session:
                await bus.queue(session, grid_event(1))
                nested = await session.begin_nested()
                await bus.queue(session, grid_event(2))
                await nested.rollback()
                async with session.begin_nested():
                    await bus.queue(session, grid_event(3))
                assert await drain(sub, 0.1) == []  # a released savepoint is no commit
                await session.commit()
            got = await drain(sub)
        finally:
            await engine.dispose()
        assert [e.payload["n"] for e in got] == [1, 3]

    async def test_a_subscriber_sees_only_what_it_accepts(self, local_bus: Bus) -> None:
        mine = local_bus.subscribe(lambda ev: ev.region_code.startswith("410702"))
        await local_bus.publish([
            PublishedEvent(1, "t", "410702001001001", "case:read", {}, "x"),
            PublishedEvent(2, "t", "410703001001001", "case:read", {}, "x"),
        ])
        assert [e.id for e in await drain(mine)] == [1]

    async def test_a_subscriber_that_falls_behind_is_closed(self, local_bus: Bus) -> None:
        slow = local_bus.subscribe(maxsize=2)
        await local_bus.publish([PublishedEvent(i, "t", "41", "p", {}, "x") for i in range(5)])
        assert slow.closed and slow.overflowed
        assert await slow.get() is None
        assert local_bus.subscribers == 0

    async def test_stopping_the_bus_ends_subscriptions(self) -> None:
        running = await bus.start(InProcessBackend())
        sub = running.subscribe()
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        await bus.stop(running)
        assert await asyncio.wait_for(waiter, 1) is None
        assert bus.current() is None


def _needs_pg(database: str) -> None:
    if database.startswith("sqlite"):
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL")


class TestPostgresBackend:
    async def test_delivers_across_two_engines_and_connections(self, database: str) -> None:
        _needs_pg(database)
        publisher = await bus.start(PostgresBackend(database))
        other = await Bus(PostgresBackend(database)).start()
        engine = create_engine(database)
        try:
            here, there = publisher.subscribe(), other.subscribe()
            big = "x" * (NOTIFY_LIMIT + 100)  # too big for a notification: sent by id
            async with create_sessionmaker(engine)() as session:
                await bus.queue(session, grid_event(1))
                await bus.queue(session, grid_event(2, text=big))
                await session.commit()
            async with create_sessionmaker(engine)() as session:
                await bus.queue(session, grid_event(3))
                await session.rollback()
            got_there, got_here = await drain(there, 1.0), await drain(here, 0.3)
        finally:
            await bus.stop(publisher)
            await other.stop()
            await engine.dispose()
        assert [e.payload["n"] for e in got_there] == [1, 2]
        assert got_there[1].payload["text"] == big
        assert [e.id for e in got_here] == [e.id for e in got_there]

    async def test_the_database_publishes_rows_written_without_the_app(
            self, database: str) -> None:
        """The event_log trigger is the publisher: a row inserted by plain SQL on a connection
        the bus knows nothing of reaches subscribers at commit, in id order, with the fields
        and timestamp format the app would send; an uncommitted row never does."""
        _needs_pg(database)
        import psycopg

        from wangge.kit.db import psycopg_conninfo

        listener = await Bus(PostgresBackend(database)).start()
        sub = listener.subscribe()
        insert = ("INSERT INTO event_log (at, type, region_code, permission, payload) VALUES "
                  "(now(), 'test.raw', '410702001001001', 'case:read', %s) RETURNING id, at")
        try:
            async with await psycopg.AsyncConnection.connect(
                    psycopg_conninfo(database)) as conn:
                ids, stamps = [], []
                for n in (1, 2):
                    row = await (await conn.execute(insert, (f'{{"n": {n}}}',))).fetchone()
                    assert row is not None
                    ids.append(row[0])
                    stamps.append(bus.stamp(row[1]))
                assert await drain(sub, 0.3) == []  # not committed yet
                await conn.commit()
                got = await drain(sub, 1.0)
                await conn.execute(insert, ('{"n": 3}',))
                await conn.rollback()
                assert await drain(sub, 0.3) == []
        finally:
            await listener.stop()
        assert [(e.id, e.type, e.region_code, e.permission, e.payload, e.at) for e in got] == [
            (ids[0], "test.raw", "410702001001001", "case:read", {"n": 1}, stamps[0]),
            (ids[1], "test.raw", "410702001001001", "case:read", {"n": 2}, stamps[1])]

    async def test_the_channel_is_per_schema(self, database: str) -> None:
        _needs_pg(database)
        backend = PostgresBackend(database)
        other = await Bus(backend).start()
        try:
            assert backend.channel.startswith("wangge_events_t_")
        finally:
            await other.stop()


class TestRedisBackend:
    async def test_delivers_to_another_process_bus(self, tmp_path) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
        from wangge.kit import migrate

        migrate.upgrade(url)
        publisher = await bus.start(RedisBackend(REDIS_URL, url))
        other = await Bus(RedisBackend(REDIS_URL, url)).start()
        stranger = await Bus(RedisBackend(REDIS_URL, url + "-other")).start()
        engine = create_engine(url)
        try:
            there, elsewhere = other.subscribe(), stranger.subscribe()
            async with create_sessionmaker(engine)() as session:
                await bus.queue(session, grid_event(1))
                await session.commit()
            async with create_sessionmaker(engine)() as session:
                await bus.queue(session, grid_event(2))
                await session.rollback()
            got, leaked = await drain(there, 1.0), await drain(elsewhere, 0.2)
        finally:
            await bus.stop(publisher)
            await other.stop()
            await stranger.stop()
            await engine.dispose()
        assert [e.payload["n"] for e in got] == [1]
        assert leaked == []
