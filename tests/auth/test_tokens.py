"""Token log-in, /me, expiry, log-out (here and everywhere), revoked accounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import PASSWORD, authorize, bearer_token, create_account

from wangge.app import create_app
from wangge.auth.service import auth_service
from wangge.authz.scope import Subject
from wangge.config import Settings
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, create_sessionmaker, utcnow
from wangge.models import Account, AuditRecord, AuthSession


@pytest.fixture
def url(city_with_grids: str) -> str:
    return city_with_grids


@pytest.fixture
def client(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=url))) as c:
        yield c


def _rows(url: str, stmt):  # type: ignore[no-untyped-def]
    async def work():  # type: ignore[no-untyped-def]
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(stmt)).all()
        finally:
            await engine.dispose()

    return run_sync(work)


def _execute(url: str, stmt) -> None:  # type: ignore[no-untyped-def]
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(stmt)
        finally:
            await engine.dispose()

    run_sync(work)


class TestPasswordStorage:
    def test_only_an_argon2id_hash_is_stored(self, url: str) -> None:
        create_account(url, "zhang.san", posts=["commander@410702"])
        [(stored,)] = _rows(url, select(Account.password_hash))
        assert stored.startswith("$argon2id$") and PASSWORD not in stored


class TestTokenFlow:
    def test_no_token_is_401_with_www_authenticate(self, client: TestClient) -> None:
        res = client.get("/api/v1/me")
        assert res.status_code == 401
        assert res.headers["www-authenticate"] == "Bearer"
        assert client.get("/api/v1/regions/4107").status_code == 401

    def test_a_bad_token_is_401(self, client: TestClient) -> None:
        res = client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
        assert res.status_code == 401

    def test_token_response_and_me(self, client: TestClient, url: str) -> None:
        create_account(url, "li.si", posts=["commander@410702", "analyst@410703"],
                       person_name="李四")
        res = client.post("/api/v1/auth/token", data={"username": "li.si", "password": PASSWORD})
        assert res.status_code == 200
        body = res.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600
        assert len(body["access_token"]) >= 40
        me = authorize(client, body["access_token"]).get("/api/v1/me").json()
        assert me["account"]["username"] == "li.si"
        assert me["person"]["name"] == "李四" and me["person"]["staff_no"] == "U-li.si"
        assert me["posts"] == [
            {"role": "commander", "code": "410702", "region_code": "410702"},
            {"role": "analyst", "code": "410703", "region_code": "410703"},
        ]
        assert me["scope"] == ["410702", "410703"]
        assert "case:dispatch" in me["permissions"] and "admin:users" not in me["permissions"]
        assert me["permissions"] == sorted(me["permissions"])

    def test_expired_token_is_401(self, client: TestClient, url: str) -> None:
        create_account(url, "wang.wu", posts=["analyst@4107"])
        authorize(client, bearer_token(client, "wang.wu"))
        assert client.get("/api/v1/me").status_code == 200
        _execute(url, update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert client.get("/api/v1/me").status_code == 401

    def test_logout_ends_only_this_session(self, client: TestClient, url: str) -> None:
        create_account(url, "zhao.liu", posts=["analyst@4107"])
        first = bearer_token(client, "zhao.liu")
        second = bearer_token(client, "zhao.liu")
        res = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {first}"})
        assert res.status_code == 200 and res.json() == {"revoked": 1}
        assert client.get("/api/v1/me",
                          headers={"Authorization": f"Bearer {first}"}).status_code == 401
        assert client.get("/api/v1/me",
                          headers={"Authorization": f"Bearer {second}"}).status_code == 200

    def test_logout_everywhere(self, client: TestClient, url: str) -> None:
        create_account(url, "sun.qi", posts=["analyst@4107"])
        tokens = [bearer_token(client, "sun.qi") for _ in range(3)]
        res = client.post("/api/v1/auth/logout?everywhere=true",
                          headers={"Authorization": f"Bearer {tokens[0]}"})
        assert res.json() == {"revoked": 3}
        for token in tokens:
            assert client.get("/api/v1/me",
                              headers={"Authorization": f"Bearer {token}"}).status_code == 401

    def test_revoked_account_is_401_and_cannot_log_in(self, client: TestClient, url: str) -> None:
        create_account(url, "zhou.ba", posts=["analyst@4107"])
        token = bearer_token(client, "zhou.ba")

        async def revoke() -> int:
            engine = create_engine(url)
            try:
                async with create_sessionmaker(engine)() as session:
                    n = await auth_service.revoke_account(session, Subject.everything(),
                                                          "zhou.ba")
                    await session.commit()
                    return n
            finally:
                await engine.dispose()

        assert run_sync(revoke) == 1
        assert client.get("/api/v1/me",
                          headers={"Authorization": f"Bearer {token}"}).status_code == 401
        res = client.post("/api/v1/auth/token", data={"username": "zhou.ba",
                                                      "password": PASSWORD})
        assert res.status_code == 401
        assert res.json()["message"] == "wrong user name or password"

    def test_log_ins_are_audited_without_the_password(self, client: TestClient, url: str) -> None:
        create_account(url, "wu.jiu", posts=["analyst@4107"])
        bearer_token(client, "wu.jiu")
        client.post("/api/v1/auth/token", data={"username": "wu.jiu", "password": "wrong-one"})
        rows = _rows(url, select(AuditRecord.action, AuditRecord.actor, AuditRecord.client_addr,
                                 AuditRecord.changes).order_by(AuditRecord.id))
        actions = [(a, actor) for a, actor, _, _ in rows]
        assert ("auth.login", "wu.jiu") in actions and ("auth.login_failed", "wu.jiu") in actions
        assert all(addr == "testclient" for a, _, addr, _ in rows if a.startswith("auth."))
        assert not any(PASSWORD in c or "wrong-one" in c for *_, c in rows)


class TestNoPost:
    def test_an_account_without_posts_logs_in_and_sees_nothing(
        self, client: TestClient, url: str
    ) -> None:
        create_account(url, "nobody")
        authorize(client, bearer_token(client, "nobody"))
        me = client.get("/api/v1/me").json()
        assert me["posts"] == [] and me["scope"] == [] and me["permissions"] == []
        res = client.get("/api/v1/regions/4107")
        assert res.status_code == 404


class TestOpenAPI:
    def test_routes_declare_the_bearer_scheme(self, client: TestClient) -> None:
        spec = client.get("/openapi.json").json()
        scheme = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]
        assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
        assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
        assert "security" not in spec["paths"]["/api/v1/auth/token"]["post"]
