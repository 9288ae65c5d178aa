"""API shapes of the org domain."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RegionRef(BaseModel):
    code: str
    name: str
    level: str


class RegionCounts(BaseModel):
    """How many of each level lie beneath a region, and how many staff hold posts there."""

    county: int = 0
    township: int = 0
    village: int = 0
    grid: int = 0
    staff: int = 0


class RegionOut(RegionRef):
    parent_code: str | None
    kind: str | None
    urban: bool | None
    households: int | None
    synthetic: bool
    ancestors: list[RegionRef] = Field(description="From the top down to the parent")
    counts: RegionCounts


class ChildOut(RegionRef):
    kind: str | None
    urban: bool | None
    households: int | None
    synthetic: bool
    counts: RegionCounts


class StaffPostOut(BaseModel):
    post_id: int
    role: str
    title: str | None
    person_id: int
    person_name: str
    staff_no: str
    service: str | None
    organisation_code: str | None
    organisation_name: str | None
