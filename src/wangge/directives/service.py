"""Named actions on directives: issue (fan-out to every target unit in one statement), the
assignment workflow (``workflow.py``), reminders and comments, and the reads — progress per
child region among them. Every action is audited and published (``wangge.kit.actions``).

Stream events: ``directive.issued`` goes out once per target, at the target's region, and
reaches down into it (a grid worker under a county-wide target sees it; see
``wangge.stream.service.REACHES_DOWN``); each assignment action is ``assignment.<action>`` at
the unit's region, seen by the unit and every level above it.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from wangge.authz.permissions import (
    DIRECTIVE_HANDLE,
    DIRECTIVE_ISSUE,
    DIRECTIVE_READ,
    grants,
)
from wangge.authz.scope import PostRef, Subject, scope_ancestors
from wangge.cases.workflow import LEVEL_LENGTHS, level_of
from wangge.directives import workflow
from wangge.directives.repository import (
    UNFINISHED,
    AssignmentFilters,
    DirectiveRepository,
    UnitTarget,
)
from wangge.directives.schemas import (
    ASSIGNMENT_STATUSES,
    AssignmentActionIn,
    AssignmentOut,
    AssignmentPage,
    DirectiveCreate,
    DirectiveDetail,
    DirectiveOut,
    DirectivePage,
    LevelCount,
    ProgressCounts,
    ProgressOut,
    ProgressRow,
    RemindOut,
    Target,
    TargetPreview,
    TimelineItem,
)
from wangge.directives.workflow import Role
from wangge.kit.actions import record
from wangge.kit.bus import Event
from wangge.kit.db import utcnow
from wangge.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from wangge.kit.jsontext import compact
from wangge.models import AssignmentAction, Directive, DirectiveAssignment

if TYPE_CHECKING:
    from wangge.geo.service import GridIndexCache

MAX_PAGE = 200
# Default acknowledgement deadlines.
ACK_WITHIN = {"emergency": timedelta(minutes=30)}
ACK_DEFAULT = timedelta(days=1)
# Level lengths from the top, and what lies one level below a code.
_LENGTHS = sorted({2, *LEVEL_LENGTHS.values()})
UNIT_LEVELS = ("county", "township", "village", "grid")



def child_length(code: str) -> int | None:
    """The code length one level below ``code`` (None below a grid)."""
    deeper = [n for n in _LENGTHS if n > len(code)]
    return deeper[0] if deeper else None



def _region_posts(subject: Subject, permission: str) -> list[PostRef]:
    """The subject's posts in a region (not an organisation) that grant ``permission``."""
    return [p for p in subject.posts if grants(p, permission) and p.code == p.region_code]


def _deepest(posts: Sequence[PostRef]) -> PostRef | None:
    return max(posts, key=lambda p: len(p.region_code), default=None)


def roles_of(subject: Subject, directive: Directive,
             assignment: DirectiveAssignment) -> dict[Role, PostRef | None]:
    """The roles the subject plays for an assignment, each with the post it acts under."""
    if subject.is_system:
        return {"issuer": None, "overseer": None}
    out: dict[Role, PostRef | None] = {}
    unit = [p for p in _region_posts(subject, DIRECTIVE_HANDLE)
            if p.region_code == assignment.region_code]
    if unit:
        out["unit"] = unit[0]
    issuing = _region_posts(subject, DIRECTIVE_ISSUE)
    issuer = [p for p in issuing if directive.region_code.startswith(p.region_code)]
    if issuer:
        out["issuer"] = _deepest(issuer)
    overseer = [p for p in issuing if assignment.region_code.startswith(p.region_code)
                and len(p.region_code) < len(assignment.region_code)]
    if overseer:
        out["overseer"] = _deepest(overseer)
    return out


def allowed_actions(subject: Subject, directive: Directive,
                    assignment: DirectiveAssignment) -> list[str]:
    roles = roles_of(subject, directive, assignment)
    return [a for a in workflow.actions_in(assignment.status)
            if any(r in roles for r in workflow.TRANSITIONS[a].roles)]


def _counts(rows: Sequence[tuple[str, bool, int]]) -> dict[str, int]:
    out = dict.fromkeys(("total", *ASSIGNMENT_STATUSES, "overdue"), 0)
    for status, late, n in rows:
        out["total"] += n
        out[status] = out.get(status, 0) + n
        if late:
            out["overdue"] += n
    return out


def _progress(values: dict[str, int]) -> dict[str, Any]:
    done = values["completed"] + values["accepted"]
    return {**values, "done": done,
            "rate": round(done / values["total"], 4) if values["total"] else 0.0}


def _targets_seen_by(subject: Subject, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The directive's targets as a reader may see them: regions in its scope or above it
    (never a sibling's); grid lists cut to the grids in scope."""
    if subject.is_system:
        return targets
    above = set(scope_ancestors(subject))
    out = []
    for t in targets:
        if "grids" in t:
            grids = [g for g in t["grids"] if subject.can_read_code(g)]
            if grids:
                out.append({**t, "grids": grids})
            continue
        code = t.get("subtree") or t.get("under") or ""
        if subject.can_read_code(code) or code in above:
            out.append(t)
    return out


def _timeline_item(a: AssignmentAction) -> TimelineItem:
    return TimelineItem(id=a.id, action=a.action, at=a.at, actor=a.actor, post=a.post,
                        from_status=a.from_status, to_status=a.to_status, note=a.note,
                        data=json.loads(a.data))


def assignment_event(assignment: DirectiveAssignment, action: str) -> Event:
    return Event(f"assignment.{action}", assignment.region_code, DIRECTIVE_READ, {
        "id": assignment.id, "directive_id": assignment.directive_id, "action": action,
        "region_code": assignment.region_code, "status": assignment.status,
        "version": assignment.version,
        "overdue": assignment.overdue_at is not None and assignment.status in UNFINISHED})


class DirectiveService:
    # --- targets --------------------------------------------------------------------------------

    async def _resolve(self, repo: DirectiveRepository, subject: Subject,
                       targets: Sequence[Target]) -> tuple[list[UnitTarget], list[str]]:
        """Checks the targets (each exists and lies in the subject's scope) and returns them
        resolved, with the region each target's event goes to."""
        named = [code for t in targets if (code := t.subtree or t.under)]
        grids = sorted({g for t in targets for g in t.grids or []})
        known = await repo.existing_regions([*named, *grids])
        units: list[UnitTarget] = []
        scopes: list[str] = []
        for i, t in enumerate(targets):
            field = f"targets.{i}"
            if t.grids is not None:
                for g in t.grids:
                    if known.get(g) != "grid" or not subject.can_read_code(g):
                        raise InvalidInput(f"{field}.grids", f"{g} is not a grid in your scope")
                units.append(UnitTarget("grid", codes=tuple(sorted(set(t.grids)))))
                scopes += t.grids
                continue
            code = t.subtree or t.under or ""
            name = "subtree" if t.subtree else "under"
            if code not in known or not subject.can_read_code(code):
                raise InvalidInput(f"{field}.{name}", f"{code} is not a region in your scope")
            level = t.level or "grid"
            if LEVEL_LENGTHS[level] <= len(code) and not (t.subtree and len(code) == 15):
                raise InvalidInput(f"{field}.level", f"no {level} lies under {code}")
            units.append(UnitTarget(level, under=code))
            scopes.append(code)
        return units, list(dict.fromkeys(scopes))

    async def preview(self, session: AsyncSession, subject: Subject,
                      targets: Sequence[Target]) -> TargetPreview:
        """How many units ``targets`` reach, by level (nothing is written)."""
        repo = DirectiveRepository(session, subject)
        units, _ = await self._resolve(repo, subject, targets)
        by_level = await repo.count_units(units)
        return TargetPreview(total=sum(by_level.values()), by_level=[
            LevelCount(level=lv, count=by_level[lv]) for lv in UNIT_LEVELS if lv in by_level])

    # --- issue ----------------------------------------------------------------------------------

    def _issuing_post(self, subject: Subject, data: DirectiveCreate,
                      scopes: Sequence[str]) -> PostRef:
        posts = _region_posts(subject, DIRECTIVE_ISSUE)
        if data.post is not None:
            posts = [p for p in posts if str(p) == data.post]
            if not posts:
                raise InvalidInput("post", f"you hold no issuing post {data.post}")
        covering = [p for p in posts if all(s.startswith(p.region_code) for s in scopes)]
        if not covering:
            raise Forbidden("targets: every target must lie under one post of yours that may "
                            "issue directives", permission=DIRECTIVE_ISSUE, field="targets")
        post = _deepest(covering)
        assert post is not None
        return post

    async def issue(self, session: AsyncSession, subject: Subject,
                    data: DirectiveCreate) -> tuple[DirectiveDetail, bool]:
        """Issues a directive: one assignment per unit reached, in one statement, and one
        stream event per target. Idempotent on ``client_uuid``."""
        repo = DirectiveRepository(session, subject)
        body = data.model_dump(mode="json")
        content_hash = hashlib.sha256(compact(body).encode()).hexdigest()
        if data.client_uuid is not None:
            existing = await repo.by_client_uuid(str(data.client_uuid))
            if existing is not None:
                if existing.issuer_account_id != subject.account_id or \
                        existing.content_hash != content_hash:
                    raise Conflict("client_uuid: already used for a different directive",
                                   field="client_uuid")
                return await self.detail(session, subject, existing), False
        units, scopes = await self._resolve(repo, subject, data.targets)
        post = self._issuing_post(subject, data, scopes)
        try:
            Draft202012Validator.check_schema(data.feedback_schema)
        except Exception as e:  # jsonschema.SchemaError
            raise InvalidInput("feedback_schema", f"not a valid JSON Schema: "
                               f"{getattr(e, 'message', e)}") from None
        now = utcnow()
        ack_due = data.ack_due_at or now + ACK_WITHIN.get(data.kind, ACK_DEFAULT)
        if ack_due <= now:
            raise InvalidInput("ack_due_at", "must lie in the future")
        if data.due_at is not None and data.due_at < ack_due:
            raise InvalidInput("due_at", "must not come before the acknowledgement deadline")
        directive = Directive(
            client_uuid=str(data.client_uuid) if data.client_uuid else None,
            content_hash=content_hash, region_code=post.region_code,
            level=level_of(post.region_code), issuer_account_id=subject.account_id,
            issuer=subject.name, issuer_post=str(post), title=data.title, body=data.body,
            kind=data.kind, priority=data.priority,
            feedback_schema=compact(data.feedback_schema),
            targets=compact([t.model_dump(exclude_none=True) for t in data.targets]),
            target_count=0, ack_due_at=ack_due, due_at=data.due_at, status="active",
            created_at=now)
        session.add(directive)
        await session.flush()
        count = await repo.fan_out(directive, units, now)
        if count == 0:
            raise InvalidInput("targets", "the targets reach no unit")
        directive.target_count = count
        unique = list(dict.fromkeys(data.attachments))
        if len(unique) != await repo.claim_photos(unique, directive_id=directive.id):
            raise InvalidInput("attachments", "every attachment must be an upload of yours not "
                               "yet attached (POST /api/v1/photos)")
        payload = {"id": directive.id, "title": directive.title, "kind": directive.kind,
                   "priority": directive.priority, "issuer_region": directive.region_code,
                   "target_count": count, "ack_due_at": ack_due.isoformat(),
                   "due_at": data.due_at.isoformat() if data.due_at else None}
        events = [Event("directive.issued", code, DIRECTIVE_READ, {**payload, "target": code})
                  for code in scopes]
        await record(session, subject, "directive.issued", target_type="directive",
                     target_id=directive.id, region_code=directive.region_code,
                     post=str(post), events=events,
                     changes={"title": (None, directive.title), "kind": (None, directive.kind),
                              "targets": (None, directive.targets),
                              "target_count": (None, count)})
        return await self.detail(session, subject, directive), True

    # --- reads ----------------------------------------------------------------------------------

    def _out(self, subject: Subject, d: Directive, attachments: list[int],
             counts: dict[str, int] | None) -> dict[str, Any]:
        issuing = _region_posts(subject, DIRECTIVE_ISSUE)
        return dict(
            id=d.id, client_uuid=d.client_uuid, region_code=d.region_code, level=d.level,
            issuer=d.issuer, issuer_post=d.issuer_post, title=d.title, body=d.body,
            kind=d.kind, priority=d.priority, attachments=attachments,
            feedback_schema=json.loads(d.feedback_schema),
            targets=_targets_seen_by(subject, json.loads(d.targets)),
            target_count=d.target_count, ack_due_at=d.ack_due_at, due_at=d.due_at,
            status=d.status, created_at=d.created_at,
            can_accept=subject.is_system or any(d.region_code.startswith(p.region_code)
                                                for p in issuing),
            can_remind=subject.is_system or bool(issuing),
            counts=ProgressCounts(**_progress(counts)) if counts is not None else None)

    async def _scope_counts(self, repo: DirectiveRepository,
                            ids: Sequence[int]) -> dict[int, dict[str, int]]:
        grouped: dict[int, list[tuple[str, bool, int]]] = {i: [] for i in ids}
        for d, _, status, late, n in await repo.counts(ids):
            grouped[d].append((status, late, n))
        return {d: _counts(rows) for d, rows in grouped.items()}

    async def detail(self, session: AsyncSession, subject: Subject,
                     directive: Directive) -> DirectiveDetail:
        repo = DirectiveRepository(session, subject)
        photos = await repo.photo_ids(directive_id=directive.id)
        counts = await self._scope_counts(repo, [directive.id])
        return DirectiveDetail(
            **self._out(subject, directive, photos.get(directive.id, []), counts[directive.id]),
            comments=[_timeline_item(c) for c in await repo.comments(directive.id)])

    async def get(self, session: AsyncSession, subject: Subject,
                  directive_id: int) -> DirectiveDetail:
        directive = await DirectiveRepository(session, subject).get(directive_id)
        if directive is None:
            raise NotFound(f"directive {directive_id} not found", directive_id=directive_id)
        return await self.detail(session, subject, directive)

    async def list(self, session: AsyncSession, subject: Subject, *, kind: str | None = None,
                   region: str | None = None, status: str | None = None,
                   before: int | None = None, limit: int = 50) -> DirectivePage:
        """Directives the caller may read, newest first, with counts of the caller's scope
        (``repository.page`` for the filters)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        if region is not None and not subject.can_read_code(region):
            raise NotFound(f"region {region} not found", region=region)
        repo = DirectiveRepository(session, subject)
        rows = await repo.page(kind, before, limit + 1, region=region, status=status)
        more = len(rows) > limit
        rows = rows[:limit]
        counts = await self._scope_counts(repo, [d.id for d in rows])
        items = [DirectiveOut(**self._out(subject, d, [], counts[d.id])) for d in rows]
        return DirectivePage(items=items, next_cursor=rows[-1].id if more and rows else None)

    async def progress(self, session: AsyncSession, subject: Subject, directive_id: int,
                       region: str | None) -> ProgressOut:
        """Counts of the directive's assignments under ``region`` (default: the caller's
        top region), per child region of it."""
        repo = DirectiveRepository(session, subject)
        directive = await repo.get(directive_id)
        if directive is None:
            raise NotFound(f"directive {directive_id} not found", directive_id=directive_id)
        code = region if region is not None else min(subject.prefixes, key=len, default="")
        if not code or not subject.can_read_code(code):
            raise NotFound(f"region {code} not found", region=code)
        here = await repo.region(code)
        if here is None:
            raise NotFound(f"region {code} not found", region=code)
        # Below a grid there are no children: the prefix is then the grid itself.
        n = child_length(code) or len(code)
        rows = await repo.counts([directive.id], subtree=code, child_length=n)
        per_child: dict[str, list[tuple[str, bool, int]]] = {}
        for _, prefix, status, late, k in rows:
            per_child.setdefault(prefix, []).append((status, late, k))
        total = _counts([r for v in per_child.values() for r in v])
        children = await repo.children(code)
        known = {c.code for c in children}
        extra = sorted(p for p in per_child if p not in known and p != code)
        names = await repo.region_names(extra)
        out = [ProgressRow(code=c.code, name=c.name, level=c.level,
                           **_progress(_counts(per_child.get(c.code, []))))
               for c in children]
        out += [ProgressRow(code=p, name=names.get(p), level=level_of(p),
                            **_progress(_counts(per_child[p]))) for p in extra]
        return ProgressOut(directive_id=directive.id,
                           region=ProgressRow(code=code, name=here.name, level=here.level,
                                              **_progress(total)),
                           children=out)

    # --- assignments ----------------------------------------------------------------------------

    async def _assignment_outs(self, repo: DirectiveRepository, subject: Subject,
                               rows: Sequence[DirectiveAssignment],
                               timeline: builtins.list[AssignmentAction] | None = None
                               ) -> builtins.list[AssignmentOut]:
        directives = await repo.directives_by_id(list({a.directive_id for a in rows}))
        names = await repo.region_names([a.region_code for a in rows])
        photos = await repo.photo_ids(assignment_ids=[a.id for a in rows])
        out = []
        for a in rows:
            d = directives[a.directive_id]
            out.append(AssignmentOut(
                id=a.id, directive_id=a.directive_id, directive_title=d.title,
                directive_kind=d.kind, priority=d.priority, region_code=a.region_code,
                region_name=names.get(a.region_code), level=a.level, status=a.status,
                version=a.version, delivered_at=a.delivered_at, ack_due_at=a.ack_due_at,
                due_at=a.due_at, acknowledged_at=a.acknowledged_at,
                acknowledged_by=a.acknowledged_by, completed_at=a.completed_at,
                completed_by=a.completed_by,
                feedback=json.loads(a.feedback) if a.feedback else None, note=a.note,
                photos=photos.get(a.id, []), accepted_at=a.accepted_at, returns=a.returns,
                overdue=a.overdue_at is not None and a.status in UNFINISHED,
                overdue_step=a.overdue_step if a.status in UNFINISHED else None,
                escalated_at=a.escalated_at, reminders=a.reminders, case_id=a.case_id,
                allowed_actions=allowed_actions(subject, d, a),
                timeline=[_timeline_item(t) for t in timeline] if timeline is not None
                else None))
        return out

    def filters(self, subject: Subject, *, directive_id: int | None = None,
                status: Sequence[str] = (), overdue: bool | None = None,
                region: str | None = None, mine: bool = False) -> AssignmentFilters:
        for s in status:
            if s not in ASSIGNMENT_STATUSES:
                raise InvalidInput("status", f"unknown status {s!r}; one of "
                                   f"{', '.join(ASSIGNMENT_STATUSES)}")
        units = tuple(sorted({p.region_code for p in _region_posts(subject, DIRECTIVE_HANDLE)})
                      ) if mine else None
        return AssignmentFilters(directive_id=directive_id, status=tuple(status),
                                 overdue=overdue, subtree=region, units=units)

    async def assignments(self, session: AsyncSession, subject: Subject,
                          f: AssignmentFilters, *, before: int | None = None,
                          limit: int = 50) -> AssignmentPage:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        repo = DirectiveRepository(session, subject)
        rows = await repo.assignment_page(f, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return AssignmentPage(items=await self._assignment_outs(repo, subject, rows),
                              next_cursor=rows[-1].id if more and rows else None)

    async def assignment(self, session: AsyncSession, subject: Subject,
                         assignment_id: int) -> AssignmentOut:
        repo = DirectiveRepository(session, subject)
        row = await repo.assignment(assignment_id)
        if row is None:
            raise NotFound(f"assignment {assignment_id} not found", assignment_id=assignment_id)
        return (await self._assignment_outs(repo, subject, [row],
                                            await repo.timeline(row.id)))[0]

    # --- the assignment workflow ----------------------------------------------------------------

    async def act(self, session: AsyncSession, subject: Subject, assignment_id: int,
                  action: str, data: AssignmentActionIn,
                  index: GridIndexCache | None = None) -> AssignmentOut:
        """Takes one named action on an assignment (see workflow.py for who may take which)."""
        repo = DirectiveRepository(session, subject)
        a = await repo.assignment(assignment_id)
        if a is None:
            raise NotFound(f"assignment {assignment_id} not found", assignment_id=assignment_id)
        transition = workflow.TRANSITIONS.get(action)
        if transition is None:
            raise NotFound(f"no action {action!r}", action=action)
        directive = (await repo.directives_by_id([a.directive_id]))[a.directive_id]
        roles = roles_of(subject, directive, a)
        if action == "acknowledge" and a.acknowledged_at is not None and "unit" in roles:
            # Idempotent: a second acknowledgement (a phone retrying) changes nothing.
            return await self.assignment(session, subject, a.id)
        if data.version != a.version:
            raise Conflict(f"version {data.version} is stale: the assignment is at version "
                           f"{a.version}; reload it", field="version",
                           current_version=a.version)
        if a.status not in transition.sources:
            raise Conflict(f"{action} is not allowed while the assignment is {a.status}",
                           status=a.status, allowed=workflow.actions_in(a.status))
        usable = [r for r in transition.roles if r in roles]
        if not usable:
            raise Forbidden(f"{action} needs the assignment's {' or '.join(transition.roles)}",
                            action=action, allowed=allowed_actions(subject, directive, a))
        post = roles[usable[0]]
        now = utcnow()
        from_status = a.status
        extra: dict[str, Any] = {}
        note = data.note or data.reason
        if action == "acknowledge":
            a.status, a.acknowledged_at, a.acknowledged_by = "acknowledged", now, subject.name
            if a.overdue_step == "acknowledge":
                a.overdue_at = a.overdue_step = None
        elif action == "complete":
            await self._complete(session, subject, repo, directive, a, data, now, extra, index)
        elif action == "accept":
            a.status, a.accepted_at = "accepted", now
        elif action == "return":
            if not data.reason or not data.reason.strip():
                raise InvalidInput("reason", "say what must be redone")
            a.status, a.returns, a.completed_at = "returned", a.returns + 1, None
        if action == "remind":
            await repo.bump_reminders([a.id], now)
            await session.refresh(a)
        else:
            a.updated_at = now
            try:
                await session.flush()
            except StaleDataError:
                raise Conflict("the assignment changed meanwhile; reload it",
                               field="version") from None
        await repo.add_actions([dict(
            directive_id=a.directive_id, assignment_id=a.id, region_code=a.region_code,
            action=action, at=now, actor_account_id=subject.account_id, actor=subject.name,
            post=str(post) if post else None, from_status=from_status, to_status=a.status,
            note=note, data=compact(extra))])
        await record(session, subject, f"assignment.{action}", target_type="assignment",
                     target_id=a.id, region_code=a.region_code,
                     post=str(post) if post else None, events=[assignment_event(a, action)],
                     changes={"status": (from_status, a.status), **{
                         k: (None, v) for k, v in extra.items()}})
        return await self.assignment(session, subject, a.id)

    async def _complete(self, session: AsyncSession, subject: Subject,
                        repo: DirectiveRepository, directive: Directive,
                        a: DirectiveAssignment, data: AssignmentActionIn, now: datetime,
                        extra: dict[str, Any], index: GridIndexCache | None) -> None:
        feedback = data.feedback or {}
        validator = Draft202012Validator(json.loads(directive.feedback_schema),
                                         format_checker=FormatChecker())
        error = next(iter(sorted(validator.iter_errors(feedback), key=lambda e: e.path)), None)
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            raise InvalidInput(f"feedback.{path}" if path else "feedback", error.message)
        photos = list(dict.fromkeys(data.photos))
        if len(photos) != await repo.claim_photos(photos, assignment_id=a.id):
            raise InvalidInput("photos", "every photo must be an upload of yours not yet "
                               "attached (POST /api/v1/photos)")
        if a.acknowledged_at is None:
            a.acknowledged_at, a.acknowledged_by = now, subject.name
        a.status, a.completed_at, a.completed_by = "completed", now, subject.name
        a.feedback, a.note = compact(feedback), data.note
        a.overdue_at = a.overdue_step = None
        extra["feedback"] = feedback
        if photos:
            extra["photos"] = photos
        if data.case is not None:
            a.case_id = await self._open_case(session, subject, a, data, index)
            extra["case_id"] = a.case_id

    async def _open_case(self, session: AsyncSession, subject: Subject,
                         a: DirectiveAssignment, data: AssignmentActionIn,
                         index: GridIndexCache | None) -> int:
        """Opens the problem found as a case (#4), reported by the unit, in this transaction."""
        from wangge.cases.schemas import CaseCreate
        from wangge.cases.service import case_service
        from wangge.geo.service import GridIndexCache

        found = data.case
        assert found is not None
        grid = found.grid_code or (a.region_code if len(a.region_code) == 15 else None)
        if found.location is None and grid is None:
            raise InvalidInput("case.location", "give a location or a grid_code for the case")
        # Derived from the assignment and its version: a retried completion opens one case.
        client_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"wangge:assignment:{a.id}:{a.version}")
        try:
            created = CaseCreate(
                client_uuid=client_uuid, category_code=found.category_code, title=found.title,
                description=found.description, location=found.location,
                grid_code=None if found.location is not None else grid, source="grid_worker")
        except ValueError as e:
            raise InvalidInput("case", str(e)) from None
        out, _ = await case_service.create(session, subject, created, index or GridIndexCache(0))
        return out.id

    # --- reminders and comments ------------------------------------------------------------------

    async def remind(self, session: AsyncSession, subject: Subject, directive_id: int,
                     region: str | None, note: str | None) -> RemindOut:
        """Reminds (催办) every unit under ``region`` that still owes something."""
        repo = DirectiveRepository(session, subject)
        directive = await repo.get(directive_id)
        if directive is None:
            raise NotFound(f"directive {directive_id} not found", directive_id=directive_id)
        issuing = _region_posts(subject, DIRECTIVE_ISSUE)
        code = region if region is not None else min(subject.prefixes, key=len, default="")
        if not subject.can_read_code(code):
            raise NotFound(f"region {code} not found", region=code)
        posts = [p for p in issuing if code.startswith(p.region_code)]
        if not posts and not subject.is_system:
            raise Forbidden("reminding needs directive:issue over the region",
                            permission=DIRECTIVE_ISSUE)
        post = _deepest(posts)
        owing = [(i, r) for i, r in await repo.unfinished_under(directive.id, code)
                 if len(r) > len(post.region_code if post else "")]
        if not owing:
            return RemindOut(reminded=0)
        now = utcnow()
        await repo.bump_reminders([i for i, _ in owing], now)
        await repo.add_actions([dict(
            directive_id=directive.id, assignment_id=i, region_code=r, action="remind", at=now,
            actor_account_id=subject.account_id, actor=subject.name,
            post=str(post) if post else None, from_status=None, to_status=None, note=note,
            data="{}") for i, r in owing])
        await record(session, subject, "directive.reminded", target_type="directive",
                     target_id=directive.id, region_code=code,
                     post=str(post) if post else None,
                     changes={"reminded": (None, len(owing)), "region": (None, code)},
                     events=[Event("directive.reminded", code, DIRECTIVE_READ, {
                         "directive_id": directive.id, "region": code,
                         "reminded": len(owing), "note": note})])
        return RemindOut(reminded=len(owing))

    async def comment(self, session: AsyncSession, subject: Subject, directive_id: int,
                      text: str) -> TimelineItem:
        """A comment on a directive, seen by the commenter's region and every level above
        and below it that reads the directive."""
        repo = DirectiveRepository(session, subject)
        directive = await repo.get(directive_id)
        if directive is None:
            raise NotFound(f"directive {directive_id} not found", directive_id=directive_id)
        post = _deepest([p for p in subject.posts if grants(p, DIRECTIVE_READ)])
        if post is None:
            raise Forbidden("commenting needs directive:read", permission=DIRECTIVE_READ)
        now = utcnow()
        row = AssignmentAction(
            directive_id=directive.id, assignment_id=None, region_code=post.region_code,
            action="comment", at=now, actor_account_id=subject.account_id, actor=subject.name,
            post=str(post), from_status=None, to_status=None, note=text, data="{}")
        session.add(row)
        await record(session, subject, "directive.comment", target_type="directive",
                     target_id=directive.id, region_code=post.region_code, post=str(post),
                     changes={"text": (None, text)},
                     events=[Event("directive.comment", post.region_code, DIRECTIVE_READ, {
                         "directive_id": directive.id, "actor": subject.name, "text": text})])
        return _timeline_item(row)


directive_service = DirectiveService()
