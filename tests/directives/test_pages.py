"""The directive pages, server-rendered: the command centre of each level (scoped, 404 outside),
its live fragment, the directive list, the issue form (issuers only) and the unit's own
directives, in Chinese and English. The demo's directives are only read."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.factories import page_login

from wangge.app import create_app
from wangge.config import Settings
from wangge.demo import DEMO_GRID, DEMO_PASSWORD
from wangge.directives.pages import field_kind, rate_pct
from wangge.web.i18n import CATALOGUE

COUNTY = DEMO_GRID[:6]
FOREIGN = re.compile(r'(src|href|action)="(https?:)?//')


@pytest.fixture
def app_client(xinxiang: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=xinxiang))) as client:
        yield client


def _as(client: TestClient, username: str, next_url: str = "/") -> TestClient:
    res = page_login(client, username, DEMO_PASSWORD, next_url)
    assert res.status_code == 303, res.text
    return client


def _directive_id(client: TestClient) -> int:
    items = client.get("/api/v1/directives?limit=5").json()["items"]
    assert items, "the demo issues directives"
    return int(items[0]["id"])


class TestCommandCentre:
    def test_own_region_and_drill_down(self, app_client: TestClient) -> None:
        client = _as(app_client, "county")
        res = client.get("/command", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == f"/command/{COUNTY}"
        page = client.get(f"/command/{COUNTY}")
        assert page.status_code == 200
        assert "红旗区 指挥中心" in page.text
        assert 'aria-current="page">指挥中心' in page.text
        # Its townships are the units; no other county is named or linked.
        assert f'href="/command/{DEMO_GRID[:9]}"' in page.text
        assert "/command/410703" not in page.text and not FOREIGN.search(page.text)

    def test_outside_scope_is_404(self, app_client: TestClient) -> None:
        client = _as(app_client, "county")
        for code in ("410703", "4107", "41", "abc"):
            res = client.get(f"/command/{code}")
            assert res.status_code == 404, code
            assert 'data-testid="not-found"' in res.text

    def test_directive_view_and_fragment(self, app_client: TestClient) -> None:
        client = _as(app_client, "admin")
        did = _directive_id(client)
        page = client.get(f"/command/4107?directive={did}")
        assert page.status_code == 200
        assert 'data-testid="cmd-directive"' in page.text
        assert f'value="{did}" selected' in page.text
        for count in ("total", "delivered", "acknowledged", "completed", "overdue", "rate"):
            assert f'data-count="{count}"' in page.text
        fragment = client.get(f"/command/4107/panel?directive={did}")
        assert fragment.status_code == 200 and "<html" not in fragment.text
        for part in ("cmd-counters", "cmd-units", "cmd-overdue", "cmd-emergencies"):
            assert f'id="{part}"' in fragment.text
        # An unknown directive falls back to cases, saying so.
        missing = client.get("/command/4107?directive=999999")
        assert 'data-testid="directive-missing"' in missing.text
        assert 'data-count="open_cases"' in missing.text

    def test_english(self, app_client: TestClient) -> None:
        client = _as(app_client, "admin")
        page = client.get("/command/4107?lang=en")
        assert "新乡市 command centre" in page.text and "Live feed" in page.text


class TestIssueForm:
    def test_commander_gets_the_tree(self, app_client: TestClient) -> None:
        client = _as(app_client, "county")
        page = client.get("/directives/new")
        assert page.status_code == 200
        assert f'data-testid="target-{COUNTY}"' in page.text
        assert 'data-testid="target-410703"' not in page.text
        assert 'data-testid="target-4107"' not in page.text

    def test_grid_worker_may_not_issue(self, app_client: TestClient) -> None:
        client = _as(app_client, "grid-member")
        assert client.get("/directives/new").status_code == 403
        assert 'data-nav="directives"' not in client.get("/my/directives").text


class TestMyDirectives:
    def test_the_units_assignments(self, app_client: TestClient) -> None:
        client = _as(app_client, "grid-member")
        page = client.get("/my/directives")
        assert page.status_code == 200
        assert 'data-testid="my-item"' in page.text
        assert 'aria-current="page">我的指令' in page.text
        fragment = client.get("/my/directives/list")
        assert fragment.status_code == 200 and 'id="my-list"' in fragment.text

    def test_list_page(self, app_client: TestClient) -> None:
        client = _as(app_client, "admin")
        page = client.get("/directives")
        assert page.status_code == 200 and 'data-testid="dir-item"' in page.text
        did = _directive_id(client)
        res = client.get(f"/directives/{did}", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"].endswith(f"?directive={did}")


def test_helpers() -> None:
    assert rate_pct(0.996) == 99 and rate_pct(1.0) == 100 and rate_pct(0.07) == 7
    assert field_kind({"type": "array", "x-widget": "photo"}) == "photo"
    assert field_kind({"type": "boolean"}) == "boolean"
    assert field_kind({"type": "string", "maxLength": 2000}) == "long"
    assert field_kind({"type": "string"}) == "text"
    assert set(CATALOGUE["zh"]) == set(CATALOGUE["en"])
