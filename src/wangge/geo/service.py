"""Point → grid answers for the API, over an index cached per app and rebuilt when grids change."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import anyio.to_thread
import shapely
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject
from wangge.geo.crs import CRS, to_wgs84
from wangge.geo.index import GridIndex
from wangge.geo.repository import GridShapeRepository
from wangge.geo.schemas import LocateOut, PlaceRef, PointOut
from wangge.kit.errors import NotFound
from wangge.models.region import CODE_LENGTHS
from wangge.org.repository import RegionRepository


def build_index(shapes: list[tuple[str, str]]) -> GridIndex:
    """Builds the index from (code, GeoJSON) pairs."""
    codes = [code for code, _ in shapes]
    return GridIndex(codes, shapely.from_geojson([geometry for _, geometry in shapes]))


class GridIndexCache:
    """The grid index of one app: built on first use, rebuilt when the grid rows change.

    The index covers every grid (it is infrastructure, like a database index); scoping applies
    to the answers. The version check is one aggregate over the grid rows, made at most every
    ``check_seconds`` (grids change when they are regenerated, not per request).
    """

    def __init__(self, check_seconds: float = 0) -> None:
        self._index: GridIndex | None = None
        self._version: tuple[int, datetime | None] | None = None
        self._lock = asyncio.Lock()
        self.check_seconds = check_seconds
        self._checked = 0.0

    async def get(self, session: AsyncSession) -> GridIndex:
        """The index for the grids now in the database."""
        if self._index is not None and time.monotonic() - self._checked < self.check_seconds:
            return self._index
        repo = GridShapeRepository(session, Subject.everything())
        version = await repo.grid_version()
        self._checked = time.monotonic()
        if self._index is not None and self._version == version:
            return self._index
        async with self._lock:
            if self._index is None or self._version != version:
                shapes = await repo.grid_shapes()
                # Building is CPU work of a second or two: keep the event loop serving.
                self._index = await anyio.to_thread.run_sync(build_index, shapes)
                self._version = version
            return self._index


class LocateService:
    async def locate(
        self, session: AsyncSession, subject: Subject, cache: GridIndexCache,
        lng: float, lat: float, crs: CRS = "wgs84",
    ) -> LocateOut:
        """Finds the grid holding a point, with its village, township and county."""
        x, y = to_wgs84(lng, lat, crs)
        wgs_lng, wgs_lat = float(x), float(y)
        index = await cache.get(session)
        code = index.locate_one(wgs_lng, wgs_lat)
        if code is None or not subject.can_read_code(code):
            raise NotFound("no grid contains this point", lng=lng, lat=lat, crs=crs)
        levels = ("county", "township", "village")
        wanted = [code[: CODE_LENGTHS[level]] for level in levels]
        regions = await RegionRepository(session, subject).get_many([*wanted, code])
        names = {r.code: r.name for r in regions}
        if code not in names:
            raise NotFound("no grid contains this point", lng=lng, lat=lat, crs=crs)
        refs = {
            level: PlaceRef(code=c, name=names[c]) if c in names else None
            for level, c in zip(levels, wanted, strict=True)
        }
        return LocateOut(
            code=code, name=names[code], village=refs["village"], township=refs["township"],
            county=refs["county"], point=PointOut(lng=wgs_lng, lat=wgs_lat), crs=crs,
        )


locate_service = LocateService()
