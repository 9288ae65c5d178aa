"""Account administration API: ``/api/v1/accounts``. Endpoints wire dependencies and call the
service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from wangge.admin.schemas import AccountCreate, AccountOut, AccountPage, PostGrant
from wangge.admin.service import MAX_PAGE, admin_service
from wangge.authz.permissions import ADMIN_USERS
from wangge.authz.scope import Subject
from wangge.kit.web import ERROR_RESPONSES, Authorizer, Session

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"],
                   responses={**ERROR_RESPONSES, 409: {"description": "Conflicts with a row "
                                                      "already stored"}})

AdminSubject = Annotated[Subject, Depends(Authorizer(ADMIN_USERS))]


@router.get("", response_model=AccountPage)
async def list_accounts(
    session: Session, subject: AdminSubject,
    after: int | None = Query(None, ge=0, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> AccountPage:
    """Accounts holding a post in the caller's scope, by id (only those posts are shown)."""
    return await admin_service.list(session, subject, after=after, limit=limit)


@router.post("", response_model=AccountOut, status_code=201)
async def create_account(data: AccountCreate, session: Session,
                         subject: AdminSubject) -> AccountOut:
    """Creates an account for a new or existing staff person, with posts ROLE@CODE inside the
    caller's scope and roles the caller holds."""
    return await admin_service.create_account(session, subject, data)


@router.get("/{account_id}", response_model=AccountOut)
async def get_account(account_id: int, session: Session, subject: AdminSubject) -> AccountOut:
    """One account holding a post in the caller's scope."""
    return await admin_service.get(session, subject, account_id)


@router.post("/{account_id}/posts", response_model=AccountOut, status_code=201)
async def grant_post(account_id: int, data: PostGrant, session: Session,
                     subject: AdminSubject) -> AccountOut:
    """Grants a post (a role the caller holds, at a region or organisation in their scope)."""
    return await admin_service.grant_post(session, subject, account_id, data)


@router.delete("/{account_id}/posts/{post_id}", response_model=AccountOut)
async def remove_post(account_id: int, post_id: int, session: Session,
                      subject: AdminSubject) -> AccountOut:
    """Removes one of the account's posts (never the last: revoke the account instead)."""
    return await admin_service.remove_post(session, subject, account_id, post_id)


@router.post("/{account_id}/revoke", response_model=AccountOut)
async def revoke_account(account_id: int, session: Session, subject: AdminSubject) -> AccountOut:
    """Deactivates the account and revokes all its sessions."""
    return await admin_service.revoke(session, subject, account_id)
