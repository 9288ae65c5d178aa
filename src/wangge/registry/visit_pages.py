"""Registry pages of the grid worker's rounds: the phone page ``/my/visits`` (what the visit
plans want visited in the worker's grids, the visit form, information collection) and a key
place (``/registry/places/{id}``: facts, inspections and change history).

Pages read through the plan and entity services like the API does; the browser writes through
the API (``POST /api/v1/visits``, ``POST /api/v1/residents``, ``PATCH /api/v1/residents/{id}``,
with the session's CSRF token in ``X-CSRF-Token``). The place page asks the service for the
place exactly once per view, so a ``pii:read`` holder's clear view of the responsible person's
phone is logged once. Outside the viewer's scope the place page is the not-found page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth.repository import AuthRepository
from wangge.authz.permissions import REGISTRY_READ, REGISTRY_WRITE, grants
from wangge.authz.scope import Subject
from wangge.cases.pages import local_time
from wangge.cases.service import case_service
from wangge.kit.db import utcnow
from wangge.kit.errors import NotFound
from wangge.kit.web import Authorizer, Session
from wangge.org.regions import region_service
from wangge.registry.endpoints import Cipher
from wangge.registry.entities import entity_service
from wangge.registry.pages import REASONS, Labels
from wangge.registry.plans import plan_service
from wangge.registry.schemas import DueItem, DuePage, HouseholdOut, PlanOut
from wangge.web.i18n import Translator
from wangge.web.pages import page_id, render, request_language

router = APIRouter(include_in_schema=False)
RegistryReader = Annotated[Subject, Depends(Authorizer(REGISTRY_READ))]

GRID_LENGTH = 15
# Items listed per plan and grid (the most overdue first); households offered to collection.
DUE_LIMIT = 100
MAX_HOUSEHOLDS = 200
# Issues a visit or an inspection may find (stored as these codes; free text as typed).
ISSUES = ("safety_hazard", "fire_safety", "dispute", "hardship", "health", "mood",
          "info_changed")
POPULATION_TYPES = ("registered", "floating", "foreign")
RELATIONS = ("head", "spouse", "child", "parent", "grandchild", "grandparent", "sibling",
             "other")
# Text the visit script needs, by key.
SCRIPT_TEXT = (
    "network_error", "vis_locating", "vis_located", "vis_locate_denied", "vis_locate_failed",
    "vis_locate_unsupported", "vis_locate_retry", "vis_submit", "vis_sending", "vis_done",
    "vis_distance", "vis_no_distance", "vis_far", "vis_case_opened", "vis_need_case",
    "vis_fix", "vis_due_count", "vis_nothing_due", "vis_patrol_count", "vis_quota_met",
    "vis_conflict_uuid", "col_need_name", "col_saved", "col_phone_saved", "col_duplicate",
    "col_stale", "col_no_match", "col_searching", "col_choose", "col_need_phone",
    "reg_invalid.id_number", "reg_invalid.phone",
)




def worker_grids(subject: Subject) -> list[str]:
    """The grids the subject works in: its posts over a grid that write to the registry."""
    return sorted({p.region_code for p in subject.posts
                   if len(p.region_code) == GRID_LENGTH and grants(p, REGISTRY_WRITE)
                   and subject.can_read_code(p.region_code)})


class PlaceLabels(Labels):
    """Registry labels plus a key place's fields and the issues found on visits."""

    def field(self, name: str) -> str:
        label = self._key("vis_place_field", name)
        return super().field(name) if label == name else label

    def change(self, name: str, value: Any) -> str:
        if name == "category" and isinstance(value, str):
            return self.place(value)
        if name == "inspection_interval_days" and isinstance(value, int):
            return self.t("reg_inspect_every", days=value)
        return super().change(name, value)

    def issue(self, value: str) -> str:
        return self._key("vis_issue", value)


@dataclass
class Row:
    """One item of a plan's due list as the page shows it."""

    item: DueItem
    target: str  # resident_id, household_id or place_id: what the visit is recorded against
    target_id: int
    overdue_days: int | None  # None: never visited

    @property
    def never(self) -> bool:
        return self.overdue_days is None


@dataclass
class PlanCard:
    """One active plan in one grid: what is due, or for a patrol the worker's own count."""

    plan: PlanOut
    grid: str
    page: DuePage
    rows: list[Row] = field(default_factory=list)
    applies: bool = True  # patrol: the worker's role patrols under the plan
    done: int | None = None  # patrol: the worker's visits this period (None: quota met)

    @property
    def key(self) -> str:
        return f"{self.plan.id}-{self.grid}"


def _rows(page: DuePage, now: datetime) -> list[Row]:
    rows = []
    for item in page.items:
        if item.kind == "tag" and item.resident_id is not None:
            target, target_id = "resident_id", item.resident_id
        elif item.kind == "household" and item.id is not None:
            target, target_id = "household_id", item.id
        elif item.kind == "place" and item.id is not None:
            target, target_id = "place_id", item.id
        else:
            continue
        overdue = None if item.due_since is None else max(0, (now - item.due_since).days)
        rows.append(Row(item, target, target_id, overdue))
    return rows


async def _cards(session: AsyncSession, subject: Subject, grids: list[str],
                 person_name: str | None) -> list[PlanCard]:
    now = utcnow()
    cards: list[PlanCard] = []
    for grid in grids:
        my_posts = {str(p) for p in subject.posts if p.region_code == grid}
        my_roles = {p.role for p in subject.posts if p.region_code == grid}
        for plan in (await plan_service.plans(session, subject, grid, True)).items:
            page = await plan_service.due(session, subject, plan.id, grid, DUE_LIMIT)
            card = PlanCard(plan, grid, page)
            if plan.kind == "patrol":
                card.applies = bool(my_roles & set(plan.roles))
                mine = [i for i in page.items if i.post in my_posts
                        and (person_name is None or i.label == person_name)]
                card.done = mine[0].done if mine else None
            else:
                card.rows = _rows(page, now)
            cards.append(card)
    return cards


def _script_config(t: Translator, subject: Subject, grids: list[str],
                   person_name: str | None) -> dict[str, Any]:
    # The API's validation reasons, by how they start, as the page says them ({expected}
    # is filled in by the script).
    reasons = [[start, t(key, expected="{expected}")] for start, key in REASONS]
    return {"text": {k: t(k) for k in SCRIPT_TEXT}, "reasons": reasons, "grids": grids,
            "posts": {g: [str(p) for p in subject.posts if p.region_code == g] for g in grids},
            "person": person_name}


@router.get("/my/visits", response_class=HTMLResponse)
async def my_visits(request: Request, session: Session, subject: RegistryReader) -> Response:
    """The grid worker's rounds on a phone: the active plans' due lists of the worker's grids
    (most overdue first), the visit form (GPS check-in, notes, issues, a case), a patrol's
    count against its quota, and information collection (a new resident, a phone)."""
    lang = request_language(request)
    t = Translator(lang.code)
    grids = worker_grids(subject)
    person = await AuthRepository(session).person(subject.person_id) \
        if subject.person_id is not None else None
    person_name = person.name if person else None
    cards = await _cards(session, subject, grids, person_name)
    households: dict[str, list[HouseholdOut]] = {}
    for grid in grids:
        households[grid] = (await entity_service.households(
            session, subject, grid=grid, before=None, limit=MAX_HOUSEHOLDS)).items
    categories = [c for c in await case_service.categories(session, subject)
                  if c.active and not (c.fields_schema or {}).get("required")]
    regions = {*grids, *(g[:12] for g in grids),
               *(r.item.region_code for c in cards for r in c.rows)}
    names = await region_service.names(session, subject, sorted(regions))
    labels = PlaceLabels(t, names)
    return render(request, lang, "registry/visits.html", nav="my-visits", grids=grids,
                  cards=cards, households=households, labels=labels, local_time=local_time,
                  categories=categories, issues=ISSUES, population_types=POPULATION_TYPES,
                  relations=RELATIONS, config=_script_config(t, subject, grids, person_name),
                  grid_name=lambda g: _grid_name(names, g))


def _grid_name(names: dict[str, str], code: str) -> str:
    """A grid as people say it: its village, then the grid (第3网格 alone is ambiguous)."""
    grid, village = names.get(code), names.get(code[:12])
    if grid and village and not grid.startswith(village[:2]):
        return f"{village} {grid}"
    return grid or code


@router.get("/registry/places/{place_id}", response_class=HTMLResponse)
async def place_page(request: Request, place_id: str, session: Session,
                     subject: RegistryReader, cipher: Cipher) -> Response:
    """One key place: category, address, the responsible person and phone (in clear for
    pii:read, that view logged), the inspection routine, inspections and change history."""
    lang = request_language(request)
    t = Translator(lang.code)
    number = page_id(place_id)
    try:
        if number is None:
            raise NotFound(f"place {place_id} not found")
        place = await entity_service.place(session, subject, cipher, number,
                                           route=request.url.path)
    except NotFound:
        return render(request, lang, "registry/place_missing.html", status_code=404,
                      place_id=place_id[:20], nav="registry")
    path = [place.region_code[:n] for n in (2, 4, 6, 9, 12, 15)
            if n <= len(place.region_code)]
    posts = [p.partition("@")[2] for p in
             [*(v.post for v in place.inspections), *(h.post for h in place.history)] if p]
    names = await region_service.names(session, subject, sorted({*path, *posts}))
    now = utcnow()
    last = place.last_inspected_at
    overdue = last is None or (now - last).days >= place.inspection_interval_days
    return render(request, lang, "registry/place.html", nav="registry", place=place,
                  path=path, labels=PlaceLabels(t, names), local_time=local_time,
                  overdue=overdue, never=last is None,
                  can_visit=subject.can(REGISTRY_WRITE),
                  logged=not place.masked and bool(place.responsible_phone))
