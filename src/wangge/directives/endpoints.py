"""Directive API: issue (with a preview of its reach), list, detail, progress per child region,
reminders and comments; assignments and their actions. Endpoints wire dependencies and call
the service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from wangge.authz.permissions import DIRECTIVE_ISSUE, DIRECTIVE_READ
from wangge.authz.scope import Subject
from wangge.directives.schemas import (
    AssignmentActionIn,
    AssignmentOut,
    AssignmentPage,
    AssignmentStatus,
    CommentIn,
    DirectiveCreate,
    DirectiveDetail,
    DirectivePage,
    Kind,
    ProgressOut,
    RemindIn,
    RemindOut,
    TargetPreview,
    TargetsIn,
    TimelineItem,
)
from wangge.directives.service import MAX_PAGE, directive_service
from wangge.directives.workflow import ACTIONS
from wangge.geo.endpoints import IndexCache
from wangge.kit.web import ERROR_RESPONSES, Authorizer, Session, csrf_protect

router = APIRouter(tags=["directives"], responses=ERROR_RESPONSES)
CSRF = [Depends(csrf_protect)]
CONFLICT: dict[int | str, dict[str, Any]] = {409: {
    "description": "Stale version, or an action the assignment's state does not allow (the "
                   "body lists the allowed actions)"}}

Reader = Annotated[Subject, Depends(Authorizer(DIRECTIVE_READ))]
Issuer = Annotated[Subject, Depends(Authorizer(DIRECTIVE_ISSUE))]
ActionName = Literal[ACTIONS]  # type: ignore[valid-type]


@router.post("/api/v1/directives", response_model=DirectiveDetail, status_code=201,
             dependencies=CSRF,
             responses={200: {"description": "Replay: the directive this client_uuid issued"},
                        409: {"description": "client_uuid already used for other content"}})
async def issue_directive(data: DirectiveCreate, response: Response, session: Session,
                          subject: Issuer) -> DirectiveDetail:
    """Issues a directive to its targets: one assignment per unit reached, committed together,
    and one stream event per target."""
    out, created = await directive_service.issue(session, subject, data)
    if not created:
        response.status_code = 200
    return out


@router.post("/api/v1/directives/preview", response_model=TargetPreview, dependencies=CSRF)
async def preview_targets(data: TargetsIn, session: Session, subject: Issuer) -> TargetPreview:
    """How many units a target list would reach, by level (nothing is written)."""
    return await directive_service.preview(session, subject, data.targets)


@router.get("/api/v1/directives", response_model=DirectivePage)
async def list_directives(
    session: Session, subject: Reader, kind: Kind | None = Query(None),
    region: str | None = Query(None, pattern=r"^\d{2,15}$",
                               description="issued in or reaching into this subtree"),
    status: Literal["open", "overdue", "done"] | None = Query(
        None, description="open: a unit in your scope still owes something; overdue: one is "
                          "late; done: none owes anything"),
    before: int | None = Query(None, ge=1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> DirectivePage:
    """Directives issued in the caller's scope or reaching into it, newest first, each with
    the counts of its assignments in the caller's scope."""
    return await directive_service.list(session, subject, kind=kind, region=region,
                                        status=status, before=before, limit=limit)


@router.get("/api/v1/directives/{directive_id}", response_model=DirectiveDetail)
async def get_directive(directive_id: int, session: Session,
                        subject: Reader) -> DirectiveDetail:
    """One directive with its comments and the counts of the caller's scope."""
    return await directive_service.get(session, subject, directive_id)


@router.get("/api/v1/directives/{directive_id}/progress", response_model=ProgressOut)
async def directive_progress(
    directive_id: int, session: Session, subject: Reader,
    region: str | None = Query(None, pattern=r"^\d{2,15}$",
                               description="default: the caller's top region"),
) -> ProgressOut:
    """Delivered / acknowledged / completed / accepted / returned / overdue per child region
    of ``region``."""
    return await directive_service.progress(session, subject, directive_id, region)


@router.post("/api/v1/directives/{directive_id}/remind", response_model=RemindOut,
             dependencies=CSRF)
async def remind_units(directive_id: int, data: RemindIn, session: Session,
                       subject: Reader) -> RemindOut:
    """Reminds (催办) every unit under ``region`` that has not finished."""
    return await directive_service.remind(session, subject, directive_id, data.region,
                                          data.note)


@router.post("/api/v1/directives/{directive_id}/comments", response_model=TimelineItem,
             status_code=201, dependencies=CSRF)
async def comment_directive(directive_id: int, data: CommentIn, session: Session,
                            subject: Reader) -> TimelineItem:
    """Adds a comment to a directive."""
    return await directive_service.comment(session, subject, directive_id, data.text)


@router.get("/api/v1/assignments", response_model=AssignmentPage)
async def list_assignments(
    session: Session, subject: Reader,
    mine: bool = Query(False, description="only the caller's own units"),
    directive: int | None = Query(None, ge=1),
    status: list[AssignmentStatus] = Query([], description="repeat for several"),
    overdue: bool | None = Query(None),
    region: str | None = Query(None, pattern=r"^\d{2,15}$", description="a subtree"),
    before: int | None = Query(None, ge=1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> AssignmentPage:
    """Assignments in the caller's scope, newest first."""
    f = directive_service.filters(subject, directive_id=directive, status=status,
                                  overdue=overdue, region=region, mine=mine)
    return await directive_service.assignments(session, subject, f, before=before, limit=limit)


@router.get("/api/v1/assignments/{assignment_id}", response_model=AssignmentOut)
async def get_assignment(assignment_id: int, session: Session,
                         subject: Reader) -> AssignmentOut:
    """One assignment with its timeline and the actions the caller may take."""
    return await directive_service.assignment(session, subject, assignment_id)


@router.post("/api/v1/assignments/{assignment_id}/actions/{action}",
             response_model=AssignmentOut, dependencies=CSRF, responses=CONFLICT)
async def assignment_action(assignment_id: int, action: ActionName, data: AssignmentActionIn,
                            session: Session, subject: Reader,
                            index: IndexCache) -> AssignmentOut:
    """Takes a named action (``version`` must be the assignment's current one; acknowledging
    twice returns the assignment unchanged)."""
    return await directive_service.act(session, subject, assignment_id, action, data, index)
