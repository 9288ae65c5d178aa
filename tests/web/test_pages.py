from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from wangge.web.i18n import (
    CATALOGUE,
    COOKIE,
    COUNT_LABELS,
    KIND_LABELS,
    LEVEL_LABELS,
    ROLE_LABELS,
    SERVICE_LABELS,
)


@pytest.fixture
def client(city_client: TestClient) -> TestClient:
    """Logged in as a city-level user (admin + commander at 4107)."""
    return city_client


def _rows(html: str) -> list[str]:
    """Codes of the children table's rows, in order."""
    return re.findall(r'<tr data-code="(\d+)">', html)


def _breadcrumbs(html: str) -> list[str]:
    block = html.split('data-testid="breadcrumbs">', 1)[1].split("</ol>", 1)[0]
    return [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li[^>]*>(.*?)</li>", block,
                                                                   re.S)]


def _first_grid(client: TestClient) -> str | None:
    """Walks down the first child at each level to a grid (None when grids are not generated)."""
    code = "4107"
    for _ in range(4):
        children = client.get(f"/api/v1/regions/{code}/children").json()
        if not children:
            return None
        code = children[0]["code"]
    return code


class TestHome:
    def test_redirects_to_the_city(self, client: TestClient) -> None:
        res = client.get("/", follow_redirects=False)
        assert res.status_code == 303
        assert res.headers["location"] == "/regions/4107"


class TestCityPage:
    def test_lists_the_15_county_units_with_their_counts(self, client: TestClient) -> None:
        res = client.get("/regions/4107")
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
        html = res.text
        api = client.get("/api/v1/regions/4107/children").json()
        assert _rows(html) == [c["code"] for c in api] and len(api) == 15
        # Each row shows the name (linked) and the township/village/grid/staff counts beneath it.
        for child in api:
            row = html.split(f'<tr data-code="{child["code"]}">', 1)[1].split("</tr>", 1)[0]
            assert f'href="/regions/{child["code"]}">{child["name"]}</a>' in row
            numbers = [int(n.replace(",", "")) for n in re.findall(r'class="num">([\d,]+)<', row)]
            c = child["counts"]
            assert numbers == [c["township"], c["village"], c["grid"], c["staff"]]

    def test_shows_counts_beneath_the_city(self, client: TestClient) -> None:
        html = client.get("/regions/4107").text
        stats = dict(re.findall(r'data-level="(\w+)">\s*<dt>[^<]*</dt><dd>([\d,]+)</dd>', html))
        assert stats["county"] == "15" and stats["township"] == "170"
        assert stats["village"] == "3,825"
        counts = client.get("/api/v1/regions/4107").json()["counts"]
        assert stats["grid"] == f"{counts['grid']:,}" and stats["staff"] == f"{counts['staff']:,}"

    def test_map_is_wired_to_the_geometry_api_without_a_cdn(self, client: TestClient) -> None:
        html = client.get("/regions/4107").text
        assert "/api/v1/regions/4107/geometry?include_self=true" in html
        assert "/static/vendor/leaflet/leaflet.js" in html
        assert not re.search(r'(src|href)="(https?:)?//', html)
        assert client.get("/static/js/region-map.js").status_code == 200
        assert client.get("/static/css/wangge.css").status_code == 200

    def test_the_filter_fragment_narrows_the_rows(self, client: TestClient) -> None:
        html = client.get("/regions/4107/rows", params={"q": "红旗"}).text
        assert _rows(html) == ["410702"]
        assert _rows(client.get("/regions/4107/rows", params={"q": "4107"}).text).__len__() == 15


class TestVillagePage:
    def test_breadcrumbs_lead_from_the_province_to_the_village(self, client: TestClient) -> None:
        html = client.get("/regions/410702001016").text
        assert _breadcrumbs(html) == [
            "河南省", "新乡市", "红旗区", "西街街道", "曙光社区居民委员会"]
        for code in ("41", "4107", "410702", "410702001"):
            assert f'href="/regions/{code}"' in html
        assert 'data-testid="region-level">村(社区)<' in html


class TestGridPage:
    def test_lists_the_team_by_role(self, client: TestClient) -> None:
        grid = _first_grid(client)
        assert grid is not None and len(grid) == 15
        staff = client.get(f"/api/v1/regions/{grid}/staff").json()
        html = client.get(f"/regions/{grid}").text
        assert 'data-testid="team"' in html
        roles_in_page = re.findall(r'data-role="(\w+)"', html)
        expected = [r for r in ("grid_leader", "deputy_grid_leader", "grid_member", "grid_support")
                    if any(p["role"] == r for p in staff)]
        assert roles_in_page[: len(expected)] == expected
        if staff:  # the staff generator has run: every post is shown under its role label
            assert roles_in_page[0] == "grid_leader"
            for p in staff:
                assert p["person_name"] in html
            assert "<h3>网格长 " in html and "<h3>副网格长 " in html and "<h3>网格员 " in html
        else:
            assert CATALOGUE["zh"]["team_empty"] in html


class TestNotFound:
    def test_unknown_code_is_an_html_404(self, client: TestClient) -> None:
        res = client.get("/regions/999999")
        assert res.status_code == 404
        assert res.headers["content-type"].startswith("text/html")
        assert "找不到该区划" in res.text and "999999" in res.text

    def test_in_english_too(self, client: TestClient) -> None:
        res = client.get("/regions/abc?lang=en")
        assert res.status_code == 404 and "Region not found" in res.text


class TestLanguage:
    def test_chinese_by_default(self, client: TestClient) -> None:
        html = client.get("/regions/4107").text
        assert '<html lang="zh-CN">' in html and "下级区划" in html
        assert 'data-testid="region-level">市<' in html

    def test_english_switch_changes_labels_and_sticks(self, client: TestClient) -> None:
        res = client.get("/regions/4107?lang=en")
        assert res.cookies.get(COOKIE) == "en"
        html = res.text
        assert '<html lang="en">' in html
        assert "Subdivisions" in html and "下级区划" not in html
        assert 'data-testid="region-level">City<' in html
        assert ">Townships</th>" in html and ">Villages</th>" in html
        # The cookie keeps English on the next page; ?lang=zh switches back.
        assert "Subdivisions" in client.get("/regions/410702").text
        back = client.get("/regions/410702?lang=zh")
        assert back.cookies.get(COOKIE) == "zh" and "下级区划" in back.text
        assert "下级区划" in client.get("/regions/4107").text

    def test_the_switch_link_points_at_the_other_language(self, client: TestClient) -> None:
        client.cookies.clear()
        html = client.get("/regions/4107").text
        assert 'href="/regions/4107?lang=en"' in html
        html = client.get("/regions/4107?lang=en").text
        assert 'href="/regions/4107?lang=zh"' in html

    def test_unknown_language_falls_back_to_chinese(self, client: TestClient) -> None:
        client.cookies.clear()
        res = client.get("/regions/4107?lang=fr")
        assert res.status_code == 200 and "下级区划" in res.text and COOKIE not in res.cookies


class TestCatalogue:
    @pytest.mark.parametrize("table", [CATALOGUE, LEVEL_LABELS, COUNT_LABELS, KIND_LABELS,
                                       ROLE_LABELS, SERVICE_LABELS])
    def test_every_language_has_every_key(self, table: dict[str, dict[str, str]]) -> None:
        assert set(table["zh"]) == set(table["en"])

    def test_level_and_role_labels(self) -> None:
        assert [LEVEL_LABELS["zh"][lv] for lv in ("city", "county", "township", "village", "grid")
                ] == ["市", "县(区)", "乡镇(街道)", "村(社区)", "网格"]
        assert ROLE_LABELS["zh"]["grid_leader"] == "网格长"
        assert ROLE_LABELS["en"]["deputy_grid_leader"] == "Deputy grid leader"
