"""Alembic environment: runs synchronously on the sync twin of the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from wangge import models  # noqa: F401  (registers tables)
from wangge.config import get_settings
from wangge.kit.db import Base, ensure_sqlite_dir, sync_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
url = sync_url(url)


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, render_as_batch=True,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    ensure_sqlite_dir(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
