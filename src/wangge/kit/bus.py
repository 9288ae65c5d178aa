"""Domain events: queued by actions inside a transaction, logged, published only after commit.

``queue`` writes the event to ``event_log`` in the caller's transaction (so a reconnecting
stream can replay it by id). On PostgreSQL the log is the outbox and the database publishes it:
a trigger NOTIFYs every new row, delivered when (and only if) the transaction commits
(migration 0007). Other backends need the app to publish: ``queue`` remembers the event on the
session, a SQLAlchemy ``after_commit`` hook hands the remembered events to this process's
running ``Bus``, and a rolled-back transaction (or savepoint) drops them. Every process fans
what its backend delivers — in-process, PostgreSQL LISTEN/NOTIFY or Redis pub/sub — out to its
local subscribers (the SSE streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction

from wangge.kit.db import psycopg_conninfo, utcnow
from wangge.models import EventLogEntry

log = logging.getLogger(__name__)

PENDING_KEY = "wangge.pending_events"
BACKENDS = ("inprocess", "postgres", "redis")
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; bigger events travel as their id.
NOTIFY_LIMIT = 7900


@dataclass(frozen=True)
class Event:
    """A domain event: who may see it is decided by ``region_code`` and ``permission``."""

    type: str
    region_code: str
    permission: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishedEvent:
    """An event as it leaves the bus: with its event-log id (the SSE id) and time."""

    id: int
    type: str
    region_code: str
    permission: str
    payload: dict[str, Any]
    at: str

    @classmethod
    def from_entry(cls, entry: EventLogEntry) -> PublishedEvent:
        return cls(id=entry.id, type=entry.type, region_code=entry.region_code,
                   permission=entry.permission, payload=json.loads(entry.payload),
                   at=stamp(entry.at))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @cached_property
    def message_json(self) -> str:
        """The event as a stream message carries it (encoded once, for every subscriber)."""
        return json.dumps({"id": self.id, "type": self.type, "region_code": self.region_code,
                           "at": self.at, "payload": self.payload},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PublishedEvent:
        return cls(**json.loads(text))


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


async def queue(session: AsyncSession, event: Event) -> EventLogEntry:
    """Logs ``event`` in the session's transaction and publishes it after commit."""
    return (await queue_many(session, [event]))[0]


async def queue_many(session: AsyncSession, events: Sequence[Event]) -> list[EventLogEntry]:
    """Logs events in the session's transaction (one flush) and publishes them after commit."""
    now = utcnow()
    entries = [EventLogEntry(
        at=now, type=event.type, region_code=event.region_code, permission=event.permission,
        payload=json.dumps(event.payload, ensure_ascii=False, sort_keys=True, default=str),
    ) for event in events]
    session.add_all(entries)
    await session.flush()
    if not app_publishes():
        return entries
    # Built now: after commit the entries may be expired and the hook cannot load them.
    savepoint = session.sync_session.get_nested_transaction()
    pending = session.info.setdefault(PENDING_KEY, [])
    pending.extend((PublishedEvent.from_entry(e), savepoint) for e in entries)
    return entries


def app_publishes() -> bool:
    """Whether this process must publish committed events itself (False when no bus runs, or
    when its backend is fed by the database from ``event_log``)."""
    return _current is not None and not _current.backend.publishes_from_log


def publish_after_commit(session: AsyncSession, published: PublishedEvent) -> None:
    """Publishes an event row the caller inserted itself (a bulk path) after commit, where the
    app publishes (see ``app_publishes``)."""
    if not app_publishes():
        return
    savepoint = session.sync_session.get_nested_transaction()
    session.info.setdefault(PENDING_KEY, []).append((published, savepoint))


def publish_committed(events: list[PublishedEvent]) -> None:
    """Publishes events whose rows were committed outside any session (a direct statement),
    where the app publishes (see ``app_publishes``)."""
    if app_publishes():
        assert _current is not None
        _current.enqueue(events)


@sa_event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    # Releasing a savepoint fires after_commit too; only the outermost commit publishes.
    if session.get_nested_transaction() is not None:
        return
    pending = session.info.pop(PENDING_KEY, None)
    if pending and app_publishes():
        assert _current is not None
        _current.enqueue([published for published, _ in pending])


@sa_event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, previous: SessionTransaction) -> None:
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return
    if not previous.nested:
        session.info.pop(PENDING_KEY, None)
        return

    def inside(tx: SessionTransaction | None) -> bool:
        while tx is not None:
            if tx is previous:
                return True
            tx = tx.parent
        return False

    session.info[PENDING_KEY] = [(p, tx) for p, tx in pending if not inside(tx)]


# --- local fan-out ---------------------------------------------------------------------------

Deliver = Callable[[PublishedEvent], None]


class Subscription:
    """One local listener (an SSE stream): a bounded queue fed with the events it accepts.

    A listener that falls ``maxsize`` events behind is closed rather than allowed to grow
    without bound; its client reconnects and replays the rest from the event log.
    """

    def __init__(self, accept: Callable[[PublishedEvent], bool], maxsize: int) -> None:
        self.accept = accept
        self._queue: asyncio.Queue[PublishedEvent | None] = asyncio.Queue(maxsize)
        self.closed = False
        self.overflowed = False

    def offer(self, event: PublishedEvent) -> None:
        if self.closed or not self.accept(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # What is still queued is dropped: the client replays it after reconnecting.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> PublishedEvent | None:
        """The next event; None when closed; raises TimeoutError after ``timeout`` seconds."""
        if self.closed and self._queue.empty():
            return None
        if not self._queue.empty():
            # No waiting: wait_for would wrap the get in a new task for every event.
            return self._queue.get_nowait()
        return await asyncio.wait_for(self._queue.get(), timeout)

    def __aiter__(self) -> AsyncIterator[PublishedEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PublishedEvent]:
        while (item := await self.get()) is not None:
            yield item


class Backend(Protocol):
    """Carries published events to every process (including this one) that subscribed."""

    name: str
    # True when the database publishes every committed event_log row itself (PostgreSQL's
    # trigger): the app then never hands committed events to ``publish``.
    publishes_from_log: bool

    async def start(self, deliver: Deliver) -> None: ...

    async def publish(self, events: list[PublishedEvent]) -> None: ...

    async def stop(self) -> None: ...


class Bus:
    """This process's bus: hands committed events to the backend, fans deliveries out locally."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._subscriptions: set[Subscription] = set()
        self._outbox: asyncio.Queue[list[PublishedEvent]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: asyncio.Task[None] | None = None
        self.delivered = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    async def start(self) -> Bus:
        self._loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue()
        await self.backend.start(self._deliver)
        self._sender = asyncio.create_task(self._send(), name="wangge-bus-sender")
        return self

    async def stop(self) -> None:
        for sub in list(self._subscriptions):
            sub.close()
        self._subscriptions.clear()
        if self._sender is not None and self._outbox is not None:
            # Hand over what was committed before shutdown, then stop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 2)
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self.backend.stop()

    def enqueue(self, events: list[PublishedEvent]) -> None:
        """Queues committed events for the backend (safe from any thread; used by the hook)."""
        if self._outbox is None or self._loop is None or self._loop.is_closed():
            return
        outbox = self._outbox
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            outbox.put_nowait(events)
        else:
            self._loop.call_soon_threadsafe(outbox.put_nowait, events)

    async def publish(self, events: list[PublishedEvent]) -> None:
        """Hands events straight to the backend (callers have committed them already)."""
        await self.backend.publish(events)

    async def _send(self) -> None:
        assert self._outbox is not None
        while True:
            batches = [await self._outbox.get()]
            # Under load many commits wait here: one publish carries them all, in order.
            while not self._outbox.empty() and len(batches) < 500:
                batches.append(self._outbox.get_nowait())
            events = [ev for batch in batches for ev in batch]
            try:
                await self.backend.publish(events)
            except Exception:
                # They stay in event_log: clients that reconnect replay them.
                log.exception("bus: publishing %d event(s) failed", len(events))
            finally:
                for _ in batches:
                    self._outbox.task_done()

    def _deliver(self, event: PublishedEvent) -> None:
        self.delivered += 1
        for sub in list(self._subscriptions):
            sub.offer(event)
            if sub.closed:
                self._subscriptions.discard(sub)

    def subscribe(self, accept: Callable[[PublishedEvent], bool] = lambda _: True,
                  maxsize: int = 1000) -> Subscription:
        """A new local listener receiving every delivered event that ``accept`` admits."""
        sub = Subscription(accept, maxsize)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        self._subscriptions.discard(sub)


# --- backends --------------------------------------------------------------------------------


class InProcessBackend:
    """A single process (SQLite, tests): delivering is calling the local fan-out."""

    name = "inprocess"
    publishes_from_log = False

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, events: list[PublishedEvent]) -> None:
        if self._deliver is not None:
            for ev in events:
                self._deliver(ev)

    async def stop(self) -> None:
        self._deliver = None


def pg_channel(schema: str) -> str:
    """The NOTIFY channel: one per schema, so apps on different schemas never mix events."""
    return "wangge_events" if schema == "public" else f"wangge_events_{schema}"[:63]


class PostgresBackend:
    """PostgreSQL LISTEN/NOTIFY: several worker processes on one database see every event.

    The database publishes: the ``event_log`` trigger (migration 0007) NOTIFYs each committed
    row, so the app sends nothing after commit. Two dedicated autocommit connections: one only
    LISTENs, the other fetches events too big for a notification (and serves an explicit
    ``publish``). If the listening connection drops, it reconnects and replays from
    ``event_log`` what arrived in between.
    """

    name = "postgres"
    publishes_from_log = True

    def __init__(self, database_url: str, reconnect_seconds: float = 1.0) -> None:
        self.conninfo = psycopg_conninfo(database_url)
        self.reconnect_seconds = reconnect_seconds
        self.channel = ""
        self._deliver: Deliver | None = None
        self._listen_conn: Any = None
        self._send_conn: Any = None
        self._send_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_id = 0

    async def _connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    async def _listen_connection(self) -> Any:
        from psycopg import sql

        conn = await self._connect()
        if not self.channel:
            row = await (await conn.execute("SELECT current_schema()")).fetchone()
            self.channel = pg_channel(row[0])
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return conn

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._listen_conn = await self._listen_connection()
        self._send_conn = await self._connect()
        row = await (await self._send_conn.execute(
            "SELECT coalesce(max(id), 0) FROM event_log")).fetchone()
        self._last_id = int(row[0])
        self._task = asyncio.create_task(self._listen(), name="wangge-bus-listen")

    async def publish(self, events: list[PublishedEvent]) -> None:
        if not events:
            return
        async with self._send_lock:
            if self._send_conn is None or self._send_conn.closed:
                self._send_conn = await self._connect()
            bodies = []
            for ev in events:
                body = ev.to_json()
                bodies.append(body if len(body.encode()) <= NOTIFY_LIMIT
                              else json.dumps({"ref": ev.id}))
            # One statement (one round trip, atomic): notifications keep their order.
            await self._send_conn.execute(
                "SELECT pg_notify(%s, body) FROM unnest(%s::text[]) WITH ORDINALITY "
                "AS t(body, n) ORDER BY n", (self.channel, bodies))

    async def _fetch(self, where: str, arg: int) -> list[PublishedEvent]:
        async with self._send_lock:
            if self._send_conn is None or self._send_conn.closed:
                self._send_conn = await self._connect()
            cur = await self._send_conn.execute(
                "SELECT id, at, type, region_code, permission, payload FROM event_log "
                f"WHERE {where} ORDER BY id", (arg,))
            rows = await cur.fetchall()
        return [PublishedEvent(id=r[0], at=stamp(r[1]), type=r[2], region_code=r[3],
                               permission=r[4], payload=json.loads(r[5])) for r in rows]

    def _hand_on(self, ev: PublishedEvent) -> None:
        self._last_id = max(self._last_id, ev.id)
        if self._deliver is not None:
            self._deliver(ev)

    async def _listen(self) -> None:
        while True:
            try:
                async for note in self._listen_conn.notifies():
                    body = json.loads(note.payload)
                    if "ref" in body:
                        for ev in await self._fetch("id = %s", int(body["ref"])):
                            self._hand_on(ev)
                    else:
                        self._hand_on(PublishedEvent(**body))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("bus: LISTEN connection lost; reconnecting", exc_info=True)
            # The generator ended or the connection broke: reconnect, then catch up.
            while True:
                await asyncio.sleep(self.reconnect_seconds)
                try:
                    with contextlib.suppress(Exception):
                        await self._listen_conn.close()
                    self._listen_conn = await self._listen_connection()
                    for ev in await self._fetch("id > %s", self._last_id):
                        self._hand_on(ev)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("bus: reconnecting to PostgreSQL failed", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for conn in (self._listen_conn, self._send_conn):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._deliver = None


class RedisBackend:
    """Redis pub/sub (optional): the bus for a web tier spread over machines.

    The channel is derived from the database URL, so every process on one database shares it
    and processes on different databases never mix.
    """

    name = "redis"
    publishes_from_log = False

    def __init__(self, redis_url: str, database_url: str) -> None:
        self.redis_url = redis_url
        digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
        self.channel = f"wangge:events:{digest}"
        self._client: Any = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        from redis import asyncio as aioredis

        self._deliver = deliver
        self._client = aioredis.from_url(self.redis_url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._listen(), name="wangge-bus-redis")

    async def publish(self, events: list[PublishedEvent]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for ev in events:
                pipe.publish(self.channel, ev.to_json())
            await pipe.execute()

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message" and self._deliver is not None:
                        self._deliver(PublishedEvent.from_json(message["data"].decode()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("bus: Redis subscription lost; resubscribing", exc_info=True)
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await self._pubsub.subscribe(self.channel)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
        self._deliver = None


# --- this process's bus ----------------------------------------------------------------------

_current: Bus | None = None


def default_backend(database_url: str) -> str:
    return "inprocess" if database_url.startswith("sqlite") else "postgres"


def create_backend(kind: str | None, database_url: str,
                   redis_url: str = "redis://127.0.0.1:6379/0") -> Backend:
    """The backend named ``kind`` (None: in-process on SQLite, LISTEN/NOTIFY on PostgreSQL)."""
    kind = kind or default_backend(database_url)
    if kind == "inprocess":
        return InProcessBackend()
    if kind == "postgres":
        if database_url.startswith("sqlite"):
            raise ValueError("WANGGE_BUS=postgres needs a PostgreSQL database")
        return PostgresBackend(database_url)
    if kind == "redis":
        return RedisBackend(redis_url, database_url)
    raise ValueError(f"unknown bus backend {kind!r}: choose one of {', '.join(BACKENDS)}")


def current() -> Bus | None:
    """The bus this process publishes committed events to (None when none is running)."""
    return _current


async def start(backend: Backend) -> Bus:
    """Starts ``backend`` as this process's bus; committed events go to it from now on."""
    global _current
    bus = await Bus(backend).start()
    _current = bus
    return bus


async def stop(bus: Bus | None = None) -> None:
    """Ends every local subscription and stops the bus (the app lifespan calls this)."""
    global _current
    bus = bus or _current
    if bus is None:
        return
    if bus is _current:
        _current = None
    await bus.stop()

