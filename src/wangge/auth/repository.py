"""Every query of the auth domain.

Authentication runs before a subject exists, so these look-ups are deliberately unscoped: they
read only the caller's own account, session and posts, the log-in attempts of one name or address,
and whether a region or organisation named in a new post exists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
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
