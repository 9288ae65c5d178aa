"""The case API's behaviours: idempotent intake, input errors naming the field, optimistic
concurrency, state and permission guards, scope, queue filters and pages, clocks (suspension,
extensions), rating, photos, categories, the calendar, and the audit and event trail."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from tests.cases.support import (
    GRID,
    QUIET_GRID,
    SIBLING_GRID,
    SIBLING_LEADER,
    STATION_OFFICER,
    VILLAGE,
    World,
    open_world,
    parse_time,
)
from tests.factories import jpeg_bytes, png_bytes

from wangge.cases.workflow import ACTIONS
from wangge.kit.calendar import LOCAL, Limit

# Small enough to test the limit with a hand-made PNG.
PHOTO_MAX_BYTES = 4096


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("case-api")),
                    photo_max_bytes=PHOTO_MAX_BYTES) as w:
        yield w


def point_in(world: World, grid: str) -> dict[str, float]:
    """A WGS-84 point inside ``grid`` (from its village's map, read as the city admin)."""
    collection = world.get("admin", f"/api/v1/regions/{grid[:12]}/geometry").json()
    feature = next(f for f in collection["features"] if f["properties"]["code"] == grid)
    p = shapely.geometry.shape(feature["geometry"]).representative_point()
    return {"lng": round(p.x, 7), "lat": round(p.y, 7)}


def dispatched(world: World, user: str = "grid-member", category: str = "99") -> dict[str, Any]:
    """A case of the demo grid dispatched by its leader to the grid team."""
    case = world.new_case(user, category)
    case = world.step("grid-leader", case, "accept")
    return world.step("grid-leader", case, "dispatch", handler={"region": GRID})


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


class TestIdempotentIntake:
    def test_the_same_report_twice_is_one_case(self, world: World) -> None:
        body = {"client_uuid": str(uuid.uuid4()), "category_code": "99", "title": "路灯损坏",
                "description": "小区门口路灯不亮", "grid_code": GRID}
        first = world.client.post("/api/v1/cases", json=body, headers=world.auth("grid-member"))
        again = world.client.post("/api/v1/cases", json=body, headers=world.auth("grid-member"))
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["number"] == first.json()["number"]
        assert again.json()["version"] == 1
        assert world.audit(first.json()["id"]) == [
            ("case.reported", "grid-member", f"grid_member@{GRID}")]

    def test_other_content_under_the_same_uuid_is_409_naming_the_case(self,
                                                                      world: World) -> None:
        case = world.new_case("grid-member", title="井盖缺失")
        r = world.report("grid-member", client_uuid=case["client_uuid"], title="井盖破损")
        assert r.status_code == 409
        assert r.json()["field"] == "client_uuid" and r.json()["case_id"] == case["id"]

    def test_another_reporter_reusing_a_uuid_learns_nothing_of_the_case(self,
                                                                        world: World) -> None:
        body = {"client_uuid": str(uuid.uuid4()), "category_code": "99", "title": "违章搭建",
                "description": "楼顶搭建彩钢房", "grid_code": GRID}
        case = world.client.post("/api/v1/cases", json=body, headers=world.auth("grid-member"))
        r = world.client.post("/api/v1/cases", json=body, headers=world.auth("grid-leader"))
        assert r.status_code == 409 and r.json()["field"] == "client_uuid"
        assert "case_id" not in r.json()
        assert case.json()["number"] not in r.text


class TestIntakeValidation:
    """A bad report is a 422 naming the field; nothing is stored."""

    @pytest.mark.parametrize(("user", "changes", "field"), [
        ("grid-member", {"category_code": "77"}, "category_code"),
        ("grid-member", {"category_code": "0106", "fields": {"people_count": 0}},
         "fields.people_count"),
        ("grid-member", {"category_code": "0106", "fields": {"scale": "huge"}},
         "fields.scale"),
        ("grid-member", {"category_code": "0106", "fields": {"weather": "rain"}}, "fields"),
        ("grid-member", {"grid_code": None, "location": {"lng": 10.0, "lat": 10.0}},
         "location"),
        ("grid-member", {"grid_code": f"{VILLAGE}999"}, "grid_code"),
        ("grid-member", {"grid_code": SIBLING_GRID}, "grid_code"),  # outside the caller's area
        ("grid-member", {"photos": [999_999]}, "photos"),
        ("grid-member", {"source": "fax"}, "source"),
        ("grid-member", {"parties": [{"name": ""}]}, "parties.0.name"),
    ])
    def test_bad_input_names_the_field(self, world: World, user: str, changes: dict[str, Any],
                                       field: str) -> None:
        r = world.report(user, **changes)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field, r.json()

    def test_a_point_in_another_grid_of_the_village_is_outside_a_members_area(
        self, world: World
    ) -> None:
        r = world.report("grid-member", grid=None, location=point_in(world, SIBLING_GRID))
        assert r.status_code == 422 and r.json()["field"] == "location"
        assert SIBLING_GRID not in r.text
        # The village commander may report there, and the point finds its grid.
        ok = world.report("village", grid=None, location=point_in(world, SIBLING_GRID))
        assert ok.status_code == 201 and ok.json()["region_code"] == SIBLING_GRID

    def test_a_location_contradicting_the_grid_code_is_refused(self, world: World) -> None:
        r = world.report("village", grid=QUIET_GRID, location=point_in(world, SIBLING_GRID))
        assert r.status_code == 422 and r.json()["field"] == "grid_code"
        assert SIBLING_GRID in r.json()["message"]  # the caller may see where it lies

    def test_a_report_needs_a_place_and_self_handling_needs_evidence(self,
                                                                     world: World) -> None:
        nowhere = world.report("grid-member", grid=None)
        assert nowhere.status_code == 422 and nowhere.json()["field"] == "location"
        assert nowhere.json()["message"].startswith("location: ")
        bare = world.report("grid-member", "06", self_handled=True)
        assert bare.status_code == 422 and bare.json()["field"] == "evidence"

    def test_someone_elses_upload_cannot_be_attached(self, world: World) -> None:
        theirs = world.photo_id("grid-leader")
        r = world.report("grid-member", photos=[theirs])
        assert r.status_code == 422 and r.json()["field"] == "photos"
        assert world.get("grid-member", f"/api/v1/photos/{theirs}").status_code == 404


class TestActionValidation:
    """An action missing what it needs is a 422 naming the field; the case is unchanged."""

    def test_reasons_notes_and_handlers_are_required(self, world: World) -> None:
        case = world.new_case("grid-member")
        for action in ("void", "escalate"):
            r = world.act("grid-leader", case, action)
            assert r.status_code == 422 and r.json()["field"] == "reason", action
        case = world.step("grid-leader", case, "accept")
        r = world.act("grid-leader", case, "suspend", reason="  ")
        assert r.status_code == 422 and r.json()["field"] == "reason"
        r = world.act("grid-leader", case, "dispatch")
        assert r.status_code == 422 and r.json()["field"] == "handler"
        case = world.step("grid-leader", case, "dispatch", handler={"region": GRID})
        r = world.act("grid-member", case, "report_handled")
        assert r.status_code == 422 and r.json()["field"] == "note"
        case = world.step("grid-member", case, "report_handled", note="已处理")
        r = world.act("grid-leader", case, "rework")
        assert r.status_code == 422 and r.json()["field"] == "reason"
        assert world.detail("grid-leader", case["id"])["version"] == case["version"]

    @pytest.mark.parametrize(("handler", "field"), [
        ({"region": SIBLING_GRID}, "handler.region"),  # not on the case's path
        ({"region": VILLAGE}, "handler.region"),  # above the owning level (the grid)
        ({"organisation": "PS410702001"}, "handler.organisation"),  # serves another township
        ({"organisation": "PS999"}, "handler.organisation"),
        ({"region": GRID, "organisation": "PB410702"}, "handler"),
    ])
    def test_a_handler_off_the_cases_path_is_refused(self, world: World,
                                                     handler: dict[str, str],
                                                     field: str) -> None:
        case = world.step("grid-leader", world.new_case("grid-member"), "accept")
        r = world.act("grid-leader", case, "dispatch", handler=handler)
        assert r.status_code == 422 and r.json()["field"] == field, r.json()

    def test_fields_reported_with_the_feedback_follow_the_schema(self, world: World) -> None:
        case = dispatched(world, category="0106")
        r = world.act("grid-member", case, "report_handled", note="调解",
                      fields={"people_count": -1})
        assert r.status_code == 422 and r.json()["field"] == "fields.people_count"


class TestConcurrency:
    def test_a_stale_version_is_409_with_the_current_one(self, world: World) -> None:
        case = world.new_case("grid-member")
        accepted = world.step("grid-leader", case, "accept")
        # The deputy decided on the reported case (version 1) too.
        r = world.act("grid-deputy", case, "void", reason="重复上报")
        assert r.status_code == 409
        assert r.json()["field"] == "version"
        assert r.json()["current_version"] == accepted["version"] == 2
        assert world.detail("grid-leader", case["id"])["status"] == "accepted"


class TestGuards:
    def test_an_action_the_state_does_not_allow_is_409_listing_the_allowed(
        self, world: World
    ) -> None:
        case = world.new_case("grid-member")
        r = world.act("grid-leader", case, "close")
        assert r.status_code == 409
        assert r.json()["status"] == "reported"
        assert r.json()["allowed"] == ["accept", "void", "escalate"]

    def test_an_action_the_caller_may_not_take_is_403(self, world: World) -> None:
        case = world.new_case("grid-member")
        r = world.act("grid-member", case, "accept")
        assert r.status_code == 403 and r.json()["action"] == "accept"
        assert r.json()["allowed"] == []
        assert world.act("grid-support", case, "void", reason="x").status_code == 403

    def test_an_unknown_action_is_422(self, world: World) -> None:
        case = world.new_case("grid-member")
        assert world.act("grid-leader", case, "delete").status_code == 422

    def test_a_case_of_another_region_does_not_exist_for_the_caller(self,
                                                                    world: World) -> None:
        case = world.new_case("grid-member", title="邻格看不到")
        r = world.get(SIBLING_LEADER, f"/api/v1/cases/{case['id']}")
        assert r.status_code == 404 and GRID not in r.text
        assert world.act(SIBLING_LEADER, case, "accept").status_code == 404
        assert case["id"] not in ids(world.get(SIBLING_LEADER, "/api/v1/cases", limit=200))
        assert world.get(SIBLING_LEADER, "/api/v1/cases/999999").status_code == 404


@dataclass
class Queue:
    """Seven cases of one grid, one per queue state, and the grid's summary before them (the
    demo has cases there too)."""

    ids: dict[str, int]
    before: dict[str, Any]

    @property
    def all(self) -> set[int]:
        return set(self.ids.values())

    def only(self, *names: str) -> set[int]:
        return {self.ids[n] for n in names}


@pytest.fixture(scope="module")
def queue(world: World) -> Queue:
    before = world.get("village", "/api/v1/cases/summary", subtree=QUIET_GRID).json()
    out: dict[str, int] = {}
    c = world.new_case("village", "99", grid=QUIET_GRID, title="reported")
    out["reported"] = c["id"]
    c = world.new_case("village", "99", grid=QUIET_GRID, title="accepted")
    out["accepted"] = world.step("village", c, "accept")["id"]
    c = world.step("village", world.new_case("village", "0106", grid=QUIET_GRID), "accept")
    out["dispatched"] = world.step("village", c, "dispatch",
                                   handler={"organisation": world.station})["id"]
    c = world.step("village", world.new_case("village", "08", grid=QUIET_GRID), "accept")
    c = world.step("village", c, "dispatch", handler={"region": QUIET_GRID})
    out["handled"] = world.step("village", c, "report_handled", note="已清运")["id"]
    out["closed"] = world.new_case("village", "06", grid=QUIET_GRID, self_handled=True,
                                   evidence={"note": "当场核实"})["id"]
    c = world.new_case("village", "99", grid=QUIET_GRID)
    out["voided"] = world.step("village", c, "void", reason="重复")["id"]
    out["overdue"] = world.new_case("village", "0102", grid=QUIET_GRID)["id"]
    world.update_case(out["overdue"], overdue_at=parse_time("2026-01-05T01:00:00+00:00"))
    return Queue(out, before)


class TestQueue:
    """``GET /api/v1/cases`` filters and keyset pages. The grid holds demo cases too: each
    filter must pick exactly the right ones of ours, and only cases that match."""

    def find(self, world: World, queue: Queue, user: str = "village",
             **params: Any) -> tuple[set[int], list[dict[str, Any]]]:
        r = world.get(user, "/api/v1/cases", subtree=QUIET_GRID, limit=200, **params)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert r.json()["next_cursor"] is None, "the grid has more cases than one page"
        assert all(c["region_code"] == QUIET_GRID for c in items)
        return {c["id"] for c in items} & queue.all, items

    def test_status_filters(self, world: World, queue: Queue) -> None:
        found, _ = self.find(world, queue)
        assert found == queue.all
        found, items = self.find(world, queue, status="reported")
        assert found == queue.only("reported", "overdue")
        assert {c["status"] for c in items} == {"reported"}
        found, items = self.find(world, queue, status=["closed", "voided"])
        assert found == queue.only("closed", "voided")
        assert {c["status"] for c in items} == {"closed", "voided"}
        assert world.get("village", "/api/v1/cases", status="lost").status_code == 422

    def test_category_filter_includes_the_children(self, world: World, queue: Queue) -> None:
        found, items = self.find(world, queue, category="01")
        assert found == queue.only("dispatched", "overdue")
        assert all(c["category_code"].startswith("01") for c in items)
        found, items = self.find(world, queue, category="0106")
        assert found == queue.only("dispatched")
        assert {c["category_code"] for c in items} == {"0106"}

    def test_overdue_and_self_handled_filters(self, world: World, queue: Queue) -> None:
        found, items = self.find(world, queue, overdue="true")
        assert found == queue.only("overdue") and all(c["overdue"] for c in items)
        found, items = self.find(world, queue, overdue="false")
        assert found == queue.all - queue.only("overdue")
        assert not any(c["overdue"] for c in items)
        found, items = self.find(world, queue, self_handled="true")
        assert found == queue.only("closed") and all(c["self_handled"] for c in items)
        found, items = self.find(world, queue, self_handled="false")
        assert found == queue.all - queue.only("closed")
        assert not any(c["self_handled"] for c in items)

    def test_mine_is_what_waits_for_the_caller(self, world: World, queue: Queue) -> None:
        # The station handles what was dispatched to it.
        found, items = self.find(world, queue, STATION_OFFICER, mine="true")
        assert found == queue.only("dispatched")
        assert all(c["handler"]["code"] == world.station
                   and c["status"] in ("dispatched", "in_progress") for c in items)
        # The deputy manages the grid (and works for the station): everything open of ours.
        found, _ = self.find(world, queue, "grid-deputy", mine="true")
        assert found == queue.only("reported", "accepted", "dispatched", "handled", "overdue")
        # The village manages only what is owned by the village.
        found, items = self.find(world, queue, "village", mine="true")
        assert found == set() and all(c["owner_code"] == VILLAGE for c in items)

    def test_keyset_pages_have_no_duplicates_or_gaps(self, world: World, queue: Queue) -> None:
        everything = ids(world.get("village", "/api/v1/cases", subtree=QUIET_GRID, limit=200))
        assert everything == sorted(everything, reverse=True)
        assert queue.all <= set(everything)
        pages: list[list[int]] = []
        cursor: int | None = None
        while True:
            params: dict[str, Any] = {"subtree": QUIET_GRID, "limit": 3}
            if cursor is not None:
                params["before"] = cursor
            page = world.get("village", "/api/v1/cases", **params).json()
            pages.append([c["id"] for c in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert cursor == pages[-1][-1]
        assert all(len(p) == 3 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 3
        assert [i for p in pages for i in p] == everything
        assert world.get("village", "/api/v1/cases", limit=0).status_code == 422

    def test_a_subtree_outside_the_scope_is_empty(self, world: World, queue: Queue) -> None:
        for user in ("grid-member", SIBLING_LEADER):
            r = world.get(user, "/api/v1/cases", subtree=QUIET_GRID)
            assert r.status_code == 200 and r.json()["items"] == [], user

    def test_summary_counts_by_status_and_overdue(self, world: World, queue: Queue) -> None:
        r = world.get("village", "/api/v1/cases/summary", subtree=QUIET_GRID)
        assert r.status_code == 200
        after, before = r.json(), queue.before
        added = {s: n - before["by_status"].get(s, 0) for s, n in after["by_status"].items()}
        assert {s: n for s, n in added.items() if n} == {
            "reported": 2, "accepted": 1, "dispatched": 1, "handled": 1, "closed": 1,
            "voided": 1}
        assert after["open"] - before["open"] == 5
        assert after["overdue"] - before["overdue"] == 1
        assert after["region_code"] == QUIET_GRID
        assert after["open"] == sum(n for s, n in after["by_status"].items()
                                    if s not in ("closed", "voided"))
        outside = world.get("grid-member", "/api/v1/cases/summary", subtree=QUIET_GRID).json()
        assert outside["by_status"] == {} and outside["open"] == 0


class TestSuspension:
    def test_a_suspended_clock_stops_and_resumes_with_the_time_it_had_left(
        self, world: World
    ) -> None:
        case = dispatched(world)
        due = parse_time(case["due_at"])
        assert due is not None
        case = world.step("grid-leader", case, "suspend", reason="等待当事人返乡")
        assert case["status"] == "suspended" and case["step"] is None
        assert case["due_at"] is None and case["suspended_at"] is not None
        assert case["allowed_actions"] == ["resume"]
        assert world.act("grid-member", case, "start").status_code == 409
        suspended_at = parse_time(case["suspended_at"])
        assert suspended_at is not None
        remaining = world.detail("grid-leader", case["id"])["timeline"][-1]["data"][
            "remaining_seconds"]
        assert abs((due - suspended_at).total_seconds() - remaining) <= 1

        # Set-up: the suspension happened three hours ago, with the same time left; the
        # deadline was then (three hours ago + remaining).
        paused_since = suspended_at - timedelta(hours=3)
        world.update_case(case["id"], suspended_at=paused_since)
        old_due = paused_since + timedelta(seconds=remaining)
        case = world.step("grid-leader", case, "resume")
        assert case["status"] == "dispatched" and case["step"] == "handle"
        assert case["suspended_at"] is None and case["overdue"] is False
        resumed = world.detail("grid-leader", case["id"])["timeline"][-1]
        assert resumed["action"] == "resume"
        paused = resumed["data"]["paused_seconds"]
        assert 3 * 3600 <= paused < 3 * 3600 + 60
        # The step gets back the time it had left: the deadline moves by the pause.
        new_due = parse_time(case["due_at"])
        assert new_due is not None
        assert abs((new_due - old_due).total_seconds() - paused) <= 1

    def test_only_the_manager_suspends(self, world: World) -> None:
        case = dispatched(world)
        assert world.act("grid-member", case, "suspend", reason="x").status_code == 403


class TestExtension:
    def test_an_approved_extension_moves_the_deadline_by_the_limit(self, world: World) -> None:
        case = dispatched(world)
        due = parse_time(case["due_at"])
        assert due is not None
        r = world.act("grid-member", case, "request_extension", reason="需协调多个部门")
        assert r.status_code == 422 and r.json()["field"] == "extra"
        r = world.act("grid-member", case, "request_extension", extra="3 weeks", reason="x")
        assert r.status_code == 422 and r.json()["field"] == "extra"
        assert world.act("grid-leader", case, "approve_extension").status_code == 409

        case = world.step("grid-member", case, "request_extension", extra="2wd",
                          reason="需协调多个部门")
        assert case["extension_request"]["extra"] == "2wd"
        assert parse_time(case["due_at"]) == due
        assert world.act("grid-member", case, "approve_extension").status_code == 403
        case = world.step("grid-leader", case, "approve_extension")
        assert case["extension_request"] is None
        assert parse_time(case["due_at"]) == world.calendar().deadline(due, Limit(2, "wd"))
        assert world.act("grid-leader", case, "approve_extension").status_code == 409

    def test_a_refused_extension_keeps_the_deadline(self, world: World) -> None:
        case = dispatched(world)
        case = world.step("grid-member", case, "request_extension", extra="4h", reason="雨天")
        refused = world.step("grid-leader", case, "approve_extension", approve=False)
        assert refused["due_at"] == case["due_at"] and refused["extension_request"] is None
        entry = world.detail("grid-leader", case["id"])["timeline"][-1]
        assert entry["data"] == {"approved": False, "extra": "4h"}


class TestRating:
    def test_the_reporter_rates_once(self, world: World) -> None:
        case = world.new_case("grid-member", "06", self_handled=True,
                              evidence={"note": "当场处置"})
        r = world.act("grid-member", case, "rate")
        assert r.status_code == 422 and r.json()["field"] == "rating"
        assert world.act("grid-member", case, "rate", rating=6).status_code == 422
        assert world.act("grid-support", case, "rate", rating=1).status_code == 403
        case = world.step("grid-member", case, "rate", rating=4)
        assert case["rating"] == 4
        again = world.act("grid-member", case, "rate", rating=5)
        assert again.status_code == 409 and again.json()["allowed"] == ["spot_check"]

    def test_an_open_case_cannot_be_rated(self, world: World) -> None:
        case = world.new_case("grid-member")
        r = world.act("grid-member", case, "rate", rating=5)
        assert r.status_code == 409 and "rate" not in r.json()["allowed"]


class TestPhotos:
    def test_png_and_jpeg_uploads_are_sniffed_and_stored(self, world: World) -> None:
        for content, mime in ((png_bytes(4, 3), "image/png"), (jpeg_bytes(), "image/jpeg")):
            r = world.upload("grid-member", content, name="photo.bin")
            assert r.status_code == 201, r.text
            assert r.json()["content_type"] == mime and r.json()["size"] == len(content)
            assert r.json()["sha256"] == hashlib.sha256(content).hexdigest()
            back = world.get("grid-member", f"/api/v1/photos/{r.json()['id']}")
            assert back.status_code == 200 and back.content == content
            assert back.headers["content-type"] == mime

    def test_too_large_is_413_and_not_an_image_is_422(self, world: World) -> None:
        big = world.upload("grid-member", png_bytes(padding=PHOTO_MAX_BYTES))
        assert big.status_code == 413 and big.json()["field"] == "file"
        for content in (b"just some text, not a photo", b"%PDF-1.4\n", b""):
            r = world.upload("grid-member", content, name="photo.png")
            assert r.status_code == 422 and r.json()["field"] == "file", content
        assert world.client.post("/api/v1/photos", headers=world.auth("grid-member"),
                                 files={}).status_code == 422

    def test_an_upload_is_private_until_attached_then_seen_by_the_cases_readers(
        self, world: World
    ) -> None:
        photo = world.photo_id("grid-member", png_bytes(2, 2))
        assert world.get("county", f"/api/v1/photos/{photo}").status_code == 404
        case = world.new_case("grid-member", photos=[photo])
        assert case["photos"] == [photo]
        report = world.detail("county", case["id"])["timeline"][0]
        assert report["action"] == "report" and report["photos"] == [photo]
        for user in ("grid-member", "grid-leader", "county", "admin"):
            assert world.get(user, f"/api/v1/photos/{photo}").status_code == 200, user
        assert world.get(SIBLING_LEADER, f"/api/v1/photos/{photo}").status_code == 404
        # Attached once: it cannot be attached again.
        again = world.report("grid-member", photos=[photo])
        assert again.status_code == 422 and again.json()["field"] == "photos"

    def test_evidence_photos_attach_to_the_action(self, world: World) -> None:
        case = dispatched(world)
        photo = world.photo_id("grid-member", png_bytes(3, 3))
        case = world.step("grid-member", case, "report_handled", note="已修复",
                          photos=[photo])
        assert case["photos"] == [photo]
        entry = world.detail("grid-leader", case["id"])["timeline"][-1]
        assert entry["action"] == "report_handled" and entry["photos"] == [photo]

    def test_photos_of_a_police_only_case_stay_with_police_readers(self,
                                                                   world: World) -> None:
        photo = world.photo_id("grid-member", png_bytes(5, 1))
        world.new_case("grid-member", "05", photos=[photo], fields={"clue_kind": "drugs"})
        assert world.get("grid-support", f"/api/v1/photos/{photo}").status_code == 404
        assert world.get("grid-deputy", f"/api/v1/photos/{photo}").status_code == 200


CATEGORY: dict[str, Any] = {"code": "97", "name": "测试类别", "name_en": "Test category",
            "handling_level": "grid", "limits": {"accept": "45m", "dispatch": "1h",
                                                 "handle": "2wd", "verify": "1wd"},
            "fields_schema": {"type": "object", "additionalProperties": False,
                              "properties": {"floor": {"type": "integer", "minimum": 1}}}}


class TestCategories:
    def test_the_default_tree(self, world: World) -> None:
        r = world.get("grid-member", "/api/v1/case-categories")
        assert r.status_code == 200
        by_code = {c["code"]: c for c in r.json()}
        assert {f"01{i:02d}" for i in range(1, 16)} <= set(by_code)
        assert {"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "99"} <= set(by_code)
        dispute = by_code["0106"]
        assert dispute["parent_code"] == "01" and dispute["name"] == "损害赔偿纠纷"
        assert "people_count" in dispute["fields_schema"]["properties"]
        assert set(dispute["limits"]) == {"accept", "dispatch", "handle", "verify"}
        clue = by_code["05"]
        assert clue["police_only"] is True and clue["department_kind"] == "police_station"
        assert not any(c["police_only"] for code, c in by_code.items() if code != "05")

    def test_a_city_admin_adds_a_category_that_reports_use_at_once(self,
                                                                   world: World) -> None:
        r = world.client.put("/api/v1/case-categories/97", json=CATEGORY,
                             headers=world.auth("admin"))
        assert r.status_code == 200, r.text
        assert r.json()["limits"]["accept"] == "45m" and r.json()["parent_code"] is None
        assert "97" in {c["code"] for c in world.get("grid-member",
                                                     "/api/v1/case-categories").json()}
        audit = world.sql("SELECT actor, post, changes FROM audit_records WHERE "
                          "action = 'case_category.saved' AND target_id = '97'")
        assert [(a, p) for a, p, _ in audit] == [("admin", "admin@4107")]
        assert json.loads(audit[0][2])["limits"][1]["accept"] == "45m"

        case = world.new_case("grid-member", "97", fields={"floor": 3})
        reported = parse_time(case["reported_at"])
        assert reported is not None
        assert parse_time(case["due_at"]) == reported + timedelta(minutes=45)
        bad = world.report("grid-member", "97", fields={"floor": 0})
        assert bad.status_code == 422 and bad.json()["field"] == "fields.floor"

        off = world.client.put("/api/v1/case-categories/97", json={**CATEGORY, "active": False},
                               headers=world.auth("admin"))
        assert off.status_code == 200
        r = world.report("grid-member", "97", fields={"floor": 3})
        assert r.status_code == 422 and r.json()["field"] == "category_code"

    def test_a_county_commander_may_not_edit(self, world: World) -> None:
        r = world.client.put("/api/v1/case-categories/96", json={**CATEGORY, "code": "96"},
                             headers=world.auth("county"))
        assert r.status_code == 403
        assert "96" not in {c["code"] for c in world.get("county",
                                                         "/api/v1/case-categories").json()}

    @pytest.mark.parametrize(("changes", "field"), [
        ({"limits": {**CATEGORY["limits"], "handle": "3 weeks"}}, "limits.handle"),
        ({"limits": {"accept": "0m"}}, "limits.accept"),
        ({"fields_schema": {"type": "nonsense"}}, "fields_schema"),
        ({"code": "9601"}, "code"),  # the parent 96 does not exist
        ({"code": "95"}, "code"),  # the path says 96
        ({"handling_level": "planet"}, "handling_level"),
    ])
    def test_bad_category_input_names_the_field(self, world: World, changes: dict[str, Any],
                                                field: str) -> None:
        body = {**CATEGORY, "code": "96", **changes}
        path = "9601" if body["code"] == "9601" else "96"
        r = world.client.put(f"/api/v1/case-categories/{path}", json=body,
                             headers=world.auth("admin"))
        assert r.status_code == 422 and r.json()["field"] == field, r.json()


class TestCalendar:
    def test_a_year_lists_holidays_and_make_up_workdays(self, world: World) -> None:
        r = world.get("grid-member", "/api/v1/calendar", year=2026)
        assert r.status_code == 200
        days = {d["day"]: d for d in r.json()}
        assert days["2026-10-01"]["workday"] is False
        assert days["2026-10-01"]["source"] == "official"
        assert days["2026-10-01"]["name"] == "国庆节"
        assert days["2026-09-20"]["workday"] is True  # Sunday, worked for the National Day
        assert days["2026-02-17"]["workday"] is False  # Spring Festival
        assert "2026-10-09" not in days  # an ordinary Friday
        assert all(d.startswith("2026-") for d in days)
        assert world.get("grid-member", "/api/v1/calendar").status_code == 422

    def test_a_city_admin_overrides_a_day(self, world: World) -> None:
        # A past day: deadlines computed from now do not cross it.
        day = date(2026, 3, 10)
        assert day < datetime.now(LOCAL).date()
        r = world.client.put(f"/api/v1/calendar/{day}", json={"kind": "holiday",
                                                                "name": "地方假日"},
                             headers=world.auth("admin"))
        assert r.status_code == 200
        assert r.json() == {"day": "2026-03-10", "workday": False, "source": "override",
                            "name": "地方假日"}
        days = {d["day"]: d for d in world.get("county", "/api/v1/calendar",
                                               year=2026).json()}
        assert days["2026-03-10"]["source"] == "override"
        audit = world.sql("SELECT actor FROM audit_records WHERE action = 'calendar.day_set' "
                          "AND target_id = '2026-03-10'")
        assert [a for (a,) in audit] == ["admin"]
        assert world.client.put(f"/api/v1/calendar/{day}", json={"kind": "workday",
                                                                  "name": "x"},
                                headers=world.auth("county")).status_code == 403
        bad = world.client.put(f"/api/v1/calendar/{day}", json={"kind": "party", "name": "x"},
                               headers=world.auth("admin"))
        assert bad.status_code == 422 and bad.json()["field"] == "kind"


class TestTrail:
    """Every action is audited as ``case.<action>`` and published as a ``case.<action>``
    event; the audit API shows a case's trail to the administrators above it."""

    def test_every_action_leaves_an_audit_record_and_an_event(self, world: World) -> None:
        seen: set[str] = set()
        # The full life of a case, with every side path that returns to it.
        case = world.new_case("grid-member")
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("grid-leader", "accept", {}),
            ("grid-leader", "suspend", {"reason": "等待"}),
            ("grid-leader", "resume", {}),
            ("grid-leader", "dispatch", {"handler": {"region": GRID}}),
            ("grid-member", "request_extension", {"extra": "1wd", "reason": "雨天"}),
            ("grid-leader", "approve_extension", {}),
            ("grid-member", "start", {}),
            ("grid-member", "report_handled", {"note": "已处理"}),
            ("grid-leader", "rework", {"reason": "照片不清楚"}),
            ("grid-member", "report_handled", {"note": "已重新处理"}),
            ("grid-leader", "close", {}),
            ("grid-member", "rate", {"rating": 3}),
        ]
        for user, action, body in steps:
            case = world.step(user, case, action, **body)
        actions = [a for _, a, _ in steps]
        assert [a for a, _, _ in world.audit(case["id"])] == [
            "case.reported", *(f"case.{a}" for a in actions)]
        assert world.events(case["id"]) == ["case.report", *(f"case.{a}" for a in actions)]
        assert case["rework_count"] == 1
        seen |= set(actions)

        other = world.new_case("grid-member")
        other = world.step("grid-leader", other, "escalate", reason="超出网格能力")
        other = world.step("village", other, "void", reason="重复上报")
        assert world.events(other["id"]) == ["case.report", "case.escalate", "case.void"]
        assert [a for a, _, _ in world.audit(other["id"])] == [
            "case.reported", "case.escalate", "case.void"]
        seen |= {"escalate", "void"}

        checked = world.new_case("grid-member", "06", self_handled=True,
                                 evidence={"note": "当场处置"})
        world.step("grid-leader", checked, "spot_check", passed=False, reason="未见处置照片")
        reopened = world.detail("grid-leader", checked["id"])
        assert reopened["status"] == "accepted" and reopened["spot_check"] == "failed"
        assert reopened["closed_at"] is None
        assert world.events(checked["id"]) == ["case.self_handle", "case.spot_check"]
        seen.add("spot_check")
        assert seen == set(ACTIONS)

        trail = world.get("admin", "/api/v1/audit", target_type="case",
                          target_id=str(case["id"]), limit=100)
        assert trail.status_code == 200
        assert [r["action"] for r in trail.json()["items"]][::-1] == [
            "case.reported", *(f"case.{a}" for a in actions)]
        assert world.get(SIBLING_LEADER, "/api/v1/audit", target_type="case",
                         target_id=str(case["id"])).status_code in (403, 404)
