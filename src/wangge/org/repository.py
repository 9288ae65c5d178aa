"""Every query of the org domain. Each starts from ``readable`` (the scoping choke point)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, breadcrumb_readable, in_subtree, readable
from wangge.models import Organisation, Person, Post, Region, RegionShape
from wangge.models.post import GRID_ROLES

T = TypeVar("T")


class RegionRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def _regions(self) -> Select[Region]:
        return readable(self.subject, select(Region), Region.code)

    async def get(self, code: str) -> Region | None:
        return await self.session.scalar(self._regions().where(Region.code == code))

    async def get_many(self, codes: Sequence[str]) -> list[Region]:
        rows = await self.session.scalars(self._regions().where(Region.code.in_(codes)))
        return sorted(rows, key=lambda r: len(r.code))

    async def breadcrumbs(self, codes: Sequence[str]) -> list[Region]:
        """Regions among ``codes`` in scope or above it, top down (names for breadcrumbs only)."""
        rows = await self.session.scalars(
            breadcrumb_readable(self.subject, select(Region).where(Region.code.in_(codes)),
                                Region.code)
        )
        return sorted(rows, key=lambda r: len(r.code))

    async def first_of_level(self, level: str) -> Region | None:
        """The readable region of ``level`` with the smallest code."""
        return await self.session.scalar(
            self._regions().where(Region.level == level).order_by(Region.code).limit(1)
        )

    async def children(self, code: str) -> list[Region]:
        rows = await self.session.scalars(
            self._regions().where(Region.parent_code == code).order_by(Region.code)
        )
        return list(rows)

    async def subtree(self, code: str) -> list[Region]:
        """Region ``code`` and everything beneath it, in code order."""
        rows = await self.session.scalars(
            self._regions().where(in_subtree(Region.code, code)).order_by(Region.code)
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
        return [(r, s) for r, s in await self.session.execute(stmt)]

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
        return [(p, person, org) for p, person, org in await self.session.execute(stmt)]


def _chunks(values: Sequence[T], size: int = 1000) -> list[Sequence[T]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class StaffRepository:
    """Look-ups that staff imports validate against."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def region_levels(self, codes: Sequence[str]) -> dict[str, str]:
        """Level of each of ``codes`` that exists (and is readable)."""
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(set(codes))):
            stmt = readable(self.subject, select(Region.code, Region.level)
                            .where(Region.code.in_(chunk)), Region.code)
            out.update({code: level for code, level in await self.session.execute(stmt)})
        return out

    async def organisation_ids(self, codes: Sequence[str]) -> dict[str, int]:
        """Id of each organisation code that exists (and is readable)."""
        out: dict[str, int] = {}
        for chunk in _chunks(sorted(set(codes))):
            stmt = readable(self.subject, select(Organisation.code, Organisation.id)
                            .where(Organisation.code.in_(chunk)), Organisation.region_code)
            out.update({code: oid for code, oid in await self.session.execute(stmt)})
        return out

    async def people_by_staff_no(self, staff_nos: Sequence[str]) -> dict[str, int]:
        """Id of each staff number already taken.

        Not scoped: staff numbers are unique system-wide, so an upsert must see every holder.
        """
        out: dict[str, int] = {}
        for chunk in _chunks(sorted(set(staff_nos))):
            rows = await self.session.execute(
                select(Person.staff_no, Person.id).where(Person.staff_no.in_(chunk))
            )
            out.update({no: pid for no, pid in rows})
        return out

    async def post_keys(
        self, person_ids: Sequence[int]
    ) -> dict[tuple[int, str, str, int | None], int]:
        """Posts of these people, keyed by (person, role, region, organisation) → post id."""
        out: dict[tuple[int, str, str, int | None], int] = {}
        for chunk in _chunks(sorted(set(person_ids))):
            stmt = readable(
                self.subject,
                select(Post.person_id, Post.role, Post.region_code, Post.organisation_id, Post.id)
                .where(Post.person_id.in_(chunk)),
                Post.region_code,
            )
            for person, role, region, org, post_id in await self.session.execute(stmt):
                out[(person, role, region, org)] = post_id
        return out
