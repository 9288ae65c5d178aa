"""Named actions on cases: intake (idempotent on the client UUID), the workflow's actions, and
the reads. The rules of the state machine live in ``workflow.py``; deadlines come from
``wangge.kit.calendar``; every action is audited and published (``wangge.kit.actions``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from wangge.audit.chain import canonical_changes
from wangge.authz.permissions import (
    CASE_CONFIGURE,
    CASE_DISPATCH,
    CASE_HANDLE,
    CASE_POLICE,
    CASE_READ,
    CASE_REPORT,
    grants,
)
from wangge.authz.scope import PostRef, Subject
from wangge.cases import workflow
from wangge.cases.repository import CaseFilters, CaseRepository
from wangge.cases.schemas import (
    ActionIn,
    CalendarDayOut,
    CaseCreate,
    CaseOut,
    CasePage,
    CaseSummary,
    CategoryIn,
    CategoryOut,
    HandlerChoice,
    HandlerOut,
    TimelineEntry,
)
from wangge.cases.workflow import Role
from wangge.geo.crs import to_wgs84
from wangge.geo.service import GridIndexCache
from wangge.kit.actions import record
from wangge.kit.bus import (
    Event,
    PublishedEvent,
    app_publishes,
    publish_after_commit,
    publish_committed,
    stamp,
)
from wangge.kit.calendar import Limit, WorkCalendar
from wangge.kit.db import utcnow
from wangge.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from wangge.kit.jsontext import compact
from wangge.models import CalendarDay, Case, CaseAction, CaseCategory, CasePhoto
from wangge.models.case import case_number

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

MAX_PAGE = 200
# Reference data changes rarely; each process re-reads it at least this often.
REFERENCE_TTL_SECONDS = 30.0



class CategoryRules:
    """A category as the service applies it: parsed limits and a compiled field validator."""

    def __init__(self, row: CaseCategory) -> None:
        self.code = row.code
        self.name = row.name
        self.active = row.active
        self.police_only = row.police_only
        self.handling_level = row.handling_level
        self.limits = {step: Limit.parse(text) for step, text in json.loads(row.limits).items()}
        self.schema = json.loads(row.fields_schema)
        self.validator = Draft202012Validator(self.schema, format_checker=FormatChecker())

    def limit(self, step: str) -> Limit:
        return self.limits.get(step) or Limit(1, "wd")

    def check_fields(self, fields: dict[str, Any], field: str = "fields") -> None:
        """422 naming the first offending field (``fields.people_count``) and the reason."""
        error = next(iter(sorted(self.validator.iter_errors(fields), key=lambda e: e.path)),
                     None)
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            raise InvalidInput(f"{field}.{path}" if path else field, error.message)


class ReferenceCache:
    """Categories and the working-day calendar of one process, re-read every
    ``REFERENCE_TTL_SECONDS``, at once after a local edit, and when the database changes (a
    process may serve several: tests, the CLI)."""

    def __init__(self) -> None:
        self._categories: dict[str, CategoryRules] | None = None
        self._calendar: WorkCalendar | None = None
        self._loaded = 0.0
        self._database: object = None

    def invalidate(self) -> None:
        self._categories = None
        self._calendar = None

    async def _load(self, repo: CaseRepository) -> None:
        bind = repo.session.bind
        database = getattr(bind, "url", None) if bind is not None else None
        if self._categories is not None and self._calendar is not None and \
                self._database == database and \
                time.monotonic() - self._loaded < REFERENCE_TTL_SECONDS:
            return
        self._database = database
        self._categories = {c.code: CategoryRules(c) for c in await repo.categories()}
        self._calendar = WorkCalendar(await repo.calendar_overrides())
        self._loaded = time.monotonic()

    async def category(self, repo: CaseRepository, code: str) -> CategoryRules | None:
        await self._load(repo)
        assert self._categories is not None
        return self._categories.get(code)

    async def calendar(self, repo: CaseRepository) -> WorkCalendar:
        await self._load(repo)
        assert self._calendar is not None
        return self._calendar


reference = ReferenceCache()


# --- who the caller is to a case -------------------------------------------------------------



def _deepest(posts: Sequence[PostRef]) -> PostRef | None:
    return max(posts, key=lambda p: len(p.region_code), default=None)


def roles_of(subject: Subject, case: Case) -> dict[Role, PostRef | None]:
    """The roles the subject plays for this case, each with the post it acts under."""
    if subject.is_system:
        return {"manager": None, "handler": None, "reporter": None}
    out: dict[Role, PostRef | None] = {}
    if subject.can(CASE_DISPATCH):
        managing = [p for p in subject.posts if grants(p, CASE_DISPATCH)
                    and p.code == p.region_code and case.owner_code.startswith(p.region_code)]
        if managing:
            out["manager"] = _deepest(managing)
    if subject.can(CASE_HANDLE) and case.handler_code:
        if case.handler_kind == "organisation":
            handling = [p for p in subject.posts
                        if grants(p, CASE_HANDLE) and p.code == case.handler_code]
        else:
            handling = [p for p in subject.posts if grants(p, CASE_HANDLE)
                        and p.code == p.region_code
                        and case.handler_code.startswith(p.region_code)]
        if handling:
            out["handler"] = _deepest(handling)
    if subject.account_id is not None and subject.account_id == case.reporter_account_id:
        out["reporter"] = _deepest([p for p in subject.posts
                                    if case.region_code.startswith(p.region_code)])
    return out


def _condition(case: Case, action: str) -> bool:
    """Extra conditions beyond the status (the state machine's guards)."""
    if action == "approve_extension":
        return case.extension_request is not None
    if action == "rate":
        return case.rating is None
    if action == "spot_check":
        return case.self_handled and case.spot_check == "pending"
    if action == "escalate":
        return workflow.parent_code(case.owner_code) is not None
    return True


def possible_actions(case: Case) -> list[str]:
    """The actions the case's state allows now (for anyone)."""
    return [a for a in workflow.actions_in(case.status) if _condition(case, a)]


def allowed_actions(subject: Subject, case: Case) -> list[str]:
    """The actions this subject may take on the case now."""
    roles = roles_of(subject, case)
    return [a for a in possible_actions(case)
            if any(r in roles for r in workflow.TRANSITIONS[a].roles)]


# --- output ----------------------------------------------------------------------------------


def case_out(case: Case, subject: Subject, photos: Sequence[CasePhoto] = (),
             timeline: Sequence[CaseAction] | None = None) -> CaseOut:
    by_action: dict[int, list[int]] = {}
    for p in photos:
        if p.action_id is not None:
            by_action.setdefault(p.action_id, []).append(p.id)
    return CaseOut(
        id=case.id, number=case.number, client_uuid=case.client_uuid,
        category_code=case.category_code, title=case.title, description=case.description,
        region_code=case.region_code, lng=case.lng, lat=case.lat, address=case.address,
        parties=json.loads(case.parties), fields=json.loads(case.fields), source=case.source,
        status=case.status, version=case.version, self_handled=case.self_handled,
        police_only=case.police_only, owner_code=case.owner_code,
        owner_level=workflow.level_of(case.owner_code),
        handler=HandlerOut(kind=case.handler_kind, code=case.handler_code,
                           name=case.handler_name)
        if case.handler_kind and case.handler_code else None,
        reporter=case.reporter, reporter_post=case.reporter_post,
        reported_at=case.reported_at, accepted_at=case.accepted_at,
        dispatched_at=case.dispatched_at, handled_at=case.handled_at, closed_at=case.closed_at,
        step=case.step, due_at=case.due_at, overdue=case.overdue_at is not None,
        overdue_at=case.overdue_at, supervised_at=case.supervised_at,
        suspended_at=case.suspended_at,
        extension_request=json.loads(case.extension_request) if case.extension_request
        else None,
        rework_count=case.rework_count, escalations=case.escalations, rating=case.rating,
        rating_comment=case.rating_comment, spot_check=case.spot_check,
        synthetic=case.synthetic, photos=[p.id for p in photos],
        allowed_actions=allowed_actions(subject, case),
        timeline=None if timeline is None else [
            TimelineEntry(id=t.id, action=t.action, at=t.at, actor=t.actor, post=t.post,
                          from_status=t.from_status, to_status=t.to_status, version=t.version,
                          note=t.note, data=json.loads(t.data),
                          photos=by_action.get(t.id, []))
            for t in timeline],
    )


def _category_out(c: CaseCategory) -> CategoryOut:
    return CategoryOut(code=c.code, name=c.name, name_en=c.name_en, parent_code=c.parent_code,
                       handling_level=c.handling_level, department_kind=c.department_kind,
                       police_only=c.police_only, limits=json.loads(c.limits),
                       fields_schema=json.loads(c.fields_schema), active=c.active)


def _stand_in(case_id: int, number: str, values: dict[str, Any]) -> Case:
    """A new case's row values with the attributes of a ``Case``, for ``case_out`` and
    ``case_event`` (read-only use)."""
    return cast(Case, SimpleNamespace(id=case_id, number=number, **values))


def case_event(case: Case, action: str) -> Event:
    """The stream event of one action: seen by readers of the case's grid (police readers
    only, for police-only cases)."""
    return Event(
        f"case.{action}", case.region_code, CASE_POLICE if case.police_only else CASE_READ,
        {"id": case.id, "number": case.number, "action": action, "status": case.status,
         "version": case.version, "category_code": case.category_code,
         "owner_code": case.owner_code, "handler_code": case.handler_code,
         "overdue": case.overdue_at is not None,
         "due_at": case.due_at.isoformat() if case.due_at else None},
    )


# --- the service -----------------------------------------------------------------------------


class CaseService:
    # --- categories and calendar ------------------------------------------------------------

    async def categories(self, session: AsyncSession, subject: Subject) -> list[CategoryOut]:
        """The category tree (police-only categories listed for everyone: reporting a clue
        needs no police post)."""
        return [_category_out(c) for c in await CaseRepository(session, subject).categories()]

    def _require_configure(self, subject: Subject) -> PostRef | None:
        """Categories and the calendar are city-wide: only a city-level configurer edits."""
        posts = [p for p in subject.posts if grants(p, CASE_CONFIGURE) and len(p.code) <= 4
                 and p.code == p.region_code]
        if not subject.is_system and not posts:
            raise Forbidden("editing categories and the calendar needs case:configure at city "
                            "level", permission=CASE_CONFIGURE)
        return posts[0] if posts else None

    async def save_category(self, session: AsyncSession, subject: Subject,
                            data: CategoryIn) -> CategoryOut:
        """Creates or replaces a category (its code is kept; cases keep theirs)."""
        post = self._require_configure(subject)
        repo = CaseRepository(session, subject)
        for step, text in data.limits.items():
            try:
                Limit.parse(text)
            except ValueError as e:
                raise InvalidInput(f"limits.{step}", str(e)) from None
        try:
            Draft202012Validator.check_schema(data.fields_schema)
        except Exception as e:  # jsonschema.SchemaError
            raise InvalidInput("fields_schema", f"not a valid JSON Schema: "
                               f"{getattr(e, 'message', e)}") from None
        parent = data.code[:2] if len(data.code) == 4 else None
        if parent and await repo.category(parent) is None:
            raise InvalidInput("code", f"parent category {parent} does not exist")
        row = await repo.category(data.code)
        before = _category_out(row).model_dump() if row else None
        values = dict(
            parent_code=parent, name=data.name, name_en=data.name_en,
            handling_level=data.handling_level, department_kind=data.department_kind,
            police_only=data.police_only, limits=compact(data.limits),
            fields_schema=compact(data.fields_schema), active=data.active, updated_at=utcnow())
        if row is None:
            row = CaseCategory(code=data.code, sort_order=1000, **values)
            session.add(row)
        else:
            for k, v in values.items():
                setattr(row, k, v)
        await session.flush()
        after = _category_out(row).model_dump()
        changes = {k: (before.get(k) if before else None, v) for k, v in after.items()
                   if not before or before.get(k) != v}
        await record(session, subject, "case_category.saved", target_type="case_category",
                     target_id=row.code, changes=changes, post=str(post) if post else None,
                     region_code=post.region_code if post else None)
        reference.invalidate()
        return _category_out(row)

    async def calendar_days(self, session: AsyncSession, subject: Subject,
                            year: int) -> list[CalendarDayOut]:
        """Every day of ``year`` that is not a plain weekday/weekend: holidays, make-up
        workdays and overrides."""
        import holidays as hol

        from wangge.kit.calendar import _official

        repo = CaseRepository(session, subject)
        overrides = await repo.calendar_overrides()
        off, makeup = _official(year)
        names = hol.country_holidays("CN", years=year, language="zh_CN")
        days: dict[str, CalendarDayOut] = {}
        for d in sorted(off | makeup):
            days[d.isoformat()] = CalendarDayOut(day=d.isoformat(), workday=d in makeup,
                                                 source="official",
                                                 name=names.get(d) or ("调休上班"
                                                                       if d in makeup else None))
        rows = {r.day: r for r in [await repo.calendar_day(d) for d in overrides
                                   if d.year == year] if r is not None}
        for d, row in rows.items():
            days[d.isoformat()] = CalendarDayOut(day=d.isoformat(), workday=row.kind == "workday",
                                                 source="override", name=row.name)
        return [days[k] for k in sorted(days)]

    async def set_calendar_day(self, session: AsyncSession, subject: Subject, day: Any,
                               kind: str, name: str) -> CalendarDayOut:
        """Overrides one day (a local holiday, or a make-up workday the package lacks)."""
        post = self._require_configure(subject)
        repo = CaseRepository(session, subject)
        row = await repo.calendar_day(day)
        before = (row.kind, row.name) if row else (None, None)
        if row is None:
            session.add(CalendarDay(day=day, kind=kind, name=name))
        else:
            row.kind, row.name = kind, name
        await session.flush()
        await record(session, subject, "calendar.day_set", target_type="calendar_day",
                     target_id=day.isoformat(),
                     changes={"kind": (before[0], kind), "name": (before[1], name)},
                     post=str(post) if post else None,
                     region_code=post.region_code if post else None)
        reference.invalidate()
        return CalendarDayOut(day=day.isoformat(), workday=kind == "workday", source="override",
                              name=name)

    # --- intake -------------------------------------------------------------------------------

    async def _locate(self, session: AsyncSession, subject: Subject, index: GridIndexCache,
                      data: CaseCreate) -> tuple[str, float | None, float | None]:
        grid_index = await index.get(session)
        lng = lat = None
        if data.location is not None:
            x, y = to_wgs84(data.location.lng, data.location.lat, data.location.crs)
            lng, lat = round(float(x), 7), round(float(y), 7)
            code = grid_index.locate_one(lng, lat)
            if code is None:
                raise InvalidInput("location", "the point lies outside every grid")
            if data.grid_code is not None and data.grid_code != code:
                raise InvalidInput("grid_code", f"grid {data.grid_code} does not contain the "
                                   f"location (it lies in {code})"
                                   if subject.can_read_code(code) else
                                   f"grid {data.grid_code} does not contain the location")
        else:
            code = data.grid_code or ""
            if code not in grid_index.code_set:
                raise InvalidInput("grid_code", f"{code} is not a grid")
        if not subject.can_read_code(code):
            raise InvalidInput("location" if data.location else "grid_code",
                               "outside your area: report in the regions of your posts")
        return code, lng, lat

    async def create(self, session: AsyncSession, subject: Subject, data: CaseCreate,
                     index: GridIndexCache, direct: AsyncConnectionPool | None = None
                     ) -> tuple[CaseOut, bool]:
        """Takes a report in. Returns the case and whether it is new: the same client UUID and
        content return the stored case; the same UUID with other content is a 409.

        The hot path of the platform: the case, its timeline entries, the audit record and the
        event are written by one repository call (one statement on PostgreSQL), which also
        settles a race between two requests with the same client UUID. With ``direct`` (the
        app's autocommit pool on PostgreSQL) a report without photos is that one statement,
        committed by itself; photos are claimed in the session's transaction with the report.
        """
        repo = CaseRepository(session, subject)
        body = data.model_dump(mode="json")
        content_hash = hashlib.sha256(compact(body).encode()).hexdigest()
        client_uuid = str(data.client_uuid)
        rules = await reference.category(repo, data.category_code)
        if rules is None or not rules.active:
            raise InvalidInput("category_code", f"no active category {data.category_code!r}")
        rules.check_fields(data.fields)
        region_code, lng, lat = await self._locate(session, subject, index, data)
        calendar = await reference.calendar(repo)
        now = utcnow()
        post = _deepest([p for p in subject.posts if grants(p, CASE_REPORT)
                         and region_code.startswith(p.region_code)])
        post_text = str(post) if post else None
        values: dict[str, Any] = dict(
            client_uuid=client_uuid, content_hash=content_hash,
            category_code=data.category_code, title=data.title, description=data.description,
            region_code=region_code, lng=lng, lat=lat, address=data.address,
            parties=compact(body["parties"]), fields=compact(data.fields), source=data.source,
            status="reported", version=1, self_handled=data.self_handled,
            police_only=rules.police_only, owner_code=region_code, handler_kind=None,
            handler_code=None, handler_name=None, reporter_account_id=subject.account_id,
            reporter=subject.name, reporter_post=post_text, reported_at=now,
            accepted_at=None, dispatched_at=None, handled_at=None, closed_at=None,
            step="accept", due_at=calendar.deadline(now, rules.limit("accept")),
            overdue_at=None, supervised_at=None, suspended_at=None, resume_status=None,
            remaining_seconds=None, extension_request=None, rework_count=0, escalations=0,
            rating=None, rating_comment=None, spot_check=None, synthetic=False,
            updated_at=now)
        entry = dict(action="report", at=now, actor_account_id=subject.account_id,
                     actor=subject.name, post=post_text, from_status=None,
                     to_status="reported", version=1, note=data.description, data="{}")
        entries = [entry]
        changes: dict[str, tuple[Any, Any]] = {
            "status": (None, "reported"), "category_code": (None, data.category_code),
            "region_code": (None, region_code)}
        if data.self_handled and data.evidence is not None:
            # Reported and closed by the grid on the spot: closed at once, open to spot checks.
            values.update(status="closed", version=2, step=None, due_at=None, accepted_at=now,
                          handled_at=now, closed_at=now, handler_kind="region",
                          handler_code=region_code, spot_check="pending")
            entries.append({**entry, "action": "self_handle", "from_status": "reported",
                            "to_status": "closed", "version": 2,
                            "note": data.evidence.note})
            changes.update(status=(None, "closed"), spot_check=(None, "pending"))
        action = "self_handle" if data.self_handled else "report"
        # The row's values stand in for a Case (an ORM instance would cost more than the rest
        # of the intake); the number's prefix goes out, the repository appends the id.
        event = case_event(_stand_in(0, case_number(0, region_code, now)[:-5], values), action)
        audit = dict(at=now, actor_account_id=subject.account_id, actor=subject.name,
                     post=post_text, action="case.reported", target_type="case",
                     region_code=region_code, changes=canonical_changes(changes),
                     client_addr=subject.client_addr)
        event_row = dict(at=now, type=event.type, region_code=event.region_code,
                         permission=event.permission, payload=compact(event.payload))
        with_photos = bool(data.photos or (data.evidence and data.evidence.photos))
        inserted = await repo.insert_report(values, entries, audit, event_row,
                                            direct=None if with_photos else direct)
        if inserted is None:
            existing = await repo.by_client_uuid(client_uuid)
            assert existing is not None  # the insert found it
            return self._replay(existing, subject, content_hash), False
        case_id, entry_ids, event_id = inserted
        case = _stand_in(case_id, case_number(case_id, region_code, now), values)
        if app_publishes():
            published = PublishedEvent(
                id=event_id, type=event.type, region_code=event.region_code,
                permission=event.permission, payload={**event.payload, "id": case.id,
                                                      "number": case.number}, at=stamp(now))
            if with_photos or direct is None:
                publish_after_commit(session, published)
            else:
                publish_committed([published])
        photos: list[CasePhoto] = []
        if with_photos:
            await self._claim(repo, data.photos, case.id, entry_ids[0], "photos")
            if data.evidence is not None:
                await self._claim(repo, data.evidence.photos, case.id, entry_ids[-1],
                                  "evidence.photos")
            photos = await repo.photos_of([case.id])
        return case_out(case, subject, photos), True

    def _replay(self, existing: Case, subject: Subject, content_hash: str) -> CaseOut:
        same_reporter = existing.reporter_account_id == subject.account_id
        if not same_reporter or existing.content_hash != content_hash:
            raise Conflict("client_uuid: already used for a different report",
                           field="client_uuid",
                           **({"case_id": existing.id} if same_reporter else {}))
        return case_out(existing, subject)

    async def _claim(self, repo: CaseRepository, photo_ids: Sequence[int], case_id: int,
                     action_id: int | None, field: str) -> None:
        unique = list(dict.fromkeys(photo_ids))
        claimed = await repo.claim_photos(unique, case_id, action_id)
        if claimed != len(unique):
            raise InvalidInput(field, "every photo must be an upload of yours not yet attached "
                               "to a case (POST /api/v1/photos)")

    async def _timeline(self, session: AsyncSession, subject: Subject, case: Case, action: str,
                        from_status: str | None, post: PostRef | None, *,
                        note: str | None = None, data: dict[str, Any] | None = None,
                        at: datetime | None = None, flush: bool = True) -> CaseAction:
        entry = CaseAction(
            case_id=case.id, action=action, at=at or utcnow(),
            actor_account_id=subject.account_id, actor=subject.name,
            post=str(post) if post else None, from_status=from_status, to_status=case.status,
            version=case.version, note=note, data=compact(data or {}))
        session.add(entry)
        if flush:  # else the action's audit record flushes it
            await session.flush()
        return entry

    # --- the workflow ----------------------------------------------------------------------------

    def _start_clock(self, case: Case, calendar: WorkCalendar, rules: CategoryRules,
                     now: datetime) -> None:
        step = workflow.STEP_OF[case.status]
        case.step = step
        case.due_at = calendar.deadline(now, rules.limit(step)) if step else None
        case.overdue_at = None
        case.supervised_at = None

    async def act(self, session: AsyncSession, subject: Subject, case_id: int, action: str,
                  data: ActionIn) -> CaseOut:
        """Takes one named action on a case (see workflow.py for who may take which)."""
        repo = CaseRepository(session, subject)
        case = await repo.get(case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found", case_id=case_id)
        if data.version != case.version:
            raise Conflict(f"version {data.version} is stale: the case is at version "
                           f"{case.version}; reload it", field="version",
                           current_version=case.version)
        await self._apply(session, subject, repo, case, action, data)
        return await self.detail(session, subject, case)

    async def _apply(self, session: AsyncSession, subject: Subject, repo: CaseRepository,
                     case: Case, action: str, data: ActionIn,
                     system_note: str | None = None) -> Case:
        """Checks and takes one action on a loaded case; returns it changed (not re-read)."""
        transition = workflow.TRANSITIONS.get(action)
        if transition is None:
            raise NotFound(f"no action {action!r}", action=action)
        if case.status not in transition.sources or not _condition(case, action):
            raise Conflict(f"{action} is not allowed while the case is {case.status}",
                           status=case.status, allowed=possible_actions(case))
        roles = roles_of(subject, case)
        usable = [r for r in transition.roles if r in roles]
        if not usable:
            needed = " or ".join(transition.roles)
            raise Forbidden(f"{action} needs the case's {needed}", action=action,
                            allowed=allowed_actions(subject, case))
        post = roles[usable[0]]
        rules = await reference.category(repo, case.category_code)
        assert rules is not None  # categories are never deleted
        calendar = await reference.calendar(repo)
        now = utcnow()
        tracked = ("status", "owner_code", "handler_kind", "handler_code", "step", "due_at",
                   "rating", "spot_check", "rework_count", "escalations", "extension_request")
        before = {f: getattr(case, f) for f in tracked}
        from_status = case.status
        extra: dict[str, Any] = {}
        note = data.note or data.reason or system_note
        await getattr(self, f"_do_{action}")(repo, case, data, calendar, rules, now, extra)
        case.updated_at = now
        try:
            await session.flush()
        except StaleDataError:
            raise Conflict("the case changed meanwhile; reload it", field="version") from None
        entry = await self._timeline(session, subject, case, action, from_status, post,
                                     note=note, data=extra, at=now, flush=bool(data.photos))
        if data.photos:
            await self._claim(repo, data.photos, case.id, entry.id, "photos")
        changes = {f: (before[f], getattr(case, f)) for f in tracked
                   if before[f] != getattr(case, f)}
        await record(session, subject, f"case.{action}", target_type="case",
                     target_id=case.id, region_code=case.region_code, changes=changes,
                     post=str(post) if post else None, events=[case_event(case, action)])
        return case

    # Each _do_* changes the case for one action; ``extra`` goes into the timeline entry.

    async def _do_accept(self, repo: CaseRepository, case: Case, data: ActionIn,
                         cal: WorkCalendar, rules: CategoryRules, now: datetime,
                         extra: dict[str, Any]) -> None:
        case.status, case.accepted_at = "accepted", now
        self._start_clock(case, cal, rules, now)

    async def _do_void(self, repo: CaseRepository, case: Case, data: ActionIn,
                       cal: WorkCalendar, rules: CategoryRules, now: datetime,
                       extra: dict[str, Any]) -> None:
        _require(data.reason, "reason", "say why the case is voided")
        case.status = "voided"
        self._start_clock(case, cal, rules, now)

    async def _do_dispatch(self, repo: CaseRepository, case: Case, data: ActionIn,
                           cal: WorkCalendar, rules: CategoryRules, now: datetime,
                           extra: dict[str, Any]) -> None:
        if data.handler is None:
            raise InvalidInput("handler", "give {\"region\": CODE} or {\"organisation\": CODE}")
        if data.handler.region is not None:
            code = data.handler.region
            if not (case.region_code.startswith(code) and code.startswith(case.owner_code)):
                raise InvalidInput("handler.region", f"{code} is not between the owning level "
                                   f"{case.owner_code} and the case's grid")
            names = await repo.region_names([code])
            kind, name = "region", names.get(code)
            if name is None:
                raise InvalidInput("handler.region", f"no region {code}")
        else:
            code = data.handler.organisation or ""
            org = await repo.serving_organisation(code, case.region_code)
            if org is None:
                raise InvalidInput("handler.organisation",
                                   f"{code} is not an organisation serving this case's grid")
            kind, name = "organisation", org.name
        extra["handler"] = {"kind": kind, "code": code, "name": name}
        case.handler_kind, case.handler_code, case.handler_name = kind, code, name
        case.status, case.dispatched_at = "dispatched", now
        self._start_clock(case, cal, rules, now)

    async def _do_start(self, repo: CaseRepository, case: Case, data: ActionIn,
                        cal: WorkCalendar, rules: CategoryRules, now: datetime,
                        extra: dict[str, Any]) -> None:
        case.status = "in_progress"  # the handling clock keeps running

    async def _do_report_handled(self, repo: CaseRepository, case: Case, data: ActionIn,
                                 cal: WorkCalendar, rules: CategoryRules, now: datetime,
                                 extra: dict[str, Any]) -> None:
        _require(data.note, "note", "describe how it was handled (feedback)")
        if data.fields is not None:
            merged = {**json.loads(case.fields), **data.fields}
            rules.check_fields(merged)
            case.fields = compact(merged)
            extra["fields"] = data.fields
        case.status, case.handled_at = "handled", now
        self._start_clock(case, cal, rules, now)

    async def _do_close(self, repo: CaseRepository, case: Case, data: ActionIn,
                        cal: WorkCalendar, rules: CategoryRules, now: datetime,
                        extra: dict[str, Any]) -> None:
        case.status, case.closed_at = "closed", now
        self._start_clock(case, cal, rules, now)

    async def _do_rework(self, repo: CaseRepository, case: Case, data: ActionIn,
                         cal: WorkCalendar, rules: CategoryRules, now: datetime,
                         extra: dict[str, Any]) -> None:
        _require(data.reason, "reason", "say what must be redone")
        case.status, case.handled_at = "dispatched", None
        case.rework_count += 1
        self._start_clock(case, cal, rules, now)

    async def _do_escalate(self, repo: CaseRepository, case: Case, data: ActionIn,
                           cal: WorkCalendar, rules: CategoryRules, now: datetime,
                           extra: dict[str, Any]) -> None:
        _require(data.reason, "reason", "say why the case goes up a level")
        parent = workflow.parent_code(case.owner_code)
        assert parent is not None  # guarded by _condition
        extra["from"], extra["to"] = case.owner_code, parent
        case.owner_code = parent
        case.status = workflow.escalated_status(case.status)
        case.handler_kind = case.handler_code = case.handler_name = None
        case.escalations += 1
        self._start_clock(case, cal, rules, now)

    async def _do_suspend(self, repo: CaseRepository, case: Case, data: ActionIn,
                          cal: WorkCalendar, rules: CategoryRules, now: datetime,
                          extra: dict[str, Any]) -> None:
        _require(data.reason, "reason", "say why the case is suspended")
        remaining = (case.due_at - now).total_seconds() if case.due_at else 0
        case.remaining_seconds = max(0, int(remaining))
        case.resume_status, case.status, case.suspended_at = case.status, "suspended", now
        case.step = case.due_at = case.overdue_at = case.supervised_at = None
        extra["remaining_seconds"] = case.remaining_seconds

    async def _do_resume(self, repo: CaseRepository, case: Case, data: ActionIn,
                         cal: WorkCalendar, rules: CategoryRules, now: datetime,
                         extra: dict[str, Any]) -> None:
        assert case.resume_status is not None and case.suspended_at is not None
        extra["paused_seconds"] = int((now - case.suspended_at).total_seconds())
        case.status = case.resume_status
        case.step = workflow.STEP_OF[case.status]
        # A step that was already late is marked again by the next sweep.
        case.due_at = now + timedelta(seconds=case.remaining_seconds or 0)
        case.resume_status = case.suspended_at = case.remaining_seconds = None

    async def _do_request_extension(self, repo: CaseRepository, case: Case, data: ActionIn,
                                    cal: WorkCalendar, rules: CategoryRules, now: datetime,
                                    extra: dict[str, Any]) -> None:
        _require(data.extra, "extra", "say how much more time: 30m, 4h, 2d or 3wd")
        _require(data.reason, "reason", "say why more time is needed")
        try:
            limit = Limit.parse(data.extra or "")
        except ValueError as e:
            raise InvalidInput("extra", str(e)) from None
        request = {"extra": str(limit), "reason": data.reason, "at": now.isoformat()}
        case.extension_request = compact(request)
        extra.update(request)

    async def _do_approve_extension(self, repo: CaseRepository, case: Case, data: ActionIn,
                                    cal: WorkCalendar, rules: CategoryRules, now: datetime,
                                    extra: dict[str, Any]) -> None:
        request = json.loads(case.extension_request or "{}")
        extra["approved"], extra["extra"] = data.approve, request.get("extra")
        if data.approve and case.due_at is not None:
            case.due_at = cal.deadline(case.due_at, Limit.parse(request["extra"]))
            if case.due_at > now:
                case.overdue_at = case.supervised_at = None
            extra["due_at"] = case.due_at.isoformat()
        case.extension_request = None

    async def _do_rate(self, repo: CaseRepository, case: Case, data: ActionIn,
                       cal: WorkCalendar, rules: CategoryRules, now: datetime,
                       extra: dict[str, Any]) -> None:
        if data.rating is None:
            raise InvalidInput("rating", "give a satisfaction rating from 1 to 5")
        case.rating, case.rating_comment = data.rating, data.note
        extra["rating"] = data.rating

    async def _do_spot_check(self, repo: CaseRepository, case: Case, data: ActionIn,
                             cal: WorkCalendar, rules: CategoryRules, now: datetime,
                             extra: dict[str, Any]) -> None:
        if data.passed is None:
            raise InvalidInput("passed", "say whether the spot check passed (true/false)")
        extra["passed"] = data.passed
        if data.passed:
            case.spot_check = "passed"
            return
        _require(data.reason, "reason", "say what the spot check found")
        case.spot_check = "failed"
        case.status, case.closed_at = "accepted", None
        self._start_clock(case, cal, rules, now)

    # --- system actions (the deadline sweep) -------------------------------------------------

    async def supervise(self, session: AsyncSession, case: Case, grace_hours: float) -> bool:
        """Escalates an overdue case one level as the system (督办); False at the top."""
        system = Subject.everything()
        repo = CaseRepository(session, system)
        now = utcnow()
        at_top = workflow.parent_code(case.owner_code) is None
        if at_top or case.status not in workflow.TRANSITIONS["escalate"].sources:
            case.supervised_at = now
            await session.flush()
            where = "at the top level" if at_top else f"while {case.status}"
            await self._timeline(session, system, case, "supervise", case.status, None,
                                 note=f"overdue {where}: supervised, not escalated",
                                 data={"escalated": False})
            # Superiors' screens are told too, and the supervision is on the record.
            await record(session, system, "case.supervise", target_type="case",
                         target_id=case.id, region_code=case.region_code,
                         changes={"supervised_at": (None, now)},
                         events=[case_event(case, "supervise")])
            return False
        reason = (f"督办: step {case.step} overdue since {case.overdue_at:%Y-%m-%d %H:%M} UTC "
                  f"(grace {grace_hours:g} h)")
        await self._apply(session, system, repo, case, "escalate",
                          ActionIn(version=case.version, reason=reason), system_note=reason)
        return True

    # --- reads -----------------------------------------------------------------------------------

    async def detail(self, session: AsyncSession, subject: Subject, case: Case) -> CaseOut:
        repo = CaseRepository(session, subject)
        return case_out(case, subject, await repo.photos_of([case.id]),
                        await repo.timeline(case.id))

    async def get(self, session: AsyncSession, subject: Subject, case_id: int) -> CaseOut:
        """One case in the caller's scope, with its full timeline."""
        case = await CaseRepository(session, subject).get(case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found", case_id=case_id)
        return await self.detail(session, subject, case)

    async def handlers(self, session: AsyncSession, subject: Subject,
                       case_id: int) -> list[HandlerChoice]:
        """Where the case may be dispatched: the regions from its owning level down to its
        grid, then the organisations serving the grid."""
        repo = CaseRepository(session, subject)
        case = await repo.get(case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found", case_id=case_id)
        codes = [case.region_code[:n] for n in sorted(workflow.LEVEL_LENGTHS.values())
                 if len(case.owner_code) <= n <= len(case.region_code)]
        names = await repo.region_names(codes)
        out = [HandlerChoice(kind="region", code=c, name=names.get(c),
                             level=workflow.level_of(c)) for c in codes]
        out += [HandlerChoice(kind="organisation", code=o.code, name=o.name,
                              organisation_kind=o.kind)
                for o in await repo.serving_organisations(case.region_code)]
        return out

    def filters(self, subject: Subject, *, status: Sequence[str] = (),
                category: str | None = None, subtree: str | None = None,
                overdue: bool | None = None, self_handled: bool | None = None,
                mine: bool = False) -> CaseFilters:
        for s in status:
            if s not in workflow.STATUSES:
                raise InvalidInput("status", f"unknown status {s!r}; one of "
                                   f"{', '.join(workflow.STATUSES)}")
        assigned = managing = None
        if mine:
            regions = [p.region_code for p in subject.posts
                       if grants(p, CASE_HANDLE) and p.code == p.region_code]
            orgs = [p.code for p in subject.posts if grants(p, CASE_HANDLE)
                    and p.code != p.region_code]
            assigned = (regions, orgs)
            managing = [p.region_code for p in subject.posts if grants(p, CASE_DISPATCH)
                        and p.code == p.region_code]
        return CaseFilters(status=tuple(status), category=category, subtree=subtree,
                           overdue=overdue, self_handled=self_handled, assigned=assigned,
                           managing=managing)

    async def list(self, session: AsyncSession, subject: Subject, filters: CaseFilters, *,
                   before: int | None = None, limit: int = 50) -> CasePage:
        """Cases in scope under the filters, newest first (keyset pagination)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        repo = CaseRepository(session, subject)
        rows = await repo.page(filters, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        photos: dict[int, list[CasePhoto]] = {}
        for p in await repo.photos_of([c.id for c in rows]):
            if p.case_id is not None:
                photos.setdefault(p.case_id, []).append(p)
        items = [case_out(c, subject, photos.get(c.id, [])) for c in rows]
        return CasePage(items=items, next_cursor=rows[-1].id if more and rows else None)

    async def summary(self, session: AsyncSession, subject: Subject,
                      filters: CaseFilters) -> CaseSummary:
        """Counts per status and overdue, under the filters (the queue's header)."""
        by_status, overdue = await CaseRepository(session, subject).counts(filters)
        open_ = sum(n for s, n in by_status.items() if s in workflow.OPEN_STATUSES)
        return CaseSummary(region_code=filters.subtree or "", by_status=by_status, open=open_,
                           overdue=overdue)

    async def open_by_child(self, session: AsyncSession, subject: Subject,
                            code: str) -> dict[str, tuple[int, int]]:
        """{child region of ``code``: (open cases, open overdue cases)} in the caller's
        scope, in one query."""
        lengths = [n for n in (*workflow.LEVEL_LENGTHS.values(),) if n > len(code)]
        if not lengths:
            return {}
        return await CaseRepository(session, subject).open_counts_by_prefix(
            self.filters(subject, subtree=code), min(lengths))


def _require(value: str | None, field: str, reason: str) -> None:
    if not value or not value.strip():
        raise InvalidInput(field, reason)


case_service = CaseService()
