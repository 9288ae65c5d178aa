"""Figures beneath a region: regions per level and staff posts per role (``regions stats``)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject
from wangge.kit.errors import NotFound
from wangge.models.post import GRID_ROLES, ROLES
from wangge.org.repository import RegionRepository

COUNTED_LEVELS = ("county", "township", "village", "grid")


class GridStaff(BaseModel):
    """Grid posts ("3+N") beneath a region."""

    by_role: dict[str, int]
    total: int
    people: int  # distinct people holding at least one grid post


class RegionStats(BaseModel):
    code: str
    name: str
    level: str
    regions: dict[str, int]  # level → regions beneath (the region itself not counted)
    grid_staff: GridStaff
    posts_by_role: dict[str, int]  # every post beneath, at any level


async def region_stats(session: AsyncSession, subject: Subject, code: str) -> RegionStats:
    """Counts regions per level and posts per role beneath region ``code``."""
    repo = RegionRepository(session, subject)
    region = await repo.get(code)
    if region is None:
        raise NotFound(f"region {code} not found", code=code)
    levels = await repo.level_counts(code)
    grid_posts = await repo.post_counts_by_role(code, GRID_ROLES)
    all_posts = await repo.post_counts_by_role(code, ROLES)
    by_role = {role: grid_posts.get(role, 0) for role in GRID_ROLES}
    return RegionStats(
        code=region.code, name=region.name, level=region.level,
        regions={level: levels.get(level, 0) for level in COUNTED_LEVELS},
        grid_staff=GridStaff(
            by_role=by_role, total=sum(by_role.values()),
            people=await repo.distinct_people(code, GRID_ROLES),
        ),
        posts_by_role={role: all_posts.get(role, 0) for role in ROLES},
    )
