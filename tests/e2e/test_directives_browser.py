"""A directive from the city to the grids of one county, in Debian's Chromium: the city commander
issues it through the form (feedback fields, a subtree target, the live count), a grid member
of that county acknowledges and reports back on a 360 px phone (the directive's own form, a
photo, a note), the city and county command centres follow every step without reloading, and a
grid member of another county never sees it. Screenshots go to test-artifacts/directives-*.png.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.authz.harness_support import clone_database
from tests.e2e.support import ARTIFACTS, ServerThread, require_chromium
from tests.e2e.test_cases import DESKTOP, PHONE, _log_in, _png, _watch
from tests.factories import PASSWORD, create_account

from wangge.config import Settings
from wangge.demo import DEMO_GRID, DEMO_PASSWORD
from wangge.kit.db import sync_url

pytestmark = [pytest.mark.e2e]

COUNTY = DEMO_GRID[:6]  # 红旗区
OTHER_COUNTY = "410703"  # 卫滨区
OTHER_USER = "other-grid"
TITLE = "汛期安全隐患排查"


def _first_grid(url: str, county: str) -> str:
    """A grid of ``county`` (read straight from the database: a fixture's own set-up)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return str(conn.execute(text(
                "SELECT code FROM regions WHERE level = 'grid' AND code LIKE :p ORDER BY code"
                " LIMIT 1"), {"p": f"{county}%"}).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def directive_server(xinxiang: str, pg_schemas: list[str],
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The app over a copy of the demo (directives are written), photos in a temp dir, and a
    grid member of another county."""
    require_chromium()
    work = tmp_path_factory.mktemp("e2e-directives")
    url = clone_database(xinxiang, pg_schemas, work)
    create_account(url, OTHER_USER, posts=[f"grid_member@{_first_grid(url, OTHER_COUNTY)}"],
                   person_name="外区网格员")
    # A copied PostgreSQL schema has no NOTIFY trigger: the one server process publishes itself.
    settings = Settings(database_url=url, photo_dir=work / "photos", bus="inprocess")
    with ServerThread(settings) as server:
        yield server


def _token(server: ServerThread, username: str, password: str = DEMO_PASSWORD) -> str:
    form = f"username={username}&password={password}".encode()
    with urllib.request.urlopen(urllib.request.Request(
            server.url + "/api/v1/auth/token", data=form)) as res:
        return str(json.load(res)["access_token"])


def _get(server: ServerThread, path: str, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.add_style_tag(content=".topbar, .submit-bar { position: static !important; }")
    page.screenshot(path=str(ARTIFACTS / f"directives-{name}.png"), full_page=True)


def _count(page: Any, name: str) -> str:
    return str(page.locator(f'[data-testid="cmd-counters"] [data-count="{name}"]')
               .inner_text()).strip()


def _wait_count(page: Any, name: str, value: str) -> None:
    page.wait_for_function(
        "([n, v]) => { const el = document.querySelector("
        "'[data-testid=\"cmd-counters\"] [data-count=\"' + n + '\"]');"
        " return el && el.textContent.trim() === v; }", arg=[name, value], timeout=15_000)


def test_issue_acknowledge_report_back_live(directive_server: ServerThread, browser: Any,
                                           tmp_path: Path) -> None:
    server = directive_server
    errors: list[str] = []
    foreign: list[str] = []
    admin = _token(server, "admin")
    _, county = _get(server, f"/api/v1/regions/{COUNTY}", admin)
    grids = county["counts"]["grid"]
    assert grids > 10

    city_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    county_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    phone_ctx = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True)
    other_ctx = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True)
    try:
        city, county_page, member, other = (city_ctx.new_page(), county_ctx.new_page(),
                                            phone_ctx.new_page(), other_ctx.new_page())
        for page in (city, county_page, member, other):
            _watch(page, server, errors, foreign)

        # --- the city commander issues it through the form ---------------------------------
        _log_in(city, server, "admin", "/directives/new")
        assert city.locator('[data-testid="issue-title"]').inner_text() == "下发指令"
        # Submitting an empty form marks the title, the text and the recipients.
        city.locator('[data-testid="issue-submit"]').click()
        for name in ("title", "body", "targets"):
            assert city.locator(f'[data-field="{name}"] .field-error').count() == 1, name
        city.fill('[data-testid="issue-subject"]', TITLE)
        city.fill('[data-testid="issue-body"]',
                  "请各网格于本周内完成辖区内低洼地带、危旧房屋的汛期安全隐患排查，如实反馈排查户数和现场照片。")
        city.locator("label.chip", has=city.locator('[data-testid="kind-inspection"]')).click()
        city.locator("label.chip", has=city.locator('[data-testid="priority-high"]')).click()
        # The feedback form: households checked (a number, required), hazards found (yes/no,
        # required), a photo.
        for label, kind, required in (("排查户数", "number", True),
                                      ("是否发现隐患", "boolean", True),
                                      ("现场照片", "photo", False)):
            city.locator('[data-testid="fb-add"]').click()
            row = city.locator('[data-testid="fb-field"]').last
            row.locator('[name="fb-label"]').fill(label)
            row.locator('[name="fb-type"]').select_option(kind)
            if required:
                row.locator('[name="fb-required"]').check()
        # Every grid of the county: its box in the tree; the count follows.
        city.locator(f'[data-testid="target-{COUNTY}"]').check()
        preview = city.locator('[data-testid="preview"]')
        city.wait_for_function(
            f"document.querySelector('[data-testid=preview]').dataset.total === '{grids}'")
        assert f"将下发到 {grids} 个网格/单位" in preview.inner_text()
        assert "红旗区：全部网格" in city.locator('[data-testid="chosen"]').inner_text()
        # Opening a county in the tree loads its townships (ticked along with their county).
        city.locator(f'[data-testid="expand-{COUNTY}"]').click()
        township = city.locator(f'[data-testid="target-{DEMO_GRID[:9]}"]')
        township.wait_for()
        assert township.is_checked() and township.is_disabled()
        _shot(city, "1-issue-desktop")

        with city.expect_navigation(url="**/command/4107?directive=*"):
            city.locator('[data-testid="issue-submit"]').click()
        directive_id = int(city.url.rsplit("=", 1)[1])
        mine = f'[data-testid="my-item"][data-directive="{directive_id}"]'
        city.wait_for_selector('#cmd-map[data-ready="1"]')
        city.wait_for_selector('#live-status[data-state="on"]')
        assert TITLE in city.locator('[data-testid="cmd-directive"]').inner_text()
        assert _count(city, "total") == str(grids)
        assert _count(city, "delivered") == str(grids)
        assert _count(city, "rate") == "0%"
        # The county's row carries the directive; the map colours the counties by it.
        row = city.locator(f'[data-testid="unit-row"][data-code="{COUNTY}"]')
        assert row.locator('[data-col="total"]').inner_text() == str(grids)
        assert city.locator(f"path.cmd-child.code-{COUNTY}").get_attribute("data-value") == "0"
        assert city.locator(f"path.cmd-child.code-{OTHER_COUNTY}").get_attribute(
            "data-value") == ""
        city.evaluate("window.__samePage = true")

        # --- the county commander watches its own centre -------------------------------------
        _log_in(county_page, server, "county", f"/command/{COUNTY}?directive={directive_id}")
        county_page.wait_for_selector('#cmd-map[data-ready="1"]')
        county_page.wait_for_selector('#live-status[data-state="on"]')
        assert _count(county_page, "total") == str(grids)
        county_page.evaluate("window.__samePage = true")

        # --- a grid member of another county never sees it ---------------------------------------
        other.goto(f"{server.url}/my/directives")
        other.fill("#username", OTHER_USER)
        other.fill("#password", PASSWORD)
        with other.expect_navigation():
            other.locator('[data-testid="login-submit"]').click()
        assert other.url.endswith("/my/directives")
        assert other.locator(mine).count() == 0
        assert TITLE not in other.content()
        other.goto(f"{server.url}/command?directive={directive_id}")
        assert other.locator('[data-testid="directive-missing"]').is_visible()
        assert TITLE not in other.content()
        assert other.goto(f"{server.url}/directives/{directive_id}").status == 404
        assert other.goto(f"{server.url}/command/{COUNTY}").status == 404
        status, _ = _get(server, f"/api/v1/directives/{directive_id}",
                         _token(server, OTHER_USER, PASSWORD))
        assert status == 404

        # --- the grid member acknowledges on a phone ---------------------------------------------
        _log_in(member, server, "grid-member", "/my/directives")
        item = member.locator(mine)
        item.wait_for()
        assert item.get_attribute("data-status") == "delivered"
        assert "低洼地带" in item.locator('[data-testid="my-body"]').inner_text()
        assert member.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shot(member, "2-my-phone")
        item.locator('[data-testid="ack"]').click()
        member.wait_for_function(
            f"document.querySelector('[data-testid=my-item][data-directive=\"{directive_id}\"]')"
            ".dataset.status === 'acknowledged'")

        # Both centres follow without reloading.
        for page in (city, county_page):
            _wait_count(page, "acknowledged", "1")
            assert _count(page, "delivered") == str(grids - 1)
            assert page.evaluate("window.__samePage") is True
        assert "已签收" in city.locator('[data-testid="cmd-feed"]').inner_text()

        # --- and reports back through the directive's own form ---------------------------------
        item = member.locator(mine)
        form = item.locator('[data-testid="complete-form"]')
        form.wait_for()
        # The required fields are marked when left blank.
        form.locator('[data-testid="complete-submit"]').click()
        assert form.locator(".field-error").count() == 2
        form.locator('[data-testid="fb-f1"]').fill("36")
        form.locator("label.chip", has_text="否").click()
        form.locator('[data-testid="fb-photo-f3"]').set_input_files(
            str(_png(tmp_path / "site.png")))
        form.locator(".photo-list li.is-done").wait_for()
        form.locator('[data-testid="my-note"]').fill("已排查36户，未发现隐患。")
        assert member.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shot(member, "3-feedback-phone")
        form.locator('[data-testid="complete-submit"]').click()
        member.wait_for_function(
            f"document.querySelector('[data-testid=my-item][data-directive=\"{directive_id}\"]')"
            ".dataset.status === 'completed'")
        done = member.locator(mine)
        assert "36" in done.inner_text() and "已排查36户" in done.inner_text()
        _shot(member, "4-done-phone")

        for page in (city, county_page):
            _wait_count(page, "completed", "1")
            assert _count(page, "acknowledged") == "0"
            assert page.evaluate("window.__samePage") is True
        township_row = county_page.locator(
            f'[data-testid="unit-row"][data-code="{DEMO_GRID[:9]}"]')
        assert township_row.locator('[data-col="done"]').inner_text() == "1"
        assert "已反馈" in county_page.locator('[data-testid="cmd-feed"]').inner_text()
        _shot(city, "5-command-city")
        _shot(county_page, "6-command-county")

        # Drilling down from the county's map keeps the directive.
        with county_page.expect_navigation():
            township_row.locator("a").click()
        assert county_page.url.endswith(f"/command/{DEMO_GRID[:9]}?directive={directive_id}")
        county_page.wait_for_selector('#cmd-map[data-ready="1"]')
        assert _count(county_page, "completed") == "1"

        # The command centre on a phone, and the other county's member still sees nothing.
        member.goto(f"{server.url}/command")
        member.wait_for_selector('#cmd-map[data-ready="1"]')
        assert member.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shot(member, "7-command-phone")
        other.goto(f"{server.url}/my/directives")
        assert other.locator(mine).count() == 0

        assert errors == []
        assert foreign == [], "pages must not load anything from other hosts"
    finally:
        for ctx in (city_ctx, county_ctx, phone_ctx, other_ctx):
            ctx.close()
