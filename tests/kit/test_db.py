from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from wangge.config import normalise_database_url
from wangge.kit.db import create_engine, create_sessionmaker, sync_url
from wangge.models import Region

pytestmark = pytest.mark.anyio


class TestUTCDateTime:
    async def test_round_trip_is_aware_utc(self, database: str) -> None:
        engine = create_engine(database)
        shanghai = timezone(timedelta(hours=8))
        stamp = datetime(2026, 11, 29, 20, 30, tzinfo=shanghai)
        async with create_sessionmaker(engine)() as session:
            session.add(Region(code="41", level="province", name="河南省", synthetic=False,
                               created_at=stamp))
            await session.commit()
            session.expunge_all()
            stored = await session.scalar(select(Region.created_at).where(Region.code == "41"))
        await engine.dispose()
        assert stored == datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
        assert stored is not None and stored.utcoffset() == timedelta(0)

    async def test_naive_datetime_is_refused(self, database: str) -> None:
        engine = create_engine(database)
        async with create_sessionmaker(engine)() as session:
            session.add(Region(code="41", level="province", name="河南省", synthetic=False,
                               created_at=datetime(2026, 11, 29, 12, 0)))  # noqa: DTZ001
            with pytest.raises(StatementError, match="naive datetime"):
                await session.commit()
        await engine.dispose()


class TestUrls:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
         ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
         ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
         ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db")],
    )
    def test_plain_urls_get_async_drivers(self, given: str, expected: str) -> None:
        assert normalise_database_url(given) == expected

    def test_sync_twin_for_migrations(self) -> None:
        assert sync_url("sqlite+aiosqlite:///var/x.db") == "sqlite:///var/x.db"
        assert sync_url("postgresql+asyncpg://u@h/db") == "postgresql+psycopg://u@h/db"
