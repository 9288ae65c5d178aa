"""Drills down the region browser in Debian's Chromium, wide and at 360 px, with screenshots."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from tests.e2e.support import ARTIFACTS, ServerThread
from tests.factories import CITY_USER, PASSWORD

pytestmark = [
    pytest.mark.e2e,
    # The browser tests need one database only: pin the shared fixture to its SQLite variant.
    pytest.mark.parametrize("xinxiang", ["sqlite"], indirect=True),
]

VIEWPORTS = {"wide": {"width": 1280, "height": 860}, "phone": {"width": 360, "height": 740}}

# Finds a point inside a child's polygon that is really on top (not covered by a neighbour).
POINT_INSIDE = """(code) => {
  const el = document.querySelector('path.region-child.code-' + code);
  if (!el) return null;
  const box = el.getBoundingClientRect();
  for (let n = 2; n <= 16; n *= 2) {
    for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
      const x = box.left + box.width * i / n, y = box.top + box.height * j / n;
      if (document.elementFromPoint(x, y) === el) return [x, y];
    }
  }
  return null;
}"""


def _api(server: ServerThread, path: str, token: str) -> Any:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as res:
        return json.load(res)


def _log_in(page: Any, server: ServerThread) -> None:
    """Opens the site, is sent to the log-in page, and logs in as the city user."""
    page.goto(server.url + "/")
    assert "/login?next=" in page.url
    assert page.locator('[data-testid="login"]').is_visible()
    page.fill("#username", CITY_USER)
    page.fill("#password", "wrong-password")
    with page.expect_navigation():
        page.locator('[data-testid="login-submit"]').click()
    assert page.locator('[data-testid="login-error"]').inner_text() == "用户名或密码错误"
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator('[data-testid="login-submit"]').click()
    assert page.locator('[data-testid="user-name"]').inner_text() == CITY_USER


def _crumbs(page: Any) -> list[str]:
    return [t.strip() for t in page.locator('[data-testid="breadcrumbs"] li').all_inner_texts()]


def _wait_for_map(page: Any) -> int:
    """Waits until the map has drawn; returns how many child shapes it drew."""
    page.wait_for_selector('#map[data-ready="1"]', state="attached", timeout=15_000)
    return page.locator(".leaflet-overlay-pane path.region-child").count()


def _click_on_map(page: Any, code: str) -> None:
    page.locator("#map").scroll_into_view_if_needed()
    point = page.evaluate(POINT_INSIDE, code)
    assert point is not None, f"no visible point of {code} on the map"
    page.mouse.move(*point)
    tip = page.locator(".leaflet-tooltip")
    tip.wait_for(state="visible")
    assert tip.inner_text().strip()
    with page.expect_navigation():
        page.mouse.click(*point)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_drill_down_from_city_to_grid(live_server: ServerThread, browser: Any,
                                      viewport: str, city_token: str) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: None if req.url.startswith(live_server.url)
            else foreign.append(req.url))
    try:
        # Log in first (pages redirect there), then the city: one path per child on the map,
        # and the 15 county-level units in the list.
        _log_in(page, live_server)
        assert page.url.endswith("/regions/4107")
        children = _api(live_server, "/api/v1/regions/4107/children", city_token)
        shapes = _api(live_server, "/api/v1/regions/4107/geometry", city_token)["features"]
        drawn = _wait_for_map(page)
        assert drawn == len(shapes)
        if shapes:  # geometry generated: every child is on the map
            assert drawn == len(children) == 15
        assert page.locator('[data-testid="children"] tbody tr').count() == 15
        assert page.locator('[data-testid="region-title"]').inner_text().startswith("新乡市")
        _shot(page, f"{viewport}-1-city")

        # County, then township: by the map when it has shapes, else by the list.
        for step, code, crumbs in (("2-county", "410702", ["河南省", "新乡市"]),
                                   ("3-township", "410702001", ["河南省", "新乡市", "红旗区"])):
            if shapes:
                _click_on_map(page, code)
            else:
                with page.expect_navigation():
                    page.locator(f'tr[data-code="{code}"] a').click()
            assert page.url.endswith(f"/regions/{code}")
            name = _api(live_server, f"/api/v1/regions/{code}", city_token)["name"]
            assert _crumbs(page) == [*crumbs, name]
            shapes = _api(live_server, f"/api/v1/regions/{code}/geometry", city_token)["features"]
            assert _wait_for_map(page) == len(shapes)
            _shot(page, f"{viewport}-{step}")

        # Village and grid from the list.
        for step in ("4-village", "5-grid"):
            with page.expect_navigation():
                page.locator('[data-testid="children"] tbody tr a').first.click()
            _wait_for_map(page)
            _shot(page, f"{viewport}-{step}")
        grid = page.url.rsplit("/", 1)[1]
        assert len(grid) == 15
        crumbs = _crumbs(page)
        assert crumbs[:3] == ["河南省", "新乡市", "红旗区"] and len(crumbs) == 6
        assert page.locator('[data-testid="region-level"]').inner_text() == "网格"

        # The grid's "3+N" team, grouped by role in order.
        staff = _api(live_server, f"/api/v1/regions/{grid}/staff", city_token)
        team = page.locator('[data-testid="team"]')
        roles = team.locator("[data-role]").evaluate_all("els => els.map(e => e.dataset.role)")
        assert set(roles) == {p["role"] for p in staff}
        if staff:
            assert roles[0] == "grid_leader" and "网格长" in team.inner_text()
            for p in staff:
                assert p["person_name"] in team.inner_text()

        # Switch to English and back.
        page.locator('[data-testid="lang-switch"]').click()
        page.wait_for_load_state()
        assert page.locator('[data-testid="region-level"]').inner_text() == "Grid"
        if staff:
            assert "Grid leader" in team.inner_text()
        _wait_for_map(page)
        _shot(page, f"{viewport}-6-grid-en")
        page.goto(live_server.url + "/regions/4107")
        assert page.locator('[data-testid="region-level"]').inner_text() == "City"
        _wait_for_map(page)
        _shot(page, f"{viewport}-7-city-en")
        page.locator('[data-testid="lang-switch"]').click()
        page.wait_for_load_state()
        assert page.locator('[data-testid="region-level"]').inner_text() == "市"

        # An unknown code is a page, not JSON.
        res = page.goto(live_server.url + "/regions/999999")
        assert res is not None and res.status == 404
        assert page.locator('[data-testid="not-found"]').is_visible()
        _shot(page, f"{viewport}-8-not-found")

        # Log out: back to the log-in page, and pages need a log-in again.
        with page.expect_navigation():
            page.locator('[data-testid="logout"]').click()
        assert "/login" in page.url
        page.goto(live_server.url + "/regions/4107")
        assert "/login?next=%2Fregions%2F4107" in page.url

        assert errors == []
        assert foreign == [], "pages must not load anything from other hosts"
    finally:
        context.close()
