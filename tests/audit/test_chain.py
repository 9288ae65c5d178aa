"""The hash chain on both databases: stable hashing, append-only triggers, concurrent appends,
and ``wangge audit verify`` finding the first broken link after direct SQL tampering."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from wangge.audit.chain import GENESIS, content_hash, record_hash, seal_all, verify
from wangge.authz.scope import Subject
from wangge.cli import app
from wangge.config import get_settings
from wangge.kit.actions import record
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine as create_async
from wangge.kit.db import create_sessionmaker, sync_url
from wangge.models import AuditRecord

TABLE = AuditRecord.__table__
TRICKY: list[dict[str, Any]] = [
    {"name": (None, "张伟"), "note": ("", None)},
    {"count": (0, 1.5), "nested": ({"b": [1, 2]}, {"a": None}), "when": (None, "2026-01-01")},
    {},
    {"flag": (False, True), "text": ("a\x1fb", "line\nbreak \"quoted\"")},
    {"rows": (None, 12_345)},
]


def write_records(url: str, n: int = 5, *, client_addr: str | None = "10.0.0.7",
                  sealed: bool = True) -> None:
    """Appends ``n`` records through ``kit.actions.record``, one transaction each, then runs
    the sealer (unless ``sealed`` is False)."""

    async def work() -> None:
        engine = create_async(url)
        try:
            sm = create_sessionmaker(engine)
            who = Subject(name="tester", prefixes=("4107",), client_addr=client_addr)
            for i in range(n):
                async with sm() as session, session.begin():
                    await record(session, who if i % 2 else Subject.everything(), f"test.step{i}",
                                 target_type="thing", target_id=i + 1,
                                 region_code=None if i % 3 == 0 else f"4107{i:02d}",
                                 post="admin@4107" if i % 2 else None,
                                 changes=TRICKY[i % len(TRICKY)])
            if sealed:
                await seal_url(engine)
        finally:
            await engine.dispose()

    run_sync(work)


async def seal_url(engine: Any) -> int:
    """Runs the sealer once, as the scheduler's job does."""
    async with create_sessionmaker(engine)() as session, session.begin():
        return await seal_all(session)


def verify_url(url: str, **kw: Any) -> Any:
    async def work() -> Any:
        engine = create_async(url)
        try:
            await seal_url(engine)
            async with engine.connect() as conn:
                return await verify(conn, **kw)
        finally:
            await engine.dispose()

    return run_sync(work)


@pytest.fixture
def sql(database: str) -> Iterator[Engine]:
    """A plain synchronous engine on the test database: the attacker's console."""
    engine = create_engine(sync_url(database))
    yield engine
    engine.dispose()


def drop_guard(engine: Engine) -> None:
    """What an attacker with DDL rights does first: switch the append-only triggers off."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_records_no_update"))
            conn.execute(text("DROP TRIGGER audit_records_no_delete"))


def row(engine: Engine, rid: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(TABLE).where(TABLE.c.id == rid)).one()._mapping)


@pytest.fixture
def cli(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("WANGGE_DATABASE_URL", database)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


class TestStableHashing:
    def test_records_rehash_identically_after_a_round_trip(self, database: str) -> None:
        write_records(database, 5)
        result = verify_url(database)
        assert result.ok and result.checked == 5 and result.head_id == 5

        async def reread() -> list[tuple[str, str]]:
            engine = create_async(database)
            try:
                async with create_sessionmaker(engine)() as session:
                    recs = (await session.scalars(select(AuditRecord).order_by(AuditRecord.seq))
                            ).all()
                    return [(record_hash(r.prev_hash, r), r.hash) for r in recs]
            finally:
                await engine.dispose()

        pairs = run_sync(reread)
        assert [a for a, _ in pairs] == [b for _, b in pairs]

    def test_microseconds_null_and_empty_are_kept_apart(self, database: str, sql: Engine) -> None:
        write_records(database, 2)
        first = row(sql, 1)
        assert first["at"].tzinfo is not None
        assert any(row(sql, rid)["at"].microsecond for rid in (1, 2))  # not cut to seconds
        assert first["prev_hash"] == GENESIS and first["post"] is None
        # The hash covers None and "" differently, and the time to the microsecond.
        assert content_hash(GENESIS, {**first, "post": ""}) != first["hash"]
        shifted = first["at"].replace(microsecond=(first["at"].microsecond + 1) % 1_000_000)
        assert content_hash(GENESIS, {**first, "at": shifted}) != first["hash"]
        assert content_hash(GENESIS, first) == first["hash"]

    def test_naive_times_are_refused(self) -> None:
        values = {name: None for name in ("id", "actor_account_id", "actor", "post", "action",
                                           "target_type", "target_id", "region_code", "changes",
                                           "client_addr")}
        with pytest.raises(ValueError, match="timezone-aware"):
            content_hash(GENESIS, {**values, "at": datetime(2026, 1, 1)})  # noqa: DTZ001
        aware = datetime(2026, 1, 1, tzinfo=UTC)
        assert len(content_hash(GENESIS, {**values, "at": aware})) == 64


class TestAppendOnly:
    def test_update_and_delete_are_refused(self, database: str, sql: Engine) -> None:
        write_records(database, 3)
        for statement in ("UPDATE audit_records SET actor = 'mallory' WHERE id = 2",
                          "DELETE FROM audit_records WHERE id = 2"):
            with pytest.raises(DBAPIError, match="append-only"), sql.begin() as conn:
                conn.execute(text(statement))
        assert row(sql, 2)["actor"] == "tester"
        assert verify_url(database).ok

    def test_truncate_is_refused_on_postgresql(self, database: str, sql: Engine) -> None:
        if sql.dialect.name != "postgresql":
            pytest.skip("SQLite has no TRUNCATE")
        write_records(database, 1)
        with pytest.raises(DBAPIError, match="append-only"), sql.begin() as conn:
            conn.execute(text("TRUNCATE audit_records"))

    def test_concurrent_writers_form_one_chain(self, database: str) -> None:
        writers = 40

        async def work() -> None:
            engine = create_async(database)
            sm = create_sessionmaker(engine)

            async def one(i: int) -> None:
                async with sm() as session, session.begin():
                    await record(session, Subject.everything(), "test.concurrent",
                                 target_type="thing", target_id=i, changes={"i": (None, i)})
                    await asyncio.sleep(0.002)  # hold the transaction open a little

            try:
                await asyncio.gather(*(one(i) for i in range(writers)))
            finally:
                await engine.dispose()

        run_sync(work)
        result = verify_url(database)
        assert result.ok and result.checked == writers and result.head_id == writers


class TestSealing:
    def test_records_wait_unsealed_until_the_sealer_runs(self, database: str,
                                                         sql: Engine) -> None:
        write_records(database, 3, sealed=False)
        assert {row(sql, rid)["hash"] for rid in (1, 2, 3)} == {None}

        async def seal_twice() -> tuple[int, int]:
            engine = create_async(database)
            try:
                return await seal_url(engine), await seal_url(engine)
            finally:
                await engine.dispose()

        assert run_sync(seal_twice) == (3, 0)
        assert [row(sql, rid)["seq"] for rid in (1, 2, 3)] == [1, 2, 3]
        result = verify_url(database)
        assert result.ok and result.checked == 3 and result.pending == 0

    def test_an_unsealed_record_cannot_be_changed_or_sealed_with_other_content(
            self, database: str, sql: Engine) -> None:
        write_records(database, 1, sealed=False)
        for statement in ("UPDATE audit_records SET actor = 'mallory' WHERE id = 1",
                          "UPDATE audit_records SET actor = 'mallory', seq = 1, "
                          "prev_hash = 'x', hash = 'y' WHERE id = 1",
                          "DELETE FROM audit_records WHERE id = 1"):
            with pytest.raises(DBAPIError, match="append-only"), sql.begin() as conn:
                conn.execute(text(statement))
        assert row(sql, 1)["actor"] == "system" and row(sql, 1)["hash"] is None

    def test_the_scheduler_runs_the_sealer_every_second(self) -> None:
        from wangge.audit import tasks
        from wangge.kit import scheduler

        job = scheduler.registry.jobs["audit_seal"]
        assert job.every_seconds == tasks.SEAL_SECONDS == 1.0 and job.once is False


class TestVerifyCommand:
    def test_empty_and_intact_chains_exit_0_with_the_head(self, database: str,
                                                           cli: CliRunner) -> None:
        empty = cli.invoke(app, ["audit", "verify"])
        assert empty.exit_code == 0, empty.output
        assert f"OK: 0 audit records checked, chain intact; head 0:{GENESIS}" in empty.stdout
        write_records(database, 5)
        head = verify_url(database).head_hash
        ok = cli.invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0, ok.output
        assert f"OK: 5 audit records checked, chain intact; head 5:{head}" in ok.stdout

    def test_changed_field_is_found_at_its_record(self, database: str, sql: Engine,
                                                  cli: CliRunner) -> None:
        write_records(database, 5)
        drop_guard(sql)
        with sql.begin() as conn:
            conn.execute(text("UPDATE audit_records SET changes = '{\"rows\":[null,1]}' "
                              "WHERE id = 3"))
        result = cli.invoke(app, ["audit", "verify"])
        assert result.exit_code == 1
        line = result.stdout.strip()
        assert "\n" not in line
        assert line.startswith("BROKEN at record 3: content does not match its hash")

    def test_changed_actor_is_found_at_its_record(self, database: str, sql: Engine,
                                                  cli: CliRunner) -> None:
        write_records(database, 5)
        drop_guard(sql)
        with sql.begin() as conn:
            conn.execute(text("UPDATE audit_records SET actor = 'nobody' WHERE id = 4"))
        result = cli.invoke(app, ["audit", "verify"])
        assert result.exit_code == 1
        assert result.stdout.startswith("BROKEN at record 4: content does not match")

    def test_deleted_row_is_named(self, database: str, sql: Engine, cli: CliRunner) -> None:
        write_records(database, 5)
        drop_guard(sql)
        with sql.begin() as conn:
            conn.execute(text("DELETE FROM audit_records WHERE id = 3"))
        result = cli.invoke(app, ["audit", "verify"])
        assert result.exit_code == 1
        assert result.stdout.startswith("BROKEN at record 3: record 3 missing")

    def test_rehashed_row_breaks_the_next_link(self, database: str, sql: Engine,
                                               cli: CliRunner) -> None:
        write_records(database, 5)
        drop_guard(sql)
        forged = {**row(sql, 3), "actor": "mallory"}
        forged["hash"] = content_hash(forged["prev_hash"], forged)
        with sql.begin() as conn:
            conn.execute(TABLE.update().where(TABLE.c.id == 3).values(
                actor=forged["actor"], hash=forged["hash"]))
        result = cli.invoke(app, ["audit", "verify"])
        assert result.exit_code == 1
        assert result.stdout.startswith(
            "BROKEN at record 4: prev_hash does not match the hash of record 3")

    def test_anchor_catches_a_chain_rewritten_from_a_point(self, database: str, sql: Engine,
                                                           cli: CliRunner) -> None:
        write_records(database, 5)
        before = verify_url(database)
        drop_guard(sql)
        # Rewrite records 3..5 and re-link every one after: the links alone look fine.
        prev = row(sql, 2)["hash"]
        for rid in range(3, 6):
            forged = {**row(sql, rid), "prev_hash": prev, "actor": "mallory"}
            forged["hash"] = content_hash(prev, forged)
            with sql.begin() as conn:
                conn.execute(TABLE.update().where(TABLE.c.id == rid).values(
                    actor="mallory", prev_hash=prev, hash=forged["hash"]))
            prev = forged["hash"]
        assert verify_url(database).ok
        anchor = f"{before.head_id}:{before.head_hash}"
        result = cli.invoke(app, ["audit", "verify", "--anchor", anchor])
        assert result.exit_code == 1
        assert result.stdout.startswith("BROKEN at record 5: hash differs from the exported "
                                        "anchor")

    def test_anchor_catches_a_cut_off_tail(self, database: str, sql: Engine,
                                           cli: CliRunner) -> None:
        write_records(database, 5)
        before = verify_url(database)
        drop_guard(sql)
        with sql.begin() as conn:
            conn.execute(text("DELETE FROM audit_records WHERE id >= 4"))
        assert cli.invoke(app, ["audit", "verify"]).exit_code == 0  # what the links cannot show
        result = cli.invoke(app, ["audit", "verify", "--anchor",
                                  f"{before.head_id}:{before.head_hash}"])
        assert result.exit_code == 1
        assert result.stdout.startswith("BROKEN at record 5: exported anchor record 5 is gone")

    def test_malformed_anchor_is_a_usage_error(self, database: str, cli: CliRunner) -> None:
        result = cli.invoke(app, ["audit", "verify", "--anchor", "5:abc"])
        assert result.exit_code == 2
        assert "ID:HASH" in result.output
