"""Benchmark: load China's division list (620,573 villages) into SQLite and PostgreSQL.

Ours: the product's loader (validated read, then executemany upsert on SQLite / COPY + upsert on
PostgreSQL, one transaction). Peer: what a user would write first — the ORM, one object added and
flushed per row — timed on a 1% sample of the same rows. Both loads are read back and compared.

    python bench/divisions.py [--quick] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wangge.config import normalise_database_url
from wangge.kit import migrate
from wangge.kit.db import create_engine, utcnow
from wangge.kit.scratch import create_schema, drop_schemas
from wangge.models import Region
from wangge.org.divisions import Row, Selection, read_divisions, write_regions

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


async def load_ours(engine: AsyncEngine, sel: Selection) -> tuple[float, int]:
    started = time.perf_counter()
    rows = read_divisions(sel)
    async with engine.begin() as conn:
        n = await write_regions(conn, rows)
    return time.perf_counter() - started, n


async def load_orm_rowwise(engine: AsyncEngine, rows: list[Row]) -> float:
    started = time.perf_counter()
    async with AsyncSession(engine) as session, session.begin():
        now = utcnow()
        for code, parent, level, name, kind, urban in rows:
            session.add(Region(code=code, parent_code=parent, level=level, name=name, kind=kind,
                               urban=urban, synthetic=False, created_at=now))
            await session.flush()
    return time.perf_counter() - started


async def snapshot(engine: AsyncEngine, codes: list[str]) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(Region.code, Region.parent_code, Region.level, Region.name, Region.kind,
                   Region.urban).where(Region.code.in_(codes)).order_by(Region.code)
        )
        return [tuple(r) for r in result]


@dataclass
class Result:
    rows: int
    seconds: float
    peer_rows_per_s: float
    agree: bool

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def ratio(self) -> float:
        return self.rows_per_s / self.peer_rows_per_s


async def run_backend(url: str, url2: str, sel: Selection, sample: list[Row]) -> Result:
    migrate.upgrade(url)
    migrate.upgrade(url2)
    ours_engine, peer_engine = create_engine(url), create_engine(url2)
    try:
        seconds, n = await load_ours(ours_engine, sel)
        peer_seconds = await load_orm_rowwise(peer_engine, sample)
        codes = [r[0] for r in sample]
        agree = await snapshot(ours_engine, codes) == await snapshot(peer_engine, codes)
    finally:
        await ours_engine.dispose()
        await peer_engine.dispose()
    return Result(n, seconds, len(sample) / peer_seconds, agree)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one city only (seconds)")
    parser.add_argument("--pg", default=os.environ.get("WANGGE_BENCH_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    sel = Selection(province="41", city="4107") if args.quick else Selection()
    rows = read_divisions(sel)
    sample = rows[::100]
    results: dict[str, Result] = {}

    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await run_backend(
            f"sqlite+aiosqlite:///{Path(tmp) / 'ours.db'}",
            f"sqlite+aiosqlite:///{Path(tmp) / 'peer.db'}", sel, sample)

    pg = normalise_database_url(args.pg) if args.pg else None
    if pg:
        (url, schema), (url2, schema2) = create_schema(pg, "bench"), create_schema(pg, "bench")
        try:
            results["postgresql"] = await run_backend(url, url2, sel, sample)
        finally:
            drop_schemas(pg, [schema, schema2])

    print(f"{'backend':<12}{'rows':>10}{'ours s':>9}{'ours rows/s':>14}"
          f"{'ORM 1% rows/s':>16}{'ratio':>8}{'agree':>7}")
    for name, r in results.items():
        print(f"{name:<12}{r.rows:>10,}{r.seconds:>9.2f}{r.rows_per_s:>14,.0f}"
              f"{r.peer_rows_per_s:>16,.0f}{r.ratio:>7.0f}x{r.agree!s:>7}")
    pg_result = results.get("postgresql")
    line: dict[str, object] = {
        "bench": "divisions", "rows": len(rows), "quick": args.quick,
        "peer": "SQLAlchemy ORM, one add+flush per row (1% sample)",
        "sqlite_s": round(results["sqlite"].seconds, 3),
        "postgresql_s": round(pg_result.seconds, 3) if pg_result else None,
    }
    for b, r in results.items():
        line[f"{b}_rows_per_s"] = round(r.rows_per_s)
        line[f"{b}_peer_rows_per_s"] = round(r.peer_rows_per_s)
        line[f"{b}_ratio"] = round(r.ratio, 1)
    line["agree"] = all(r.agree for r in results.values())
    print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
