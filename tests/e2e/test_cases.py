"""A case from the field to the grid leader, in Debian's Chromium: a grid member reports on a
360 px phone (photo, GPS then a pin, extra fields), the grid leader's queue shows the case live,
the leader accepts and dispatches it from its page, the member sees both without reloading and
finds the case among their tasks. Screenshots go to test-artifacts/cases-*.png."""

from __future__ import annotations

import json
import shutil
import struct
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import ARTIFACTS, ServerThread, require_chromium

from wangge.cases.pages import PAGE_SIZE
from wangge.config import Settings
from wangge.demo import DEMO_GRID, DEMO_PASSWORD

pytestmark = [
    pytest.mark.e2e,
    # One database is enough for the browser: the SQLite variant of the demo, copied (we write).
    pytest.mark.parametrize("xinxiang", ["sqlite"], indirect=True),
]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}

# A point of the grid's outline on screen that lies inside its fill (the shapes are drawn
# non-interactive, so elementFromPoint cannot find them: ask the SVG geometry instead).
POINT_IN_AREA = """(code) => {
  const el = document.querySelector('path.report-area.code-' + code);
  if (!el) return null;
  const box = el.getBoundingClientRect();
  const toUser = el.getScreenCTM().inverse();
  for (let n = 2; n <= 16; n *= 2) {
    for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
      const x = box.left + box.width * i / n, y = box.top + box.height * j / n;
      if (el.isPointInFill(new DOMPoint(x, y).matrixTransform(toUser))) return [x, y];
    }
  }
  return null;
}"""


def _png(path: Path, size: int = 48) -> Path:
    """A small colour-gradient PNG, written by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + b"".join(bytes((40 + 4 * x, 90 + 3 * y, 160)) for x in range(size))
                    for y in range(size))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def case_server(xinxiang: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ServerThread]:
    """The app over a copy of the demo database (cases are written), photos in a temp dir."""
    require_chromium()
    source = Path(xinxiang.split(":///", 1)[1])
    work = tmp_path_factory.mktemp("e2e-cases")
    shutil.copy(source, work / "cases.db")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{work / 'cases.db'}",
                        photo_dir=work / "photos")
    with ServerThread(settings) as server:
        _seed(server)
        yield server


# Earlier reports of the demo grid, so that the queue holds more than one page.
SEED_TITLES = ("楼道堆放杂物", "路灯不亮", "垃圾清运不及时", "井盖缺失", "占道经营", "噪音扰民",
               "违规停车", "下水道堵塞", "电动车楼道充电", "邻里漏水纠纷", "流浪犬伤人隐患")
SEED_CATEGORIES = ("08", "09", "08", "03", "09", "0102", "09", "10", "0302", "0102", "02")


def _post(server: ServerThread, path: str, token: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as res:
        return json.load(res)


def _seed(server: ServerThread, least: int = PAGE_SIZE + 3) -> None:
    """Tops the demo grid's cases up to ``least`` (the demo's own cases usually suffice)."""
    member, leader = _token(server, "grid-member"), _token(server, "grid-leader")
    req = urllib.request.Request(server.url + f"/api/v1/cases/summary?subtree={DEMO_GRID}",
                                 headers={"Authorization": f"Bearer {leader}"})
    with urllib.request.urlopen(req) as res:
        have = sum(json.load(res)["by_status"].values())
    for i in range(max(0, least - have)):
        case = _post(server, "/api/v1/cases", member, {
            "client_uuid": str(uuid.uuid4()), "category_code": SEED_CATEGORIES[i % 11],
            "title": f"{SEED_TITLES[i % 11]}（{i + 1}）", "description": "网格员巡查发现。",
            "grid_code": DEMO_GRID})
        if i % 3 == 1:
            _post(server, f"/api/v1/cases/{case['id']}/actions/accept", leader,
                  {"version": case["version"]})
        elif i % 7 == 2:
            _post(server, f"/api/v1/cases/{case['id']}/actions/void", leader,
                  {"version": case["version"], "reason": "重复上报"})


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot; sticky bars are pinned to their place first, or the capture
    would show them in the middle of the page."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.add_style_tag(content=".topbar, .submit-bar { position: static !important; }")
    page.screenshot(path=str(ARTIFACTS / f"cases-{name}.png"), full_page=True)


def _watch(page: Any, server: ServerThread, errors: list[str], foreign: list[str]) -> None:
    """Collects script errors and every request that is not to the test server."""
    def request(req: Any) -> None:
        url = req.url.removeprefix("blob:")
        if not (url.startswith(server.url + "/") or url.startswith("data:")):
            foreign.append(req.url)

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", request)


def _log_in(page: Any, server: ServerThread, username: str, next_url: str) -> None:
    page.goto(f"{server.url}{next_url}")
    assert "/login?next=" in page.url
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator('[data-testid="login-submit"]').click()
    assert page.url == f"{server.url}{next_url}"


def _token(server: ServerThread, username: str) -> str:
    form = f"username={username}&password={DEMO_PASSWORD}".encode()
    with urllib.request.urlopen(urllib.request.Request(
            server.url + "/api/v1/auth/token", data=form)) as res:
        return str(json.load(res)["access_token"])


def _api(server: ServerThread, path: str, username: str) -> Any:
    req = urllib.request.Request(server.url + path,
                                 headers={"Authorization": f"Bearer {_token(server, username)}"})
    with urllib.request.urlopen(req) as res:
        return json.load(res)


def _status(page: Any) -> str:
    return str(page.locator('[data-testid="case-status"]').inner_text()).strip()


def _act(page: Any, action: str, fill: dict[str, str] | None = None) -> None:
    """Opens an action's form, fills it, confirms, and waits for the page to reload."""
    panel = page.locator(f'[data-testid="action-{action}"]')
    panel.locator("> summary").click()
    for selector, value in (fill or {}).items():
        panel.locator(selector).select_option(value)
    with page.expect_navigation():
        panel.locator(f'[data-testid="confirm-{action}"]').click()


def test_report_queue_accept_dispatch(case_server: ServerThread, browser: Any,
                                      tmp_path: Path) -> None:
    server = case_server
    errors: list[str] = []
    foreign: list[str] = []
    grid = _api(server, f"/api/v1/regions/{DEMO_GRID}/geometry?include_self=true",
                "grid-member")["features"][0]["properties"]
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True,
                                permissions=["geolocation"],
                                geolocation={"longitude": grid["centre"][0],
                                             "latitude": grid["centre"][1]})
    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        member, leader = phone.new_page(), desk.new_page()
        _watch(member, server, errors, foreign)
        _watch(leader, server, errors, foreign)

        # The grid leader watches the queue; the page must never reload for new cases.
        _log_in(leader, server, "grid-leader", "/cases")
        leader.wait_for_selector('#live-status[data-state="on"]')
        leader.evaluate("window.__sameQueuePage = true")
        before = leader.locator('[data-testid="case-item"]').count()
        counts = leader.locator('[data-testid="case-counts"]')
        total = int(counts.locator('[data-count="total"]').inner_text())
        reported = int(counts.locator('[data-count="reported"]').inner_text())

        # The grid member opens the report page from the navigation.
        _log_in(member, server, "grid-member", "/tasks")
        with member.expect_navigation():
            member.locator('[data-testid="mainnav"] [data-nav="report"]').click()
        assert member.url.endswith("/cases/new")
        member.wait_for_selector('#report-map[data-ready="1"]')

        # Submitting an empty form marks the required fields, next to each of them.
        member.locator('[data-testid="report-submit"]').click()
        for name in ("category_code", "title", "description", "location"):
            block = member.locator(f'[data-field="{name}"]')
            assert block.locator(".field-error").count() == 1, name
        assert member.locator("#report-error").is_visible()

        # Category: disputes, then the neighbours' subcategory; its schema adds fields.
        member.locator("label.chip", has=member.locator('[data-testid="category-01"]')).click()
        member.locator("label.chip", has=member.locator('[data-testid="category-0102"]')).click()
        member.locator("#more-fields > summary").click()
        member.locator('[name="fields.people_count"]').fill("30")
        member.locator('[name="fields.scale"]').select_option(label="较大")
        member.fill('[data-testid="report-subject"]', "厂门口家属与工人对峙")
        member.fill('[data-testid="report-description"]',
                    "20多名家属持铁锹、木棍与10多名工人在厂门口对峙，因工伤赔偿引发。")

        # A photo, uploaded as soon as it is chosen.
        member.locator('[data-testid="photo-input"]').set_input_files(str(_png(tmp_path / "a.png")))
        member.wait_for_selector("#photo-list li.is-done")

        # The phone's position first, then a pin tapped on the map inside the grid.
        member.locator('[data-testid="use-location"]').click()
        status = member.locator('[data-testid="location-status"]')
        status.filter(has_text=grid["name"]).wait_for()
        point = member.evaluate(POINT_IN_AREA, DEMO_GRID)
        assert point is not None, "the grid is not on the map"
        member.mouse.click(*point)
        member.wait_for_function("document.getElementById('location-status').textContent"
                                 f".includes('{grid['name']}')")
        assert member.locator(".leaflet-marker-icon").count() == 1
        assert member.locator('[data-testid="grid-select"]').input_value() == DEMO_GRID
        # Evidence is asked for only when the case was handled on the spot.
        assert member.locator("#evidence-field").is_hidden()
        member.locator('[data-testid="self-handled"]').check()
        assert member.locator("#evidence-field").is_visible()
        member.locator('[data-testid="self-handled"]').uncheck()
        _shot(member, "1-report-phone")
        width = member.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the report page scrolls sideways at 360 px"

        with member.expect_navigation():
            member.locator('[data-testid="report-submit"]').click()
        case_id = int(member.url.split("/cases/")[1].split("?")[0])
        number = member.locator('[data-testid="case-number"]').inner_text()
        assert number in member.locator('[data-testid="reported-ok"]').inner_text()
        assert _status(member) == "已上报"
        assert member.locator('[data-testid="case-photos"] img').count() == 1
        assert member.locator('[data-testid="no-actions"]').is_visible()
        member.wait_for_selector('#case-map[data-ready="1"]')
        _shot(member, "2-detail-phone")

        # The leader's queue shows it on top without a reload, marked new, counts updated.
        row = leader.locator(f'[data-testid="case-item"][data-id="{case_id}"]')
        row.wait_for(timeout=10_000)
        assert leader.evaluate("window.__sameQueuePage") is True
        items = leader.locator('[data-testid="case-item"]')
        assert items.first.get_attribute("data-id") == str(case_id)
        assert items.count() == before == PAGE_SIZE  # one page
        assert "is-new" in (row.get_attribute("class") or "")
        assert number in row.inner_text() and "厂门口家属与工人对峙" in row.inner_text()
        counts = leader.locator('[data-testid="case-counts"]')
        assert counts.locator('[data-count="total"]').inner_text() == str(total + 1)
        assert counts.locator('[data-count="reported"]').inner_text() == str(reported + 1)
        _shot(leader, "3-queue-desktop")

        # "More" pages on (keyset) to the oldest case, without repeats.
        leader.locator('[data-testid="cases-more"]').click()
        shown = min(total + 1, 2 * PAGE_SIZE)
        leader.wait_for_function("document.querySelectorAll('[data-testid=case-item]').length"
                                 f" === {shown}")
        ids = items.evaluate_all("els => els.map(e => Number(e.dataset.id))")
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == shown
        assert leader.locator('[data-testid="cases-more"]').count() == (shown < total + 1)

        # The leader accepts, then dispatches to the grid team, from the case's page.
        with leader.expect_navigation():
            row.locator("a").click()
        assert _status(leader) == "已上报"
        _act(leader, "accept")
        assert _status(leader) == "已立案"
        member.locator('[data-testid="case-status"]', has_text="已立案").wait_for()
        _act(leader, "dispatch", {'[data-testid="handler-select"]': f"region:{DEMO_GRID}"})
        assert _status(leader) == "已派遣"
        assert grid["name"] in leader.locator('[data-testid="case-handler"]').inner_text()
        timeline = leader.locator('[data-testid="timeline"] .tl-item').all_inner_texts()
        assert [t.split()[0] for t in timeline] == ["上报", "立案", "派遣"]

        # The member's page followed both steps by itself and now offers "start".
        member.locator('[data-testid="case-status"]', has_text="已派遣").wait_for()
        assert member.locator('[data-testid="action-start"]').is_visible()

        # While the leader is typing a second dispatch, the member starts work: the leader's
        # page says the case changed instead of reloading, and the stale dispatch is refused
        # with the reason, then the page reloads to the case as it is.
        panel = leader.locator('[data-testid="action-dispatch"]')
        panel.locator("> summary").click()
        panel.locator('[data-testid="handler-select"]').select_option(f"region:{DEMO_GRID}")
        panel.locator('textarea[name="note"]').fill("改派")
        _act(member, "start")
        assert _status(member) == "处置中"
        leader.locator("#changed-banner").wait_for(state="visible")
        with leader.expect_navigation():
            panel.locator('[data-testid="confirm-dispatch"]').click()
            error = panel.locator(".form-error")
            error.wait_for(state="visible")
            assert "正在刷新" in error.inner_text()
        assert _status(leader) == "处置中"
        leader.wait_for_selector('#case-map[data-ready="1"]')
        _shot(leader, "4-detail-desktop")

        # The member's feedback form: note, photos, the category's fields (filled in so far).
        member.locator('[data-testid="action-report_handled"] > summary').click()
        form = member.locator('[data-testid="action-report_handled"] form')
        form.locator("details.more-fields > summary").click()
        assert form.locator('[name="fields.people_count"]').input_value() == "30"
        _shot(member, "5-feedback-form-phone")

        # The case is among the member's tasks, with what is left to do.
        with member.expect_navigation():
            member.locator('[data-testid="mainnav"] [data-nav="tasks"]').click()
        task = member.locator(f'[data-testid="case-item"][data-id="{case_id}"]')
        assert "处置反馈" in task.inner_text() and "开始处置" not in task.inner_text()
        _shot(member, "6-tasks-phone")
        member.goto(server.url + "/cases")
        member.locator(f'[data-testid="case-item"][data-id="{case_id}"]').wait_for()
        _shot(member, "7-queue-phone")
        assert member.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # The report page on a desktop, in English.
        leader.goto(server.url + "/cases/new?lang=en")
        leader.wait_for_selector('#report-map[data-ready="1"]')
        assert leader.locator('[data-testid="report-title"]').inner_text() == "Report a case"
        _shot(leader, "8-report-desktop-en")

        assert errors == []
        assert foreign == [], "pages must not load anything from other hosts"
    finally:
        phone.close()
        desk.close()
