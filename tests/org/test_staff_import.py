from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from wangge.cli import app
from wangge.config import get_settings
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine
from wangge.kit.errors import InvalidInput
from wangge.models import Organisation, Person, Post
from wangge.org.service import org_service
from wangge.org.staff_import import COLUMNS, ImportReport, ImportResult

pytestmark = pytest.mark.anyio

GRID = "410702001016001"  # first grid of 曙光社区, 红旗区西街街道
HEADER = list(COLUMNS)
VALID = [
    ["A001", "张伟", "M", "police", "deputy_grid_leader", GRID, "PS410702001", "副网格长（民警）"],
    ["A001", "张伟", "M", "police", "department_officer", "410702001", "PS410702001", "社区民警"],
    ["A002", "李娜", "F", "government", "grid_leader", GRID, "VC410702001016", "网格长"],
    ["A003", "王强", "", "", "commander", "410702", "", ""],
]


@pytest.fixture
def staffed(city_with_grids: str) -> str:
    """Xinxiang with plain grids and its synthetic staff and organisations."""

    async def build() -> None:
        engine = create_engine(city_with_grids)
        await org_service.generate_staff(engine, "4107", 7)
        await engine.dispose()

    run_sync(build)
    return city_with_grids


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    book.save(path)
    return path


async def snapshot(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        out = {
            "people": await conn.scalar(select(func.count()).select_from(Person)),
            "posts": await conn.scalar(select(func.count()).select_from(Post)),
            "real": sorted((await conn.execute(
                select(Person.staff_no, Person.name, Person.gender, Person.service, Post.role,
                       Post.region_code, Organisation.code, Post.title, Post.synthetic)
                .join(Post, Post.person_id == Person.id)
                .outerjoin(Organisation, Organisation.id == Post.organisation_id)
                .where(Person.synthetic.is_(False))
            )).all()),
        }
    await engine.dispose()
    return out


async def run_import(url: str, path: Path) -> tuple[ImportReport, ImportResult | None]:
    engine = create_engine(url)
    try:
        return await org_service.import_staff(engine, path)
    finally:
        await engine.dispose()


class TestValidFiles:
    async def test_csv_is_imported_whole(self, staffed: str, tmp_path: Path) -> None:
        before = await snapshot(staffed)
        report, result = await run_import(staffed, write_csv(tmp_path / "staff.csv", VALID))
        assert report.ok and result is not None
        assert (result.people_created, result.posts_created) == (3, 4)
        after = await snapshot(staffed)
        assert after["people"] == before["people"] + 3
        assert after["real"] == sorted([
            ("A001", "张伟", "M", "police", "deputy_grid_leader", GRID, "PS410702001",
             "副网格长（民警）", False),
            ("A001", "张伟", "M", "police", "department_officer", "410702001", "PS410702001",
             "社区民警", False),
            ("A002", "李娜", "F", "government", "grid_leader", GRID, "VC410702001016", "网格长",
             False),
            ("A003", "王强", None, None, "commander", "410702", None, None, False),
        ])

    async def test_reimport_upserts_without_duplicates(self, staffed: str, tmp_path: Path) -> None:
        await run_import(staffed, write_csv(tmp_path / "a.csv", VALID))
        first = await snapshot(staffed)
        renamed = [["A002", "李丽娜", *row[2:]] if row[0] == "A002" else row for row in VALID]
        _, result = await run_import(staffed, write_csv(tmp_path / "b.csv", renamed))
        assert result is not None
        assert (result.people_created, result.people_updated) == (0, 3)
        assert (result.posts_created, result.posts_updated) == (0, 4)
        second = await snapshot(staffed)
        assert second["posts"] == first["posts"]
        assert {r[1] for r in second["real"] if r[0] == "A002"} == {"李丽娜"}

    async def test_xlsx_with_numeric_cells_and_chinese_gender(
        self, staffed: str, tmp_path: Path
    ) -> None:
        rows: list[list[object]] = [
            [1001, "赵敏", "女", "social", "grid_member", int(GRID), "VC410702001016", "楼栋长"],
            [1001, "赵敏", "女", "social", "grid_member", 410702001017001, None, None],
        ]
        report, result = await run_import(staffed, write_xlsx(tmp_path / "staff.xlsx", rows))
        assert report.ok, report.issues
        assert result is not None and (result.people_created, result.posts_created) == (1, 2)
        real = (await snapshot(staffed))["real"]
        assert real == sorted([
            ("1001", "赵敏", "F", "social", "grid_member", GRID, "VC410702001016", "楼栋长", False),
            ("1001", "赵敏", "F", "social", "grid_member", "410702001017001", None, None, False),
        ])


class TestInvalidFiles:
    async def test_every_problem_is_reported_and_nothing_changes(
        self, staffed: str, tmp_path: Path
    ) -> None:
        rows = [
            VALID[0],                                                             # row 2 ok
            ["B001", "", "M", "police", "grid_member", GRID, "", ""],             # 3 name
            ["B002", "钱七", "M", "police", "mayor", GRID, "", ""],               # 4 role
            ["B003", "孙八", "X", "police", "grid_member", "410702999999999", "", ""],  # 5
            ["B004", "周九", "M", "army", "grid_member", GRID, "PS999", ""],      # 6
            ["A001", "张三", "M", "police", "grid_member", GRID, "", ""],         # 7 name differs
            VALID[0],                                                             # 8 duplicate
            ["B005", "吴十", "F", "social", "grid_leader", "410702001", "", ""],  # 9 not a grid
            ["SYN4107000001", "郑一", "F", "social", "commander", "4107", "", ""],  # 10 reserved
        ]
        before = await snapshot(staffed)
        report, result = await run_import(staffed, write_csv(tmp_path / "bad.csv", rows))
        assert result is None and not report.ok
        assert [(i.row, i.field) for i in report.issues] == [
            (3, "name"), (4, "role"), (5, "gender"), (5, "region_code"), (6, "service"),
            (6, "organisation_code"), (7, "name"), (8, "row"), (9, "region_code"),
            (10, "staff_no"),
        ]
        reasons = {(i.row, i.field): i.reason for i in report.issues}
        assert reasons[(3, "name")] == "required"
        assert reasons[(5, "region_code")] == "region 410702999999999 does not exist"
        assert reasons[(7, "name")] == "'张三' differs from '张伟' on row 2 for staff_no A001"
        assert reasons[(8, "row")] == "duplicates row 2"
        assert await snapshot(staffed) == before

    async def test_missing_column_is_reported_on_the_header(
        self, staffed: str, tmp_path: Path
    ) -> None:
        path = write_csv(tmp_path / "short.csv", [r[:-1] for r in VALID], header=HEADER[:-1])
        report, result = await run_import(staffed, path)
        assert result is None
        assert [(i.row, i.field, i.reason) for i in report.issues] == [
            (1, "title", "column missing")]

    async def test_unsupported_file_type(self, staffed: str, tmp_path: Path) -> None:
        path = tmp_path / "staff.txt"
        path.write_text("x", encoding="utf-8")
        with pytest.raises(InvalidInput) as err:
            await run_import(staffed, path)
        assert err.value.detail["field"] == "file"


class TestCommand:
    @pytest.fixture
    def cli_env(self, staffed: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        monkeypatch.setenv("WANGGE_DATABASE_URL", staffed)
        get_settings.cache_clear()
        yield staffed
        get_settings.cache_clear()

    def test_invalid_file_exits_2_with_a_report(self, cli_env: str, tmp_path: Path) -> None:
        bad = write_csv(tmp_path / "bad.csv", [["B001", "钱七", "M", "police", "mayor", GRID,
                                                 "", ""]])
        result = CliRunner().invoke(app, ["staff", "import", str(bad)])
        assert result.exit_code == 2
        assert "'mayor' is not one of" in result.stderr and "nothing imported" in result.stderr

    def test_valid_file_exits_0(self, cli_env: str, tmp_path: Path) -> None:
        good = write_xlsx(tmp_path / "good.xlsx", [list(r) for r in VALID])
        result = CliRunner().invoke(app, ["staff", "import", str(good)])
        assert result.exit_code == 0, result.output
        assert "people 3 new" in result.stderr
