"""Case pages: report (``/cases/new``), the queue (``/cases``), one case (``/cases/{id}``) and
the grid worker's tasks (``/tasks``).

Pages render from the case service like the API does; the browser writes through the API
(``POST /api/v1/cases``, ``/api/v1/photos``, ``/actions/{action}``, with the session's CSRF token
in ``X-CSRF-Token``) and follows ``GET /api/v1/stream`` to refresh itself when cases change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import CASE_READ, CASE_REPORT, ROLE_PERMISSIONS
from wangge.authz.scope import Subject
from wangge.cases import workflow
from wangge.cases.schemas import CaseOut, CasePage, CategoryOut, HandlerChoice, TimelineEntry
from wangge.cases.service import MAX_PAGE, case_service
from wangge.config import Settings
from wangge.kit.calendar import LOCAL
from wangge.kit.errors import NotFound
from wangge.kit.web import Authorizer, Session
from wangge.org.regions import region_service
from wangge.web.i18n import (
    CASE_ACTION_LABELS,
    FIELD_LABELS,
    STATUS_LABELS,
    VALUE_LABELS,
    Translator,
)
from wangge.web.pages import Language, render, request_language

router = APIRouter(include_in_schema=False)
CaseReader = Annotated[Subject, Depends(Authorizer(CASE_READ))]
CaseReporter = Annotated[Subject, Depends(Authorizer(CASE_REPORT))]

PAGE_SIZE = 30
# Every SSE event type a case page listens to (EventSource needs one listener per type).
EVENT_TYPES = tuple(f"case.{a}" for a in (*workflow.ACTIONS, *workflow.SYSTEM_ACTIONS))
# Extensions a handler may ask for (Limit syntax, see kit.calendar).
EXTENSIONS = ("4h", "1d", "2d", "3wd", "5wd")
# The report page's map shows at most this many of the reporter's areas.
MAX_AREAS = 6
CODE = re.compile(r"^\d{2,16}$")


def local_time(at: datetime | None, seconds: bool = False) -> str:
    """A UTC time as the pages show it: Asia/Shanghai."""
    if at is None:
        return ""
    return at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def map_crs(settings: Settings) -> str:
    """The coordinate system of the pages' maps: the tiles' when a tile server is set."""
    return settings.tile_crs if settings.tile_url else "wgs84"


# --- the queue's filters -----------------------------------------------------------------------


@dataclass
class QueueForm:
    """The queue's filters as the form and the URL carry them (blank: no filter)."""

    status: str = ""  # "", "open" or one status
    category: str = ""
    subtree: str = ""
    overdue: bool = False
    mine: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> QueueForm:
        form = cls()
        status = params.get("status", "").strip()
        if status in ("", "open", *workflow.STATUSES):
            form.status = status
        else:
            form.errors["status"] = f"unknown status {status[:20]!r}"
        for name in ("category", "subtree"):
            value = params.get(name, "").strip()
            if value and not CODE.match(value):
                form.errors[name] = "a code of digits"
            else:
                setattr(form, name, value)
        form.overdue = params.get("overdue", "") in ("1", "true", "on")
        form.mine = params.get("mine", "") in ("1", "true", "on")
        return form

    def statuses(self) -> tuple[str, ...]:
        if self.status == "open":
            return workflow.OPEN_STATUSES
        return (self.status,) if self.status else ()

    def query(self, **changes: Any) -> str:
        """This form as a query string, with some values changed."""
        values: dict[str, Any] = {"status": self.status, "category": self.category,
                                  "subtree": self.subtree, "overdue": self.overdue,
                                  "mine": self.mine, **changes}
        return urlencode({k: ("1" if v is True else v) for k, v in values.items()
                          if v not in ("", None, False)})


def _before(params: Mapping[str, str]) -> int | None:
    value = params.get("before", "")
    return int(value) if value.isdigit() and 0 < len(value) < 19 else None


# --- shared look-ups -------------------------------------------------------------------------


class Names:
    """Region names and category labels for one page, in its language."""

    def __init__(self, t: Translator, regions: dict[str, str],
                 categories: dict[str, CategoryOut]) -> None:
        self.t = t
        self.regions = regions
        self.categories = categories

    def region(self, code: str | None) -> str:
        return self.regions.get(code or "", code or "")

    def grid(self, code: str) -> str:
        """A grid as people say it: its village, then the grid (第3网格 alone is ambiguous)."""
        grid = self.regions.get(code)
        village = self.regions.get(code[:12])
        if grid and village and not grid.startswith(village[:2]):
            return f"{village} {grid}"
        return grid or code

    def category(self, code: str) -> str:
        c = self.categories.get(code)
        if c is None:
            return code
        return c.name if self.t.lang == "zh" else c.name_en

    def category_path(self, code: str) -> str:
        """``矛盾纠纷 › 劳动争议纠纷`` for a child category."""
        c = self.categories.get(code)
        if c is not None and c.parent_code:
            return f"{self.category(c.parent_code)} › {self.category(code)}"
        return self.category(code)

    def post(self, post: str | None) -> str:
        """``grid_leader@410702002022003`` as ``网格长 · 龙湾社区第3网格``."""
        if not post:
            return ""
        role, _, code = post.partition("@")
        where = self.grid(code) if len(code) == 15 else self.regions.get(code, code)
        return f"{self.t.role(role)} · {where}"


async def _categories(session: AsyncSession, subject: Subject) -> dict[str, CategoryOut]:
    return {c.code: c for c in await case_service.categories(session, subject)}


def _codes_of(cases: Iterable[CaseOut]) -> list[str]:
    """The region codes a list of cases names: grids, their villages, owners, handlers."""
    codes: set[str] = set()
    for c in cases:
        codes.update({c.region_code, c.region_code[:12], c.owner_code})
        if c.handler is not None and c.handler.kind == "region":
            codes.add(c.handler.code)
    return sorted(codes)


async def _names(session: AsyncSession, subject: Subject, t: Translator,
                 codes: Iterable[str], categories: dict[str, CategoryOut] | None = None
                 ) -> Names:
    if categories is None:
        categories = await _categories(session, subject)
    regions = await region_service.names(session, subject, sorted(set(codes)))
    return Names(t, regions, categories)


def _live_config(**extra: Any) -> dict[str, Any]:
    return {"stream": "/api/v1/stream", "events": list(EVENT_TYPES), **extra}


def _page_context(**extra: Any) -> dict[str, Any]:
    """What every case template uses besides its own data."""
    return {"local_time": local_time, "statuses": workflow.STATUSES, **extra}


# --- report ----------------------------------------------------------------------------------


def _report_areas(subject: Subject) -> list[str]:
    """The regions where the subject reports (its reporting posts), the topmost of each branch."""
    codes = sorted({p.region_code for p in subject.posts
                    if CASE_REPORT in ROLE_PERMISSIONS.get(p.role, frozenset())},
                   key=lambda c: (len(c), c))
    tops: list[str] = []
    for code in codes:
        if not any(code.startswith(top) for top in tops):
            tops.append(code)
    return tops


async def _grids_of(session: AsyncSession, subject: Subject,
                    areas: list[str]) -> list[tuple[str, str]]:
    """The grids a worker may pick directly: their own, or those of their village."""
    grids: list[tuple[str, str]] = []
    for code in areas:
        if len(code) == 15:
            grids.append((code, ""))
        elif len(code) == 12:
            try:
                children = await region_service.children(session, subject, code)
            except NotFound:
                continue
            grids += [(c.code, c.name) for c in children if c.level == "grid"]
    return grids[:MAX_PAGE]


@router.get("/cases/new", response_class=HTMLResponse)
async def report_page(request: Request, session: Session, subject: CaseReporter) -> Response:
    """The phone-sized report form: category, text, photos, location, self-handled."""
    lang = request_language(request)
    t = Translator(lang.code)
    categories = [c for c in await case_service.categories(session, subject) if c.active]
    areas = _report_areas(subject)
    grids = await _grids_of(session, subject, areas)
    names = await _names(session, subject, t, [*areas, *(g[:12] for g, _ in grids),
                                               *(g for g, _ in grids)],
                         {c.code: c for c in categories})
    settings: Settings = request.app.state.settings
    crs = map_crs(settings)
    tops = [c for c in categories if c.parent_code is None]
    children = {top.code: [c for c in categories if c.parent_code == top.code] for top in tops}
    config = {
        "categories": {c.code: {"name": names.category(c.code), "schema": c.fields_schema}
                       for c in categories},
        "fieldLabels": FIELD_LABELS[t.lang], "valueLabels": VALUE_LABELS[t.lang],
        "areas": [{"code": a, "name": names.region(a),
                   "url": f"/api/v1/regions/{a}/geometry?include_self=true&crs={crs}"}
                  for a in areas[:MAX_AREAS]],
        "crs": crs, "tileUrl": settings.tile_url,
        "text": {k: t(k) for k in (
            "yes", "no", "choose", "network_error", "report_photo_uploading",
            "report_photo_failed", "report_photo_remove", "report_locating",
            "report_locate_failed", "report_in_grid", "report_outside", "report_submitting",
            "report_submit", "report_retry", "report_fix", "report_need_category",
            "report_need_location", "report_need_text", "map_failed")},
    }
    return render(request, lang, "cases/report.html",
                  **_page_context(tops=tops, children=children, names=names,
                                  grids=[(g, names.grid(g)) for g, _ in grids], config=config))


# --- queue -----------------------------------------------------------------------------------


async def _queue_data(session: AsyncSession, subject: Subject, form: QueueForm,
                      before: int | None) -> CasePage:
    filters = case_service.filters(
        subject, status=form.statuses(), category=form.category or None,
        subtree=form.subtree or None, overdue=True if form.overdue else None, mine=form.mine)
    return await case_service.list(session, subject, filters, before=before, limit=PAGE_SIZE)


async def _scope_regions(session: AsyncSession, subject: Subject) -> list[str]:
    """Regions offered by the queue's region filter: the subject's own and one level below."""
    tops = sorted({p for p in subject.prefixes if p}, key=lambda c: (len(c), c))[:4]
    codes: list[str] = []
    for top in tops:
        codes.append(top)
        if len(top) < 15:
            try:
                codes += [c.code for c in await region_service.children(session, subject, top)]
            except NotFound:
                continue
    return codes[:MAX_PAGE]


async def _queue_context(request: Request, session: AsyncSession, subject: Subject,
                         lang: Language, form: QueueForm, before: int | None) -> dict[str, Any]:
    t = Translator(lang.code)
    page = await _queue_data(session, subject, form, before)
    summary = await case_service.summary(session, subject, case_service.filters(
        subject, category=form.category or None, subtree=form.subtree or None,
        mine=form.mine))
    names = await _names(session, subject, t, _codes_of(page.items))
    return _page_context(form=form, page=page, summary=summary, names=names,
                         more_url=f"/cases/rows?{form.query(before=page.next_cursor)}"
                         if page.next_cursor else None)


@router.get("/cases", response_class=HTMLResponse)
async def queue_page(request: Request, session: Session, subject: CaseReader) -> Response:
    """The case queue of the viewer's subtree: filters, counts, newest first, live."""
    lang = request_language(request)
    t = Translator(lang.code)
    form = QueueForm.parse(request.query_params)
    context = await _queue_context(request, session, subject, lang, form, None)
    regions = await _scope_regions(session, subject)
    region_names = await region_service.names(session, subject, regions)
    names: Names = context["names"]
    # Top categories, each followed by its children (indented in the picker).
    category_options = [(c.code, names.category(c.code), c.parent_code is not None)
                        for c in sorted(names.categories.values(),
                                        key=lambda c: (c.parent_code or c.code, c.code))]
    return render(request, lang, "cases/queue.html",
                  status_code=422 if form.errors else 200,
                  regions=[(c, region_names.get(c, c)) for c in regions],
                  category_options=category_options,
                  live=_live_config(refresh=f"/cases/results?{form.query()}"),
                  status_labels=STATUS_LABELS[t.lang], **context)


@router.get("/cases/results", response_class=HTMLResponse)
async def queue_results(request: Request, session: Session, subject: CaseReader) -> Response:
    """The queue's counts and first page (an htmx fragment: the live refresh)."""
    lang = request_language(request)
    form = QueueForm.parse(request.query_params)
    context = await _queue_context(request, session, subject, lang, form, None)
    return render(request, lang, "cases/_results.html", **context)


@router.get("/cases/rows", response_class=HTMLResponse)
async def queue_rows(request: Request, session: Session, subject: CaseReader) -> Response:
    """The next page of the queue (an htmx fragment for the "more" button)."""
    lang = request_language(request)
    form = QueueForm.parse(request.query_params)
    context = await _queue_context(request, session, subject, lang, form,
                                   _before(request.query_params))
    return render(request, lang, "cases/_rows.html", **context)


# --- my tasks --------------------------------------------------------------------------------


async def _tasks_context(request: Request, session: AsyncSession, subject: Subject,
                         lang: Language) -> dict[str, Any]:
    t = Translator(lang.code)
    page = await case_service.list(session, subject, case_service.filters(subject, mine=True),
                                   limit=MAX_PAGE)
    far = datetime.max.replace(tzinfo=LOCAL)
    items = sorted(page.items, key=lambda c: (not c.overdue, c.due_at or far, -c.id))
    names = await _names(session, subject, t, _codes_of(items))
    return _page_context(items=items, names=names,
                         truncated=page.next_cursor is not None, limit=MAX_PAGE)


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request, session: Session, subject: CaseReader) -> Response:
    """The grid worker's tasks: dispatched to me or waiting for my decision, overdue first."""
    lang = request_language(request)
    context = await _tasks_context(request, session, subject, lang)
    return render(request, lang, "cases/tasks.html", live=_live_config(refresh="/tasks/list"),
                  **context)


@router.get("/tasks/list", response_class=HTMLResponse)
async def tasks_list(request: Request, session: Session, subject: CaseReader) -> Response:
    """The task list alone (an htmx fragment: the live refresh)."""
    lang = request_language(request)
    context = await _tasks_context(request, session, subject, lang)
    return render(request, lang, "cases/_tasks.html", **context)


# --- one case --------------------------------------------------------------------------------


def extension_label(t: Translator, extra: str) -> str:
    """``3wd`` as ``3 个工作日`` (other amounts as written)."""
    key = f"extra.{extra}"
    label = t(key)
    return extra if label == key else label


def entry_details(entry: TimelineEntry, names: Names) -> list[str]:
    """What a timeline entry's data says, as lines for the page (handler, levels, rating...)."""
    t, data, lines = names.t, entry.data, []
    handler = data.get("handler")
    if isinstance(handler, dict):
        lines.append(f"{t('act_handler')}: {handler.get('name') or handler.get('code')}")
    if "from" in data and "to" in data:
        lines.append(f"{names.region(str(data['from']))} → {names.region(str(data['to']))}")
    if entry.action == "request_extension" and data.get("extra"):
        lines.append(f"{t('act_extra')}: {extension_label(t, str(data['extra']))}")
    if entry.action == "approve_extension":
        lines.append(t("act_approve_yes") if data.get("approved") else t("act_approve_no"))
    if "rating" in data:
        lines.append(f"{t('case_rating')}: {'★' * int(data['rating'])}")
    if "passed" in data:
        lines.append(t("act_passed_yes") if data["passed"] else t("act_passed_no"))
    if entry.action == "overdue" and data.get("step"):
        lines.append(t("case_due_step", step=t.step(str(data["step"]))))
    if isinstance(data.get("fields"), dict):
        lines += [f"{t.field(k)}: {t.value(v)}" for k, v in data["fields"].items()]
    return lines


def _handler_groups(handlers: list[HandlerChoice], category: CategoryOut | None,
                    t: Translator) -> list[tuple[str, list[HandlerChoice]]]:
    """Dispatch choices grouped for the picker: regions first, then organisations by kind,
    the category's department kind ahead of the others."""
    regions = [h for h in handlers if h.kind == "region"]
    kinds: dict[str, list[HandlerChoice]] = {}
    for h in handlers:
        if h.kind == "organisation":
            kinds.setdefault(h.organisation_kind or "", []).append(h)
    wanted = category.department_kind if category else None
    known = ("police_station", "department", "police_bureau", "village_committee")
    order = sorted(kinds, key=lambda k: (k != wanted, known.index(k) if k in known else 9, k))
    # Local organisations first within a kind (a township's station before the city's).
    groups = [(t("act_handler_regions"), regions)] if regions else []
    groups += [(t.org_kind(k) or k, sorted(kinds[k], key=lambda h: -len(h.code)))
               for k in order]
    return groups


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str, session: Session, subject: CaseReader,
                    reported: str | None = Query(None, max_length=1)) -> Response:
    """One case: facts, map, photos, timeline, and forms for the actions the viewer may take."""
    lang = request_language(request)
    t = Translator(lang.code)
    try:
        if not case_id.isdigit() or len(case_id) > 18:
            raise NotFound(f"case {case_id} not found")
        case = await case_service.get(session, subject, int(case_id))
    except NotFound:
        return render(request, lang, "cases/not_found.html", status_code=404,
                      case_id=case_id[:20])
    categories = await _categories(session, subject)
    path = [case.region_code[:n] for n in sorted(workflow.LEVEL_LENGTHS.values())
            if n <= len(case.region_code)]
    handlers = await case_service.handlers(session, subject, case.id) \
        if "dispatch" in case.allowed_actions else []
    # Regions named on the page: the case's path, its owner and handler, the actors' posts;
    # organisations by the names the case and its dispatches recorded.
    posts = [e.post.partition("@")[2] for e in case.timeline or [] if e.post]
    names = await _names(session, subject, t,
                         [*path, *_codes_of([case]), *(c for c in posts if c.isdigit())],
                         categories)
    for entry in case.timeline or []:
        handler = entry.data.get("handler")
        if isinstance(handler, dict) and handler.get("name"):
            names.regions.setdefault(str(handler.get("code")), str(handler["name"]))
    category = categories.get(case.category_code)
    settings: Settings = request.app.state.settings
    crs = map_crs(settings)
    config = {
        "id": case.id, "version": case.version, "crs": crs, "tileUrl": settings.tile_url,
        "gridUrl": f"/api/v1/regions/{case.region_code}/geometry?include_self=true&crs={crs}",
        "point": [case.lng, case.lat] if case.lng is not None and case.lat is not None
        else None,
        "schema": category.fields_schema if category else {},
        "fields": case.fields,
        "fieldLabels": FIELD_LABELS[t.lang], "valueLabels": VALUE_LABELS[t.lang],
        "text": {k: t(k) for k in ("yes", "no", "choose", "network_error", "case_conflict",
                                   "case_changed", "report_photo_uploading",
                                   "report_photo_failed", "report_photo_remove",
                                   "report_need_text", "map_failed")},
        **_live_config(),
    }
    return render(request, lang, "cases/detail.html",
                  **_page_context(case=case, names=names, category=category,
                                  handler_groups=_handler_groups(handlers, category, t),
                                  entry_details=entry_details, extensions=EXTENSIONS,
                                  extension_label=extension_label,
                                  reported=bool(reported), config=config,
                                  action_labels=CASE_ACTION_LABELS[t.lang]))
