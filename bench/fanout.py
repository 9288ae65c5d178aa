"""Benchmark: a directive fanned out to all of Xinxiang's 4,507 grids, on PostgreSQL.

Data: a scratch schema with Xinxiang's divisions and the demo's grids (``wangge.demo.prepare``,
seed 7; topped up with synthetic grid rows under villages if the demo makes fewer than
``--grids``), and ``--subscribers`` accounts with bearer sessions inserted directly: 80% grid
members, each at a different random grid, 20% commanders spread over the city's county-level
units. Each holds ``GET /api/v1/stream`` open (httpx streaming clients in this process) against
one uvicorn worker in a subprocess (``WANGGE_BUS=postgres``, scheduler off).

1. Fan-out. Ours: a city commander ``POST``s ``/api/v1/directives`` with the target
   ``{"subtree": "4107"}`` (after one warm-up directive to a township), ``--repeat`` times (5),
   waiting for every delivery in between. The POST is sent from a separate process so that the
   stream clients cannot delay it; ``fanout_ms`` is request sent → 201 received (the
   transaction, one assignment per grid, commits before the answer), median over the repeats;
   every answer's assignments are counted in the database. One uvicorn worker serves both the
   POST and the 1,000 streams, so the 201 competes with the delivery of its own event. The
   directive publishes one ``directive.issued`` event for its target, which every subscriber of
   the city must receive exactly once. Delivery latency = receive time − the event's ``at``,
   over every subscriber and repeat; ``at`` is stamped when the event is queued, before the
   directive is read back for the answer and committed, so this over-states the time after
   commit (conservative); the figure counted from the 201's arrival (which under-states it, and
   is negative for a subscriber served before the answer) is printed too.

   Naive peer (same run, same database, from this process): the loop a fan-out is usually
   first written as — one ORM ``add`` + ``flush`` per assignment and one published event per
   assignment (``bus.queue``: one ``event_log`` row each, which the NOTIFY trigger publishes at
   commit), then commit; timed from the start to the commit's return. Its delivery is measured
   per subscriber as the time from that commit until it has received every event of its scope
   (its grid's one, or every grid of its county: a few hundred for a county commander).

2. Progress. ``--directives`` directives × all grids are inserted in bulk (statuses spread
   by a hash, some overdue), then ``GET /api/v1/directives/{id}/progress?region=4107``
   (counts per county) by the city commander is timed ``--calls`` times over HTTP (the median
   is ``progress_ms``).
   Naive peer: the plain query — ``GROUP BY directive_id, county, status`` over all
   assignments, picking the directive's rows in Python — timed the same number of times
   straight on the database (no HTTP, no authentication: in its favour). Both must give the
   same counts.

    python bench/fanout.py [--quick] [--pg URL] [--subscribers N] [--directives N] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from server import insert_bench_accounts, start_server
from wangge.authz.permissions import DIRECTIVE_READ
from wangge.kit import bus, migrate
from wangge.kit.bus import Event
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.kit.scratch import create_schema, drop_schemas
from wangge.models import Region
from wangge.models.directive import Directive, DirectiveAssignment

CITY = "4107"
GRIDS = 4507
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATUSES = ("delivered", "acknowledged", "completed", "accepted", "returned")
EVENT = "directive.issued"


# --- data --------------------------------------------------------------------------------------


@dataclass
class Subscriber:
    role: str  # grid_member | commander
    scope: str  # the post's region
    token: str


@dataclass
class Prepared:
    grids: list[str]
    issuer_token: str
    subscribers: list[Subscriber]
    topped_up: int


async def prepare(url: str, subscribers: int, grid_count: int, seed: int) -> Prepared:
    """The Xinxiang demo (exactly ``grid_count`` grids), a city commander who issues, and the
    stream subscribers."""
    from wangge.demo import prepare as prepare_demo

    engine = create_engine(url)
    rng = random.Random(seed)
    try:
        await prepare_demo(engine, seed=7, city=CITY, cases=False)
        async with engine.begin() as conn:
            grids = list((await conn.execute(
                select(Region.code).where(Region.level == "grid", Region.code.startswith(CITY))
                .order_by(Region.code))).scalars().all())
            if len(grids) > grid_count:
                raise SystemExit(f"the demo makes {len(grids):,} grids, more than {grid_count:,}")
            missing = grid_count - len(grids)
            now = utcnow()
            if missing:
                villages = (await conn.execute(
                    select(Region.code).where(Region.level == "village",
                                              Region.code.startswith(CITY))
                    .order_by(Region.code))).scalars().all()
                extra = [f"{villages[i % len(villages)]}{900 + i // len(villages):03d}"
                         for i in range(missing)]
                await conn.execute(insert(Region), [
                    {"code": g, "parent_code": g[:12], "level": "grid", "name": g,
                     "kind": "rural", "urban": False, "synthetic": True, "created_at": now}
                    for g in extra])
                grids = sorted(grids + extra)
            counties = (await conn.execute(
                select(Region.code).where(Region.level == "county", Region.code.startswith(CITY))
                .order_by(Region.code))).scalars().all()

            n_commanders = max(1, subscribers // 5) if subscribers > 1 else 0
            posts = [("commander", counties[i % len(counties)]) for i in range(n_commanders)]
            posts += [("grid_member", g) for g in rng.sample(grids, subscribers - n_commanders)]
            posts.append(("commander", CITY))  # the issuer, last
            tokens = await insert_bench_accounts(conn, "fanout", posts)
        subs = [Subscriber(role, code, tok)
                for (role, code), tok in zip(posts[:-1], tokens[:-1], strict=True)]
        return Prepared(grids, tokens[-1], subs, missing)
    finally:
        await engine.dispose()


def sees(sub: Subscriber, region: str) -> bool:
    """Whether ``sub`` receives a directive event for ``region``: the region lies in its scope,
    or its scope lies in the region's subtree (a directive reaches down)."""
    return region.startswith(sub.scope) or sub.scope.startswith(region)


# --- the issuer: a process of its own ------------------------------------------------------------


def issuer_main(conn: Connection) -> None:
    """Sends the requests it is given, one at a time, over one keep-alive connection; answers
    (sent at, received at, status, body) in wall-clock seconds."""
    with httpx.Client(timeout=300) as client:
        while (job := conn.recv()) is not None:
            method, url, headers, body = job
            sent = time.time()
            res = client.request(method, url, headers=headers, json=body)
            conn.send((sent, time.time(), res.status_code, res.text))


class Issuer:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=issuer_main, args=(child,), daemon=True)
        self.proc.start()

    def request(self, method: str, url: str, token: str,
                body: Any = None) -> tuple[float, float, int, Any]:
        self.conn.send((method, url, {"Authorization": f"Bearer {token}"}, body))
        sent, received, status, raw = self.conn.recv()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw
        return sent, received, status, answer

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join(10)


# --- the stream subscribers ----------------------------------------------------------------------


@dataclass
class Delivery:
    subscriber: int
    region: str
    received: float  # wall clock, s
    at: float  # the event's own time, s


@dataclass
class Received:
    """Every ``directive.issued`` event every subscriber received, by directive id."""

    connected: int = 0
    by_directive: dict[int, list[Delivery]] = field(default_factory=lambda: defaultdict(list))


def directive_of(payload: dict[str, Any]) -> int:
    return int(payload.get("directive_id", payload.get("id", -1)))


def parse_at(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


async def subscribe(client: httpx.AsyncClient, base: str, index: int, token: str,
                    got: Received) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("GET", f"{base}/api/v1/stream", headers=headers) as res:
        if res.status_code != 200:
            raise SystemExit(f"subscriber {index}: HTTP {res.status_code}")
        got.connected += 1
        async for line in res.aiter_lines():
            if line.startswith("data:"):
                now = time.time()
                body = json.loads(line[5:])
                if body.get("type") == EVENT:
                    got.by_directive[directive_of(body["payload"])].append(
                        Delivery(index, body["region_code"], now, parse_at(body["at"])))


async def wait_for(done: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# --- fan-out: ours and the naive loop ------------------------------------------------------------


def directive_body(target: dict[str, Any], title: str) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "targets": [target], "title": title,
            "body": "请各网格于今日内完成辖区安全隐患排查并反馈。", "kind": "task"}


async def assignments_of(engine: AsyncEngine, directive_id: int) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(
            select(func.count()).select_from(DirectiveAssignment)
            .where(DirectiveAssignment.directive_id == directive_id)) or 0)


async def naive_fanout(engine: AsyncEngine, grids_expected: int) -> tuple[int, float, float]:
    """One ORM insert and one published event per assignment, then commit. Returns
    (directive id, seconds from start to commit, wall-clock time of the commit)."""
    maker = create_sessionmaker(engine)
    async with maker() as session:
        started = time.perf_counter()
        now = utcnow()
        grids = (await session.execute(
            select(Region.code).where(Region.level == "grid", Region.code.startswith(CITY))
            .order_by(Region.code))).scalars().all()
        directive = Directive(
            client_uuid=str(uuid.uuid4()), content_hash=uuid.uuid4().hex, region_code=CITY,
            level="city", issuer="naive", issuer_post=f"commander@{CITY}", title="naive",
            body="naive", kind="task", priority="normal", feedback_schema="{}",
            targets=json.dumps([{"subtree": CITY}]), target_count=len(grids),
            ack_due_at=now + timedelta(days=1), status="active", created_at=now)
        session.add(directive)
        await session.flush()
        for code in grids:
            session.add(DirectiveAssignment(
                directive_id=directive.id, region_code=code, level="grid", status="delivered",
                emergency=False, delivered_at=now, ack_due_at=directive.ack_due_at,
                returns=0, reminders=0, updated_at=now))
            await session.flush()
            await bus.queue(session, Event(EVENT, code, DIRECTIVE_READ,
                                           {"directive_id": directive.id, "title": "naive"}))
        await session.commit()
        elapsed = time.perf_counter() - started
        committed = time.time()
        directive_id = directive.id
    if len(grids) != grids_expected:
        raise SystemExit(f"naive: {len(grids)} grids, expected {grids_expected}")
    return directive_id, elapsed, committed


@dataclass
class FanoutResult:
    fanout_s: list[float]
    delivery_s: list[float]  # receive − event's at
    delivery_after_201_s: list[float]  # receive − 201 received
    naive_fanout_s: float
    naive_delivery_s: list[float]  # per subscriber: last event of its scope − commit
    checks: dict[str, bool]
    connect_s: float


async def run_fanout(args: argparse.Namespace, url: str, base: str, data: Prepared,
                     issuer: Issuer) -> FanoutResult:
    engine = create_engine(url)
    got = Received()
    subs = data.subscribers
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    checks: dict[str, bool] = {}
    post_url = f"{base}/api/v1/directives"

    def exactly_once(directive_id: int, target: str) -> bool:
        who = Counter(d.subscriber for d in got.by_directive[directive_id])
        want = {i for i, s in enumerate(subs) if sees(s, target)}
        return set(who) == want and all(n == 1 for n in who.values())

    async def issue(target: str, title: str) -> tuple[float, float, int]:
        sent, received, status, answer = await asyncio.to_thread(
            issuer.request, "POST", post_url, data.issuer_token,
            directive_body({"subtree": target}, title))
        if status != 201:
            raise SystemExit(f"POST /api/v1/directives: HTTP {status}: {answer}")
        return sent, received, int(answer["id"])

    try:
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(None, connect=60)
                                     ) as client:
            tasks = [asyncio.create_task(subscribe(client, base, i, s.token, got))
                     for i, s in enumerate(subs)]
            started = time.perf_counter()
            while got.connected < len(subs):
                for t in tasks:
                    if t.done():
                        t.result()
                        raise SystemExit("a subscriber's stream ended")
                await asyncio.sleep(0.05)
            connect_s = time.perf_counter() - started
            await asyncio.sleep(0.5)

            # Warm-up: one directive to the first grid's township.
            township = data.grids[0][:9]
            _, _, warm = await issue(township, "预热")
            await wait_for(lambda: exactly_once(warm, township), 30)
            checks["warm-up delivered exactly once"] = exactly_once(warm, township)

            fanout_s: list[float] = []
            delivery: list[float] = []
            after_201: list[float] = []
            for r in range(args.repeat):
                sent, received, directive_id = await issue(CITY, f"全市安全隐患排查 {r + 1}")
                fanout_s.append(received - sent)
                checks[f"ours #{r + 1}: {len(data.grids):,} assignments"] = (
                    await assignments_of(engine, directive_id) == len(data.grids))
                await wait_for(lambda i=directive_id: len(got.by_directive[i]) >= len(subs), 60)
                await asyncio.sleep(0.3)  # let any duplicate arrive too
                checks[f"ours #{r + 1}: every subscriber once"] = exactly_once(directive_id, CITY)
                for d in got.by_directive[directive_id]:
                    delivery.append(d.received - d.at)
                    after_201.append(d.received - received)

            # Naive: 4,507 events; each subscriber expects those of its scope.
            naive_id, naive_s, committed = await naive_fanout(engine, len(data.grids))
            checks[f"naive: {len(data.grids):,} assignments"] = (
                await assignments_of(engine, naive_id) == len(data.grids))
            want = [{g for g in data.grids if sees(s, g)} for s in subs]
            total = sum(len(w) for w in want)
            await wait_for(lambda: len(got.by_directive[naive_id]) >= total, 300)
            await asyncio.sleep(0.5)
            per_sub: dict[int, list[Delivery]] = defaultdict(list)
            for d in got.by_directive[naive_id]:
                per_sub[d.subscriber].append(d)
            checks["naive: every subscriber its scope's events once"] = all(
                sorted(d.region for d in per_sub[i]) == sorted(want[i]) for i in range(len(subs)))
            naive_delivery = [max(d.received for d in per_sub[i]) - committed
                              for i in range(len(subs)) if per_sub[i]]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await engine.dispose()
    return FanoutResult(fanout_s, delivery, after_201, naive_s, naive_delivery, checks,
                        connect_s)


# --- progress ------------------------------------------------------------------------------------


async def fill(url: str, directives: int, grids: int) -> list[int]:
    """``directives`` directives × every grid, statuses spread evenly, 10% of those waiting for
    acknowledgement overdue. Returns the new directives' ids."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            ids = list((await conn.execute(text("""
                INSERT INTO directives (client_uuid, content_hash, region_code, level, issuer,
                  issuer_post, title, body, kind, priority, feedback_schema, targets,
                  target_count, ack_due_at, due_at, status, created_at)
                SELECT md5('fill' || s), md5('fill' || s), c.city, 'city', 'bench',
                  'commander@' || c.city, '批量指令 ' || s, 'bench', 'task', 'normal', '{}',
                  '[{"subtree": "' || c.city || '"}]', :grids,
                  now() - interval '1 hour', now() + interval '3 days', 'active',
                  now() - (s || ' minutes')::interval
                FROM generate_series(1, :n) AS s, (SELECT CAST(:city AS text) AS city) AS c
                ORDER BY s RETURNING id"""),
                {"city": CITY, "grids": grids, "n": directives})).scalars())
            # Statuses and the overdue mark from a hash of (directive, grid): random-looking,
            # the same every run.
            await conn.execute(text("""
                INSERT INTO directive_assignments (directive_id, region_code, level, status,
                  version, emergency, delivered_at, ack_due_at, due_at, returns, overdue_at,
                  overdue_step, reminders, updated_at)
                SELECT d.id, g.code, 'grid', x.status, 1, false, d.created_at, d.ack_due_at,
                  d.due_at, 0,
                  CASE WHEN x.late THEN now() END, CASE WHEN x.late THEN 'acknowledge' END,
                  0, now()
                FROM directives d
                JOIN regions g ON g.level = 'grid' AND g.code LIKE CAST(:city AS text) || '%'
                CROSS JOIN LATERAL (
                  SELECT s.status, s.status IN ('delivered', 'returned')
                           AND (hashtext(g.code || '/' || d.id) & 2147483647) % 10 = 0 AS late
                  FROM (SELECT (ARRAY['delivered', 'acknowledged', 'completed', 'accepted',
                                      'returned'])[1 + (hashtext(d.id || '/' || g.code)
                                                        & 2147483647) % 5] AS status) AS s
                ) AS x
                WHERE d.id = ANY(:ids)"""),
                {"ids": ids, "city": CITY})
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE directive_assignments"))
            await conn.execute(text("ANALYZE directives"))
        return ids
    finally:
        await engine.dispose()


NAIVE_PROGRESS = text("""
    SELECT directive_id, substr(region_code, 1, :width) AS child, status, count(*),
           count(overdue_at)
    FROM directive_assignments GROUP BY 1, 2, 3""")


async def naive_progress(url: str, directive_id: int, width: int, calls: int
                         ) -> tuple[list[float], dict[str, dict[str, int]]]:
    """The plain GROUP BY over all assignments, then the directive's rows picked in Python."""
    engine = create_engine(url)
    times: list[float] = []
    counts: dict[str, dict[str, int]] = {}
    try:
        async with engine.connect() as conn:
            await conn.execute(NAIVE_PROGRESS, {"width": width})  # warm
            for _ in range(calls):
                started = time.perf_counter()
                rows = (await conn.execute(NAIVE_PROGRESS, {"width": width})).all()
                counts = defaultdict(lambda: defaultdict(int))
                for did, child, status, n, overdue in rows:
                    if did == directive_id:
                        counts[child][status] += n
                        counts[child]["total"] += n
                        counts[child]["overdue"] += overdue
                times.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return times, {child: {k: n for k, n in c.items() if n} for child, c in counts.items()}


def ours_counts(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    out = {}
    for row in answer["children"]:
        counts = {k: int(row[k]) for k in (*STATUSES, "total", "overdue") if row.get(k)}
        if counts:
            out[row["code"]] = counts
    return out


def progress_ours(base: str, token: str, directive_id: int, calls: int, issuer: Issuer
                  ) -> tuple[list[float], dict[str, Any]]:
    url = f"{base}/api/v1/directives/{directive_id}/progress?region={CITY}"
    status, answer = issuer.request("GET", url, token)[2:]  # warm
    if status != 200:
        raise SystemExit(f"GET progress: HTTP {status}: {answer}")
    times = []
    for _ in range(calls):
        sent, received, status, answer = issuer.request("GET", url, token)
        if status != 200:
            raise SystemExit(f"GET progress: HTTP {status}: {answer}")
        times.append(received - sent)
    return times, answer


# --- report --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="50 subscribers, 10 directives, one repeat, 20 calls")
    ap.add_argument("--pg", default=os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_PG))
    ap.add_argument("--grids", type=int, default=GRIDS)
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--directives", type=int, default=None, help="for the progress query")
    ap.add_argument("--repeat", type=int, default=None, help="directives to the whole city")
    ap.add_argument("--calls", type=int, default=None, help="progress queries timed")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    args.subscribers = args.subscribers or (50 if args.quick else 1000)
    args.directives = args.directives or (10 if args.quick else 100)
    args.repeat = args.repeat or (1 if args.quick else 5)
    args.calls = args.calls or (20 if args.quick else 50)

    issuer = Issuer()  # forked before anything else runs
    url, schema = create_schema(args.pg, "bench_fanout")
    proc: subprocess.Popen[bytes] | None = None
    try:
        migrate.upgrade(url)
        started = time.perf_counter()
        data = asyncio.run(prepare(url, args.subscribers, args.grids, args.seed))
        print(f"prepared {len(data.grids):,} grids ({data.topped_up} synthetic rows added), "
              f"{len(data.subscribers):,} subscribers in {time.perf_counter() - started:.1f} s")
        proc, base = start_server({"WANGGE_DATABASE_URL": url, "WANGGE_BUS": "postgres",
                                   "WANGGE_SCHEDULER": "off",
                                   "WANGGE_STREAM_HEARTBEAT_SECONDS": "15"},
                                  "--no-access-log", "--timeout-graceful-shutdown", "5")
        fan = asyncio.run(run_fanout(args, url, base, data, issuer))
        ids = asyncio.run(fill(url, args.directives, len(data.grids)))
        target = ids[len(ids) // 2]
        ours_t, answer = progress_ours(base, data.issuer_token, target, args.calls, issuer)
        width = len(answer["children"][0]["code"]) if answer.get("children") else 6
        naive_t, naive_counts = asyncio.run(naive_progress(url, target, width, args.calls))
    finally:
        issuer.close()
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        drop_schemas(args.pg, [schema])

    checks = dict(fan.checks)
    checks["progress: same counts per county"] = ours_counts(answer) == naive_counts
    checks["progress: total = grids"] = answer["region"]["total"] == len(data.grids)
    agree = all(checks.values())

    fanout_ms = statistics.median(fan.fanout_s) * 1000
    naive_fanout_ms = fan.naive_fanout_s * 1000
    d50, d99 = pct(fan.delivery_s, 50) * 1000, pct(fan.delivery_s, 99) * 1000
    a50, a99 = pct(fan.delivery_after_201_s, 50) * 1000, pct(fan.delivery_after_201_s, 99) * 1000
    n50, n99 = pct(fan.naive_delivery_s, 50) * 1000, pct(fan.naive_delivery_s, 99) * 1000
    progress_ms = statistics.median(ours_t) * 1000
    naive_progress_ms = statistics.median(naive_t) * 1000
    commanders = sum(1 for s in data.subscribers if s.role == "commander")
    print(f"PostgreSQL; {len(data.grids):,} grids; {len(data.subscribers):,} stream subscribers "
          f"({len(data.subscribers) - commanders} grid members, {commanders} county commanders), "
          f"connected in {fan.connect_s:.1f} s; {args.repeat} directive(s) to the whole city; "
          f"progress over {args.directives} × {len(data.grids):,} assignments, "
          f"{args.calls} calls")
    print(f"{'':<44}{'ours':>11}{'naive':>11}{'ratio':>9}")
    print(f"{'fan-out, request -> committed (ms)':<44}{fanout_ms:>11.1f}{naive_fanout_ms:>11.1f}"
          f"{naive_fanout_ms / fanout_ms:>8.1f}x")
    print(f"{'delivery after commit, p50 (ms)':<44}{d50:>11.1f}{n50:>11.1f}{n50 / d50:>8.1f}x")
    print(f"{'delivery after commit, p99 (ms)':<44}{d99:>11.1f}{n99:>11.1f}{n99 / d99:>8.1f}x")
    print(f"{'progress for the city, median (ms)':<44}{progress_ms:>11.1f}"
          f"{naive_progress_ms:>11.1f}{naive_progress_ms / progress_ms:>8.1f}x")
    print(f"{'progress for the city, p99 (ms)':<44}{pct(ours_t, 99) * 1000:>11.1f}"
          f"{pct(naive_t, 99) * 1000:>11.1f}")
    print(f"ours: fan-out per repeat {', '.join(f'{s * 1000:.0f}' for s in fan.fanout_s)} ms; "
          f"delivery counted from the 201's arrival instead of the event's time: "
          f"p50 {a50:.1f} ms, p99 {a99:.1f} ms")
    print("naive: one ORM insert + one event per assignment; its delivery is per subscriber, "
          "until every event of its scope arrived; its progress is SQL only (no HTTP)")
    print(f"goals: fan-out < 1000 ms {'met' if fanout_ms < 1000 else 'missed'}; delivery p99 "
          f"< 1000 ms {'met' if d99 < 1000 else 'missed'}; progress < 50 ms "
          f"{'met' if progress_ms < 50 else 'missed'}")
    for name, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAIL'} {name}")
    print(json.dumps({
        "bench": "fanout", "database": "postgresql", "grids": len(data.grids),
        "subscribers": len(data.subscribers), "repeat": args.repeat,
        "directives": args.directives + args.repeat + 2,
        "fanout_ms": round(fanout_ms, 1), "naive_fanout_ms": round(naive_fanout_ms, 1),
        "fanout_ratio": round(naive_fanout_ms / fanout_ms, 1),
        "delivery_p50_ms": round(d50, 1), "delivery_p99_ms": round(d99, 1),
        "delivery_after_201_p99_ms": round(a99, 1),
        "naive_delivery_p50_ms": round(n50, 1), "naive_delivery_p99_ms": round(n99, 1),
        "progress_ms": round(progress_ms, 2), "progress_p99_ms": round(pct(ours_t, 99) * 1000, 2),
        "naive_progress_ms": round(naive_progress_ms, 2),
        "progress_ratio": round(naive_progress_ms / progress_ms, 1),
        "connect_s": round(fan.connect_s, 1), "agree": agree,
    }))


if __name__ == "__main__":
    main()
