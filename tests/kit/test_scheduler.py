"""kit.scheduler: one leader runs each job once per period, also across processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from wangge.kit.db import create_engine as create_async_engine
from wangge.kit.db import sync_url
from wangge.kit.scheduler import Job, Registry, Scheduler
from wangge.models import JobRun

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


def job_runs(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(JobRun.job, JobRun.period, JobRun.runner).order_by(JobRun.period))]
    finally:
        engine.dispose()


class TestPeriods:
    def test_period_keys_are_the_period_start_in_utc(self) -> None:
        async def noop(_: object) -> None: ...

        job = Job("t", 60, noop)
        assert job.period_index(120.5) == 2
        assert job.period_key(2) == "1970-01-01T00:02:00Z"
        assert Job("t", 0.5, noop).period_key(3) == "1970-01-01T00:00:01.500Z"

    def test_registry_refuses_bad_jobs(self) -> None:
        async def noop(_: object) -> None: ...

        jobs = Registry()
        with pytest.raises(ValueError, match="every_seconds"):
            jobs.register("t", 0, noop)
        jobs.register("t", 1, noop)
        with pytest.raises(ValueError, match="twice"):
            jobs.register("t", 2, lambda s: noop(s))


class TestSingleProcess:
    async def test_runs_each_period_once_and_a_failed_run_leaves_no_row(
        self, database: str
    ) -> None:
        calls: list[str] = []

        async def tick(_: object) -> None:
            calls.append("tick")

        async def broken(_: object) -> None:
            raise RuntimeError("boom")

        jobs = Registry()
        jobs.register("tick", 0.5, tick)
        jobs.register("broken", 0.5, broken)
        engine = create_async_engine(database)
        sched = await Scheduler(engine, jobs).start()
        try:
            await asyncio.sleep(2.2)
        finally:
            await sched.stop()
            await engine.dispose()
        rows = job_runs(database)
        ticks = [p for j, p, _ in rows if j == "tick"]
        assert sched.is_leader is False  # stopped
        assert 4 <= len(ticks) <= 6 and len(ticks) == len(set(ticks)) == len(calls)
        assert not [r for r in rows if r[0] == "broken"]

    async def test_a_period_already_recorded_is_not_run_again(self, database: str) -> None:
        calls: list[int] = []

        async def tick(_: object) -> None:
            calls.append(1)

        jobs = Registry()
        job = jobs.register("tick", 3600, tick)
        engine = create_async_engine(database)
        sched = Scheduler(engine, jobs, runner="a")
        other = Scheduler(engine, jobs, runner="b")
        try:
            index = job.period_index(time.time())
            await sched.run_once(job, index)
            await other.run_once(job, index)
        finally:
            await engine.dispose()
        assert calls == [1]
        assert [r[2] for r in job_runs(database)] == ["a"]


WORKER = """
import sys, uvicorn
from wangge.kit import scheduler

async def tick(session):
    pass

scheduler.register("tick", 1, tick)
from wangge.app import create_app
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_database(database: str) -> str:
    if database.startswith("sqlite"):
        pytest.skip("leader election across processes is the PostgreSQL case")
    return database


def start_app(url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "WANGGE_DATABASE_URL": url, "WANGGE_SCHEDULER": "on"}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(port)], cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("app process did not start")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def runner_pid(runner: str) -> int:
    return int(runner.rsplit(":", 1)[1])


class TestTwoProcesses:
    def test_one_leader_runs_each_period_once_and_another_takes_over(
        self, pg_database: str, processes: list[subprocess.Popen[bytes]]
    ) -> None:
        first, _ = start_app(pg_database)
        processes.append(first)
        second, _ = start_app(pg_database)
        processes.append(second)
        time.sleep(5)
        rows = [r for r in job_runs(pg_database) if r[0] == "tick"]
        periods = [p for _, p, _ in rows]
        leaders = {runner_pid(r) for _, _, r in rows}
        assert len(leaders) == 1 and leaders <= {first.pid, second.pid}
        assert len(periods) == len(set(periods))
        assert len(periods) >= 5  # ~1 per second since the first process started

        leader = first if first.pid in leaders else second
        follower = second if leader is first else first
        leader.kill()  # no clean shutdown: its connection drops, the lock is freed
        leader.wait()
        killed_at = time.time()
        time.sleep(5)
        later = [r for r in job_runs(pg_database) if r[0] == "tick"]
        after = [r for r in later if r[1] not in set(periods)]
        assert after and {runner_pid(r[2]) for r in after} == {follower.pid}
        all_periods = [p for _, p, _ in later]
        assert len(all_periods) == len(set(all_periods))
        # The follower took over within a couple of seconds of the kill.
        assert len(after) >= 3, (after, killed_at)
