"""The registry pages: a grid's registry (residents masked, households by building, special
groups due a visit, key places, search by name, exact ID number, phone and address) and one
person (masked for a grid member; in clear for the grid leader, that view logged once), the
not-found page outside the scope, and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cases.support import GRID, SIBLING_GRID, SIBLING_LEADER, World, open_world

from wangge.kit.db import utcnow
from wangge.registry.idnumber import make

NUMBER = make("410702", date(1979, 4, 2), 501)
PHONE = "13912345678"


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("registry-pages"))) as w:
        yield w


def _register(world: World, **body: Any) -> dict[str, Any]:
    payload = {"grid_code": GRID, "population_type": "registered", **body}
    r = world.client.post("/api/v1/residents", json=payload, headers=world.auth("grid-member"))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture(scope="module")
def people(world: World) -> dict[str, Any]:
    """Three residents, one of them in a household at 3号楼 2单元 301室 with a tag never
    visited; one more in the sibling grid."""
    now = utcnow()
    building = world.sql(
        "INSERT INTO addresses (region_code, kind, label, text, normalised, synthetic, "
        "created_at) VALUES (:g, 'building', '3号楼', '幸福小区3号楼', '幸福小区3号楼', false, :n) "
        "RETURNING id", g=GRID, n=now)[0][0]
    unit = world.sql(
        "INSERT INTO addresses (region_code, parent_id, kind, label, text, normalised, "
        "synthetic, created_at) VALUES (:g, :p, 'unit', '2单元', '幸福小区3号楼2单元', "
        "'幸福小区3号楼2单元', false, :n) RETURNING id", g=GRID, p=building, n=now)[0][0]
    room = world.sql(
        "INSERT INTO addresses (region_code, parent_id, kind, label, text, normalised, "
        "synthetic, created_at) VALUES (:g, :p, 'room', '301室', '幸福小区3号楼2单元301室', "
        "'幸福小区3号楼2单元301室', false, :n) RETURNING id", g=GRID, p=unit, n=now)[0][0]
    household = world.sql(
        "INSERT INTO households (region_code, address_id, kind, head_name, synthetic, version, "
        "created_at, updated_at) VALUES (:g, :a, 'registered', '赵建国', false, 1, :n, :n) "
        "RETURNING id", g=GRID, a=room, n=now)[0][0]
    head = _register(world, name="赵建国", id_number=NUMBER, phone=PHONE,
                     household_id=household, relation="head")
    spouse = _register(world, name="钱淑芬", household_id=household, relation="spouse",
                       id_number=make("410702", date(1981, 9, 12), 502))
    floating = _register(world, name="孙小明", population_type="floating",
                         id_number=make("410703", date(1995, 1, 20), 503))
    world.sql(
        "INSERT INTO resident_tags (resident_id, region_code, category, level, "
        "responsible_post, fields, visit_interval_days, active, created_at) VALUES "
        "(:r, :g, 'released_prisoner', 'high', :p, :f, 7, true, :n)",
        r=head["id"], g=GRID, p=f"grid_leader@{GRID}", n=now,
        f='{"released_on": "2025-03-01", "crime": "盗窃"}')
    world.sql(
        "INSERT INTO resident_tags (resident_id, region_code, category, level, fields, "
        "visit_interval_days, last_visit_at, active, created_at) VALUES "
        "(:r, :g, 'left_behind', 'low', '{}', 30, :v, true, :n)",
        r=spouse["id"], g=GRID, v=now - timedelta(days=2), n=now)
    sibling = world.client.post(
        "/api/v1/residents", headers=world.auth(SIBLING_LEADER),
        json={"grid_code": SIBLING_GRID, "name": "周外格",
              "id_number": make("410702", date(1970, 2, 2), 504)})
    assert sibling.status_code == 201, sibling.text
    return {"head": head, "spouse": spouse, "floating": floating, "building": building,
            "room": room, "sibling": sibling.json()}


def _html(world: World, user: str, path: str, status: int = 200, **params: Any) -> str:
    r = world.get(user, path, **params)
    assert r.status_code == status, r.text[:500]
    return r.text


def _pii_views(world: World, resident_id: int) -> int:
    count: int = world.sql("SELECT count(*) FROM pii_access_log WHERE entity_id = :i",
                           i=resident_id)[0][0]
    return count


class TestGridRegistry:
    def test_registry_sends_a_grid_member_to_the_grid(self, world: World) -> None:
        r = world.client.get("/registry", headers=world.auth("grid-member"),
                             follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/registry/{GRID}"

    def test_residents_are_listed_masked(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}")
        assert "赵建国" in html and "孙小明" in html and "周外格" not in html
        assert NUMBER not in html and people["head"]["id_number"] in html
        assert "流动人口" in html and "刑满释放人员" in html
        assert 'data-nav="registry" aria-current="page"' in html

    def test_households_by_building_and_rooms(self, world: World,
                                              people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", tab="households")
        assert "3号楼" in html and "1 户" in html
        html = _html(world, "grid-member", f"/registry/{GRID}", tab="households",
                     building=people["building"])
        room = html.split(f'id="a{people["room"]}"', 1)[1].split("</li>", 1)[0]
        assert "301室" in room and "赵建国" in room and "钱淑芬" in room and "配偶" in room

    def test_special_groups_due_a_visit(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", tab="groups")
        due = re.findall(r'data-testid="reg-due">\s*<a class="reg-link" href="/registry/'
                         r'residents/(\d+)"', html)
        # The never-visited released prisoner is due; the left-behind visited 2 days ago is not.
        assert due == [str(people["head"]["id"])]
        assert "从未走访" in html and "在册 2 人次，1 人次待走访" in html

    def test_places_tab(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", tab="places")
        assert 'data-testid="reg-places"' in html

    def test_outside_the_scope_is_the_not_found_page(self, world: World,
                                                     people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{SIBLING_GRID}", status=404)
        assert 'data-testid="not-found"' in html and "周外格" not in html
        html = _html(world, "grid-member", f"/registry/residents/{people['sibling']['id']}",
                     status=404)
        assert 'data-testid="not-found"' in html and "周外格" not in html
        _html(world, "grid-member", "/registry/residents/abc", status=404)
        _html(world, "grid-member", f"/registry/{GRID}", status=404, tab="households",
              building=10**9)


class TestSearch:
    def test_by_exact_id_number(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", by="id_number", q=NUMBER)
        assert re.findall(r'href="/registry/residents/(\d+)"', html) == [
            str(people["head"]["id"])]

    def test_an_invalid_id_number_says_why(self, world: World, people: dict[str, Any]) -> None:
        bad = NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")
        html = _html(world, "grid-member", f"/registry/{GRID}", status=422, by="id_number",
                     q=bad)
        error = html.split('data-testid="reg-search-error">', 1)[1].split("</p>", 1)[0]
        assert "身份证号无效" in error and f"校验码错误（应为 {NUMBER[-1]}）" in error

    def test_by_name_prefix_and_phone(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", by="name", q="钱")
        assert re.findall(r'href="/registry/residents/(\d+)"', html) == [
            str(people["spouse"]["id"])]
        html = _html(world, "grid-member", f"/registry/{GRID}", by="phone", q="139-1234-5678")
        assert re.findall(r'href="/registry/residents/(\d+)"', html) == [
            str(people["head"]["id"])]

    def test_by_address_prefix(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", by="address",
                     q="幸福小区 3号楼2单元")
        hits = html.split('data-testid="reg-address-hits"', 1)[1].split("</ul>", 1)[0]
        assert "幸福小区3号楼2单元301室" in hits
        assert f"building={people['building']}#a{people['room']}" in hits


class TestPerson:
    def test_a_grid_member_sees_it_masked_and_nothing_is_logged(
            self, world: World, people: dict[str, Any]) -> None:
        rid = people["head"]["id"]
        html = _html(world, "grid-member", f"/registry/residents/{rid}")
        assert NUMBER not in html and PHONE not in html
        assert people["head"]["id_number"] in html and "139****5678" in html
        assert "本次查看已记录" not in html and "号码已脱敏显示" in html
        assert "刑满释放人员" in html and "盗窃" in html and "从未走访" in html
        changes = html.split('data-testid="reg-history"', 1)[1]
        assert "登记" in changes and "grid-member" in changes
        assert _pii_views(world, rid) == 0

    def test_the_grid_leader_sees_it_in_clear_and_the_view_is_logged_once(
            self, world: World, people: dict[str, Any]) -> None:
        rid = people["spouse"]["id"]
        assert _pii_views(world, rid) == 0
        html = _html(world, "grid-leader", f"/registry/residents/{rid}")
        assert 'data-testid="reg-logged"' in html and "本次查看已记录" in html
        shown = html.split('data-testid="reg-id-number">', 1)[1].split("<", 1)[0]
        assert shown == make("410702", date(1981, 9, 12), 502)
        rows = world.sql("SELECT actor, route FROM pii_access_log WHERE entity_id = :i", i=rid)
        assert [tuple(r) for r in rows] == [("grid-leader", f"/registry/residents/{rid}")]

    def test_english(self, world: World, people: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/residents/{people['head']['id']}",
                     lang="en")
        assert "Released prisoner" in html and "Never visited" in html
        assert ">History<" in html and "Registered" in html
        html = _html(world, "grid-member", f"/registry/{GRID}", lang="en", tab="groups")
        assert "Special groups" in html and ">Registry<" in html
        assert "2 tags in all, 1 due a visit" in html
