"""``GET /api/v1/audit`` and the ``/audit`` page: permission, scope by subtree, filters, keyset
pages, Asia/Shanghai times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from tests.conftest import BACKENDS, fresh_database
from tests.factories import authorize, bearer_token, create_account, page_login

from wangge.app import create_app
from wangge.audit.chain import seal_all
from wangge.authz.scope import Subject
from wangge.config import Settings
from wangge.kit.actions import record
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.org.divisions import Selection
from wangge.org.service import org_service

HONGQI, WEIBIN = "410702", "410703"  # two sibling districts of Xinxiang
USERS = {
    "city-admin": ["admin@4107"],
    "hq-admin": [f"admin@{HONGQI}"],
    "wb-admin": [f"admin@{WEIBIN}"],
    "city-analyst": ["analyst@4107"],
    "no-post": [],
}
# (action, target id, region) of the records each test database starts with.
SEEDED = [
    ("test.close", "1", f"{HONGQI}001016001"),
    ("test.close", "2", f"{HONGQI}002"),
    ("test.open", "3", f"{WEIBIN}001"),
    ("test.open", "4", None),  # system-wide
    ("test.open", "5", "4108"),  # another city
    ("test.close", "6", f"{HONGQI}001"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def audited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            pg_schemas: list[str]) -> str:
    """A database with Xinxiang's divisions, the users above and a few records per region."""
    url = fresh_database(request.param, tmp_path_factory.mktemp("audit"), pg_schemas)

    async def load() -> None:
        engine = create_engine(url)
        try:
            await org_service.load_divisions(engine, Selection(province="41", city="4107"))
        finally:
            await engine.dispose()

    run_sync(load)
    for name, posts in USERS.items():
        create_account(url, name, posts=posts)

    async def seed() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                for action, target, region in SEEDED:
                    await record(session, Subject.everything(), action, target_type="case",
                                 target_id=target, region_code=region,
                                 changes={"state": ("open", "closed")})
                clerk = Subject(name="hq-clerk", prefixes=(HONGQI,), client_addr="10.1.2.3")
                await record(session, clerk, "test.note", target_type="case", target_id="7",
                             region_code=f"{HONGQI}001", post=f"admin@{HONGQI}",
                             changes={"note": (None, "checked")})
            async with create_sessionmaker(engine)() as session, session.begin():
                await seal_all(session)  # what the scheduler's sealer does within a second
        finally:
            await engine.dispose()

    run_sync(seed)
    return url


@pytest.fixture(scope="module")
def tokens(audited: str) -> dict[str, str]:
    with TestClient(create_app(Settings(database_url=audited))) as client:
        return {name: bearer_token(client, name) for name in USERS}


@pytest.fixture
def client(audited: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=audited))) as c:
        yield c


def as_user(client: TestClient, tokens: dict[str, str], name: str) -> TestClient:
    return authorize(client, tokens[name])


def all_items(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    res = client.get("/api/v1/audit", params={"limit": 200, **params})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["next_after_id"] is None
    return list(body["items"])


def targets(items: list[dict[str, Any]], target_type: str = "case") -> set[str]:
    return {i["target_id"] for i in items if i["target_type"] == target_type}


class TestAccess:
    def test_without_a_token_is_401(self, client: TestClient) -> None:
        res = client.get("/api/v1/audit")
        assert res.status_code == 401 and res.json()["error"] == "unauthorized"

    def test_without_audit_read_is_403(self, client: TestClient, tokens: dict[str, str]
                                       ) -> None:
        res = as_user(client, tokens, "city-analyst").get("/api/v1/audit")
        assert res.status_code == 403 and res.json()["permission"] == "audit:read"

    def test_without_a_post_nothing_exists(self, client: TestClient, tokens: dict[str, str]
                                           ) -> None:
        assert as_user(client, tokens, "no-post").get("/api/v1/audit").status_code == 404


class TestScope:
    def test_city_admin_sees_the_city_not_other_cities_or_system_wide(
            self, client: TestClient, tokens: dict[str, str]) -> None:
        items = all_items(as_user(client, tokens, "city-admin"))
        assert targets(items) == {"1", "2", "3", "6", "7"}
        assert all(i["region_code"] and i["region_code"].startswith("4107") for i in items)
        # The city's own (city-wide) records: the division load, accounts made at the city.
        loads = [i for i in items if i["action"] == "divisions.load"]
        assert [(i["region_code"], i["actor"], i["target_id"]) for i in loads] == [
            ("4107", "system", "4107")]

    def test_district_admins_see_only_their_own_district(
            self, client: TestClient, tokens: dict[str, str]) -> None:
        hq = all_items(as_user(client, tokens, "hq-admin"))
        assert targets(hq) == {"1", "2", "6", "7"}
        assert all(i["region_code"].startswith(HONGQI) for i in hq)
        assert not [i for i in hq if i["action"] == "divisions.load"]  # city-wide: above them
        wb = all_items(as_user(client, tokens, "wb-admin"))
        assert targets(wb) == {"3"}
        assert all(i["region_code"].startswith(WEIBIN) for i in wb)

    def test_region_filter_cannot_widen_scope(self, client: TestClient,
                                              tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "hq-admin")
        assert all_items(c, region=WEIBIN) == []
        assert all_items(c, region="4108") == []
        assert targets(all_items(c, region="4107")) == {"1", "2", "6", "7"}


class TestFilters:
    def test_each_filter_narrows(self, client: TestClient, tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "city-admin")
        assert targets(all_items(c, action="test.close")) == {"1", "2", "6"}
        assert {i["action"] for i in all_items(c, action="test.*")} == {
            "test.close", "test.open", "test.note"}
        assert targets(all_items(c, target_type="case", target_id="3")) == {"3"}
        assert targets(all_items(c, region=f"{HONGQI}001")) == {"1", "6", "7"}
        assert {i["actor"] for i in all_items(c, actor="system")} == {"system"}
        [note] = all_items(c, actor="hq-clerk")
        assert (note["target_id"], note["post"], note["client_addr"]) == (
            "7", f"admin@{HONGQI}", "10.1.2.3")

    def test_time_window(self, client: TestClient, tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "city-admin")
        everything = all_items(c)
        newest = max(datetime.fromisoformat(i["at"]) for i in everything)
        assert all_items(c, since=(newest + timedelta(seconds=1)).isoformat()) == []
        assert len(all_items(c, until=(newest + timedelta(seconds=1)).isoformat())) == len(
            everything)
        shanghai = newest.astimezone(ZoneInfo("Asia/Shanghai"))
        assert len(all_items(c, since=(shanghai - timedelta(days=1)).isoformat())) == len(
            everything)

    def test_changes_come_back_as_before_and_after(self, client: TestClient,
                                                   tokens: dict[str, str]) -> None:
        item = all_items(as_user(client, tokens, "city-admin"), target_type="case",
                         target_id="1")[0]
        assert item["changes"] == {"state": {"before": "open", "after": "closed"}}
        assert len(item["hash"]) == 64

    @pytest.mark.parametrize(("params", "field"), [
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"region": "41x"}, "region"),
        ({"since": "2026-01-02T00:00:00+08:00", "until": "2026-01-01T00:00:00+08:00"}, "until"),
        ({"limit": 0}, "limit"),
        ({"after_id": 0}, "after_id"),
    ])
    def test_bad_filters_name_the_field(self, client: TestClient, tokens: dict[str, str],
                                        params: dict[str, Any], field: str) -> None:
        res = as_user(client, tokens, "city-admin").get("/api/v1/audit", params=params)
        assert res.status_code == 422 and res.json()["field"] == field


class TestKeysetPages:
    def test_pages_walk_newest_first_without_gaps_or_repeats(
            self, client: TestClient, tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "city-admin")
        everything = [i["id"] for i in all_items(c)]
        assert everything == sorted(everything, reverse=True)
        seen: list[int] = []
        after: int | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if after is not None:
                params["after_id"] = after
            body = c.get("/api/v1/audit", params=params).json()
            seen += [i["id"] for i in body["items"]]
            pages += 1
            after = body["next_after_id"]
            if after is None:
                break
            assert after == body["items"][-1]["id"]
        assert seen == everything and pages == -(-len(everything) // 3)


class TestPage:
    def test_chinese_table_with_shanghai_times(self, client: TestClient,
                                               tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "hq-admin")
        res = c.get("/audit")
        assert res.status_code == 200
        html = res.text
        assert "审计日志" in html and 'data-testid="audit-records"' in html
        first = all_items(c)[0]
        local = datetime.fromisoformat(first["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
        assert local.strftime("%Y-%m-%d %H:%M:%S") in html
        assert f'data-id="{first["id"]}"' in html
        assert f"{WEIBIN}001" not in html  # the sibling's record

    def test_english_and_filters(self, client: TestClient, tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "city-admin")
        html = c.get("/audit", params={"lang": "en", "action": "divisions.load"}).text
        assert "Audit log" in html and "Load divisions" in html
        assert html.count("<tr data-id=") == 1 and "rows</span>:" in html

    def test_local_time_filter_and_error_next_to_field(self, client: TestClient,
                                                       tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "city-admin")
        future = (datetime.now(UTC) + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai"))
        empty = c.get("/audit", params={"since": future.strftime("%Y-%m-%dT%H:%M")})
        assert empty.status_code == 200 and "没有符合条件的审计记录" in empty.text
        bad = c.get("/audit", params={"since": "yesterday"})
        assert bad.status_code == 422 and 'id="err-since"' in bad.text

    def test_older_link_pages_on(self, client: TestClient, tokens: dict[str, str]) -> None:
        c = as_user(client, tokens, "city-admin")
        total = len(all_items(c))
        html = c.get("/audit").text
        if total <= 50:
            assert 'data-testid="audit-older"' not in html
        older = c.get("/audit", params={"after_id": all_items(c)[1]["id"]}).text
        assert 'data-testid="audit-newest"' in older
        assert older.count("<tr data-id=") == total - 2

    def test_forbidden_and_logged_out(self, client: TestClient, tokens: dict[str, str]) -> None:
        res = client.get("/audit", follow_redirects=False)
        assert res.status_code in (302, 303) and "/login" in res.headers["location"]
        assert as_user(client, tokens, "city-analyst").get("/audit").status_code == 403

    def test_cookie_session_sees_the_page(self, client: TestClient) -> None:
        res = page_login(client, "wb-admin", next_url="/audit")
        assert res.status_code == 303
        page = client.get("/audit")
        assert page.status_code == 200 and f"{WEIBIN}001" in page.text
