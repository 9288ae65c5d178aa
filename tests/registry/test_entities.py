"""The registry's other entries through the API — addresses, households, special-group tags, key
places (with inspections), enterprises and "three-no" compounds — and the visit plans built on
them: every write checked field by field, kept in history, counted as collection and scoped;
due lists and progress that move as visits are recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine as create_sync
from sqlalchemy import text
from tests.cases.support import COUNTY, GRID, SIBLING_GRID, VILLAGE, World, open_world

from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, sync_url
from wangge.registry import creditcode
from wangge.registry.demo import PLANS, ensure_plans
from wangge.registry.idnumber import make

_seq = iter(range(200, 999))


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("entities"))) as w:
        yield w


def post(world: World, user: str, path: str, **body: Any) -> Any:
    return world.client.post(path, json=body, headers=world.auth(user))


def patch(world: World, user: str, path: str, **body: Any) -> Any:
    return world.client.patch(path, json=body, headers=world.auth(user))


def created(r: Any) -> Any:
    assert r.status_code == 201, r.text
    return r.json()


def home(world: World, grid: str = GRID, user: str = "grid-member") -> dict[str, Any]:
    """A building, a unit, a room and a household in it."""
    building = created(post(world, user, "/api/v1/addresses", grid_code=grid, kind="building",
                            label=f"幸福路{next(_seq)}号楼", lng=113.90, lat=35.30))
    unit = created(post(world, user, "/api/v1/addresses", grid_code=grid, kind="unit",
                        label="2单元", parent_id=building["id"]))
    room = created(post(world, user, "/api/v1/addresses", grid_code=grid, kind="room",
                        label="301室", parent_id=unit["id"], lng=113.90, lat=35.30))
    household = created(post(world, user, "/api/v1/households", grid_code=grid,
                             address_id=room["id"], head_name="李建国"))
    return {"building": building, "room": room, "household": household}


def person(world: World, household: int, birth: date = date(1980, 2, 2)) -> Any:
    return created(post(world, "grid-member", "/api/v1/residents", grid_code=GRID, name="李建国",
                        id_number=make("410702", birth, next(_seq)), household_id=household))


def visit(world: World, user: str = "grid-member", **body: Any) -> Any:
    return post(world, user, "/api/v1/visits", client_uuid=str(uuid.uuid4()), **body)


def failed(r: Any, status: int, field: str) -> None:
    assert r.status_code == status and r.json()["field"] == field, r.text


class TestAddressesAndHouseholds:
    def test_an_address_chain_a_household_and_its_members(self, world: World) -> None:
        h = home(world)
        assert h["room"]["text"] == h["building"]["label"] + "2单元301室"
        # A unit given no coordinates stands where its building stands.
        unit = world.get("grid-member", "/api/v1/addresses",
                         parent=h["building"]["id"]).json()["items"][0]
        assert (unit["lng"], unit["lat"]) == (113.90, 35.30)
        household = h["household"]
        assert household["address"] == h["room"]["text"] and household["version"] == 1
        member = person(world, household["id"])
        got = world.get("grid-member", f"/api/v1/households/{household['id']}").json()
        assert [m["id"] for m in got["members"]] == [member["id"]]
        assert got["members"][0]["masked"] and "*" in got["members"][0]["id_number"]
        assert [c["action"] for c in got["history"]] == ["create"]
        # Found by the start of the address, however it is typed (full-width digits, spaces).
        typed = h["building"]["label"].replace("号楼", "").translate(
            str.maketrans("0123456789", "０１２３４５６７８９"))
        hits = world.get("grid-member", "/api/v1/addresses", grid=GRID, q=f" {typed}").json()
        assert {a["id"] for a in hits["items"]} >= {h["building"]["id"], h["room"]["id"]}
        # Each creation is a collection record of the worker.
        rows = world.sql("SELECT entity_type, count(*) FROM collection_records c JOIN accounts a "
                         "ON a.id = c.account_id WHERE a.username = 'grid-member' AND "
                         "((entity_type = 'address' AND entity_id = :b) OR "
                         "(entity_type = 'household' AND entity_id = :h)) GROUP BY entity_type",
                         b=h["building"]["id"], h=household["id"])
        assert dict(rows) == {"address": 1, "household": 1}

    def test_updates_need_the_current_version_and_keep_history(self, world: World) -> None:
        household = home(world)["household"]
        path = f"/api/v1/households/{household['id']}"
        r = patch(world, "grid-member", path, version=1, head_name="李红", kind="mixed")
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        failed(patch(world, "grid-member", path, version=1, head_name="又一个"), 409, "version")
        history = world.get("grid-member", path).json()["history"]
        assert history[-1]["changes"] == {"head_name": ["李建国", "李红"],
                                          "kind": ["registered", "mixed"]}
        assert world.get("grid-member", path).json()["head_name"] == "李红"
        # Found by the start of its address.
        text = world.get("grid-member", path).json()["address"]
        found = world.get("grid-member", "/api/v1/households", grid=GRID,
                          q=text[:-4]).json()["items"]
        assert household["id"] in [h["id"] for h in found]
        assert all(h["address"].startswith(text[:-4]) for h in found)

    def test_bad_addresses_name_the_field_and_store_nothing(self, world: World) -> None:
        before = world.sql("SELECT count(*) FROM addresses")[0][0]
        failed(post(world, "grid-member", "/api/v1/addresses", grid_code=GRID, kind="unit",
                    label="1单元"), 422, "parent_id")
        room = home(world)["room"]
        after_home = world.sql("SELECT count(*) FROM addresses")[0][0]
        assert after_home == before + 3
        failed(post(world, "grid-member", "/api/v1/addresses", grid_code=GRID, kind="room",
                    label="302室", parent_id=room["id"]), 422, "parent_id")
        failed(post(world, "grid-member", "/api/v1/addresses", grid_code=COUNTY, kind="house",
                    label="1号"), 422, "grid_code")
        failed(post(world, "grid-member", "/api/v1/households", grid_code=GRID,
                    address_id=home(world)["building"]["id"]), 422, "address_id")
        assert world.sql("SELECT count(*) FROM addresses")[0][0] == after_home + 3

    def test_another_grid_sees_nothing_and_cannot_write(self, world: World) -> None:
        household = home(world)["household"]
        path = f"/api/v1/households/{household['id']}"
        assert world.get("sibling-leader", path).status_code == 404
        assert patch(world, "sibling-leader", path, version=1, head_name="x").status_code == 404
        assert household["id"] not in [h["id"] for h in world.get(
            "sibling-leader", "/api/v1/households", grid=SIBLING_GRID).json()["items"]]
        failed(post(world, "sibling-leader", "/api/v1/households", grid_code=GRID), 422,
               "grid_code")
        # Reading is not writing: the grid supporter reads, but may not register.
        assert world.get("grid-support", path).status_code == 200
        assert post(world, "grid-support", "/api/v1/households",
                    grid_code=GRID).status_code == 403


class TestTags:
    def test_a_tag_takes_its_levels_interval_and_changes_are_history(self, world: World) -> None:
        resident = person(world, home(world)["household"]["id"])
        path = f"/api/v1/residents/{resident['id']}/tags"
        tag = created(post(world, "grid-member", path, category="community_correction",
                           level="high", responsible_post=f"grid_member@{GRID}",
                           fields={"term_ends": "2027-05-01"}))
        assert (tag["visit_interval_days"], tag["fields"]) == (7, {"term_ends": "2027-05-01"})
        failed(post(world, "grid-member", path, category="community_correction", level="low"),
               409, "category")
        failed(post(world, "grid-member", path, category="astronaut", level="low"), 422,
               "category")
        failed(post(world, "grid-member", path, category="drug_user", level="extreme"), 422,
               "level")
        failed(post(world, "grid-member", path, category="drug_user", level="low",
                    responsible_post="grid_member@410703"), 422, "responsible_post")
        r = patch(world, "grid-member", f"/api/v1/resident-tags/{tag['id']}", version=1,
                  level="low")
        assert r.status_code == 200 and r.json()["visit_interval_days"] == 30, r.text
        history = world.get("grid-member", f"/api/v1/residents/{resident['id']}").json()
        assert [h["action"] for h in history["history"]] == ["create", "tag", "tag"]
        assert history["history"][-1]["changes"]["tag.community_correction.level"] == [
            "high", "low"]
        assert [t["level"] for t in history["tags"]] == ["low"]


class TestPlaces:
    def test_a_place_its_inspections_and_its_history(self, world: World) -> None:
        place = created(post(world, "grid-member", "/api/v1/places", grid_code=GRID,
                             category="internet_cafe", name="星际网吧", address="平原路18号",
                             lng=113.9000, lat=35.3000, responsible_name="赵强",
                             responsible_phone="13912345678"))
        assert place["inspection_interval_days"] == 30 and place["masked"]
        assert place["responsible_phone"] == "139****5678"
        # A check-in 1.1 km away is recorded and flagged; the place's inspection moves.
        v = visit(world, place_id=place["id"], location={"lng": 113.9000, "lat": 35.3100},
                  notes="消防通道畅通")
        assert v.status_code == 201 and v.json()["far"] and v.json()["place_id"] == place["id"]
        assert 1000 < v.json()["distance_m"] < 1200
        r = patch(world, "grid-member", f"/api/v1/places/{place['id']}", version=1,
                  responsible_phone="13800001111", inspection_interval_days=15)
        assert r.status_code == 200, r.text
        got = world.get("grid-leader", f"/api/v1/places/{place['id']}").json()
        assert got["responsible_phone"] == "13800001111" and not got["masked"]
        assert got["last_inspected_at"] == got["inspections"][0]["at"]
        assert [h["action"] for h in got["history"]] == ["create", "update"]
        assert got["history"][1]["changes"] == {"inspection_interval_days": [30, 15],
                                                "responsible_phone": ["139****5678",
                                                                      "138****1111"]}
        log = world.get("admin", "/api/v1/pii-access").json()["items"]
        assert ("place", place["id"], "phone") in [(x["entity_type"], x["entity_id"],
                                                    x["fields"]) for x in log]
        assert world.get("sibling-leader", f"/api/v1/places/{place['id']}").status_code == 404

    def test_bad_places_name_the_field(self, world: World) -> None:
        failed(post(world, "grid-member", "/api/v1/places", grid_code=GRID, category="zoo",
                    name="x"), 422, "category")
        failed(post(world, "grid-member", "/api/v1/places", grid_code=GRID, category="hotel",
                    name="x", responsible_phone="12"), 422, "responsible_phone")
        failed(visit(world, place_id=999999), 422, "place_id")


class TestOrganisationsAndCompounds:
    def test_credit_codes_are_checked_and_registered_once(self, world: World) -> None:
        code = creditcode.make("91", "410702", "MA44PQRT1")
        e = created(post(world, "grid-member", "/api/v1/enterprises", grid_code=GRID,
                         name="新乡市红旗区示范科技有限公司", credit_code=code.lower(),
                         legal_person="周敏", employees=35))
        assert e["credit_code"] == code and e["kind"] == "enterprise"
        failed(post(world, "grid-member", "/api/v1/enterprises", grid_code=GRID, name="重复",
                    credit_code=code), 409, "credit_code")
        bad = code[:17] + ("0" if code[17] != "0" else "1")
        r = post(world, "grid-member", "/api/v1/enterprises", grid_code=GRID, name="错",
                 credit_code=bad)
        failed(r, 422, "credit_code")
        assert "check character" in r.json()["reason"]
        r = patch(world, "grid-member", f"/api/v1/enterprises/{e['id']}", version=1,
                  employees=40)
        assert r.status_code == 200 and r.json()["employees"] == 40
        listed = world.get("grid-member", "/api/v1/enterprises", grid=GRID).json()["items"]
        assert e["id"] in [x["id"] for x in listed]
        assert world.get("sibling-leader", "/api/v1/enterprises", grid=GRID).status_code == 404

    def test_a_compound_is_rectified_only_with_its_checklist_done(self, world: World) -> None:
        c = created(post(world, "grid-member", "/api/v1/compounds", grid_code=GRID,
                         name="老纺织厂家属院", households=120))
        assert c["status"] == "pending" and len(c["checklist"]) == 6
        path = f"/api/v1/compounds/{c['id']}"
        r = patch(world, "grid-member", path, version=1, status="rectified")
        failed(r, 422, "status")
        items = [{**i, "done": n == 0} for n, i in enumerate(c["checklist"])]
        r = patch(world, "grid-member", path, version=1, checklist=items)
        assert r.json()["status"] == "rectifying" and r.json()["rectified_at"] is None
        done = [{**i, "done": True} for i in c["checklist"]]
        r = patch(world, "grid-member", path, version=2, checklist=done, status="rectified")
        assert r.status_code == 200 and r.json()["rectified_at"], r.text
        assert [x["id"] for x in world.get("grid-member", "/api/v1/compounds", grid=GRID,
                                           status="rectified").json()["items"]] == [c["id"]]


class TestVisitPlans:
    def test_who_may_set_plans(self, world: World) -> None:
        body = {"region_code": COUNTY, "name": "特殊人群走访", "kind": "special_groups"}
        assert post(world, "grid-member", "/api/v1/visit-plans", **body).status_code == 403
        failed(post(world, "grid-leader", "/api/v1/visit-plans", **body), 422, "region_code")
        failed(post(world, "county", "/api/v1/visit-plans", **{**body, "categories": ["x"]}),
               422, "categories")
        failed(post(world, "county", "/api/v1/visit-plans", region_code=COUNTY, name="入户",
                    kind="households"), 422, "interval_days")
        failed(post(world, "county", "/api/v1/visit-plans", region_code="410703", name="x",
                    kind="places"), 422, "region_code")
        plan = created(post(world, "grid-leader", "/api/v1/visit-plans", region_code=GRID,
                            name="本网格场所巡查", kind="places"))
        # A plan set above a grid applies to it: the grid's member lists it.
        county = created(post(world, "county", "/api/v1/visit-plans", **body))
        listed = [p["id"] for p in world.get("grid-member", "/api/v1/visit-plans",
                                             region=GRID).json()["items"]]
        assert {plan["id"], county["id"]} <= set(listed)
        assert plan["id"] not in [p["id"] for p in world.get(
            "sibling-leader", "/api/v1/visit-plans", region=SIBLING_GRID).json()["items"]]
        assert world.get("sibling-leader", f"/api/v1/visit-plans/{plan['id']}/due",
                         region=SIBLING_GRID).status_code == 404

    def test_special_groups_and_households_fall_due_and_visits_clear_them(
            self, world: World) -> None:
        groups = created(post(world, "county", "/api/v1/visit-plans", region_code=COUNTY,
                              name="社区矫正走访", kind="special_groups",
                              categories=["community_correction"]))
        households = created(post(world, "county", "/api/v1/visit-plans", region_code=COUNTY,
                                  name="全面入户", kind="households", interval_days=90))

        def due(plan: Any) -> Any:
            return world.get("grid-leader", f"/api/v1/visit-plans/{plan['id']}/due",
                             region=GRID).json()

        def progress(plan: Any, region: str = VILLAGE) -> Any:
            r = world.get("county", f"/api/v1/visit-plans/{plan['id']}/progress",
                          region=region)
            assert r.status_code == 200, r.text
            return r.json()

        before, before_h = due(groups), due(households)
        h = home(world)["household"]
        resident = person(world, h["id"])
        created(post(world, "grid-member", f"/api/v1/residents/{resident['id']}/tags",
                     category="community_correction", level="medium"))
        now_due, now_h = due(groups), due(households)
        assert (now_due["total"], now_due["due"]) == (before["total"] + 1, before["due"] + 1)
        item = next(i for i in now_due["items"] if i["resident_id"] == resident["id"])
        assert (item["interval_days"], item["last_visit_at"]) == (15, None)
        assert now_h["due"] == before_h["due"] + 1
        assert h["id"] in [i["household_id"] for i in now_h["items"]]
        p = progress(groups)
        row = next(c for c in p["children"] if c["region_code"] == GRID)
        assert (p["total"], row["total"] - row["done"]) == (now_due["total"], now_due["due"])
        # One home visit clears the household and the special-group tag of who lives there.
        assert visit(world, household_id=h["id"]).status_code == 201
        after, after_h = due(groups), due(households)
        assert (after["total"], after["due"]) == (now_due["total"], now_due["due"] - 1)
        assert after_h["due"] == now_h["due"] - 1
        assert resident["id"] not in [i["resident_id"] for i in after["items"]]
        assert progress(groups)["done"] == p["done"] + 1
        assert progress(households, COUNTY)["done"] == progress(households, COUNTY)["done"]

    def test_a_weekly_patrol_counts_each_roles_visits(self, world: World) -> None:
        plan = created(post(world, "grid-leader", "/api/v1/visit-plans", region_code=GRID,
                            name="三员每周走访", kind="patrol", interval_days=7, quota=1))
        assert plan["roles"] == ["grid_leader", "deputy_grid_leader", "grid_member"]
        assert date.fromisoformat(plan["starts_on"]).weekday() == 0
        due = world.get("grid-leader", f"/api/v1/visit-plans/{plan['id']}/due",
                        region=GRID).json()
        before = {i["post"]: i["done"] for i in due["items"]}
        assert due["total"] == 3 and due["period_start"] and due["period_end"]
        h = home(world)["household"]
        assert visit(world, "grid-deputy", household_id=h["id"]).status_code == 201
        after = world.get("grid-leader", f"/api/v1/visit-plans/{plan['id']}/due",
                          region=GRID).json()
        posts = {i["post"] for i in after["items"]}
        assert f"deputy_grid_leader@{GRID}" not in posts
        assert after["due"] == len(before) - (f"deputy_grid_leader@{GRID}" in before)
        every = world.get("grid-leader", f"/api/v1/visit-plans/{plan['id']}/due",
                          region=GRID, all="true").json()
        assert len(every["items"]) == 3 and every["due"] == after["due"]
        assert {i["post"]: i["done"] for i in every["items"]}[
            f"deputy_grid_leader@{GRID}"] == before.get(f"deputy_grid_leader@{GRID}", 0) + 1
        progress = world.get("grid-leader", f"/api/v1/visit-plans/{plan['id']}/progress",
                             region=GRID).json()
        assert (progress["total"], progress["done"]) == (3, 3 - after["due"])
        r = patch(world, "grid-leader", f"/api/v1/visit-plans/{plan['id']}", version=1,
                  active=False)
        assert r.status_code == 200 and not r.json()["active"]
        assert plan["id"] not in [p["id"] for p in world.get(
            "grid-member", "/api/v1/visit-plans", region=GRID, active=True).json()["items"]]


def test_the_demo_sets_its_city_plans_once(city_with_grids: str) -> None:
    async def twice() -> tuple[int, int]:
        engine = create_engine(city_with_grids)
        try:
            return await ensure_plans(engine, "4107"), await ensure_plans(engine, "4107")
        finally:
            await engine.dispose()

    assert run_sync(twice) == (len(PLANS), 0)
    engine = create_sync(sync_url(city_with_grids))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT region_code, kind, created_by FROM visit_plans "
                                 "ORDER BY id")).all()
    engine.dispose()
    assert [(r[0], r[1]) for r in rows] == [("4107", p["kind"]) for p in PLANS]
    assert {r[2] for r in rows} == {"system"}
