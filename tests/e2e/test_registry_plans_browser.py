"""The registry page's plans tab in Debian's Chromium, over a copy of the SQLite demo: the city
sets a special-groups plan and a tagged resident is due in the demo grid; the county commander
opens the county's plans (the city's plan with its progress per township, equal to the API's),
creates a households plan through the form — an invalid interval shows the Chinese reason next
to the field and keeps what was typed, a valid one appears after the reload — and deactivates
it; on a 360 px phone nothing scrolls sideways. Screenshots go to
test-artifacts/registry-plans-*.png."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import ARTIFACTS, ServerThread, api_json, require_chromium, sql_rows
from tests.e2e.test_cases import DESKTOP, PHONE, _log_in, _token, _watch

from wangge.config import Settings
from wangge.demo import DEMO_GRID
from wangge.registry.idnumber import make

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("xinxiang", ["sqlite"], indirect=True),
]

COUNTY = DEMO_GRID[:6]


@dataclass
class Plans:
    server: ServerThread
    url: str
    city_plan: dict[str, Any]
    person: dict[str, Any]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        return sql_rows(self.url, sql, **params)


@pytest.fixture(scope="module")
def plans(xinxiang: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plans]:
    require_chromium()
    work = tmp_path_factory.mktemp("e2e-plans")
    shutil.copy(Path(xinxiang.split(":///", 1)[1]), work / "plans.db")
    url = f"sqlite+aiosqlite:///{work / 'plans.db'}"
    with ServerThread(Settings(database_url=url, photo_dir=work / "photos")) as server:
        admin, member = _token(server, "admin"), _token(server, "grid-member")
        city_plan = api_json(server, "/api/v1/visit-plans", admin, {
            "region_code": DEMO_GRID[:4], "name": "全市特殊人群走访", "kind": "special_groups"})
        person = api_json(server, "/api/v1/residents", member, {
            "grid_code": DEMO_GRID, "name": "韩计划", "population_type": "registered",
            "id_number": make("410702", date(1977, 7, 7), 901)})
        api_json(server, f"/api/v1/residents/{person['id']}/tags", member,
              {"category": "drug_user", "level": "high"})
        yield Plans(server, url, city_plan, person)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.add_style_tag(content=".topbar { position: static !important; }")
    page.screenshot(path=str(ARTIFACTS / f"registry-plans-{name}.png"), full_page=True)


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_commander_follows_and_sets_plans(plans: Plans, browser: Any) -> None:
    server = plans.server
    errors: list[str] = []
    foreign: list[str] = []
    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True)
    try:
        page, mobile = desk.new_page(), phone.new_page()
        for p in (page, mobile):
            _watch(p, server, errors, foreign)
        page.on("dialog", lambda d: d.accept())

        # --- the city's plan with the API's progress per township ------------------------------
        _log_in(page, server, "county", f"/registry/{COUNTY}?tab=plans")
        card = page.locator(f'[data-testid="plan"][data-plan="{plans.city_plan["id"]}"]')
        assert "全市特殊人群走访" in card.inner_text() and "特殊人群走访" in card.inner_text()
        progress = api_json(server, f"/api/v1/visit-plans/{plans.city_plan['id']}/progress"
                                 f"?region={COUNTY}", _token(server, "county"))
        assert card.get_attribute("data-total") == str(progress["total"]) != "0"
        rows = card.locator(".plan-child")
        assert rows.count() == len(progress["children"])
        # The township with the due resident comes first (worst first).
        assert rows.first.get_attribute("data-code") == DEMO_GRID[:9]
        assert card.locator('[data-testid="plan-stop"]').count() == 0  # set by the city
        _shot(page, "1-county")

        # --- an invalid interval, then a valid plan --------------------------------------------
        page.locator('[data-testid="plan-new"] summary').click()
        form = page.locator('[data-testid="plan-form"]')
        form.locator('[data-testid="plan-name"]').fill("红旗区入户走访")
        form.locator('[data-testid="plan-kind"]').select_option("households")
        assert form.locator('[data-field="categories"]').is_hidden()
        form.locator('[data-testid="plan-interval"]').fill("0")
        form.locator('[data-testid="plan-submit"]').click()
        error = form.locator('[data-field="interval_days"] .field-error')
        error.wait_for()
        assert error.inner_text() == "不能小于 1"
        assert form.locator('[data-testid="plan-name"]').input_value() == "红旗区入户走访"
        assert plans.rows("SELECT id FROM visit_plans WHERE name = '红旗区入户走访'") == []
        _shot(page, "2-invalid")

        form.locator('[data-testid="plan-interval"]').fill("90")
        with page.expect_navigation():
            form.locator('[data-testid="plan-submit"]').click()
        created = page.locator('[data-testid="plan"]', has_text="红旗区入户走访")
        created.wait_for()
        assert "每户每 90 天走访" in created.inner_text()
        (plan_id, region, interval), = plans.rows(
            "SELECT id, region_code, interval_days FROM visit_plans WHERE name = '红旗区入户走访'")
        assert (region, interval) == (COUNTY, 90)
        assert created.get_attribute("data-plan") == str(plan_id)
        _shot(page, "3-created")

        # --- on a phone --------------------------------------------------------------------------
        _log_in(mobile, server, "county", f"/registry/{COUNTY}?tab=plans")
        _no_sideways_scroll(mobile)
        _shot(mobile, "4-phone")
        mobile.goto(f"{server.url}/registry/{DEMO_GRID}?tab=plans")
        item = mobile.locator(f'[data-testid="plan-due-item"] a[href="/registry/residents/'
                              f'{plans.person["id"]}"]')
        assert item.count() == 1 and "吸毒人员" in item.inner_text()
        _no_sideways_scroll(mobile)
        _shot(mobile, "5-grid-phone")

        # --- deactivating the plan set here --------------------------------------------------
        with page.expect_navigation():
            created.locator('[data-testid="plan-stop"]').click()
        assert page.locator('[data-testid="plan"]', has_text="红旗区入户走访").count() == 0
        assert plans.rows("SELECT active FROM visit_plans WHERE id = :i", i=plan_id) == [
            (False,)] or plans.rows("SELECT active FROM visit_plans WHERE id = :i",
                                    i=plan_id) == [(0,)]

        assert errors == []
        assert foreign == [], "pages must not load anything from other hosts"
    finally:
        for ctx in (desk, phone):
            ctx.close()
