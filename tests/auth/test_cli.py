"""`wangge users create/revoke`: clear one-line errors (exit 2), the account works."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.factories import PASSWORD, authorize, bearer_token
from typer.testing import CliRunner

from wangge.app import create_app
from wangge.cli import app as cli
from wangge.config import Settings, get_settings
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine
from wangge.models import Account, Person

runner = CliRunner()


@pytest.fixture
def url(city_with_grids: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("WANGGE_DATABASE_URL", city_with_grids)
    get_settings.cache_clear()
    yield city_with_grids
    get_settings.cache_clear()


def _count(url: str, model: type) -> int:
    async def work() -> int:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(model)))
                           .scalar_one())
        finally:
            await engine.dispose()

    return run_sync(work)


class TestCreate:
    def test_creates_an_account_that_logs_in_with_its_posts(self, url: str) -> None:
        res = runner.invoke(cli, ["users", "create", "liu", "--password", PASSWORD,
                                  "--post", "commander@410702", "--post", "grid_member@410703",
                                  "--name", "刘一"])
        assert res.exit_code == 0, res.output
        assert "created account liu" in res.output
        with TestClient(create_app(Settings(database_url=url))) as client:
            me = authorize(client, bearer_token(client, "liu")).get("/api/v1/me").json()
            assert me["person"]["name"] == "刘一"
            assert [p["code"] for p in me["posts"]] == ["410702", "410703"]
            assert client.get("/api/v1/regions/410702").status_code == 200
            assert client.get("/api/v1/regions/410711").status_code == 404

    def test_without_a_post_it_logs_in_and_sees_nothing(self, url: str) -> None:
        res = runner.invoke(cli, ["users", "create", "nopost", "--password", PASSWORD])
        assert res.exit_code == 0 and "no post" in res.output
        with TestClient(create_app(Settings(database_url=url))) as client:
            authorize(client, bearer_token(client, "nopost"))
            assert client.get("/api/v1/me").json()["scope"] == []
            assert client.get("/api/v1/regions/4107").status_code == 404

    @pytest.mark.parametrize("args, message", [
        (["--post", "chief@410702"], "posts: unknown role 'chief'"),
        (["--post", "commander@999999"], "posts: no region with code 999999"),
        (["--post", "commander"], "posts: 'commander' is not ROLE@CODE"),
        (["--post", "commander@PSXXXX"], "posts: no region or organisation with code PSXXXX"),
    ])
    def test_bad_posts_are_one_line_exit_2_and_nothing_stored(
        self, url: str, args: list[str], message: str
    ) -> None:
        people = _count(url, Person)
        res = runner.invoke(cli, ["users", "create", "bad", "--password", PASSWORD, *args])
        assert res.exit_code == 2
        [line] = res.output.strip().splitlines()
        assert line.startswith(f"error: {message}")
        assert _count(url, Account) == 0 and _count(url, Person) == people

    def test_short_password_and_taken_name(self, url: str) -> None:
        res = runner.invoke(cli, ["users", "create", "wei", "--password", "short"])
        assert res.exit_code == 2 and "password: at least 8 characters" in res.output
        assert runner.invoke(cli, ["users", "create", "wei", "--password", PASSWORD]
                             ).exit_code == 0
        res = runner.invoke(cli, ["users", "create", "wei", "--password", PASSWORD])
        assert res.exit_code == 2 and "username: wei is taken" in res.output


class TestRevoke:
    def test_revoke_ends_sessions_and_log_in(self, url: str) -> None:
        runner.invoke(cli, ["users", "create", "han", "--password", PASSWORD,
                            "--post", "analyst@4107"])
        with TestClient(create_app(Settings(database_url=url))) as client:
            token = bearer_token(client, "han")
            res = runner.invoke(cli, ["users", "revoke", "han"])
            assert res.exit_code == 0 and "1 session(s) ended" in res.output
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                              ).status_code == 401
            assert client.post("/api/v1/auth/token", data={"username": "han",
                                                           "password": PASSWORD}
                               ).status_code == 401

    def test_unknown_user_is_exit_2(self, url: str) -> None:
        res = runner.invoke(cli, ["users", "revoke", "ghost"])
        assert res.exit_code == 2 and res.output.strip() == "error: no account ghost"
