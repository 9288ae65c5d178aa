"""Benchmark: registry queries on a loaded city — a resident found by ID number, and a grid's
registry page — over HTTP on PostgreSQL, next to plain SQL and a look-up without the keyed hash.

Data: a scratch schema holding the Xinxiang demo (divisions, grids, staff; no cases) and the
synthetic population of ``wangge.registry.generate.generate_registry`` at ``--scale`` S (S=1:
about 6.25 million residents, ~1,400 a grid), loaded like ``bench/registry_load.py`` with a fixed
benchmark key. Loading S=1 takes about five minutes: ``--keep`` keeps the schema (its name is
printed) and ``--schema NAME`` reuses one. Bench accounts with bearer sessions are inserted
directly (``bench/server.py``): a city commander (``commander@4107``), one grid member per
grid measured and one commander per county. The app runs as one uvicorn worker in a
subprocess; the client sends its requests one after another over one keep-alive connection
(httpx), so each figure is one request's latency, client included.

1. ID look-up. ``--lookups`` random live residents (random ids, seed ``--seed``) whose ID numbers
   are decrypted from the database with the benchmark key; each is looked up with
   ``GET /api/v1/residents?id_number=<18 characters>`` as the city commander. Agreement: every
   answer is exactly that resident.
   Peer (lower bound): the same look-up as plain SQL on one psycopg connection (autocommit,
   prepared statements) — the keyed hash computed in Python, then ``SELECT <the columns the API
   returns> FROM residents WHERE id_number_hash = %s AND merged_into_id IS NULL`` (the partial
   unique index ``uq_residents_id_number_hash``). Requests of ours and the peer alternate.
   Naive: a look-up without a keyed hash — the design many first versions have: the ID number
   is stored encrypted with a random nonce (so it cannot be compared in SQL) plus its masked
   form for display, and a search narrows by the masked form (``WHERE id_number_masked =
   mask(x)``: first four and last four characters) and then decrypts every candidate to compare.
   The masked column is a display column with no index (as in our schema), so each look-up
   scans the table; a registered resident of Xinxiang shares ``4107`` and the last four
   characters with thousands of others, all decrypted (21,000 on average at S=1: the synthetic
   sequence numbers are small). Plain SQL and Python, no HTTP (in
   its favour); run on ``--naive`` of the same residents only, being slow.

2. Grid page. ``GET /registry/{grid}`` (the HTML page, default tab: the grid's newest 30
   residents, masked, with their tags) for ``--pages`` random grids that have residents, as the
   city commander and, separately, as that grid's own grid member; plus ``GET
   /api/v1/residents?grid=CODE`` (50 residents, JSON) as the commander. Agreement: the resident
   ids on each page (and in each API answer) equal the peer's, in order.
   Peer (lower bound): the page's data as plain SQL on the psycopg connection — the grid and its
   ancestors from ``regions``, the newest 31 live residents of the grid (``ORDER BY id DESC
   LIMIT 31``, from ``ix_residents_region_id``) and their tags; no HTML, no HTTP.

3. Extra: a county commander's resident list (``GET /api/v1/residents`` without a grid: the
   newest 50 of the whole scope), once per county. Peer: the newest 50 of each of the county's
   grids through ``ix_residents_region_id``, then the newest 50 of those (``LATERAL``); the
   ids must be equal.

Ratios: ours ÷ peer (what HTTP, authentication, scope, ORM, rendering cost over the floor) and
naive ÷ ours. Goals: ID look-up p99 < 10 ms, grid page p99 < 200 ms (at S=1).

    python bench/registry_query.py [--quick] [--scale S] [--schema NAME] [--keep] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server import cpu_seconds, insert_bench_accounts, start_server
from wangge.config import normalise_database_url
from wangge.kit import migrate
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import create_engine
from wangge.kit.scratch import create_schema, drop_schemas
from wangge.registry import idnumber
from wangge.registry.generate import generate_registry

CITY = "4107"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The same fixed key as bench/registry_load.py (scratch data only, never a production key).
BENCH_KEY = b"bench-only-pii-key-32-bytes-long"
PAGE_SIZE = 30  # wangge.registry.pages.PAGE_SIZE
API_PAGE = 50  # the API's default limit
GOAL_LOOKUP_MS, GOAL_PAGE_MS = 10.0, 200.0
RESIDENT_LINK = re.compile(r'href="/registry/residents/(\d+)"')
# The columns the API returns for a resident (wangge.registry.service._resident_out).
RESIDENT_COLUMNS = ("id, region_code, household_id, relation, name, sex, birth_date, ethnicity, "
                    "population_type, id_number_masked, phone_masked, merged_into_id, version, "
                    "created_at, updated_at")
TAG_COLUMNS = ("id, resident_id, category, level, responsible_post, fields, "
               "visit_interval_days, last_visit_at, active")


# --- data ----------------------------------------------------------------------------------------


def schema_url(base: str, schema: str) -> str:
    """The async URL into ``schema`` (as ``create_schema`` makes it)."""
    url = make_url(normalise_database_url(base)).update_query_dict(
        {"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psycopg's conninfo (the search_path option kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def load(url: str, scale: float, seed: int, cipher: PiiCipher) -> float:
    """The demo without cases, then the population; returns the population's load time."""
    from wangge.demo import prepare as prepare_demo

    engine = create_engine(url)
    try:
        await prepare_demo(engine, seed=7, city=CITY, cases=False)
        started = time.perf_counter()
        summary = await generate_registry(engine, CITY, scale, seed, cipher)
        if summary.skipped:
            raise SystemExit("the schema already had residents")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


@dataclass
class Person:
    id: int
    region_code: str
    id_number: str  # clear


@dataclass
class Data:
    residents: int
    people: list[Person]  # for the ID look-ups
    grids: list[tuple[str, int]]  # (grid, residents) for the pages
    median_grid: float  # residents per grid, over every grid with residents
    commander: str  # bearer token
    members: dict[str, str]  # grid -> its grid member's bearer token
    counties: dict[str, str]  # county -> its commander's bearer token


def sample(conn: psycopg.Connection[Any], cipher: PiiCipher, lookups: int, pages: int,
           seed: int) -> tuple[int, list[Person], list[tuple[str, int]], float]:
    rng = random.Random(seed)
    lo, hi = conn.execute("SELECT min(id), max(id) FROM residents").fetchone() or (None, None)
    if lo is None or hi is None:
        raise SystemExit("no residents in the schema")
    people: list[Person] = []
    seen: set[int] = set()
    while len(people) < lookups:
        ids = [i for i in (rng.randint(lo, hi) for _ in range(lookups * 2)) if i not in seen]
        seen.update(ids)
        for rid, region, enc, id_hash in conn.execute(
                "SELECT id, region_code, id_number_enc, id_number_hash FROM residents "
                "WHERE id = ANY(%s) AND merged_into_id IS NULL AND id_number_enc IS NOT NULL",
                (ids,)):
            clear = cipher.decrypt(enc, "id_number")
            if cipher.keyed_hash("id_number", clear) != id_hash:
                raise SystemExit(f"resident {rid}: the hash does not match the bench key")
            people.append(Person(rid, region, clear))
    rng.shuffle(people)
    counts = conn.execute("SELECT region_code, count(*) FROM residents "
                          "WHERE merged_into_id IS NULL GROUP BY region_code "
                          "ORDER BY region_code").fetchall()
    residents = sum(n for _, n in counts)
    # A generator of its own: the grids do not depend on the number of look-ups.
    grids = random.Random(seed + 1).sample(counts, min(pages, len(counts)))
    return residents, people[:lookups], grids, statistics.median(n for _, n in counts)


async def accounts(url: str, grids: Sequence[str]
                   ) -> tuple[str, dict[str, str], dict[str, str]]:
    """A city commander, one grid member per grid and one commander per county, each with a
    bearer session: (city token, grid -> token, county -> token)."""
    engine = create_engine(url)
    prefix = f"rq{uuid.uuid4().hex[:6]}_"  # a reused schema keeps earlier runs' accounts
    try:
        async with engine.begin() as conn:
            counties = list((await conn.execute(text(
                "SELECT code FROM regions WHERE level = 'county' AND code LIKE :city "
                "ORDER BY code"), {"city": f"{CITY}%"})).scalars())
            tokens = await insert_bench_accounts(
                conn, prefix, [("commander", CITY), *(("grid_member", g) for g in grids),
                               *(("commander", c) for c in counties)])
            # Keep the planner's figures current: the load analysed the registry, not these.
            await conn.execute(text("ANALYZE accounts"))
            await conn.execute(text("ANALYZE auth_sessions"))
    finally:
        await engine.dispose()
    members = tokens[1:len(grids) + 1]
    return (tokens[0], dict(zip(grids, members, strict=True)),
            dict(zip(counties, tokens[len(grids) + 1:], strict=True)))


# --- the peers -----------------------------------------------------------------------------------


class Sql:
    """The lower bound: plain SQL on one autocommit psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any], cipher: PiiCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def lookup(self, id_number: str) -> list[int]:
        h = self.cipher.keyed_hash("id_number", idnumber.parse(id_number).value)
        rows = self.conn.execute(
            f"SELECT {RESIDENT_COLUMNS} FROM residents "
            "WHERE id_number_hash = %s AND merged_into_id IS NULL", (h,), prepare=True).fetchall()
        return [r[0] for r in rows]

    def page(self, grid: str, limit: int = PAGE_SIZE) -> list[int]:
        ancestors = [grid[:n] for n in (2, 4, 6, 9, 12, 15) if n <= len(grid)]
        self.conn.execute("SELECT code, name, level, parent_code, kind, urban, households "
                          "FROM regions WHERE code = ANY(%s)", (ancestors,),
                          prepare=True).fetchall()
        rows = self.conn.execute(
            f"SELECT {RESIDENT_COLUMNS} FROM residents WHERE region_code = %s "
            "AND merged_into_id IS NULL ORDER BY id DESC LIMIT %s", (grid, limit + 1),
            prepare=True).fetchall()
        ids = [r[0] for r in rows[:limit]]
        self.conn.execute(f"SELECT {TAG_COLUMNS} FROM resident_tags WHERE resident_id = ANY(%s) "
                          "ORDER BY id", (ids,), prepare=True).fetchall()
        return ids

    def scope_list(self, region: str, limit: int = API_PAGE) -> list[int]:
        """The newest residents under ``region``: the newest of each grid, then overall (the
        grids' ``(region_code, id)`` index read backwards; see the county list below)."""
        rows = self.conn.execute(
            "SELECT r.id FROM regions g CROSS JOIN LATERAL (SELECT id FROM residents "
            "WHERE region_code = g.code AND merged_into_id IS NULL ORDER BY id DESC LIMIT %s) r "
            "WHERE g.level = 'grid' AND g.code LIKE %s ORDER BY r.id DESC LIMIT %s",
            (limit, f"{region}%", limit), prepare=True).fetchall()
        return [r[0] for r in rows]

    def naive_lookup(self, id_number: str) -> list[int]:
        """No keyed hash: narrow by the masked form (unindexed), decrypt every candidate."""
        value = idnumber.parse(id_number).value
        found = []
        for rid, enc in self.conn.execute(
                "SELECT id, id_number_enc FROM residents "
                "WHERE id_number_masked = %s AND merged_into_id IS NULL",
                (idnumber.mask(value),), prepare=True):
            if self.cipher.decrypt(enc, "id_number") == value:
                found.append(rid)
        return found

    def naive_candidates(self, id_number: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM residents WHERE id_number_masked = %s "
            "AND merged_into_id IS NULL", (idnumber.mask(id_number),)).fetchone()
        return int(row[0]) if row else 0


# --- ours over HTTP ------------------------------------------------------------------------------


class Http:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)

    def get(self, path: str, token: str, params: dict[str, str] | None = None) -> httpx.Response:
        res = self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        if res.status_code != 200:
            raise SystemExit(f"GET {path} {params}: HTTP {res.status_code}: {res.text[:300]}")
        return res

    def lookup(self, token: str, id_number: str) -> list[int]:
        body = self.get("/api/v1/residents", token, {"id_number": id_number}).json()
        return [item["id"] for item in body["items"]]

    def page(self, token: str, grid: str) -> list[int]:
        html = self.get(f"/registry/{grid}", token).text
        return list(dict.fromkeys(int(m) for m in RESIDENT_LINK.findall(html)))

    def api_list(self, token: str, grid: str | None) -> list[int]:
        body = self.get("/api/v1/residents", token, {"grid": grid} if grid else None).json()
        return [item["id"] for item in body["items"]]

    def close(self) -> None:
        self.client.close()


def timed(fn: Callable[[], list[int]], pid: int | None = None) -> tuple[float, float, list[int]]:
    """Wall-clock ms of ``fn()``, the CPU seconds process ``pid`` used meanwhile, the answer."""
    cpu = cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    out = fn()
    ms = (time.perf_counter() - started) * 1000
    return ms, (cpu_seconds(pid) - cpu if pid else 0.0), out


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Series:
    """Latencies (ms) of one kind of request and whether every answer agreed."""

    ms: list[float]
    agree: bool
    cpu_s: float = 0.0  # the app's CPU time over these requests (clock ticks: 10 ms steps)

    @property
    def cpu_ms(self) -> float:
        """The app's CPU time per request, ms (0 for the peers: not over HTTP)."""
        return self.cpu_s * 1000 / len(self.ms) if self.ms else float("nan")

    @property
    def p50(self) -> float:
        return pct(self.ms, 50)

    @property
    def p99(self) -> float:
        return pct(self.ms, 99)


def measure(http: Http, sql: Sql, data: Data, naive_n: int, warm: int,
            app_pid: int) -> dict[str, Series]:
    people, grids = data.people, [g for g, _ in data.grids]
    cmd = data.commander
    # Warm-up: the app's code paths, the connection pools, prepared statements.
    for p in people[:warm]:
        http.lookup(cmd, p.id_number)
        sql.lookup(p.id_number)
    for g in grids[:max(1, warm // 10)]:
        http.page(cmd, g)
        http.api_list(cmd, g)
        sql.page(g)

    ours: list[float] = []
    peer: list[float] = []
    ok, cpu = True, 0.0
    for i, p in enumerate(people):
        pair: list[tuple[str, Callable[[], list[int]]]] = [
            ("ours", partial(http.lookup, cmd, p.id_number)),
            ("peer", partial(sql.lookup, p.id_number))]
        for who, fn in pair if i % 2 == 0 else pair[::-1]:  # alternate who goes first
            ms, used, ids = timed(fn, app_pid if who == "ours" else None)
            (ours if who == "ours" else peer).append(ms)
            cpu += used
            ok = ok and ids == [p.id]
    out = {"lookup": Series(ours, ok, cpu), "lookup_sql": Series(peer, ok)}

    naive: list[float] = []
    naive_ok = True
    for p in people[:naive_n]:
        ms, _, ids = timed(partial(sql.naive_lookup, p.id_number))
        naive.append(ms)
        naive_ok = naive_ok and ids == [p.id]
    out["lookup_naive"] = Series(naive, naive_ok)

    series: dict[str, list[float]] = {k: [] for k in ("page", "page_member", "api", "page_sql")}
    cpus = dict.fromkeys(series, 0.0)
    page_ok = True
    for i, g in enumerate(grids):
        steps: list[tuple[str, Callable[[], list[int]]]] = [
            ("page", partial(http.page, cmd, g)),
            ("page_member", partial(http.page, data.members[g], g)),
            ("api", partial(http.api_list, cmd, g)),
            ("page_sql", partial(sql.page, g)),
        ]
        expected: dict[str, list[int]] = {}
        for who, fn in steps if i % 2 == 0 else steps[::-1]:
            ms, used, ids = timed(fn, app_pid if who != "page_sql" else None)
            series[who].append(ms)
            cpus[who] += used
            expected[who] = ids
        want = expected["page_sql"]
        page_ok = page_ok and expected["page"] == want and expected["page_member"] == want \
            and expected["api"] == sql.page(g, API_PAGE)
    out.update({k: Series(v, page_ok, cpus[k]) for k, v in series.items()})

    # Extra: a county commander's resident list (no grid: the whole scope, newest first).
    county_ms, county_sql, county_ok = [], [], True
    for county, token in data.counties.items():
        ms, _, ids = timed(partial(http.api_list, token, None))
        sql_ms, _, want = timed(partial(sql.scope_list, county))
        county_ms.append(ms)
        county_sql.append(sql_ms)
        county_ok = county_ok and ids == want
    out["county"] = Series(county_ms, county_ok)
    out["county_sql"] = Series(county_sql, county_ok)
    return out


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: S=0.002, 200 look-ups, 30 grids, 5 naive look-ups")
    ap.add_argument("--scale", type=float, default=None, help="default 1 (0.002 quick)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg", default=os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_PG))
    ap.add_argument("--schema", default=None,
                    help="reuse this already loaded schema (kept; --scale is then ignored)")
    ap.add_argument("--keep", action="store_true", help="keep the new schema for --schema")
    ap.add_argument("--lookups", type=int, default=None, help="ID look-ups (default 3000)")
    ap.add_argument("--pages", type=int, default=None, help="grids (default 400)")
    ap.add_argument("--naive", type=int, default=None, help="naive look-ups (default 20)")
    args = ap.parse_args()
    scale = args.scale if args.scale is not None else (0.002 if args.quick else 1.0)
    lookups = args.lookups or (200 if args.quick else 3000)
    pages = args.pages or (30 if args.quick else 400)
    naive_n = args.naive or (5 if args.quick else 20)
    cipher = PiiCipher(BENCH_KEY)
    base = normalise_database_url(args.pg)

    created: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    try:
        if args.schema:
            schema, url, load_s = args.schema, schema_url(base, args.schema), None
            print(f"reusing schema {schema}")
            migrate.upgrade(url)  # the code may have moved on since it was loaded
        else:
            url, created = create_schema(base, "bench_registry_query")
            schema = created
            print(f"schema {schema}{' (kept: --schema ' + schema + ')' if args.keep else ''}",
                  flush=True)
            migrate.upgrade(url)
            load_s = asyncio.run(load(url, scale, args.seed, cipher))
            print(f"loaded S={scale:g} in {load_s:.1f} s", flush=True)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            started = time.perf_counter()
            residents, people, grids, median_grid = sample(conn, cipher, lookups, pages,
                                                           args.seed)
            commander, members, counties = asyncio.run(accounts(url, [g for g, _ in grids]))
            data = Data(residents, people, grids, median_grid, commander, members, counties)
            print(f"{residents:,} residents; {len(people):,} ID numbers decrypted, "
                  f"{len(grids)} grids sampled in {time.perf_counter() - started:.1f} s",
                  flush=True)
            proc, http_base = start_server(
                {"WANGGE_DATABASE_URL": url, "WANGGE_SCHEDULER": "off",
                 "WANGGE_PII_KEY": base64.b64encode(BENCH_KEY).decode()}, "--no-access-log")
            http = Http(http_base)
            sql = Sql(conn, cipher)
            try:
                result = measure(http, sql, data, naive_n, min(100, len(people)), proc.pid)
                candidates = [sql.naive_candidates(p.id_number) for p in people[:naive_n]]
            finally:
                http.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        if created is not None and not args.keep:
            drop_schemas(base, [created])

    lk, lk_sql, lk_naive = result["lookup"], result["lookup_sql"], result["lookup_naive"]
    page, member, api, page_sql = (result["page"], result["page_member"], result["api"],
                                   result["page_sql"])
    agree = all(s.agree for s in result.values())
    grid_sizes = [n for _, n in grids]
    print(f"PostgreSQL, schema {schema}; {residents:,} residents, {len(grids)} grids measured "
          f"(median {statistics.median(grid_sizes):,.0f} residents each; "
          f"{median_grid:,.0f} over all grids); load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<46}{'p50 ms':>9}{'p99 ms':>9}{'n':>7}{'app CPU ms':>12}")
    rows = [
        ("ID look-up, ours (HTTP, city commander)", lk),
        ("ID look-up, plain SQL by keyed hash", lk_sql),
        ("ID look-up, naive: masked scan + decrypt", lk_naive),
        ("grid page /registry/{grid}, city commander", page),
        ("grid page, the grid's grid member", member),
        ("API list ?grid=CODE (50), city commander", api),
        ("grid page's data, plain SQL", page_sql),
        ("county commander's list (no grid, 50)", result["county"]),
        ("  the same, plain SQL (top 50 per grid)", result["county_sql"]),
    ]
    for label, s in rows:
        cpu_ms = f"{s.cpu_ms:>12.2f}" if s.cpu_s else ""
        print(f"{label:<46}{s.p50:>9.2f}{s.p99:>9.2f}{len(s.ms):>7}{cpu_ms}")
    print(f"ID look-up: ours / SQL = {lk.p50 / lk_sql.p50:.1f}x (p50), "
          f"{lk.p99 / lk_sql.p99:.1f}x (p99); naive / ours = {lk_naive.p50 / lk.p50:.0f}x "
          f"(p50; {statistics.mean(candidates) if candidates else 0:,.0f} candidates "
          f"decrypted per naive look-up on average)")
    print(f"grid page: ours / SQL = {page.p50 / page_sql.p50:.1f}x (p50), "
          f"{page.p99 / page_sql.p99:.1f}x (p99)")
    met_lookup, met_page = lk.p99 < GOAL_LOOKUP_MS, page.p99 < GOAL_PAGE_MS
    print(f"goals: ID look-up p99 < {GOAL_LOOKUP_MS:g} ms {'met' if met_lookup else 'missed'}; "
          f"grid page p99 < {GOAL_PAGE_MS:g} ms {'met' if met_page else 'missed'}")
    for label, s in (("ID look-ups", lk), ("naive look-ups", lk_naive), ("pages", page),
                     ("county lists", result["county"])):
        print(f"  {'ok ' if s.agree else 'FAIL'} {label} agree")
    print(json.dumps({
        "bench": "registry_query", "database": "postgresql",
        "scale": None if args.schema else scale, "load_s": round(load_s, 1) if load_s else None,
        "residents": residents, "grids": len(grids),
        "grid_residents_median": round(statistics.median(grid_sizes)),
        "lookups": len(lk.ms), "naive_lookups": len(lk_naive.ms),
        "id_lookup_p50_ms": round(lk.p50, 2), "id_lookup_p99_ms": round(lk.p99, 2),
        "sql_id_lookup_p50_ms": round(lk_sql.p50, 3), "sql_id_lookup_p99_ms": round(lk_sql.p99, 3),
        "naive_id_lookup_p50_ms": round(lk_naive.p50, 1),
        "naive_id_lookup_p99_ms": round(lk_naive.p99, 1),
        "id_lookup_vs_sql": round(lk.p50 / lk_sql.p50, 1),
        "naive_vs_id_lookup": round(lk_naive.p50 / lk.p50, 1),
        "grid_page_p50_ms": round(page.p50, 2), "grid_page_p99_ms": round(page.p99, 2),
        "grid_page_member_p50_ms": round(member.p50, 2),
        "grid_page_member_p99_ms": round(member.p99, 2),
        "grid_api_p50_ms": round(api.p50, 2), "grid_api_p99_ms": round(api.p99, 2),
        "sql_grid_page_p50_ms": round(page_sql.p50, 3),
        "sql_grid_page_p99_ms": round(page_sql.p99, 3),
        "grid_page_vs_sql": round(page.p50 / page_sql.p50, 1),
        "id_lookup_app_cpu_ms": round(lk.cpu_ms, 2), "grid_page_app_cpu_ms": round(page.cpu_ms, 2),
        "grid_api_app_cpu_ms": round(api.cpu_ms, 2),
        "county_list_p50_ms": round(result["county"].p50, 1),
        "county_list_max_ms": round(max(result["county"].ms), 1),
        "sql_county_list_max_ms": round(max(result["county_sql"].ms), 1),
        "load_avg": round(os.getloadavg()[0], 1),
        "goals_met": met_lookup and met_page, "agree": agree,
    }))


if __name__ == "__main__":
    main()
