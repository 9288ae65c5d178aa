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
    """A home visit (``household_id`` or ``resident_id``) or a key place's inspection
    (``place_id``): exactly one of the three."""

    client_uuid: UUID
    household_id: int | None = Field(None, ge=1)
    resident_id: int | None = Field(None, ge=1)
    place_id: int | None = Field(None, ge=1)
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
    place_id: int | None
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


# --- addresses and households ------------------------------------------------------------------


class AddressCreate(Strict):
    """A building in a grid (no parent), a unit in a building, a room in a unit or a building,
    or a rural house number (``kind`` house, no parent). The full text is the parent's text
    followed by ``label``; a top-level address's text is ``label`` as given."""

    grid_code: str = Field(pattern=GRID)
    kind: Literal["building", "unit", "room", "house"]
    label: str = Field(min_length=1, max_length=50)
    parent_id: int | None = Field(None, ge=1)
    lng: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)


class AddressOut(BaseModel):
    id: int
    region_code: str
    parent_id: int | None
    kind: str
    label: str
    text: str
    lng: float | None
    lat: float | None


class AddressPage(BaseModel):
    items: list[AddressOut]
    next_cursor: int | None


HouseholdKind = Literal["registered", "floating", "mixed"]


class HouseholdCreate(Strict):
    client_uuid: UUID | None = None
    grid_code: str = Field(pattern=GRID)
    address_id: int | None = Field(None, ge=1, description="a room or a house in the grid")
    kind: HouseholdKind = "registered"
    head_name: str | None = Field(None, min_length=1, max_length=50)


class HouseholdImport(Strict):
    """A household as a file row gives it: the standard address by its text."""

    grid_code: str = Field(pattern=GRID)
    address: str = Field(min_length=1, max_length=200)
    kind: HouseholdKind = "registered"
    head_name: str | None = Field(None, min_length=1, max_length=50)


class HouseholdUpdate(Strict):
    version: int = Field(ge=1)
    address_id: int | None = Field(None, ge=1)
    kind: HouseholdKind | None = None
    head_name: str | None = Field(None, min_length=1, max_length=50)


class HouseholdOut(BaseModel):
    id: int
    region_code: str
    address_id: int | None
    address: str | None
    kind: str
    head_name: str | None
    last_visit_at: datetime | None
    version: int


class HouseholdPage(BaseModel):
    items: list[HouseholdOut]
    next_cursor: int | None


class HouseholdDetail(HouseholdOut):
    members: list[ResidentOut]
    visits: list[VisitOut]
    history: list[ChangeOut]


# --- tags -----------------------------------------------------------------------------------------


class TagCreate(Strict):
    """A special-group or key-youth tag; the visit interval follows the category's level
    (``wangge.registry.places.TAG_LEVELS``)."""

    category: str = Field(max_length=24)
    level: str = Field(max_length=8)
    responsible_post: str | None = Field(None, max_length=48, description="ROLE@CODE")
    fields: dict[str, Any] = Field(default_factory=dict)


class TagUpdate(Strict):
    version: int = Field(ge=1)
    level: str | None = Field(None, max_length=8)
    responsible_post: str | None = Field(None, max_length=48)
    fields: dict[str, Any] | None = None
    active: bool | None = None


# --- places -------------------------------------------------------------------------------------


class PlaceCreate(Strict):
    client_uuid: UUID | None = None
    grid_code: str = Field(pattern=GRID)
    category: str = Field(max_length=24)
    name: str = Field(min_length=1, max_length=100)
    address: str | None = Field(None, max_length=200)
    lng: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    responsible_name: str | None = Field(None, max_length=50)
    responsible_phone: str | None = Field(None, max_length=32)
    inspection_interval_days: int | None = Field(None, ge=1, le=366, description="default: "
                                                 "the category's")


class PlaceUpdate(Strict):
    version: int = Field(ge=1)
    category: str | None = Field(None, max_length=24)
    name: str | None = Field(None, min_length=1, max_length=100)
    address: str | None = Field(None, max_length=200)
    lng: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    responsible_name: str | None = Field(None, max_length=50)
    responsible_phone: str | None = Field(None, max_length=32)
    inspection_interval_days: int | None = Field(None, ge=1, le=366)


class PlaceDetail(PlaceOut):
    masked: bool
    version: int
    inspections: list[VisitOut]
    history: list[ChangeOut]


# --- enterprises and "three-no" compounds -------------------------------------------------------


class EnterpriseCreate(Strict):
    grid_code: str = Field(pattern=GRID)
    kind: Literal["enterprise", "social_org"] = "enterprise"
    name: str = Field(min_length=1, max_length=100)
    credit_code: str | None = Field(None, max_length=18, description="统一社会信用代码 "
                                    "(GB 32100, check character verified)")
    legal_person: str | None = Field(None, max_length=50)
    employees: int | None = Field(None, ge=0, le=1_000_000)
    address: str | None = Field(None, max_length=200)


class EnterpriseUpdate(Strict):
    version: int = Field(ge=1)
    name: str | None = Field(None, min_length=1, max_length=100)
    legal_person: str | None = Field(None, max_length=50)
    employees: int | None = Field(None, ge=0, le=1_000_000)
    address: str | None = Field(None, max_length=200)


class EnterpriseOut(BaseModel):
    id: int
    region_code: str
    kind: str
    name: str
    credit_code: str | None
    legal_person: str | None
    employees: int | None
    address: str | None
    version: int


class EnterprisePage(BaseModel):
    items: list[EnterpriseOut]
    next_cursor: int | None


class ChecklistItem(Strict):
    item: str = Field(min_length=1, max_length=100)
    done: bool = False


class CompoundCreate(Strict):
    grid_code: str = Field(pattern=GRID)
    name: str = Field(min_length=1, max_length=100)
    address: str | None = Field(None, max_length=200)
    households: int | None = Field(None, ge=0, le=100_000)
    checklist: list[ChecklistItem] | None = Field(None, max_length=30, description="default: "
                                                  "the standard rectification items")


class CompoundUpdate(Strict):
    """Ticks checklist items or changes the status; ``rectified`` needs every item done."""

    version: int = Field(ge=1)
    name: str | None = Field(None, min_length=1, max_length=100)
    households: int | None = Field(None, ge=0, le=100_000)
    checklist: list[ChecklistItem] | None = Field(None, max_length=30)
    status: Literal["pending", "rectifying", "rectified"] | None = None


class CompoundOut(BaseModel):
    id: int
    region_code: str
    name: str
    address: str | None
    households: int | None
    checklist: list[ChecklistItem]
    status: str
    rectified_at: datetime | None
    version: int


class CompoundPage(BaseModel):
    items: list[CompoundOut]
    next_cursor: int | None


# --- visit plans ----------------------------------------------------------------------------------

PlanKind = Literal["special_groups", "households", "places", "patrol"]


class PlanCreate(Strict):
    """A visit routine for every grid under ``region_code`` (see ``VisitPlan``)."""

    region_code: str = Field(pattern=r"^\d{2,15}$")
    name: str = Field(min_length=1, max_length=100)
    kind: PlanKind
    categories: list[str] = Field(default_factory=list, max_length=10,
                                  description="special_groups: tag categories (none: all)")
    interval_days: int | None = Field(None, ge=1, le=366, description="households and patrol: "
                                      "required; special_groups: overrides the levels'")
    roles: list[str] = Field(default_factory=list, max_length=6,
                             description="patrol: grid roles (default: the three grid roles)")
    quota: int = Field(1, ge=1, le=100, description="patrol: visits per post and period")
    starts_on: date | None = None


class PlanUpdate(Strict):
    version: int = Field(ge=1)
    name: str | None = Field(None, min_length=1, max_length=100)
    interval_days: int | None = Field(None, ge=1, le=366)
    quota: int | None = Field(None, ge=1, le=100)
    active: bool | None = None


class PlanOut(BaseModel):
    id: int
    region_code: str
    name: str
    kind: str
    categories: list[str]
    interval_days: int | None
    roles: list[str]
    quota: int
    starts_on: date
    active: bool
    created_by: str
    post: str | None = Field(description="the post that set it (ROLE@CODE); none: the system")
    version: int


class PlanList(BaseModel):
    items: list[PlanOut]


class DueItem(BaseModel):
    """One thing a plan wants visited (or a post behind its quota), most overdue first."""

    kind: Literal["tag", "household", "place", "post"]
    id: int | None = Field(description="tag, household or place id; none for a post")
    region_code: str
    label: str
    resident_id: int | None = None
    household_id: int | None = None
    category: str | None = None
    level: str | None = None
    post: str | None = None
    interval_days: int
    last_visit_at: datetime | None
    due_since: datetime | None = Field(description="when it fell due (None: never visited)")
    done: int | None = Field(None, description="patrol: visits this period")
    quota: int | None = None


class DuePage(BaseModel):
    plan_id: int
    region_code: str
    period_start: datetime | None
    period_end: datetime | None
    total: int
    due: int
    items: list[DueItem]


class ProgressRow(BaseModel):
    region_code: str
    name: str
    total: int
    done: int
    rate: float | None


class PlanProgress(BaseModel):
    plan_id: int
    region_code: str
    period_start: datetime | None
    period_end: datetime | None
    total: int
    done: int
    rate: float | None
    children: list[ProgressRow]


ResidentOut.model_rebuild()
ResidentDetail.model_rebuild()
HouseholdDetail.model_rebuild()
PlaceDetail.model_rebuild()
