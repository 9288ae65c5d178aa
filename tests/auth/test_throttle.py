"""Failed log-ins are slowed, then locked, per user name and per client address; the answer
never tells a wrong name from a wrong password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import PASSWORD, create_account

from wangge.app import create_app
from wangge.config import Settings, get_settings
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, utcnow
from wangge.models import Account, LoginAttempt

TOKEN = "/api/v1/auth/token"
GENERIC = {"error": "login_failed", "message": "wrong user name or password"}


@pytest.fixture
def url(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from tests.conftest import insert_plain_grids

    monkeypatch.setenv("WANGGE_LOGIN_SLOW_AFTER", "3")
    monkeypatch.setenv("WANGGE_LOGIN_SLOW_SECONDS", "30")
    monkeypatch.setenv("WANGGE_LOGIN_LOCK_AFTER", "6")
    monkeypatch.setenv("WANGGE_LOGIN_LOCK_MINUTES", "15")
    get_settings.cache_clear()
    insert_plain_grids(database)
    create_account(database, "alice", posts=["analyst@410702"])
    create_account(database, "bob", posts=["analyst@410703"])
    yield database
    get_settings.cache_clear()


def client_at(url: str, addr: str) -> TestClient:
    return TestClient(create_app(Settings(database_url=url)), client=(addr, 40000))


def _login(client: TestClient, username: str, password: str) -> tuple[int, dict, dict]:
    res = client.post(TOKEN, data={"username": username, "password": password})
    return res.status_code, res.json(), dict(res.headers)


def _age_attempts(url: str, by: timedelta) -> None:
    """Moves every recorded attempt (and lock) into the past, as if time had passed."""

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                for row in (await conn.execute(select(LoginAttempt.id, LoginAttempt.at))).all():
                    await conn.execute(update(LoginAttempt).where(LoginAttempt.id == row.id)
                                       .values(at=row.at - by))
                await conn.execute(update(Account).values(locked_until=None))
        finally:
            await engine.dispose()

    run_sync(work)


def _locked_until(url: str, username: str):  # type: ignore[no-untyped-def]
    async def work():  # type: ignore[no-untyped-def]
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(select(Account.locked_until)
                                           .where(Account.username == username))).scalar_one()
        finally:
            await engine.dispose()

    return run_sync(work)


class TestGenericError:
    def test_unknown_name_and_wrong_password_answer_alike(self, url: str) -> None:
        with client_at(url, "10.0.0.1") as a, client_at(url, "10.0.0.2") as b:
            wrong_password = _login(a, "alice", "not-her-password")
            unknown_name = _login(b, "no-such-user", PASSWORD)
        assert wrong_password[0] == unknown_name[0] == 401
        assert wrong_password[1] == unknown_name[1] == GENERIC
        assert wrong_password[2]["www-authenticate"] == "Bearer"


class TestPerAccount:
    def test_slowed_after_failures_even_from_new_addresses(self, url: str) -> None:
        for i in range(3):
            with client_at(url, f"10.1.0.{i}") as c:
                assert _login(c, "alice", "bad-guess")[0] == 401
        with client_at(url, "10.1.0.99") as c:
            status, body, headers = _login(c, "alice", PASSWORD)  # even the right password
            assert status == 429 and body["error"] == "too_many_requests"
            assert "wait" in body["message"] and "password" not in body["message"]
            assert 1 <= int(headers["retry-after"]) <= 30
            # Another account from a fresh address is unaffected.
            assert _login(c, "bob", PASSWORD)[0] == 200

    def test_locked_after_more_failures_then_unlocked_by_time(self, url: str) -> None:
        for i in range(6):
            _age_attempts(url, timedelta(seconds=31))  # past the slow-down, not the window
            with client_at(url, f"10.2.0.{i}") as c:
                assert _login(c, "alice", "bad-guess")[0] == 401
        with client_at(url, "10.2.0.99") as c:
            status, _, headers = _login(c, "alice", PASSWORD)
            assert status == 429 and 14 * 60 < int(headers["retry-after"]) <= 15 * 60
        assert _locked_until(url, "alice") is not None
        _age_attempts(url, timedelta(minutes=16))
        with client_at(url, "10.2.0.99") as c:
            assert _login(c, "alice", PASSWORD)[0] == 200

    def test_an_unknown_name_is_throttled_like_a_real_one(self, url: str) -> None:
        for i in range(3):
            with client_at(url, f"10.3.0.{i}") as c:
                _login(c, "ghost", "x" * 8)
                _login(c, "alice", "x" * 8)
        with client_at(url, "10.3.0.99") as c:
            ghost, alice = _login(c, "ghost", "x" * 8), _login(c, "alice", "x" * 8)
        assert ghost[0] == alice[0] == 429 and ghost[1]["message"] == alice[1]["message"]


class TestPerAddress:
    def test_one_address_trying_many_names_is_slowed(self, url: str) -> None:
        with client_at(url, "10.4.0.1") as c:
            for name in ("alice", "bob", "carol"):
                assert _login(c, name, "bad-guess")[0] == 401
            status, _, headers = _login(c, "bob", PASSWORD)
            assert status == 429 and int(headers["retry-after"]) >= 1
        with client_at(url, "10.4.0.2") as other:
            assert _login(other, "bob", PASSWORD)[0] == 200

    def test_success_does_not_reset_the_address_count(self, url: str) -> None:
        with client_at(url, "10.5.0.1") as c:
            assert _login(c, "alice", "bad-guess")[0] == 401
            assert _login(c, "bob", "bad-guess")[0] == 401
            assert _login(c, "alice", PASSWORD)[0] == 200
            assert _login(c, "carol", "bad-guess")[0] == 401
            assert _login(c, "bob", PASSWORD)[0] == 429

    def test_failures_are_recorded_without_passwords(self, url: str) -> None:
        with client_at(url, "10.6.0.1") as c:
            _login(c, "alice", "secret-guess-1")

        async def work():  # type: ignore[no-untyped-def]
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    return (await conn.execute(select(LoginAttempt))).all()
            finally:
                await engine.dispose()

        rows = run_sync(work)
        assert [(r.username, r.client_addr, r.success) for r in rows] == [
            ("alice", "10.6.0.1", False)]
        assert utcnow() - rows[0].at < timedelta(minutes=1)
