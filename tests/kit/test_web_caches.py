"""The per-process caches on the request path: a token's subject, and the grid index version."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from tests.factories import authorize, bearer_token, create_account

from wangge.app import create_app
from wangge.config import Settings
from wangge.kit.db import sync_url, utcnow
from wangge.kit.web import subject_cache
from wangge.models import AuthSession, Post


def _execute(url: str, stmt: object) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(stmt)  # type: ignore[call-overload]
    engine.dispose()


@pytest.fixture
def client(city_with_grids: str) -> TestClient:
    subject_cache.clear()
    with TestClient(create_app(Settings(database_url=city_with_grids, auth_cache_seconds=60))) as c:
        yield c  # type: ignore[misc]
    subject_cache.clear()


class TestSubjectCache:
    def test_a_token_is_looked_up_once_within_the_window(self, client: TestClient,
                                                         city_with_grids: str) -> None:
        create_account(city_with_grids, "cached.user", posts=["analyst@4107"])
        authorize(client, bearer_token(client, "cached.user"))
        assert client.get("/api/v1/me").status_code == 200
        # Expired behind the app's back: the cached subject still answers inside the window...
        expired = utcnow() - timedelta(seconds=1)
        _execute(city_with_grids, update(AuthSession).values(expires_at=expired))
        assert client.get("/api/v1/me").status_code == 200
        # ...until this process clears it (log-out, revocation or a post change does).
        subject_cache.clear()
        assert client.get("/api/v1/me").status_code == 401

    def test_logout_ends_the_token_at_once(self, client: TestClient, city_with_grids: str) -> None:
        create_account(city_with_grids, "leaving.user", posts=["analyst@4107"])
        authorize(client, bearer_token(client, "leaving.user"))
        assert client.get("/api/v1/me").status_code == 200
        assert client.post("/api/v1/auth/logout").status_code in (200, 204)
        assert client.get("/api/v1/me").status_code == 401

    def test_scope_changes_are_seen_after_the_window(self, client: TestClient,
                                                     city_with_grids: str) -> None:
        create_account(city_with_grids, "moved.user", posts=["analyst@4107"])
        authorize(client, bearer_token(client, "moved.user"))
        assert client.get("/api/v1/me").json()["scope"] == ["4107"]
        _execute(city_with_grids, update(Post).values(region_code="410702"))
        assert client.get("/api/v1/me").json()["scope"] == ["4107"]  # cached
        subject_cache.clear()
        assert client.get("/api/v1/me").json()["scope"] == ["410702"]

    def test_the_client_address_is_the_requests_own(self, client: TestClient,
                                                    city_with_grids: str) -> None:
        create_account(city_with_grids, "roaming.user", posts=["analyst@4107"])
        token = bearer_token(client, "roaming.user")
        authorize(client, token)
        client.get("/api/v1/me")
        cached = next(iter(subject_cache._entries.values()))
        assert cached[1].client_addr == "testclient"
