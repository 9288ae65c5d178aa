"""Named actions of the org domain (loading divisions; more come with grids and staff)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.authz.scope import Subject
from wangge.kit.cli import Progress
from wangge.kit.db import create_sessionmaker, transaction
from wangge.kit.errors import InvalidInput, NotFound
from wangge.org import divisions, grids, staff, staff_import
from wangge.org.divisions import Selection
from wangge.org.repository import RegionRepository


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
        return dataclasses.replace(plan.summary(), staff_removed=removed)

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
            return report, await staff_import.apply(session, who, report)


org_service = OrgService()
