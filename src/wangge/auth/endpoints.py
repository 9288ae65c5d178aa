"""Auth API: token log-in (OAuth2 password form), log-out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordRequestForm

from wangge.auth.repository import AuthRepository
from wangge.auth.schemas import AccountRef, LogoutOut, MeOut, PersonRef, PostOut, TokenOut
from wangge.auth.service import auth_service
from wangge.kit.errors import TooManyRequests, Unauthorized
from wangge.kit.web import ERROR_RESPONSES, CurrentSubject, Session, client_addr

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenOut,
             responses={401: ERROR_RESPONSES[401], 429: {"description": "Too many failed "
                        "log-ins; wait Retry-After seconds"}})
async def token(request: Request, session: Session,
                form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Logs in with user name and password; returns a bearer token."""
    try:
        secret, auth_session = await auth_service.login(
            session, form.username, form.password, client_addr(request), kind="bearer")
    except (Unauthorized, TooManyRequests):
        # Keep the failed attempt (throttling counts it) although the request fails.
        await session.commit()
        raise
    expires_in = int((auth_session.expires_at - auth_session.created_at).total_seconds())
    return TokenOut(access_token=secret, expires_in=expires_in)


@router.post("/auth/logout", response_model=LogoutOut, responses={401: ERROR_RESPONSES[401]})
async def logout(request: Request, session: Session, subject: CurrentSubject,
                 everywhere: Annotated[bool, Query(description="end every session of the "
                                                          "account")] = False) -> LogoutOut:
    """Ends this session (or, with ``everywhere``, all of the account's sessions)."""
    if everywhere:
        return LogoutOut(revoked=await auth_service.logout_everywhere(session, subject))
    await auth_service.logout(session, subject, request.state.auth_session.id)
    return LogoutOut(revoked=1)


@router.get("/me", response_model=MeOut, responses={401: ERROR_RESPONSES[401]})
async def me(session: Session, subject: CurrentSubject) -> MeOut:
    """The caller's account, person, posts, permissions and scope."""
    assert subject.account_id is not None
    person = await AuthRepository(session).person(subject.person_id) \
        if subject.person_id is not None else None
    return MeOut(
        account=AccountRef(id=subject.account_id, username=subject.name),
        person=PersonRef(id=person.id, name=person.name, staff_no=person.staff_no)
        if person else None,
        posts=[PostOut(role=p.role, code=p.code, region_code=p.region_code)
               for p in subject.posts],
        permissions=sorted(subject.permissions),
        scope=list(subject.prefixes),
    )
