"""FastAPI plumbing shared by every domain: session and subject dependencies, error responses."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import REGION_READ
from wangge.authz.scope import Subject
from wangge.kit.db import utcnow
from wangge.kit.errors import Forbidden, NotFound, Unauthorized


@contextlib.asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed at the end if any work began in it, rolled back on
    any error. The request boundary commits; services only flush."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            if session.in_transaction():
                await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request (``unit_of_work``) as a dependency."""
    async with unit_of_work(request) as session:
        yield session


# Scope "function": the session commits before the response is sent. FastAPI's default for
# yield dependencies ("request") runs the commit after the response has gone out, so a client
# could be told 200/201 for a write that then fails to commit, or read its own write too early.
SESSION = Depends(get_session, scope="function")

SESSION_COOKIE = "wangge_session"


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_token(request: Request) -> str | None:
    """The bearer token (API) or the session cookie (pages), whichever the request carries."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


@dataclasses.dataclass(frozen=True)
class SessionFacts:
    """What requests need of their session row (a plain copy: safe to keep across requests)."""

    id: int
    kind: str
    csrf_token: str | None
    expires_at: datetime


class SubjectCache:
    """Token hash → (subject, its session row) for a few seconds, so a busy client (a phone
    sending reports, a screen polling) costs no session and post look-ups on every request.

    Log-out, revocation and post changes clear this process's cache at once; other processes
    see them within ``auth_cache_seconds`` (decision 0011).
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Subject, SessionFacts]] = {}

    def get(self, key: str) -> tuple[Subject, SessionFacts] | None:
        import time

        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return found[1], found[2]

    def put(self, key: str, subject: Subject, auth_session: SessionFacts,
            seconds: float) -> None:
        import time

        if seconds <= 0:
            return
        if len(self._entries) > 100_000:
            self._entries.clear()
        lifetime = min(seconds, (auth_session.expires_at - utcnow()).total_seconds())
        if lifetime > 0:
            self._entries[key] = (time.monotonic() + lifetime, subject, auth_session)

    def clear(self) -> None:
        self._entries.clear()


subject_cache = SubjectCache()


# Declares the bearer scheme in OpenAPI ("Authorize" in /docs, a lock on every route that needs a
# subject); get_subject reads the header itself so that page session cookies work too.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_subject(request: Request,
                      _bearer: Annotated[str | None, Depends(oauth2_scheme)] = None) -> Subject:
    """The logged-in subject; 401 without a valid session or token.

    A cache hit touches no database; a miss reads the token's session, account and posts in one
    query: on the direct pool (PostgreSQL), else on a short session of its own — so a route
    that needs no session opens none."""
    from wangge.auth.repository import AuthRepository, live_subject_rows_direct
    from wangge.auth.subjects import subject_from_token_rows
    from wangge.auth.tokens import token_hash

    cached = getattr(request.state, "subject", None)
    if isinstance(cached, Subject):
        return cached
    token = request_token(request)
    if not token:
        raise Unauthorized("log in first: send a bearer token or a session cookie")
    key = token_hash(token)
    hit = subject_cache.get(key)
    addr = client_addr(request)
    if hit is not None:
        subject, auth_session = hit
        if subject.client_addr != addr:
            subject = dataclasses.replace(subject, client_addr=addr)
    else:
        direct = request.app.state.direct_pool
        if direct is not None:
            rows = await live_subject_rows_direct(direct, key, utcnow())
        else:
            async with request.app.state.sessionmaker() as session:
                rows = await AuthRepository(session).live_subject_rows(key, utcnow())
        found = subject_from_token_rows(rows, addr)
        if found is None:
            raise Unauthorized("log in first: send a bearer token or a session cookie")
        auth_session, subject = found
        subject_cache.put(key, subject, auth_session,
                          request.app.state.settings.auth_cache_seconds)
    request.state.subject = subject
    request.state.auth_session = auth_session
    # Plain copy for templates: error pages render after the session has rolled back.
    request.state.csrf_token = auth_session.csrf_token or ""
    return subject


class Authorizer:
    """A dependency that requires a logged-in subject holding ``permission`` (else 403)."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, subject: Annotated[Subject, Depends(get_subject)]) -> Subject:
        if not subject.prefixes:
            # No post, no data: to a subject without any region nothing exists (404, as for
            # anything outside a scope), rather than a 403 that hints something is there.
            raise NotFound("not found")
        if not subject.can(self.permission):
            raise Forbidden(f"permission {self.permission} required",
                            permission=self.permission)
        return subject


CSRF_FIELD = "csrf_token"


async def csrf_protect(request: Request, subject: Annotated[Subject, Depends(get_subject)]
                       ) -> Subject:
    """For page forms: a POST under a cookie session must carry that session's CSRF token
    (form field ``csrf_token`` or header ``X-CSRF-Token``), else 403. Bearer requests pass:
    browsers never attach a bearer token on their own."""
    import secrets

    auth_session = request.state.auth_session
    if auth_session.kind != "cookie":
        return subject
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = auth_session.csrf_token
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page",
                        reason="csrf")
    return subject


Session = Annotated[AsyncSession, SESSION]
CurrentSubject = Annotated[Subject, Depends(get_subject)]
# A page form POST: logged in, and the form carries the session's CSRF token.
CsrfSubject = Annotated[Subject, Depends(csrf_protect)]
ReadSubject = Annotated[Subject, Depends(Authorizer(REGION_READ))]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in (no valid bearer token or session cookie)"},
    403: {"description": "Logged in, but the permission is missing"},
    404: {"description": "Not found (or outside the caller's scope)"},
    422: {"description": "Malformed input; the body names the field and the reason"},
}

