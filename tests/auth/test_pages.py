"""Log-in and log-out pages: cookie sessions, CSRF, redirects to /login with a safe next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.factories import PASSWORD, create_account, csrf_from, page_login

from wangge.app import create_app
from wangge.auth.pages import safe_next
from wangge.config import Settings


@pytest.fixture
def url(city_with_grids: str) -> str:
    create_account(city_with_grids, "chen", posts=["commander@410702"], person_name="陈指挥")
    return city_with_grids


@pytest.fixture
def client(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=url)), follow_redirects=False) as c:
        yield c


class TestRedirectToLogin:
    def test_a_page_without_a_session_goes_to_login_with_next(self, client: TestClient) -> None:
        res = client.get("/regions/410702?lang=en")
        assert res.status_code == 303
        assert res.headers["location"] == "/login?next=%2Fregions%2F410702%3Flang%3Den"

    def test_htmx_fragments_get_hx_redirect(self, client: TestClient) -> None:
        res = client.get("/regions/410702/rows", headers={"HX-Request": "true"})
        assert res.status_code == 401 and res.headers["hx-redirect"].startswith("/login?next=")

    def test_the_api_still_answers_json_401(self, client: TestClient) -> None:
        res = client.get("/api/v1/regions/410702")
        assert res.status_code == 401 and res.json()["error"] == "unauthorized"

    @pytest.mark.parametrize("target, expected", [
        ("/regions/4107", "/regions/4107"), ("/regions/4107?lang=en", "/regions/4107?lang=en"),
        ("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"), ("", "/"), (None, "/"), ("/login?next=/x", "/"),
    ])
    def test_next_is_a_local_path_only(self, target: str | None, expected: str) -> None:
        assert safe_next(target) == expected


class TestLogin:
    def test_the_form_sets_a_double_submit_token(self, client: TestClient) -> None:
        res = client.get("/login?next=/regions/410702")
        assert res.status_code == 200 and "用户名" in res.text
        assert csrf_from(res.text) == client.cookies.get("wangge_login_csrf")
        assert 'name="next" value="/regions/410702"' in res.text

    def test_log_in_sets_a_secure_cookie_session_and_goes_on(self, client: TestClient) -> None:
        res = page_login(client, "chen", next_url="/regions/410702")
        assert res.status_code == 303 and res.headers["location"] == "/regions/410702"
        cookie = res.headers["set-cookie"]
        assert "wangge_session=" in cookie and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower() and "Secure" not in cookie  # http here
        page = client.get("/regions/410702")
        assert page.status_code == 200
        assert 'data-testid="user-name">chen<' in page.text and 'action="/logout"' in page.text

    def test_secure_flag_over_https(self, url: str) -> None:
        app = create_app(Settings(database_url=url))
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
            res = page_login(c, "chen")
        assert res.status_code == 303 and "Secure" in res.headers["set-cookie"]

    def test_home_starts_at_the_users_own_region(self, client: TestClient) -> None:
        page_login(client, "chen")
        res = client.get("/")
        assert res.status_code == 303 and res.headers["location"] == "/regions/410702"

    def test_a_wrong_password_shows_the_generic_error(self, client: TestClient) -> None:
        res = page_login(client, "chen", password="not-the-password")
        assert res.status_code == 401 and "用户名或密码错误" in res.text
        res = page_login(client, "nobody-here", password=PASSWORD)
        assert res.status_code == 401 and "用户名或密码错误" in res.text
        assert "wangge_session" not in client.cookies

    def test_the_login_form_without_its_token_is_refused(self, client: TestClient) -> None:
        client.get("/login")
        res = client.post("/login", data={"username": "chen", "password": PASSWORD,
                                          "csrf_token": "forged"})
        assert res.status_code == 403 and "wangge_session" not in client.cookies
        client.cookies.clear()
        res = client.post("/login", data={"username": "chen", "password": PASSWORD})
        assert res.status_code == 403


class TestLogout:
    def test_logout_needs_the_sessions_csrf_token(self, client: TestClient) -> None:
        page_login(client, "chen")
        token = csrf_from(client.get("/regions/410702").text)
        assert client.post("/logout").status_code == 403
        assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
        assert client.get("/regions/410702").status_code == 200  # still logged in
        res = client.post("/logout", data={"csrf_token": token})
        assert res.status_code == 303 and res.headers["location"] == "/login"
        assert client.get("/regions/410702").status_code == 303

    def test_the_old_cookie_is_dead_after_logout(self, client: TestClient) -> None:
        page_login(client, "chen")
        session_cookie = client.cookies.get("wangge_session")
        token = csrf_from(client.get("/regions/410702").text)
        client.post("/logout", data={"csrf_token": token})
        client.cookies.set("wangge_session", session_cookie or "")
        assert client.get("/api/v1/me").status_code == 401

    def test_a_cookie_session_reads_the_api_too(self, client: TestClient) -> None:
        page_login(client, "chen")
        me = client.get("/api/v1/me").json()
        assert me["account"]["username"] == "chen" and me["person"]["name"] == "陈指挥"


class TestNoPostPage:
    def test_a_user_without_a_post_is_told_so(self, client: TestClient, url: str) -> None:
        create_account(url, "lonely")
        page_login(client, "lonely")
        res = client.get("/", follow_redirects=True)
        assert res.status_code == 404 and 'data-testid="no-post"' in res.text
        assert "尚未分配岗位" in res.text and 'data-testid="user-name">lonely<' in res.text
        assert client.get("/regions/4107").status_code == 404
