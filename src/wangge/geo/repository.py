"""Every query of the geo domain. Each starts from ``readable`` (the scoping choke point)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, readable
from wangge.models import Region, RegionShape


class GridShapeRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def grid_version(self) -> tuple[int, datetime | None]:
        """Count and latest creation time of the grid rows: changes whenever grids are rebuilt."""
        stmt = readable(
            self.subject,
            select(func.count(), func.max(Region.created_at)).where(Region.level == "grid"),
            Region.code,
        )
        count, latest = (await self.session.execute(stmt)).one()
        return int(count), latest

    async def grid_shapes(self) -> list[tuple[str, str]]:
        """(code, GeoJSON geometry in WGS-84) of every grid that has a shape, by code."""
        stmt = readable(
            self.subject,
            select(Region.code, RegionShape.geometry)
            .join(RegionShape, RegionShape.code == Region.code)
            .where(Region.level == "grid")
            .order_by(Region.code),
            Region.code,
        )
        return [(code, geometry) for code, geometry in await self.session.execute(stmt)]
