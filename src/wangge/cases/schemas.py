"""Case API bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wangge.geo.crs import CRS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryOut(BaseModel):
    code: str
    name: str
    name_en: str
    parent_code: str | None
    handling_level: str
    department_kind: str | None
    police_only: bool
    limits: dict[str, str]
    fields_schema: dict[str, Any]
    active: bool


class CategoryIn(Strict):
    """A new or edited category (administrators with ``case:configure``)."""

    code: str = Field(pattern=r"^\d{2}(\d{2})?$", description="2 digits, or 4 under a parent")
    name: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=64)
    handling_level: Literal["grid", "village", "township", "county", "city"]
    department_kind: str | None = Field(None, max_length=24)
    police_only: bool = False
    limits: dict[Literal["accept", "dispatch", "handle", "verify"], str]
    fields_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "additionalProperties": False,
                                 "properties": {}})
    active: bool = True


class Location(Strict):
    lng: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: CRS = "wgs84"


class Party(Strict):
    """A party to a dispute (GB/T 31000). ID numbers wait for the registry's encrypted PII."""

    name: str = Field(min_length=1, max_length=50)
    role: str | None = Field(None, max_length=20, description="e.g. 申请人, 被申请人")
    sex: Literal["male", "female"] | None = None
    ethnicity: str | None = Field(None, max_length=20)
    education: str | None = Field(None, max_length=20)
    address: str | None = Field(None, max_length=200)


class Evidence(Strict):
    note: str = Field(min_length=1, max_length=4000)
    photos: list[int] = Field(default_factory=list, max_length=20)


class CaseCreate(Strict):
    client_uuid: UUID
    category_code: str = Field(min_length=2, max_length=16)
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=4000)
    location: Location | None = None
    grid_code: str | None = Field(None, pattern=r"^\d{15}$")
    address: str | None = Field(None, max_length=200)
    parties: list[Party] = Field(default_factory=list, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)
    photos: list[int] = Field(default_factory=list, max_length=20)
    source: Literal["grid_worker", "resident", "phone", "system"] = "grid_worker"
    self_handled: bool = False
    evidence: Evidence | None = None

    @model_validator(mode="after")
    def _where(self) -> CaseCreate:
        if self.location is None and self.grid_code is None:
            raise ValueError("location: give location {lng, lat, crs} or grid_code")
        if self.self_handled and self.evidence is None:
            raise ValueError("evidence: a self-handled case needs evidence {note, photos}")
        return self


class Handler(Strict):
    """Where a case is dispatched: a region (grid team, village...) or an organisation."""

    region: str | None = Field(None, pattern=r"^\d{4,15}$")
    organisation: str | None = Field(None, max_length=32)

    @model_validator(mode="after")
    def _one(self) -> Handler:
        if (self.region is None) == (self.organisation is None):
            raise ValueError("give exactly one of region or organisation")
        return self


class ActionIn(Strict):
    """The body of ``POST /api/v1/cases/{id}/actions/{action}``; which fields an action needs
    is listed in docs/cases.md (a missing one is a 422 naming it)."""

    version: int = Field(ge=1, description="the case version the action was decided on")
    note: str | None = Field(None, max_length=4000)
    reason: str | None = Field(None, max_length=1000)
    handler: Handler | None = None
    photos: list[int] = Field(default_factory=list, max_length=20)
    fields: dict[str, Any] | None = None
    extra: str | None = Field(None, description="extension asked for: 30m, 4h, 2d or 3wd")
    approve: bool = True
    rating: int | None = Field(None, ge=1, le=5)
    passed: bool | None = None


class HandlerOut(BaseModel):
    kind: str
    code: str
    name: str | None


class HandlerChoice(BaseModel):
    """A handler a case may be dispatched to: a region on the path from the owning level down
    to the case's grid, or an organisation serving the grid."""

    kind: Literal["region", "organisation"]
    code: str
    name: str | None
    level: str | None = Field(None, description="the region's level (regions only)")
    organisation_kind: str | None = Field(
        None, description="e.g. police_station, department (organisations only)")


class TimelineEntry(BaseModel):
    id: int
    action: str
    at: datetime
    actor: str
    post: str | None
    from_status: str | None
    to_status: str
    version: int
    note: str | None
    data: dict[str, Any]
    photos: list[int]


class CaseOut(BaseModel):
    id: int
    number: str
    client_uuid: str
    category_code: str
    title: str
    description: str
    region_code: str
    lng: float | None
    lat: float | None
    address: str | None
    parties: list[dict[str, Any]]
    fields: dict[str, Any]
    source: str
    status: str
    version: int
    self_handled: bool
    police_only: bool
    owner_code: str
    owner_level: str
    handler: HandlerOut | None
    reporter: str
    reporter_post: str | None
    reported_at: datetime
    accepted_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    step: str | None
    due_at: datetime | None
    overdue: bool
    overdue_at: datetime | None
    supervised_at: datetime | None
    suspended_at: datetime | None
    extension_request: dict[str, Any] | None
    rework_count: int
    escalations: int
    rating: int | None
    rating_comment: str | None
    spot_check: str | None
    synthetic: bool = Field(False, description="a generated demo case")
    photos: list[int] = Field(default_factory=list)
    allowed_actions: list[str] = Field(default_factory=list,
                                       description="what the caller may do now")
    timeline: list[TimelineEntry] | None = None


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: int | None = Field(None, description="pass as ?before= for the next page")


class CaseSummary(BaseModel):
    """Counts of cases in a subtree: per status, and open ones overdue."""

    region_code: str
    by_status: dict[str, int]
    open: int
    overdue: int


class PhotoOut(BaseModel):
    id: int
    sha256: str
    content_type: str
    size: int


class CalendarDayIn(Strict):
    kind: Literal["holiday", "workday"]
    name: str = Field(min_length=1, max_length=64)


class CalendarDayOut(BaseModel):
    day: str
    workday: bool
    source: Literal["override", "official", "weekly"]
    name: str | None
