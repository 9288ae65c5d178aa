"""Case API: categories, calendar, intake, queue, detail, actions, photos. Endpoints wire
dependencies and call the service."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from wangge.authz.permissions import CASE_CONFIGURE, CASE_READ, CASE_REPORT
from wangge.authz.scope import Subject
from wangge.cases.photos import photo_service
from wangge.cases.schemas import (
    ActionIn,
    CalendarDayIn,
    CalendarDayOut,
    CaseCreate,
    CaseOut,
    CasePage,
    CaseSummary,
    CategoryIn,
    CategoryOut,
    HandlerChoice,
    PhotoOut,
)
from wangge.cases.service import MAX_PAGE, case_service
from wangge.cases.workflow import ACTIONS, STATUSES
from wangge.geo.endpoints import IndexCache
from wangge.kit.errors import InvalidInput
from wangge.kit.web import ERROR_RESPONSES, Authorizer, Session, csrf_protect, unit_of_work

CONFLICT: dict[int | str, dict[str, Any]] = {409: {
    "description": "Stale version, or an action the case's state does not allow (the body "
                   "lists the allowed actions)"}}
router = APIRouter(tags=["cases"], responses=ERROR_RESPONSES)
# Writes from a page (cookie session) must carry the session's CSRF token (X-CSRF-Token).
CSRF = [Depends(csrf_protect)]

CaseReader = Annotated[Subject, Depends(Authorizer(CASE_READ))]
CaseReporter = Annotated[Subject, Depends(Authorizer(CASE_REPORT))]
Configurer = Annotated[Subject, Depends(Authorizer(CASE_CONFIGURE))]
ActionName = Literal[ACTIONS]  # type: ignore[valid-type]
StatusName = Literal[STATUSES]  # type: ignore[valid-type]


@router.get("/api/v1/case-categories", response_model=list[CategoryOut])
async def list_categories(session: Session, subject: CaseReader) -> list[CategoryOut]:
    """The category tree: codes, names, handling level, department, limits, field schema."""
    return await case_service.categories(session, subject)


@router.put("/api/v1/case-categories/{category_code}", response_model=CategoryOut,
            dependencies=CSRF)
async def save_category(category_code: str, data: CategoryIn, session: Session,
                        subject: Configurer) -> CategoryOut:
    """Creates or replaces a category (city-level ``case:configure``)."""
    if data.code != category_code:
        raise InvalidInput("code", f"the body's code {data.code} differs from the path's")
    return await case_service.save_category(session, subject, data)


@router.get("/api/v1/calendar", response_model=list[CalendarDayOut])
async def calendar(session: Session, subject: CaseReader,
                   year: int = Query(..., ge=2000, le=2100)) -> list[CalendarDayOut]:
    """Holidays, make-up workdays and local overrides of a year (the working-day calendar)."""
    return await case_service.calendar_days(session, subject, year)


@router.put("/api/v1/calendar/{day}", response_model=CalendarDayOut, dependencies=CSRF)
async def set_calendar_day(day: date, data: CalendarDayIn, session: Session,
                           subject: Configurer) -> CalendarDayOut:
    """Overrides one day: a holiday or a make-up workday (city-level ``case:configure``)."""
    return await case_service.set_calendar_day(session, subject, day, data.kind, data.name)


@router.post("/api/v1/cases", response_model=CaseOut, status_code=201, dependencies=CSRF,
             responses={200: {"description": "Replay: the case this client_uuid created"},
                        409: {"description": "client_uuid already used for other content"}})
async def create_case(data: CaseCreate, request: Request, response: Response,
                      subject: CaseReporter, index: IndexCache) -> CaseOut:
    """Reports a case. Idempotent on ``client_uuid``; located to a grid by ``location`` (or
    given ``grid_code``). ``self_handled`` with ``evidence`` closes it at once."""
    # The hot path: the session is opened here rather than as a dependency, and on
    # PostgreSQL a report without photos is written on the direct pool, leaving it unused.
    async with unit_of_work(request) as session:
        out, created = await case_service.create(session, subject, data, index,
                                                 direct=request.app.state.direct_pool)
    if not created:
        response.status_code = 200
    return out


@router.get("/api/v1/cases", response_model=CasePage)
async def list_cases(
    session: Session, subject: CaseReader,
    status: list[StatusName] = Query([], description="repeat for several"),
    category: str | None = Query(None, pattern=r"^\d{2,16}$",
                                 description="a category code (its children included)"),
    subtree: str | None = Query(None, pattern=r"^\d{2,15}$", description="region code"),
    overdue: bool | None = Query(None),
    self_handled: bool | None = Query(None),
    mine: bool = Query(False, description="assigned to me, or waiting for my verification"),
    before: int | None = Query(None, ge=1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> CasePage:
    """Cases in the caller's scope, newest first."""
    filters = case_service.filters(subject, status=status, category=category, subtree=subtree,
                                   overdue=overdue, self_handled=self_handled, mine=mine)
    return await case_service.list(session, subject, filters, before=before, limit=limit)


@router.get("/api/v1/cases/summary", response_model=CaseSummary)
async def case_summary(
    session: Session, subject: CaseReader,
    subtree: str | None = Query(None, pattern=r"^\d{2,15}$"),
    category: str | None = Query(None, pattern=r"^\d{2,16}$"),
    mine: bool = Query(False),
) -> CaseSummary:
    """Counts per status, open and overdue, in the caller's scope."""
    filters = case_service.filters(subject, subtree=subtree, category=category, mine=mine)
    return await case_service.summary(session, subject, filters)


@router.get("/api/v1/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: int, session: Session, subject: CaseReader) -> CaseOut:
    """One case with its full timeline and the actions the caller may take."""
    return await case_service.get(session, subject, case_id)


@router.get("/api/v1/cases/{case_id}/handlers", response_model=list[HandlerChoice])
async def case_handlers(case_id: int, session: Session,
                        subject: CaseReader) -> list[HandlerChoice]:
    """Where the case may be dispatched: regions from the owning level down to its grid, and
    the organisations serving the grid (``dispatch``'s ``handler``)."""
    return await case_service.handlers(session, subject, case_id)


@router.post("/api/v1/cases/{case_id}/actions/{action}", response_model=CaseOut,
             dependencies=CSRF,
             responses=CONFLICT)
async def case_action(case_id: int, action: ActionName, data: ActionIn, session: Session,
                      subject: CaseReader) -> CaseOut:
    """Takes a named action (``version`` must be the case's current one)."""
    return await case_service.act(session, subject, case_id, action, data)


@router.post("/api/v1/photos", response_model=PhotoOut, status_code=201, dependencies=CSRF,
             responses={413: {"description": "Larger than WANGGE_PHOTO_MAX_BYTES"}})
async def upload_photo(request: Request, session: Session, subject: CaseReader,
                       file: UploadFile = File(...)) -> PhotoOut:
    """Uploads a photo (JPEG, PNG, WebP, HEIC); attach it by id to a case or an action."""
    settings = request.app.state.settings
    return await photo_service.upload(session, subject, file, settings.photo_dir,
                                      settings.photo_max_bytes)


@router.get("/api/v1/photos/{photo_id}", response_class=FileResponse)
async def get_photo(photo_id: int, request: Request, session: Session,
                    subject: CaseReader) -> FileResponse:
    """A photo of a case the caller may read (or their own upload)."""
    path, content_type = await photo_service.open(session, subject, photo_id,
                                                  request.app.state.settings.photo_dir)
    return FileResponse(path, media_type=content_type,
                        headers={"Cache-Control": "private, max-age=86400"})
