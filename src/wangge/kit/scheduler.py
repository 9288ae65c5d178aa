"""Periodic jobs, run by exactly one leader among all the app's processes.

Domains register jobs at import (``register("sla_sweep", 60, sweep)``); the app lifespan starts
a ``Scheduler`` (setting ``WANGGE_SCHEDULER``). On PostgreSQL every process tries to take a
session-level advisory lock on a dedicated connection; the one that holds it leads, the others
retry, and when the leader dies its connection closes, the lock is freed and another process
takes over. Under SQLite the single process leads.

Each run first inserts ``JobRun(job, period)`` in the job's own transaction: the primary key
makes a second run of the same period fail even if two leaders ever overlapped, and a failed job
leaves no row, its writes rolled back with it. Jobs that are safe to run twice and run every
second or so (the audit sealer) register with ``once=False`` and leave no JobRun rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wangge.kit.db import create_sessionmaker, psycopg_conninfo, transaction, utcnow
from wangge.models import JobRun

log = logging.getLogger(__name__)

JobFn = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """A periodic job: ``fn(session)`` once per ``every_seconds`` period, in one transaction."""

    name: str
    every_seconds: float
    fn: JobFn
    once: bool = True  # guard each period with a JobRun row

    def period_index(self, now: float) -> int:
        return math.floor(now / self.every_seconds)

    def period_key(self, index: int) -> str:
        """The period's start in UTC, e.g. ``2026-11-29T12:05:00Z`` (sub-second if needed)."""
        start = datetime.fromtimestamp(index * self.every_seconds, UTC)
        spec = "seconds" if float(self.every_seconds).is_integer() else "milliseconds"
        return start.isoformat(timespec=spec).replace("+00:00", "Z")


class _AlreadyRan(Exception):
    pass


class Registry:
    """The jobs known to this process (domains add theirs at import)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def register(self, name: str, every_seconds: float, fn: JobFn, once: bool = True) -> Job:
        if not name or len(name) > 64:
            raise ValueError("job name: 1-64 characters")
        if every_seconds <= 0:
            raise ValueError("every_seconds: must be positive")
        if name in self.jobs and self.jobs[name].fn is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        job = Job(name, every_seconds, fn, once)
        self.jobs[name] = job
        return job


registry = Registry()


def register(name: str, every_seconds: float, fn: JobFn, once: bool = True) -> Job:
    """Registers a periodic job with this process's scheduler."""
    return registry.register(name, every_seconds, fn, once)


def lock_key(schema: str) -> int:
    """The advisory-lock key: one per schema, as a signed 64-bit integer."""
    digest = hashlib.sha256(f"wangge.scheduler:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Scheduler:
    """Runs the registry's jobs while this process is the leader."""

    def __init__(self, engine: AsyncEngine, jobs: Registry | None = None, *,
                 retry_seconds: float = 1.0, runner: str | None = None) -> None:
        self.engine = engine
        self.sessionmaker = create_sessionmaker(engine)
        self.registry = jobs or registry
        self.retry_seconds = retry_seconds
        self.runner = (runner or f"{os.uname().nodename}:{os.getpid()}")[:64]
        self.is_leader = False
        self.runs = 0
        self._done: dict[str, int] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock_conn: object | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def start(self) -> Scheduler:
        self._task = asyncio.create_task(self._main(), name="wangge-scheduler")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.is_leader = False
        await self._release()

    async def _main(self) -> None:
        while True:
            try:
                if self.is_sqlite:
                    self.is_leader = True
                    await self._lead()
                elif await self._acquire():
                    log.info("scheduler: %s is the leader", self.runner)
                    await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("scheduler: leadership lost", exc_info=True)
            self.is_leader = False
            await self._release()
            await asyncio.sleep(self.retry_seconds)

    async def _acquire(self) -> bool:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            psycopg_conninfo(self.engine.url.render_as_string(hide_password=False)),
            autocommit=True)
        try:
            row = await (await conn.execute("SELECT current_schema()")).fetchone()
            assert row is not None
            got = await (await conn.execute("SELECT pg_try_advisory_lock(%s)",
                                            (lock_key(row[0]),))).fetchone()
            assert got is not None
        except BaseException:
            await conn.close()
            raise
        if not got[0]:
            await conn.close()
            return False
        self._lock_conn = conn
        self.is_leader = True
        return True

    async def _release(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            # Closing the session frees its advisory lock.
            with contextlib.suppress(Exception):
                await conn.close()  # type: ignore[attr-defined]

    async def _lead(self) -> None:
        next_check = time.monotonic()
        while True:
            now = time.time()
            for job in list(self.registry.jobs.values()):
                index = job.period_index(now)
                running = self._running.get(job.name)
                if self._done.get(job.name) == index or (running and not running.done()):
                    continue
                self._done[job.name] = index
                self._running[job.name] = asyncio.create_task(self.run_once(job, index))
            if self._lock_conn is not None and time.monotonic() >= next_check:
                # A dead lock connection means another process may lead already: stop.
                await self._lock_conn.execute("SELECT 1")  # type: ignore[attr-defined]
                next_check = time.monotonic() + self.retry_seconds
            await asyncio.sleep(self._until_next(time.time()))

    def _until_next(self, now: float) -> float:
        waits = [(job.period_index(now) + 1) * job.every_seconds - now
                 for job in self.registry.jobs.values()]
        return max(0.01, min([*waits, self.retry_seconds]))

    async def run_once(self, job: Job, index: int) -> None:
        """Runs ``job`` for period ``index`` unless a JobRun row says it already ran."""
        period = job.period_key(index)
        try:
            async with transaction(self.sessionmaker) as session:
                if job.once:
                    session.add(JobRun(job=job.name, period=period, runner=self.runner,
                                       started_at=utcnow()))
                    try:
                        await session.flush()
                    except IntegrityError:
                        log.info("scheduler: %s %s already ran", job.name, period)
                        raise _AlreadyRan from None
                await job.fn(session)
        except _AlreadyRan:
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduler: job %s failed for period %s", job.name, period)
            return
        self.runs += 1
