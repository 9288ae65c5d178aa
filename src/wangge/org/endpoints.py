"""Region API: ``/api/v1/regions/...``. Endpoints wire dependencies and call the service."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from wangge.kit.web import ERROR_RESPONSES, ReadSubject, Session
from wangge.org.regions import region_service
from wangge.org.schemas import ChildOut, RegionOut, StaffPostOut

router = APIRouter(prefix="/api/v1/regions", tags=["regions"], responses=ERROR_RESPONSES)


@router.get("/{code}", response_model=RegionOut)
async def get_region(code: str, session: Session, subject: ReadSubject) -> RegionOut:
    """One region with its ancestors and the counts beneath it."""
    return await region_service.get(session, subject, code)


@router.get("/{code}/children", response_model=list[ChildOut])
async def get_children(code: str, session: Session, subject: ReadSubject) -> list[ChildOut]:
    """The region's children, each with the counts beneath it."""
    return await region_service.children(session, subject, code)


@router.get("/{code}/geometry")
async def get_geometry(
    code: str, session: Session, subject: ReadSubject,
    crs: Literal["wgs84", "gcj02"] = Query("wgs84", description="Coordinate system of the output"),
    include_self: bool = Query(False, description="Add the region's own shape as a feature"),
) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the region's children (WGS-84 unless crs=gcj02)."""
    return await region_service.geometry(session, subject, code, crs=crs, include_self=include_self)


@router.get("/{code}/staff", response_model=list[StaffPostOut])
async def get_staff(code: str, session: Session, subject: ReadSubject) -> list[StaffPostOut]:
    """Posts held at exactly this region (a grid's "3+N" team), ordered by role."""
    return await region_service.staff(session, subject, code)


