"""Demo visit plans: the routines a city sets on its first day (idempotent: only when the city
has no plan yet), through the same service as the API."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.authz.scope import Subject, in_subtree
from wangge.kit.db import create_sessionmaker
from wangge.models import VisitPlan
from wangge.registry.plans import plan_service
from wangge.registry.schemas import PlanCreate

PLANS = (
    dict(name="特殊人群分级走访", kind="special_groups"),
    dict(name="重点场所定期巡查", kind="places"),
    dict(name="网格三员每周走访", kind="patrol", interval_days=7, quota=2),
    dict(name="全面入户走访（每季度）", kind="households", interval_days=90),
)


async def ensure_plans(engine: AsyncEngine, city: str,
                       say: Callable[[str], None] = lambda _: None) -> int:
    """Sets the demo's city-wide plans unless the city has one; returns how many it set."""
    async with create_sessionmaker(engine)() as session, session.begin():
        if (await session.execute(select(func.count()).select_from(VisitPlan).where(
                in_subtree(VisitPlan.region_code, city)))).scalar_one():
            return 0
        for plan in PLANS:
            await plan_service.create(session, Subject.everything(),
                                      PlanCreate.model_validate({"region_code": city, **plan}))
    say(f"visit plans: {len(PLANS)} set for {city}")
    return len(PLANS)
