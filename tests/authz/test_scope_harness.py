"""The scope harness: every route of the app, walked as users of two sibling regions at every
level, a police-station officer, a read-only analyst and a user with no post. It fails on any
response that shows a region code outside the caller's scope (or above it: breadcrumbs only).

New routes are picked up automatically: the routes come from ``create_app().routes``. A route
whose parameters the harness cannot fill fails with a message saying where to add a filler.
Decision 0010 describes what counts as a leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount
from tests.authz.harness_support import (
    BODY_FILLERS,
    PATH_FILLERS,
    QUERY_FILLERS,
    Actor,
    Harness,
    build_harness,
    clone_database,
    leaks,
    seed_cases,
    seed_directives,
    seed_residents,
)

from wangge.app import create_app
from wangge.config import Settings
from wangge.kit.web import Authorizer

# Routes the harness does not walk, each with the reason. Everything else is walked.
PUBLIC: dict[str, str] = {
    "/openapi.json": "the API description: no data",
    "/docs": "Swagger UI page: static, no data",
    "/docs/oauth2-redirect": "Swagger UI helper: static, no data",
    "/redoc": "ReDoc page: static, no data",
    "/healthz": "liveness probe: a version string, no data",
    "/readyz": "readiness probe: a version string, no data",
    "/login": "the log-in form and its submission: public by design",
    "/api/v1/auth/token": "API log-in: public by design (tested in tests/auth)",
}
MOUNTS: dict[str, str] = {"/static": "CSS, scripts and vendored libraries: no data"}
# Endless responses: checked for 401 without a token only; their scope filtering is tested by
# the stream tests (events of other regions are never delivered).
STREAMING: dict[str, str] = {"/api/v1/stream": "Server-Sent Events never end"}
# Writes that act only on the caller's own session and so may succeed with an empty body.
SELF_SERVICE_WRITES: dict[str, str] = {
    "/api/v1/auth/logout": "ends the caller's own session",
    "/logout": "ends the caller's own cookie session",
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
KINDS = ("own", "sibling", "above")


@dataclass(frozen=True)
class Walk:
    """One route and method as the harness calls it."""

    path: str
    method: str
    path_params: tuple[str, ...]
    required_query: tuple[str, ...]
    optional_query: tuple[str, ...]
    has_body: bool
    permission: str | None
    is_page: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _permission(route: APIRoute) -> str | None:
    """The permission an ``Authorizer`` dependency of the route demands, if any."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Authorizer):
            return dep.call.permission
        stack.extend(dep.dependencies)
    return None


def _params(route: APIRoute) -> tuple[list[Any], list[Any]]:
    """The path and query parameters of the route and of all its dependencies."""
    path: dict[str, Any] = {}
    query: dict[str, Any] = {}
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        path.update((p.name, p) for p in dep.path_params)
        query.update((q.alias, q) for q in dep.query_params)
        stack.extend(dep.dependencies)
    return list(path.values()), list(query.values())


def walks(app: Any) -> list[Walk]:
    """Every route and method of the app the harness must walk; unknown route types fail."""
    out: list[Walk] = []
    # Routes of included routers, each with its full path (what the OpenAPI generator walks).
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        if isinstance(route, Mount):
            assert path in MOUNTS, (
                f"mount {path} is not known to the scope harness: add it to MOUNTS in "
                "tests/authz/test_scope_harness.py with the reason it holds no scoped data")
            continue
        if path in PUBLIC:
            continue
        assert isinstance(route, APIRoute), (
            f"route {path} ({type(route).__name__}) is not an APIRoute: the scope harness "
            "cannot tell its parameters; make it an APIRoute or list it in PUBLIC with a reason")
        path_params, query = _params(route)
        for method in sorted(set(context.methods or ()) - {"HEAD", "OPTIONS"}):
            out.append(Walk(
                path=path, method=method,
                path_params=tuple(p.name for p in path_params),
                required_query=tuple(q.alias for q in query if q.field_info.is_required()),
                optional_query=tuple(q.alias for q in query if not q.field_info.is_required()
                                     and q.alias in QUERY_FILLERS),
                has_body=route.body_field is not None,
                permission=_permission(route),
                is_page=not path.startswith("/api/"),
            ))
    return out


ROUTES = walks(create_app(Settings(database_url="sqlite+aiosqlite://")))


@pytest.fixture(scope="module")
def harness(xinxiang: str, pg_schemas: list[str], tmp_path_factory: pytest.TempPathFactory
            ) -> Harness:
    """The demo database, copied once per backend, with the harness accounts."""
    url = clone_database(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("harness")))
    return build_harness(url)


@pytest.fixture(scope="module")
def client(harness: Harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on the harness database; every actor gets a case of its own (with a photo), a
    directive of its own (with the assignment at the case's grid) and a resident there."""
    photos = Path(tmp_path_factory.mktemp("harness-photos"))
    with TestClient(create_app(Settings(database_url=harness.url, photo_dir=photos)),
                    follow_redirects=False) as c:
        if not harness.cases:
            seed_cases(harness, c)
        if not harness.directives:
            seed_directives(harness, c)
        if not harness.residents:
            seed_residents(harness, c)
        yield c


def _fill(walk: Walk, h: Harness, actor: Actor, kind: str
          ) -> tuple[str, dict[str, str], Any] | None:
    """The URL, query and JSON body of one call, or None when the actor has no such
    relative."""
    path = walk.path
    for name in walk.path_params:
        filler = PATH_FILLERS.get(name)
        if filler is None:
            pytest.fail(f"{walk.id}: the scope harness cannot fill path parameter {name!r}; "
                        "add a filler to PATH_FILLERS in tests/authz/harness_support.py")
        value = filler(h, actor, kind)
        if value is None:
            return None
        path = path.replace("{" + name + "}", value)
    query: dict[str, str] = {}
    for name in (*walk.required_query, *walk.optional_query):
        filler = QUERY_FILLERS.get(name)
        if filler is None:
            pytest.fail(f"{walk.id}: the scope harness cannot fill required query parameter "
                        f"{name!r}; add a filler to QUERY_FILLERS in "
                        "tests/authz/harness_support.py")
        value = filler(h, actor, kind)
        if value is None:
            if name in walk.required_query:
                return None
            continue
        query[name] = value
    body: Any = None
    if walk.method in WRITE_METHODS and walk.has_body:
        make_body = BODY_FILLERS.get(walk.id)
        body = make_body(h, actor, kind) if make_body else {}
        if body is None:
            return None
    if kind != "own" and not walk.path_params and not query and walk.id not in BODY_FILLERS:
        return None  # nothing names the sibling: the own call covers it
    return path, query, body


def _expected(walk: Walk, actor: Actor, kind: str) -> set[int] | None:
    """Statuses the call may answer with (None: any non-5xx status, leaks still checked)."""
    if walk.permission and not actor.prefixes:
        return {404}  # no post, no data: nothing exists for such a caller (kit.web.Authorizer)
    if walk.permission and walk.permission not in actor.permissions:
        return {403}
    if walk.method in WRITE_METHODS:
        if walk.path in SELF_SERVICE_WRITES:
            return None
        return {403, 404, 409, 422}
    if kind != "own" and walk.path_params:
        return {404}
    if kind == "own" and actor.full:
        return {200, 303}
    return None


@pytest.mark.parametrize("walk", ROUTES, ids=[w.id for w in ROUTES])
def test_route_shows_nothing_outside_the_callers_scope(walk: Walk, harness: Harness,
                                                       client: TestClient) -> None:
    if walk.path in STREAMING:
        pytest.skip(STREAMING[walk.path])
    failures: list[str] = []
    calls = 0
    for actor in harness.actors.values():
        for kind in KINDS:
            filled = _fill(walk, harness, actor, kind)
            if filled is None:
                continue
            path, query, sent = filled
            write = walk.method in WRITE_METHODS
            token = actor.write_tokens.pop() if write else actor.token
            response = client.request(
                walk.method, path, params=query, headers={"Authorization": f"Bearer {token}"},
                json=sent,
            )
            calls += 1
            where = f"{actor.name} ({kind}) {walk.method} {response.request.url}"
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code}")
                continue
            expected = _expected(walk, actor, kind)
            if expected is not None and response.status_code not in expected:
                failures.append(f"{where}: status {response.status_code}, expected "
                                f"{sorted(expected)}: {response.text[:200]}")
            body = response.text + " " + response.headers.get("location", "")
            found = leaks(harness, actor, body, response.headers.get("content-type", ""),
                          str(response.request.url), sent)
            if found:
                failures.append(f"{where}: LEAK of {sorted(found)[:10]} "
                                f"(scope {actor.prefixes})")
    assert calls, f"{walk.id}: the harness made no call"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("walk", ROUTES, ids=[w.id for w in ROUTES])
def test_route_refuses_a_caller_without_a_token(walk: Walk, harness: Harness,
                                                client: TestClient) -> None:
    actor = harness.actors["county_a"]
    filled = _fill(walk, harness, actor, "own")
    assert filled is not None
    path, query, body = filled
    response = client.request(walk.method, path, params=query,
                              json=body if walk.has_body else None)
    if walk.is_page:
        # Pages send the browser to the log-in page (a form post may fail its CSRF check first).
        assert response.status_code in ((303,) if walk.method == "GET" else (303, 401, 403))
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login")
    else:
        assert response.status_code == 401, response.text


class TestSiblings:
    """The harness's premises, spelled out on the routes of the region tree."""

    @pytest.mark.parametrize(("a", "b"), [("county_a", "county_b"), ("township_a", "township_b"),
                                          ("village_a", "village_b"), ("grid_a", "grid_b"),
                                          ("station_a", "station_b")])
    def test_a_sibling_region_answers_404_and_its_own_answers_200(
        self, a: str, b: str, harness: Harness, client: TestClient
    ) -> None:
        me, sibling = harness.actors[a], harness.actors[b]
        auth = {"Authorization": f"Bearer {me.token}"}
        assert client.get(f"/api/v1/regions/{me.home}", headers=auth).status_code == 200
        for suffix in ("", "/children", "/geometry", "/staff"):
            r = client.get(f"/api/v1/regions/{sibling.home}{suffix}", headers=auth)
            assert r.status_code == 404, (suffix, r.text)
        assert client.get(f"/regions/{sibling.home}", headers=auth).status_code == 404

    def test_a_point_in_a_sibling_grid_is_not_located(self, harness: Harness,
                                                      client: TestClient) -> None:
        me, sibling = harness.actors["grid_a"], harness.actors["grid_b"]
        auth = {"Authorization": f"Bearer {me.token}"}
        assert me.point and sibling.point
        mine = client.get("/api/v1/grids/locate", headers=auth,
                          params={"lng": me.point[0], "lat": me.point[1]})
        assert mine.status_code == 200 and mine.json()["code"] == me.home
        theirs = client.get("/api/v1/grids/locate", headers=auth,
                            params={"lng": sibling.point[0], "lat": sibling.point[1]})
        assert theirs.status_code == 404

    def test_breadcrumbs_name_the_ancestors_but_their_data_stays_hidden(
        self, harness: Harness, client: TestClient
    ) -> None:
        me = harness.actors["village_a"]
        auth = {"Authorization": f"Bearer {me.token}"}
        region = client.get(f"/api/v1/regions/{me.home}", headers=auth).json()
        assert [a["code"] for a in region["ancestors"]] == [
            me.home[:n] for n in (2, 4, 6, 9)]
        for code in (me.home[:9], me.home[:6], "4107"):
            assert client.get(f"/api/v1/regions/{code}", headers=auth).status_code == 404
            assert client.get(f"/api/v1/regions/{code}/children",
                              headers=auth).status_code == 404

    def test_a_user_without_posts_sees_nothing(self, harness: Harness,
                                               client: TestClient) -> None:
        auth = {"Authorization": f"Bearer {harness.actors['nobody'].token}"}
        me = client.get("/api/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["posts"] == []
        assert client.get("/api/v1/regions/4107", headers=auth).status_code == 404
        assert client.get("/api/v1/accounts", headers=auth).status_code == 404

    def test_a_lower_level_user_lands_on_their_own_region(self, harness: Harness,
                                                          client: TestClient) -> None:
        me = harness.actors["township_a"]
        r = client.get("/", headers={"Authorization": f"Bearer {me.token}"})
        assert r.status_code == 303 and r.headers["location"] == f"/regions/{me.home}"

    def test_the_city_sees_both_siblings_accounts(self, harness: Harness,
                                                  client: TestClient) -> None:
        auth = {"Authorization": f"Bearer {harness.actors['city'].token}"}
        names = set()
        url: str | None = "/api/v1/accounts?limit=5"
        while url:
            page = client.get(url, headers=auth).json()
            names |= {a["username"] for a in page["items"]}
            url = (f"/api/v1/accounts?limit=5&after={page['next_cursor']}"
                   if page["next_cursor"] else None)
        assert {"harness_county_a", "harness_county_b", "harness_grid_b"} <= names
        auth_a = {"Authorization": f"Bearer {harness.actors['county_a'].token}"}
        seen = {a["username"] for a in client.get("/api/v1/accounts?limit=200",
                                                  headers=auth_a).json()["items"]}
        assert "harness_county_a" in seen and "harness_grid_a" in seen
        assert "harness_county_b" not in seen and "harness_city" not in seen


class TestCases:
    """The harness's case data, spelled out: every actor has a case of its own, which its
    sibling and the region below it cannot see."""

    def test_each_actor_reads_its_own_case_but_not_its_siblings_or_parents(
        self, harness: Harness, client: TestClient
    ) -> None:
        assert set(harness.cases) == {n for n, a in harness.actors.items() if a.prefixes}
        for actor in harness.actors.values():
            auth = {"Authorization": f"Bearer {actor.token}"}
            if actor.name in harness.cases:
                own = client.get(f"/api/v1/cases/{harness.cases[actor.name]}", headers=auth)
                assert own.status_code == 200, (actor.name, own.text)
                assert own.json()["region_code"] == harness.case_grids[actor.name]
            for other in (actor.sibling, actor.parent):
                if other and other in harness.cases:
                    r = client.get(f"/api/v1/cases/{harness.cases[other]}", headers=auth)
                    assert r.status_code == 404, (actor.name, other)
                    p = client.get(f"/api/v1/photos/{harness.photos[other]}", headers=auth)
                    assert p.status_code == 404, (actor.name, other)

    def test_a_stations_case_is_police_only(self, harness: Harness,
                                            client: TestClient) -> None:
        case = harness.cases["station_a"]
        for name, status in (("station_a", 200), ("county_a", 200), ("city", 200),
                             ("reader", 404), ("station_b", 404)):
            auth = {"Authorization": f"Bearer {harness.actors[name].token}"}
            r = client.get(f"/api/v1/cases/{case}", headers=auth)
            assert r.status_code == status, (name, r.text)
            listed = client.get("/api/v1/cases", headers=auth, params={"limit": 200})
            assert (case in [c["id"] for c in listed.json()["items"]]) == (status == 200), name
        station = client.get(f"/api/v1/cases/{case}", headers={
            "Authorization": f"Bearer {harness.actors['station_a'].token}"}).json()
        assert station["police_only"] is True and station["status"] == "dispatched"
        assert station["allowed_actions"] == ["start", "report_handled", "escalate",
                                              "request_extension"]

    def test_a_report_in_a_sibling_grid_is_refused_without_naming_it(
        self, harness: Harness, client: TestClient
    ) -> None:
        me, sibling = harness.actors["grid_a"], harness.actors["grid_b"]
        r = client.post("/api/v1/cases", headers={"Authorization": f"Bearer {me.token}"},
                        json={"client_uuid": "6d1f2a4e-0000-4000-8000-000000000001",
                              "category_code": "99", "title": "x", "description": "x",
                              "grid_code": harness.case_grids[sibling.name]})
        assert r.status_code == 422 and r.json()["field"] == "grid_code"
        assert harness.case_grids[sibling.name] not in r.json()["message"]
        r = client.get("/api/v1/cases/summary", headers={"Authorization": f"Bearer {me.token}"},
                       params={"subtree": sibling.home})
        assert r.status_code == 200 and r.json()["by_status"] == {}


class TestDirectives:
    """The harness's directive data, spelled out: every actor has a directive of its own with
    an assignment at its case grid, which its sibling and the region below it cannot see; the
    city's directives show the city's code to those below as an ancestor, never a sibling's."""

    def test_each_actor_reads_its_own_directive_but_not_its_siblings_or_parents(
        self, harness: Harness, client: TestClient
    ) -> None:
        assert set(harness.directives) == {n for n, a in harness.actors.items() if a.prefixes}
        for actor in harness.actors.values():
            if not actor.prefixes:
                continue  # no post: every directive route answers 404 (the walk checks it)
            auth = {"Authorization": f"Bearer {actor.token}"}
            listed = {d["id"] for d in client.get("/api/v1/directives", headers=auth,
                                                  params={"limit": 200}).json()["items"]}
            if actor.name in harness.directives:
                own = client.get(f"/api/v1/directives/{harness.directives[actor.name]}",
                                 headers=auth)
                assert own.status_code == 200, (actor.name, own.text)
                assert own.json()["counts"]["total"] >= 1
                assert harness.directives[actor.name] in listed
                a = client.get(f"/api/v1/assignments/{harness.assignments[actor.name]}",
                               headers=auth)
                assert a.status_code == 200, (actor.name, a.text)
                assert a.json()["region_code"] == harness.case_grids[actor.name]
            for other in (actor.sibling, actor.parent):
                if other and other in harness.directives:
                    d = harness.directives[other]
                    r = client.get(f"/api/v1/directives/{d}", headers=auth)
                    assert r.status_code == 404, (actor.name, other, r.text)
                    assert d not in listed, (actor.name, other)
                    r = client.get(f"/api/v1/assignments/{harness.assignments[other]}",
                                   headers=auth)
                    assert r.status_code == 404, (actor.name, other, r.text)
                    r = client.get("/api/v1/assignments", headers=auth,
                                   params={"directive": d})
                    assert r.json()["items"] == [], (actor.name, other)

    def test_the_citys_code_shows_below_as_an_ancestor_not_as_a_leak(
        self, harness: Harness, client: TestClient
    ) -> None:
        """A directive of the city to county_a's subtree names the city ("4107") as its issuing
        region to a grid user: strictly above the caller, allowed like a breadcrumb."""
        d = harness.city_directives["reach_down"]
        me = harness.actors["grid_a"]
        r = client.get(f"/api/v1/directives/{d}", headers={"Authorization": f"Bearer {me.token}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["region_code"], body["issuer_post"]) == ("4107", "commander@4107")
        assert body["targets"] == [{"subtree": harness.actors["county_a"].home}]
        assert body["counts"]["total"] == 1  # its own grid's assignment only
        assert not me.in_scope("4107") and me.above_scope("4107")
        assert leaks(harness, me, r.text, r.headers["content-type"], str(r.request.url)) == set()
        far = harness.actors["county_b"]
        assert client.get(f"/api/v1/directives/{d}", headers={
            "Authorization": f"Bearer {far.token}"}).status_code == 404

    def test_a_directive_to_two_counties_does_not_name_the_other_countys_target(
        self, harness: Harness, client: TestClient
    ) -> None:
        """Each county reads the city's directive (one of its grids is a target) but must not
        learn the other county's grid from ``targets``."""
        d = harness.city_directives["two_counties"]
        for me, other in (("county_a", "county_b"), ("county_b", "county_a")):
            actor = harness.actors[me]
            r = client.get(f"/api/v1/directives/{d}",
                           headers={"Authorization": f"Bearer {actor.token}"})
            assert r.status_code == 200, r.text
            assert r.json()["counts"]["total"] == 1
            assert harness.case_grids[other] not in r.text, (me, r.json()["targets"])
            assert leaks(harness, actor, r.text, r.headers["content-type"],
                         str(r.request.url)) == set()

    def test_a_refused_target_reads_the_same_whether_it_exists_or_not(
        self, harness: Harness, client: TestClient
    ) -> None:
        """Why ``leaks`` lets a refusal echo a code from the request body: the answer for a
        sibling's grid is the answer for a grid that does not exist."""
        me, sibling = harness.actors["grid_a"], harness.actors["grid_b"]
        missing = me.home[:12] + "999"
        assert missing not in harness.region_codes
        answers = []
        for code in (harness.case_grids[sibling.name], missing):
            for target in ({"grids": [code]}, {"subtree": code}):
                r = client.post("/api/v1/directives/preview", json={"targets": [target]},
                                headers={"Authorization": f"Bearer {me.token}"})
                answers.append((r.status_code, r.json()["field"],
                                r.json()["message"].replace(code, "CODE")))
        assert answers[:2] == answers[2:]
        assert {a[0] for a in answers} == {422}

    def test_whoever_reads_a_directive_may_open_its_attachment(
        self, harness: Harness, client: TestClient
    ) -> None:
        """The city attached a photo to its directive to county_a's subtree: the grid workers
        it reaches must be able to open it; another county must not."""
        d = harness.city_directives["reach_down"]
        city = {"Authorization": f"Bearer {harness.actors['city'].token}"}
        [photo] = client.get(f"/api/v1/directives/{d}", headers=city).json()["attachments"]
        assert client.get(f"/api/v1/photos/{photo}", headers=city).status_code == 200
        for name, status in (("grid_a", 200), ("county_a", 200), ("county_b", 404)):
            auth = {"Authorization": f"Bearer {harness.actors[name].token}"}
            assert client.get(f"/api/v1/directives/{d}", headers=auth).status_code == status
            r = client.get(f"/api/v1/photos/{photo}", headers=auth)
            assert r.status_code == status, (name, r.status_code, r.text)


class TestTheScanner:
    """The leak scanner itself: it finds codes where they show and ignores random ids."""

    CODES = frozenset({"410726", "410702001"})

    def test_codes_in_values_links_and_organisation_codes_are_found(self) -> None:
        from tests.authz.harness_support import region_codes_in

        body = '{"region": "410726", "link": "/regions/410702001", "org": "PS410726"}'
        assert region_codes_in(body, "application/json", self.CODES) == {"410726", "410702001"}
        assert region_codes_in("<a href='/regions/410726'>", "text/html", self.CODES) == {
            "410726"}

    def test_a_uuid_or_digest_that_holds_a_code_by_chance_is_not_a_leak(self) -> None:
        from tests.authz.harness_support import region_codes_in

        body = ('{"client_uuid": "0c1e2f3a-4107-4e26-a410-726b410726ee", '
                '"photo": "/api/v1/photos/ab410726cd0123456789abcdef012345"}')
        assert region_codes_in(body, "application/json", self.CODES) == set()
