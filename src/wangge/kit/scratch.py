"""Scratch PostgreSQL schemas: an isolated, disposable namespace inside one database.

Tests and benchmarks run each database in a schema of its own (selected with ``search_path`` in
the URL), so they can share one PostgreSQL database and clean up after themselves.
"""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from wangge.config import normalise_database_url
from wangge.kit.db import sync_url


def create_schema(base_url: str, prefix: str = "scratch") -> tuple[str, str]:
    """Creates a fresh schema; returns (async URL pointing into it, schema name)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    base = normalise_database_url(base_url)
    engine = create_engine(sync_url(base))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schemas(base_url: str, schemas: list[str]) -> None:
    """Drops schemas, one transaction each (dropping many at once exhausts the lock table)."""
    engine = create_engine(sync_url(normalise_database_url(base_url)))
    for schema in schemas:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
