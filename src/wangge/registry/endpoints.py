"""Registry API: residents (create, list and search, detail with history), key places, home
visits, and the log of unmasked PII views. Endpoints wire dependencies and call the service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from wangge.authz.permissions import AUDIT_READ, REGISTRY_PLAN, REGISTRY_READ, REGISTRY_WRITE
from wangge.authz.scope import Subject
from wangge.geo.endpoints import IndexCache
from wangge.kit.crypto import PiiCipher, cipher_for
from wangge.kit.web import ERROR_RESPONSES, Authorizer, Session, csrf_protect
from wangge.registry.entities import entity_service
from wangge.registry.exports import MEDIA_TYPES, registry_exports
from wangge.registry.imports import MAX_BYTES as IMPORT_MAX_BYTES
from wangge.registry.imports import ImportOut, registry_imports
from wangge.registry.plans import MAX_DUE, plan_service
from wangge.registry.schemas import (
    AddressCreate,
    AddressOut,
    AddressPage,
    CompoundCreate,
    CompoundOut,
    CompoundPage,
    CompoundUpdate,
    DuePage,
    EnterpriseCreate,
    EnterpriseOut,
    EnterprisePage,
    EnterpriseUpdate,
    HouseholdCreate,
    HouseholdDetail,
    HouseholdOut,
    HouseholdPage,
    HouseholdUpdate,
    MergeIn,
    PiiAccessPage,
    PlaceCreate,
    PlaceDetail,
    PlacePage,
    PlaceUpdate,
    PlanCreate,
    PlanList,
    PlanOut,
    PlanProgress,
    PlanUpdate,
    ResidentCreate,
    ResidentDetail,
    ResidentOut,
    ResidentPage,
    ResidentUpdate,
    TagCreate,
    TagOut,
    TagUpdate,
    VisitCreate,
    VisitOut,
)
from wangge.registry.service import MAX_PAGE, registry_service

router = APIRouter(tags=["registry"], responses=ERROR_RESPONSES)
CSRF = [Depends(csrf_protect)]
Reader = Annotated[Subject, Depends(Authorizer(REGISTRY_READ))]
Writer = Annotated[Subject, Depends(Authorizer(REGISTRY_WRITE))]
Auditor = Annotated[Subject, Depends(Authorizer(AUDIT_READ))]
Planner = Annotated[Subject, Depends(Authorizer(REGISTRY_PLAN))]
CODE = r"^\d{2,15}$"
XLSX = MEDIA_TYPES["xlsx"]


async def get_cipher(request: Request) -> PiiCipher:
    settings = request.app.state.settings
    return cipher_for(settings.pii_key, settings.pii_key_file)


Cipher = Annotated[PiiCipher, Depends(get_cipher)]


@router.get("/api/v1/residents", response_model=ResidentPage)
async def list_residents(
    session: Session, subject: Reader, cipher: Cipher,
    grid: str | None = Query(None, pattern=CODE, description="a grid (or any region: its "
                             "subtree)"),
    q: str | None = Query(None, min_length=1, max_length=50, description="name starts with"),
    id_number: str | None = Query(None, max_length=32, description="exact, via its hash"),
    phone: str | None = Query(None, max_length=32, description="exact, via its hash"),
    before: int | None = Query(None, ge=1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> ResidentPage:
    """Residents in the caller's scope, newest first (ID numbers and phones masked)."""
    return await registry_service.residents(session, subject, cipher, grid=grid, q=q,
                                            id_number=id_number, phone_number=phone,
                                            before=before, limit=limit)


@router.post("/api/v1/residents", response_model=ResidentOut, status_code=201,
             dependencies=CSRF,
             responses={409: {"description": "This ID number is already registered"}})
async def create_resident(data: ResidentCreate, session: Session, subject: Writer,
                          cipher: Cipher) -> ResidentOut:
    """Registers a resident (ID number validated per GB 11643: 422 naming ``id_number``)."""
    return await registry_service.create_resident(session, subject, cipher, data)


@router.get("/api/v1/residents/{resident_id}", response_model=ResidentDetail)
async def get_resident(resident_id: int, request: Request, session: Session, subject: Reader,
                       cipher: Cipher) -> ResidentDetail:
    """One resident with tags and history; in clear for ``pii:read`` holders (logged)."""
    return await registry_service.resident(session, subject, cipher, resident_id,
                                           route=request.url.path)


@router.patch("/api/v1/residents/{resident_id}", response_model=ResidentOut, dependencies=CSRF,
              responses={409: {"description": "Stale version, or a merged record"}})
async def update_resident(resident_id: int, data: ResidentUpdate, session: Session,
                          subject: Writer, cipher: Cipher) -> ResidentOut:
    """Changes the fields given (``version`` must be the resident's current one)."""
    return await registry_service.update_resident(session, subject, cipher, resident_id, data)


@router.post("/api/v1/residents/{resident_id}/merge", response_model=ResidentOut,
             dependencies=CSRF)
async def merge_resident(resident_id: int, data: MergeIn, session: Session,
                         subject: Writer) -> ResidentOut:
    """Merges this duplicate into ``into``; both histories are kept."""
    return await registry_service.merge_resident(session, subject, resident_id, data)


@router.get("/api/v1/places", response_model=PlacePage)
async def list_places(
    session: Session, subject: Reader,
    grid: str | None = Query(None, pattern=CODE),
    category: str | None = Query(None, max_length=24),
    before: int | None = Query(None, ge=1), limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> PlacePage:
    """Key places in the caller's scope, newest first."""
    return await registry_service.places(session, subject, grid=grid, category=category,
                                         before=before, limit=limit)


@router.post("/api/v1/visits", response_model=VisitOut, status_code=201, dependencies=CSRF,
             responses={200: {"description": "Replay: the visit this client_uuid recorded"}})
async def record_visit(data: VisitCreate, response: Response, session: Session,
                       subject: Writer, index: IndexCache) -> VisitOut:
    """Records a home visit (GPS check-in, notes, issues; ``case`` opens one)."""
    out, created = await registry_service.visit(session, subject, data, index)
    if not created:
        response.status_code = 200
    return out


@router.get("/api/v1/pii-access", response_model=PiiAccessPage)
async def pii_access_log(
    session: Session, subject: Auditor,
    account: int | None = Query(None, ge=1), resident: int | None = Query(None, ge=1),
    since: datetime | None = Query(None), before: int | None = Query(None, ge=1),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> PiiAccessPage:
    """Unmasked views of ID numbers and phones of people in scope (administrators)."""
    return await registry_service.access_log(
        session, subject, account_id=account, entity_type="resident" if resident else None,
        entity_id=resident, since=since, before=before, limit=limit)


# --- addresses, households, tags ------------------------------------------------------------------

STALE: dict[int | str, dict[str, Any]] = {409: {"description": "Stale version"}}


@router.post("/api/v1/addresses", response_model=AddressOut, status_code=201,
             dependencies=CSRF)
async def create_address(data: AddressCreate, session: Session,
                         subject: Writer) -> AddressOut:
    """Adds a building, a unit in it, a room, or a rural house number to a grid."""
    return await entity_service.create_address(session, subject, data)


@router.get("/api/v1/addresses", response_model=AddressPage)
async def list_addresses(
    session: Session, subject: Reader, grid: str | None = Query(None, pattern=CODE),
    q: str | None = Query(None, min_length=1, max_length=100, description="text starts with "
                          "(normalised)"),
    parent: int | None = Query(None, ge=1, description="children of this address"),
    before: int | None = Query(None, ge=1), limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> AddressPage:
    """Standard addresses in the caller's scope, newest first."""
    return await entity_service.addresses(session, subject, grid=grid, q=q, parent_id=parent,
                                          before=before, limit=limit)


@router.post("/api/v1/households", response_model=HouseholdOut, status_code=201,
             dependencies=CSRF)
async def create_household(data: HouseholdCreate, session: Session,
                           subject: Writer) -> HouseholdOut:
    """Registers a household at a room or a house of a grid (a collection record)."""
    return await entity_service.create_household(session, subject, data)


@router.get("/api/v1/households", response_model=HouseholdPage)
async def list_households(
    session: Session, subject: Reader, grid: str | None = Query(None, pattern=CODE),
    q: str | None = Query(None, min_length=1, max_length=100, description="address starts "
                          "with (normalised)"),
    before: int | None = Query(None, ge=1), limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> HouseholdPage:
    """Households in the caller's scope, newest first."""
    return await entity_service.households(session, subject, grid=grid, q=q, before=before,
                                           limit=limit)


@router.get("/api/v1/households/{household_id}", response_model=HouseholdDetail)
async def get_household(household_id: int, session: Session,
                        subject: Reader) -> HouseholdDetail:
    """A household with its members (masked), latest visits and history."""
    return await entity_service.household(session, subject, household_id)


@router.patch("/api/v1/households/{household_id}", response_model=HouseholdOut,
              dependencies=CSRF, responses=STALE)
async def update_household(household_id: int, data: HouseholdUpdate, session: Session,
                           subject: Writer) -> HouseholdOut:
    """Changes the fields given (``version`` must be the household's current one)."""
    return await entity_service.update_household(session, subject, household_id, data)


@router.post("/api/v1/residents/{resident_id}/tags", response_model=TagOut, status_code=201,
             dependencies=CSRF, responses={409: {"description": "Already tagged so"}})
async def create_tag(resident_id: int, data: TagCreate, session: Session,
                     subject: Writer) -> TagOut:
    """Tags a resident as a special group or key youth (interval from the level)."""
    return await entity_service.create_tag(session, subject, resident_id, data)


@router.patch("/api/v1/resident-tags/{tag_id}", response_model=TagOut, dependencies=CSRF,
              responses=STALE)
async def update_tag(tag_id: int, data: TagUpdate, session: Session,
                     subject: Writer) -> TagOut:
    """Changes a tag's level, responsible post or fields, or ends it (``active`` false)."""
    return await entity_service.update_tag(session, subject, tag_id, data)


# --- places, enterprises, compounds -------------------------------------------------------------


@router.post("/api/v1/places", response_model=PlaceDetail, status_code=201,
             dependencies=CSRF)
async def create_place(data: PlaceCreate, session: Session, subject: Writer,
                       cipher: Cipher) -> PlaceDetail:
    """Registers a key place (interval defaults to its category's)."""
    return await entity_service.create_place(session, subject, cipher, data)


@router.get("/api/v1/places/{place_id}", response_model=PlaceDetail)
async def get_place(place_id: int, request: Request, session: Session, subject: Reader,
                    cipher: Cipher) -> PlaceDetail:
    """A key place with its inspections and history (phone in clear for pii:read, logged)."""
    return await entity_service.place(session, subject, cipher, place_id,
                                      route=request.url.path)


@router.patch("/api/v1/places/{place_id}", response_model=PlaceDetail, dependencies=CSRF,
              responses=STALE)
async def update_place(place_id: int, data: PlaceUpdate, session: Session, subject: Writer,
                       cipher: Cipher) -> PlaceDetail:
    """Changes the fields given (``version`` must be the place's current one)."""
    return await entity_service.update_place(session, subject, cipher, place_id, data)


@router.post("/api/v1/enterprises", response_model=EnterpriseOut, status_code=201,
             dependencies=CSRF, responses={409: {"description": "Credit code registered"}})
async def create_enterprise(data: EnterpriseCreate, session: Session,
                            subject: Writer) -> EnterpriseOut:
    """Registers an enterprise or social organisation (credit code checked per GB 32100)."""
    return await entity_service.create_enterprise(session, subject, data)


@router.get("/api/v1/enterprises", response_model=EnterprisePage)
async def list_enterprises(
    session: Session, subject: Reader, grid: str | None = Query(None, pattern=CODE),
    kind: Literal["enterprise", "social_org"] | None = Query(None),
    before: int | None = Query(None, ge=1), limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> EnterprisePage:
    """Enterprises and social organisations in the caller's scope, newest first."""
    return await entity_service.enterprises(session, subject, grid=grid, kind=kind,
                                            before=before, limit=limit)


@router.patch("/api/v1/enterprises/{enterprise_id}", response_model=EnterpriseOut,
              dependencies=CSRF, responses=STALE)
async def update_enterprise(enterprise_id: int, data: EnterpriseUpdate, session: Session,
                            subject: Writer) -> EnterpriseOut:
    """Changes the fields given."""
    return await entity_service.update_enterprise(session, subject, enterprise_id, data)


@router.post("/api/v1/compounds", response_model=CompoundOut, status_code=201,
             dependencies=CSRF)
async def create_compound(data: CompoundCreate, session: Session,
                          subject: Writer) -> CompoundOut:
    """Registers a "three-no" compound (pending, with the standard checklist by default)."""
    return await entity_service.create_compound(session, subject, data)


@router.get("/api/v1/compounds", response_model=CompoundPage)
async def list_compounds(
    session: Session, subject: Reader, grid: str | None = Query(None, pattern=CODE),
    status: Literal["pending", "rectifying", "rectified"] | None = Query(None),
    before: int | None = Query(None, ge=1), limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> CompoundPage:
    """"Three-no" compounds in the caller's scope, newest first."""
    return await entity_service.compounds(session, subject, grid=grid, status=status,
                                          before=before, limit=limit)


@router.patch("/api/v1/compounds/{compound_id}", response_model=CompoundOut,
              dependencies=CSRF, responses=STALE)
async def update_compound(compound_id: int, data: CompoundUpdate, session: Session,
                          subject: Writer) -> CompoundOut:
    """Ticks checklist items or moves the status (rectified: every item done)."""
    return await entity_service.update_compound(session, subject, compound_id, data)


# --- visit plans ----------------------------------------------------------------------------------


@router.post("/api/v1/visit-plans", response_model=PlanOut, status_code=201,
             dependencies=CSRF)
async def create_plan(data: PlanCreate, session: Session, subject: Planner) -> PlanOut:
    """Sets a visit routine for every grid under a region."""
    return await plan_service.create(session, subject, data)


@router.get("/api/v1/visit-plans", response_model=PlanList)
async def list_plans(
    session: Session, subject: Reader,
    region: str | None = Query(None, pattern=CODE, description="plans applying to it or "
                               "set below it"),
    active: bool | None = Query(None),
) -> PlanList:
    """Visit plans of the caller's regions (those set above them apply too)."""
    return await plan_service.plans(session, subject, region, active)


@router.patch("/api/v1/visit-plans/{plan_id}", response_model=PlanOut, dependencies=CSRF,
              responses=STALE)
async def update_plan(plan_id: int, data: PlanUpdate, session: Session,
                      subject: Planner) -> PlanOut:
    """Renames, re-times or ends (``active`` false) a plan."""
    return await plan_service.update(session, subject, plan_id, data)


@router.get("/api/v1/visit-plans/{plan_id}/due", response_model=DuePage)
async def plan_due(plan_id: int, session: Session, subject: Reader,
                   region: str = Query(..., pattern=CODE, description="a grid, or any region"),
                   limit: int = Query(100, ge=1, le=MAX_DUE),
                   all_posts: bool = Query(False, alias="all", description="patrol: every "
                                           "post with its count, not only those behind")
                   ) -> DuePage:
    """What is due under the plan in the region: most overdue first."""
    return await plan_service.due(session, subject, plan_id, region, limit,
                                  all_posts=all_posts)


@router.get("/api/v1/visit-plans/{plan_id}/progress", response_model=PlanProgress)
async def plan_progress(plan_id: int, session: Session, subject: Reader,
                        region: str = Query(..., pattern=CODE)) -> PlanProgress:
    """How much of the plan is done in the region and in each of its children."""
    return await plan_service.progress(session, subject, plan_id, region)


@router.post("/api/v1/registry/imports", response_model=ImportOut, status_code=201,
             dependencies=CSRF, response_model_exclude_none=True,
             responses={200: {"description": "Nothing new to store (only duplicates)"},
                        422: {"description": "Invalid rows (mode=all: nothing stored) or an "
                                             "unreadable file; the body is the report"}})
async def import_file(
    response: Response, session: Session, subject: Writer, cipher: Cipher,
    entity: Literal["residents", "households", "places"] = Query("residents"),
    mode: Literal["all", "valid"] = Query("all", description="all: any invalid row stores "
                                          "nothing; valid: store the valid rows"),
    file: UploadFile = File(..., description=".xlsx, or CSV in UTF-8 or GBK"),
) -> Any:
    """Imports residents, households or key places from CSV or Excel with a report (row,
    field, reason); entries already registered (or repeated in the file) are reported as
    duplicates, never stored twice."""
    content = await file.read(IMPORT_MAX_BYTES + 1)
    report = await registry_imports.run(session, subject, cipher, entity,
                                        file.filename or "upload", content, mode)
    body = report.as_json()
    if report.imported == 0 and report.errors:
        return JSONResponse(status_code=422, content={
            "error": "invalid_input", "field": "file",
            "message": f"{len({e.row for e in report.errors})} invalid rows; nothing imported",
            **body})
    if report.imported == 0:
        response.status_code = 200
    return body


@router.get("/api/v1/registry/exports/residents", response_class=Response,
            responses={200: {"content": {"text/csv": {}, XLSX: {}},
                             "description": "The file"}})
async def export_residents(
    request: Request, session: Session, subject: Reader, cipher: Cipher,
    grid: str | None = Query(None, pattern=CODE, description="a grid or any region (its "
                             "subtree); default: the caller's whole scope"),
    format: Literal["csv", "xlsx"] = Query("csv"),
) -> Response:
    """Residents of the caller's scope as a file: masked, except in clear where the caller
    holds ``pii:read`` (each resident so exported is written to the PII access log)."""
    out = await registry_exports.residents(session, subject, cipher, grid=grid, fmt=format,
                                           route=request.url.path)
    return Response(content=out.content, media_type=out.media_type, headers={
        "Content-Disposition": f'attachment; filename="{out.filename}"',
        "X-Rows": str(out.rows)})
