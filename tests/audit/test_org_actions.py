"""The org bulk jobs are named actions: one audit record per run, in the run's transaction."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from wangge.audit.chain import verify
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine as create_async
from wangge.kit.db import sync_url
from wangge.models import AuditRecord, Region
from wangge.org.divisions import Selection
from wangge.org.service import common_region, org_service
from wangge.org.staff_import import COLUMNS

TABLE = AuditRecord.__table__


def audit_rows(url: str) -> list[dict[str, Any]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(TABLE).order_by(TABLE.c.id))]
    finally:
        engine.dispose()


def chain_ok(url: str) -> bool:
    async def work() -> bool:
        engine = create_async(url)
        try:
            async with engine.connect() as conn:
                return (await verify(conn)).ok
        finally:
            await engine.dispose()

    return run_sync(work)


def summary(row: dict[str, Any]) -> dict[str, Any]:
    import json

    return {k: after for k, (before, after) in json.loads(row["changes"]).items()
            if before is None}


class TestCommonRegion:
    @pytest.mark.parametrize(("codes", "expected"), [
        (["410702001016001", "410702001016002"], "410702001016"),
        (["410702001016001", "410702"], "410702"),
        (["4107020", "4107031"], "4107"),
        (["410702", "420100"], None),
        ([], None),
    ])
    def test_deepest_shared_region(self, codes: list[str], expected: str | None) -> None:
        assert common_region(codes) == expected


class TestBulkJobs:
    def test_load_and_generate_staff_leave_one_record_each(self, city_with_grids: str) -> None:
        async def staff() -> Any:
            engine = create_async(city_with_grids)
            try:
                return await org_service.generate_staff(engine, "4107", 7)
            finally:
                await engine.dispose()

        plan = run_sync(staff)
        rows = audit_rows(city_with_grids)
        assert [r["action"] for r in rows] == ["divisions.load", "staff.generate"]
        load, gen = rows
        assert (load["actor"], load["target_type"], load["target_id"], load["region_code"]) == (
            "system", "selection", "4107", "4107")
        engine = create_engine(sync_url(city_with_grids))
        with engine.connect() as conn:
            loaded = conn.scalar(select(func.count()).select_from(Region)
                                 .where(Region.level != "grid"))
        engine.dispose()
        assert summary(load) == {"rows": loaded}
        assert (gen["actor"], gen["target_id"], gen["region_code"]) == ("system", "4107", "4107")
        assert summary(gen) == {"seed": 7, "organisations": len(plan.organisations),
                                "people": len(plan.people), "posts": len(plan.posts)}
        assert chain_ok(city_with_grids)

    def test_staff_import_records_its_summary_only_when_applied(
            self, city_with_grids: str, tmp_path: Path) -> None:
        grid = "410702001016001"
        path = tmp_path / "staff.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([
                COLUMNS,
                ["A001", "张伟", "M", "government", "grid_leader", grid, "", "网格长"],
                ["A002", "李娜", "F", "government", "commander", "410702001016", "", ""],
            ])
        bad = tmp_path / "bad.csv"
        with bad.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([COLUMNS, ["B001", "钱七", "M", "", "mayor", grid, "", ""]])

        async def work(p: Path) -> Any:
            engine = create_async(city_with_grids)
            try:
                return await org_service.import_staff(engine, p)
            finally:
                await engine.dispose()

        _, result = run_sync(lambda: work(bad))
        assert result is None
        assert [r["action"] for r in audit_rows(city_with_grids)] == ["divisions.load"]
        _, result = run_sync(lambda: work(path))
        assert result is not None
        rec = audit_rows(city_with_grids)[-1]
        assert (rec["action"], rec["target_type"], rec["target_id"], rec["region_code"]) == (
            "staff.import", "file", "staff.csv", "410702001016")
        assert summary(rec) == {"rows": 2, "people_created": 2, "people_updated": 0,
                                "posts_created": 2, "posts_updated": 0}
        assert chain_ok(city_with_grids)

    def test_the_audit_record_shares_the_transaction(self, database: str) -> None:
        """If the audit row cannot be written, the bulk rows are not written either."""
        engine = create_engine(sync_url(database))
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$"))
                conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON audit_records "
                                  "FOR EACH ROW EXECUTE FUNCTION refuse()"))
            else:
                conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON audit_records "
                                  "BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END"))

        async def load() -> int:
            e = create_async(database)
            try:
                return await org_service.load_divisions(e, Selection(province="41", city="4107"))
            finally:
                await e.dispose()

        with pytest.raises(DBAPIError, match="audit unavailable"):
            run_sync(load)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Region)) == 0
        engine.dispose()


class TestDemo:
    def test_demo_preparation_is_audited(self, xinxiang: str) -> None:
        rows = audit_rows(xinxiang)
        jobs = [r for r in rows if r["actor"] == "system" and r["action"] in (
            "divisions.load", "grids.generate", "staff.generate")]
        assert [r["action"] for r in jobs] == ["divisions.load", "grids.generate",
                                               "staff.generate"]
        assert {r["region_code"] for r in jobs} == {"4107"}
        engine = create_engine(sync_url(xinxiang))
        with engine.connect() as conn:
            grids = conn.scalar(select(func.count()).select_from(Region)
                                .where(Region.level == "grid"))
        engine.dispose()
        grid_job = summary(jobs[1])
        assert grid_job["grids"] == grids and grid_job["seed"] == 7
        assert chain_ok(xinxiang)
