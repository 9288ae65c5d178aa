"""The deadline sweep (run by the scheduler's single leader).

1. Every running clock past its deadline is marked overdue; each marked case gets an
   ``overdue`` timeline entry, and one stream event per grid (and visibility class) tells the
   handler's and the superiors' screens (they all read the grid's subtree). The event lists the
   grid's first hundred cases and counts them all.
2. A case still overdue ``case_escalation_grace_hours`` after it was marked is escalated one
   level by the system (督办), as the named action ``escalate`` with a system reason.

Step 1 never brings the marked cases into Python (a sweep may mark a hundred thousand in
thousands of grids): the UPDATE, the INSERT ... SELECT of the timeline entries and the one of
the events, whose payloads the database builds per grid, are a single statement on PostgreSQL
(``CaseRepository.mark_overdue``). There the event_log trigger publishes the events at commit;
where the app publishes, the logged rows come back to be handed to the bus after commit.

One audit record per sweep lists how many cases were marked; each supervision is audited as its
own ``case.escalate`` action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import CASE_POLICE, CASE_READ
from wangge.authz.scope import Subject
from wangge.cases.repository import CaseRepository, OverdueAnnouncement
from wangge.cases.service import case_service
from wangge.config import get_settings
from wangge.kit import bus, scheduler
from wangge.kit.actions import record
from wangge.kit.bus import PublishedEvent
from wangge.kit.db import utcnow

# Supervisions per sweep: each is a full named action; the rest wait for the next sweep.
SUPERVISE_BATCH = 500
# One event per grid (and visibility class): every screen above the grid sees it. It lists
# the first hundred cases; its count covers them all.
OVERDUE = OverdueAnnouncement("case.overdue", police_permission=CASE_POLICE,
                              read_permission=CASE_READ, listed=100)


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
    marked, logged = await repo.mark_overdue(now, system.name, OVERDUE,
                                             returning=bus.app_publishes())
    for entry in logged:
        bus.publish_after_commit(session, PublishedEvent.from_entry(entry))
    supervised = 0
    for case in await repo.due_for_supervision(now - timedelta(hours=grace), SUPERVISE_BATCH):
        if await case_service.supervise(session, case, grace):
            supervised += 1
    if marked or supervised:
        await record(session, system, "case.deadline_sweep", target_type="sweep",
                     target_id=now.isoformat(),
                     changes={"marked_overdue": (None, marked),
                              "supervised": (None, supervised)})
    return SweepResult(marked, supervised)


async def _scheduled(session: AsyncSession) -> None:
    await sweep(session)


scheduler.register("case_deadlines", get_settings().case_sweep_seconds, _scheduled)
