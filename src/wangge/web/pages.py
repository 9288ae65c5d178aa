"""HTML pages: the region browser. Pages read through the same services as the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from wangge.config import PACKAGE_ROOT, Settings
from wangge.kit.errors import NotFound
from wangge.kit.web import ReadSubject, Session
from wangge.models.post import GRID_ROLES, ROLES
from wangge.org.regions import region_service
from wangge.org.schemas import ChildOut, RegionOut, StaffPostOut
from wangge.web.i18n import (
    COOKIE,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Translator,
    normalise_language,
)

TEMPLATES = Jinja2Templates(directory=PACKAGE_ROOT / "web" / "templates")
# The demo city; `/` lands here when it is loaded.
HOME_REGION = "4107"
COUNT_LEVELS = ("county", "township", "village", "grid")
LEVEL_DEPTH = {"province": 0, "city": 1, "county": 2, "township": 3, "village": 4, "grid": 5}

ROLE_ORDER = ("commander", *GRID_ROLES, "department_officer", "analyst", "admin")

router = APIRouter(include_in_schema=False)


@dataclass
class Language:
    """The language of this request, and whether a ``?lang=`` asked to remember it."""

    code: str
    remember: bool

    @property
    def other(self) -> str:
        return next(lang for lang in LANGUAGES if lang != self.code)


# The largest row id (a 32-bit signed integer column on PostgreSQL).
MAX_ID = 2**31 - 1


def page_id(value: str | None) -> int | None:
    """A row id from a page's path or query value; None when it is not one (so the page
    answers not-found instead of the database refusing an out-of-range integer)."""
    if not value or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def request_language(request: Request) -> Language:
    """``?lang=`` wins (and is remembered in a cookie), then the cookie, then the setting."""
    asked = normalise_language(request.query_params.get("lang"))
    if asked:
        return Language(asked, remember=True)
    settings: Settings = request.app.state.settings
    code = (normalise_language(request.cookies.get(COOKIE))
            or normalise_language(settings.default_language) or DEFAULT_LANGUAGE)
    return Language(code, remember=False)


def _remember(response: Response, lang: Language) -> Response:
    if lang.remember:
        response.set_cookie(COOKIE, lang.code, max_age=365 * 24 * 3600, samesite="lax")
    return response


def nav_section(path: str) -> str:
    """The navigation link a page belongs to (marked as the current one)."""
    if path == "/cases/new":
        return "report"
    for prefix, key in (("/regions", "regions"), ("/cases", "cases"), ("/tasks", "tasks"),
                        ("/audit", "audit")):
        if path == prefix or path.startswith(prefix + "/"):
            return key
    return "regions" if path == "/" else ""


def render(request: Request, lang: Language, template: str, status_code: int = 200,
           **context: Any) -> Response:
    """Renders a page template in the request's language (remembering a ``?lang=`` choice)."""
    t = Translator(lang.code)
    switched = request.url.include_query_params(lang=lang.other)
    switch_url = f"{switched.path}?{switched.query}"
    # Set by kit.web.get_subject when the page required a log-in: the top bar shows the user
    # and a log-out form carrying the session's CSRF token.
    subject = getattr(request.state, "subject", None)
    # Its permissions decide which links the navigation shows.
    user = {"name": subject.name, "csrf_token": getattr(request.state, "csrf_token", ""),
            "can": subject.permissions} if subject is not None else None
    response = TEMPLATES.TemplateResponse(
        request, template,
        {"t": t, "lang": lang.code, "switch_url": switch_url, "user": user,
         "nav": nav_section(request.url.path), **context},
        status_code=status_code,
    )
    return _remember(response, lang)


def levels_below(level: str) -> list[str]:
    """The count levels that lie strictly beneath ``level``."""
    depth = LEVEL_DEPTH.get(level, 0)
    return [lv for lv in COUNT_LEVELS if LEVEL_DEPTH[lv] > depth]


def group_posts(posts: list[StaffPostOut]) -> list[tuple[str, list[StaffPostOut]]]:
    """Posts grouped by role: leaders, then the "3+N" roles (leader, deputy, members, N), then
    departments and support roles."""
    order = [role for role in ROLE_ORDER if role in ROLES]
    order += sorted({p.role for p in posts} - set(order))
    groups = [(role, [p for p in posts if p.role == role]) for role in order]
    return [(role, members) for role, members in groups if members]


def filter_children(children: list[ChildOut], q: str | None) -> list[ChildOut]:
    """Children whose name or code contains ``q`` (all of them when ``q`` is blank)."""
    needle = (q or "").strip().lower()
    if not needle:
        return children
    return [c for c in children if needle in c.name.lower() or c.code.startswith(needle)]


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: Session, subject: ReadSubject) -> Response:
    """Redirects to the top region (the demo city when loaded)."""
    lang = request_language(request)
    # Browsing starts at the user's top post region (the shortest prefix of their scope).
    tops = sorted((p for p in subject.prefixes if p), key=lambda p: (len(p), p))
    code = await region_service.home(session, subject, tops[0] if tops else HOME_REGION)
    if code is None:
        return render(request, lang, "empty.html", status_code=404)
    return _remember(RedirectResponse(f"/regions/{code}", status_code=303), lang)


@router.get("/regions/{code}", response_class=HTMLResponse)
async def region_page(request: Request, code: str, session: Session,
                      subject: ReadSubject) -> Response:
    """The region browser: breadcrumbs, counts, map of the children, children list, staff."""
    lang = request_language(request)
    try:
        region = await region_service.get(session, subject, code)
    except NotFound:
        return render(request, lang, "not_found.html", status_code=404, code=code)
    children = await region_service.children(session, subject, code)
    posts = await region_service.staff(session, subject, code)
    return render(request, lang, "region.html", **_region_context(request, region, children,
                                                                   posts))


@router.get("/regions/{code}/rows", response_class=HTMLResponse)
async def region_rows(request: Request, code: str, session: Session, subject: ReadSubject,
                      q: str | None = Query(None, max_length=50)) -> Response:
    """The children table body, filtered by name or code (an htmx fragment)."""
    lang = request_language(request)
    try:
        await region_service.get(session, subject, code)
    except NotFound:
        return render(request, lang, "not_found.html", status_code=404, code=code)
    children = await region_service.children(session, subject, code)
    child_levels = levels_below(children[0].level) if children else []
    return render(request, lang, "_children_rows.html",
                   children=filter_children(children, q), child_levels=child_levels)


def _region_context(request: Request, region: RegionOut, children: list[ChildOut],
                    posts: list[StaffPostOut]) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    crs = settings.tile_crs if settings.tile_url else "wgs84"
    child_level = children[0].level if children else None
    return {
        "region": region,
        "children": children,
        "child_level": child_level,
        "child_levels": levels_below(child_level) if child_level else [],
        "count_levels": levels_below(region.level),
        "posts": posts,
        "groups": group_posts(posts),
        "map_config": {
            "code": region.code,
            "level": region.level,
            "childLevel": child_level,
            "geometryUrl": f"/api/v1/regions/{region.code}/geometry?include_self=true&crs={crs}",
            "tileUrl": settings.tile_url,
            "children": len(children),
        },
    }
