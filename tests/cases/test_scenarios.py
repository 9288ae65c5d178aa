"""The stories of BRIEF.md replayed through the HTTP API, asserting every state, actor (user and
post), timestamp and deadline along the way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cases.support import (
    BUREAU,
    GRID,
    INVESTIGATOR,
    STATION_OFFICER,
    TOWNSHIP,
    VILLAGE,
    World,
    open_world,
    stamp,
)

LEADER, DEPUTY, MEMBER = (f"grid_leader@{GRID}", f"deputy_grid_leader@{GRID}",
                          f"grid_member@{GRID}")
TIMESTAMPS = ("reported_at", "accepted_at", "dispatched_at", "handled_at", "closed_at")
# (action, actor, post, from status, to status)
Entry = tuple[str, str, str | None, str | None, str]


@pytest.fixture(scope="module")
def world(xinxiang: str, pg_schemas: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("scenarios"))) as w:
        yield w


def at(case: dict[str, Any], name: str) -> datetime:
    assert case[name] is not None, f"{name} is not set"
    return stamp(case[name])


def check_timeline(case: dict[str, Any], expected: list[Entry]) -> list[dict[str, Any]]:
    """The case's timeline is exactly ``expected``, in order, with growing times and versions;
    returns its entries."""
    timeline = case["timeline"]
    assert [(t["action"], t["actor"], t["post"], t["from_status"], t["to_status"])
            for t in timeline] == expected
    times = [stamp(t["at"]) for t in timeline]
    assert times == sorted(times), "timeline times go backwards"
    versions = [t["version"] for t in timeline]
    assert versions == list(range(1, len(versions) + 1)), versions
    assert case["version"] == versions[-1]
    return list(timeline)


def check_timestamps(case: dict[str, Any], *set_: str) -> None:
    """Exactly the ``set_`` workflow timestamps are set, and they never go backwards."""
    assert {n for n in TIMESTAMPS if case[n] is not None} == {"reported_at", *set_}
    values = [stamp(case[n]) for n in TIMESTAMPS if case[n] is not None]
    assert values == sorted(values)


def entry_time(case: dict[str, Any], action: str) -> datetime:
    found = [t for t in case["timeline"] if t["action"] == action]
    assert found, f"no {action} in the timeline"
    return stamp(found[-1]["at"])


class TestShopOwnersTip:
    """A shop owner phones a grid member about a man back from travel without registering; the
    member checks him within minutes (a false alarm) and closes it on the spot; the township
    spot-checks the closure."""

    def test_self_handled_in_minutes_then_spot_checked_by_the_township(self,
                                                                      world: World) -> None:
        photo = world.photo_id("grid-member")
        case = world.new_case(
            "grid-member", "06", title="返乡人员未登记", source="phone",
            description="店主来电：一名外地返乡人员未登记",
            self_handled=True,
            evidence={"note": "5分钟内上门核查，已登记，系误报", "photos": [photo]})
        assert case["status"] == "closed" and case["self_handled"] is True
        assert case["spot_check"] == "pending" and case["step"] is None
        assert case["due_at"] is None and case["owner_code"] == GRID
        assert case["reporter"] == "grid-member" and case["reporter_post"] == MEMBER
        assert case["handler"]["kind"] == "region" and case["handler"]["code"] == GRID
        assert case["number"].startswith("SJ-410702-")
        assert case["photos"] == [photo]
        check_timestamps(case, "accepted_at", "handled_at", "closed_at")
        reported = at(case, "reported_at")
        assert at(case, "closed_at") - reported < timedelta(minutes=5)
        assert at(case, "accepted_at") == at(case, "handled_at") == at(case, "closed_at")

        # The member may not check their own closure; the township commander does.
        assert world.act("grid-member", case, "spot_check", passed=True).status_code == 403
        as_township = world.detail("township", case["id"])
        assert "spot_check" in as_township["allowed_actions"]
        checked = world.step("township", case, "spot_check", passed=True,
                             note="电话回访店主，情况属实")
        assert checked["status"] == "closed" and checked["spot_check"] == "passed"
        assert "spot_check" not in checked["allowed_actions"]

        final = world.detail("grid-member", case["id"])
        timeline = check_timeline(final, [
            ("report", "grid-member", MEMBER, None, "reported"),
            ("self_handle", "grid-member", MEMBER, "reported", "closed"),
            ("spot_check", "township", f"commander@{TOWNSHIP}", "closed", "closed"),
        ])
        assert timeline[1]["note"] == "5分钟内上门核查，已登记，系误报"
        assert timeline[1]["photos"] == [photo]
        assert timeline[2]["data"] == {"passed": True}
        assert stamp(timeline[0]["at"]) >= reported
        assert world.events(case["id"]) == ["case.self_handle", "case.spot_check"]
        assert [a for a, _, _ in world.audit(case["id"])] == ["case.reported",
                                                             "case.spot_check"]


DISPUTE_FIELDS = {"people_count": 32, "scale": "large", "occurred_on": "2026-11-29"}
PARTIES = [{"name": "受伤工人家属", "role": "申请人"},
           {"name": "某机械厂", "role": "被申请人", "address": "厂区大门"}]
MEDIATION = {"mediation_method": "on_site", "success": True,
             "outcome": "当面调解两小时，双方就赔偿金额达成一致，人员散去"}


class TestFactoryGateStandOff:
    """20+ relatives with shovels face 10+ workers at a factory gate over an injury payout: the
    grid member reports it to the deputy grid leader (a police officer), who takes it in, sends
    the grid team and mediates face to face until both sides settle; the grid leader verifies
    and closes."""

    def test_reported_to_the_deputy_mediated_and_closed_by_the_grid_leader(
        self, world: World
    ) -> None:
        case = world.new_case(
            "grid-member", "0106", title="厂门口对峙", source="phone",
            description="20多名家属持铁锹、木棍与10多名工人在厂门口对峙，因工伤赔偿",
            fields=DISPUTE_FIELDS, parties=PARTIES, address="工业路机械厂大门")
        assert case["status"] == "reported" and case["step"] == "accept"
        assert case["region_code"] == GRID and case["owner_code"] == GRID
        assert case["owner_level"] == "grid" and case["handler"] is None
        assert case["fields"] == DISPUTE_FIELDS and case["parties"][1]["name"] == "某机械厂"
        assert at(case, "due_at") == world.due("0106", "accept", at(case, "reported_at"))
        check_timestamps(case)

        # The member reports but does not take cases in.
        assert world.act("grid-member", case, "accept").status_code == 403
        case = world.step("grid-deputy", case, "accept", note="情况紧急，立即处置")
        assert case["status"] == "accepted" and case["step"] == "dispatch"
        assert at(case, "due_at") == world.due("0106", "dispatch", at(case, "accepted_at"))
        check_timestamps(case, "accepted_at")

        case = world.step("grid-deputy", case, "dispatch", handler={"region": GRID},
                          note="网格团队到场，副网格长调解")
        assert case["status"] == "dispatched" and case["step"] == "handle"
        assert case["handler"]["kind"] == "region" and case["handler"]["code"] == GRID
        assert case["handler"]["name"]
        assert at(case, "due_at") == world.due("0106", "handle", at(case, "dispatched_at"))
        check_timestamps(case, "accepted_at", "dispatched_at")
        handle_due = case["due_at"]

        case = world.step("grid-deputy", case, "start", note="已到场")
        assert case["status"] == "in_progress" and case["due_at"] == handle_due

        case = world.step("grid-deputy", case, "report_handled",
                          note="面对面调解两小时，双方和解", fields=MEDIATION)
        assert case["status"] == "handled" and case["step"] == "verify"
        assert case["fields"] == {**DISPUTE_FIELDS, **MEDIATION}
        assert at(case, "due_at") == world.due("0106", "verify", at(case, "handled_at"))
        check_timestamps(case, "accepted_at", "dispatched_at", "handled_at")

        assert world.act("grid-member", case, "close").status_code == 403  # not a manager
        case = world.step("grid-leader", case, "close", note="回访双方，协议履行")
        assert case["status"] == "closed" and case["step"] is None and case["due_at"] is None
        check_timestamps(case, "accepted_at", "dispatched_at", "handled_at", "closed_at")

        case = world.step("grid-member", case, "rate", rating=5, note="处置及时")
        assert case["rating"] == 5 and case["rating_comment"] == "处置及时"

        final = world.detail("county", case["id"])
        timeline = check_timeline(final, [
            ("report", "grid-member", MEMBER, None, "reported"),
            ("accept", "grid-deputy", DEPUTY, "reported", "accepted"),
            ("dispatch", "grid-deputy", DEPUTY, "accepted", "dispatched"),
            ("start", "grid-deputy", DEPUTY, "dispatched", "in_progress"),
            ("report_handled", "grid-deputy", DEPUTY, "in_progress", "handled"),
            ("close", "grid-leader", LEADER, "handled", "closed"),
            ("rate", "grid-member", MEMBER, "closed", "closed"),
        ])
        for action, name in (("accept", "accepted_at"), ("dispatch", "dispatched_at"),
                             ("report_handled", "handled_at"), ("close", "closed_at")):
            assert entry_time(final, action) == at(final, name), action
        assert timeline[2]["data"]["handler"]["code"] == GRID
        assert timeline[4]["data"]["fields"] == MEDIATION
        assert world.events(case["id"]) == [
            "case.report", "case.accept", "case.dispatch", "case.start",
            "case.report_handled", "case.close", "case.rate"]
        assert world.audit(case["id"]) == [
            ("case.reported", "grid-member", MEMBER),
            ("case.accept", "grid-deputy", DEPUTY),
            ("case.dispatch", "grid-deputy", DEPUTY),
            ("case.start", "grid-deputy", DEPUTY),
            ("case.report_handled", "grid-deputy", DEPUTY),
            ("case.close", "grid-leader", LEADER),
            ("case.rate", "grid-member", MEMBER),
        ]

    def test_escalated_to_the_village_which_dispatches_and_closes(self, world: World) -> None:
        village = f"commander@{VILLAGE}"
        case = world.new_case("grid-member", "0106", title="厂门口对峙（升级）",
                              fields=DISPUTE_FIELDS, parties=PARTIES)
        assert world.act("grid-leader", case, "escalate").status_code == 422  # no reason
        case = world.step("grid-leader", case, "escalate",
                          reason="涉及人数多，超出网格调处能力")
        assert case["status"] == "reported" and case["owner_code"] == VILLAGE
        assert case["owner_level"] == "village" and case["escalations"] == 1
        escalated = entry_time(world.detail("village", case["id"]), "escalate")
        assert at(case, "due_at") == world.due("0106", "accept", escalated)
        # The grid no longer manages it; the village does.
        assert "accept" not in case["allowed_actions"]
        assert world.act("grid-leader", case, "accept").status_code == 403
        assert world.detail("village", case["id"])["allowed_actions"] == [
            "accept", "void", "escalate"]

        case = world.step("village", case, "accept")
        case = world.step("village", case, "dispatch", handler={"region": GRID})
        assert case["status"] == "dispatched" and case["handler"]["code"] == GRID
        case = world.step("grid-deputy", case, "report_handled", note="村调解委员会协同调解",
                          fields={**MEDIATION, "mediation_method": "people"})
        assert world.act("grid-leader", case, "close").status_code == 403
        case = world.step("village", case, "close")
        assert case["status"] == "closed" and case["owner_code"] == VILLAGE
        check_timestamps(case, "accepted_at", "dispatched_at", "handled_at", "closed_at")

        final = world.detail("grid-leader", case["id"])
        timeline = check_timeline(final, [
            ("report", "grid-member", MEMBER, None, "reported"),
            ("escalate", "grid-leader", LEADER, "reported", "reported"),
            ("accept", "village", village, "reported", "accepted"),
            ("dispatch", "village", village, "accepted", "dispatched"),
            ("report_handled", "grid-deputy", DEPUTY, "dispatched", "handled"),
            ("close", "village", village, "handled", "closed"),
        ])
        assert timeline[1]["note"] == "涉及人数多，超出网格调处能力"
        assert timeline[1]["data"] == {"from": GRID, "to": VILLAGE}


class TestExplosivesLead:
    """A grid member spots a lead on explosives and passes it through the deputy to the police
    station; the station breaks the gang. Criminal clues are police-only."""

    def test_passed_through_the_deputy_to_the_police_station(self, world: World) -> None:
        station_post = f"department_officer@{world.station}"
        case = world.new_case(
            "grid-member", "05", title="疑似非法储存爆炸物",
            description="出租屋内疑似存放大量雷管",
            fields={"clue_kind": "explosives", "urgency": "urgent", "source": "走访发现"})
        assert case["police_only"] is True and case["status"] == "reported"
        assert at(case, "due_at") == world.due("05", "accept", at(case, "reported_at"))

        # Police-only: the reporter, police posts and commanders see it; the rest do not.
        for user in ("grid-member", "grid-deputy", "village", "county", STATION_OFFICER):
            assert world.get(user, f"/api/v1/cases/{case['id']}").status_code == 200, user
        for user in ("grid-support", "grid-leader"):
            assert world.get(user, f"/api/v1/cases/{case['id']}").status_code == 404, user
            ids = [c["id"] for c in world.get(user, "/api/v1/cases", limit=200).json()["items"]]
            assert case["id"] not in ids, user
        mine = world.get("grid-member", "/api/v1/cases", category="05", limit=200).json()
        assert case["id"] in [c["id"] for c in mine["items"]]

        case = world.step("grid-deputy", case, "accept")
        case = world.step("grid-deputy", case, "dispatch",
                          handler={"organisation": world.station}, note="移交派出所")
        assert case["status"] == "dispatched"
        assert case["handler"]["kind"] == "organisation"
        assert case["handler"]["code"] == world.station
        assert case["handler"]["name"].endswith("派出所")
        assert at(case, "due_at") == world.due("05", "handle", at(case, "dispatched_at"))

        as_station = world.detail(STATION_OFFICER, case["id"])
        assert as_station["allowed_actions"] == ["start", "report_handled", "escalate",
                                                 "request_extension"]
        queue = world.get(STATION_OFFICER, "/api/v1/cases", mine="true").json()["items"]
        assert case["id"] in [c["id"] for c in queue]
        case = world.step(STATION_OFFICER, case, "start")
        case = world.step(STATION_OFFICER, case, "report_handled",
                          note="破获制贩爆炸物团伙，抓获5人，缴获雷管3万枚")
        assert case["status"] == "handled"
        assert at(case, "due_at") == world.due("05", "verify", at(case, "handled_at"))
        assert world.act(STATION_OFFICER, case, "close").status_code == 403
        case = world.step("grid-deputy", case, "close")
        check_timestamps(case, "accepted_at", "dispatched_at", "handled_at", "closed_at")

        final = world.detail("grid-member", case["id"])
        check_timeline(final, [
            ("report", "grid-member", MEMBER, None, "reported"),
            ("accept", "grid-deputy", DEPUTY, "reported", "accepted"),
            ("dispatch", "grid-deputy", DEPUTY, "accepted", "dispatched"),
            ("start", STATION_OFFICER, station_post, "dispatched", "in_progress"),
            ("report_handled", STATION_OFFICER, station_post, "in_progress", "handled"),
            ("close", "grid-deputy", DEPUTY, "handled", "closed"),
        ])
        # Its stream events are for police readers only.
        permissions = {p for (p,) in world.sql(
            "SELECT DISTINCT permission FROM event_log WHERE type LIKE 'case.%' "
            "AND payload LIKE :id", id=f'%"id": {case["id"]},%')}
        assert permissions == {"case:police"}
        assert world.get("grid-support", f"/api/v1/cases/{case['id']}").status_code == 404


class TestFraudLead:
    """A deputy gets a fraud lead and pushes a work order straight to the criminal
    investigators of the county bureau; the suspect is caught and the money returned."""

    def test_dispatched_to_the_investigators_and_rated_by_the_reporter(self,
                                                                       world: World) -> None:
        investigator = f"department_officer@{BUREAU}"
        case = world.new_case("grid-deputy", "05", title="电信诈骗线索",
                              description="居民反映被冒充客服骗走2万元",
                              fields={"clue_kind": "fraud", "urgency": "urgent"})
        assert case["reporter_post"] == DEPUTY
        case = world.step("grid-deputy", case, "accept")
        case = world.step("grid-deputy", case, "dispatch", handler={"organisation": BUREAU},
                          note="推送刑侦大队")
        assert case["handler"] == {"kind": "organisation", "code": BUREAU,
                                   "name": case["handler"]["name"]}
        assert at(case, "dispatched_at") - at(case, "reported_at") < timedelta(minutes=1)
        # The station of the township is not the handler now.
        assert world.act(STATION_OFFICER, case, "start").status_code == 403

        case = world.step(INVESTIGATOR, case, "start")
        case = world.step(INVESTIGATOR, case, "report_handled",
                          note="嫌疑人落网，被骗资金已追回")
        case = world.step("grid-deputy", case, "close")
        assert case["status"] == "closed"
        check_timestamps(case, "accepted_at", "dispatched_at", "handled_at", "closed_at")

        case = world.step("grid-deputy", case, "rate", rating=5, note="民警反应迅速")
        assert case["rating"] == 5 and "rate" not in case["allowed_actions"]
        again = world.act("grid-deputy", case, "rate", rating=1)
        assert again.status_code == 409 and "rate" not in again.json()["allowed"]

        check_timeline(world.detail(INVESTIGATOR, case["id"]), [
            ("report", "grid-deputy", DEPUTY, None, "reported"),
            ("accept", "grid-deputy", DEPUTY, "reported", "accepted"),
            ("dispatch", "grid-deputy", DEPUTY, "accepted", "dispatched"),
            ("start", INVESTIGATOR, investigator, "dispatched", "in_progress"),
            ("report_handled", INVESTIGATOR, investigator, "in_progress", "handled"),
            ("close", "grid-deputy", DEPUTY, "handled", "closed"),
            ("rate", "grid-deputy", DEPUTY, "closed", "closed"),
        ])
