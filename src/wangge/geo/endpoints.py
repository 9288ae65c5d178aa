"""Grid API: ``/api/v1/grids/...``. Endpoints wire dependencies and call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from wangge.geo.crs import CRS
from wangge.geo.schemas import LocateOut
from wangge.geo.service import GridIndexCache, locate_service
from wangge.kit.web import ERROR_RESPONSES, ReadSubject, Session

router = APIRouter(prefix="/api/v1/grids", tags=["grids"], responses=ERROR_RESPONSES)


async def get_grid_index_cache(request: Request) -> GridIndexCache:
    """The app's grid index cache, created on first use."""
    state = request.app.state
    if getattr(state, "grid_index", None) is None:
        state.grid_index = GridIndexCache(state.settings.grid_index_check_seconds)
    cache: GridIndexCache = state.grid_index
    return cache


IndexCache = Annotated[GridIndexCache, Depends(get_grid_index_cache)]


@router.get("/locate", response_model=LocateOut)
async def locate(
    session: Session, subject: ReadSubject, cache: IndexCache,
    lng: float = Query(..., ge=-180, le=180, description="Longitude in degrees"),
    lat: float = Query(..., ge=-90, le=90, description="Latitude in degrees"),
    crs: CRS = Query("wgs84", description="Coordinate system of lng/lat: wgs84 or gcj02"),
) -> LocateOut:
    """The grid holding a point, with its village, township and county (404 if none)."""
    return await locate_service.locate(session, subject, cache, lng, lat, crs)
