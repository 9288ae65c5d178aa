"""Benchmark: the floor under ``bench/intake.py`` — what a bare intake reaches on this machine.

Issue #4 sets intake at 20% of the same server's ``GET /healthz`` rate and gives, for scale, a
prototype that reached 24% "with one round trip to PostgreSQL — without validation, locating or
idempotency". This runs that prototype, so the goal can be read against this machine: a bare
FastAPI app (no middleware, no settings, no ORM) in one uvicorn worker with

- ``GET /healthz`` returning a constant, and
- ``POST /report`` that parses the JSON body into a dict and runs ONE statement on an autocommit
  psycopg pool: look the bearer token up in a sessions table and, in the same statement, insert
  a case row, an audit row and an event row (three small tables, primary keys only).

Both are loaded by ``wrk`` exactly as ``bench/intake.py`` loads the real app (one thread, the
same connections and duration), in one run. Then the real app's ``bench/intake.py`` figures can
be set beside it: the floor's ratio is the most any intake with these writes can reach here.

    python bench/intake_floor.py [--pg URL] [--seconds S] [--connections C]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from intake import DEFAULT_PG, run_wrk
from server import cpu_seconds, free_port, postgres_pids
from wangge.kit.db import psycopg_conninfo
from wangge.kit.scratch import create_schema, drop_schemas

SCHEMA_SQL = """
CREATE TABLE floor_sessions (token_hash text PRIMARY KEY, account_id bigint NOT NULL);
CREATE TABLE floor_cases (id bigserial PRIMARY KEY, client_uuid uuid NOT NULL,
    account_id bigint NOT NULL, title text NOT NULL, description text NOT NULL,
    lng double precision NOT NULL, lat double precision NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE floor_audit (id bigserial PRIMARY KEY, account_id bigint NOT NULL,
    action text NOT NULL, target text NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE floor_events (id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now());
"""

# The app, run by uvicorn as ``intake_floor:create_app`` with the conninfo in the environment.
REPORT_SQL = """
WITH who AS (SELECT account_id FROM floor_sessions WHERE token_hash = %(hash)s),
c AS (INSERT INTO floor_cases (client_uuid, account_id, title, description, lng, lat)
      SELECT %(uuid)s, account_id, %(title)s, %(description)s, %(lng)s, %(lat)s FROM who
      RETURNING id, account_id),
a AS (INSERT INTO floor_audit (account_id, action, target)
      SELECT account_id, 'case.reported', id::text FROM c)
INSERT INTO floor_events (topic, payload)
SELECT 'case.report', json_build_object('id', id)::jsonb FROM c RETURNING payload
"""


def create_app() -> FastAPI:
    pool = AsyncConnectionPool(os.environ["FLOOR_CONNINFO"], min_size=16, max_size=16,
                               kwargs={"autocommit": True, "prepare_threshold": 0}, open=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await pool.open()
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/report", status_code=201)
    async def report(request: Request) -> Any:
        body = await request.json()
        token = request.headers.get("authorization", "")[7:]
        loc = body["location"]
        params = {"hash": hashlib.sha256(token.encode()).hexdigest(), "uuid": body["client_uuid"],
                  "title": body["title"], "description": body["description"],
                  "lng": loc["lng"], "lat": loc["lat"]}
        async with pool.connection() as conn:
            row = await (await conn.execute(REPORT_SQL, params)).fetchone()
        if row is None:
            return JSONResponse({"detail": "unauthenticated"}, status_code=401)
        return JSONResponse(row[0], status_code=201)

    return app


LUA = """
local tokens = {%(tokens)s}
local n = 0
local hex = "0123456789abcdef"
local function uuid4()
  local t = {}
  for i = 1, 32 do
    local r = math.random(1, 16)
    t[i] = hex:sub(r, r)
  end
  return table.concat(t, "", 1, 8) .. "-" .. table.concat(t, "", 9, 12) .. "-4" ..
         table.concat(t, "", 14, 16) .. "-" .. table.concat(t, "", 17, 20) .. "-" ..
         table.concat(t, "", 21, 32)
end
request = function()
  n = n + 1
  local body = '{"client_uuid":"' .. uuid4() .. '","category_code":"0102","title":"邻里纠纷",' ..
    '"description":"楼上漏水引发争执","location":{"lng":113.9,"lat":35.3,"crs":"wgs84"},' ..
    '"fields":{"people_count":2}}'
  return wrk.format("POST", "/report", {["Authorization"] = "Bearer " .. tokens[(n %% #tokens) + 1],
    ["Content-Type"] = "application/json"}, body)
end
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", default=os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_PG))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=500)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")

    url, schema = create_schema(args.pg, "bench_floor")
    conninfo = psycopg_conninfo(url)
    tokens = [secrets.token_urlsafe(32) for _ in range(args.tokens)]
    proc = None
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(SCHEMA_SQL)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO floor_sessions VALUES (%s, %s)",
                                [(hashlib.sha256(t.encode()).hexdigest(), i)
                                 for i, t in enumerate(tokens)])
        port = free_port()
        here = Path(__file__).resolve().parent
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "intake_floor:create_app", "--port",
             str(port), "--log-level", "warning", "--no-access-log"],
            cwd=here, env={**os.environ, "FLOOR_CONNINFO": conninfo,
                           "PYTHONPATH": os.pathsep.join([str(here), os.environ.get(
                               "PYTHONPATH", "")])})
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        run_wrk(f"{base}/healthz", 1, args.connections)
        health = run_wrk(f"{base}/healthz", args.seconds, args.connections)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(LUA % {"tokens": ",".join(f'"{t}"' for t in tokens)})
            script = Path(f.name)
        run_wrk(f"{base}/report", 1, args.connections, script)
        before = cpu_seconds(proc.pid), cpu_seconds(*postgres_pids())
        peak = run_wrk(f"{base}/report", args.seconds, args.connections, script)
        after = cpu_seconds(proc.pid), cpu_seconds(*postgres_pids())
        script.unlink()
        with psycopg.connect(conninfo) as conn:
            stored = conn.execute("SELECT (SELECT count(*) FROM floor_cases), "
                                  "(SELECT count(*) FROM floor_audit), "
                                  "(SELECT count(*) FROM floor_events)").fetchone()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        drop_schemas(args.pg, [schema])

    assert stored is not None
    answered = peak["requests"] - peak["errors"]
    agree = peak["errors"] == 0 and stored[0] == stored[1] == stored[2] >= answered
    ratio = peak["rps"] / health["rps"]
    app_ms = (after[0] - before[0]) / peak["requests"] * 1000
    pg_ms = (after[1] - before[1]) / peak["requests"] * 1000
    print(f"bare FastAPI, one uvicorn worker, {args.connections} connections, "
          f"{args.seconds:g} s per run")
    print(f"{'':<36}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'GET /healthz':<36}{health['rps']:>10,.0f}{health['p50_ms']:>10.1f}"
          f"{health['p99_ms']:>10.1f}")
    print(f"{'POST /report (one statement)':<36}{peak['rps']:>10,.0f}{peak['p50_ms']:>10.1f}"
          f"{peak['p99_ms']:>10.1f}")
    print(f"floor: report / healthz = {ratio:.1%}; CPU per report: app {app_ms:.2f} ms, "
          f"PostgreSQL {pg_ms:.2f} ms; rows stored (case, audit, event): {stored}")
    print(json.dumps({"bench": "intake_floor", "healthz_per_s": round(health["rps"]),
                      "report_per_s": round(peak["rps"]), "ratio": round(ratio, 3),
                      "app_cpu_ms": round(app_ms, 3), "pg_cpu_ms": round(pg_ms, 3),
                      "failures": peak["errors"], "agree": agree}))


if __name__ == "__main__":
    main()
