from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from wangge.kit.db import create_engine
from wangge.kit.errors import InvalidInput
from wangge.models import Region
from wangge.org.divisions import DIVISIONS_DIR, Selection, read_divisions
from wangge.org.service import org_service

pytestmark = pytest.mark.anyio


async def _level_counts(url: str, prefix: str) -> dict[str, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Region.level, func.count())
            .where(Region.code.startswith(prefix))
            .group_by(Region.level)
        )
        out = {level: n for level, n in rows}
    await engine.dispose()
    return out


class TestSelection:
    def test_city_selects_only_that_city_and_its_province_row(self) -> None:
        rows = read_divisions(Selection.parse(city="4107", province=None, all_=False))
        codes = {r[0] for r in rows}
        assert "41" in codes and "4107" in codes
        assert all(c == "41" or c.startswith("4107") for c in codes)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [({"city": "41", "province": None, "all_": False}, "city"),
         ({"city": None, "province": "4a", "all_": False}, "province"),
         ({"city": "4107", "province": "41", "all_": False}, "selection"),
         ({"city": None, "province": None, "all_": False}, "selection")],
    )
    def test_bad_selection_names_the_field(self, kwargs: dict, field: str) -> None:
        with pytest.raises(InvalidInput) as err:
            Selection.parse(**kwargs)
        assert err.value.detail["field"] == field


class TestLoadXinxiang:
    async def test_counts_match_the_official_list(self, database: str) -> None:
        engine = create_engine(database)
        n = await org_service.load_divisions(engine, Selection.parse(city="4107", province=None,
                                                                     all_=False))
        await engine.dispose()
        assert n == 1 + 1 + 15 + 170 + 3825
        counts = await _level_counts(database, "4107")
        assert counts == {"city": 1, "county": 15, "township": 170, "village": 3825}

    async def test_loading_twice_is_idempotent(self, database: str) -> None:
        engine = create_engine(database)
        sel = Selection(province="41", city="4107")
        await org_service.load_divisions(engine, sel)
        await org_service.load_divisions(engine, sel)
        await engine.dispose()
        assert (await _level_counts(database, "4107"))["village"] == 3825

    async def test_kinds_follow_the_code_ranges(self, database: str) -> None:
        engine = create_engine(database)
        await org_service.load_divisions(engine, Selection(province="41", city="4107"))
        async with engine.connect() as conn:
            kinds = dict((await conn.execute(
                select(Region.code, Region.kind).where(Region.code.in_(
                    ["410702", "410721", "410781", "410771", "410702001", "410721101"]))
            )).all())
            urban = await conn.scalar(select(Region.urban).where(Region.code == "410702001016"))
        await engine.dispose()
        assert kinds == {"410702": "district", "410721": "county", "410781": "county_city",
                         "410771": "zone", "410702001": "street", "410721101": "town"}
        assert urban is True


class TestMalformedFile:
    async def test_bad_row_stops_with_file_line_field_and_changes_nothing(
        self, database: str, tmp_path: Path
    ) -> None:
        engine = create_engine(database)
        await org_service.load_divisions(engine, Selection(province="41", city="4107"))
        before = await _level_counts(database, "41")

        bad = tmp_path / "divisions"
        shutil.copytree(DIVISIONS_DIR, bad)
        with gzip.open(bad / "villages.csv.gz", "rt", encoding="utf-8") as fh:
            lines = fh.readlines()
        target = next(i for i, line in enumerate(lines) if line.startswith("410702001"))
        lines[target] = lines[target].replace("410702001", "41070X001", 1)
        with gzip.open(bad / "villages.csv.gz", "wt", encoding="utf-8") as fh:
            fh.writelines(lines)

        with pytest.raises(InvalidInput) as err:
            await org_service.load_divisions(engine, Selection(province="41"), directory=bad)
        await engine.dispose()
        assert err.value.message.startswith(f"villages.csv.gz, line {target + 1}: code:")
        assert await _level_counts(database, "41") == before
