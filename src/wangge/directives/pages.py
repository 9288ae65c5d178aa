"""Directive pages: the command centre (``/command``, ``/command/{code}``), the directive list
(``/directives``), the issue form (``/directives/new``) and the unit's own directives
(``/my/directives``).

Pages render from the directive, case and region services like the API does; the browser
writes through the API (``POST /api/v1/directives``, ``/preview``, ``/api/v1/assignments/{id}/
actions/{action}``, ``/api/v1/photos``, with the session's CSRF token in ``X-CSRF-Token``) and
follows ``GET /api/v1/stream`` to refetch its live parts (debounced) when directives, assignments
or cases change. Scoping is the services': a page never names a region its viewer cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import (
    DIRECTIVE_HANDLE,
    DIRECTIVE_ISSUE,
    DIRECTIVE_READ,
    ROLE_PERMISSIONS,
)
from wangge.authz.scope import Subject
from wangge.cases import workflow as case_workflow
from wangge.cases.pages import local_time, map_crs
from wangge.cases.service import case_service
from wangge.config import Settings
from wangge.directives import workflow
from wangge.directives.schemas import (
    AssignmentOut,
    DirectiveDetail,
    DirectiveOut,
    ProgressOut,
    ProgressRow,
)
from wangge.directives.service import UNIT_LEVELS, directive_service
from wangge.kit.calendar import LOCAL
from wangge.kit.errors import NotFound
from wangge.kit.web import Authorizer, Session
from wangge.org.regions import region_service
from wangge.org.schemas import ChildOut, RegionOut
from wangge.web.i18n import Translator
from wangge.web.pages import Language, page_id, render, request_language

router = APIRouter(include_in_schema=False)
DirectiveReader = Annotated[Subject, Depends(Authorizer(DIRECTIVE_READ))]
DirectiveIssuer = Annotated[Subject, Depends(Authorizer(DIRECTIVE_ISSUE))]
DirectiveHandler = Annotated[Subject, Depends(Authorizer(DIRECTIVE_HANDLE))]

KINDS = ("notice", "task", "inspection", "emergency")
PRIORITIES = ("normal", "high", "urgent")
FIELD_TYPES = ("text", "number", "boolean", "photo")
# The directive picker offers this many recent directives; the lists show this many per page.
RECENT = 30
PAGE_SIZE = 30
# Open emergencies and overdue units shown on a command centre.
MAX_EMERGENCIES = 6
MAX_OVERDUE = 30
# Regions offered as "under" of the level rule of the issue form (the issuer's and one below).
MAX_UNDER = 200
# Every SSE event type the command centre listens to (EventSource needs one listener per type).
DIRECTIVE_EVENTS = (
    "directive.issued", "directive.overdue", "directive.comment", "directive.reminded",
    *(f"assignment.{a}" for a in (*workflow.ACTIONS, "escalate")),
)
CASE_EVENTS = tuple(f"case.{a}" for a in (*case_workflow.ACTIONS, *case_workflow.SYSTEM_ACTIONS))
# Feedback shown first: the unit's unfinished work, the late before the rest.
STATUS_ORDER = {"returned": 0, "delivered": 1, "acknowledged": 2, "completed": 3,
                "accepted": 4}



def _live(refresh: str, events: Iterable[str], **extra: Any) -> dict[str, Any]:
    return {"stream": "/api/v1/stream", "events": list(events), "refresh": refresh, **extra}


def _context(t: Translator, **extra: Any) -> dict[str, Any]:
    """What every directive template uses besides its own data."""
    return {"local_time": local_time, "kinds": KINDS, "priorities": PRIORITIES,
            "rate_pct": rate_pct, **extra}


def rate_pct(rate: float) -> int:
    """A completion rate as a whole percentage (rounded down: 99.6 % is not done)."""
    return int(rate * 100 + 1e-9)


async def _top_region(session: AsyncSession, subject: Subject) -> str | None:
    """The viewer's own top region: the shortest prefix of its scope that exists."""
    tops = sorted((p for p in subject.prefixes if p), key=lambda p: (len(p), p))
    return await region_service.home(session, subject, tops[0]) if tops else None


# --- the command centre ------------------------------------------------------------------------


@dataclass
class Unit:
    """One child region on the command centre: its progress or its cases."""

    code: str
    name: str
    level: str
    progress: ProgressRow | None = None
    open_cases: int = 0
    overdue_cases: int = 0

    @property
    def value(self) -> float | None:
        """What colours it on the map: its completion rate (None: not targeted)."""
        if self.progress is None:
            return None
        return self.progress.rate if self.progress.total else None


@dataclass
class Panel:
    """The command centre's live part: counters, children, overdue units, emergencies."""

    region: RegionOut
    directive: DirectiveDetail | None
    progress: ProgressOut | None
    units: list[Unit]
    open_cases: int
    overdue_cases: int
    overdue: list[AssignmentOut]
    emergencies: list[tuple[DirectiveOut, ProgressRow]]
    max_open: int


async def _directive(session: AsyncSession, subject: Subject,
                     directive_id: int | None) -> DirectiveDetail | None:
    if directive_id is None:
        return None
    try:
        return await directive_service.get(session, subject, directive_id)
    except NotFound:
        return None


async def _panel(session: AsyncSession, subject: Subject, region: RegionOut,
                 children: list[ChildOut], directive: DirectiveDetail | None) -> Panel:
    code = region.code
    units = [Unit(c.code, c.name, c.level) for c in children]
    progress = None
    if directive is not None:
        progress = await directive_service.progress(session, subject, directive.id, code)
        rows = {r.code: r for r in progress.children}
        for u in units:
            u.progress = rows.get(u.code)
    # Cases are counted in either mode: they colour the map when no directive is chosen.
    summary = await case_service.summary(session, subject,
                                         case_service.filters(subject, subtree=code))
    if directive is None:
        by_child = await case_service.open_by_child(session, subject, code)
        for u in units:
            u.open_cases, u.overdue_cases = by_child.get(u.code, (0, 0))
    overdue = (await directive_service.assignments(
        session, subject, directive_service.filters(
            subject, directive_id=directive.id if directive else None, overdue=True,
            region=code), limit=MAX_OVERDUE)).items
    emergencies: list[tuple[DirectiveOut, ProgressRow]] = []
    for d in (await directive_service.list(session, subject, kind="emergency",
                                           limit=MAX_EMERGENCIES * 2)).items:
        if d.counts is None or not d.counts.delivered:
            continue
        try:
            here = (await directive_service.progress(session, subject, d.id, code)).region
        except NotFound:
            continue
        if here.delivered:
            emergencies.append((d, here))
        if len(emergencies) >= MAX_EMERGENCIES:
            break
    return Panel(region=region, directive=directive, progress=progress, units=units,
                 open_cases=summary.open, overdue_cases=summary.overdue, overdue=overdue,
                 emergencies=emergencies,
                 max_open=max((u.open_cases for u in units), default=0))


@router.get("/command", response_class=HTMLResponse)
async def command_home(request: Request, session: Session,
                       subject: DirectiveReader) -> Response:
    """The viewer's own command centre (its top region)."""
    code = await _top_region(session, subject)
    if code is None:
        return render(request, request_language(request), "empty.html", status_code=404)
    query = request.url.query
    return RedirectResponse(f"/command/{code}" + (f"?{query}" if query else ""), status_code=303)


async def _region_or_404(request: Request, session: AsyncSession, subject: Subject,
                         lang: Language, code: str) -> RegionOut | Response:
    try:
        if not code.isdigit() or len(code) > 15:
            raise NotFound(f"region {code[:20]} not found")
        # Ancestors are readable as breadcrumbs only: a command centre needs the region itself.
        if not subject.can_read_code(code):
            raise NotFound(f"region {code} not found")
        return await region_service.get(session, subject, code)
    except NotFound:
        return render(request, lang, "not_found.html", status_code=404, code=code[:20],
                      nav="command")


@router.get("/command/{code}", response_class=HTMLResponse)
async def command_page(request: Request, code: str, session: Session,
                       subject: DirectiveReader) -> Response:
    """A command centre: the map of the region's children coloured by the chosen directive's
    completion (or by cases), live counters and feed, overdue units, open emergencies."""
    lang = request_language(request)
    t = Translator(lang.code)
    region = await _region_or_404(request, session, subject, lang, code)
    if isinstance(region, Response):
        return region
    asked = request.query_params.get("directive", "")
    directive = await _directive(session, subject, page_id(asked))
    children = await region_service.children(session, subject, code)
    panel = await _panel(session, subject, region, children, directive)
    recent = (await directive_service.list(session, subject, limit=RECENT)).items
    if directive is not None and directive.id not in {d.id for d in recent}:
        recent.insert(0, directive)
    settings: Settings = request.app.state.settings
    crs = map_crs(settings)
    child_level = children[0].level if children else None
    events = DIRECTIVE_EVENTS if directive else (*DIRECTIVE_EVENTS, *CASE_EVENTS)
    config = _live(
        f"/command/{code}/panel" + (f"?directive={directive.id}" if directive else ""), events,
        code=code, directive=directive.id if directive else None,
        mode="rate" if directive else "cases",
        geometryUrl=f"/api/v1/regions/{code}/geometry?include_self=true&crs={crs}",
        tileUrl=settings.tile_url, drill="/command/{code}"
        + (f"?directive={directive.id}" if directive else ""),
        names={c.code: c.name for c in children} | {code: region.name},
        text={k: t(k) for k in (
            "map_no_shapes", "map_no_shape", "map_failed", "cmd_feed_empty",
            "cmd_not_targeted", "cmd_rate", "cmd_open_cases", "cmd_overdue_cases",
            "cmd_reminded", "network_error", "my_conflict",
            *(f"feed.{e}" for e in DIRECTIVE_EVENTS if e != "directive.reminded"),
            "daction.remind", "dstep.acknowledge", "dstep.complete")}
        | {f"case.{a}": t.action(a) for a in (*case_workflow.ACTIONS,
                                                *case_workflow.SYSTEM_ACTIONS)},
    )
    return render(request, lang, "directives/command.html", nav="command",
                  **_context(t, region=region, panel=panel, recent=recent, asked=asked,
                             directive=directive, child_level=child_level, live=config,
                             readable=subject.can_read_code,
                             can_issue=subject.can(DIRECTIVE_ISSUE)))


@router.get("/command/{code}/panel", response_class=HTMLResponse)
async def command_panel(request: Request, code: str, session: Session,
                        subject: DirectiveReader) -> Response:
    """The command centre's live part alone (an htmx fragment: the live refresh)."""
    lang = request_language(request)
    t = Translator(lang.code)
    region = await _region_or_404(request, session, subject, lang, code)
    if isinstance(region, Response):
        return region
    directive = await _directive(session, subject, page_id(request.query_params.get("directive")))
    children = await region_service.children(session, subject, code)
    panel = await _panel(session, subject, region, children, directive)
    return render(request, lang, "directives/_panel.html",
                  **_context(t, region=region, panel=panel, directive=directive))


# --- the directive list ------------------------------------------------------------------------


@router.get("/directives", response_class=HTMLResponse)
async def directives_page(request: Request, session: Session,
                          subject: DirectiveReader) -> Response:
    """Directives issued in the viewer's scope or reaching into it, newest first."""
    lang = request_language(request)
    t = Translator(lang.code)
    kind = request.query_params.get("kind", "")
    kind = kind if kind in KINDS else ""
    page = await directive_service.list(session, subject, kind=kind or None,
                                        before=page_id(request.query_params.get("before")),
                                        limit=PAGE_SIZE)
    names = await region_service.names(session, subject,
                                       sorted({d.region_code for d in page.items}))
    more = (f"/directives?{urlencode({'kind': kind, 'before': page.next_cursor})}"
            if page.next_cursor else None)
    return render(request, lang, "directives/list.html", nav="directives",
                  **_context(t, page=page, names=names, kind=kind, more_url=more,
                             top=await _top_region(session, subject),
                             can_issue=subject.can(DIRECTIVE_ISSUE)))


# --- issuing -----------------------------------------------------------------------------------


def _issuing_regions(subject: Subject) -> list[str]:
    """The regions the subject issues from (its issuing posts), the topmost of each branch."""
    codes = sorted({p.region_code for p in subject.posts
                    if DIRECTIVE_ISSUE in ROLE_PERMISSIONS.get(p.role, frozenset())},
                   key=lambda c: (len(c), c))
    tops: list[str] = []
    for code in codes:
        if not any(code.startswith(top) for top in tops):
            tops.append(code)
    return tops


@router.get("/directives/new", response_class=HTMLResponse)
async def issue_page(request: Request, session: Session, subject: DirectiveIssuer) -> Response:
    """The issue form: content, deadlines, a feedback form, recipients with a live count."""
    lang = request_language(request)
    t = Translator(lang.code)
    tops = _issuing_regions(subject)
    tree: list[tuple[RegionOut, list[ChildOut]]] = []
    under: list[tuple[str, str, int]] = []  # code, name, depth
    for code in tops[:4]:
        try:
            region = await region_service.get(session, subject, code)
        except NotFound:
            continue
        children = await region_service.children(session, subject, code)
        tree.append((region, children))
        under.append((region.code, region.name, 0))
        under += [(c.code, c.name, 1) for c in children if c.level != "grid"]
    top_level = min((len(r.code) for r, _ in tree), default=4)
    levels = [lv for lv in UNIT_LEVELS if case_workflow.LEVEL_LENGTHS[lv] > top_level]
    config = {
        "levels": {lv: t.level(lv) for lv in UNIT_LEVELS},
        "counts": {lv: t.count(lv) for lv in UNIT_LEVELS},
        "text": {k: t(k) for k in (
            "issue_all_grids", "issue_level_under", "issue_remove", "issue_preview",
            "issue_preview_wait", "issue_preview_counting", "issue_none_chosen",
            "issue_submit", "issue_submitting", "issue_need_targets", "issue_need_label",
            "issue_expand", "issue_field_label", "issue_field_type", "issue_field_required",
            "issue_field_remove", "report_need_text", "report_retry", "report_fix",
            "network_error", *(f"ftype.{f}" for f in FIELD_TYPES))},
        "fieldTypes": list(FIELD_TYPES),
    }
    return render(request, lang, "directives/new.html", nav="directives",
                  **_context(t, tree=tree, under=under[:MAX_UNDER], levels=levels,
                             config=config))


@router.get("/directives/{directive_id}", response_class=HTMLResponse)
async def directive_page(request: Request, directive_id: str, session: Session,
                         subject: DirectiveReader) -> Response:
    """A directive is shown on the command centre: its own region's when the viewer reads it,
    else the viewer's own."""
    lang = request_language(request)
    directive = await _directive(session, subject, page_id(directive_id))
    if directive is None:
        return render(request, lang, "not_found.html", status_code=404, code=directive_id[:20],
                      nav="directives")
    code = directive.region_code if subject.can_read_code(directive.region_code) \
        else await _top_region(session, subject)
    return RedirectResponse(f"/command/{code}?directive={directive.id}", status_code=303)


# --- my directives -----------------------------------------------------------------------------


@dataclass
class MyItem:
    """One assignment of the viewer's unit with its directive (text, feedback form)."""

    assignment: AssignmentOut
    directive: DirectiveDetail | None
    returned_reason: str | None = None

    @property
    def fields(self) -> list[tuple[str, dict[str, Any], bool]]:
        """The feedback form's fields: (name, property schema, required)."""
        schema = self.directive.feedback_schema if self.directive else {}
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        return [(name, prop if isinstance(prop, dict) else {}, name in required)
                for name, prop in props.items()]

    @property
    def has_photo_field(self) -> bool:
        """The form asks for photos itself (the general photo picker is then left out)."""
        return any(field_kind(prop) == "photo" for _, prop, _ in self.fields)


def field_kind(prop: dict[str, Any]) -> str:
    """How a feedback property is asked: photo, boolean, number, integer, long or text."""
    if prop.get("x-widget") == "photo" or prop.get("format") == "photo":
        return "photo"
    kind = prop.get("type")
    if kind in ("boolean", "number", "integer"):
        return str(kind)
    return "long" if (prop.get("maxLength") or 0) > 200 else "text"


def feedback_lines(item: MyItem, t: Translator) -> list[tuple[str, str]]:
    """The feedback given, as (label, value) lines."""
    props = (item.directive.feedback_schema.get("properties") or {}) if item.directive else {}
    lines = []
    for name, value in (item.assignment.feedback or {}).items():
        prop = props.get(name) or {}
        label = str(prop.get("title") or name)
        if isinstance(value, bool):
            shown = t("yes") if value else t("no")
        elif isinstance(value, list):
            shown = f"{len(value)} × {t('case_photos')}"
        else:
            shown = str(value)
        lines.append((label, shown))
    return lines


async def _my_items(session: AsyncSession, subject: Subject) -> tuple[list[MyItem], bool]:
    page = await directive_service.assignments(
        session, subject, directive_service.filters(subject, mine=True), limit=PAGE_SIZE)
    far = datetime.max.replace(tzinfo=LOCAL)
    rows = sorted(page.items, key=lambda a: (
        STATUS_ORDER.get(a.status, 9) > 2, not a.overdue, STATUS_ORDER.get(a.status, 9),
        (a.due_at if a.status != "delivered" else a.ack_due_at) or far, -a.id))
    directives: dict[int, DirectiveDetail | None] = {}
    items = []
    for a in rows:
        if a.directive_id not in directives:
            directives[a.directive_id] = await _directive(session, subject, a.directive_id)
        item = MyItem(a, directives[a.directive_id])
        if a.status == "returned":
            detail = await directive_service.assignment(session, subject, a.id)
            returns = [e for e in detail.timeline or [] if e.action == "return"]
            if returns:
                item.returned_reason = returns[-1].data.get("reason") or returns[-1].note
        items.append(item)
    return items, page.next_cursor is not None


async def _my_context(session: AsyncSession, subject: Subject, t: Translator) -> dict[str, Any]:
    items, truncated = await _my_items(session, subject)
    names = await region_service.names(
        session, subject, sorted({i.directive.region_code for i in items if i.directive}))
    return _context(t, items=items, truncated=truncated, names=names, field_kind=field_kind,
                    feedback_lines=feedback_lines, limit=PAGE_SIZE)


@router.get("/my/directives", response_class=HTMLResponse)
async def my_page(request: Request, session: Session, subject: DirectiveHandler) -> Response:
    """The unit's directives on a phone: acknowledge (签收), report back (反馈) with the
    directive's feedback form, photos and a note."""
    lang = request_language(request)
    t = Translator(lang.code)
    context = await _my_context(session, subject, t)
    live = _live("/my/directives/list", DIRECTIVE_EVENTS, text={k: t(k) for k in (
        "yes", "no", "network_error", "my_conflict", "my_sending", "my_submit", "my_ack",
        "report_photo_uploading", "report_photo_failed", "report_photo_remove",
        "report_need_text", "report_fix")})
    return render(request, lang, "directives/my.html", nav="my-directives", live=live,
                  **context)


@router.get("/my/directives/list", response_class=HTMLResponse)
async def my_list(request: Request, session: Session, subject: DirectiveHandler) -> Response:
    """The unit's directives alone (an htmx fragment: the live refresh)."""
    lang = request_language(request)
    t = Translator(lang.code)
    return render(request, lang, "directives/_my_list.html",
                  **await _my_context(session, subject, t))

