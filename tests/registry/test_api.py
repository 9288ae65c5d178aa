"""The registry API's basics: residents with GB 11643 ID numbers (422 naming ``id_number``),
encrypted and masked PII shown in clear only to ``pii:read`` holders and then logged, exact
look-up by ID number through its keyed hash, duplicates refused, history, scope, key places,
and home visits (GPS distance, far check-ins flagged, an issue opened as a case)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.cases.support import (
    COUNTY,
    GRID,
    SIBLING_GRID,
    SIBLING_LEADER,
    VILLAGE,
    World,
    open_world,
)
from tests.factories import PASSWORD, bearer_token, create_account

from wangge.registry.idnumber import make

FAR = "far-member"


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("registry"))) as w:
        far_grid = w.sql("SELECT min(code) FROM regions WHERE level = 'grid' AND code LIKE "
                         "'4107%' AND code NOT LIKE :c", c=f"{COUNTY}%")[0][0]
        create_account(w.url, FAR, posts=[f"grid_member@{far_grid}"], person_name=FAR)
        w.tokens[FAR] = bearer_token(w.client, FAR, PASSWORD)
        yield w


_seq = iter(range(1, 999))


def new_id(birth: date = date(1985, 6, 15)) -> str:
    return make("410702", birth, next(_seq))


def register(world: World, user: str = "grid-member", **body: Any) -> Any:
    payload = {"grid_code": GRID, "name": "王秀兰", "population_type": "registered", **body}
    return world.client.post("/api/v1/residents", json=payload, headers=world.auth(user))


def test_a_resident_is_stored_encrypted_and_shown_masked(world: World) -> None:
    number = new_id()
    r = register(world, id_number=number, phone="138-0013-8000")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["id_number"] == f"{number[:4]}{'*' * 10}{number[-4:]}" and out["masked"]
    assert out["phone"] == "138****8000"
    assert out["birth_date"] == "1985-06-15" and out["sex"] in ("male", "female")
    row = world.sql("SELECT id_number_enc, id_number_hash, phone_enc FROM residents "
                    "WHERE id = :i", i=out["id"])[0]
    assert number not in row[0] and row[0].startswith("v1:") and len(row[1]) == 64
    assert "13800138000" not in row[2]
    # The grid member (no pii:read) reads it masked; no access is logged.
    got = world.get("grid-member", f"/api/v1/residents/{out['id']}").json()
    assert got["masked"] and got["id_number"] == out["id_number"]
    assert world.sql("SELECT count(*) FROM pii_access_log WHERE entity_id = :i",
                     i=out["id"])[0][0] == 0
    # The grid leader holds pii:read: in clear, and the view is logged.
    clear = world.get("grid-leader", f"/api/v1/residents/{out['id']}").json()
    assert (clear["id_number"], clear["phone"], clear["masked"]) == (number, "13800138000",
                                                                      False)
    log = world.get("admin", "/api/v1/pii-access", resident=out["id"]).json()["items"]
    assert [(x["actor"], x["fields"], x["route"]) for x in log] == [
        ("grid-leader", "id_number,phone", f"/api/v1/residents/{out['id']}")]
    assert world.get("grid-member", "/api/v1/pii-access").status_code == 403
    # History: who created it, PII masked.
    assert [(h["action"], h["actor"]) for h in got["history"]] == [("create", "grid-member")]
    assert got["history"][0]["changes"]["id_number"] == [None, out["id_number"]]
    assert number not in json.dumps(got["history"])


@pytest.mark.parametrize(("bad", "reason"), [
    ("410702198506150010", "check character"),
    ("410702198502300013", "birth date"),
    ("41070219850615001", "18 characters"),
    ("990702198506150015", "province"),
])
def test_an_invalid_id_number_names_the_field_and_stores_nothing(
        world: World, bad: str, reason: str) -> None:
    before = world.sql("SELECT count(*) FROM residents")[0][0]
    r = register(world, id_number=bad)
    assert r.status_code == 422 and r.json()["field"] == "id_number", r.text
    assert reason in r.json()["reason"]
    assert world.sql("SELECT count(*) FROM residents")[0][0] == before


def test_one_person_is_registered_once_and_found_by_id_number(world: World) -> None:
    number = new_id(date(1972, 1, 3))
    first = register(world, id_number=number).json()
    again = register(world, id_number=number.lower(), name="另一个名字")
    assert again.status_code == 409 and again.json()["field"] == "id_number"
    assert again.json()["resident_id"] == first["id"]
    # Another county registering the same person: refused without naming the record.
    far = register(world, FAR, id_number=number,
                   grid_code=world.sql("SELECT min(code) FROM regions WHERE level = 'grid' "
                                       "AND code NOT LIKE :c", c=f"{COUNTY}%")[0][0])
    assert far.status_code == 409 and "resident_id" not in far.json()
    found = world.get("grid-member", "/api/v1/residents", id_number=number).json()["items"]
    assert [x["id"] for x in found] == [first["id"]]
    assert world.get(FAR, "/api/v1/residents", id_number=number).json()["items"] == []
    assert world.get(FAR, f"/api/v1/residents/{first['id']}").status_code == 404
    r = world.get("grid-member", "/api/v1/residents", id_number="123")
    assert r.status_code == 422 and r.json()["field"] == "id_number"


def test_legacy_numbers_mismatches_and_lists(world: World) -> None:
    legacy = new_id(date(1965, 3, 9))
    short = legacy[:6] + legacy[8:17]  # the 15-digit form of the same person
    r = register(world, id_number=short, name="老户籍")
    assert r.status_code == 201 and r.json()["birth_date"] == "1965-03-09"
    assert register(world, id_number=legacy).status_code == 409  # the same person
    r = register(world, id_number=new_id(), birth_date="1990-01-01")
    assert r.status_code == 422 and r.json()["field"] == "birth_date"
    r = register(world, phone="12345")
    assert r.status_code == 422 and r.json()["field"] == "phone"
    r = register(world, grid_code=SIBLING_GRID[:12] + "999")
    assert r.status_code == 422 and r.json()["field"] == "grid_code"
    assert register(world, "grid-support").status_code == 403  # no registry:write
    names = [x["name"] for x in world.get("grid-member", "/api/v1/residents", grid=GRID,
                                          q="老").json()["items"]]
    assert names == ["老户籍"]


def test_places_in_scope(world: World) -> None:
    world.sql("INSERT INTO places (region_code, category, name, inspection_interval_days, "
              "synthetic, version, created_at, updated_at) VALUES (:g, 'pharmacy', '康民大药房', "
              "30, false, 1, '2026-12-01 00:00:00+00', '2026-12-01 00:00:00+00')", g=GRID)
    items = world.get("grid-member", "/api/v1/places", grid=GRID).json()["items"]
    assert [(p["name"], p["category"]) for p in items] == [("康民大药房", "pharmacy")]
    assert world.get(FAR, "/api/v1/places", grid=GRID).status_code == 404
    assert world.get(FAR, "/api/v1/places").json()["items"] == []


def test_a_visit_checks_in_flags_far_ones_and_opens_a_case(world: World) -> None:
    world.sql("INSERT INTO addresses (region_code, kind, label, text, normalised, lng, lat, "
              "synthetic, created_at) VALUES (:g, 'house', '12号', '龙湾社区12号', '龙湾社区12号', "
              "113.9, 35.3, false, '2026-12-01 00:00:00+00')", g=GRID)
    address = world.sql("SELECT max(id) FROM addresses")[0][0]
    world.sql("INSERT INTO households (region_code, address_id, kind, synthetic, version, "
              "created_at, updated_at) VALUES (:g, :a, 'registered', false, 1, "
              "'2026-12-01 00:00:00+00', '2026-12-01 00:00:00+00')", g=GRID, a=address)
    household = world.sql("SELECT max(id) FROM households")[0][0]
    member = register(world, id_number=new_id(date(1950, 2, 2)), household_id=household).json()
    world.sql("INSERT INTO resident_tags (resident_id, region_code, category, level, fields, "
              "visit_interval_days, active, created_at) VALUES (:r, :g, 'left_behind', 'low', "
              "'{}', 30, true, '2026-12-01 00:00:00+00')", r=member["id"], g=GRID)

    def visit(**body: Any) -> Any:
        payload = {"client_uuid": str(uuid.uuid4()), "household_id": household, **body}
        return world.client.post("/api/v1/visits", json=payload,
                                 headers=world.auth("grid-member"))

    near = visit(location={"lng": 113.9005, "lat": 35.3}, notes="独居老人，身体尚好")
    assert near.status_code == 201, near.text
    assert near.json()["far"] is False and 40 < near.json()["distance_m"] < 50
    key = str(uuid.uuid4())
    far = visit(client_uuid=key, location={"lng": 113.95, "lat": 35.3})
    assert far.json()["far"] is True and far.json()["distance_m"] > 4000
    assert visit(client_uuid=key, location={"lng": 113.95, "lat": 35.3}).status_code == 200
    assert visit(client_uuid=key).status_code == 409
    found = visit(location={"lng": 114.2, "lat": 35.5}, issues=["楼道堆放杂物"], case={
        "category_code": "99", "title": "楼道堆放杂物", "description": "影响消防通道"})
    assert found.status_code == 201, found.text
    case = world.detail("grid-leader", found.json()["case_id"])
    assert (case["region_code"], case["reporter"]) == (GRID, "grid-member")
    tag = world.get("grid-member", f"/api/v1/residents/{member['id']}").json()["tags"][0]
    assert tag["last_visit_at"] is not None
    r = visit(household_id=None)
    assert r.status_code == 422 and r.json()["field"] == "household_id"


def test_updates_and_merges_keep_every_history(world: World) -> None:
    first = register(world, name="张建国", phone="13900000001").json()
    r = world.client.patch(f"/api/v1/residents/{first['id']}", headers=world.auth("grid-member"),
                           json={"version": first["version"], "population_type": "floating",
                                 "phone": "13900000002"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["population_type"], changed["phone"]) == ("floating", "139****0002")
    stale = world.client.patch(f"/api/v1/residents/{first['id']}",
                               headers=world.auth("grid-member"),
                               json={"version": first["version"], "name": "张建"})
    assert stale.status_code == 409 and stale.json()["field"] == "version"
    bad = world.client.patch(f"/api/v1/residents/{first['id']}",
                             headers=world.auth("grid-member"),
                             json={"version": changed["version"], "phone": "999"})
    assert bad.status_code == 422 and bad.json()["field"] == "phone"
    # A duplicate record of the same man (registered later with his ID number) is merged
    # into the first: the number moves over, both histories stay.
    number = new_id(date(1960, 8, 8))
    dup = register(world, name="张建国", id_number=number).json()
    r = world.client.post(f"/api/v1/residents/{dup['id']}/merge",
                          headers=world.auth("grid-member"),
                          json={"version": dup["version"], "into": first["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["id_number"] == dup["id_number"]
    history = world.get("grid-member", f"/api/v1/residents/{first['id']}").json()["history"]
    assert [(h["entity_id"], h["action"]) for h in history] == [
        (first["id"], "create"), (first["id"], "update"), (dup["id"], "create"),
        (dup["id"], "merge"), (first["id"], "merge")]
    assert history[1]["changes"]["phone"] == ["139****0001", "139****0002"]
    found = world.get("grid-member", "/api/v1/residents", id_number=number).json()["items"]
    assert [x["id"] for x in found] == [first["id"]]
    gone = world.client.patch(f"/api/v1/residents/{dup['id']}", headers=world.auth(
        "grid-member"), json={"version": dup["version"] + 1, "name": "x"})
    assert gone.status_code == 409 and gone.json()["merged_into_id"] == first["id"]


def test_a_region_above_a_grid_lists_its_newest_residents_page_by_page(world: World) -> None:
    """A county, township or village list (on PostgreSQL read grid by grid) is the same as
    the newest-first order of all its residents, page after page, with a name prefix too."""
    for grid in (GRID, SIBLING_GRID, GRID, SIBLING_GRID, GRID):
        user = "grid-member" if grid == GRID else SIBLING_LEADER
        assert register(world, user, grid_code=grid, name="页序测试").status_code == 201
    for region, q in ((VILLAGE, None), (COUNTY, None), (COUNTY, "页序")):
        where = "region_code LIKE :p AND merged_into_id IS NULL" + (
            " AND name LIKE :q" if q else "")
        expected = [r[0] for r in world.sql(f"SELECT id FROM residents WHERE {where} "
                                            "ORDER BY id DESC", p=f"{region}%", q=f"{q}%")]
        got: list[int] = []
        params: dict[str, Any] = {"grid": region, "limit": 2, **({"q": q} if q else {})}
        while len(got) < min(len(expected), 6):
            page = world.get("county", "/api/v1/residents", **params).json()
            got += [x["id"] for x in page["items"]]
            if page["next_cursor"] is None:
                break
            params["before"] = page["next_cursor"]
        assert got == expected[:len(got)] and len(got) >= min(len(expected), 6)
    # The county's commander without a grid: its whole scope, the same order.
    top = world.get("county", "/api/v1/residents", limit=3).json()["items"]
    assert [x["id"] for x in top] == [r[0] for r in world.sql(
        "SELECT id FROM residents WHERE region_code LIKE :p AND merged_into_id IS NULL "
        "ORDER BY id DESC LIMIT 3", p=f"{COUNTY}%")]
