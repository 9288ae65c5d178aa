"""Visit plans (走访计划): routines every grid under a region follows, their due lists and how
far each region has got.

A plan is one of four kinds (``wangge.models.VisitPlan``). What is due is read from the
last-visit times a visit moves (tags, households, places) or, for a patrol, by counting the
visits each post recorded in the current period; nothing is precomputed, so a visit shows in
the lists at once. Counts group by the region code's prefix, so a city's progress is one
grouped scan per plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from wangge.authz.permissions import REGISTRY_PLAN, grants
from wangge.authz.scope import PostRef, Subject, in_subtree, scope_clause
from wangge.kit.actions import record
from wangge.kit.calendar import LOCAL
from wangge.kit.db import utcnow
from wangge.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from wangge.models import (
    Account,
    Household,
    Person,
    Place,
    Post,
    Region,
    Resident,
    ResidentTag,
    Visit,
    VisitPlan,
)
from wangge.models.post import GRID_ROLES
from wangge.registry.places import TAG_LEVELS
from wangge.registry.schemas import (
    DueItem,
    DuePage,
    PlanCreate,
    PlanList,
    PlanOut,
    PlanProgress,
    PlanUpdate,
    ProgressRow,
)

MAX_DUE = 500
# The three grid roles of "3+N" (the N others support, they do not patrol).
PATROL_ROLES = ("grid_leader", "deputy_grid_leader", "grid_member")
# Region code lengths, and the length of a code's children.
CHILD_LENGTH = {2: 4, 4: 6, 6: 9, 9: 12, 12: 15}


def default_start(today: date) -> date:
    """Monday of ``today``'s week: where a weekly patrol's periods start by default."""
    return today - timedelta(days=today.weekday())


def _out(p: VisitPlan) -> PlanOut:
    return PlanOut(id=p.id, region_code=p.region_code, name=p.name, kind=p.kind,
                   categories=json.loads(p.categories), interval_days=p.interval_days,
                   roles=json.loads(p.roles), quota=p.quota, starts_on=p.starts_on,
                   active=p.active, created_by=p.created_by, post=p.post, version=p.version)


def period_of(plan: VisitPlan, now: datetime) -> tuple[datetime, datetime]:
    """The patrol period holding ``now``: ``interval_days`` long, counted in local days from
    ``starts_on`` (UTC bounds)."""
    days = plan.interval_days or 7
    today = now.astimezone(LOCAL).date()
    start = plan.starts_on + timedelta(days=((today - plan.starts_on).days // days) * days)
    begin = datetime.combine(start, time(), tzinfo=LOCAL)
    return begin, begin + timedelta(days=days)


@dataclass
class _Target:
    """How one plan kind reads its items: the rows, their region, last visit and interval."""

    model: Any
    region: Any
    last: Any
    interval: Any
    where: list[ColumnElement[bool]]


class PlanService:
    # --- writes ---------------------------------------------------------------------------------

    @staticmethod
    def _planner_posts(subject: Subject, region_code: str) -> list[PostRef]:
        return [p for p in subject.posts if grants(p, REGISTRY_PLAN)
                and p.code == p.region_code and region_code.startswith(p.region_code)]

    def can_plan(self, subject: Subject, region_code: str) -> bool:
        """Whether the subject may set and end plans at ``region_code``."""
        return subject.is_system or bool(self._planner_posts(subject, region_code))

    def _planner(self, subject: Subject, region_code: str) -> str | None:
        posts = self._planner_posts(subject, region_code)
        if not posts and not subject.is_system:
            raise Forbidden("visit plans need registry:plan over the region",
                            permission=REGISTRY_PLAN)
        return str(max(posts, key=lambda p: len(p.region_code))) if posts else None

    async def create(self, session: AsyncSession, subject: Subject,
                     data: PlanCreate) -> PlanOut:
        if not subject.can_read_code(data.region_code) or (await session.execute(
                select(Region.code).where(Region.code == data.region_code))).first() is None:
            raise InvalidInput("region_code", f"{data.region_code} is not a region in your "
                               "scope")
        post = self._planner(subject, data.region_code)
        unknown = [c for c in data.categories if c not in TAG_LEVELS]
        if data.kind == "special_groups" and unknown:
            raise InvalidInput("categories", "unknown categories: " + ", ".join(unknown))
        if data.kind != "special_groups" and data.categories:
            raise InvalidInput("categories", "only special_groups plans take categories")
        if data.kind in ("households", "patrol") and data.interval_days is None:
            raise InvalidInput("interval_days", f"a {data.kind} plan needs its interval")
        roles = data.roles or (list(PATROL_ROLES) if data.kind == "patrol" else [])
        if data.kind != "patrol" and data.roles:
            raise InvalidInput("roles", "only patrol plans take roles")
        bad = [r for r in roles if r not in GRID_ROLES]
        if bad:
            raise InvalidInput("roles", "not grid roles: " + ", ".join(bad))
        now = utcnow()
        plan = VisitPlan(
            region_code=data.region_code, name=data.name, kind=data.kind,
            categories=json.dumps(sorted(set(data.categories))), interval_days=data.interval_days,
            roles=json.dumps(roles), quota=data.quota,
            starts_on=data.starts_on or (default_start(now.astimezone(LOCAL).date())
                                         if data.kind == "patrol"
                                         else now.astimezone(LOCAL).date()), active=True,
            created_by_account_id=subject.account_id, created_by=subject.name, post=post,
            created_at=now, updated_at=now)
        session.add(plan)
        await session.flush()
        await record(session, subject, "visit_plan.created", target_type="visit_plan",
                     target_id=plan.id, region_code=plan.region_code, post=post,
                     changes={"name": (None, plan.name), "kind": (None, plan.kind),
                              "interval_days": (None, plan.interval_days),
                              "categories": (None, plan.categories),
                              "roles": (None, plan.roles), "quota": (None, plan.quota)})
        return _out(plan)

    async def _plan(self, session: AsyncSession, subject: Subject, plan_id: int) -> VisitPlan:
        """A plan the subject can see: set at, above or below a region of its scope."""
        plan = await session.get(VisitPlan, plan_id)
        if plan is None or not (subject.can_read_code(plan.region_code)
                                or any(p.startswith(plan.region_code)
                                       for p in subject.prefixes) or subject.is_system):
            raise NotFound(f"visit plan {plan_id} not found", plan_id=plan_id)
        return plan

    async def update(self, session: AsyncSession, subject: Subject, plan_id: int,
                     data: PlanUpdate) -> PlanOut:
        plan = await self._plan(session, subject, plan_id)
        post = self._planner(subject, plan.region_code)
        if data.version != plan.version:
            raise Conflict(f"version {data.version} is stale: the plan is at version "
                           f"{plan.version}; reload it", field="version",
                           current_version=plan.version)
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        for field in ("name", "active", "quota"):
            if field in given and given[field] is None:
                raise InvalidInput(field, "cannot be emptied")
        if "interval_days" in given and given["interval_days"] is None and \
                plan.kind in ("households", "patrol"):
            raise InvalidInput("interval_days", f"a {plan.kind} plan needs its interval")
        changes = {}
        for field, value in given.items():
            if value != getattr(plan, field):
                changes[field] = (getattr(plan, field), value)
                setattr(plan, field, value)
        if changes:
            plan.updated_at = utcnow()
            try:
                await session.flush()
            except StaleDataError:
                raise Conflict("the plan changed meanwhile; reload it",
                               field="version") from None
            await record(session, subject, "visit_plan.updated", target_type="visit_plan",
                         target_id=plan.id, region_code=plan.region_code, post=post,
                         changes=changes)
        return _out(plan)

    # --- reads ----------------------------------------------------------------------------------

    async def plans(self, session: AsyncSession, subject: Subject, region: str | None,
                    active: bool | None) -> PlanList:
        """Plans that apply to ``region`` (set at it or above it) and those set below it in
        scope; without ``region``, every plan of the subject's scope and above it."""
        if region is not None and not subject.can_read_code(region):
            raise NotFound(f"region {region} not found", region=region)
        roots = [region] if region is not None else list(subject.prefixes)
        if subject.is_system and region is None:
            roots = [""]
        above = {r[:n] for r in roots for n in (2, 4, 6, 9, 12, 15) if n <= len(r)}
        clauses: list[ColumnElement[bool]] = \
            [VisitPlan.region_code.in_(sorted(above))] if above else []
        clauses += [and_(in_subtree(VisitPlan.region_code, r),
                         scope_clause(subject, VisitPlan.region_code)) for r in roots]
        stmt = select(VisitPlan).where(or_(*clauses) if clauses else literal(False))
        if active is not None:
            stmt = stmt.where(VisitPlan.active.is_(active))
        rows = (await session.execute(stmt.order_by(VisitPlan.id))).scalars()
        return PlanList(items=[_out(p) for p in rows])

    def _covers(self, plan: VisitPlan, subject: Subject, code: str) -> None:
        if not subject.can_read_code(code):
            raise NotFound(f"region {code} not found", region=code)
        if not (code.startswith(plan.region_code) or plan.region_code.startswith(code)):
            raise InvalidInput("region", f"plan {plan.id} does not apply to {code}")

    @staticmethod
    def _target(plan: VisitPlan) -> _Target:
        if plan.kind == "special_groups":
            categories = json.loads(plan.categories)
            where: list[ColumnElement[bool]] = [ResidentTag.active.is_(True)]
            if categories:
                where.append(ResidentTag.category.in_(categories))
            interval = literal(plan.interval_days) if plan.interval_days \
                else ResidentTag.visit_interval_days
            return _Target(ResidentTag, ResidentTag.region_code, ResidentTag.last_visit_at,
                           interval, where)
        if plan.kind == "households":
            return _Target(Household, Household.region_code, Household.last_visit_at,
                           literal(plan.interval_days), [])
        interval = literal(plan.interval_days) if plan.interval_days \
            else Place.inspection_interval_days
        return _Target(Place, Place.region_code, Place.last_inspected_at, interval, [])

    @staticmethod
    def _due_clause(t: _Target, now: datetime, intervals: list[int]) -> ColumnElement[bool]:
        """Never visited, or last visited at least its interval ago (one bound per distinct
        interval: portable and index-friendly)."""
        return or_(t.last.is_(None), *(and_(t.interval == days,
                                            t.last <= now - timedelta(days=days))
                                       for days in intervals))

    async def _intervals(self, session: AsyncSession, t: _Target,
                         where: list[ColumnElement[bool]]) -> list[int]:
        return [d for (d,) in (await session.execute(
            select(t.interval).where(*where).distinct())).all() if d is not None]

    async def due(self, session: AsyncSession, subject: Subject, plan_id: int, code: str,
                  limit: int = 100, *, all_posts: bool = False) -> DuePage:
        """What the plan wants visited in ``code``'s subtree (never visited first, then the
        longest overdue); for a patrol, the posts behind their quota this period (every post
        with ``all_posts``, those behind first)."""
        if not 1 <= limit <= MAX_DUE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_DUE}")
        plan = await self._plan(session, subject, plan_id)
        self._covers(plan, subject, code)
        now = utcnow()
        if plan.kind == "patrol":
            return await self._patrol_due(session, subject, plan, code, now, limit, all_posts)
        t = self._target(plan)
        where = [*t.where, scope_clause(subject, t.region), in_subtree(t.region, code),
                 in_subtree(t.region, plan.region_code)]
        intervals = await self._intervals(session, t, where)
        due = self._due_clause(t, now, intervals)
        total, due_count = (await session.execute(
            select(func.count(), func.count().filter(due)).select_from(t.model)
            .where(*where))).one()
        order = (t.last.is_(None).desc(), t.last, t.model.id)
        items: list[DueItem] = []
        if plan.kind == "special_groups":
            for tag, name, household in (await session.execute(
                    select(ResidentTag, Resident.name, Resident.household_id)
                    .join(Resident, Resident.id == ResidentTag.resident_id)
                    .where(*where, due, Resident.merged_into_id.is_(None))
                    .order_by(*order).limit(limit))).all():
                days = plan.interval_days or tag.visit_interval_days
                items.append(DueItem(
                    kind="tag", id=tag.id, region_code=tag.region_code, label=name,
                    resident_id=tag.resident_id, household_id=household,
                    category=tag.category, level=tag.level, post=tag.responsible_post,
                    interval_days=days, last_visit_at=tag.last_visit_at,
                    due_since=tag.last_visit_at + timedelta(days=days)
                    if tag.last_visit_at else None))
        elif plan.kind == "households":
            from wangge.models import Address

            days = plan.interval_days or 0
            for h, text in (await session.execute(
                    select(Household, Address.text).outerjoin(
                        Address, Address.id == Household.address_id)
                    .where(*where, due).order_by(*order).limit(limit))).all():
                items.append(DueItem(
                    kind="household", id=h.id, region_code=h.region_code,
                    label=text or h.head_name or f"#{h.id}", household_id=h.id,
                    interval_days=days, last_visit_at=h.last_visit_at,
                    due_since=h.last_visit_at + timedelta(days=days)
                    if h.last_visit_at else None))
        else:
            for (p,) in (await session.execute(
                    select(Place).where(*where, due).order_by(*order).limit(limit))).all():
                days = plan.interval_days or p.inspection_interval_days
                items.append(DueItem(
                    kind="place", id=p.id, region_code=p.region_code, label=p.name,
                    category=p.category, interval_days=days, last_visit_at=p.last_inspected_at,
                    due_since=p.last_inspected_at + timedelta(days=days)
                    if p.last_inspected_at else None))
        return DuePage(plan_id=plan.id, region_code=code, period_start=None, period_end=None,
                       total=total, due=due_count, items=items)

    async def _patrol_counts(self, session: AsyncSession, subject: Subject, plan: VisitPlan,
                             code: str, begin: datetime, end: datetime,
                             ) -> list[tuple[str, str, str, int]]:
        """(grid, role, person, visits this period) of every patrolling post in scope."""
        roles = json.loads(plan.roles)
        grid_posts = (
            select(Post.region_code, Post.role, Post.person_id, Person.name)
            .join(Person, Person.id == Post.person_id)
            .join(Region, Region.code == Post.region_code)
            .where(Region.level == "grid", Post.role.in_(roles),
                   in_subtree(Post.region_code, code),
                   in_subtree(Post.region_code, plan.region_code),
                   scope_clause(subject, Post.region_code))).subquery()
        # Two members of one grid share the post's name: visits count per person too.
        visits = (
            select(Visit.post, Account.person_id, func.count().label("n"))
            .join(Account, Account.id == Visit.visitor_account_id)
            .where(Visit.at >= begin, Visit.at < end, in_subtree(Visit.region_code, code),
                   in_subtree(Visit.region_code, plan.region_code),
                   scope_clause(subject, Visit.region_code))
            .group_by(Visit.post, Account.person_id)).subquery()
        key = grid_posts.c.role + literal("@") + grid_posts.c.region_code
        rows = (await session.execute(
            select(grid_posts.c.region_code, grid_posts.c.role, grid_posts.c.name,
                   func.coalesce(visits.c.n, 0))
            .outerjoin(visits, and_(visits.c.post == key,
                                    visits.c.person_id == grid_posts.c.person_id))
            .order_by(grid_posts.c.region_code, grid_posts.c.role))).all()
        return [(g, r, n, int(c)) for g, r, n, c in rows]

    async def _patrol_due(self, session: AsyncSession, subject: Subject, plan: VisitPlan,
                          code: str, now: datetime, limit: int, all_posts: bool) -> DuePage:
        begin, end = period_of(plan, now)
        rows = await self._patrol_counts(session, subject, plan, code, begin, end)
        behind = [r for r in rows if r[3] < plan.quota]
        listed = sorted(rows if all_posts else behind, key=lambda r: (r[3], r[0], r[1]))
        return DuePage(
            plan_id=plan.id, region_code=code, period_start=begin, period_end=end,
            total=len(rows), due=len(behind), items=[DueItem(
                kind="post", id=None, region_code=g, label=name, post=f"{role}@{g}",
                interval_days=plan.interval_days or 7, last_visit_at=None, due_since=None,
                done=n, quota=plan.quota) for g, role, name, n in listed[:limit]])

    async def progress(self, session: AsyncSession, subject: Subject, plan_id: int,
                       code: str) -> PlanProgress:
        """Done and total under ``code`` and per child region in scope (done: visited within
        the interval, or a post that met its quota this period)."""
        plan = await self._plan(session, subject, plan_id)
        self._covers(plan, subject, code)
        now = utcnow()
        child_len = CHILD_LENGTH.get(len(code))
        names = dict((await session.execute(
            select(Region.code, Region.name).where(
                Region.parent_code == code, scope_clause(subject, Region.code))
            .order_by(Region.code))).all()) if child_len else {}
        counts: dict[str, list[int]] = {}
        begin = end = None
        if plan.kind == "patrol":
            begin, end = period_of(plan, now)
            for grid, _, _, n in await self._patrol_counts(session, subject, plan, code,
                                                           begin, end):
                key = grid[:child_len] if child_len else code
                row = counts.setdefault(key, [0, 0])
                row[0] += 1
                row[1] += n >= plan.quota
        else:
            t = self._target(plan)
            where = [*t.where, scope_clause(subject, t.region), in_subtree(t.region, code),
                     in_subtree(t.region, plan.region_code)]
            intervals = await self._intervals(session, t, where)
            due = self._due_clause(t, now, intervals)
            key_col = func.substr(t.region, 1, child_len) if child_len else literal(code)
            for key, total, n_due in (await session.execute(
                    select(key_col, func.count(), func.count().filter(due))
                    .where(*where).group_by(key_col))).all():
                counts[key] = [total, total - n_due]
        total = sum(v[0] for v in counts.values())
        done = sum(v[1] for v in counts.values())
        return PlanProgress(
            plan_id=plan.id, region_code=code, period_start=begin, period_end=end,
            total=total, done=done, rate=round(done / total, 4) if total else None,
            children=[ProgressRow(region_code=c, name=name, total=counts.get(c, [0, 0])[0],
                                  done=counts.get(c, [0, 0])[1],
                                  rate=round(counts[c][1] / counts[c][0], 4)
                                  if counts.get(c, [0])[0] else None)
                      for c, name in names.items()])


plan_service = PlanService()

