"""Registry pages: a region's registry (``/registry/{code}``: residents, key places, special
groups due a visit, households by building, visit plans with their progress, and search by
name, ID number, phone or address) and one person (``/registry/residents/{id}``).

Pages read through the registry service like the API does (lists masked); the person page
asks the service for the resident exactly once per view, so a ``pii:read`` holder's clear view
is logged once. Outside the viewer's scope every page is the not-found page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import REGISTRY_READ
from wangge.authz.scope import Subject
from wangge.cases.pages import local_time
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput, NotFound
from wangge.kit.web import Authorizer, Session
from wangge.org.regions import region_service
from wangge.registry.endpoints import Cipher
from wangge.registry.places import PLACE_CATEGORIES, TAG_CATEGORIES
from wangge.registry.plans import plan_service
from wangge.registry.reads import MAX_ADDRESSES, MAX_DUE, Room, registry_reads
from wangge.registry.schemas import (
    DueItem,
    DuePage,
    PlacePage,
    PlanOut,
    PlanProgress,
    ProgressRow,
    ResidentPage,
)
from wangge.registry.service import registry_service
from wangge.web.i18n import Translator
from wangge.web.pages import page_id, render, request_language

router = APIRouter(include_in_schema=False)
RegistryReader = Annotated[Subject, Depends(Authorizer(REGISTRY_READ))]

PAGE_SIZE = 30
TABS = ("residents", "households", "groups", "places", "plans")
PLAN_KINDS = ("special_groups", "households", "places", "patrol")
PLAN_DUE = 20  # due items listed per plan on a grid's plans tab
GRID_LENGTH = 15
CHILD_LEVEL = {"province": "county", "city": "county", "county": "township",
               "township": "village", "village": "grid"}
# The API's validation reasons for a plan, by how they start, as the plan form says them.
PLAN_REASONS = (
    ("Input should be greater than or equal to", "plan_reason_min"),
    ("Input should be less than or equal to", "plan_reason_max"),
    ("Input should be a valid integer", "plan_reason_integer"),
    ("String should have at least", "reg_reason_empty"),
    ("String should have at most", "plan_reason_long"),
    ("a households plan needs", "plan_reason_interval"),
    ("a patrol plan needs", "plan_reason_interval"),
    ("unknown categories", "plan_reason_categories"),
    ("visit plans need registry:plan", "plan_reason_forbidden"),
    ("is not a region in your scope", "plan_reason_region"),
)
# Text the plan script needs, by key.
PLAN_SCRIPT_TEXT = ("network_error", "plan_fix", "plan_sending", "plan_submit",
                    "plan_created", "plan_stale", "plan_deactivate_confirm")
SEARCH_BY = ("name", "id_number", "phone", "address")
CODE = re.compile(r"^\d{2,15}$")
PLACE_NAMES = {c.code: (c.name, c.name_en) for c in PLACE_CATEGORIES}
# Reasons of idnumber.parse and phone.parse_phone, by how they start, as the pages say them.
REASONS = (
    ("bad check character", "reg_reason_check"), ("birth date", "reg_reason_birth"),
    ("must be 18 characters", "reg_reason_length"), ("must be digits", "reg_reason_digits"),
    ("a legacy 15-digit", "reg_reason_legacy"), ("no such province", "reg_reason_province"),
    ("a mobile number must be 11", "reg_reason_mobile_length"),
    ("a mobile number starts", "reg_reason_mobile_prefix"),
    ("a landline", "reg_reason_landline"), ("may contain only", "reg_reason_phone_chars"),
    ("must be a mobile", "reg_reason_phone"), ("must not be empty", "reg_reason_empty"),
)



def reason_text(t: Translator, reason: str) -> str:
    """A validation reason in the page's language (as given when not known)."""
    for start, key in REASONS:
        if reason.startswith(start):
            expected = reason.rsplit("expected ", 1)[1] if "expected " in reason else ""
            return t(key, expected=expected)
    return reason


class Labels:
    """Registry values in the page's language: categories, types, relations, posts."""

    def __init__(self, t: Translator, regions: dict[str, str]) -> None:
        self.t = t
        self.regions = regions

    def _key(self, prefix: str, value: str | None) -> str:
        if not value:
            return ""
        key = f"{prefix}.{value}"
        label = self.t(key)
        return value if label == key else label

    def population(self, value: str) -> str:
        return self._key("reg_pop", value)

    def tag(self, value: str) -> str:
        return self._key("reg_tag", value)

    def level(self, value: str) -> str:
        return self._key("reg_level", value)

    def relation(self, value: str | None) -> str:
        return self._key("reg_rel", value)

    def sex(self, value: str | None) -> str:
        return self.t.value(value) if value else ""

    def field(self, name: str) -> str:
        label = self._key("reg_field", name)
        return self.t.field(name) if label == name else label

    def action(self, value: str) -> str:
        return self._key("reg_action", value)

    def household_kind(self, value: str) -> str:
        return self._key("reg_hh", value)

    def place(self, value: str) -> str:
        names = PLACE_NAMES.get(value)
        if names is None:
            return value
        return names[0] if self.t.lang == "zh" else names[1]

    def region(self, code: str | None) -> str:
        return self.regions.get(code or "", code or "")

    def post(self, post: str | None) -> str:
        """``grid_leader@410702002022003`` as ``网格长 · 第3网格``."""
        if not post:
            return ""
        role, _, code = post.partition("@")
        return f"{self.t.role(role)} · {self.regions.get(code, code)}"

    def change(self, name: str, value: Any) -> str:
        """One side of a history entry's change, as shown."""
        if value is None or value == "":
            return "—"
        shown = {"population_type": self.population, "relation": self.relation,
                 "region_code": self.region, "sex": self.sex}.get(name)
        return shown(str(value)) if shown else self.value(value)

    def tag_field(self, name: str, value: Any) -> str:
        """A special-group tag's field value as shown (``risk_grade`` 3 as ``3 级``)."""
        if name == "risk_grade" and isinstance(value, int) and not isinstance(value, bool):
            return self.t("reg_risk_grade", n=value)
        return self.value(value)

    def value(self, value: Any) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, list):
            return "、".join(self.value(v) for v in value)
        if isinstance(value, str):
            label = self._key("reg_val", value)
            if label != value:
                return label
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT.*", value):
            try:
                return local_time(datetime.fromisoformat(value))
            except ValueError:
                return value
        return self.t.value(value)


@dataclass
class UnitRooms:
    """One unit of a building as its page shows it: rooms with households, then the vacant
    rooms in a line (a 26-floor building has hundreds of them)."""

    unit: str | None
    occupied: list[Room] = field(default_factory=list)
    vacant: list[Room] = field(default_factory=list)

    @property
    def households(self) -> int:
        return sum(len(r.households) for r in self.occupied)

    @property
    def rooms(self) -> int:
        return len(self.occupied) + len(self.vacant)


def by_unit(rooms: list[Room]) -> list[UnitRooms]:
    """Rooms grouped by unit, in the order given."""
    units: dict[str | None, UnitRooms] = {}
    for room in rooms:
        group = units.setdefault(room.unit, UnitRooms(room.unit))
        (group.occupied if room.households else group.vacant).append(room)
    return list(units.values())


@dataclass
class PlanView:
    """One active plan on a region's plans tab: its progress here, the children worst first
    and, on a grid, the first items due (each with the page it links to)."""

    plan: PlanOut
    progress: PlanProgress
    children: list[ProgressRow]
    due: DuePage | None = None
    items: list[tuple[DueItem, str | None]] = field(default_factory=list)
    period: tuple[str, str] | None = None  # a patrol's current period, local dates

    @property
    def rate(self) -> float | None:
        return self.progress.rate


def _worst_first(rows: list[ProgressRow]) -> list[ProgressRow]:
    """Children by completion rate, lowest first; those with nothing to do last."""
    return sorted(rows, key=lambda r: (r.rate is None, r.rate or 0.0, -r.total, r.region_code))


async def _plan_views(session: AsyncSession, subject: Subject, code: str) -> list[PlanView]:
    views = []
    for plan in (await plan_service.plans(session, subject, code, True)).items:
        progress = await plan_service.progress(session, subject, plan.id, code)
        # A plan set below this region only concerns the children on its way.
        children = [c for c in progress.children
                    if c.region_code.startswith(plan.region_code)
                    or plan.region_code.startswith(c.region_code)]
        view = PlanView(plan, progress, _worst_first(children))
        if progress.period_start and progress.period_end:
            last = progress.period_end - timedelta(seconds=1)
            view.period = (local_time(progress.period_start)[:10], local_time(last)[:10])
        if len(code) == GRID_LENGTH:
            view.due = await plan_service.due(session, subject, plan.id, code, PLAN_DUE)
            view.items = [(i, None) for i in view.due.items]
        views.append(view)
    households = [i.id for v in views for i, _ in v.items if i.kind == "household" and i.id]
    rooms = await registry_reads.household_rooms(session, subject, households) \
        if households else {}
    for view in views:
        view.items = [(i, _due_link(i, code, rooms)) for i, _ in view.items]
    return views


def _due_link(item: DueItem, code: str, rooms: dict[int, tuple[int, int]]) -> str | None:
    """Where a due item opens: the person, the household's room in its building, the place."""
    if item.kind == "tag" and item.resident_id is not None:
        return f"/registry/residents/{item.resident_id}"
    if item.kind == "place" and item.id is not None:
        return f"/registry/places/{item.id}"
    if item.kind == "household" and item.id in rooms:
        building, room = rooms[item.id]
        return f"/registry/{code}?tab=households&building={building}#a{room}"
    return None


def _plan_config(t: Translator, code: str) -> dict[str, Any]:
    reasons = [[start, t(key, n="{n}")] for start, key in PLAN_REASONS]
    return {"text": {k: t(k) for k in PLAN_SCRIPT_TEXT}, "reasons": reasons, "region": code}


@dataclass
class SearchForm:
    """The search box: what to look for and by which key (blank: the plain list)."""

    by: str = "name"
    q: str = ""
    error: str | None = None

    @classmethod
    def parse(cls, params: Any) -> SearchForm:
        by = params.get("by", "name")
        return cls(by=by if by in SEARCH_BY else "name", q=params.get("q", "").strip()[:50])

    def query(self, **changes: Any) -> str:
        values = {"by": self.by if self.q else "", "q": self.q, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


async def _top_region(session: Session, subject: Subject) -> str | None:
    tops = sorted((p for p in subject.prefixes if p), key=lambda p: (len(p), p))
    return await region_service.home(session, subject, tops[0]) if tops else None


@router.get("/registry", response_class=HTMLResponse)
async def registry_home(request: Request, session: Session,
                        subject: RegistryReader) -> Response:
    """Sends the viewer to the registry of their own grid (or their top region)."""
    lang = request_language(request)
    code = await _top_region(session, subject)
    if code is None:
        return render(request, lang, "empty.html", status_code=404)
    return RedirectResponse(f"/registry/{code}", status_code=303)


@router.get("/registry/{code}", response_class=HTMLResponse)
async def registry_page(request: Request, code: str, session: Session,
                        subject: RegistryReader, cipher: Cipher) -> Response:
    """A region's registry: residents, households by building, special groups due a visit,
    key places, and the search box."""
    lang = request_language(request)
    t = Translator(lang.code)
    try:
        if not CODE.match(code):
            raise NotFound(f"region {code} not found")
        region = await region_service.get(session, subject, code)
    except NotFound:
        return render(request, lang, "not_found.html", status_code=404, code=code[:20])
    params = request.query_params
    form = SearchForm.parse(params)
    tab = params.get("tab", "")
    tab = tab if tab in TABS else ("households" if form.q and form.by == "address"
                                   else "residents")
    before = page_id(params.get("before"))
    context: dict[str, Any] = {"tab": tab, "form": form, "region": region}
    status = 200
    regions = [region.code]
    if tab == "residents":
        page = ResidentPage(items=[], next_cursor=None)
        filters: dict[str, str | None] = {}
        if form.q and form.by != "address":
            key = {"name": "q", "id_number": "id_number", "phone": "phone_number"}[form.by]
            filters[key] = form.q
        try:
            page = await registry_service.residents(
                session, subject, cipher, grid=code, before=before, limit=PAGE_SIZE,
                **filters)
        except InvalidInput as e:
            form.error = reason_text(t, str(e.detail.get("reason", e.message)))
            status = 422
        regions += [r.region_code for r in page.items]
        more = form.query(tab="residents", before=page.next_cursor)
        context.update(residents=page,
                       more_url=f"/registry/{code}?{more}" if page.next_cursor else None)
    elif tab == "households":
        if form.q and form.by == "address":
            context["hits"] = await registry_reads.addresses(session, subject, code, form.q)
        building_id = page_id(params.get("building"))
        if building_id is not None:
            detail = await registry_reads.building(session, subject, code, building_id)
            if detail is None:
                return render(request, lang, "not_found.html", status_code=404, code=code)
            context["detail"] = detail
            context["units"] = by_unit(detail.rooms)
        else:
            context["buildings"], context["unaddressed"] = await registry_reads.buildings(
                session, subject, code)
    elif tab == "groups":
        due, total = await registry_reads.due_tags(session, subject, code, utcnow())
        context.update(due=due, tag_total=total)
        regions += [p.partition("@")[2] for d in due if (p := d.responsible_post)]
    elif tab == "plans":
        views = await _plan_views(session, subject, code)
        context.update(plans=views, can_plan=plan_service.can_plan(subject, code),
                       plan_kinds=PLAN_KINDS, tag_categories=TAG_CATEGORIES,
                       plan_config=_plan_config(t, code),
                       child_level=CHILD_LEVEL.get(region.level, "grid"))
        regions += [v.plan.region_code for v in views]
        regions += [i.region_code for v in views for i, _ in v.items]
        regions += [p.partition("@")[2] for v in views for i, _ in v.items if (p := i.post)]
    else:
        places: PlacePage = await registry_service.places(
            session, subject, grid=code, before=before, limit=PAGE_SIZE)
        regions += [p.region_code for p in places.items]
        context.update(places=places, more_url=f"/registry/{code}?tab=places&before="
                       f"{places.next_cursor}" if places.next_cursor else None)
    names = await region_service.names(session, subject, sorted(set(regions)))
    return render(request, lang, "registry/region.html", status_code=status, nav="registry",
                  labels=Labels(t, names), local_time=local_time, tabs=TABS,
                  search_by=SEARCH_BY, can_read=subject.can_read_code, now=utcnow(),
                  max_addresses=MAX_ADDRESSES, max_due=MAX_DUE,
                  **context)


@router.get("/registry/residents/{resident_id}", response_class=HTMLResponse)
async def resident_page(request: Request, resident_id: str, session: Session,
                        subject: RegistryReader, cipher: Cipher) -> Response:
    """One person: facts, ID number and phone (in clear for pii:read, that view logged),
    special-group tags with their fields, and the change history."""
    lang = request_language(request)
    t = Translator(lang.code)
    number = page_id(resident_id)
    try:
        if number is None:
            raise NotFound(f"resident {resident_id} not found")
        person = await registry_service.resident(session, subject, cipher, number,
                                                 route=request.url.path)
    except NotFound:
        return render(request, lang, "registry/not_found.html", status_code=404,
                      resident_id=resident_id[:20])
    path = [person.region_code[:n] for n in (2, 4, 6, 9, 12, 15)
            if n <= len(person.region_code)]
    posts = [p.partition("@")[2] for p in
             [*(x.responsible_post for x in person.tags), *(h.post for h in person.history)]
             if p]
    names = await region_service.names(session, subject, sorted({*path, *posts}))
    now = utcnow()
    due = {tag.id: tag.active and (tag.last_visit_at is None or
                                   (now - tag.last_visit_at).days >= tag.visit_interval_days)
           for tag in person.tags}
    return render(request, lang, "registry/resident.html", nav="registry", person=person,
                  path=path, labels=Labels(t, names), local_time=local_time, due=due,
                  logged=not person.masked and bool(person.id_number or person.phone))
