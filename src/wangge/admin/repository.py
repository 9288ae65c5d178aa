"""Every query of delegated administration. Each starts from ``readable`` (the choke point).

A few look-ups are deliberately unscoped, like staff numbers in the org domain: whether a staff
number is taken, or a person already has an account or a post, is a system-wide fact an insert
must respect. They return only an id, a count or a yes/no, never another region's data.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Exists, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, readable, scope_clause
from wangge.models import (
    Account,
    Organisation,
    OrganisationCoverage,
    Person,
    Post,
    Region,
)


class AccountRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def _visible_post(self, person_id: object) -> Exists:
        """A post of the person inside the subject's scope."""
        return exists(readable(self.subject, select(Post.id).where(Post.person_id == person_id),
                               Post.region_code))

    async def page(self, after: int | None, limit: int) -> list[tuple[Account, Person]]:
        """Accounts holding at least one post in scope, by id after ``after`` (keyset)."""
        stmt = (
            select(Account, Person).join(Person, Person.id == Account.person_id)
            .where(self._visible_post(Account.person_id))
            .order_by(Account.id).limit(limit)
        )
        if after is not None:
            stmt = stmt.where(Account.id > after)
        return [(a, p) for a, p in await self.session.execute(stmt)]

    async def get(self, account_id: int) -> tuple[Account, Person] | None:
        """The account if it holds a post in scope."""
        row = (await self.session.execute(
            select(Account, Person).join(Person, Person.id == Account.person_id)
            .where(Account.id == account_id, self._visible_post(Account.person_id))
        )).first()
        return (row[0], row[1]) if row else None

    async def posts_in_scope(
        self, person_ids: Sequence[int]
    ) -> dict[int, list[tuple[Post, Organisation | None]]]:
        """Each person's posts that lie in scope, with their organisations."""
        if not person_ids:
            return {}
        stmt = readable(
            self.subject,
            select(Post, Organisation)
            .outerjoin(Organisation, Organisation.id == Post.organisation_id)
            .where(Post.person_id.in_(person_ids)).order_by(Post.id),
            Post.region_code,
        )
        out: dict[int, list[tuple[Post, Organisation | None]]] = {}
        for post, org in await self.session.execute(stmt):
            out.setdefault(post.person_id, []).append((post, org))
        return out

    async def post_counts(self, person_id: int) -> tuple[int, int]:
        """(posts in scope, posts outside scope) of a person: only numbers leave this method."""
        inside = scope_clause(self.subject, Post.region_code)
        total, mine = (await self.session.execute(
            select(func.count(), func.count().filter(inside)).where(Post.person_id == person_id)
        )).one()
        return int(mine), int(total) - int(mine)

    async def region(self, code: str) -> Region | None:
        return await self.session.scalar(
            readable(self.subject, select(Region).where(Region.code == code), Region.code)
        )

    async def organisation(self, code: str) -> tuple[Organisation, list[str]] | None:
        """An organisation whose home region is in scope, with the regions it covers."""
        org = await self.session.scalar(readable(
            self.subject, select(Organisation).where(Organisation.code == code),
            Organisation.region_code,
        ))
        if org is None:
            return None
        covered = await self.session.scalars(
            select(OrganisationCoverage.region_code)
            .where(OrganisationCoverage.organisation_id == org.id)
        )
        return org, sorted(covered)

    async def person_id_by_staff_no(self, staff_no: str) -> int | None:
        """Unscoped: staff numbers are unique system-wide (returns only the id)."""
        return await self.session.scalar(select(Person.id).where(Person.staff_no == staff_no))

    async def person_has_account(self, person_id: int) -> bool:
        return await self.session.scalar(
            select(exists().where(Account.person_id == person_id))
        ) is True

    async def post_of(self, person_id: int, post_id: int) -> Post | None:
        """The person's post ``post_id`` if it lies in scope."""
        return await self.session.scalar(readable(
            self.subject, select(Post).where(Post.id == post_id, Post.person_id == person_id),
            Post.region_code,
        ))

    async def post_exists(self, person_id: int, role: str, region_code: str,
                          organisation_id: int | None) -> bool:
        org = (Post.organisation_id.is_(None) if organisation_id is None
               else Post.organisation_id == organisation_id)
        return await self.session.scalar(select(exists().where(
            Post.person_id == person_id, Post.role == role, Post.region_code == region_code, org,
        ))) is True
