"""Registry API: residents (create, list and search, detail with history), key places, home
visits, and the log of unmasked PII views. Endpoints wire dependencies and call the service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from wangge.authz.permissions import AUDIT_READ, REGISTRY_READ, REGISTRY_WRITE
from wangge.authz.scope import Subject
from wangge.geo.endpoints import IndexCache
from wangge.kit.crypto import PiiCipher, cipher_for
from wangge.kit.web import ERROR_RESPONSES, Authorizer, Session, csrf_protect
from wangge.registry.schemas import (
    PiiAccessPage,
    PlacePage,
    ResidentCreate,
    ResidentDetail,
    ResidentOut,
    ResidentPage,
    VisitCreate,
    VisitOut,
)
from wangge.registry.service import MAX_PAGE, registry_service

router = APIRouter(tags=["registry"], responses=ERROR_RESPONSES)
CSRF = [Depends(csrf_protect)]
Reader = Annotated[Subject, Depends(Authorizer(REGISTRY_READ))]
Writer = Annotated[Subject, Depends(Authorizer(REGISTRY_WRITE))]
Auditor = Annotated[Subject, Depends(Authorizer(AUDIT_READ))]
CODE = r"^\d{2,15}$"


def get_cipher(request: Request) -> PiiCipher:
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



