"""Audit API: ``GET /api/v1/audit`` — search the records of the caller's subtree."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from wangge.audit.schemas import AuditPage, AuditQuery
from wangge.audit.service import MAX_LIMIT, audit_service
from wangge.authz.permissions import AUDIT_READ
from wangge.authz.scope import Subject
from wangge.kit.web import ERROR_RESPONSES, Authorizer, Session

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)
AuditReader = Annotated[Subject, Depends(Authorizer(AUDIT_READ))]


@router.get("", response_model=AuditPage)
async def search_audit(
    session: Session, subject: AuditReader,
    actor: Annotated[str | None, Query(max_length=64, description="Exact user name")] = None,
    action: Annotated[str | None, Query(max_length=64,
                                        description="Exact name, or a prefix ending in *")] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=15,
                                        description="Region code: its subtree")] = None,
    since: Annotated[datetime | None, Query(description="At or after (ISO 8601 with offset)")
                     ] = None,
    until: Annotated[datetime | None, Query(description="Before (ISO 8601 with offset)")] = None,
    after_id: Annotated[int | None, Query(ge=1, description="next_after_id of the page before")
                        ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> AuditPage:
    """Audit records in the caller's scope, newest first (keyset pages via ``after_id``).

    A record is in scope when its region lies in the caller's subtree; records with no region
    (system-wide actions) are shown only to a caller whose scope is the whole tree.
    """
    query = AuditQuery(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       region=region, since=since, until=until)
    return await audit_service.search(session, subject, query, after_id=after_id, limit=limit)
