"""Reads of the registry pages beyond the service's lists: special-group tags due a visit,
households grouped by building, one building's rooms with their members, addresses found by
the start of their text, and where households live (building and room). Every query passes
through the subject's scope; lists never decrypt (people are shown with their masked ID
numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wangge.authz.scope import Subject, in_subtree, scope_clause
from wangge.models import Address, Household, Resident, ResidentTag
from wangge.registry.addresses import normalise_address

MAX_DUE = 100
MAX_BUILDINGS = 300
MAX_ADDRESSES = 30


@dataclass
class DueTag:
    """A special-group tag whose next visit is due (never visited, or its interval passed)."""

    tag_id: int
    resident_id: int
    name: str
    id_number: str | None  # masked
    category: str
    level: str
    responsible_post: str | None
    visit_interval_days: int
    last_visit_at: datetime | None
    overdue_days: int | None  # None: never visited


@dataclass
class Building:
    """A building (or house) with the number of households at its rooms."""

    id: int
    label: str
    text: str
    kind: str
    households: int


@dataclass
class Member:
    id: int
    name: str
    relation: str | None
    id_number: str | None  # masked
    population_type: str


@dataclass
class HouseholdRow:
    id: int
    kind: str
    head_name: str | None
    members: list[Member] = field(default_factory=list)


@dataclass
class Room:
    id: int
    label: str
    unit: str | None
    households: list[HouseholdRow] = field(default_factory=list)


@dataclass
class BuildingDetail:
    building: Building
    rooms: list[Room]


@dataclass
class AddressHit:
    id: int
    kind: str
    text: str
    building_id: int | None
    households: int


def _like_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like: ColumnElement[bool] = column.like(f"{escaped}%", escape="\\")
    return like


class RegistryReads:
    """What the registry pages read besides the service's paged lists."""

    async def due_tags(self, session: AsyncSession, subject: Subject, code: str,
                       now: datetime, limit: int = MAX_DUE) -> tuple[list[DueTag], int]:
        """Active tags in ``code``'s subtree due a visit (never visited first, then the most
        overdue), and how many active tags there are in all."""
        where = and_(ResidentTag.active.is_(True), scope_clause(subject, ResidentTag.region_code),
                     in_subtree(ResidentTag.region_code, code))
        intervals = list((await session.execute(
            select(ResidentTag.visit_interval_days, func.count()).where(where)
            .group_by(ResidentTag.visit_interval_days))).all())
        total = sum(n for _, n in intervals)
        if not intervals:
            return [], 0
        # One bound per interval (few distinct values): portable, and index-friendly.
        due = or_(ResidentTag.last_visit_at.is_(None),
                  *(and_(ResidentTag.visit_interval_days == days,
                         ResidentTag.last_visit_at <= now - timedelta(days=days))
                    for days, _ in intervals))
        rows = (await session.execute(
            select(ResidentTag, Resident.name, Resident.id_number_masked)
            .join(Resident, Resident.id == ResidentTag.resident_id)
            .where(where, due, Resident.merged_into_id.is_(None),
                   scope_clause(subject, Resident.region_code))
            .order_by(ResidentTag.last_visit_at.is_(None).desc(),
                      ResidentTag.last_visit_at, ResidentTag.id)
            .limit(limit))).all()
        out = []
        for tag, name, masked in rows:
            overdue = None
            if tag.last_visit_at is not None:
                overdue = (now - tag.last_visit_at).days - tag.visit_interval_days
            out.append(DueTag(
                tag_id=tag.id, resident_id=tag.resident_id, name=name, id_number=masked,
                category=tag.category, level=tag.level, responsible_post=tag.responsible_post,
                visit_interval_days=tag.visit_interval_days, last_visit_at=tag.last_visit_at,
                overdue_days=overdue))
        return out, total

    @staticmethod
    def _building_of() -> tuple[ColumnElement[int], type[Address], type[Address], type[Address]]:
        """The building (or house) an address lies in: itself, its parent or grandparent."""
        room, unit, top = aliased(Address), aliased(Address), aliased(Address)
        building = case(
            (room.kind.in_(("building", "house")), room.id),
            (unit.kind == "building", unit.id),
            else_=top.id)
        return building, room, unit, top

    async def buildings(self, session: AsyncSession, subject: Subject, code: str,
                        limit: int = MAX_BUILDINGS) -> tuple[list[Building], int]:
        """Buildings of ``code``'s subtree with their household counts, and the number of
        households without an address."""
        building, room, unit, top = self._building_of()
        counts = list((await session.execute(
            select(building.label("b"), func.count(Household.id))
            .select_from(Household)
            .outerjoin(room, room.id == Household.address_id)
            .outerjoin(unit, unit.id == room.parent_id)
            .outerjoin(top, top.id == unit.parent_id)
            .where(scope_clause(subject, Household.region_code),
                   in_subtree(Household.region_code, code))
            .group_by(building))).all())
        unaddressed = sum(n for b, n in counts if b is None)
        known = {b: n for b, n in counts if b is not None}
        ids = sorted(known)[: limit]
        rows = list((await session.execute(
            select(Address).where(Address.id.in_(ids)))).scalars()) if ids else []
        out = [Building(id=a.id, label=a.label, text=a.text, kind=a.kind,
                        households=known[a.id]) for a in rows]
        out.sort(key=lambda b: (b.text, b.id))
        return out, unaddressed

    async def building(self, session: AsyncSession, subject: Subject, code: str,
                       building_id: int) -> BuildingDetail | None:
        """One building of ``code``'s subtree: its rooms (by unit), households and members."""
        found = (await session.execute(
            select(Address).where(Address.id == building_id,
                                  Address.kind.in_(("building", "house")),
                                  scope_clause(subject, Address.region_code),
                                  in_subtree(Address.region_code, code)))).scalar_one_or_none()
        if found is None:
            return None
        units = {a.id: a for a in (await session.execute(
            select(Address).where(Address.parent_id == found.id))).scalars()}
        rooms = [a for a in units.values() if a.kind in ("room", "house")]
        deeper = [u for u in units.values() if u.kind not in ("room", "house")]
        if deeper:
            rooms += list((await session.execute(
                select(Address).where(Address.parent_id.in_([u.id for u in deeper]))
            )).scalars())
        places = [found, *rooms]
        households = list((await session.execute(
            select(Household).where(Household.address_id.in_([a.id for a in places]),
                                    scope_clause(subject, Household.region_code))
            .order_by(Household.id))).scalars())
        members: dict[int, list[Member]] = {}
        if households:
            for r in (await session.execute(
                    select(Resident).where(
                        Resident.household_id.in_([h.id for h in households]),
                        Resident.merged_into_id.is_(None),
                        scope_clause(subject, Resident.region_code))
                    .order_by(Resident.id))).scalars():
                members.setdefault(r.household_id or 0, []).append(Member(
                    id=r.id, name=r.name, relation=r.relation, id_number=r.id_number_masked,
                    population_type=r.population_type))
        by_address: dict[int, list[HouseholdRow]] = {}
        for h in households:
            by_address.setdefault(h.address_id or 0, []).append(HouseholdRow(
                id=h.id, kind=h.kind, head_name=h.head_name, members=members.get(h.id, [])))
        out = [Room(id=a.id, label=a.label,
                    unit=units[a.parent_id].label if a.parent_id in units
                    and a.parent_id != found.id else None,
                    households=by_address.get(a.id, []))
               for a in places if a.id in by_address or a is not found]
        out.sort(key=lambda r: (r.id != found.id, r.unit or "", len(r.label), r.label))
        total = sum(len(r.households) for r in out)
        return BuildingDetail(
            building=Building(id=found.id, label=found.label, text=found.text, kind=found.kind,
                              households=total),
            rooms=out)

    async def household_rooms(self, session: AsyncSession, subject: Subject,
                              ids: list[int]) -> dict[int, tuple[int, int]]:
        """(building, address) of each household in scope with an address, by household id."""
        building, room, unit, top = self._building_of()
        rows = (await session.execute(
            select(Household.id, building, room.id)
            .join(room, room.id == Household.address_id)
            .outerjoin(unit, unit.id == room.parent_id)
            .outerjoin(top, top.id == unit.parent_id)
            .where(Household.id.in_(ids), scope_clause(subject, Household.region_code)))).all()
        return {h: (b, a) for h, b, a in rows if b is not None}

    async def addresses(self, session: AsyncSession, subject: Subject, code: str, q: str,
                        limit: int = MAX_ADDRESSES) -> list[AddressHit]:
        """Addresses of ``code``'s subtree whose text starts with ``q``, both folded with
        ``normalise_address`` (the raw text is tried too)."""
        folded = normalise_address(q)
        if not folded:
            return []
        building, room, unit, top = self._building_of()
        hits = list((await session.execute(
            select(room, building.label("b"))
            .outerjoin(unit, unit.id == room.parent_id)
            .outerjoin(top, top.id == unit.parent_id)
            .where(or_(_like_prefix(room.normalised, folded), _like_prefix(room.text, q.strip())),
                   scope_clause(subject, room.region_code), in_subtree(room.region_code, code))
            .order_by(room.text, room.id).limit(limit))).all())
        if not hits:
            return []
        counts = dict((await session.execute(
            select(Household.address_id, func.count()).where(
                Household.address_id.in_([a.id for a, _ in hits]),
                scope_clause(subject, Household.region_code))
            .group_by(Household.address_id))).all())
        return [AddressHit(id=a.id, kind=a.kind, text=a.text, building_id=b,
                           households=counts.get(a.id, 0)) for a, b in hits]


registry_reads = RegistryReads()
