"""Shared fixtures. Every database test runs on SQLite and, when WANGGE_TEST_DATABASE_URL is set,
on PostgreSQL (each test in a schema of its own, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from wangge.kit import migrate
from wangge.kit.cli import run_sync
from wangge.kit.scratch import create_schema, drop_schemas

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

# Cheap argon2 parameters for the suite (the default profile costs ~150 ms per log-in).
os.environ.setdefault("WANGGE_PASSWORD_PROFILE", "test")
# Apps under test run no periodic jobs unless a test asks (sweeps are called directly).
os.environ.setdefault("WANGGE_SCHEDULER", "false")
# Tests change sessions and grids behind the app's back: re-read them on every request (the
# caches themselves are tested in tests/kit/test_web_caches.py).
os.environ.setdefault("WANGGE_AUTH_CACHE_SECONDS", "0")
# Hundreds of apps start in this one process: frozen objects would never be collected.
os.environ.setdefault("WANGGE_GC_FREEZE", "false")
# A fixed PII key for the suite (never a production key): 32 bytes, base64.
os.environ.setdefault("WANGGE_PII_KEY", "dGVzdC1vbmx5LXBpaS1rZXktMzItYnl0ZXMtbG9uZyE=")
os.environ.setdefault("WANGGE_GRID_INDEX_CHECK_SECONDS", "0")

PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="WANGGE_TEST_DATABASE_URL not set"))]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    if PG_URL and created:
        drop_schemas(PG_URL, created)


def fresh_database(backend: str, directory: Path, pg_schemas: list[str]) -> str:
    """An empty, migrated database; returns its async URL."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / f'{uuid.uuid4().hex}.db'}"
    else:
        url, schema = create_schema(PG_URL or "", "t")
        pg_schemas.append(schema)
    migrate.upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path, pg_schemas: list[str]) -> str:
    """URL of an empty migrated database, once per backend."""
    return fresh_database(request.param, tmp_path, pg_schemas)


@pytest.fixture(scope="session", params=BACKENDS)
def xinxiang(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    pg_schemas: list[str],
) -> str:
    """URL of a database holding the whole Xinxiang demo (read-only for tests), per backend."""
    from wangge.demo import prepare
    from wangge.kit.db import create_engine as create_async

    url = fresh_database(request.param, tmp_path_factory.mktemp("xinxiang"), pg_schemas)

    async def build() -> None:
        engine = create_async(url)
        try:
            await prepare(engine, seed=7)
        finally:
            await engine.dispose()

    run_sync(build)
    return url


def insert_plain_grids(url: str, city: str = "4107", seed: int = 0) -> int:
    """Loads a city's divisions and adds 1-2 grid rows per village (no shapes); returns grids."""
    import random

    from sqlalchemy import insert, select

    from wangge.kit.db import create_engine as create_async
    from wangge.kit.db import utcnow
    from wangge.models import Region
    from wangge.org.divisions import Selection
    from wangge.org.service import org_service

    async def build() -> int:
        engine = create_async(url)
        try:
            await org_service.load_divisions(engine, Selection(province=city[:2], city=city))
            rng = random.Random(seed)
            async with engine.begin() as conn:
                villages = (await conn.execute(
                    select(Region.code, Region.urban)
                    .where(Region.level == "village", Region.code.startswith(city))
                    .order_by(Region.code)
                )).all()
                rows = [
                    {"code": f"{code}{i:03d}", "parent_code": code, "level": "grid",
                     "name": f"第{i}网格", "kind": "urban" if urban else "rural", "urban": urban,
                     "synthetic": True, "created_at": utcnow()}
                    for code, urban in villages
                    for i in range(1, 2 + (rng.random() < 0.18))
                ]
                await conn.execute(insert(Region), rows)
            return len(rows)
        finally:
            await engine.dispose()

    return run_sync(build)


@pytest.fixture(scope="session")
def city_token(xinxiang: str) -> str:
    """A bearer token of a city-level user (admin + commander at 4107) on the ``xinxiang`` DB.

    The account is the one row tests add to that DB; it is created once per backend."""
    from fastapi.testclient import TestClient
    from tests.factories import CITY_POSTS, CITY_USER, bearer_token, ensure_account

    from wangge.app import create_app
    from wangge.config import Settings

    ensure_account(xinxiang, CITY_USER, posts=CITY_POSTS, person_name="测试市级用户")
    with TestClient(create_app(Settings(database_url=xinxiang))) as client:
        return bearer_token(client, CITY_USER)


@pytest.fixture
def city_client(xinxiang: str, city_token: str) -> Iterator[TestClient]:
    """A TestClient on the ``xinxiang`` DB, logged in (bearer) as the city-level user."""
    from fastapi.testclient import TestClient

    from wangge.app import create_app
    from wangge.config import Settings

    with TestClient(create_app(Settings(database_url=xinxiang))) as client:
        client.headers["Authorization"] = f"Bearer {city_token}"
        yield client


@pytest.fixture
def city_with_grids(database: str) -> str:
    """URL of a database with Xinxiang's divisions and plain grid rows (fast staff tests)."""
    insert_plain_grids(database)
    return database
