"""Log-in and log-out pages (cookie sessions), and the redirect to log-in for pages."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from wangge.auth.service import LoginFailed, auth_service
from wangge.config import Settings
from wangge.kit.errors import TooManyRequests
from wangge.kit.web import SESSION_COOKIE, CsrfSubject, Session, client_addr
from wangge.web.pages import render, request_language

# Double-submit token of the log-in form (there is no session yet to hold it).
LOGIN_CSRF_COOKIE = "wangge_login_csrf"
# Requests under these paths answer 401 as JSON instead of redirecting to the log-in page.
NON_PAGE_PREFIXES = ("/api/", "/static/", "/healthz", "/readyz")

router = APIRouter(include_in_schema=False)


def is_page_request(request: Request) -> bool:
    """True for HTML page requests (they get a redirect to /login rather than a JSON 401)."""
    return not request.url.path.startswith(NON_PAGE_PREFIXES)


def safe_next(target: str | None) -> str:
    """A local path to go to after log-in; anything else (another host, a scheme) becomes /."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or parts.path.startswith("/login"):
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    """To the log-in page, remembering where the user was going (htmx gets HX-Redirect)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(safe_next(here), safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def no_post_page(request: Request) -> Response | None:
    """For a logged-in page user without any post: a page saying so (else None)."""
    subject = getattr(request.state, "subject", None)
    if subject is None or subject.prefixes:
        return None
    return render(request, request_language(request), "no_post.html", status_code=404)


def _login_page(request: Request, *, next_url: str, status_code: int = 200,
                error: str | None = None, username: str = "",
                headers: dict[str, str] | None = None) -> Response:
    lang = request_language(request)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, lang, "login.html", status_code=status_code,
                       login_csrf=token, next_url=next_url, error=error, username=username)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    """The log-in form."""
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request, session: Session,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    """Logs in with a cookie session and goes on to ``next`` (a local path)."""
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not csrf_token or not secrets.compare_digest(expected, csrf_token):
        return _login_page(request, next_url=target, status_code=403, error="csrf_failed",
                           username=username)
    try:
        token, _ = await auth_service.login(
            session, username, password, client_addr(request), kind="cookie")
    except LoginFailed:
        await session.commit()  # keep the failed attempt: throttling counts it
        return _login_page(request, next_url=target, status_code=401, error="login_failed",
                           username=username)
    except TooManyRequests as exc:
        await session.commit()
        return _login_page(request, next_url=target, status_code=429, error="login_wait",
                           username=username, headers=exc.headers())
    settings: Settings = request.app.state.settings
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(settings.cookie_hours * 3600), httponly=True,
        samesite="lax", secure=request.url.scheme == "https", path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, session: Session, subject: CsrfSubject) -> Response:
    """Ends this cookie session and returns to the log-in page."""
    await auth_service.logout(session, subject, request.state.auth_session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
