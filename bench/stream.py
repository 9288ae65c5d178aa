"""Benchmark: 1,000 SSE subscribers over Xinxiang's 15 county-level units, events into random grids.

Ours: ``GET /api/v1/stream`` served by uvicorn in a subprocess; subscribers are commanders at
the counties (accounts and bearer sessions inserted directly), connected with httpx streaming
clients in this process. Events are committed from this process the way actions do
(``bus.queue`` + commit, published after commit) into random grids; each carries its publish
time, and latency is receive time minus publish time. An event is delivered correctly when
exactly the subscribers of the grid's county received it (``correct`` is the share of events
delivered correctly; it must be 1.0).

Peer: raw Redis pub/sub fan-out — one Redis subscription per subscriber on its county's
channel, the publisher writing straight to the channel. It is what a team would otherwise bolt
on for live screens, and it is the floor: no log, no commit, no per-subscriber scope check, no
HTTP. (Polling a list endpoint every second is the other common choice; its latency is bounded
below by the interval — 500 ms on average — so it cannot meet a sub-second p99 anyway.)

Database: a temporary SQLite file with the bus on Redis (the server and this process are two
processes), or ``--pg URL`` (a scratch schema, the bus on LISTEN/NOTIFY).

    python bench/stream.py [--quick] [--subscribers N] [--events N] [--rate R] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from redis import asyncio as aioredis
from sqlalchemy import insert, select

from server import insert_bench_accounts, start_server
from wangge.kit import bus, migrate
from wangge.kit.bus import Event, PostgresBackend, RedisBackend
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.kit.scratch import create_schema, drop_schemas
from wangge.models import Region
from wangge.org.divisions import Selection
from wangge.org.service import org_service

CITY = "4107"
REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[1]


async def prepare(url: str, subscribers: int, seed: int) -> tuple[list[str], list[tuple[str,
                                                                                      str]]]:
    """Xinxiang's divisions, 1-2 grid rows per village, and one commander per subscriber.

    Returns (grid codes, [(county, token)]).
    """
    engine = create_engine(url)
    rng = random.Random(seed)
    try:
        await org_service.load_divisions(engine, Selection(province=CITY[:2], city=CITY))
        async with engine.begin() as conn:
            villages = (await conn.execute(
                select(Region.code).where(Region.level == "village", Region.code.startswith(CITY))
                .order_by(Region.code))).scalars().all()
            counties = (await conn.execute(
                select(Region.code).where(Region.level == "county", Region.code.startswith(CITY))
                .order_by(Region.code))).scalars().all()
            now = utcnow()
            grids = [f"{v}{i:03d}" for v in villages for i in range(1, 2 + (rng.random() < 0.2))]
            await conn.execute(insert(Region), [
                {"code": g, "parent_code": g[:12], "level": "grid", "name": g, "kind": "rural",
                 "urban": False, "synthetic": True, "created_at": now} for g in grids])
            where = [counties[i % len(counties)] for i in range(subscribers)]
            tokens = await insert_bench_accounts(
                conn, "bench", [("commander", c) for c in where], hours=2)
        return grids, list(zip(where, tokens, strict=True))
    finally:
        await engine.dispose()


def start_stream_server(url: str, backend: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_server({"WANGGE_DATABASE_URL": url, "WANGGE_BUS": backend,
                         "WANGGE_REDIS_URL": REDIS_URL, "WANGGE_SCHEDULER": "off",
                         "WANGGE_STREAM_HEARTBEAT_SECONDS": "15"},
                        "--timeout-graceful-shutdown", "5")


class Received:
    """What every subscriber received: {event id: [(subscriber, latency s)]}."""

    def __init__(self) -> None:
        self.by_event: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.connected = 0


async def subscriber(client: httpx.AsyncClient, base: str, index: int, token: str,
                     got: Received, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("GET", f"{base}/api/v1/stream", headers=headers) as res:
        if res.status_code != 200:
            raise SystemExit(f"subscriber {index}: HTTP {res.status_code}")
        got.connected += 1
        async for line in res.aiter_lines():
            if line.startswith("data:"):
                now = time.time()
                body = json.loads(line[5:])
                got.by_event[body["payload"]["key"]].append(
                    (index, now - body["payload"]["sent"]))
            if stop.is_set():
                return


async def run_ours(args: argparse.Namespace, url: str, backend: str, grids: list[str],
                   subs: list[tuple[str, str]]) -> dict[str, Any]:
    proc, base = start_stream_server(url, backend)
    got = Received()
    stop = asyncio.Event()
    publisher = await bus.start(RedisBackend(REDIS_URL, url) if backend == "redis"
                                else PostgresBackend(url))
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    counties = sorted({c for c, _ in subs})
    members: dict[str, set[int]] = defaultdict(set)
    for i, (county, _) in enumerate(subs):
        members[county].add(i)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(None, connect=30)
    try:
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            tasks = [asyncio.create_task(subscriber(client, base, i, tok, got, stop))
                     for i, (_, tok) in enumerate(subs)]
            started = time.perf_counter()
            while got.connected < len(subs):
                if any(t.done() for t in tasks):
                    for t in tasks:
                        if t.done():
                            t.result()
                await asyncio.sleep(0.05)
            connect_s = time.perf_counter() - started

            async def send(key: str, grid: str) -> None:
                async with maker() as session:
                    await bus.queue(session, Event(
                        "bench.ping", grid, "case:read", {"key": key, "sent": time.time()}))
                    await session.commit()

            # Warm-up: one event per county, until every subscriber has heard its own.
            warm = [f"warm-{c}" for c in counties]
            for key, county in zip(warm, counties, strict=True):
                await send(key, next(g for g in grids if g.startswith(county)))
            await wait_for(lambda: all(len(got.by_event[k]) == len(members[c])
                                       for k, c in zip(warm, counties, strict=True)), 30)

            rng = random.Random(args.seed)
            plan = [(f"e{i}", rng.choice(grids)) for i in range(args.events)]
            for key, grid in plan:
                await send(key, grid)
                await asyncio.sleep(1 / args.rate)
            expected = {key: members[grid[:6]] for key, grid in plan}
            await wait_for(lambda: all(len(got.by_event[k]) >= len(v)
                                       for k, v in expected.items()), 15)
            await asyncio.sleep(0.5)  # let any wrong extra deliveries arrive too
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await bus.stop(publisher)
        await engine.dispose()
        proc.terminate()
        proc.wait(15)
    exact = sum(1 for k, v in expected.items()
                if sorted(i for i, _ in got.by_event[k]) == sorted(v))
    latencies = [lat for k in expected for _, lat in got.by_event[k]]
    return {"correct": exact / len(expected), "latencies": latencies, "connect_s": connect_s,
            "deliveries": len(latencies),
            "expected_deliveries": sum(len(v) for v in expected.values())}


async def wait_for(done: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


async def run_peer(args: argparse.Namespace, grids: list[str],
                   subs: list[tuple[str, str]]) -> dict[str, Any]:
    """Raw Redis pub/sub: one subscription per subscriber on its county's channel."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    received: dict[str, list[tuple[int, float]]] = defaultdict(list)
    pool = aioredis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=len(subs) + 10)
    client = aioredis.Redis(connection_pool=pool)
    pubsubs = []
    for _i, (county, _) in enumerate(subs):
        ps = client.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe(prefix + county)
        pubsubs.append(ps)

    async def listen(i: int, ps: Any) -> None:
        async for msg in ps.listen():
            if msg["type"] == "message":
                body = json.loads(msg["data"])
                received[body["key"]].append((i, time.time() - body["sent"]))

    tasks = [asyncio.create_task(listen(i, ps)) for i, ps in enumerate(pubsubs)]
    members: dict[str, set[int]] = defaultdict(set)
    for i, (county, _) in enumerate(subs):
        members[county].add(i)
    rng = random.Random(args.seed)
    plan = [(f"e{i}", rng.choice(grids)) for i in range(args.events)]
    try:
        await asyncio.sleep(0.2)
        for key, grid in plan:
            await client.publish(prefix + grid[:6], json.dumps({"key": key, "sent": time.time()}))
            await asyncio.sleep(1 / args.rate)
        await wait_for(lambda: all(len(received[k]) >= len(members[g[:6]]) for k, g in plan), 15)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ps in pubsubs:
            await ps.aclose()
        await client.aclose()
        await pool.aclose()
    exact = sum(1 for k, g in plan if sorted(i for i, _ in received[k]) == sorted(members[g[:6]]))
    return {"correct": exact / len(plan),
            "latencies": [lat for k, _ in plan for _, lat in received[k]]}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] \
        if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 subscribers, 20 events")
    parser.add_argument("--subscribers", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--pg", default="", help="PostgreSQL URL (bus on LISTEN/NOTIFY)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.subscribers = args.subscribers or (50 if args.quick else 1000)
    args.events = args.events or (20 if args.quick else 200)

    with tempfile.TemporaryDirectory() as tmp:
        schema = ""
        if args.pg:
            url, schema = create_schema(args.pg, "bench")
            database, backend = "postgresql", "postgres"
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            database, backend = "sqlite", "redis"
        try:
            migrate.upgrade(url)
            t = time.perf_counter()
            grids, subs = asyncio.run(prepare(url, args.subscribers, args.seed))
            print(f"prepared {len(grids):,} grids, {len(subs):,} subscribers over "
                  f"{len({c for c, _ in subs})} counties in {time.perf_counter() - t:.1f} s")
            ours = asyncio.run(run_ours(args, url, backend, grids, subs))
            peer = asyncio.run(run_peer(args, grids, subs))
        finally:
            if schema:
                drop_schemas(args.pg, [schema])

    o_lat, p_lat = ours["latencies"], peer["latencies"]
    o50, o99 = pct(o_lat, 50) * 1000, pct(o_lat, 99) * 1000
    p50, p99 = pct(p_lat, 50) * 1000, pct(p_lat, 99) * 1000
    print(f"database: {database}, bus: {backend}; {args.events} events at {args.rate:g}/s into "
          f"random grids; subscribers connected in {ours['connect_s']:.1f} s")
    print(f"{'':<28}{'p50 ms':>10}{'p99 ms':>10}{'deliveries':>12}{'correct':>9}")
    print(f"{'wangge /api/v1/stream':<28}{o50:>10.1f}{o99:>10.1f}{len(o_lat):>12,}"
          f"{ours['correct']:>9.3f}")
    print(f"{'raw Redis pub/sub':<28}{p50:>10.1f}{p99:>10.1f}{len(p_lat):>12,}"
          f"{peer['correct']:>9.3f}")
    print(f"p99 ratio (ours / raw Redis): {o99 / p99:.1f}x; goal p99 < 1000 ms: "
          f"{'met' if o99 < 1000 else 'missed'}")
    print(json.dumps({
        "bench": "stream", "subscribers": args.subscribers, "events": args.events,
        "database": database, "bus": backend, "p50_ms": round(o50, 1), "p99_ms": round(o99, 1),
        "correct": ours["correct"], "deliveries": len(o_lat),
        "expected_deliveries": ours["expected_deliveries"], "peer": "redis.pubsub",
        "peer_p50_ms": round(p50, 1), "peer_p99_ms": round(p99, 1),
        "peer_correct": peer["correct"], "ratio_p99": round(o99 / p99, 1),
        "connect_s": round(ours["connect_s"], 1),
    }))


if __name__ == "__main__":
    main()
