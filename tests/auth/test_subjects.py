"""The request's subject from one query (``LIVE_SUBJECT``), on a session and on the direct pool,
is the subject ``subject_for`` builds from the account's posts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from tests.cases.support import DEMO_USERS

from wangge.auth.repository import AuthRepository, live_subject_rows_direct
from wangge.auth.subjects import subject_for, subject_from_token_rows
from wangge.auth.tokens import new_token, token_hash
from wangge.kit.db import create_direct_pool, create_engine, create_sessionmaker, utcnow
from wangge.models import Account, AuthSession

pytestmark = pytest.mark.anyio


async def test_one_query_builds_the_same_subject_as_the_posts(xinxiang: str) -> None:
    engine = create_engine(xinxiang)
    pool = create_direct_pool(xinxiang)
    if pool is not None:
        await pool.open()
    now = utcnow()
    try:
        async with create_sessionmaker(engine)() as session:
            accounts = (await session.execute(
                select(Account).where(Account.username.in_(DEMO_USERS)))).scalars().all()
            assert len(accounts) == len(DEMO_USERS)
            tokens = {a.username: new_token() for a in accounts}
            session.add_all(AuthSession(
                token_hash=token_hash(tokens[a.username]), account_id=a.id, kind="bearer",
                created_at=now, expires_at=now + timedelta(hours=1)) for a in accounts)
            await session.commit()
            for account in accounts:
                key = token_hash(tokens[account.username])
                expected = await subject_for(session, account, "10.0.0.1")
                rows = await AuthRepository(session).live_subject_rows(key, utcnow())
                found = subject_from_token_rows(rows, "10.0.0.1")
                assert found is not None and found[1] == expected, account.username
                assert found[0].kind == "bearer" and found[0].expires_at.tzinfo is not None
                if pool is not None:  # PostgreSQL: the same query on the direct pool
                    direct = subject_from_token_rows(
                        await live_subject_rows_direct(pool, key, utcnow()), "10.0.0.1")
                    assert direct == found, account.username
            # A revoked session has no subject, on either path (only this test's session is
            # revoked: the demo database is shared).
            key = token_hash(tokens[accounts[0].username])
            await session.execute(update(AuthSession).where(
                AuthSession.token_hash == key).values(revoked_at=utcnow()))
            await session.commit()
            assert subject_from_token_rows(
                await AuthRepository(session).live_subject_rows(key, utcnow())) is None
            if pool is not None:
                assert subject_from_token_rows(
                    await live_subject_rows_direct(pool, key, utcnow())) is None
    finally:
        if pool is not None:
            await pool.close()
        await engine.dispose()
