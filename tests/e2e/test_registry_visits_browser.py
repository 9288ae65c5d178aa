"""A grid worker's rounds in Debian's Chromium: the county commander sets a special-groups plan
and a patrol plan over the demo grid (through the API), a household at a room of a building
gets a resident under community correction, and a hotel is registered. Then, on a 360 px phone
with the GPS granted, the grid member records a visit to the person due: the item leaves the
due list, the distance and the "far" flag show, the database holds the visit with its location
and the patrol count goes up; an invalid ID number in the collection form shows the Chinese
reason next to the field and keeps what was typed, a valid one registers the resident. The
hotel's page shows the responsible person's phone in clear (logged) to the grid leader, masked
to the grid member, and is not found for another county's commander. Screenshots go to
test-artifacts/registry-visits-*.png."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import ARTIFACTS, ServerThread, api_json, require_chromium, sql_rows
from tests.e2e.test_cases import DESKTOP, PHONE, _log_in, _token, _watch
from tests.factories import PASSWORD, create_account

from wangge.config import Settings
from wangge.demo import DEMO_GRID
from wangge.registry.idnumber import make

pytestmark = [
    pytest.mark.e2e,
    # The browser needs one backend: a copy of the SQLite demo (no synthetic population).
    pytest.mark.parametrize("xinxiang", ["sqlite"], indirect=True),
]

OTHER_COUNTY = "410703"  # 卫滨区
OTHER_USER = "visits-other-county"
# The building's coordinates, and where the phone says it is (about 900 m east: "far").
HOME = (113.9000, 35.3000)
PHONE_AT = {"longitude": 113.9100, "latitude": 35.3000}
RESPONSIBLE_PHONE = "13712345678"
TAGGED_ID = make("410702", date(1985, 3, 14), 701)
NEW_ID = make("410702", date(1992, 11, 30), 702)


@dataclass
class Rounds:
    server: ServerThread
    url: str
    person: dict[str, Any]
    household: dict[str, Any]
    place: dict[str, Any]
    patrol: dict[str, Any]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        return sql_rows(self.url, sql, **params)


@pytest.fixture(scope="module")
def rounds(xinxiang: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rounds]:
    require_chromium()
    work = tmp_path_factory.mktemp("e2e-visits")
    shutil.copy(Path(xinxiang.split(":///", 1)[1]), work / "visits.db")
    url = f"sqlite+aiosqlite:///{work / 'visits.db'}"
    create_account(url, OTHER_USER, posts=[f"commander@{OTHER_COUNTY}"],
                   person_name="外区指挥员")
    with ServerThread(Settings(database_url=url, photo_dir=work / "photos")) as server:
        county, member = _token(server, "county"), _token(server, "grid-member")
        api_json(server, "/api/v1/visit-plans", county, status=201, body={
            "region_code": DEMO_GRID, "name": "特殊人群走访", "kind": "special_groups"})
        patrol = api_json(server, "/api/v1/visit-plans", county, status=201, body={
            "region_code": DEMO_GRID, "name": "网格日常巡查", "kind": "patrol",
            "interval_days": 7, "quota": 3})
        lng, lat = HOME
        building = api_json(server, "/api/v1/addresses", member, status=201, body={
            "grid_code": DEMO_GRID, "kind": "building", "label": "和平小区9号楼",
            "lng": lng, "lat": lat})
        # The room carries the coordinates too: a room does not inherit its building's.
        room = api_json(server, "/api/v1/addresses", member, status=201, body={
            "grid_code": DEMO_GRID, "kind": "room", "label": "502室",
            "parent_id": building["id"], "lng": lng, "lat": lat})
        household = api_json(server, "/api/v1/households", member, status=201, body={
            "grid_code": DEMO_GRID, "address_id": room["id"], "head_name": "冯正"})
        person = api_json(server, "/api/v1/residents", member, status=201, body={
            "grid_code": DEMO_GRID, "name": "冯正", "population_type": "registered",
            "id_number": TAGGED_ID, "household_id": household["id"], "relation": "head"})
        api_json(server, f"/api/v1/residents/{person['id']}/tags", member,
                 {"category": "community_correction", "level": "high"}, status=201)
        place = api_json(server, "/api/v1/places", member, status=201, body={
            "grid_code": DEMO_GRID, "category": "hotel", "name": "如家快捷旅馆",
            "address": "和平路12号", "responsible_name": "褚店长",
            "responsible_phone": RESPONSIBLE_PHONE})
        yield Rounds(server, url, person, household, place, patrol)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.add_style_tag(content=".topbar, .submit-bar { position: static !important; }")
    page.screenshot(path=str(ARTIFACTS / f"registry-visits-{name}.png"), full_page=True)


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_visit_collection_and_a_place(rounds: Rounds, browser: Any) -> None:
    server, person = rounds.server, rounds.person
    errors: list[str] = []
    foreign: list[str] = []
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True,
                                geolocation=PHONE_AT, permissions=["geolocation"])
    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    other = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        member, leader, outsider = phone.new_page(), desk.new_page(), other.new_page()
        for page in (member, leader, outsider):
            _watch(page, server, errors, foreign)

        # --- the due list ---------------------------------------------------------------------
        _log_in(member, server, "grid-member", "/my/visits")
        assert member.locator('[data-testid="mainnav"] [data-nav="my-visits"]').get_attribute(
            "aria-current") == "page"
        item = member.locator(f'li[data-testid="vis-item"][data-resident="{person["id"]}"]')
        assert item.count() == 1
        assert "从未走访" in item.inner_text() and "社区矫正人员" in item.inner_text()
        count = member.locator('[data-testid="vis-patrol-count"]')
        assert count.inner_text() == "本期已走访 0 次，目标 3 次"
        _no_sideways_scroll(member)
        _shot(member, "1-due-phone")

        # --- a visit with the GPS check-in ------------------------------------------------------
        item.locator('[data-testid="vis-open"]').click()
        form = item.locator('[data-testid="vis-form"]')
        status = form.locator('[data-testid="vis-location-status"]')
        member.wait_for_function(
            "el => el.textContent.startsWith('已定位')", arg=status.element_handle())
        form.locator('[data-testid="vis-notes"]').fill("本人在家，按时报到，情绪稳定。")
        form.locator('label.chip:has(input[value="hardship"])').click()
        form.locator('[data-testid="vis-issue-other"]').fill("需协助申请临时救助")
        _no_sideways_scroll(member)
        _shot(member, "2-visit-form")
        form.locator('[data-testid="vis-submit"]').dblclick()
        result = member.locator('[data-testid="vis-result"]')
        result.wait_for()
        assert item.count() == 0, "the visited person must leave the due list"
        assert "冯正" in result.inner_text()
        distance = result.locator('[data-testid="vis-distance"]').inner_text()
        assert distance.startswith("距登记地址 ") and distance.endswith(" 米")
        metres = int(distance.split()[1])
        assert 800 < metres < 1000, distance
        assert result.locator('[data-testid="vis-far"]').inner_text() == "距离较远"
        member.wait_for_function(
            "() => document.querySelector('[data-testid=\"vis-patrol-count\"]').textContent"
            " === '本期已走访 1 次，目标 3 次'")
        visits = rounds.rows(
            "SELECT resident_id, lng, lat, far, distance_m, notes, issues, visitor FROM visits")
        assert len(visits) == 1, "a double tap must record one visit"
        v = visits[0]
        assert v[0] == person["id"] and v[3] and v[7] == "grid-member"
        assert abs(v[1] - PHONE_AT["longitude"]) < 1e-6 and abs(v[2] - PHONE_AT["latitude"]) < 1e-6
        assert round(v[4]) == metres and v[5] == "本人在家，按时报到，情绪稳定。"
        assert json.loads(v[6]) == ["hardship", "需协助申请临时救助"]
        _shot(member, "3-visit-recorded")

        # --- information collection: an invalid ID number, then a valid one ---------------------
        add = member.locator('[data-testid="col-add"]')
        add.scroll_into_view_if_needed()
        add.locator('[data-testid="col-household"]').select_option(str(rounds.household["id"]))
        add.locator('[data-testid="col-relation"]').select_option("child")
        add.locator('[data-testid="col-name"]').fill("冯小雨")
        bad = NEW_ID[:-1] + ("0" if NEW_ID[-1] != "0" else "1")
        add.locator('[data-testid="col-id-number"]').fill(bad)
        add.locator('[data-testid="col-phone"]').fill("13698765432")
        add.locator('[data-testid="col-add-submit"]').click()
        error = add.locator('[data-field="id_number"] .field-error')
        error.wait_for()
        assert error.inner_text() == f"身份证号无效：校验码错误（应为 {NEW_ID[-1]}）"
        assert add.locator('[data-testid="col-id-number"]').input_value() == bad
        assert add.locator('[data-testid="col-name"]').input_value() == "冯小雨"
        assert rounds.rows("SELECT id FROM residents WHERE name = '冯小雨'") == []
        _no_sideways_scroll(member)
        _shot(member, "4-collect-invalid")
        add.locator('[data-testid="col-id-number"]').fill(NEW_ID)
        add.locator('[data-testid="col-add-submit"]').click()
        ok = add.locator('[data-testid="col-add-ok"]')
        ok.wait_for()
        assert ok.inner_text().startswith("已登记：冯小雨")
        created = rounds.rows("SELECT household_id, relation, region_code FROM residents"
                              " WHERE name = '冯小雨'")
        assert [tuple(r) for r in created] == [(rounds.household["id"], "child", DEMO_GRID)]
        # ... and a phone number changed: a bad one is refused with the reason, kept; then saved.
        change = member.locator('[data-testid="col-phone-form"]')
        change.locator('[data-testid="col-q"]').fill("冯正")
        change.locator('[data-testid="col-find"]').click()
        change.locator('[data-testid="col-match"]').first.click()
        change.locator('[data-testid="col-new-phone"]').fill("2345")
        change.locator('[data-testid="col-phone-submit"]').click()
        error = change.locator('[data-field="phone"] .field-error')
        error.wait_for()
        assert error.inner_text().startswith("电话号码无效：")
        assert change.locator('[data-testid="col-new-phone"]').input_value() == "2345"
        change.locator('[data-testid="col-new-phone"]').fill("139 0000 1111")
        change.locator('[data-testid="col-phone-submit"]').click()
        change.locator('[data-testid="col-phone-ok"]').wait_for()
        assert rounds.rows("SELECT phone_masked FROM residents WHERE id = :i",
                           i=person["id"])[0][0] == "139****1111"
        _no_sideways_scroll(member)
        _shot(member, "5-collect-saved")

        # --- the place: clear (logged) for the grid leader, masked for the grid member ----------
        path = f"/registry/places/{rounds.place['id']}"
        _log_in(leader, server, "grid-leader", path)
        assert leader.locator('[data-testid="reg-place-name"]').inner_text() == "如家快捷旅馆"
        assert leader.locator('[data-testid="reg-place-category"]').inner_text() == "旅馆"
        assert leader.locator('[data-testid="reg-place-phone"]').inner_text() == \
            RESPONSIBLE_PHONE
        assert leader.locator('[data-testid="reg-logged"]').inner_text() == "本次查看已记录"
        assert leader.locator('[data-testid="reg-place-due"]').inner_text() == "从未巡查"
        logged = rounds.rows("SELECT actor, route FROM pii_access_log"
                             " WHERE entity_type = 'place'")
        assert [tuple(r) for r in logged] == [("grid-leader", path)]
        _shot(leader, "6-place-clear")

        member.goto(f"{server.url}{path}")
        assert member.locator('[data-testid="reg-place-phone"]').inner_text() == "137****5678"
        assert member.locator('[data-testid="reg-logged"]').count() == 0
        assert RESPONSIBLE_PHONE not in member.content()
        _no_sideways_scroll(member)
        _shot(member, "7-place-masked-phone")

        # --- another county's commander finds nothing -------------------------------------------
        outsider.goto(f"{server.url}{path}")
        outsider.fill("#username", OTHER_USER)
        outsider.fill("#password", PASSWORD)
        with outsider.expect_navigation():
            outsider.locator('[data-testid="login-submit"]').click()
        response = outsider.goto(f"{server.url}{path}")
        assert response.status == 404
        assert outsider.locator('[data-testid="not-found"]').is_visible()
        assert "如家快捷旅馆" not in outsider.content()
        _shot(outsider, "8-place-other-county")

        assert errors == []
        assert foreign == [], "pages must not load anything from other hosts"
    finally:
        for ctx in (phone, desk, other):
            ctx.close()
