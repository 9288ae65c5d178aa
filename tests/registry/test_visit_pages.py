"""The grid worker's rounds page (``/my/visits``) and a key place's page
(``/registry/places/{id}``), without a browser: a grid member sees the grid's active plans with
what is due (never visited marked) and a patrol's count, users without a grid post get a clear
empty state; a place shows its Chinese category, the responsible person's phone masked for a
grid member and in clear for the grid leader (that view logged once), its inspections and
history, English on request, and the not-found page outside the scope."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.cases.support import GRID, SIBLING_GRID, SIBLING_LEADER, World, open_world

from wangge.registry.idnumber import make

PHONE = "13812345678"
MASKED_PHONE = "138****5678"


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("visit-pages"))) as w:
        yield w


def _post(world: World, user: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = world.client.post(path, json=body, headers=world.auth(user))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture(scope="module")
def setup(world: World) -> dict[str, Any]:
    """Plans over the demo grid (special groups, patrol), a tagged resident, two places (one
    in the sibling grid)."""
    groups = _post(world, "county", "/api/v1/visit-plans", {
        "region_code": GRID, "name": "特殊人群月度走访", "kind": "special_groups"})
    patrol = _post(world, "county", "/api/v1/visit-plans", {
        "region_code": GRID, "name": "网格日常巡查", "kind": "patrol", "interval_days": 7,
        "quota": 2})
    person = _post(world, "grid-member", "/api/v1/residents", {
        "grid_code": GRID, "name": "吴矫正", "population_type": "registered",
        "id_number": make("410702", date(1988, 6, 6), 611)})
    _post(world, "grid-member", f"/api/v1/residents/{person['id']}/tags",
          {"category": "community_correction", "level": "high"})
    place = _post(world, "grid-member", "/api/v1/places", {
        "grid_code": GRID, "category": "hotel", "name": "平安旅馆", "address": "幸福路8号",
        "responsible_name": "郑经理", "responsible_phone": PHONE})
    other = _post(world, SIBLING_LEADER, "/api/v1/places", {
        "grid_code": SIBLING_GRID, "category": "internet_cafe", "name": "邻格网吧"})
    return {"groups": groups, "patrol": patrol, "person": person, "place": place,
            "other": other}


def _html(world: World, user: str, path: str, status: int = 200, **params: Any) -> str:
    # The client keeps the language cookie an English test set: ask for Chinese explicitly.
    r = world.get(user, path, **{"lang": "zh", **params})
    assert r.status_code == status, r.text[:500]
    return r.text


def _views(world: World, place_id: int) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in world.sql(
        "SELECT actor, route FROM pii_access_log WHERE entity_type = 'place' "
        "AND entity_id = :i", i=place_id)]


class TestMyVisits:
    def test_a_grid_member_sees_the_plans_and_what_is_due(
            self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-member", "/my/visits")
        assert 'data-nav="my-visits" aria-current="page"' in html
        assert "特殊人群月度走访" in html and "网格日常巡查" in html
        item = html.split('data-testid="vis-item"', 1)[1].split("</li>", 1)[0]
        assert f'data-resident="{setup["person"]["id"]}"' in item
        assert "吴矫正" in item and "社区矫正人员" in item and "从未走访" in item
        assert "本期已走访 0 次，目标 2 次" in html
        assert 'data-testid="col-add"' in html and 'id="vis-config"' in html
        # The collection form's reasons come in the page's language.
        config = json.loads(html.split('id="vis-config" type="application/json">', 1)[1]
                            .split("</script>", 1)[0])
        assert ["bad check character", "校验码错误（应为 {expected}）"] in config["reasons"]
        assert config["posts"] == {GRID: [f"grid_member@{GRID}"]}

    def test_a_visit_counts_for_the_patrol_and_leaves_the_list(
            self, world: World, setup: dict[str, Any]) -> None:
        person = setup["person"]
        r = world.client.post("/api/v1/visits", headers=world.auth("grid-leader"), json={
            "client_uuid": str(uuid.uuid4()), "resident_id": person["id"],
            "notes": "情况稳定"})
        assert r.status_code == 201, r.text
        html = _html(world, "grid-leader", "/my/visits")
        assert f'data-resident="{person["id"]}"' not in html
        assert "本期已走访 1 次，目标 2 次" in html
        # The grid member's own count is theirs alone.
        assert "本期已走访 0 次，目标 2 次" in _html(world, "grid-member", "/my/visits")

    def test_english(self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-member", "/my/visits", lang="en")
        assert ">My visits<" in html and "Information collection" in html
        assert "0 of 2 visits this period" in html

    @pytest.mark.parametrize("user", ["county", "grid-support"])
    def test_without_a_grid_post_that_writes_a_clear_empty_state(
            self, world: World, setup: dict[str, Any], user: str) -> None:
        html = _html(world, user, "/my/visits")
        assert 'data-testid="vis-no-grid"' in html and "您没有网格岗位" in html
        assert 'data-testid="vis-plan"' not in html and "visits.js" not in html
        assert 'data-nav="my-visits"' not in html


class TestPlacePage:
    def test_a_grid_member_sees_the_phone_masked_and_nothing_is_logged(
            self, world: World, setup: dict[str, Any]) -> None:
        pid = setup["place"]["id"]
        html = _html(world, "grid-member", f"/registry/places/{pid}")
        assert "平安旅馆" in html and "旅馆" in html and "幸福路8号" in html
        assert "郑经理" in html and MASKED_PHONE in html and PHONE not in html
        assert "本次查看已记录" not in html and "号码已脱敏显示" in html
        assert "每 30 天巡查" in html
        history = html.split('data-testid="reg-history"', 1)[1]
        assert "登记" in history and "场所类别" in history and "grid-member" in history
        assert _views(world, pid) == []

    def test_the_grid_leader_sees_it_in_clear_and_the_view_is_logged_once(
            self, world: World, setup: dict[str, Any]) -> None:
        pid = setup["place"]["id"]
        html = _html(world, "grid-leader", f"/registry/places/{pid}")
        assert 'data-testid="reg-logged"' in html and "本次查看已记录" in html
        shown = html.split('data-testid="reg-place-phone">', 1)[1].split("<", 1)[0]
        assert shown == PHONE
        assert _views(world, pid) == [("grid-leader", f"/registry/places/{pid}")]

    def test_inspections_and_overdue(self, world: World, setup: dict[str, Any]) -> None:
        pid = setup["other"]["id"]
        html = _html(world, SIBLING_LEADER, f"/registry/places/{pid}")
        assert "从未巡查" in html and "暂无巡查记录" in html
        r = world.client.post("/api/v1/visits", headers=world.auth(SIBLING_LEADER), json={
            "client_uuid": str(uuid.uuid4()), "place_id": pid, "notes": "消防通道堵塞",
            "issues": ["fire_safety", "门口堆放杂物"]})
        assert r.status_code == 201, r.text
        html = _html(world, SIBLING_LEADER, f"/registry/places/{pid}")
        inspection = html.split('data-testid="reg-inspection"', 1)[1].split("</li>", 1)[0]
        assert "消防通道堵塞" in inspection and "消防隐患" in inspection
        assert "门口堆放杂物" in inspection and SIBLING_LEADER in inspection
        assert "巡查正常" in html and "从未巡查" not in html

    def test_the_places_tab_links_to_it(self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/{GRID}", tab="places")
        assert f'href="/registry/places/{setup["place"]["id"]}"' in html

    def test_english(self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/places/{setup['place']['id']}",
                     lang="en")
        assert "Hotel" in html and ">Inspections<" in html and "Person responsible" in html
        assert "Every 30 days" in html or "30" in html

    def test_outside_the_scope_is_the_not_found_page(
            self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-member", f"/registry/places/{setup['other']['id']}",
                     status=404)
        assert 'data-testid="not-found"' in html and "邻格网吧" not in html
        for bad in ("abc", "0", str(10**12)):
            _html(world, "grid-member", f"/registry/places/{bad}", status=404)
        assert _views(world, setup["other"]["id"]) == []
