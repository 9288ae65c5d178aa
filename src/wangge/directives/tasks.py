"""The directive deadline sweep (run by the scheduler's single leader).

1. Assignments still unacknowledged after ``ack_due_at`` are marked overdue (step
   ``acknowledge``); unfinished ones after ``due_at`` (step ``complete``). Marking is one UPDATE
   per step; each marked assignment gets an ``overdue`` timeline entry, and one stream event per
   directive and county tells the command centres above (their counts and lists refresh).
2. Emergency assignments still unacknowledged ``directive_emergency_minutes`` after delivery
   are escalated to the unit's superiors: an ``escalate`` timeline entry and an
   ``assignment.escalate`` event at the unit's parent region, which every level above sees.

One audit record per sweep lists what it marked and escalated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import DIRECTIVE_READ
from wangge.authz.scope import Subject
from wangge.cases.workflow import parent_code
from wangge.config import get_settings
from wangge.directives.repository import DirectiveRepository
from wangge.kit import scheduler
from wangge.kit.actions import record
from wangge.kit.bus import Event
from wangge.kit.db import utcnow

# One overdue event per directive and county lists at most this many assignment ids.
LISTED = 100


@dataclass(frozen=True)
class DirectiveSweepResult:
    marked: int
    escalated: int


async def sweep(session: AsyncSession, now: datetime | None = None,
                emergency_minutes: float | None = None) -> DirectiveSweepResult:
    """Marks late steps and escalates unacknowledged emergencies (see the module doc)."""
    now = now or utcnow()
    minutes = (get_settings().directive_emergency_minutes if emergency_minutes is None
               else emergency_minutes)
    system = Subject.everything()
    repo = DirectiveRepository(session, system)
    marked = await repo.mark_overdue(now)
    escalated = await repo.escalate_emergencies(now - timedelta(minutes=minutes), now)
    entries = [dict(directive_id=d, assignment_id=i, region_code=r, action="overdue", at=now,
                    actor_account_id=None, actor=system.name, post=None, from_status=None,
                    to_status=None, note=None, data=f'{{"step":"{step}"}}')
               for i, d, r, step in marked]
    entries += [dict(directive_id=d, assignment_id=i, region_code=r, action="escalate", at=now,
                     actor_account_id=None, actor=system.name, post=None, from_status=None,
                     to_status=None, note=f"unacknowledged after {minutes:g} minutes",
                     data=f'{{"to":"{parent_code(r) or r}"}}')
                 for i, d, r in escalated]
    await repo.add_actions(entries)
    groups: dict[tuple[int, str, str], list[int]] = {}
    for i, d, r, step in marked:
        groups.setdefault((d, r[:6], step), []).append(i)
    events = [Event("directive.overdue", county, DIRECTIVE_READ, {
        "directive_id": d, "step": step, "count": len(ids), "assignments": ids[:LISTED]})
        for (d, county, step), ids in sorted(groups.items())]
    events += [Event("assignment.escalate", parent_code(r) or r, DIRECTIVE_READ, {
        "id": i, "directive_id": d, "region_code": r, "status": "delivered",
        "action": "escalate", "overdue": True}) for i, d, r in escalated]
    if marked or escalated:
        await record(session, system, "directive.deadline_sweep", target_type="sweep",
                     target_id=now.isoformat(), events=events,
                     changes={"marked_overdue": (None, len(marked)),
                              "escalated": (None, len(escalated))})
    return DirectiveSweepResult(len(marked), len(escalated))


async def _scheduled(session: AsyncSession) -> None:
    await sweep(session)


scheduler.register("directive_deadlines", get_settings().directive_sweep_seconds, _scheduled)
