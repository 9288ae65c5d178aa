"""Every query of the auth domain.

Authentication runs before a subject exists, so these look-ups are deliberately unscoped: they
read only the caller's own account, session and posts, the log-in attempts of one name or address,
and whether a region or organisation named in a new post exists.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.models import (
    Account,
    AuthSession,
    LoginAttempt,
    Organisation,
    OrganisationCoverage,
    Person,
    Post,
    Region,
)

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool


# Built once: composing a statement costs more than running it on a warm connection.
LIVE_SUBJECT = (
    select(AuthSession.id, AuthSession.kind, AuthSession.csrf_token, AuthSession.expires_at,
           Account.id, Account.username, Account.person_id, Post.role, Post.region_code,
           Organisation.id, Organisation.code, Organisation.kind,
           OrganisationCoverage.region_code)
    .select_from(AuthSession)
    .join(Account, Account.id == AuthSession.account_id)
    .outerjoin(Post, Post.person_id == Account.person_id)
    .outerjoin(Organisation, Organisation.id == Post.organisation_id)
    .outerjoin(OrganisationCoverage, OrganisationCoverage.organisation_id == Organisation.id)
    .where(AuthSession.token_hash == bindparam("token_hash"),
           AuthSession.revoked_at.is_(None), AuthSession.expires_at > bindparam("now"),
           Account.is_active.is_(True))
    .order_by(Post.id)
)


@functools.cache
def _live_subject_sql() -> str:
    """LIVE_SUBJECT as psycopg runs it (``%(token_hash)s``, ``%(now)s``)."""
    from sqlalchemy.dialects.postgresql.psycopg import dialect

    return str(LIVE_SUBJECT.compile(dialect=dialect()))


async def live_subject_rows_direct(pool: AsyncConnectionPool, token_hash: str,
                                   now: datetime) -> list[Any]:
    """``AuthRepository.live_subject_rows`` on the direct pool (PostgreSQL): the same query,
    prepared, without a session (a token's first request of a while is every report)."""
    async with pool.connection() as conn:
        cur = await conn.execute(_live_subject_sql(), {"token_hash": token_hash, "now": now},
                                 prepare=True)
        return list(await cur.fetchall())


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def live_session(
        self, token_hash: str, now: datetime
    ) -> tuple[AuthSession, Account] | None:
        """The unexpired, unrevoked session with this token hash and its active account."""
        row = (await self.session.execute(
            select(AuthSession, Account)
            .join(Account, Account.id == AuthSession.account_id)
            .where(AuthSession.token_hash == token_hash, AuthSession.revoked_at.is_(None),
                   AuthSession.expires_at > now, Account.is_active.is_(True))
        )).first()
        return (row[0], row[1]) if row else None

    async def live_subject_rows(self, token_hash: str, now: datetime) -> list[Any]:
        """Everything a request's subject is built from, in one query: the live session with
        this token hash and its active account, one row per post (with its organisation and
        each region the organisation covers). No rows: no such live session."""
        return list((await self.session.execute(
            LIVE_SUBJECT, {"token_hash": token_hash, "now": now})).all())

    async def posts_of(self, person_id: int) -> list[tuple[Post, Organisation | None]]:
        """A person's posts with their organisations."""
        rows = await self.session.execute(
            select(Post, Organisation)
            .outerjoin(Organisation, Organisation.id == Post.organisation_id)
            .where(Post.person_id == person_id)
            .order_by(Post.id)
        )
        return [(p, o) for p, o in rows]

    async def coverage(self, organisation_ids: list[int]) -> dict[int, list[str]]:
        """Regions each organisation covers (a police station's townships)."""
        if not organisation_ids:
            return {}
        rows = await self.session.execute(
            select(OrganisationCoverage.organisation_id, OrganisationCoverage.region_code)
            .where(OrganisationCoverage.organisation_id.in_(organisation_ids))
        )
        out: dict[int, list[str]] = {}
        for oid, code in rows:
            out.setdefault(oid, []).append(code)
        return out

    async def account_by_username(self, username: str) -> Account | None:
        """The account with this user name (active or not)."""
        return (await self.session.execute(
            select(Account).where(Account.username == username)
        )).scalar_one_or_none()

    async def person_by_staff_no(self, staff_no: str) -> Person | None:
        return (await self.session.execute(
            select(Person).where(Person.staff_no == staff_no)
        )).scalar_one_or_none()

    async def region_exists(self, code: str) -> bool:
        return (await self.session.execute(
            select(Region.code).where(Region.code == code)
        )).first() is not None

    async def organisation_by_code(self, code: str) -> Organisation | None:
        return (await self.session.execute(
            select(Organisation).where(Organisation.code == code)
        )).scalar_one_or_none()

    async def live_sessions_of(self, account_id: int, now: datetime) -> list[AuthSession]:
        """The account's sessions that are neither expired nor revoked."""
        return list((await self.session.execute(
            select(AuthSession).where(AuthSession.account_id == account_id,
                                      AuthSession.revoked_at.is_(None),
                                      AuthSession.expires_at > now)
        )).scalars())

    async def session_by_id(self, session_id: int) -> AuthSession | None:
        return await self.session.get(AuthSession, session_id)

    async def failures_since(self, *, username: str | None = None,
                             client_addr: str | None = None,
                             since: datetime) -> tuple[int, datetime | None]:
        """Failed log-ins since ``since`` for a user name or a client address: count, latest."""
        stmt = select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.success.is_(False), LoginAttempt.at > since)
        if username is not None:
            stmt = stmt.where(LoginAttempt.username == username)
        if client_addr is not None:
            stmt = stmt.where(LoginAttempt.client_addr == client_addr)
        n, latest = (await self.session.execute(stmt)).one()
        return int(n or 0), latest

    async def last_success(self, username: str, since: datetime) -> datetime | None:
        """When this user name last logged in successfully after ``since``."""
        return (await self.session.execute(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username, LoginAttempt.success.is_(True),
                LoginAttempt.at > since)
        )).scalar_one()

    async def person(self, person_id: int) -> Person | None:
        return await self.session.get(Person, person_id)
