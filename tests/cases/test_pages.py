"""The case pages: report form, queue (filters, counts, keyset "more"), my tasks, one case with
its timeline and action forms, the navigation, and the dispatch choices behind the picker.

One copy of the demo per backend holds a handful of cases (reported, dispatched, self-handled,
police-only, overdue, and enough fillers for a second queue page); the tests only read it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from tests.authz.harness_support import clone_database
from tests.factories import PASSWORD, bearer_token, create_account, page_login, png_bytes

from wangge.app import create_app
from wangge.cases import categories as seed_categories
from wangge.cases import workflow
from wangge.cases.pages import PAGE_SIZE, QueueForm, entry_details, local_time
from wangge.cases.schemas import TimelineEntry
from wangge.config import Settings
from wangge.demo import DEMO_GRID, DEMO_PASSWORD
from wangge.kit.db import sync_url
from wangge.models import Case
from wangge.web.i18n import (
    CASE_ACTION_LABELS,
    CATALOGUE,
    FIELD_LABELS,
    ORG_KIND_LABELS,
    STATUS_LABELS,
    STEP_LABELS,
    VALUE_LABELS,
    Translator,
)

GRID = DEMO_GRID
VILLAGE, TOWNSHIP, COUNTY = GRID[:12], GRID[:9], GRID[:6]
SIBLING_GRID = f"{VILLAGE}001"
FOREIGN = re.compile(r'(src|href|action)="(https?:)?//')


@dataclass
class Site:
    client: TestClient
    tokens: dict[str, str]
    reported: dict[str, Any]  # a dispute with fields and a photo, waiting for acceptance
    dispatched: dict[str, Any]  # accepted and dispatched to the grid team
    self_handled: dict[str, Any]
    police: dict[str, Any]  # a criminal clue (police only), accepted by the deputy
    overdue: dict[str, Any]  # reported, its acceptance overdue
    escalated: dict[str, Any]  # reported, then escalated to the village
    station: str

    def get(self, user: str, path: str, **params: Any) -> Any:
        """GETs as ``user`` (bearer), in Chinese unless ``lang`` says otherwise."""
        self.client.cookies.clear()  # no language remembered from an earlier ?lang=
        return self.client.get(path, params=params,
                               headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def html(self, user: str, path: str, **params: Any) -> str:
        res = self.get(user, path, **params)
        assert res.status_code == 200, (path, res.status_code, res.text[:300])
        assert res.headers["content-type"].startswith("text/html")
        return str(res.text)


def _report(client: TestClient, token: str, category: str, title: str,
            **body: Any) -> dict[str, Any]:
    res = client.post("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}, json={
        "client_uuid": str(uuid.uuid4()), "category_code": category, "title": title,
        "description": f"{title}：网格员巡查发现。", "grid_code": GRID, **body})
    assert res.status_code == 201, res.text
    return dict(res.json())


def _act(client: TestClient, token: str, case: dict[str, Any], action: str,
         **body: Any) -> dict[str, Any]:
    res = client.post(f"/api/v1/cases/{case['id']}/actions/{action}",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"version": case["version"], **body})
    assert res.status_code == 200, res.text
    return dict(res.json())


@pytest.fixture(scope="module")
def site(xinxiang: str, pg_schemas: list[str], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    directory = Path(tmp_path_factory.mktemp("case-pages"))
    url = clone_database(xinxiang, pg_schemas, directory)
    create_account(url, "city-analyst", posts=["analyst@4107"], person_name="分析员")
    create_account(url, "sibling-leader", posts=[f"grid_leader@{SIBLING_GRID}"],
                   person_name="邻格网格长")
    create_account(url, "no-post", person_name="无岗位")
    app = create_app(Settings(database_url=url, photo_dir=directory / "photos"))
    with TestClient(app, follow_redirects=False) as client:
        tokens = {u: bearer_token(client, u, DEMO_PASSWORD)
                  for u in ("grid-member", "grid-leader", "grid-deputy", "village", "county")}
        tokens |= {u: bearer_token(client, u, PASSWORD)
                   for u in ("city-analyst", "sibling-leader", "no-post")}
        member, leader = tokens["grid-member"], tokens["grid-leader"]
        for i in range(PAGE_SIZE):  # older cases: the queue has a second page
            _report(client, member, "99", f"楼道堆物（{i + 1}）")
        photo = client.post("/api/v1/photos", headers={"Authorization": f"Bearer {member}"},
                            files={"file": ("a.png", png_bytes(4, 4), "image/png")}).json()
        reported = _report(client, member, "0102", "邻里漏水纠纷", photos=[photo["id"]],
                           fields={"people_count": 30, "scale": "large"},
                           parties=[{"name": "张三", "role": "申请人", "sex": "male"}])
        dispatched = _act(client, leader, _report(client, member, "08", "垃圾清运不及时"),
                          "accept")
        dispatched = _act(client, leader, dispatched, "dispatch", handler={"region": GRID},
                          note="网格内处置")
        self_handled = _report(client, member, "06", "返乡人员核查", self_handled=True,
                               evidence={"note": "5分钟内核查完毕，误报。"})
        police = _act(client, tokens["grid-deputy"],
                      _report(client, member, "05", "涉爆线索", fields={"clue_kind": "explosives"}),
                      "accept")
        overdue = _report(client, member, "09", "占道经营")
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            conn.execute(update(Case).where(Case.id == overdue["id"])
                         .values(overdue_at=datetime.now(UTC)))
        engine.dispose()
        escalated = _act(client, leader, _report(client, member, "10", "低保申请咨询"),
                         "escalate", reason="需村委会协调")
        yield Site(client, tokens, reported, dispatched, self_handled, police, overdue,
                   escalated, station=f"PS{TOWNSHIP}")


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-id="(\d+)"', html)]


def _actions(html: str) -> list[str]:
    return re.findall(r'<details class="action-panel act-\w+" data-action="(\w+)"', html)


class TestAccess:
    @pytest.mark.parametrize("path", ["/cases", "/cases/new", "/tasks", "/cases/1"])
    def test_pages_send_a_visitor_to_log_in(self, site: Site, path: str) -> None:
        site.client.cookies.clear()
        res = site.client.get(path)
        assert res.status_code == 303
        assert res.headers["location"].startswith("/login?next=%2F")

    def test_fragments_ask_htmx_to_log_in(self, site: Site) -> None:
        site.client.cookies.clear()
        res = site.client.get("/cases/results", headers={"HX-Request": "true"})
        assert res.status_code == 401 and res.headers["hx-redirect"].startswith("/login")

    def test_reporting_needs_case_report(self, site: Site) -> None:
        assert site.get("city-analyst", "/cases/new").status_code == 403
        assert site.get("city-analyst", "/cases").status_code == 200

    def test_a_user_without_a_post_is_told_so(self, site: Site) -> None:
        res = site.get("no-post", "/cases")
        assert res.status_code == 404 and CATALOGUE["zh"]["no_post_title"] in res.text

    @pytest.mark.parametrize("case_id", ["999999999", "abc", "1" * 40])
    def test_an_unknown_case_is_an_html_404(self, site: Site, case_id: str) -> None:
        res = site.get("grid-leader", f"/cases/{case_id}")
        assert res.status_code == 404 and res.headers["content-type"].startswith("text/html")
        assert "找不到该事件" in res.text

    def test_a_case_outside_the_scope_is_a_404(self, site: Site) -> None:
        res = site.get("sibling-leader", f"/cases/{site.reported['id']}")
        assert res.status_code == 404 and "找不到该事件" in res.text

    def test_police_only_cases_are_hidden_from_a_grid_leader(self, site: Site) -> None:
        assert site.get("grid-leader", f"/cases/{site.police['id']}").status_code == 404
        assert site.police["id"] not in _ids(site.html("grid-leader", "/cases"))
        # The deputy (a police officer) and the reporter see it.
        assert site.police["id"] in _ids(site.html("grid-deputy", "/cases"))
        assert "涉爆线索" in site.html("grid-member", f"/cases/{site.police['id']}")

    def test_a_cookie_session_gets_the_csrf_token_for_its_api_calls(self, site: Site) -> None:
        site.client.cookies.clear()
        assert page_login(site.client, "grid-member", DEMO_PASSWORD).status_code == 303
        html = site.client.get("/cases/new").text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
        assert token and token.group(1) == re.search(
            r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        site.client.cookies.clear()


class TestNavigation:
    def test_a_grid_member_reports_and_has_tasks(self, site: Site) -> None:
        html = site.html("grid-member", "/cases/new")
        nav = html.split('data-testid="mainnav"', 1)[1].split("</nav>", 1)[0]
        assert re.findall(r'data-nav="([\w-]+)"', nav) == [
            "regions", "command", "cases", "tasks", "my-directives", "my-visits", "registry",
            "report"]
        assert 'data-nav="report" aria-current="page"' in nav
        assert ">上报<" in nav and ">我的任务<" in nav and ">事件<" in nav

    def test_an_analyst_only_reads(self, site: Site) -> None:
        nav = site.html("city-analyst", "/cases").split('data-testid="mainnav"', 1)[1]
        nav = nav.split("</nav>", 1)[0]
        assert re.findall(r'data-nav="([\w-]+)"', nav) == ["regions", "command", "cases",
                                                           "registry"]
        assert 'data-nav="cases" aria-current="page"' in nav

    def test_english_links(self, site: Site) -> None:
        html = site.html("grid-member", "/tasks", lang="en")
        assert ">Report<" in html and ">My tasks<" in html and ">Cases<" in html
        assert 'data-nav="tasks" aria-current="page"' in html


class TestReportPage:
    def test_the_form_offers_the_category_tree(self, site: Site) -> None:
        html = site.html("grid-member", "/cases/new", lang="zh")
        tops = re.findall(r'name="top" value="(\d+)"', html)
        assert tops == [c.code for c in seed_categories.DEFAULT_CATEGORIES if len(c.code) == 2]
        # Children sit in a group of their parent, after a "whole category" choice.
        group = html.split('data-parent="01"', 1)[1].split("</div>\n    </div>", 1)[0]
        assert re.findall(r'name="child-01" value="(\d+)"', group) == [
            "01", *(c.code for c in seed_categories.DEFAULT_CATEGORIES
                    if c.code.startswith("01") and len(c.code) == 4)]
        assert "矛盾纠纷" in html and "邻里纠纷" in html and "涉案线索" in html

    def test_photo_location_and_self_handling(self, site: Site) -> None:
        html = site.html("grid-member", "/cases/new", lang="zh")
        assert 'type="file" id="photo-input" accept="image/*" capture="environment"' in html
        assert 'data-testid="use-location"' in html and 'id="report-map"' in html
        # The map draws the worker's grid; the picker offers it.
        assert f"/api/v1/regions/{GRID}/geometry?include_self=true" in html
        assert f'<option value="{GRID}">' in html
        assert 'id="self-handled"' in html and 'name="evidence"' in html

    def test_a_village_commander_picks_among_the_villages_grids(self, site: Site) -> None:
        html = site.html("village", "/cases/new")
        options = re.findall(r'<option value="(\d{15})">', html)
        children = site.get("village", f"/api/v1/regions/{VILLAGE}/children").json()
        assert options == [c["code"] for c in children] and GRID in options

    def test_the_schemas_and_labels_reach_the_script(self, site: Site) -> None:
        html = site.html("grid-member", "/cases/new", lang="en")
        assert '"people_count": "People involved"' in html
        assert '"large": "Large"' in html and "Report a case" in html

    def test_english(self, site: Site) -> None:
        html = site.html("grid-member", "/cases/new", lang="en")
        assert '<html lang="en">' in html and "Disputes" in html and "Neighbours" in html
        assert "Use my location" in html and "Submit report" in html


class TestQueuePage:
    def test_newest_first_one_page_with_more(self, site: Site) -> None:
        html = site.html("county", "/cases")
        api = site.get("county", "/api/v1/cases", limit=PAGE_SIZE).json()
        assert _ids(html) == [c["id"] for c in api["items"]]
        assert f'hx-get="/cases/rows?before={api["next_cursor"]}"' in html

    def test_more_pages_on_without_repeats(self, site: Site) -> None:
        first = _ids(site.html("county", "/cases"))
        cursor = re.search(r'hx-get="/cases/rows\?before=(\d+)"',
                           site.html("county", "/cases")).group(1)  # type: ignore[union-attr]
        rows = site.html("county", "/cases/rows", before=cursor)
        assert "<html" not in rows
        second = _ids(rows)
        assert second and max(second) < min(first) and not set(first) & set(second)

    def test_counts_match_the_summary(self, site: Site) -> None:
        html = site.html("county", "/cases")
        summary = site.get("county", "/api/v1/cases/summary").json()
        counts = dict(re.findall(r'<dd data-count="(\w+)">(\d+)</dd>', html))
        assert int(counts["total"]) == sum(summary["by_status"].values())
        assert int(counts["open"]) == summary["open"]
        assert int(counts["overdue"]) == summary["overdue"] >= 1
        for status in workflow.STATUSES:
            assert int(counts[status]) == summary["by_status"].get(status, 0)

    @pytest.mark.parametrize("params, api, expected", [
        ({"status": "dispatched"}, {"status": "dispatched"}, "dispatched"),
        ({"status": "closed"}, {"status": "closed"}, "self_handled"),
        ({"category": "01"}, {"category": "01"}, "reported"),
        ({"overdue": "1"}, {"overdue": "true"}, "overdue"),
        ({"mine": "1", "status": "reported"}, {"mine": "true", "status": "reported"},
         "escalated"),
        ({"subtree": VILLAGE, "category": "10"}, {"subtree": VILLAGE, "category": "10"},
         "escalated"),
    ])
    def test_filters_show_what_the_api_finds(self, site: Site, params: dict[str, str],
                                             api: dict[str, str], expected: str) -> None:
        user = "village"
        ids = _ids(site.html(user, "/cases", **params))
        found = site.get(user, "/api/v1/cases", limit=PAGE_SIZE, **api).json()["items"]
        assert ids == [c["id"] for c in found]
        assert getattr(site, expected)["id"] in ids

    def test_open_means_every_unfinished_status(self, site: Site) -> None:
        html = site.html("county", "/cases", status="open")
        statuses = set(re.findall(r'<span class="status-badge st-(\w+)"', html))
        assert statuses and statuses <= set(workflow.OPEN_STATUSES)
        assert site.self_handled["id"] not in _ids(html)

    def test_the_filter_offers_the_viewers_regions(self, site: Site) -> None:
        html = site.html("county", "/cases")
        select = html.split('name="subtree"', 1)[1].split("</select>", 1)[0]
        children = site.get("county", f"/api/v1/regions/{COUNTY}/children").json()
        assert re.findall(r'<option value="(\d+)"', select) == [
            COUNTY, *(c["code"] for c in children)]

    def test_nothing_found(self, site: Site) -> None:
        html = site.html("county", "/cases", subtree=SIBLING_GRID, category="05",
                         status="voided")
        assert _ids(html) == [] and CATALOGUE["zh"]["cases_empty"] in html

    def test_a_bad_filter_is_named(self, site: Site) -> None:
        res = site.get("county", "/cases", status="finished", category="x1")
        assert res.status_code == 422
        assert "筛选条件有误" in res.text and "unknown status" in res.text

    def test_the_live_fragment_holds_counts_and_list_only(self, site: Site) -> None:
        html = site.html("county", "/cases/results", status="dispatched")
        assert "<html" not in html and 'data-testid="case-counts"' in html
        assert _ids(html) == _ids(site.html("county", "/cases", status="dispatched"))
        assert site.dispatched["id"] in _ids(html)
        page = site.html("county", "/cases", status="dispatched")
        assert 'data-refresh="/cases/results?status=dispatched"' in page
        assert '"stream": "/api/v1/stream"' in page and '"case.accept"' in page

    def test_rows_show_status_number_category_grid_and_due(self, site: Site) -> None:
        html = site.html("county", "/cases", status="dispatched")
        row = html.split(f'data-id="{site.dispatched["id"]}"', 1)[1].split("</li>", 1)[0]
        assert "已派遣" in row and site.dispatched["number"] in row and "环境卫生" in row
        assert "第3网格" in row and "处置时限" in row
        assert local_time(datetime.fromisoformat(site.dispatched["due_at"])) in row

    def test_an_overdue_case_is_marked(self, site: Site) -> None:
        html = site.html("county", "/cases", overdue="1")
        row = html.split(f'data-id="{site.overdue["id"]}"', 1)[1].split("</li>", 1)[0]
        assert "is-overdue" in html and "已超期" in row

    def test_english(self, site: Site) -> None:
        html = site.html("county", "/cases", lang="en", status="dispatched")
        assert "Dispatched" in html and "Handling due" in html and "Environment" in html


class TestTasksPage:
    def test_overdue_first_then_by_deadline(self, site: Site) -> None:
        html = site.html("grid-leader", "/tasks")
        ids = _ids(html)
        api = site.get("grid-leader", "/api/v1/cases", mine="true", limit=200).json()["items"]
        assert sorted(ids) == sorted(c["id"] for c in api)
        by_id = {c["id"]: c for c in api}
        late = [i for i in ids if by_id[i]["overdue"]]
        assert site.overdue["id"] in late and ids[:len(late)] == late
        for group in (late, ids[len(late):]):
            due = [by_id[i]["due_at"] or "~" for i in group]
            assert due == sorted(due)

    def test_each_task_says_what_to_do(self, site: Site) -> None:
        html = site.html("grid-member", "/tasks")
        api = site.get("grid-member", "/api/v1/cases", mine="true", limit=200).json()["items"]
        assert sorted(_ids(html)) == sorted(c["id"] for c in api)
        row = html.split(f'data-id="{site.dispatched["id"]}"', 1)[1].split("</li>", 1)[0]
        assert "待办：" in row and "开始处置" in row and "处置反馈" in row
        assert 'data-refresh="/tasks/list"' in html

    def test_nothing_to_do(self, site: Site) -> None:
        html = site.html("city-analyst", "/tasks")
        assert _ids(html) == [] and CATALOGUE["zh"]["tasks_empty"] in html

    def test_the_live_fragment(self, site: Site) -> None:
        html = site.html("grid-member", "/tasks/list")
        assert "<html" not in html and _ids(html) == _ids(site.html("grid-member", "/tasks"))


class TestCasePage:
    def test_facts_fields_parties_and_photos(self, site: Site) -> None:
        case = site.reported
        html = site.html("grid-leader", f"/cases/{case['id']}", lang="zh")
        assert case["number"] in html and "邻里漏水纠纷" in html
        assert "矛盾纠纷 › 邻里纠纷" in html and "已上报" in html
        assert "涉及人数" in html and "<dd>30</dd>" in html and "<dd>较大</dd>" in html
        assert "张三" in html and "申请人" in html
        photo = site.get("grid-leader", f"/api/v1/cases/{case['id']}").json()["photos"][0]
        assert f'<img src="/api/v1/photos/{photo}"' in html
        assert f'"gridUrl": "/api/v1/regions/{GRID}/geometry' in html

    def test_forms_for_exactly_the_allowed_actions(self, site: Site) -> None:
        for user, case in (("grid-leader", site.reported), ("grid-member", site.dispatched),
                           ("grid-leader", site.dispatched), ("county", site.self_handled)):
            allowed = site.get(user, f"/api/v1/cases/{case['id']}").json()["allowed_actions"]
            html = site.html(user, f"/cases/{case['id']}")
            assert _actions(html) == allowed and allowed, (user, case["title"])
            assert f'"version": {case["version"]}' in html

    def test_the_reporter_without_actions_is_told_so(self, site: Site) -> None:
        html = site.html("grid-member", f"/cases/{site.reported['id']}", reported="1")
        assert _actions(html) == [] and CATALOGUE["zh"]["case_no_actions"] in html
        assert f"上报成功，编号 {site.reported['number']}" in html

    def test_action_forms_ask_for_what_the_action_needs(self, site: Site) -> None:
        html = site.html("grid-leader", f"/cases/{site.reported['id']}")
        void = html.split('data-action="void"', 1)[1].split("</details>", 1)[0]
        assert 'name="reason"' in void and "required" in void
        html = site.html("grid-member", f"/cases/{site.dispatched['id']}")
        handled = html.split('data-action="report_handled"', 1)[1].split("</details>", 1)[0]
        assert 'name="note"' in handled and 'class="visually-hidden photo-input"' in handled
        extension = html.split('data-action="request_extension"', 1)[1].split("</details>")[0]
        assert re.findall(r'name="extra" value="(\w+)"', extension) == [
            "4h", "1d", "2d", "3wd", "5wd"]

    def test_the_dispatch_picker_lists_regions_then_organisations(self, site: Site) -> None:
        case = site.dispatched  # a manager may dispatch again (e.g. across to a department)
        html = site.html("grid-leader", f"/cases/{case['id']}")
        picker = html.split('data-testid="handler-select"', 1)[1].split("</select>", 1)[0]
        groups = re.findall(r'<optgroup label="([^"]+)">', picker)
        assert groups[0] == "网格 / 区划" and "派出所" in groups and "职能部门" in groups
        values = re.findall(r'<option value="(\w+:[\w-]+)">', picker)
        handlers = site.get("grid-leader", f"/api/v1/cases/{case['id']}/handlers").json()
        assert sorted(values) == sorted(f"{h['kind']}:{h['code']}" for h in handlers)
        assert values[0] == f"region:{GRID}"

    def test_a_police_category_puts_police_stations_first(self, site: Site) -> None:
        html = site.html("grid-deputy", f"/cases/{site.police['id']}")
        picker = html.split('data-testid="handler-select"', 1)[1].split("</select>", 1)[0]
        groups = re.findall(r'<optgroup label="([^"]+)">', picker)
        assert groups[:2] == ["网格 / 区划", "派出所"]

    def test_the_timeline_in_beijing_time(self, site: Site) -> None:
        case = site.get("grid-leader", f"/api/v1/cases/{site.dispatched['id']}").json()
        html = site.html("grid-leader", f"/cases/{case['id']}")
        items = re.findall(r'<li class="tl-item tl-(\w+)"', html)
        assert items == [e["action"] for e in case["timeline"]] == [
            "report", "accept", "dispatch"]
        for entry in case["timeline"]:
            at = local_time(datetime.fromisoformat(entry["at"]), seconds=True)
            assert f">{at}</time>" in html
        assert "网格长 · " in html and "派遣给: " in html and "网格内处置" in html

    def test_an_overdue_case_is_highlighted(self, site: Site) -> None:
        html = site.html("grid-leader", f"/cases/{site.overdue['id']}")
        assert 'data-testid="case-overdue"' in html and "is-overdue" in html

    def test_english(self, site: Site) -> None:
        html = site.html("grid-leader", f"/cases/{site.dispatched['id']}", lang="en")
        assert "Dispatched" in html and "Timeline" in html and "Handling due" in html
        assert ">Dispatch</summary>" in html and "Grid leader · " in html


class TestNoCdn:
    @pytest.mark.parametrize("path", ["/cases", "/cases/new", "/tasks", "/cases/{id}"])
    def test_everything_is_served_here(self, site: Site, path: str) -> None:
        html = site.html("grid-leader", path.format(id=site.reported["id"]))
        assert not FOREIGN.search(html)
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert site.client.get(asset).status_code == 200, asset


class TestDispatchChoices:
    def test_regions_from_the_owner_down_then_serving_organisations(self, site: Site) -> None:
        res = site.get("grid-leader", f"/api/v1/cases/{site.reported['id']}/handlers")
        assert res.status_code == 200
        handlers = res.json()
        regions = [h for h in handlers if h["kind"] == "region"]
        assert [(h["code"], h["level"]) for h in regions] == [(GRID, "grid")]
        orgs = {h["code"]: h for h in handlers if h["kind"] == "organisation"}
        # The township's police station (by coverage), not those of other townships; the
        # county's bureau and departments (no coverage: their home lies above the grid).
        assert [c for c in orgs if c.startswith("PS")] == [site.station]
        assert orgs[site.station]["organisation_kind"] == "police_station"
        assert f"PB{COUNTY}" in orgs and orgs[f"PB{COUNTY}"]["name"]
        assert all(h["name"] for h in handlers)

    def test_after_escalation_the_village_is_offered_too(self, site: Site) -> None:
        case = site.get("village", f"/api/v1/cases/{site.escalated['id']}").json()
        assert case["owner_code"] == VILLAGE
        handlers = site.get("village", f"/api/v1/cases/{case['id']}/handlers").json()
        assert [(h["code"], h["level"]) for h in handlers if h["kind"] == "region"] == [
            (VILLAGE, "village"), (GRID, "grid")]

    def test_outside_the_scope_is_a_404(self, site: Site) -> None:
        res = site.get("sibling-leader", f"/api/v1/cases/{site.reported['id']}/handlers")
        assert res.status_code == 404


class TestHelpers:
    def test_queue_form_round_trip(self) -> None:
        form = QueueForm.parse({"status": "open", "category": "01", "overdue": "1", "mine": ""})
        assert form.errors == {} and form.statuses() == workflow.OPEN_STATUSES
        assert form.query() == "status=open&category=01&overdue=1"
        assert form.query(status="", before=5) == "category=01&overdue=1&before=5"
        bad = QueueForm.parse({"status": "nope", "subtree": "41x"})
        assert set(bad.errors) == {"status", "subtree"} and bad.statuses() == ()

    def test_local_time_is_beijing(self) -> None:
        at = datetime(2026, 1, 31, 17, 5, 9, tzinfo=UTC)
        assert local_time(at) == "2026-02-01 01:05" and local_time(None) == ""
        assert local_time(at, seconds=True) == "2026-02-01 01:05:09"

    def test_timeline_details(self) -> None:
        from wangge.cases.pages import Names

        names = Names(Translator("zh"), {VILLAGE: "龙湾社区", GRID: "第3网格"}, {})
        entry = TimelineEntry(id=1, action="escalate", at=datetime.now(UTC), actor="a",
                              post=None, from_status="accepted", to_status="accepted",
                              version=2, note=None, data={"from": GRID, "to": VILLAGE},
                              photos=[])
        assert entry_details(entry, names) == ["第3网格 → 龙湾社区"]
        ask = entry.model_copy(update={"action": "request_extension",
                                       "data": {"extra": "3wd", "reason": "r"}})
        assert entry_details(ask, names) == ["延长时间: 3 个工作日"]
        rate = entry.model_copy(update={"action": "rate", "data": {"rating": 4}})
        assert entry_details(rate, names) == ["满意度: ★★★★"]
        assert names.post(f"grid_leader@{GRID}") == "网格长 · 龙湾社区 第3网格"


class TestCatalogue:
    @pytest.mark.parametrize("table", [STATUS_LABELS, CASE_ACTION_LABELS, STEP_LABELS,
                                       ORG_KIND_LABELS, FIELD_LABELS, VALUE_LABELS])
    def test_every_language_has_every_key(self, table: dict[str, dict[str, str]]) -> None:
        assert set(table["zh"]) == set(table["en"])

    def test_every_status_action_and_step_is_named(self) -> None:
        for lang in ("zh", "en"):
            assert set(STATUS_LABELS[lang]) == set(workflow.STATUSES)
            assert set(CASE_ACTION_LABELS[lang]) == {*workflow.ACTIONS,
                                                     *workflow.SYSTEM_ACTIONS}
            assert set(STEP_LABELS[lang]) == set(workflow.STEPS)
        assert [STATUS_LABELS["zh"][s] for s in workflow.STATUSES] == [
            "已上报", "已立案", "已派遣", "处置中", "已处置", "已结案", "已作废", "已挂起"]
        assert [CASE_ACTION_LABELS["zh"][a] for a in workflow.ACTIONS] == [
            "立案", "作废", "派遣", "开始处置", "处置反馈", "结案", "返工", "上报上级", "挂起",
            "恢复", "申请延期", "批准延期", "评价", "抽查"]

    def test_every_default_field_and_value_is_labelled(self) -> None:
        for seed in seed_categories.DEFAULT_CATEGORIES:
            for name, prop in seed.fields_schema.get("properties", {}).items():
                assert name in FIELD_LABELS["zh"], name
                for value in prop.get("enum", []):
                    assert value in VALUE_LABELS["zh"], value
