"""The directive API's behaviours: fan-out to every unit a target list reaches, scope (issuing
only inside one's own, reading only one's own assignments), the assignment workflow with its
guards (stale version, wrong state, wrong person), idempotent issue and acknowledgement,
feedback validated against the directive's form, a problem opened as a case, progress per
child region, reminders, comments, the deadline sweep, and the audit and event trail."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cases.support import (
    CITY,
    COUNTY,
    GRID,
    SIBLING_GRID,
    TOWNSHIP,
    VILLAGE,
    World,
    open_world,
)
from tests.factories import PASSWORD, bearer_token, create_account

from wangge.authz.scope import Subject
from wangge.directives import tasks
from wangge.kit.bus import PublishedEvent
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.stream.service import visible

FORM = {"type": "object", "required": ["households_checked"], "additionalProperties": False,
        "properties": {"households_checked": {"type": "integer", "minimum": 0},
                       "problems": {"type": "string"}}}
OTHER_COUNTY_MEMBER = "far-member"
OTHER_COUNTY = "far-county"


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas,
                    Path(tmp_path_factory.mktemp("directive-api"))) as w:
        far_grid = w.sql("SELECT min(code) FROM regions WHERE level = 'grid' "
                         "AND code LIKE '4107%' AND code NOT LIKE :c", c=f"{COUNTY}%")[0][0]
        create_account(w.url, OTHER_COUNTY_MEMBER, posts=[f"grid_member@{far_grid}"],
                       person_name=OTHER_COUNTY_MEMBER)
        create_account(w.url, OTHER_COUNTY, posts=[f"commander@{far_grid[:6]}"],
                       person_name=OTHER_COUNTY)
        for user in (OTHER_COUNTY_MEMBER, OTHER_COUNTY):
            w.tokens[user] = bearer_token(w.client, user, PASSWORD)
        yield w


def issue(world: World, user: str = "admin", targets: list[dict[str, Any]] | None = None,
          **body: Any) -> Any:
    payload = {"targets": targets or [{"subtree": COUNTY}], "title": "排查出租屋消防隐患",
               "body": "本周内完成辖区出租屋消防检查并反馈。", "kind": "inspection",
               "feedback_schema": FORM, **body}
    return world.client.post("/api/v1/directives", json=payload, headers=world.auth(user))


def issued(world: World, user: str = "admin", **body: Any) -> dict[str, Any]:
    r = issue(world, user, **body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def mine(world: World, user: str, directive_id: int) -> dict[str, Any]:
    r = world.get(user, "/api/v1/assignments", mine=1, directive=directive_id)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


def act(world: World, user: str, a: dict[str, Any], action: str, **body: Any) -> Any:
    body.setdefault("version", a["version"])
    return world.client.post(f"/api/v1/assignments/{a['id']}/actions/{action}", json=body,
                             headers=world.auth(user))


def grids_under(world: World, code: str) -> int:
    return int(world.sql("SELECT count(*) FROM regions WHERE level = 'grid' AND code LIKE :p",
                         p=f"{code}%")[0][0])


def test_a_county_subtree_reaches_every_grid_of_the_county_once(world: World) -> None:
    d = issued(world, targets=[{"subtree": COUNTY}, {"grids": [GRID]}])
    expected = grids_under(world, COUNTY)
    assert d["target_count"] == expected > 100
    assert d["region_code"] == CITY and d["level"] == "city"
    assert d["issuer_post"] == f"commander@{CITY}"
    rows = world.sql("SELECT count(*), count(DISTINCT region_code), min(status), max(status) "
                     "FROM directive_assignments WHERE directive_id = :d", d=d["id"])
    assert tuple(rows[0]) == (expected, expected, "delivered", "delivered")
    # One event per target, each at the target's region.
    events = world.sql("SELECT type, region_code, payload FROM event_log "
                       "WHERE type = 'directive.issued' ORDER BY id")
    mine_ = [(t, r) for t, r, p in events if json.loads(p)["id"] == d["id"]]
    assert mine_ == [("directive.issued", COUNTY), ("directive.issued", GRID)]
    audit = world.sql("SELECT action, actor, post FROM audit_records WHERE target_type = "
                      "'directive' AND target_id = :id", id=str(d["id"]))
    assert [tuple(a) for a in audit] == [("directive.issued", "admin", f"commander@{CITY}")]


def test_preview_counts_what_issuing_would_reach_by_level(world: World) -> None:
    r = world.client.post("/api/v1/directives/preview", headers=world.auth("county"), json={
        "targets": [{"level": "village", "under": COUNTY}, {"subtree": TOWNSHIP}]})
    assert r.status_code == 200, r.text
    villages = int(world.sql("SELECT count(*) FROM regions WHERE level = 'village' AND code "
                             "LIKE :p", p=f"{COUNTY}%")[0][0])
    assert r.json()["by_level"] == [{"level": "village", "count": villages},
                                    {"level": "grid", "count": grids_under(world, TOWNSHIP)}]
    assert r.json()["total"] == villages + grids_under(world, TOWNSHIP)


def test_an_issuer_targets_only_inside_its_own_scope(world: World) -> None:
    far = world.sql("SELECT min(code) FROM regions WHERE level = 'county' AND code LIKE '4107%' "
                    "AND code <> :c", c=COUNTY)[0][0]
    r = issue(world, "county", targets=[{"subtree": far}])
    assert r.status_code == 422 and r.json()["field"] == "targets.0.subtree"
    r = issue(world, "grid-leader", targets=[{"subtree": GRID}])
    assert r.status_code == 403  # no directive:issue
    r = issue(world, "county", targets=[{"level": "county", "under": COUNTY}])
    assert r.status_code == 422 and r.json()["field"] == "targets.0.level"
    r = issue(world, "county", targets=[{"grids": ["410702999999999"]}])
    assert r.status_code == 422 and r.json()["field"] == "targets.0.grids"
    r = issue(world, "county", targets=[{"subtree": COUNTY, "grids": [GRID]}])
    assert r.status_code == 422
    before = world.sql("SELECT count(*) FROM directives")[0][0]
    r = issue(world, "county", feedback_schema={"type": "nonsense"})
    assert r.status_code == 422 and r.json()["field"] == "feedback_schema"
    assert world.sql("SELECT count(*) FROM directives")[0][0] == before


def test_issuing_is_idempotent_on_client_uuid(world: World) -> None:
    key = str(uuid.uuid4())
    first = issue(world, "county", targets=[{"subtree": VILLAGE}], client_uuid=key)
    again = issue(world, "county", targets=[{"subtree": VILLAGE}], client_uuid=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = issue(world, "county", targets=[{"subtree": VILLAGE}], client_uuid=key,
                  title="另一条")
    assert other.status_code == 409 and other.json()["field"] == "client_uuid"
    assert world.sql("SELECT count(*) FROM directive_assignments WHERE directive_id = :d",
                     d=first.json()["id"])[0][0] == grids_under(world, VILLAGE)


def test_the_unit_acknowledges_completes_and_the_issuer_accepts(world: World) -> None:
    d = issued(world, "county", targets=[{"subtree": VILLAGE}])
    a = mine(world, "grid-member", d["id"])
    assert a["status"] == "delivered" and a["region_code"] == GRID
    assert a["allowed_actions"] == ["acknowledge", "complete"]
    # Only the unit acknowledges; the issuer may not act for it.
    assert act(world, "county", a, "acknowledge").status_code == 403
    r = act(world, "grid-member", a, "acknowledge")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    acked = r.json()
    # A phone retrying the acknowledgement: same answer, nothing changes.
    again = act(world, "grid-leader", a, "acknowledge")
    assert again.status_code == 200 and again.json()["version"] == acked["version"]
    assert again.json()["acknowledged_by"] == "grid-member"
    # Stale version and wrong state.
    assert act(world, "grid-member", a, "complete",
               feedback={"households_checked": 3}).status_code == 409
    r = act(world, "county", acked, "accept")
    assert r.status_code == 409 and r.json()["allowed"] == ["complete", "remind"]
    # The form is checked, naming the field.
    r = act(world, "grid-member", acked, "complete", feedback={"households_checked": -1})
    assert r.status_code == 422 and r.json()["field"] == "feedback.households_checked"
    r = act(world, "grid-member", acked, "complete", feedback={})
    assert r.status_code == 422 and r.json()["field"] == "feedback"
    photo = world.photo_id("grid-member")
    r = act(world, "grid-member", acked, "complete", feedback={"households_checked": 12},
            note="已检查", photos=[photo])
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["completed_by"], done["photos"]) == (
        "completed", "grid-member", [photo])
    assert done["feedback"] == {"households_checked": 12}
    # The issuer returns it for redo with a reason, the unit completes again, it is accepted.
    assert act(world, "county", done, "return").status_code == 422
    back = act(world, "county", done, "return", reason="照片不清楚，请重拍").json()
    assert back["status"] == "returned" and back["returns"] == 1
    redone = act(world, "grid-member", back, "complete",
                 feedback={"households_checked": 12, "problems": "无"}).json()
    assert act(world, "grid-member", redone, "accept").status_code == 403
    accepted = act(world, "county", redone, "accept").json()
    assert accepted["status"] == "accepted"
    timeline = world.get("county", f"/api/v1/assignments/{a['id']}").json()["timeline"]
    assert [(t["action"], t["actor"], t["to_status"]) for t in timeline] == [
        ("acknowledge", "grid-member", "acknowledged"),
        ("complete", "grid-member", "completed"),
        ("return", "county", "returned"),
        ("complete", "grid-member", "completed"),
        ("accept", "county", "accepted")]
    events = world.sql("SELECT type, region_code FROM event_log WHERE type LIKE 'assignment.%' "
                       "AND payload LIKE :p ORDER BY id", p=f'%"id": {a["id"]},%')
    assert [tuple(e) for e in events] == [
        (f"assignment.{x}", GRID) for x in ("acknowledge", "complete", "return", "complete",
                                            "accept")]


def test_feedback_reporting_a_problem_opens_a_linked_case(world: World) -> None:
    d = issued(world, "township", targets=[{"grids": [GRID]}])
    a = mine(world, "grid-member", d["id"])
    r = act(world, "grid-member", a, "complete", feedback={"households_checked": 4},
            case={"category_code": "99", "title": "楼道堆放杂物",
                  "description": "3号楼楼道堆放易燃杂物，需清理。"})
    assert r.status_code == 200, r.text
    case_id = r.json()["case_id"]
    case = world.detail("grid-leader", case_id)
    assert (case["region_code"], case["status"], case["reporter"]) == (
        GRID, "reported", "grid-member")


def test_scope_a_unit_elsewhere_never_sees_the_directive(world: World) -> None:
    d = issued(world, "county", targets=[{"subtree": COUNTY}])
    for user in (OTHER_COUNTY_MEMBER, OTHER_COUNTY):
        assert world.get(user, f"/api/v1/directives/{d['id']}").status_code == 404
        ids = [x["id"] for x in world.get(user, "/api/v1/directives", limit=200).json()["items"]]
        assert d["id"] not in ids
        page = world.get(user, "/api/v1/assignments", directive=d["id"]).json()
        assert page["items"] == []
    a = mine(world, "grid-member", d["id"])
    assert world.get(OTHER_COUNTY_MEMBER, f"/api/v1/assignments/{a['id']}").status_code == 404
    # A grid sees its own assignment only, and the directive's counts of its own scope.
    got = world.get("grid-member", f"/api/v1/directives/{d['id']}").json()
    assert got["counts"]["total"] == 1
    sibling = world.get("sibling-leader", "/api/v1/assignments", directive=d["id"]).json()
    assert [x["region_code"] for x in sibling["items"]] == [SIBLING_GRID]
    # Events: the issued event reaches down into the county and up to the city, not aside.
    ev = PublishedEvent(1, "directive.issued", COUNTY, "directive:read", {}, "x")
    assert visible(Subject("g", (GRID,), frozenset({"directive:read"})), ev)
    assert visible(Subject("c", (CITY,), frozenset({"directive:read"})), ev)
    assert not visible(Subject("f", ("410703",), frozenset({"directive:read"})), ev)
    case_ev = PublishedEvent(2, "case.report", COUNTY, "directive:read", {}, "x")
    assert not visible(Subject("g", (GRID,), frozenset({"directive:read"})), case_ev)


def test_progress_counts_per_child_region(world: World) -> None:
    d = issued(world, targets=[{"subtree": COUNTY}])
    a = mine(world, "grid-member", d["id"])
    act(world, "grid-member", a, "acknowledge")
    r = world.get("admin", f"/api/v1/directives/{d['id']}/progress", region=CITY)
    assert r.status_code == 200, r.text
    p = r.json()
    total = grids_under(world, COUNTY)
    assert p["region"]["total"] == total and p["region"]["acknowledged"] == 1
    county = next(c for c in p["children"] if c["code"] == COUNTY)
    assert (county["total"], county["delivered"], county["acknowledged"]) == (
        total, total - 1, 1)
    assert all(c["total"] == 0 for c in p["children"] if c["code"] != COUNTY)
    t = world.get("county", f"/api/v1/directives/{d['id']}/progress", region=TOWNSHIP).json()
    assert sum(c["total"] for c in t["children"]) == grids_under(world, TOWNSHIP)
    assert next(c for c in t["children"] if c["code"] == VILLAGE)["acknowledged"] == 1
    # Outside the caller's scope: not found.
    assert world.get("county", f"/api/v1/directives/{d['id']}/progress",
                     region=CITY).status_code == 404


def test_reminders_and_comments_from_an_intermediate_level(world: World) -> None:
    d = issued(world, targets=[{"subtree": TOWNSHIP}])
    a = mine(world, "grid-member", d["id"])
    r = world.client.post(f"/api/v1/directives/{d['id']}/remind", headers=world.auth("county"),
                          json={"region": VILLAGE, "note": "请尽快签收"})
    assert r.status_code == 200 and r.json()["reminded"] == grids_under(world, VILLAGE)
    after = world.get("grid-member", f"/api/v1/assignments/{a['id']}").json()
    assert after["reminders"] == 1 and after["version"] == a["version"]
    assert after["timeline"][-1]["action"] == "remind"
    # The reminded unit's action at the version it saw still goes through.
    assert act(world, "grid-member", a, "acknowledge").status_code == 200
    assert world.client.post(f"/api/v1/directives/{d['id']}/remind",
                             headers=world.auth("grid-member"),
                             json={}).status_code == 403
    c = world.client.post(f"/api/v1/directives/{d['id']}/comments",
                          headers=world.auth("township"), json={"text": "各村今日内完成"})
    assert c.status_code == 201
    seen = world.get("grid-member", f"/api/v1/directives/{d['id']}").json()["comments"]
    assert [x["note"] for x in seen] == ["各村今日内完成"]


def test_the_sweep_marks_late_units_and_escalates_emergencies(world: World) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)
    d = issued(world, "township", targets=[{"subtree": VILLAGE}], kind="emergency",
               ack_due_at=soon.isoformat(), due_at=(soon + timedelta(hours=1)).isoformat())
    a = mine(world, "grid-member", d["id"])
    act(world, "grid-leader", a, "acknowledge")

    async def run(now: datetime, minutes: float) -> tasks.DirectiveSweepResult:
        engine = create_engine(world.url)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await tasks.sweep(session, now=now, emergency_minutes=minutes)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    units = grids_under(world, VILLAGE)

    def marks() -> tuple[int, int, int]:
        """(marked acknowledge, marked complete, escalated) of this directive's units."""
        row = world.sql(
            "SELECT sum(CASE WHEN overdue_step = 'acknowledge' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN overdue_step = 'complete' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN escalated_at IS NOT NULL THEN 1 ELSE 0 END) "
            "FROM directive_assignments WHERE directive_id = :d", d=d["id"])[0]
        return tuple(int(x or 0) for x in row)  # type: ignore[return-value]

    first = asyncio.run(run(soon + timedelta(minutes=1), 60))
    assert first.marked >= units - 1 and marks() == (units - 1, 0, 0)
    asyncio.run(run(soon + timedelta(minutes=2), 60))
    assert marks() == (units - 1, 0, 0)  # nothing marked twice
    late = asyncio.run(run(soon + timedelta(hours=2), 30))
    # Everyone now misses completion; the unacknowledged emergencies are escalated.
    assert late.escalated >= units - 1 and marks() == (0, units, units - 1)
    p = world.get("township", f"/api/v1/directives/{d['id']}/progress", region=VILLAGE).json()
    assert p["region"]["overdue"] == units
    listed = world.get("township", "/api/v1/assignments", directive=d["id"], overdue="true")
    assert len(listed.json()["items"]) == units
    escalations = world.sql("SELECT region_code FROM event_log WHERE type = "
                            "'assignment.escalate' AND payload LIKE :p",
                            p=f'%"directive_id": {d["id"]}%')
    assert {r for (r,) in escalations} == {VILLAGE}
    done = act(world, "grid-member", world.get("grid-member",
                                               f"/api/v1/assignments/{a['id']}").json(),
               "complete", feedback={"households_checked": 1}).json()
    assert done["overdue"] is False


def test_lists_filter_by_region_and_status_with_keyset_pages(world: World) -> None:
    d = issued(world, "township", targets=[{"grids": [GRID, SIBLING_GRID]}])
    ids = lambda user, **q: [x["id"] for x in world.get(  # noqa: E731
        user, "/api/v1/directives", limit=200, **q).json()["items"]]
    assert d["id"] in ids("grid-member", status="open")
    assert d["id"] not in ids("grid-member", status="done")
    assert d["id"] in ids("county", region=VILLAGE)
    far_village = world.sql("SELECT min(code) FROM regions WHERE level = 'village' AND code "
                            "LIKE :c AND code <> :v", c=f"{TOWNSHIP}%", v=VILLAGE)[0][0]
    assert d["id"] not in ids("county", region=far_village)
    assert world.get("grid-member", "/api/v1/directives", region=COUNTY).status_code == 404
    a = mine(world, "grid-member", d["id"])
    act(world, "grid-member", a, "complete", feedback={"households_checked": 2})
    # Done for the grid; still open for the village (the sibling grid owes it).
    assert d["id"] in ids("grid-member", status="done")
    assert d["id"] in ids("village", status="open")
    # Keyset pages cover every directive once, newest first.
    seen: list[int] = []
    cursor = None
    while True:
        page = world.get("county", "/api/v1/directives", limit=2,
                         **({"before": cursor} if cursor else {})).json()
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(set(seen), reverse=True) == ids("county")


def test_case_counts_per_child_region_match_each_childs_summary(world: World) -> None:
    """The command centre colours child regions by open/overdue cases in one query."""
    from wangge.auth.subjects import subject_for
    from wangge.cases.service import case_service
    from wangge.models import Account

    async def by_child() -> dict[str, tuple[int, int]]:
        engine = create_engine(world.url)
        try:
            async with create_sessionmaker(engine)() as session:
                account = (await session.execute(
                    Account.__table__.select().where(Account.username == "county"))).first()
                assert account is not None
                subject = await subject_for(session, await session.get(Account, account.id))
                return await case_service.open_by_child(session, subject, COUNTY)
        finally:
            await engine.dispose()

    counts = asyncio.run(by_child())
    assert sum(n for n, _ in counts.values()) > 0
    for child in world.sql("SELECT code FROM regions WHERE parent_code = :c", c=COUNTY):
        s = world.get("county", "/api/v1/cases/summary", subtree=child[0]).json()
        assert counts.get(child[0], (0, 0)) == (s["open"], s["overdue"]), child[0]
