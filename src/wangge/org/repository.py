"""Every query of the org domain. Each starts from ``readable`` (the scoping choke point)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, in_subtree, readable
from wangge.models import Organisation, Person, Post, Region, RegionShape
from wangge.models.post import GRID_ROLES


class RegionRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def _regions(self) -> Select[tuple[Region]]:
        return readable(self.subject, select(Region), Region.code)

    async def get(self, code: str) -> Region | None:
        return await self.session.scalar(self._regions().where(Region.code == code))

    async def get_many(self, codes: Sequence[str]) -> list[Region]:
        rows = await self.session.scalars(self._regions().where(Region.code.in_(codes)))
        return sorted(rows, key=lambda r: len(r.code))

    async def children(self, code: str) -> list[Region]:
        rows = await self.session.scalars(
            self._regions().where(Region.parent_code == code).order_by(Region.code)
        )
        return list(rows)

    async def level_counts_by_child(self, code: str, child_len: int) -> dict[str, dict[str, int]]:
        """Counts of regions per level beneath each child of ``code`` (child code → level → n)."""
        key = func.substr(Region.code, 1, child_len)
        stmt = readable(
            self.subject,
            select(key, Region.level, func.count())
            .where(in_subtree(Region.code, code), func.length(Region.code) > child_len)
            .group_by(key, Region.level),
            Region.code,
        )
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for child, level, n in await self.session.execute(stmt):
            out[child][level] = n
        return out

    async def staff_counts_by_child(self, code: str, child_len: int) -> dict[str, int]:
        """Distinct people holding posts beneath each child of ``code``."""
        key = func.substr(Post.region_code, 1, child_len)
        stmt = readable(
            self.subject,
            select(key, func.count(func.distinct(Post.person_id)))
            .where(in_subtree(Post.region_code, code))
            .group_by(key),
            Post.region_code,
        )
        return {child: n for child, n in await self.session.execute(stmt)}

    async def level_counts(self, code: str) -> dict[str, int]:
        stmt = readable(
            self.subject,
            select(Region.level, func.count())
            .where(in_subtree(Region.code, code), Region.code != code)
            .group_by(Region.level),
            Region.code,
        )
        return {level: n for level, n in await self.session.execute(stmt)}

    async def post_counts_by_role(
        self, code: str, roles: Sequence[str] = GRID_ROLES
    ) -> dict[str, int]:
        stmt = readable(
            self.subject,
            select(Post.role, func.count())
            .where(in_subtree(Post.region_code, code), Post.role.in_(roles))
            .group_by(Post.role),
            Post.region_code,
        )
        return {role: n for role, n in await self.session.execute(stmt)}

    async def distinct_people(self, code: str, roles: Sequence[str] | None = None) -> int:
        stmt = select(func.count(func.distinct(Post.person_id))).where(
            in_subtree(Post.region_code, code)
        )
        if roles is not None:
            stmt = stmt.where(Post.role.in_(roles))
        return int(await self.session.scalar(readable(self.subject, stmt, Post.region_code)) or 0)

    async def child_shapes(self, code: str) -> list[tuple[Region, RegionShape]]:
        stmt = readable(
            self.subject,
            select(Region, RegionShape)
            .join(RegionShape, RegionShape.code == Region.code)
            .where(Region.parent_code == code)
            .order_by(Region.code),
            Region.code,
        )
        return [(r, s) for r, s in (await self.session.execute(stmt)).tuples()]

    async def shape(self, code: str) -> RegionShape | None:
        stmt = readable(self.subject, select(RegionShape).where(RegionShape.code == code),
                        RegionShape.code)
        return await self.session.scalar(stmt)

    async def staff_at(self, code: str) -> list[tuple[Post, Person, Organisation | None]]:
        """Posts held exactly at region ``code``, with their people and organisations."""
        stmt = readable(
            self.subject,
            select(Post, Person, Organisation)
            .join(Person, Person.id == Post.person_id)
            .outerjoin(Organisation, Organisation.id == Post.organisation_id)
            .where(Post.region_code == code)
            .order_by(Post.role, Person.name),
            Post.region_code,
        )
        return [(p, person, org) for p, person, org in (await self.session.execute(stmt)).tuples()]
