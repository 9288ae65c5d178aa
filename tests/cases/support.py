"""A writable copy of the Xinxiang demo for the case API tests: the demo log-ins, a police-station
officer, a criminal investigator of the county bureau and a grid leader of the sibling grid, all
logged in on one app, plus helpers to report, act and read back.

Each test module opens its own world (``open_world``) once per backend; the ``xinxiang`` demo
itself stays read-only (the copy is made with the scope harness's ``clone_database``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, text, update
from tests.authz.harness_support import clone_database
from tests.factories import PASSWORD, bearer_token, create_account, png_bytes

from wangge.app import create_app
from wangge.cases.service import reference
from wangge.config import Settings
from wangge.demo import DEMO_GRID, DEMO_PASSWORD
from wangge.kit.calendar import Limit, WorkCalendar
from wangge.kit.db import sync_url
from wangge.models import CalendarDay, Case, Organisation, OrganisationCoverage

GRID = DEMO_GRID  # 410702002022003, the demo grid with all four "3+N" roles
VILLAGE, TOWNSHIP, COUNTY, CITY = GRID[:12], GRID[:9], GRID[:6], GRID[:4]
# Grids of the same village outside the demo team's grid (for scope and for isolated queues).
SIBLING_GRID = f"{VILLAGE}001"
QUIET_GRID = f"{VILLAGE}002"
BUREAU = "PB410702"  # 新乡市公安局红旗分局: the county's criminal investigators
DEMO_USERS = ("admin", "county", "township", "village", "grid-leader", "grid-deputy",
              "grid-member", "grid-support")
STATION_OFFICER = "ps-officer"
INVESTIGATOR = "pb-investigator"
SIBLING_LEADER = "sibling-leader"


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def stamp(value: str) -> datetime:
    """A timestamp of the API (ISO 8601 with an offset) that must be there."""
    return datetime.fromisoformat(value)


@dataclass
class World:
    """One app on a private copy of the demo database, with everyone logged in."""

    url: str
    client: TestClient
    station: str  # the police station serving GRID's township
    tokens: dict[str, str]
    engine: Engine
    limits: dict[str, dict[str, str]] = field(default_factory=dict)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, user: str, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self.auth(user))

    def report(self, user: str, category: str = "99", grid: str | None = GRID,
               **body: Any) -> httpx.Response:
        """POSTs a report (a new client UUID unless given) at ``grid`` (None: no grid_code)."""
        payload: dict[str, Any] = {
            "client_uuid": str(uuid.uuid4()), "category_code": category,
            "title": "测试事件", "description": "网格内发现的情况", **body}
        if grid is not None:
            payload.setdefault("grid_code", grid)
        return self.client.post("/api/v1/cases", json=payload, headers=self.auth(user))

    def new_case(self, user: str, category: str = "99", **body: Any) -> dict[str, Any]:
        r = self.report(user, category, **body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def act(self, user: str, case: dict[str, Any], action: str, **body: Any) -> httpx.Response:
        """POSTs an action at the case's version (``version=`` overrides it)."""
        body.setdefault("version", case["version"])
        return self.client.post(f"/api/v1/cases/{case['id']}/actions/{action}", json=body,
                                headers=self.auth(user))

    def step(self, user: str, case: dict[str, Any], action: str,
             **body: Any) -> dict[str, Any]:
        """An action that must succeed; returns the case after it."""
        r = self.act(user, case, action, **body)
        assert r.status_code == 200, f"{user} {action}: {r.status_code} {r.text}"
        return dict(r.json())

    def detail(self, user: str, case_id: int) -> dict[str, Any]:
        r = self.get(user, f"/api/v1/cases/{case_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def upload(self, user: str, content: bytes | None = None,
               name: str = "photo.png") -> httpx.Response:
        return self.client.post(
            "/api/v1/photos", headers=self.auth(user),
            files={"file": (name, png_bytes() if content is None else content,
                            "application/octet-stream")})

    def photo_id(self, user: str, content: bytes | None = None) -> int:
        r = self.upload(user, content)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def calendar(self) -> WorkCalendar:
        """The working-day calendar with this database's overrides."""
        with self.engine.connect() as conn:
            overrides = {d: k for d, k in conn.execute(select(CalendarDay.day,
                                                              CalendarDay.kind))}
        return WorkCalendar(overrides)

    def due(self, category: str, step: str, start: datetime) -> datetime:
        """When a step of a category that started at ``start`` is due."""
        return self.calendar().deadline(start, Limit.parse(self.limits[category][step]))

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Runs SQL on the world's database (test set-up only: simulating elapsed time)."""
        with self.engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []

    def update_case(self, case_id: int, **values: Any) -> None:
        """Changes a case's row behind the API's back (test set-up: simulating elapsed time)."""
        with self.engine.begin() as conn:
            conn.execute(update(Case).where(Case.id == case_id).values(**values)
                         .execution_options(synchronize_session=False))

    def events(self, case_id: int) -> list[str]:
        """The stream event types published for a case, oldest first."""
        rows = self.sql("SELECT type, payload FROM event_log WHERE type LIKE 'case.%' "
                        "ORDER BY id")
        return [t for t, payload in rows if json.loads(payload).get("id") == case_id]

    def audit(self, case_id: int) -> list[tuple[str, str | None, str | None]]:
        """(action, actor, post) of the audit records of a case, oldest first."""
        return [(a, actor, post) for a, actor, post in self.sql(
            "SELECT action, actor, post FROM audit_records WHERE target_type = 'case' "
            "AND target_id = :id ORDER BY id", id=str(case_id))]


def _station_serving(url: str, township: str) -> str:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            code = conn.scalar(
                select(Organisation.code)
                .join(OrganisationCoverage,
                      OrganisationCoverage.organisation_id == Organisation.id)
                .where(OrganisationCoverage.region_code == township,
                       Organisation.kind == "police_station")
                .order_by(Organisation.code).limit(1))
            bureau = conn.scalar(select(Organisation.kind).where(Organisation.code == BUREAU))
    finally:
        engine.dispose()
    assert code, f"no police station covers {township} in the demo"
    assert bureau == "police_bureau", f"{BUREAU} is not a police bureau in the demo"
    return str(code)


@contextmanager
def open_world(xinxiang: str, pg_schemas: list[str], directory: Path,
               **settings: Any) -> Iterator[World]:
    """A copy of the demo with the extra accounts, an app on it and every user logged in."""
    url = clone_database(xinxiang, pg_schemas, directory)
    station = _station_serving(url, TOWNSHIP)
    extra = {STATION_OFFICER: f"department_officer@{station}",
             INVESTIGATOR: f"department_officer@{BUREAU}",
             SIBLING_LEADER: f"grid_leader@{SIBLING_GRID}"}
    for username, post in extra.items():
        create_account(url, username, posts=[post], person_name=username)
    # Categories and the calendar are cached per process: drop another database's.
    reference.invalidate()
    app = create_app(Settings(database_url=url, photo_dir=directory / "photos", **settings))
    engine = create_engine(sync_url(url))
    try:
        with TestClient(app) as client:
            tokens = {u: bearer_token(client, u, DEMO_PASSWORD) for u in DEMO_USERS}
            tokens |= {u: bearer_token(client, u, PASSWORD) for u in extra}
            world = World(url, client, station, tokens, engine)
            categories = client.get("/api/v1/case-categories", headers=world.auth("admin"))
            world.limits = {c["code"]: c["limits"] for c in categories.json()}
            yield world
    finally:
        engine.dispose()
