"""Registry API bodies and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from wangge.cases.schemas import Location, Strict

PopulationType = Literal["registered", "floating", "foreign"]
GRID = r"^\d{15}$"


class ResidentCreate(Strict):
    """A new resident of a grid. ``sex`` and ``birth_date`` default to what the ID number
    says; given, they must agree with it."""

    client_uuid: UUID | None = Field(None, description="makes creating idempotent")
    grid_code: str = Field(pattern=GRID)
    name: str = Field(min_length=1, max_length=50)
    population_type: PopulationType = "registered"
    id_number: str | None = Field(None, max_length=32, description="GB 11643 (18 or 15 chars)")
    phone: str | None = Field(None, max_length=32)
    sex: Literal["male", "female"] | None = None
    birth_date: date | None = None
    ethnicity: str | None = Field(None, max_length=20)
    household_id: int | None = Field(None, ge=1)
    relation: str | None = Field(None, max_length=12)


class ResidentUpdate(Strict):
    """Changes to a resident (only the fields given); ``version`` is the one the caller saw."""

    version: int = Field(ge=1)
    name: str | None = Field(None, min_length=1, max_length=50)
    population_type: PopulationType | None = None
    phone: str | None = Field(None, max_length=32)
    ethnicity: str | None = Field(None, max_length=20)
    household_id: int | None = Field(None, ge=1)
    relation: str | None = Field(None, max_length=12)


class MergeIn(Strict):
    """Merges this record (a duplicate) into ``into``; both keep their history."""

    version: int = Field(ge=1)
    into: int = Field(ge=1)


class ResidentOut(BaseModel):
    id: int
    region_code: str
    household_id: int | None
    relation: str | None
    name: str
    sex: str | None
    birth_date: date | None
    ethnicity: str | None
    population_type: str
    id_number: str | None = Field(description="masked unless the caller holds pii:read here")
    phone: str | None = Field(description="masked unless the caller holds pii:read here")
    masked: bool
    tags: list[TagOut] = Field(default_factory=list)
    merged_into_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class TagOut(BaseModel):
    id: int
    category: str
    level: str
    responsible_post: str | None
    fields: dict[str, Any]
    visit_interval_days: int
    last_visit_at: datetime | None
    active: bool


class ResidentPage(BaseModel):
    items: list[ResidentOut]
    next_cursor: int | None


class ChangeOut(BaseModel):
    id: int
    entity_type: str
    entity_id: int
    action: str
    at: datetime
    actor: str
    post: str | None
    changes: dict[str, Any]


class ResidentDetail(ResidentOut):
    history: list[ChangeOut]


class PlaceOut(BaseModel):
    id: int
    region_code: str
    category: str
    name: str
    address: str | None
    lng: float | None
    lat: float | None
    responsible_name: str | None
    responsible_phone: str | None
    inspection_interval_days: int
    last_inspected_at: datetime | None


class PlacePage(BaseModel):
    items: list[PlaceOut]
    next_cursor: int | None


class FoundIssue(Strict):
    """A problem found on a visit, opened as a case (#4) in the same step."""

    category_code: str = Field(pattern=r"^\d{2,16}$")
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=5000)


class VisitCreate(Strict):
    client_uuid: UUID
    household_id: int | None = Field(None, ge=1)
    resident_id: int | None = Field(None, ge=1)
    at: datetime | None = None
    location: Location | None = Field(None, description="the visitor's GPS check-in")
    notes: str | None = Field(None, max_length=5000)
    issues: list[str] = Field(default_factory=list, max_length=20)
    case: FoundIssue | None = None


class VisitOut(BaseModel):
    id: int
    client_uuid: str
    region_code: str
    household_id: int | None
    resident_id: int | None
    visitor: str
    post: str | None
    at: datetime
    lng: float | None
    lat: float | None
    distance_m: float | None
    far: bool
    notes: str | None
    issues: list[str]
    case_id: int | None


class PiiAccessOut(BaseModel):
    id: int
    at: datetime
    actor: str
    post: str | None
    entity_type: str
    entity_id: int
    region_code: str
    fields: str
    route: str | None
    client_addr: str | None


class PiiAccessPage(BaseModel):
    items: list[PiiAccessOut]
    next_cursor: int | None


ResidentOut.model_rebuild()
ResidentDetail.model_rebuild()
