"""Shared fixtures. Every database test runs on SQLite and, when WANGGE_TEST_DATABASE_URL is set,
on PostgreSQL (each test in a schema of its own, dropped afterwards)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from wangge.config import normalise_database_url
from wangge.kit import migrate
from wangge.kit.db import sync_url

PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="WANGGE_TEST_DATABASE_URL not set"))]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    url = make_url(normalise_database_url(PG_URL))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    if PG_URL and created:
        engine = create_engine(sync_url(normalise_database_url(PG_URL)))
        with engine.begin() as conn:
            for schema in created:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def fresh_database(backend: str, directory: Path, pg_schemas: list[str]) -> str:
    """An empty, migrated database; returns its async URL."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / f'{uuid.uuid4().hex}.db'}"
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        engine = create_engine(sync_url(normalise_database_url(PG_URL or "")))
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        pg_schemas.append(schema)
        url = _pg_schema_url(schema)
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

    asyncio.run(build())
    return url
