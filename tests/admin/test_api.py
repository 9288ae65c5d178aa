"""Delegated administration over the API: only inside one's subtree, only roles one holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from tests.admin.support import PASSWORD, User, make_station, make_users

from wangge.app import create_app
from wangge.config import Settings
from wangge.kit.db import sync_url
from wangge.models import AuditRecord

COUNTY, SIBLING = "410702", "410703"
TOWN, TOWN2, SIBLING_TOWN = "410702001", "410702002", "410703001"


@pytest.fixture
def setup(city_with_grids: str) -> Iterator[tuple[TestClient, dict[str, User], str]]:
    make_station(city_with_grids, "PS410702001", TOWN, [TOWN, TOWN2])
    make_station(city_with_grids, "PS410702099", TOWN, [TOWN, SIBLING_TOWN])
    users = make_users(city_with_grids, {
        "city_admin": ["admin@4107", "commander@4107", "analyst@4107"],
        "county_admin": [f"admin@{COUNTY}", f"commander@{COUNTY}",
                         f"department_officer@{COUNTY}"],
        "sibling_admin": [f"admin@{SIBLING}", f"commander@{SIBLING}"],
        "analyst": [f"analyst@{COUNTY}"],
    })
    with TestClient(create_app(Settings(database_url=city_with_grids))) as client:
        yield client, users, city_with_grids


def _create(client: TestClient, who: User, username: str, posts: list[str],
            staff_no: str | None = None, **extra: Any) -> Any:
    body = {"username": username, "password": PASSWORD, "staff_no": staff_no or f"S-{username}",
            "name": f"{username} 同志", "posts": posts, **extra}
    return client.post("/api/v1/accounts", json=body, headers=who.auth)


def _audit(url: str, action: str) -> list[AuditRecord]:
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        rows = [AuditRecord(**dict(r._mapping)) for r in conn.execute(
            select(AuditRecord.__table__).where(AuditRecord.action == action)
            .order_by(AuditRecord.id))]
    engine.dispose()
    return rows


class TestCreate:
    def test_an_admin_creates_an_account_inside_their_subtree_with_a_role_they_hold(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, url = setup
        r = _create(client, users["county_admin"], "zhang_san", [f"commander@{TOWN}"])
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["username"] == "zhang_san" and body["is_active"] is True
        assert [p["post"] for p in body["posts"]] == [f"commander@{TOWN}"]
        record = _audit(url, "account.create")[-1]
        assert record.actor == "county_admin" and record.target_id == str(body["id"])
        assert record.region_code == TOWN
        token = client.post("/api/v1/auth/token",
                            data={"username": "zhang_san", "password": PASSWORD})
        me = client.get("/api/v1/me",
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert [p["region_code"] for p in me.json()["posts"]] == [TOWN]

    def test_a_role_the_admin_does_not_hold_is_403(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        r = _create(client, users["county_admin"], "li_si", [f"analyst@{TOWN}"])
        assert r.status_code == 403 and "analyst" in r.json()["message"]

    @pytest.mark.parametrize("post", [f"commander@{SIBLING}", f"commander@{SIBLING_TOWN}",
                                      "commander@4107", "commander@410799", "commander@4108"])
    def test_a_region_outside_the_subtree_is_404(
        self, post: str, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        r = _create(client, users["county_admin"], "wang_wu", [post])
        assert r.status_code == 404, r.text

    @pytest.mark.parametrize("post", ["commander", f"commander{TOWN}", f"@{TOWN}",
                                      f"mayor@{TOWN}", "commander@4107020", "commander@ps1"])
    def test_a_malformed_post_is_422_naming_posts(
        self, post: str, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        r = _create(client, users["county_admin"], "zhao_liu", [post])
        assert r.status_code == 422 and r.json()["field"] == "posts", r.text

    def test_no_post_is_422_and_no_permission_is_403(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        r = _create(client, users["county_admin"], "sun_qi", [])
        assert r.status_code == 422 and r.json()["field"] == "posts"
        assert _create(client, users["analyst"], "sun_qi", [f"analyst@{TOWN}"]).status_code \
            == 403

    def test_a_department_post_must_cover_only_regions_in_scope(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        ok = _create(client, users["county_admin"], "officer_a",
                     ["department_officer@PS410702001"])
        assert ok.status_code == 201, ok.text
        assert ok.json()["posts"][0]["organisation_code"] == "PS410702001"
        wide = _create(client, users["county_admin"], "officer_b",
                       ["department_officer@PS410702099"])
        assert wide.status_code == 404

    def test_an_existing_person_outside_scope_is_404_and_inside_is_linked(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        made = _create(client, users["sibling_admin"], "far_away", [f"commander@{SIBLING}"],
                       staff_no="S-shared")
        assert made.status_code == 201
        # The same staff number, from the other county: the person is not theirs to see.
        r = _create(client, users["county_admin"], "grab", [f"commander@{TOWN}"],
                    staff_no="S-shared")
        assert r.status_code == 404
        assert _create(client, users["county_admin"], "taken", [f"commander@{TOWN}"],
                       staff_no="S-far_away2").status_code == 201
        again = _create(client, users["county_admin"], "taken2", [f"commander@{TOWN}"],
                        staff_no="S-far_away2")
        assert again.status_code == 409


class TestListAndChange:
    def test_the_list_shows_accounts_in_scope_only_with_keyset_pages(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        for i in range(3):
            assert _create(client, users["county_admin"], f"near{i}",
                           [f"commander@{TOWN}"]).status_code == 201
        assert _create(client, users["sibling_admin"], "far",
                       [f"commander@{SIBLING}"]).status_code == 201
        seen: list[str] = []
        url: str | None = "/api/v1/accounts?limit=2"
        while url:
            page = client.get(url, headers=users["county_admin"].auth).json()
            seen += [a["username"] for a in page["items"]]
            url = (f"/api/v1/accounts?limit=2&after={page['next_cursor']}"
                   if page["next_cursor"] else None)
        assert seen == ["county_admin", "analyst", "near0", "near1", "near2"]
        # The city administrator sees the county's accounts but only their in-scope posts.
        city = client.get("/api/v1/accounts?limit=200", headers=users["city_admin"].auth).json()
        assert {"far", "near0", "county_admin"} <= {a["username"] for a in city["items"]}

    def test_grant_remove_and_revoke(self, setup: tuple[TestClient, dict[str, User], str]
                                     ) -> None:
        client, users, url = setup
        admin = users["county_admin"]
        made = _create(client, admin, "worker", [f"commander@{TOWN}"]).json()
        token = client.post("/api/v1/auth/token",
                            data={"username": "worker", "password": PASSWORD}).json()
        worker = {"Authorization": f"Bearer {token['access_token']}"}
        assert client.get(f"/api/v1/regions/{TOWN2}", headers=worker).status_code == 404

        granted = client.post(f"/api/v1/accounts/{made['id']}/posts",
                              json={"post": f"commander@{TOWN2}"}, headers=admin.auth)
        assert granted.status_code == 201, granted.text
        assert client.get(f"/api/v1/regions/{TOWN2}", headers=worker).status_code == 200
        assert client.post(f"/api/v1/accounts/{made['id']}/posts",
                           json={"post": f"commander@{SIBLING_TOWN}"},
                           headers=admin.auth).status_code == 404
        assert client.post(f"/api/v1/accounts/{made['id']}/posts", json={"post": "x"},
                           headers=admin.auth).json()["field"] == "post"

        first = made["posts"][0]["id"]
        removed = client.delete(f"/api/v1/accounts/{made['id']}/posts/{first}",
                                headers=admin.auth)
        assert removed.status_code == 200
        assert [p["post"] for p in removed.json()["posts"]] == [f"commander@{TOWN2}"]
        last = removed.json()["posts"][0]["id"]
        assert client.delete(f"/api/v1/accounts/{made['id']}/posts/{last}",
                             headers=admin.auth).status_code == 409

        revoked = client.post(f"/api/v1/accounts/{made['id']}/revoke", headers=admin.auth)
        assert revoked.status_code == 200 and revoked.json()["is_active"] is False
        assert client.get("/api/v1/me", headers=worker).status_code == 401
        assert client.post("/api/v1/auth/token", data={"username": "worker",
                                                       "password": PASSWORD}).status_code == 401
        actions = [r.action for r in _audit(url, "account.grant_post")
                   + _audit(url, "account.remove_post") + _audit(url, "account.revoke")]
        assert actions == ["account.grant_post", "account.remove_post", "account.revoke"]

    def test_accounts_of_another_subtree_are_404_and_ones_own_is_403(
        self, setup: tuple[TestClient, dict[str, User], str]
    ) -> None:
        client, users, _ = setup
        admin, other = users["county_admin"], users["sibling_admin"]
        for method, path in [("GET", ""), ("POST", "/revoke"), ("POST", "/posts"),
                             ("DELETE", "/posts/1")]:
            body = {"post": f"commander@{TOWN}"} if path == "/posts" else None
            r = client.request(method, f"/api/v1/accounts/{other.account_id}{path}",
                               json=body, headers=admin.auth)
            assert r.status_code == 404, (method, path, r.text)
        mine = client.post(f"/api/v1/accounts/{admin.account_id}/revoke", headers=admin.auth)
        assert mine.status_code == 403
        # The city sees the county administrator, who also holds nothing outside the city.
        assert client.get(f"/api/v1/accounts/{admin.account_id}",
                          headers=users["city_admin"].auth).status_code == 200
