"""The deadline sweep (run by the scheduler's single leader).

1. Every running clock past its deadline is marked overdue in one set-based UPDATE; each marked
   case gets an ``overdue`` timeline entry and one stream event per grid tells the handler's and
   the superiors' screens (they all read the grid's subtree).
2. A case still overdue ``case_escalation_grace_hours`` after it was marked is escalated one
   level by the system (督办), as the named action ``escalate`` with a system reason.

One audit record per sweep lists how many cases were marked; each supervision is audited as its
own ``case.escalate`` action.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import CASE_POLICE, CASE_READ
from wangge.authz.scope import Subject
from wangge.cases.repository import CaseRepository
from wangge.cases.service import case_service
from wangge.config import get_settings
from wangge.kit import bus, scheduler
from wangge.kit.actions import record
from wangge.kit.bus import Event
from wangge.kit.db import utcnow
from wangge.models.case import case_number

# Supervisions per sweep: each is a full named action; the rest wait for the next sweep.
SUPERVISE_BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    marked: int
    supervised: int


async def sweep(session: AsyncSession, now: datetime | None = None,
                grace_hours: float | None = None) -> SweepResult:
    """Marks overdue steps and escalates the long-overdue ones (see the module doc)."""
    now = now or utcnow()
    grace = get_settings().case_escalation_grace_hours if grace_hours is None else grace_hours
    system = Subject.everything()
    repo = CaseRepository(session, system)
    marked = await repo.mark_overdue(now)
    if marked:
        await _timeline_and_events(session, system, marked, now)
    supervised = 0
    for case in await repo.due_for_supervision(now - timedelta(hours=grace), SUPERVISE_BATCH):
        if await case_service.supervise(session, case, grace):
            supervised += 1
    if marked or supervised:
        await record(session, system, "case.deadline_sweep", target_type="sweep",
                     target_id=now.isoformat(),
                     changes={"marked_overdue": (None, len(marked)),
                              "supervised": (None, supervised)})
    return SweepResult(len(marked), supervised)


async def _timeline_and_events(session: AsyncSession, system: Subject,
                               marked: list[dict[str, Any]], now: datetime) -> None:
    await CaseRepository(session, system).add_overdue_entries(now, system.name)
    # One event per grid (and visibility class): every screen above the grid sees it.
    by_grid: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
    for m in marked:
        by_grid[(m["region_code"], bool(m["police_only"]))].append(m)
    await bus.queue_many(session, [Event(
        "case.overdue", grid, CASE_POLICE if police_only else CASE_READ,
        {"cases": [{"id": c["id"], "step": c["step"],
                    "number": case_number(c["id"], c["region_code"], c["reported_at"]),
                    "handler_code": c["handler_code"], "owner_code": c["owner_code"]}
                   for c in cases[:100]], "count": len(cases)})
        for (grid, police_only), cases in by_grid.items()])


async def _scheduled(session: AsyncSession) -> None:
    await sweep(session)


scheduler.register("case_deadlines", get_settings().case_sweep_seconds, _scheduled)
