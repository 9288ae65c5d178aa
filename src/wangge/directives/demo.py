"""Demo directives: what a command centre shows on its first day.

Three directives issued through the service by the demo's city and county commanders — a
city-wide notice to every grid, a county inspection with a feedback form, and a county
emergency to every village — and part of the units acknowledging and reporting back, each step
a real named action by the grid's own staff (seeded, so the demo is the same every time).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wangge.auth.subjects import subject_for
from wangge.authz.scope import PostRef, Subject, in_subtree
from wangge.directives.schemas import AssignmentActionIn, DirectiveCreate, Target
from wangge.directives.service import directive_service
from wangge.kit.db import create_sessionmaker, utcnow
from wangge.models import Account, Directive, DirectiveAssignment, Person, Post

FORM = {
    "type": "object", "required": ["households_checked", "hazards_found"],
    "properties": {
        "households_checked": {"type": "integer", "minimum": 0, "title": "检查户数"},
        "hazards_found": {"type": "integer", "minimum": 0, "title": "发现隐患数"},
        "rectified": {"type": "boolean", "title": "已当场整改"},
    },
}
# Share of a directive's units that acknowledge, and of those that report back.
ACKNOWLEDGED, COMPLETED = 0.7, 0.5
# At most this many units act per directive (each is a full named action).
ACTING = 120


async def _subject(session: AsyncSession, username: str) -> Subject | None:
    account = (await session.execute(
        select(Account).where(Account.username == username))).scalar_one_or_none()
    return await subject_for(session, account) if account is not None else None


async def _unit_worker(session: AsyncSession, grid: str) -> Subject | None:
    """The grid's member (or leader) as a subject, for acting on the grid's assignment."""
    row = (await session.execute(
        select(Person.name, Post.role).join(Post, Post.person_id == Person.id)
        .where(Post.region_code == grid, Post.role.in_(("grid_member", "grid_leader")))
        .order_by(Post.role, Person.id).limit(1))).first()
    if row is None:
        return None
    name, role = row
    from wangge.authz.permissions import ROLE_PERMISSIONS

    return Subject(name=name, prefixes=(grid,), permissions=ROLE_PERMISSIONS[role],
                   posts=(PostRef(role, grid, grid),))


async def generate_directives(engine: AsyncEngine, city: str, county: str, seed: int,
                              say: Callable[[str], None] = lambda _: None) -> int:
    """Issues the demo directives (nothing if the city already has some); returns how many
    assignments they fanned out to."""
    rng = random.Random(seed)
    async with create_sessionmaker(engine)() as session:
        if (await session.execute(select(Directive.id).where(
                in_subtree(Directive.region_code, city)).limit(1))).first() is not None:
            say("directives: the city already has directives, none issued")
            return 0
        mayor, chief = await _subject(session, "admin"), await _subject(session, "county")
        if mayor is None or chief is None:
            say("directives: no demo commanders, none issued")
            return 0
        now = utcnow()
        plans = [
            (mayor, DirectiveCreate(
                targets=[Target(subtree=city)], title="冬季燃气安全入户宣传",
                body="各网格于本周内完成燃气安全宣传入户，张贴提示，重点关注独居老人家庭。",
                kind="notice", priority="normal", due_at=now + timedelta(days=7))),
            (mayor, DirectiveCreate(
                targets=[Target(subtree=county)], title="出租屋消防安全大排查",
                body="对辖区出租屋逐户排查电动车违规充电、私拉乱接电线、消防通道堵塞等隐患，"
                     "能当场整改的当场整改，并填写反馈表。",
                kind="inspection", priority="high", feedback_schema=FORM,
                due_at=now + timedelta(days=3))),
            (chief, DirectiveCreate(
                targets=[Target(level="village", under=county)], title="强降雨防汛预警",
                body="气象台发布暴雨橙色预警。各村（社区）立即排查低洼地带和危旧房屋，"
                     "必要时组织群众转移，并于两小时内反馈。",
                kind="emergency", priority="urgent", due_at=now + timedelta(hours=2))),
        ]
        total = 0
        for issuer, data in plans:
            out, _ = await directive_service.issue(session, issuer, data)
            total += out.target_count
            units = list((await session.execute(
                select(DirectiveAssignment.id, DirectiveAssignment.region_code)
                .where(DirectiveAssignment.directive_id == out.id,
                       DirectiveAssignment.level == "grid")
                .order_by(DirectiveAssignment.id))).all())
            rng.shuffle(units)
            for assignment_id, grid in units[:ACTING]:
                if rng.random() > ACKNOWLEDGED:
                    continue
                worker = await _unit_worker(session, grid)
                if worker is None:
                    continue
                a = await directive_service.act(session, worker, assignment_id, "acknowledge",
                                                AssignmentActionIn(version=1))
                if rng.random() < COMPLETED:
                    feedback = ({"households_checked": rng.randint(8, 60),
                                 "hazards_found": rng.randint(0, 4)}
                                if data.feedback_schema == FORM else {})
                    await directive_service.act(
                        session, worker, assignment_id, "complete",
                        AssignmentActionIn(version=a.version, feedback=feedback,
                                           note="已完成"))
        await session.commit()
    say(f"directives: {len(plans)} issued to {total:,} units")
    return total
