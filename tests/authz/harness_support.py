"""Support for the scope harness: a private copy of the demo database, the actors (users of two
sibling regions at every level) with a case and a directive of their own each, the values that
fill each route's parameters and bodies, and the leak detector. See
tests/authz/test_scope_harness.py and docs/decisions/0010.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from wangge.auth.service import auth_service
from wangge.auth.subjects import subject_for
from wangge.auth.tokens import new_token, token_hash
from wangge.authz.scope import Subject
from wangge.kit.cli import run_sync
from wangge.kit.db import Base, create_sessionmaker, sync_url, utcnow
from wangge.kit.db import create_engine as create_async
from wangge.models import (
    AuthSession,
    Organisation,
    OrganisationCoverage,
    Region,
    RegionShape,
)

PASSWORD = "harness-password-1"
# Roles of every sibling actor: together they grant every permission, so each route is walked
# with data (a 403 everywhere would prove nothing).
FULL_ROLES = ("admin", "commander", "grid_leader")
# Extra tokens per actor for write calls: a write may legitimately end its own session (log-out).
WRITE_TOKENS = 150  # three walks (own, sibling, above) per write route, with room to grow


def clone_database(url: str, pg_schemas: list[str], directory: Path) -> str:
    """A copy of the database at ``url`` that the harness may add accounts to."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = directory / f"harness-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(str(parsed.database), target)
        return f"sqlite+aiosqlite:///{target}"
    options = str(parsed.query.get("options", ""))
    source = options.split("search_path=", 1)[1]
    schema = f"h_{uuid.uuid4().hex[:12]}"
    engine = create_engine(sync_url(url))
    tables = [t.name for t in Base.metadata.sorted_tables] + ["alembic_version"]
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        for name in tables:
            conn.execute(text(f'CREATE TABLE "{schema}"."{name}" '
                              f'(LIKE "{source}"."{name}" INCLUDING ALL)'))
            conn.execute(text(f'INSERT INTO "{schema}"."{name}" '
                              f'SELECT * FROM "{source}"."{name}"'))
    engine.dispose()
    pg_schemas.append(schema)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@dataclass
class Actor:
    """A harness user: its account, scope, and the values that stand for "its own" data."""

    name: str
    username: str
    posts: list[str]
    account_id: int = 0
    post_id: int = 0
    prefixes: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    home: str = ""  # the region its own-kind requests ask about
    point: tuple[float, float] | None = None  # a point inside one of its grids
    sibling: str | None = None  # the actor of the sibling region
    parent: str | None = None  # the actor of the region above (its account is out of scope)
    token: str = ""
    write_tokens: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return bool(self.posts) and self.posts[0].startswith(FULL_ROLES[0] + "@")

    def in_scope(self, code: str) -> bool:
        return any(code.startswith(p) for p in self.prefixes)

    def above_scope(self, code: str) -> bool:
        return any(p.startswith(code) and p != code for p in self.prefixes)


@dataclass
class Harness:
    url: str
    actors: dict[str, Actor]
    region_codes: frozenset[str]
    parents: dict[str, str]
    # Each actor's own case (see ``seed_cases``), its grid and its photo, by actor name.
    cases: dict[str, int] = field(default_factory=dict)
    case_grids: dict[str, str] = field(default_factory=dict)
    photos: dict[str, int] = field(default_factory=dict)
    # Each actor's own directive and its assignment at the actor's case grid (``seed_directives``)
    directives: dict[str, int] = field(default_factory=dict)
    assignments: dict[str, int] = field(default_factory=dict)
    # Directives of the city that are nobody's own: name → id (see ``seed_directives``).
    city_directives: dict[str, int] = field(default_factory=dict)
    # Each actor's own resident, at its case grid (``seed_residents``).
    residents: dict[str, int] = field(default_factory=dict)
    # Each actor's other registry entries there, by kind (household, place, ...) then actor.
    entries: dict[str, dict[str, int]] = field(default_factory=dict)


async def _pick(url: str) -> tuple[dict[str, tuple[list[str], str]], frozenset[str],
                                   dict[str, str], dict[str, tuple[float, float]]]:
    """Chooses sibling regions at every level of the demo city and a point in each."""
    engine = create_async(url)
    try:
        async with engine.connect() as conn:
            regions = (await conn.execute(
                select(Region.code, Region.parent_code, Region.level).order_by(Region.code)
            )).all()
            children: dict[str, list[str]] = {}
            for code, parent, _ in regions:
                if parent:
                    children.setdefault(parent, []).append(code)

            def grids_under(code: str) -> int:
                return sum(1 for c, _, lv in regions if lv == "grid" and c.startswith(code))

            county_a, county_b = [c for c in children["4107"] if grids_under(c)][:2]
            town_a, town_b = [t for t in children[county_a] if grids_under(t)][:2]
            village_a, village_b = [v for v in children[town_a] if grids_under(v)][:2]
            villages = [v for t in children[county_a] for v in children.get(t, [])]
            village = next(v for v in villages if grids_under(v) >= 2)
            grid_a, grid_b = children[village][:2]
            stations = (await conn.execute(
                select(Organisation.code, func.min(OrganisationCoverage.region_code))
                .join(OrganisationCoverage,
                      OrganisationCoverage.organisation_id == Organisation.id)
                .where(Organisation.kind == "police_station",
                       Organisation.region_code.startswith(county_a))
                .group_by(Organisation.code).order_by(Organisation.code)
            )).all()
            (station_a, home_a), (station_b, home_b) = stations[:2]
            homes = {"city": "4107", "county_a": county_a, "county_b": county_b,
                     "township_a": town_a, "township_b": town_b, "village_a": village_a,
                     "village_b": village_b, "grid_a": grid_a, "grid_b": grid_b,
                     "station_a": home_a, "station_b": home_b}
            points: dict[str, tuple[float, float]] = {}
            for name, home in homes.items():
                geometry = await conn.scalar(
                    select(RegionShape.geometry).join(Region, Region.code == RegionShape.code)
                    .where(Region.level == "grid", Region.code.startswith(home))
                    .order_by(Region.code).limit(1))
                p = shapely.from_geojson(geometry).representative_point()
                points[name] = (round(p.x, 6), round(p.y, 6))
    finally:
        await engine.dispose()

    def full(code: str) -> list[str]:
        return [f"{role}@{code}" for role in FULL_ROLES]

    plan = {
        "city": (full("4107"), "4107"),
        "county_a": (full(county_a), county_a), "county_b": (full(county_b), county_b),
        "township_a": (full(town_a), town_a), "township_b": (full(town_b), town_b),
        "village_a": (full(village_a), village_a), "village_b": (full(village_b), village_b),
        "grid_a": (full(grid_a), grid_a), "grid_b": (full(grid_b), grid_b),
        "station_a": ([f"department_officer@{station_a}"], home_a),
        "station_b": ([f"department_officer@{station_b}"], home_b),
        "reader": ([f"analyst@{county_a}"], county_a),
        "nobody": ([], county_a),
    }
    codes = frozenset(c for c, _, _ in regions)
    parents = {c: p for c, p, _ in regions if p}
    return plan, codes, parents, points


SIBLINGS = [("county_a", "county_b"), ("township_a", "township_b"),
            ("village_a", "village_b"), ("grid_a", "grid_b"), ("station_a", "station_b")]
PARENTS = {"county_a": "city", "county_b": "city", "township_a": "county_a",
           "township_b": "county_a", "village_a": "township_a", "village_b": "township_a",
           "grid_a": "village_a", "grid_b": "village_a", "station_a": "county_a",
           "station_b": "county_a", "reader": "city", "nobody": "city"}


def build_harness(url: str) -> Harness:
    """Creates the actors' accounts (once) and logs each in."""
    plan, codes, parents, points = run_sync(lambda: _pick(url))
    actors: dict[str, Actor] = {}
    for name, (posts, home) in plan.items():
        actor = Actor(name, f"harness_{name}", posts, home=home, point=points.get(name),
                      parent=PARENTS.get(name))
        actors[name] = actor
    for a, b in SIBLINGS:
        actors[a].sibling, actors[b].sibling = b, a

    async def create() -> None:
        engine = create_async(url)
        try:
            async with create_sessionmaker(engine)() as session:
                system = Subject.everything()
                for actor in actors.values():
                    account = await auth_service.create_account(
                        session, system, actor.username, PASSWORD, posts=actor.posts,
                        person_name=f"Harness {actor.name}", staff_no=f"HARNESS-{actor.name}")
                    actor.account_id = account.id
                    subject = await subject_for(session, account)
                    actor.prefixes, actor.permissions = subject.prefixes, subject.permissions
                    posts = await session.scalars(text(
                        "SELECT id FROM posts WHERE person_id = :p ORDER BY id"
                    ).bindparams(p=account.person_id))
                    actor.post_id = next(iter(posts), 0)
                    token, _ = await auth_service.login(session, actor.username, PASSWORD,
                                                        "127.0.0.1")
                    actor.token = token
                    now = utcnow()
                    for _ in range(WRITE_TOKENS):
                        secret = new_token()
                        session.add(AuthSession(
                            token_hash=token_hash(secret), account_id=account.id,
                            kind="bearer", client_addr="127.0.0.1", created_at=now,
                            expires_at=now + timedelta(hours=8)))
                        actor.write_tokens.append(secret)
                await session.commit()
        finally:
            await engine.dispose()

    run_sync(create)
    return Harness(url, actors, codes, parents)


# --- Cases: one of its own for every actor ------------------------------------------------------

# Who reports an actor's case when the actor itself may not (it holds no case:report).
CASE_REPORTERS = {"station_a": "county_a", "station_b": "county_a", "reader": "county_a"}
# Criminal clues are police-only: the stations' cases also test that filter.
CASE_CATEGORIES = {"station_a": "05", "station_b": "05"}


def case_grid(h: Harness, actor: Actor) -> str | None:
    """A grid in the actor's own region that no actor may read when it walks this one's case as
    its sibling's or parent's (so those calls must answer 404)."""
    relatives = [a for a in h.actors.values() if actor.name in (a.sibling, a.parent)]
    grids = sorted(c for c in h.region_codes if len(c) == 15 and c.startswith(actor.home))
    return next((g for g in grids if actor.in_scope(g)
                 and not any(r.in_scope(g) for r in relatives)), None)


def seed_cases(h: Harness, client: Any) -> None:
    """Reports one case per actor (with a photo) through the API, as the actor or, for those
    that may not report, as the county above them; a station's case is dispatched to it."""
    from tests.factories import png_bytes

    for actor in h.actors.values():
        if not actor.prefixes:
            continue  # no post: nothing of its own
        grid = case_grid(h, actor)
        assert grid, f"no grid for {actor.name}'s case outside its relatives' scopes"
        reporter = h.actors[CASE_REPORTERS.get(actor.name, actor.name)]
        auth = {"Authorization": f"Bearer {reporter.token}"}
        photo = client.post("/api/v1/photos", headers=auth,
                            files={"file": ("p.png", png_bytes(2, 2), "image/png")})
        assert photo.status_code == 201, photo.text
        category = CASE_CATEGORIES.get(actor.name, "99")
        r = client.post("/api/v1/cases", headers=auth, json={
            "client_uuid": str(uuid.uuid4()), "category_code": category,
            "title": f"harness {actor.name}", "description": "scope harness case",
            "grid_code": grid, "photos": [photo.json()["id"]]})
        assert r.status_code == 201, r.text
        case = r.json()
        if actor.posts and actor.posts[0].startswith("department_officer@"):
            station = actor.posts[0].split("@", 1)[1]
            for action, body in (("accept", {}), ("dispatch", {"handler": {
                    "organisation": station}})):
                r = client.post(f"/api/v1/cases/{case['id']}/actions/{action}", headers=auth,
                                json={"version": case["version"], **body})
                assert r.status_code == 200, r.text
                case = r.json()
        h.cases[actor.name] = case["id"]
        h.case_grids[actor.name] = grid
        h.photos[actor.name] = photo.json()["id"]


# --- Directives: one of its own for every actor -------------------------------------------------

# Who issues an actor's directive when the actor itself may not (it holds no directive:issue).
DIRECTIVE_ISSUERS = {"station_a": "county_a", "station_b": "county_a", "reader": "county_a"}


def _relatives(h: Harness, actor: Actor) -> list[Actor]:
    """The actors that walk this one's data as their sibling's or their parent's."""
    return [a for a in h.actors.values() if actor.name in (a.sibling, a.parent)]


def _clear_of_relatives(h: Harness, actor: Actor, code: str) -> bool:
    """No relative of the actor reads ``code`` or anything under it."""
    return not any(p.startswith(code) or code.startswith(p)
                   for r in _relatives(h, actor) for p in r.prefixes)


def _only_its_lineage(h: Harness, grid: str, code: str) -> bool:
    """Every actor reading anything under ``code`` reads ``grid`` too, from above it: none
    would see the grid's target without reading it (``two_counties`` is that case)."""
    return all(grid.startswith(p) for a in h.actors.values() for p in a.prefixes
               if p.startswith(code) or code.startswith(p))


def directive_targets(h: Harness, actor: Actor) -> list[dict[str, Any]]:
    """The targets of the actor's own directive: its case grid as a grid list and, where no
    relative and no other branch reads anything of them, the grid's village as a subtree and
    every village of the grid's township (the grid is then reached twice and still gets one
    assignment). Like the case, it lies where no relative may read it, so their calls with its
    id must answer 404."""
    grid = h.case_grids[actor.name]
    targets: list[dict[str, Any]] = [{"grids": [grid]}]
    village, township = grid[:12], grid[:9]
    for code, target in ((village, {"subtree": village}),
                         (township, {"level": "village", "under": township})):
        if (actor.in_scope(code) and _clear_of_relatives(h, actor, code)
                and _only_its_lineage(h, grid, code)):
            targets.append(target)
    return targets


def _issue(client: Any, issuer: Actor, title: str, targets: list[dict[str, Any]],
           attachments: list[int] | None = None) -> dict[str, Any]:
    r = client.post("/api/v1/directives", headers={"Authorization": f"Bearer {issuer.token}"},
                    json={"title": title, "body": "scope harness directive", "kind": "task",
                          "targets": targets, "attachments": attachments or []})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _assignment_at(client: Any, reader: Actor, directive_id: int, code: str) -> dict[str, Any]:
    r = client.get("/api/v1/assignments", headers={"Authorization": f"Bearer {reader.token}"},
                   params={"directive": directive_id, "region": code})
    assert r.status_code == 200, r.text
    items = [a for a in r.json()["items"] if a["region_code"] == code]
    assert len(items) == 1, (directive_id, code, r.json())
    return dict(items[0])


def seed_directives(h: Harness, client: Any) -> None:
    """Issues one directive per actor to its own case grid (``directive_targets``), as the
    actor or, for those that may not issue, as the county above them; records the directive and
    the assignment at that grid. Then two of the city's that are nobody's own:

    - ``reach_down``: to county_a's whole subtree, with a photo attached — every actor under
      county_a reads it, with the city's code as its issuing region (an ancestor: allowed);
    - ``two_counties``: to county_a's and county_b's case grids, one target each — each county
      reads it, and must not learn the other county's target from it.
    """
    from tests.factories import png_bytes

    for actor in h.actors.values():
        if not actor.prefixes or actor.name not in h.case_grids:
            continue
        issuer = h.actors[DIRECTIVE_ISSUERS.get(actor.name, actor.name)]
        d = _issue(client, issuer, f"harness {actor.name}", directive_targets(h, actor))
        h.directives[actor.name] = d["id"]
        h.assignments[actor.name] = _assignment_at(
            client, issuer, d["id"], h.case_grids[actor.name])["id"]
    city = h.actors["city"]
    photo = client.post("/api/v1/photos", headers={"Authorization": f"Bearer {city.token}"},
                        files={"file": ("d.png", png_bytes(2, 2), "image/png")})
    assert photo.status_code == 201, photo.text
    h.city_directives["reach_down"] = _issue(
        client, city, "harness reach down", [{"subtree": h.actors["county_a"].home}],
        attachments=[photo.json()["id"]])["id"]
    h.city_directives["two_counties"] = _issue(
        client, city, "harness two counties",
        [{"grids": [h.case_grids["county_a"]]}, {"grids": [h.case_grids["county_b"]]}])["id"]


# --- Filling a route's parameters --------------------------------------------------------------

# kind: "own" (the caller's data), "sibling" (the sibling region's), "above" (the parent's).
Filler = Callable[[Harness, Actor, str], str | None]


def _actor_for(h: Harness, actor: Actor, kind: str) -> Actor | None:
    if kind == "own":
        return actor
    other = actor.sibling if kind == "sibling" else actor.parent
    return h.actors[other] if other else None


def _region(h: Harness, actor: Actor, kind: str) -> str | None:
    if kind == "above":
        return h.parents.get(actor.home)
    other = _actor_for(h, actor, kind)
    return other.home if other else None


def _account(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(other.account_id) if other else None


def _post(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(other.post_id) if other and other.post_id else None


def _lng(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind) if kind != "above" else None
    return str(other.point[0]) if other and other.point else None


def _lat(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind) if kind != "above" else None
    return str(other.point[1]) if other and other.point else None


def _case(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(h.cases[other.name]) if other and other.name in h.cases else None


def _photo(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(h.photos[other.name]) if other and other.name in h.photos else None


def _directive(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(h.directives[other.name]) if other and other.name in h.directives else None


def _assignment(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(h.assignments[other.name]) if other and other.name in h.assignments else None


def _resident(h: Harness, actor: Actor, kind: str) -> str | None:
    other = _actor_for(h, actor, kind)
    return str(h.residents[other.name]) if other and other.name in h.residents else None


# --- Residents: one of its own for every actor ---------------------------------------------------

# Who registers an actor's resident when the actor itself may not (no registry:write).
RESIDENT_REGISTRARS = {"station_a": "county_a", "station_b": "county_a", "reader": "county_a"}


def seed_residents(h: Harness, client: Any) -> None:
    """Registers one resident per actor at the actor's case grid (whose ID number and phone
    the harness then looks for in answers like any other code)."""
    from datetime import date

    from wangge.registry.idnumber import make

    for i, actor in enumerate(h.actors.values()):
        grid = h.case_grids.get(actor.name)
        if grid is None:
            continue
        registrar = h.actors[RESIDENT_REGISTRARS.get(actor.name, actor.name)]
        r = client.post("/api/v1/residents",
                        headers={"Authorization": f"Bearer {registrar.token}"},
                        json={"grid_code": grid, "name": f"harness {actor.name}",
                              "id_number": make(grid[:6], date(1980, 1, 1 + i), 100 + i),
                              "phone": f"1380000{i:04d}"})
        assert r.status_code == 201, r.text
        h.residents[actor.name] = r.json()["id"]
        _seed_entries(h, client, actor, registrar, grid, i)


def _seed_entries(h: Harness, client: Any, actor: Actor, registrar: Actor, grid: str,
                  i: int) -> None:
    """The actor's household (at a room of a building), tag, key place, enterprise, compound,
    a home visit and a visit plan, all at its case grid."""
    from wangge.registry import creditcode

    auth = {"Authorization": f"Bearer {registrar.token}"}

    def add(kind: str, path: str, body: dict[str, Any]) -> int:
        r = client.post(path, headers=auth, json=body)
        assert r.status_code == 201, f"{kind} for {actor.name}: {r.text}"
        h.entries.setdefault(kind, {})[actor.name] = r.json()["id"]
        return int(r.json()["id"])

    building = add("address", "/api/v1/addresses", {
        "grid_code": grid, "kind": "building", "label": f"harness {actor.name} 1号楼"})
    room = add("room", "/api/v1/addresses", {"grid_code": grid, "kind": "room",
                                             "label": "101室", "parent_id": building})
    household = add("household", "/api/v1/households", {"grid_code": grid, "address_id": room})
    add("tag", f"/api/v1/residents/{h.residents[actor.name]}/tags",
        {"category": "left_behind", "level": "low"})
    add("place", "/api/v1/places", {"grid_code": grid, "category": "hotel",
                                    "name": f"harness {actor.name}",
                                    "responsible_phone": f"1390000{i:04d}"})
    add("enterprise", "/api/v1/enterprises", {
        "grid_code": grid, "name": f"harness {actor.name}",
        "credit_code": creditcode.make("91", grid[:6], f"HARNES{i:03d}".replace("S", "T"))})
    add("compound", "/api/v1/compounds", {"grid_code": grid, "name": f"harness {actor.name}"})
    add("visit", "/api/v1/visits", {"client_uuid": str(uuid.uuid4()), "household_id": household})
    add("plan", "/api/v1/visit-plans", {"region_code": grid, "name": f"harness {actor.name}",
                                        "kind": "patrol", "interval_days": 7})


def _entry(kind: str) -> Filler:
    """The id of the actor's (or its relative's) registry entry of this kind."""
    def fill(h: Harness, actor: Actor, relation: str) -> str | None:
        other = _actor_for(h, actor, relation)
        ids = h.entries.get(kind, {})
        return str(ids[other.name]) if other and other.name in ids else None
    return fill




def _resident_elsewhere(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
    """A resident at the sibling's or the parent's case grid; the caller's own call sends an
    empty body (a valid one would be stored: writes here must all fail)."""
    if kind == "own":
        return {}
    other = _actor_for(h, actor, kind)
    if other is None or other.name not in h.case_grids:
        return None
    return {"grid_code": h.case_grids[other.name], "name": "harness elsewhere"}


def _visit_elsewhere(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
    """A visit to the sibling's or the parent's resident (own: an empty body)."""
    if kind == "own":
        return {}
    other = _actor_for(h, actor, kind)
    if other is None or other.name not in h.residents:
        return None
    return {"client_uuid": str(uuid.uuid4()), "resident_id": h.residents[other.name]}


def _entry_elsewhere(**extra: Any) -> Callable[[Harness, Actor, str], dict[str, Any] | None]:
    """A registry entry at the sibling's or the parent's case grid (own: an empty body)."""
    def fill(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
        if kind == "own":
            return {}
        other = _actor_for(h, actor, kind)
        if other is None or other.name not in h.case_grids:
            return None
        grid = h.case_grids[other.name]
        return {"region_code" if "region_code" in extra else "grid_code": grid,
                **{k: v for k, v in extra.items() if k != "region_code"}}
    return fill


def _own_only(value: str) -> Filler:
    """A value that names nothing of a region: walked once, as the caller's own."""
    return lambda h, a, k: value if k == "own" else None


# Path parameters: every one a route declares must have a filler here (else the harness fails).
PATH_FILLERS: dict[str, Filler] = {
    "code": _region, "account_id": _account, "post_id": _post,
    "case_id": _case, "photo_id": _photo, "action": lambda h, a, k: "accept",
    "directive_id": _directive, "assignment_id": _assignment, "resident_id": _resident,
    "category_code": _own_only("99"), "day": _own_only("2026-10-01"),
    "household_id": _entry("household"), "place_id": _entry("place"),
    "enterprise_id": _entry("enterprise"), "compound_id": _entry("compound"),
    "tag_id": _entry("tag"), "plan_id": _entry("plan"),
}
# Query parameters: required ones must have a filler; optional ones are filled when listed.
QUERY_FILLERS: dict[str, Filler] = {
    "lng": _lng, "lat": _lat, "region": _region, "subtree": _region,
    "include_self": lambda h, a, k: "true", "year": lambda h, a, k: "2026",
    "directive": _directive, "grid": _region, "resident": _resident,
}


def _report_elsewhere(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
    """A report at the sibling's or the parent's case grid; the caller's own call sends an
    empty body (a valid report would store a case: writes here must all fail)."""
    if kind == "own":
        return {}
    other = _actor_for(h, actor, kind)
    if other is None or other.name not in h.case_grids:
        return None
    return {"client_uuid": str(uuid.uuid4()), "category_code": "99", "title": "harness",
            "description": "a report outside the caller's area",
            "grid_code": h.case_grids[other.name]}


def _targets_elsewhere(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
    """Targets at the sibling's or the parent's case grid (must be refused: 403 without
    directive:issue, else 422); the caller's own call sends an empty body (a valid one would
    issue a directive: writes here must all fail)."""
    if kind == "own":
        return {}
    other = _actor_for(h, actor, kind)
    if other is None or other.name not in h.case_grids:
        return None
    return {"targets": [{"grids": [h.case_grids[other.name]]}]}


def _directive_elsewhere(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
    targets = _targets_elsewhere(h, actor, kind)
    if not targets:
        return targets
    return {**targets, "title": "harness", "body": "a directive outside the caller's area"}


def _remind(h: Harness, actor: Actor, kind: str) -> dict[str, Any] | None:
    """Own: a reminder under the region above the caller's (out of its scope: 404, nothing
    reminded); sibling and parent: a valid reminder, which must 404 on the directive."""
    if kind == "own":
        above = h.parents.get(actor.home)
        return {"region": above} if above else None
    return {}


# JSON bodies of writes, per kind (None: no call of that kind); other writes send ``{}``.
BODY_FILLERS: dict[str, Callable[[Harness, Actor, str], dict[str, Any] | None]] = {
    # A version no case has: the case's own readers get 409, everyone else 404 (or 403).
    "POST /api/v1/cases/{case_id}/actions/{action}": lambda h, a, k: {"version": 10**6},
    "POST /api/v1/cases": _report_elsewhere,
    "POST /api/v1/directives": _directive_elsewhere,
    "POST /api/v1/directives/preview": _targets_elsewhere,
    "POST /api/v1/directives/{directive_id}/remind": _remind,
    # Own: an empty comment (422: a valid one would be stored); elsewhere a valid one (404).
    "POST /api/v1/directives/{directive_id}/comments":
        lambda h, a, k: {} if k == "own" else {"text": "harness"},
    # A version no assignment has: the unit's readers get 409, everyone else 404 (or 403).
    "POST /api/v1/assignments/{assignment_id}/actions/{action}":
        lambda h, a, k: {"version": 10**6},
    "POST /api/v1/residents": _resident_elsewhere,
    "POST /api/v1/visits": _visit_elsewhere,
    "POST /api/v1/addresses": _entry_elsewhere(kind="building", label="harness elsewhere"),
    "POST /api/v1/households": _entry_elsewhere(),
    "POST /api/v1/places": _entry_elsewhere(category="hotel", name="harness elsewhere"),
    "POST /api/v1/enterprises": _entry_elsewhere(name="harness elsewhere"),
    "POST /api/v1/compounds": _entry_elsewhere(name="harness elsewhere"),
    "POST /api/v1/visit-plans": _entry_elsewhere(region_code=True, name="harness elsewhere",
                                                 kind="places"),
    # Own: an empty tag (422: a valid one would be stored); elsewhere a valid one (404).
    "POST /api/v1/residents/{resident_id}/tags":
        lambda h, a, k: {} if k == "own" else {"category": "left_behind", "level": "low"},
    # A version no entry has: its own readers get 409, everyone else 404 (or 403).
    **{f"PATCH /api/v1/{path}": lambda h, a, k: {"version": 10**6} for path in (
        "households/{household_id}", "places/{place_id}", "enterprises/{enterprise_id}",
        "compounds/{compound_id}", "resident-tags/{tag_id}", "visit-plans/{plan_id}")},
}


# --- Finding region codes in a response --------------------------------------------------------

# Runs of 6-15 digits (county to grid codes) anywhere; shorter codes only as a whole value.
DIGIT_RUN = re.compile(r"(?<!\d)\d{6,15}(?!\d)")
# Random identifiers (UUIDs, hex digests, photo keys) can hold a run of digits that happens to
# equal a region code: they are blanked before the scan. A region code never sits inside one.
RANDOM_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{12}|(?<![0-9a-zA-Z])[0-9a-f]{24,}(?![0-9a-zA-Z])")


def _strings(value: Any) -> Iterator[str]:
    # Region codes are strings by contract; numbers (counts, ids, coordinates) are skipped.
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def region_codes_in(body: str, content_type: str, known: frozenset[str]) -> set[str]:
    """Every region code (of the database's regions) that appears in a response body.

    JSON is walked string by string (keys too); HTML and text are scanned whole. A code counts
    wherever it appears: as a value, inside a link (/regions/410702) or inside an organisation
    code (PS410702001).
    """
    texts: list[str]
    whole: list[str] = []
    if "json" in content_type:
        try:
            texts = list(_strings(json.loads(body)))
            whole = [t for t in texts if t.isdigit()]
        except ValueError:
            texts = [body]
    else:
        texts = [body]
    found = {t for t in whole if t in known}
    for t in texts:
        found.update(m for m in DIGIT_RUN.findall(RANDOM_ID.sub(" ", t)) if m in known)
    return found


def leaks(h: Harness, actor: Actor, body: str, content_type: str, request_url: str,
          request_body: Any = None) -> set[str]:
    """Region codes in the response that the actor may not see.

    Allowed: codes in the actor's scope, codes strictly above it (breadcrumbs: names of the
    ancestors are not secret) and codes the request itself carried (a 404 may echo them) —
    in its URL or in the JSON body the caller sent: a refusal may name the code the caller
    typed (``targets.0.grids: 410703001006001 is not a grid in your scope``), which tells it
    nothing it did not send, as long as the answer for an existing code outside the scope is
    the same as for a code that does not exist (``TestDirectives`` checks that it is).
    """
    echoed = set(DIGIT_RUN.findall(request_url))
    if request_body is not None:
        echoed |= {m for t in _strings(request_body) for m in DIGIT_RUN.findall(t)}
        echoed |= {t for t in _strings(request_body) if t.isdigit()}
    return {c for c in region_codes_in(body, content_type, h.region_codes)
            if not actor.in_scope(c) and not actor.above_scope(c) and c not in echoed}
