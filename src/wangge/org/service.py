"""Named actions of the org domain: bulk jobs that load divisions, generate grids and staff,
import staff. Each run leaves one audit record with its summary (not one per row).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from wangge.authz.scope import Subject
from wangge.kit.actions import record
from wangge.kit.cli import Progress
from wangge.kit.db import create_sessionmaker, transaction
from wangge.kit.errors import InvalidInput, NotFound
from wangge.org import divisions, grids, staff, staff_import
from wangge.org.divisions import Selection
from wangge.org.repository import RegionRepository

# Region code lengths of the levels (province ... grid): an audit record's region is one of them.
CODE_LENGTHS = (2, 4, 6, 9, 12, 15)


@asynccontextmanager
async def _session_on(conn: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session joined to ``conn``'s open transaction: its audit row commits or rolls back with
    the bulk rows (the session never commits on its own)."""
    async with AsyncSession(bind=conn) as session:
        yield session


def common_region(codes: list[str]) -> str | None:
    """The deepest region containing every code (None when they span provinces)."""
    if not codes:
        return None
    shared = min(codes, key=len)
    for code in codes:
        while not code.startswith(shared):
            shared = shared[:-1]
    return next((shared[:n] for n in reversed(CODE_LENGTHS) if n <= len(shared)), None)


def _summary(**values: object) -> dict[str, tuple[object, object]]:
    # A bulk run has no single "before": the summary figures are the "after".
    return {name: (None, value) for name, value in values.items()}


class OrgService:
    async def load_divisions(
        self, engine: AsyncEngine, sel: Selection, *, directory: Path | None = None,
        progress: Progress | None = None, on_read: Progress | None = None,
    ) -> int:
        """Loads the selected division rows in one transaction; returns how many were written."""
        rows = divisions.read_divisions(sel, directory or divisions.DIVISIONS_DIR)
        if on_read:
            on_read(len(rows))
        prefix = sel.city or sel.province
        async with engine.begin() as conn:
            written = await divisions.write_regions(conn, rows, progress)
            async with _session_on(conn) as session:
                await record(session, Subject.everything(), "divisions.load",
                             target_type="selection", target_id=prefix or "all",
                             region_code=prefix, changes=_summary(rows=written))
        return written

    async def generate_grids(
        self, engine: AsyncEngine, city: str, seed: int, *, progress: Progress | None = None,
    ) -> grids.GridSummary:
        """Replaces the city's synthetic grids and region shapes in one transaction.

        Synthetic staff of the city go too (their posts point at the old grids); imported posts at
        grids make it refuse.
        """
        if len(city) != 4 or not city.isdigit():
            raise InvalidInput("city", f"{city!r} is not a 4-digit city code")
        async with engine.begin() as conn:
            div = await grids.read_city(conn, city)
            removed = await staff.remove_synthetic_people(conn, city)
            await grids.ensure_grids_unreferenced(conn, city)
            plan = await asyncio.to_thread(grids.build_plan, div, seed, progress=progress)
            await grids.write_plan(conn, city, plan)
            summary = dataclasses.replace(plan.summary(), staff_removed=removed)
            async with _session_on(conn) as session:
                await record(session, Subject.everything(), "grids.generate",
                             target_type="region", target_id=city, region_code=city,
                             changes=_summary(seed=seed, grids=summary.grids,
                                              urban_grids=summary.urban_grids,
                                              shapes=summary.shapes,
                                              staff_removed=removed))
        return summary

    async def generate_staff(
        self, engine: AsyncEngine, city: str, seed: int, *, progress: Progress | None = None,
    ) -> staff.StaffPlan:
        """Replaces the city's synthetic organisations, people and posts in one transaction."""
        if len(city) != 4 or not city.isdigit():
            raise InvalidInput("city", f"{city!r} is not a 4-digit city code")
        async with transaction(create_sessionmaker(engine)) as session:
            regions = await RegionRepository(session, Subject.everything()).subtree(city)
            if not any(r.code == city for r in regions):
                raise NotFound(f"region {city} not found: load its divisions first", code=city)
            plan = staff.plan_staff(regions, city, seed)
            await staff.write_plan(await session.connection(), city, plan, progress)
            await record(session, Subject.everything(), "staff.generate", target_type="region",
                         target_id=city, region_code=city,
                         changes=_summary(seed=seed, organisations=len(plan.organisations),
                                          people=len(plan.people), posts=len(plan.posts)))
        return plan

    async def import_staff(
        self, engine: AsyncEngine, path: Path, subject: Subject | None = None,
    ) -> tuple[staff_import.ImportReport, staff_import.ImportResult | None]:
        """Validates a staff file and, only if every row is valid, imports it in one transaction."""
        async with transaction(create_sessionmaker(engine)) as session:
            who = subject or Subject.everything()
            report = await staff_import.validate(session, who, path)
            if not report.ok:
                return report, None
            result = await staff_import.apply(session, who, report)
            await record(session, who, "staff.import", target_type="file",
                         target_id=path.name[:64],
                         region_code=common_region([r.region_code for r in report.rows]),
                         changes=_summary(rows=len(report.rows),
                                          people_created=result.people_created,
                                          people_updated=result.people_updated,
                                          posts_created=result.posts_created,
                                          posts_updated=result.posts_updated))
            return report, result


org_service = OrgService()
