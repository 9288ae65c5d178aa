"""The three refusals on representative routes: 401 without a token, 403 without the
permission, 404 outside the caller's scope (existence is not revealed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.admin.support import User, make_users

from wangge.app import create_app
from wangge.config import Settings

COUNTY, SIBLING = "410702", "410703"


@pytest.fixture
def setup(city_with_grids: str) -> Iterator[tuple[TestClient, dict[str, User]]]:
    users = make_users(city_with_grids, {
        "admin": [f"admin@{COUNTY}", f"commander@{COUNTY}"],
        "analyst": [f"analyst@{COUNTY}"],
        "sibling": [f"admin@{SIBLING}"],
    })
    with TestClient(create_app(Settings(database_url=city_with_grids)),
                    follow_redirects=False) as client:
        yield client, users


class TestUnauthorized:
    @pytest.mark.parametrize("path", ["/api/v1/me", f"/api/v1/regions/{COUNTY}",
                                      f"/api/v1/regions/{COUNTY}/children", "/api/v1/accounts",
                                      "/api/v1/grids/locate?lng=114&lat=35"])
    def test_no_token_is_401(self, path: str, setup: tuple[TestClient, dict[str, User]]
                             ) -> None:
        client, _ = setup
        r = client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"

    def test_a_bad_or_revoked_token_is_401(self, setup: tuple[TestClient, dict[str, User]]
                                           ) -> None:
        client, users = setup
        bad = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
        assert client.post("/api/v1/auth/logout", headers=users["analyst"].auth).status_code \
            == 200
        assert client.get("/api/v1/me", headers=users["analyst"].auth).status_code == 401

    def test_a_page_without_a_session_goes_to_log_in(
        self, setup: tuple[TestClient, dict[str, User]]
    ) -> None:
        client, _ = setup
        r = client.get(f"/regions/{COUNTY}")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


class TestForbidden:
    @pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/accounts"),
                                                  ("POST", "/api/v1/accounts"),
                                                  ("POST", "/api/v1/accounts/1/revoke")])
    def test_an_analyst_may_not_administer_accounts(
        self, method: str, path: str, setup: tuple[TestClient, dict[str, User]]
    ) -> None:
        client, users = setup
        r = client.request(method, path, headers=users["analyst"].auth,
                           json={} if method == "POST" else None)
        assert r.status_code == 403 and r.json()["permission"] == "admin:users"

    def test_the_same_analyst_may_read_their_region(
        self, setup: tuple[TestClient, dict[str, User]]
    ) -> None:
        client, users = setup
        assert client.get(f"/api/v1/regions/{COUNTY}",
                          headers=users["analyst"].auth).status_code == 200


class TestNotFound:
    @pytest.mark.parametrize("path", [f"/api/v1/regions/{SIBLING}",
                                      f"/api/v1/regions/{SIBLING}/children",
                                      f"/api/v1/regions/{SIBLING}/geometry",
                                      f"/api/v1/regions/{SIBLING}/staff",
                                      "/api/v1/regions/4107", f"/regions/{SIBLING}"])
    def test_a_region_outside_scope_is_404_like_one_that_does_not_exist(
        self, path: str, setup: tuple[TestClient, dict[str, User]]
    ) -> None:
        client, users = setup
        outside = client.get(path, headers=users["admin"].auth)
        missing = client.get(path.replace(SIBLING, "410798").replace("4107", "4198"),
                             headers=users["admin"].auth)
        assert outside.status_code == missing.status_code == 404

    def test_an_account_outside_scope_is_404(self, setup: tuple[TestClient, dict[str, User]]
                                             ) -> None:
        client, users = setup
        r = client.get(f"/api/v1/accounts/{users['sibling'].account_id}",
                       headers=users["admin"].auth)
        assert r.status_code == 404
        assert client.get("/api/v1/accounts/999999", headers=users["admin"].auth).json() \
            == {**r.json(), "message": "account 999999 not found", "account_id": 999999}
