"""Named actions of the org domain (loading divisions; more come with grids and staff)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.org import divisions
from wangge.org.divisions import Progress, Selection


class OrgService:
    async def load_divisions(
        self, engine: AsyncEngine, sel: Selection, *, directory: Path | None = None,
        progress: Progress | None = None, on_read: Progress | None = None,
    ) -> int:
        """Loads the selected division rows in one transaction; returns how many were written."""
        rows = divisions.read_divisions(sel, directory or divisions.DIVISIONS_DIR)
        if on_read:
            on_read(len(rows))
        async with engine.begin() as conn:
            return await divisions.write_regions(conn, rows, progress)


org_service = OrgService()
