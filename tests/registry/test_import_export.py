"""Importing residents from CSV (UTF-8, GBK) and Excel with a validation report — all-or-nothing
or valid rows only, duplicates by ID hash reported and never doubled — and exporting one's
scope, masked unless the caller holds pii:read there (then logged per resident)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from tests.cases.support import COUNTY, GRID, World, open_world
from tests.factories import PASSWORD, bearer_token, create_account
from typer.testing import CliRunner

from wangge.cli import app
from wangge.config import get_settings
from wangge.registry.idnumber import make

FAR = "far-member"
EN = ("name", "id_number", "grid_code", "population_type", "phone")
ZH = ("姓名", "身份证号", "网格编码", "人口类型", "性别", "出生日期", "民族", "联系电话")


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("imports"))) as w:
        far_grid = w.sql("SELECT min(code) FROM regions WHERE level = 'grid' AND code LIKE "
                         "'4107%' AND code NOT LIKE :c", c=f"{COUNTY}%")[0][0]
        create_account(w.url, FAR, posts=[f"grid_member@{far_grid}"], person_name=FAR)
        w.tokens[FAR] = bearer_token(w.client, FAR, PASSWORD)
        yield w


_seq = iter(range(100, 999))


def new_id(birth: date = date(1988, 4, 2)) -> str:
    return make("410702", birth, next(_seq))


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str = "utf-8",
           bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding)


def upload(world: World, content: bytes, name: str = "residents.csv", mode: str = "all",
           user: str = "grid-member", entity: str = "residents") -> Any:
    return world.client.post("/api/v1/registry/imports",
                             params={"entity": entity, "mode": mode},
                             files={"file": (name, content, "application/octet-stream")},
                             headers=world.auth(user))


def residents(world: World) -> int:
    return int(world.sql("SELECT count(*) FROM residents")[0][0])


class TestImport:
    def test_a_valid_csv_imports_with_history_and_audit(self, world: World) -> None:
        ids = [new_id() for _ in range(3)]
        rows = [("张伟", ids[0], GRID, "registered", "13800138001"),
                ("李娜", ids[1], GRID, "floating", ""),
                ("王芳", ids[2], GRID, "", "")]
        before = residents(world)
        r = upload(world, to_csv(EN, rows, bom=True))
        assert r.status_code == 201, r.text
        out = r.json()
        assert (out["entity"], out["mode"], out["rows"], out["imported"]) == (
            "residents", "all", 3, 3)
        assert out["errors"] == [] and out["duplicates"] == []
        assert residents(world) == before + 3
        found = world.get("grid-member", "/api/v1/residents", id_number=ids[1]).json()["items"]
        assert [(x["name"], x["population_type"], x["masked"]) for x in found] == [
            ("李娜", "floating", True)]
        detail = world.get("grid-member", f"/api/v1/residents/{found[0]['id']}").json()
        assert [(h["action"], h["actor"]) for h in detail["history"]] == [
            ("create", "grid-member")]
        assert world.sql("SELECT count(*) FROM collection_records WHERE entity_type = "
                         "'resident' AND entity_id = :i", i=found[0]["id"])[0][0] == 1
        assert world.sql("SELECT count(*) FROM audit_records WHERE action = 'resident.created' "
                         "AND target_id = :i", i=str(found[0]["id"]))[0][0] == 1
        summary = world.sql("SELECT actor, region_code FROM audit_records WHERE action = "
                            "'resident.imported' ORDER BY id DESC")[0]
        assert tuple(summary) == ("grid-member", GRID)

    def test_one_bad_row_in_all_or_nothing_mode_changes_nothing(self, world: World) -> None:
        good = new_id()
        bad = good[:17] + ("0" if good[17] != "0" else "1")  # wrong check character
        rows = [("赵敏", good, GRID, "registered", ""), ("钱进", bad, GRID, "registered", "")]
        before = residents(world)
        audits = world.sql("SELECT count(*) FROM audit_records")[0][0]
        r = upload(world, to_csv(EN, rows))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["imported"] == 0 and body["rows"] == 2
        assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "id_number")]
        assert "check character" in body["errors"][0]["reason"]
        assert residents(world) == before
        assert world.sql("SELECT count(*) FROM audit_records")[0][0] == audits
        assert world.get("grid-member", "/api/v1/residents",
                         id_number=good).json()["items"] == []

    def test_valid_rows_mode_stores_the_good_ones_and_reports_the_rest(
            self, world: World) -> None:
        good = [new_id(), new_id()]
        rows = [("孙丽", good[0], GRID, "registered", ""),
                ("周强", "12345", GRID, "registered", ""),
                ("吴刚", good[1], GRID, "registered", "12345"),
                ("郑华", new_id(), GRID[:12] + "999", "registered", ""),
                ("", new_id(), GRID, "registered", ""),
                ("冯军", new_id(), GRID, "外星", "")]
        before = residents(world)
        r = upload(world, to_csv(EN, rows), mode="valid")
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["rows"], body["imported"]) == (6, 1)
        assert [(e["row"], e["field"]) for e in body["errors"]] == [
            (3, "id_number"), (4, "phone"), (5, "grid_code"), (6, "name"),
            (7, "population_type")]
        assert residents(world) == before + 1
        assert len(world.get("grid-member", "/api/v1/residents",
                             id_number=good[0]).json()["items"]) == 1

    def test_duplicates_in_the_database_and_in_the_file_are_reported_not_doubled(
            self, world: World) -> None:
        registered = new_id()
        first = world.client.post("/api/v1/residents", headers=world.auth("grid-member"),
                                  json={"grid_code": GRID, "name": "陈静",
                                        "id_number": registered}).json()
        twice = new_id()
        rows = [("陈静", registered, GRID, "registered", ""),
                ("林峰", twice, GRID, "registered", ""),
                ("林峰", twice.lower(), GRID, "registered", ""),
                ("何平", new_id(), GRID, "registered", "")]
        before = residents(world)
        r = upload(world, to_csv(EN, rows))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["imported"] == 2 and body["errors"] == []
        assert [(d["row"], d.get("resident_id"), d.get("of_row")) for d in body["duplicates"]] \
            == [(2, first["id"], None), (4, None, 3)]
        assert residents(world) == before + 2
        # The same file again: nothing new, every row a duplicate.
        again = upload(world, to_csv(EN, rows))
        assert again.status_code == 200 and again.json()["imported"] == 0
        assert len(again.json()["duplicates"]) == 4 and residents(world) == before + 2

    def test_a_gbk_csv_with_chinese_headers_and_values(self, world: World) -> None:
        number = new_id(date(1979, 11, 30))
        rows = [("刘洋", number, GRID, "流动", "男" if int(number[16]) % 2 else "女",
                 "1979/11/30", "汉族", "139 0000 1111")]
        r = upload(world, to_csv(ZH, rows, encoding="gbk"), name="居民.csv")
        assert r.status_code == 201, r.text
        [got] = world.get("grid-leader", "/api/v1/residents", id_number=number).json()["items"]
        assert (got["name"], got["population_type"], got["birth_date"], got["ethnicity"]) == (
            "刘洋", "floating", "1979-11-30", "汉族")
        # A sex that contradicts the ID number is named.
        other = new_id()
        wrong = "女" if int(other[16]) % 2 else "男"
        r = upload(world, to_csv(ZH, [("错性别", other, GRID, "户籍", wrong, "", "", "")],
                                 encoding="gbk"))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sex"

    def test_an_xlsx_file(self, world: World) -> None:
        number = new_id(date(2001, 2, 3))
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(list(ZH))
        sheet.append(["马超", number, int(GRID), "境外", None, date(2001, 2, 3), None, None])
        buf = io.BytesIO()
        book.save(buf)
        r = upload(world, buf.getvalue(), name="residents.xlsx")
        assert r.status_code == 201, r.text
        [got] = world.get("grid-member", "/api/v1/residents", id_number=number).json()["items"]
        assert (got["name"], got["population_type"], got["region_code"]) == (
            "马超", "foreign", GRID)

    def test_a_missing_column_or_permission_is_reported(self, world: World) -> None:
        r = upload(world, to_csv(("姓名", "身份证号"), [("某人", new_id())]))
        assert r.status_code == 422
        assert [(e["row"], e["field"], e["reason"]) for e in r.json()["errors"]] == [
            (1, "grid_code", "column missing")]
        r = upload(world, to_csv(EN, [("某人", new_id(), GRID, "", "")]), user=FAR)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "grid_code"
        r = upload(world, to_csv(EN, [("某人", new_id(), GRID, "", "")]), user="grid-support")
        assert r.status_code == 403  # no registry:write at all


class TestHouseholdsAndPlaces:
    def test_households_find_their_standard_address_by_its_text(self, world: World) -> None:
        auth = world.auth("grid-member")
        building = world.client.post("/api/v1/addresses", headers=auth, json={
            "grid_code": GRID, "kind": "building", "label": "导入路8号楼"}).json()
        room = world.client.post("/api/v1/addresses", headers=auth, json={
            "grid_code": GRID, "kind": "room", "label": "102室",
            "parent_id": building["id"]}).json()
        header = ("网格编码", "地址", "户主", "户别")
        rows = [(GRID, "导入路８号楼 102室", "陈明", "户籍"),
                (GRID, "导入路8号楼999室", "无此户", "户籍"),
                (GRID, "导入路8号楼102室", "刘洋", "外地")]
        count = "SELECT count(*) FROM households WHERE address_id = :a"
        r = upload(world, to_csv(header, rows), "households.csv", entity="households")
        assert r.status_code == 422, r.text
        assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(3, "address"),
                                                                        (4, "kind")]
        assert world.sql(count, a=room["id"])[0][0] == 0
        r = upload(world, to_csv(header, rows), "households.csv", "valid", entity="households")
        assert r.status_code == 201 and r.json()["imported"] == 1, r.text
        [(hid, head)] = world.sql("SELECT id, head_name FROM households WHERE address_id = :a",
                                  a=room["id"])
        assert head == "陈明"
        history = world.get("grid-member", f"/api/v1/households/{hid}").json()["history"]
        assert history[0]["changes"]["address"] == [None, room["text"]]
        again = upload(world, to_csv(header, rows[:1]), "households.csv", entity="households")
        assert again.status_code == 200 and again.json()["duplicates"] == [
            {"row": 2, "reason": f"this household is already registered (household {hid})",
             "household_id": hid}]

    def test_places_by_chinese_category_names_and_duplicates(self, world: World) -> None:
        header = ("网格编码", "场所类别", "场所名称", "地址", "负责人", "负责人电话")
        rows = [(GRID, "旅馆", "悦来客栈", "人民路1号", "钱多", "13700001111"),
                (GRID, "网吧", "极速网咖", "人民路2号", "", ""),
                (GRID, "旅馆", "悦来 客栈", "", "", ""),
                (GRID, "动物园", "不存在", "", "", ""),
                (GRID, "药店", "好药房", "", "", "12")]
        r = upload(world, to_csv(header, rows), "places.csv", "valid", entity="places")
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["imported"] == 2
        assert [(e["row"], e["field"]) for e in out["errors"]] == [(5, "category"),
                                                                  (6, "responsible_phone")]
        assert [(d["row"], d.get("of_row")) for d in out["duplicates"]] == [(4, 2)]
        places = world.get("grid-member", "/api/v1/places", grid=GRID).json()["items"]
        hotel = next(p for p in places if p["name"] == "悦来客栈")
        assert (hotel["category"], hotel["inspection_interval_days"],
                hotel["responsible_phone"]) == ("hotel", 30, "137****1111")
        again = upload(world, to_csv(header, rows[:2]), "places.csv", entity="places")
        assert [d["place_id"] for d in again.json()["duplicates"]] == [
            hotel["id"], next(p["id"] for p in places if p["name"] == "极速网咖")]


@pytest.mark.anyio
async def test_two_imports_racing_for_one_person_report_a_duplicate(world: World) -> None:
    """The second import waits on the unique index while the first is open, then finds the
    person registered: a reported duplicate, not a 500 (PostgreSQL: SQLite has one writer)."""
    import asyncio

    from wangge.authz.scope import Subject
    from wangge.kit.crypto import cipher_for
    from wangge.kit.db import create_engine, create_sessionmaker
    from wangge.registry.imports import registry_imports

    if not world.url.startswith("postgresql"):
        pytest.skip("SQLite takes one writer at a time: imports cannot interleave")
    settings = get_settings()
    cipher = cipher_for(settings.pii_key, settings.pii_key_file)
    number = new_id()
    content = to_csv(EN, [("并发", number, GRID, "registered", "")])
    engine = create_engine(world.url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as first, sessions() as second:
            one = await registry_imports.run(first, Subject.everything(), cipher, "residents",
                                             "a.csv", content)
            assert one.imported == 1
            racing = asyncio.create_task(registry_imports.run(
                second, Subject.everything(), cipher, "residents", "b.csv", content))
            await asyncio.sleep(0.5)
            assert not racing.done(), "the second import should wait for the first"
            await first.commit()
            two = await racing
            await second.commit()
        assert (two.imported, [d.existing_id for d in two.duplicates]) == (0, one.ids)
    finally:
        await engine.dispose()
    assert world.sql("SELECT count(*) FROM residents WHERE name = '并发'")[0][0] == 1


def export(world: World, user: str, **params: Any) -> Any:
    return world.client.get("/api/v1/registry/exports/residents", params=params,
                            headers=world.auth(user))


@pytest.fixture(scope="module")
def seeded(world: World) -> str:
    """A resident with an ID number and a phone in GRID."""
    number = new_id(date(1990, 9, 9))
    r = upload(world, to_csv(EN, [("导出人", number, GRID, "registered", "13911112222")]))
    assert r.status_code == 201, r.text
    return number


class TestExport:
    def read(self, content: bytes) -> list[dict[str, str]]:
        assert content.startswith("\ufeff".encode())
        return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))

    def test_masked_for_a_grid_member_and_nothing_logged(self, world: World,
                                                         seeded: str) -> None:
        logged = world.sql("SELECT count(*) FROM pii_access_log")[0][0]
        r = export(world, "grid-member", grid=GRID)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = self.read(r.content)
        [mine] = [x for x in rows if x["姓名"] == "导出人"]
        assert mine["身份证号"] == f"{seeded[:4]}{'*' * 10}{seeded[-4:]}"
        assert mine["联系电话"] == "139****2222" and mine["人口类型"] == "户籍"
        assert seeded not in r.text
        assert {x["网格编码"] for x in rows} == {GRID}
        assert len(rows) == world.sql("SELECT count(*) FROM residents WHERE region_code = :g "
                                      "AND merged_into_id IS NULL", g=GRID)[0][0]
        assert world.sql("SELECT count(*) FROM pii_access_log")[0][0] == logged

    def test_clear_for_the_grid_leader_and_each_resident_logged(self, world: World,
                                                                seeded: str) -> None:
        r = export(world, "grid-leader", grid=GRID, format="xlsx")
        assert r.status_code == 200, r.text
        sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
        table = [list(v) for v in sheet.iter_rows(values_only=True)]
        header, body = table[0], table[1:]
        rows = [dict(zip(header, [*v, *[None] * (len(header) - len(v))], strict=True))
                for v in body]
        [mine] = [x for x in rows if x["姓名"] == "导出人"]
        assert (mine["身份证号"], mine["联系电话"]) == (seeded, "13911112222")
        log = world.get("admin", "/api/v1/pii-access", resident=mine["编号"]).json()["items"]
        assert [(x["actor"], x["fields"], x["route"]) for x in log] == [
            ("grid-leader", "id_number,phone", "/api/v1/registry/exports/residents")]
        with_pii = sum(1 for x in rows if x["身份证号"] or x["联系电话"])
        assert world.sql("SELECT count(*) FROM pii_access_log WHERE route = :r AND actor = "
                         "'grid-leader'", r="/api/v1/registry/exports/residents")[0][0] \
            == with_pii
        assert world.sql("SELECT count(*) FROM audit_records WHERE action = "
                         "'resident.exported' AND actor = 'grid-leader'")[0][0] == 1

    def test_another_countys_user_gets_nothing_of_it(self, world: World, seeded: str) -> None:
        assert export(world, FAR, grid=GRID).status_code == 404
        r = export(world, FAR)
        assert r.status_code == 200
        rows = self.read(r.content)
        assert all(not x["网格编码"].startswith(COUNTY) for x in rows)
        assert "导出人" not in r.text


class TestCommand:
    @pytest.fixture
    def cli_env(self, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        monkeypatch.setenv("WANGGE_DATABASE_URL", world.url)
        get_settings.cache_clear()
        yield world.url
        get_settings.cache_clear()

    def test_import_as_a_user_and_a_bad_file_exits_2(self, world: World, cli_env: str,
                                                      tmp_path: Path) -> None:
        number = new_id()
        good = tmp_path / "good.csv"
        good.write_bytes(to_csv(EN, [("命令行", number, GRID, "registered", "")]))
        result = CliRunner().invoke(app, ["registry", "import", str(good), "--as",
                                          "grid-member"])
        assert result.exit_code == 0, result.output
        assert "1 imported" in result.stderr
        [got] = world.get("grid-member", "/api/v1/residents", id_number=number).json()["items"]
        assert got["name"] == "命令行"
        bad = tmp_path / "bad.csv"
        bad.write_bytes(to_csv(EN, [("坏", "123", GRID, "registered", "")]))
        result = CliRunner().invoke(app, ["registry", "import", str(bad), "--as",
                                          "grid-member"])
        assert result.exit_code == 2 and "0 imported" in result.stderr
        assert "id_number" in result.stderr
        result = CliRunner().invoke(app, ["registry", "import", str(good), "--as", FAR])
        assert result.exit_code == 2 and "not a grid in your scope" in result.stderr
        result = CliRunner().invoke(app, ["registry", "import", str(good), "--as", "nobody"])
        assert result.exit_code == 2 and "no active account" in result.stderr
