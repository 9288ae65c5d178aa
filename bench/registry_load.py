"""Benchmark: generate and load a synthetic population (``wangge registry generate``) into
PostgreSQL, next to a naive row-by-row ORM load.

Ours: ``wangge.registry.generate.generate_registry`` at ``--scale`` S (S=1: about 6.25 million
residents, 2 million households, 30,000 key places, 63,000 enterprises and social
organisations, 1,479 "three-no" compounds) into a scratch schema holding the Xinxiang
demo (divisions, grids, shapes, staff; no cases) — generation with encryption of every ID number
and phone, COPY of every batch, one transaction. ``load_s`` is that whole call.

Peer: what a first version usually does — ORM objects added one by one (``session.add`` per
address, household, resident, tag and place, a flush for each new id, one commit per household
and per place) — run on a 1% sample of the very rows ours generated (every 100th household with
its address chain, residents and tags; every 100th place) into a second scratch schema, timed and
scaled by the sample's share of households. The peer gets its rows ready-made (generation and
encryption are not in its time), so the ratio understates our lead. The peer leaves out the
enterprises and compounds (under 1% of the rows; they hang on no household), which
understates it a little more.

Agreement: the counts of all seven tables in the database equal what the generator reported
(ours), and the sample rows the peer wrote equal the sample taken (its five tables).

    python bench/registry_load.py [--quick] [--scale S] [--seed N] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from wangge.authz.scope import in_subtree
from wangge.kit import migrate
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.kit.scratch import create_schema, drop_schemas
from wangge.models import Address, Compound, Enterprise, Household, Place, Resident, ResidentTag
from wangge.registry.generate import (
    ADDRESS_COLUMNS,
    HOUSEHOLD_COLUMNS,
    PLACE_COLUMNS,
    RESIDENT_COLUMNS,
    TAG_COLUMNS,
    Batch,
    RegistrySummary,
    generate_registry,
)

CITY = "4107"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SAMPLE_EVERY = 100
# A fixed key for the benchmark's scratch data (never a production key).
BENCH_KEY = b"bench-only-pii-key-32-bytes-long"


@dataclass
class Sample:
    """Every SAMPLE_EVERY-th household with what hangs on it, and every SAMPLE_EVERY-th place."""

    addresses: dict[int, dict[str, Any]] = field(default_factory=dict)
    households: list[dict[str, Any]] = field(default_factory=list)
    residents: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by household
    tags: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by resident
    places: list[dict[str, Any]] = field(default_factory=list)
    seen_households: int = 0
    seen_places: int = 0

    def take(self, batch: Batch) -> None:
        addresses = {row[0]: row for row in batch.addresses}
        picked: set[int] = set()
        for row in batch.households:
            if self.seen_households % SAMPLE_EVERY == 0:
                h = dict(zip(HOUSEHOLD_COLUMNS, row, strict=True))
                self.households.append(h)
                picked.add(h["id"])
                address_id = h["address_id"]
                while address_id is not None and address_id not in self.addresses:
                    a = dict(zip(ADDRESS_COLUMNS, addresses[address_id], strict=True))
                    self.addresses[address_id] = a
                    address_id = a["parent_id"]
            self.seen_households += 1
        residents: set[int] = set()
        for row in batch.residents:
            r = dict(zip(RESIDENT_COLUMNS, row, strict=True))
            if r["household_id"] in picked:
                self.residents.setdefault(r["household_id"], []).append(r)
                residents.add(r["id"])
        for row in batch.tags:
            t = dict(zip(TAG_COLUMNS, row, strict=True))
            if t["resident_id"] in residents:
                self.tags.setdefault(t["resident_id"], []).append(t)
        for row in batch.places:
            if self.seen_places % SAMPLE_EVERY == 0:
                self.places.append(dict(zip(PLACE_COLUMNS, row, strict=True)))
            self.seen_places += 1

    def counts(self) -> dict[str, int]:
        return {"addresses": len(self.addresses), "households": len(self.households),
                "residents": sum(len(v) for v in self.residents.values()),
                "tags": sum(len(v) for v in self.tags.values()), "places": len(self.places)}


PEER_TABLES: tuple[tuple[str, Any], ...] = (
    ("addresses", Address), ("households", Household), ("residents", Resident),
    ("tags", ResidentTag), ("places", Place))
ALL_TABLES = (*PEER_TABLES, ("enterprises", Enterprise), ("compounds", Compound))


async def counts(url: str, city: str, tables: tuple[tuple[str, Any], ...]) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            out = {}
            for name, model in tables:
                out[name] = (await conn.execute(
                    select(func.count()).select_from(model)
                    .where(in_subtree(model.region_code, city)))).scalar() or 0
            return out
    finally:
        await engine.dispose()


async def prepare(url: str) -> None:
    from wangge.demo import prepare as prepare_demo

    engine = create_engine(url)
    try:
        await prepare_demo(engine, seed=7, city=CITY, cases=False)
    finally:
        await engine.dispose()


async def copy_regions(base: str, source_schema: str, target_url: str) -> None:
    """The peer's schema gets the regions (foreign keys) from ours."""
    engine = create_engine(target_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'INSERT INTO regions SELECT * FROM "{source_schema}".regions'))
    finally:
        await engine.dispose()


async def ours(url: str, scale: float, seed: int, cipher: PiiCipher,
               sample: Sample) -> tuple[RegistrySummary, float]:
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        summary = await generate_registry(engine, CITY, scale, seed, cipher,
                                          on_batch=sample.take)
        return summary, time.perf_counter() - started
    finally:
        await engine.dispose()


def _without_id(row: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", *drop)}


async def naive(url: str, sample: Sample) -> float:
    """Row by row with the ORM: a flush per new id, a commit per household and per place."""
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        async with create_sessionmaker(engine)() as session:
            new_address: dict[int, int] = {}

            async def address(old: int) -> int:
                if old in new_address:
                    return new_address[old]
                a = sample.addresses[old]
                parent = await address(a["parent_id"]) if a["parent_id"] is not None else None
                obj = Address(**_without_id(a, "parent_id"), parent_id=parent)
                session.add(obj)
                await session.flush()
                new_address[old] = obj.id
                return obj.id

            for h in sample.households:
                household = Household(**_without_id(h, "address_id", "version"),
                                      address_id=await address(h["address_id"]))
                session.add(household)
                await session.flush()
                for r in sample.residents.get(h["id"], []):
                    resident = Resident(**_without_id(r, "household_id", "version"),
                                        household_id=household.id)
                    session.add(resident)
                    await session.flush()
                    for t in sample.tags.get(r["id"], []):
                        session.add(ResidentTag(**_without_id(t, "resident_id"),
                                                resident_id=resident.id))
                await session.commit()
            for p in sample.places:
                session.add(Place(**_without_id(p, "version")))
                await session.commit()
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (S=0.01)")
    parser.add_argument("--scale", type=float, default=None, help="default 1 (0.01 quick)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (scratch schemas)")
    args = parser.parse_args()
    scale = args.scale if args.scale is not None else (0.01 if args.quick else 1.0)
    base = str(make_url(args.pg).set(drivername="postgresql+psycopg")
               .render_as_string(hide_password=False))
    cipher = PiiCipher(BENCH_KEY)
    schemas: list[str] = []
    try:
        url, schema = create_schema(base, "bench_registry")
        schemas.append(schema)
        peer_url, peer_schema = create_schema(base, "bench_registry_peer")
        schemas.append(peer_schema)
        started = time.perf_counter()
        migrate.upgrade(url)
        migrate.upgrade(peer_url)
        asyncio.run(prepare(url))
        asyncio.run(copy_regions(base, schema, peer_url))
        prepare_s = time.perf_counter() - started
        print(f"demo prepared (divisions, grids, staff) in {prepare_s:.1f} s")

        sample = Sample()
        summary, load_s = asyncio.run(ours(url, scale, args.seed, cipher, sample))
        stored = asyncio.run(counts(url, CITY, ALL_TABLES))
        generated = {"addresses": summary.addresses, "households": summary.households,
                     "residents": summary.residents, "tags": summary.tags,
                     "places": summary.places, "enterprises": summary.enterprises,
                     "compounds": summary.compounds}
        naive_s = asyncio.run(naive(peer_url, sample))
        taken = sample.counts()
        peer_stored = asyncio.run(counts(peer_url, CITY, PEER_TABLES))
        agree = stored == generated and peer_stored == taken and not summary.skipped
        factor = summary.households / max(1, len(sample.households))
        naive_scaled = naive_s * factor
        ratio = naive_scaled / load_s

        rows = sum(generated.values())
        print(f"scale {scale:g} (seed {args.seed})")
        print(f"{'':<28}{'rows':>12}{'seconds':>10}{'rows/s':>12}")
        print(f"{'ours: generate + COPY':<28}{rows:>12,}{load_s:>10.1f}{rows / load_s:>12,.0f}")
        print(f"{'  of which generating':<28}{'':>12}{summary.generate_s:>10.1f}")
        print(f"{'  of which writing':<28}{'':>12}{summary.write_s:>10.1f}")
        print(f"{'  indexes, keys, analyze':<28}{'':>12}{summary.finish_s:>10.1f}")
        peer_rows = sum(taken.values())
        print(f"{'peer: ORM row by row, 1%':<28}{peer_rows:>12,}{naive_s:>10.1f}"
              f"{peer_rows / naive_s:>12,.0f}")
        print(f"{'peer scaled x' + format(factor, '.1f'):<28}{rows:>12,}{naive_scaled:>10.1f}")
        for name in generated:
            peer = (f"sample {taken[name]:>8,}  peer stored {peer_stored[name]:>8,}"
                    if name in taken else "(not in the peer)")
            print(f"  {name:<12} generated {generated[name]:>10,}  stored {stored[name]:>10,}  "
                  f"{peer}")
        print(f"special groups: {dict(sorted(summary.tags_by_category.items()))}")
        compounds = dict(sorted(summary.compounds_by_status.items()))
        print(f"foreign residents: {summary.foreign:,}; social organisations: "
              f"{summary.social_orgs:,}; compounds: {compounds}")
        print(f"ratio: {ratio:.1f}x; agree: {agree}")
        print(json.dumps({
            "bench": "registry_load", "scale": scale, "residents": summary.residents,
            "households": summary.households, "places": summary.places,
            "addresses": summary.addresses, "tags": summary.tags,
            "enterprises": summary.enterprises, "compounds": summary.compounds,
            "foreign": summary.foreign,
            "load_s": round(load_s, 2), "generate_s": round(summary.generate_s, 2),
            "write_s": round(summary.write_s, 2), "finish_s": round(summary.finish_s, 2),
            "naive_s_scaled": round(naive_scaled, 2),
            "ratio": round(ratio, 2), "agree": agree,
        }))
    finally:
        drop_schemas(base, schemas)


if __name__ == "__main__":
    main()
