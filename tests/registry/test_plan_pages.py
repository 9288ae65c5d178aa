"""The registry page's plans tab (``/registry/{code}?tab=plans``), without a browser: the county
commander sees every active plan that applies to the county with its progress there and per
township, numbers equal to what ``GET /api/v1/visit-plans/{id}/progress`` answers; a grid shows
the first items due with links to the person, the household's room and the place; the form and
the deactivate buttons only for registry:plan over the region; English; an empty state; another
county's commander gets the not-found page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cases.support import (
    COUNTY,
    GRID,
    SIBLING_GRID,
    SIBLING_LEADER,
    TOWNSHIP,
    World,
    open_world,
)
from tests.factories import bearer_token, create_account

from wangge.kit.db import utcnow
from wangge.registry.idnumber import make
from wangge.registry.pages import PLAN_DUE

OTHER_COUNTY = "410703"
OUTSIDER = "plan-outsider"


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("plan-pages"))) as w:
        create_account(w.url, OUTSIDER, posts=[f"commander@{OTHER_COUNTY}"],
                       person_name="外区指挥员")
        w.tokens[OUTSIDER] = bearer_token(w.client, OUTSIDER)
        yield w


def _post(world: World, user: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = world.client.post(path, json=body, headers=world.auth(user))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _api(world: World, user: str, path: str, **params: Any) -> Any:
    r = world.get(user, path, **params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def setup(world: World) -> dict[str, Any]:
    """Plans at the county (special groups, households), the township (places) and the grid
    (a patrol, by the grid leader); tagged residents in the grid and its sibling, one visited;
    a household in a room of a building; a hotel."""
    groups = _post(world, "county", "/api/v1/visit-plans", {
        "region_code": COUNTY, "name": "红旗区特殊人群走访", "kind": "special_groups",
        "categories": ["community_correction", "released_prisoner"]})
    households = _post(world, "county", "/api/v1/visit-plans", {
        "region_code": COUNTY, "name": "红旗区入户走访", "kind": "households",
        "interval_days": 90})
    places = _post(world, "township", "/api/v1/visit-plans", {
        "region_code": TOWNSHIP, "name": "乡镇场所巡查", "kind": "places"})
    patrol = _post(world, "grid-leader", "/api/v1/visit-plans", {
        "region_code": GRID, "name": "本网格每周巡查", "kind": "patrol", "interval_days": 7,
        "quota": 2})
    people = []
    for n, (user, grid) in enumerate([("grid-member", GRID), ("grid-member", GRID),
                                      (SIBLING_LEADER, SIBLING_GRID)]):
        person = _post(world, user, "/api/v1/residents", {
            "grid_code": grid, "name": f"计划{n}号", "population_type": "registered",
            "id_number": make("410702", date(1980, 1, 1 + n), 801 + n)})
        _post(world, user, f"/api/v1/residents/{person['id']}/tags",
              {"category": "community_correction", "level": "high"})
        people.append(person)
    # One visited just now: done for the special-groups plan.
    world.sql("UPDATE resident_tags SET last_visit_at = :n WHERE resident_id = :r",
              n=utcnow() - timedelta(hours=1), r=people[1]["id"])
    now = utcnow()
    building = world.sql(
        "INSERT INTO addresses (region_code, kind, label, text, normalised, synthetic, "
        "created_at) VALUES (:g, 'building', '8号楼', '计划小区8号楼', '计划小区8号楼', false, :n) "
        "RETURNING id", g=GRID, n=now)[0][0]
    room = world.sql(
        "INSERT INTO addresses (region_code, parent_id, kind, label, text, normalised, "
        "synthetic, created_at) VALUES (:g, :p, 'room', '102室', '计划小区8号楼102室', "
        "'计划小区8号楼102室', false, :n) RETURNING id", g=GRID, p=building, n=now)[0][0]
    household = world.sql(
        "INSERT INTO households (region_code, address_id, kind, head_name, synthetic, version, "
        "created_at, updated_at) VALUES (:g, :a, 'registered', '计划户主', false, 1, :n, :n) "
        "RETURNING id", g=GRID, a=room, n=now)[0][0]
    hotel = _post(world, "grid-member", "/api/v1/places", {
        "grid_code": GRID, "category": "hotel", "name": "计划旅馆"})
    return {"groups": groups, "households": households, "places": places, "patrol": patrol,
            "people": people, "building": building, "room": room, "household": household,
            "hotel": hotel}


def _html(world: World, user: str, code: str, status: int = 200, **params: Any) -> str:
    r = world.get(user, f"/registry/{code}", **{"tab": "plans", "lang": "zh", **params})
    assert r.status_code == status, r.text[:500]
    return r.text


def _cards(html: str) -> dict[int, str]:
    """Each plan's card, by plan id."""
    parts = html.split('<article class="plan-card')[1:]
    return {int(re.search(r'data-plan="(\d+)"', p)[1]): p.split("</article>", 1)[0]  # type: ignore[index]
            for p in parts}


def _numbers(fragment: str) -> tuple[int, int, float | None]:
    total = int(re.search(r'data-total="(\d+)"', fragment)[1])  # type: ignore[index]
    done = int(re.search(r'data-done="(\d+)"', fragment)[1])  # type: ignore[index]
    rate = re.search(r'data-rate="([\d.]*)"', fragment)[1]  # type: ignore[index]
    return total, done, float(rate) if rate else None


def _children(card: str) -> list[tuple[str, int, int, float | None]]:
    return [(code, *_numbers(row)) for code, row in re.findall(
        r'<li class="plan-child" data-code="(\d+)"([^>]*)>', card)]


class TestCountyPlans:
    def test_every_plan_that_applies_with_the_apis_progress(
            self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "county", COUNTY)
        assert 'data-tab="plans" aria-current="page"' in html and ">走访计划<" in html
        listed = _api(world, "county", "/api/v1/visit-plans", region=COUNTY, active="true")
        cards = _cards(html)
        assert sorted(cards) == sorted(p["id"] for p in listed["items"])
        assert {setup[k]["id"] for k in ("groups", "households", "places", "patrol")} <= set(cards)
        for plan in listed["items"]:
            card = cards[plan["id"]]
            progress = _api(world, "county", f"/api/v1/visit-plans/{plan['id']}/progress",
                            region=COUNTY)
            head = card.split(">", 1)[0]
            assert _numbers(head) == (progress["total"], progress["done"], progress["rate"])
            # Every child on the plan's way, worst first, with the API's numbers.
            expected = {c["region_code"]: (c["total"], c["done"], c["rate"])
                        for c in progress["children"]
                        if c["region_code"].startswith(plan["region_code"])
                        or plan["region_code"].startswith(c["region_code"])}
            shown = _children(card)
            # Nothing to do anywhere: no list of empty children.
            assert {s[0]: s[1:] for s in shown} == (expected if progress["total"] else {})
            rates = [s[3] for s in shown]
            known = [r for r in rates if r is not None]
            assert known == sorted(known) and rates[:len(known)] == known
            for code, *_ in shown:
                assert f'href="/registry/{code}?tab=plans"' in card
            assert plan["name"] in card

    def test_numbers_read_as_expected(self, world: World, setup: dict[str, Any]) -> None:
        card = _cards(_html(world, "county", COUNTY))[setup["groups"]["id"]]
        # Three community-correction tags in the county, one visited within its interval.
        assert _numbers(card.split(">", 1)[0]) == (3, 1, round(1 / 3, 4))
        assert "已完成 1 / 3 人次" in card and "特殊人群走访" in card
        assert "社区矫正人员、刑满释放人员" in card or "刑满释放人员、社区矫正人员" in card
        assert "指挥长 设于红旗区" in card
        patrol = _cards(_html(world, "county", COUNTY))[setup["patrol"]["id"]]
        assert re.search(r"本期 \d{4}-\d\d-\d\d 至 \d{4}-\d\d-\d\d", patrol)
        assert "每 7 天一期，每个岗位至少走访 2 次" in patrol
        # Only the township on the grid's way is listed for a plan set at the grid.
        assert [c[0] for c in _children(patrol)] == [TOWNSHIP]

    def test_the_commander_gets_the_form_and_stops_only_plans_set_here(
            self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "county", COUNTY)
        assert 'data-testid="plan-form"' in html and "新建走访计划" in html
        assert 'id="plan-config"' in html and "/static/js/plans.js" in html
        cards = _cards(html)
        for key in ("groups", "households"):
            assert 'data-testid="plan-stop"' in cards[setup[key]["id"]]
        for key in ("places", "patrol"):
            assert 'data-testid="plan-stop"' not in cards[setup[key]["id"]]
        # The reasons the script shows come in Chinese.
        config = json.loads(html.split('id="plan-config" type="application/json">', 1)[1]
                            .split("</script>", 1)[0])
        assert ["Input should be greater than or equal to", "不能小于 {n}"] in config["reasons"]
        assert config["region"] == COUNTY and "刑满释放人员" in html

    def test_english(self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "county", COUNTY, lang="en")
        assert ">Visit plans<" in html and "New visit plan" in html
        assert "1 of 3 tags done" in html and "走访计划" not in html.split("<main", 1)[1]

    def test_an_empty_state(self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "admin", OTHER_COUNTY)
        assert 'data-testid="plan-empty"' in html and "本区划暂无生效的走访计划。" in html
        assert 'data-testid="plan-form"' in html  # the city's commander may set one


class TestGridPlans:
    def test_due_items_link_to_the_person_the_room_and_the_place(
            self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-leader", GRID)
        cards = _cards(html)
        people = setup["people"]
        groups = cards[setup["groups"]["id"]]
        assert f'href="/registry/residents/{people[0]["id"]}"' in groups
        assert f'href="/registry/residents/{people[1]["id"]}"' not in groups  # visited
        assert "从未走访" in groups
        households = cards[setup["households"]["id"]]
        assert (f'href="/registry/{GRID}?tab=households&amp;building={setup["building"]}'
                f'#a{setup["room"]}"') in households
        assert f'href="/registry/places/{setup["hotel"]["id"]}"' in cards[setup["places"]["id"]]
        # The patrol lists the posts behind their quota; the grid leader may stop it.
        patrol = cards[setup["patrol"]["id"]]
        assert "本期未达标" in patrol and "本期已走访 0 次，目标 2 次" in patrol
        assert 'data-testid="plan-stop"' in patrol
        for plan_id, card in cards.items():
            due = _api(world, "grid-leader", f"/api/v1/visit-plans/{plan_id}/due",
                       region=GRID, limit=PLAN_DUE)
            assert card.count('data-testid="plan-due-item"') == len(due["items"])
            assert _numbers(card.split(">", 1)[0])[0] == _api(
                world, "grid-leader", f"/api/v1/visit-plans/{plan_id}/progress",
                region=GRID)["total"]

    def test_a_grid_member_sees_the_plans_but_no_form(
            self, world: World, setup: dict[str, Any]) -> None:
        html = _html(world, "grid-member", GRID)
        assert setup["groups"]["id"] in _cards(html)
        assert 'data-testid="plan-form"' not in html and "plans.js" not in html
        assert 'data-testid="plan-stop"' not in html

    def test_another_countys_commander_gets_the_not_found_page(
            self, world: World, setup: dict[str, Any]) -> None:
        for code in (COUNTY, GRID):
            html = _html(world, OUTSIDER, code, status=404)
            assert 'data-testid="not-found"' in html
            assert "红旗区特殊人群走访" not in html and "计划0号" not in html
