"""Prepares the Xinxiang demo: divisions, grids with polygons, staff (all idempotent)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.models import Post
from wangge.org.divisions import Selection
from wangge.org.service import org_service

CITY = "4107"
SEED = 7


async def is_prepared(engine: AsyncEngine, city: str = CITY) -> bool:
    """True when the last step of ``prepare`` (staff posts at grids) has run for the city."""
    async with engine.connect() as conn:
        n = await conn.scalar(
            select(func.count()).select_from(Post).where(
                Post.region_code.startswith(city), func.length(Post.region_code) == 15
            )
        )
    return bool(n)


async def prepare(
    engine: AsyncEngine, seed: int = SEED, city: str = CITY,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Loads the city's divisions and generates its grids, shapes and staff."""
    n = await org_service.load_divisions(engine, Selection(province=city[:2], city=city))
    say(f"divisions: {n:,} regions")
    g = await org_service.generate_grids(engine, city, seed)
    say(f"grids: {g.grids:,} grids in {g.villages:,} villages, {g.shapes:,} shapes")
    # Staff stay last: they are planned on the grids generated above.
    plan = await org_service.generate_staff(engine, city, seed)
    say(f"staff: {len(plan.people):,} people in {len(plan.posts):,} posts")
