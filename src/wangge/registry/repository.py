"""Every query of the registry. Reads pass through the subject's scope (``authz.scope``); the
duplicate check by ID hash alone looks across scopes (a person is one person city-wide)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject, in_subtree, scope_clause
from wangge.models import (
    Address,
    Enterprise,
    Household,
    PiiAccess,
    Place,
    Region,
    RegistryChange,
    Resident,
    ResidentTag,
    Visit,
)

M = TypeVar("M", bound=Any)
CHUNK = 500  # bound parameters per IN (...) list, well under SQLite's limit


class RegistryRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    # --- residents ------------------------------------------------------------------------------

    def readable_residents(self) -> Select[Resident]:
        return select(Resident).where(scope_clause(self.subject, Resident.region_code))

    async def resident(self, resident_id: int) -> Resident | None:
        return (await self.session.execute(
            self.readable_residents().where(Resident.id == resident_id))).scalar_one_or_none()

    async def resident_page(self, *, grid: str | None, q: str | None, id_hash: str | None,
                            phone_hash: str | None, before: int | None,
                            limit: int) -> list[Resident]:
        """Live (not merged) residents in scope, newest first; ``q`` matches the start of a
        name, the hashes match exactly."""
        filters: list[ColumnElement[bool]] = [Resident.merged_into_id.is_(None)]
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            filters.append(Resident.name.like(f"{escaped}%", escape="\\"))
        if id_hash is not None:
            filters.append(Resident.id_number_hash == id_hash)
        if phone_hash is not None:
            filters.append(Resident.phone_hash == phone_hash)
        if before is not None:
            filters.append(Resident.id < before)
        region = grid if grid is not None else \
            self.subject.prefixes[0] if len(self.subject.prefixes) == 1 else None
        if id_hash is None and phone_hash is None and region is not None and \
                6 <= len(region) < 15 and self.session.get_bind().dialect.name == "postgresql":
            return await self._newest_per_grid(region, filters, limit)
        stmt = self.readable_residents().where(*filters)
        if grid is not None:
            stmt = stmt.where(in_subtree(Resident.region_code, grid))
        return list((await self.session.execute(
            stmt.order_by(Resident.id.desc()).limit(limit))).scalars())

    async def _newest_per_grid(self, region: str, filters: list[ColumnElement[bool]],
                               limit: int) -> list[Resident]:
        """The newest residents of a county, township or village, read as the newest of each
        of its grids (one probe of the (region_code, id) index per grid, LATERAL) and merged.
        Read as one range ordered by id, PostgreSQL may walk the whole table backwards by id
        before it meets ``limit`` rows of the region: seconds at a city's scale."""
        grids = select(Region.code).where(
            Region.level == "grid", in_subtree(Region.code, region),
            scope_clause(self.subject, Region.code)).subquery()
        newest = (select(Resident.id).where(Resident.region_code == grids.c.code, *filters)
                  .order_by(Resident.id.desc()).limit(limit).lateral())
        ids = (select(newest.c.id).select_from(grids).join(newest, true())
               .order_by(newest.c.id.desc()).limit(limit))
        return list((await self.session.execute(
            select(Resident).where(Resident.id.in_(ids.scalar_subquery()))
            .order_by(Resident.id.desc()))).scalars())

    async def export_page(self, region: str | None, limit: int) -> list[Resident]:
        """Live residents in scope (a region's subtree) in grid order: the export."""
        stmt = self.readable_residents().where(Resident.merged_into_id.is_(None))
        if region is not None:
            stmt = stmt.where(in_subtree(Resident.region_code, region))
        return list((await self.session.execute(
            stmt.order_by(Resident.region_code, Resident.id).limit(limit))).scalars())

    async def live_by_id_hashes(self, hashes: Sequence[str]) -> dict[str, tuple[int, str]]:
        """hash -> (resident id, grid) of live records anywhere (duplicate check of an
        import, unscoped like ``live_by_id_hash``), in chunks of bound parameters."""
        unique = sorted(set(hashes))
        out: dict[str, tuple[int, str]] = {}
        for i in range(0, len(unique), CHUNK):
            for h, rid, code in (await self.session.execute(
                    select(Resident.id_number_hash, Resident.id, Resident.region_code).where(
                        Resident.id_number_hash.in_(unique[i:i + CHUNK]),
                        Resident.merged_into_id.is_(None)))):
                if h is not None:
                    out[h] = (rid, code)
        return out

    async def live_by_id_hash(self, id_hash: str) -> Resident | None:
        """The live record with this ID number anywhere (duplicate check, unscoped)."""
        return (await self.session.execute(
            select(Resident).where(Resident.id_number_hash == id_hash,
                                   Resident.merged_into_id.is_(None)))).scalar_one_or_none()

    async def tags_of(self, resident_ids: Sequence[int]) -> dict[int, list[ResidentTag]]:
        if not resident_ids:
            return {}
        out: dict[int, list[ResidentTag]] = {}
        for tag in (await self.session.execute(
                select(ResidentTag).where(ResidentTag.resident_id.in_(list(resident_ids)))
                .order_by(ResidentTag.id))).scalars():
            out.setdefault(tag.resident_id, []).append(tag)
        return out

    async def merged_into(self, resident_id: int) -> list[int]:
        """Ids of the records merged into this one (their history is its history too)."""
        return list((await self.session.execute(
            select(Resident.id).where(Resident.merged_into_id == resident_id))).scalars())

    async def history(self, entity_type: str, ids: Sequence[int]) -> list[RegistryChange]:
        return list((await self.session.execute(
            select(RegistryChange).where(RegistryChange.entity_type == entity_type,
                                         RegistryChange.entity_id.in_(list(ids)))
            .order_by(RegistryChange.id))).scalars())

    # --- any registry table with ``id`` and ``region_code`` ---------------------------------------

    async def scoped(self, model: type[M], entity_id: int) -> M | None:
        """One row of ``model`` if its region is in the subject's scope."""
        return (await self.session.execute(
            select(model).where(model.id == entity_id,
                                scope_clause(self.subject, model.region_code))
        )).scalar_one_or_none()

    async def scoped_page(self, model: type[M], grid: str | None, before: int | None,
                          limit: int, *where: ColumnElement[bool]) -> list[M]:
        """Rows of ``model`` in scope (and in ``grid``'s subtree), newest first (keyset)."""
        stmt = select(model).where(scope_clause(self.subject, model.region_code), *where)
        if grid is not None:
            stmt = stmt.where(in_subtree(model.region_code, grid))
        if before is not None:
            stmt = stmt.where(model.id < before)
        return list((await self.session.execute(
            stmt.order_by(model.id.desc()).limit(limit))).scalars())

    async def enterprise_by_credit_code(self, code: str) -> Enterprise | None:
        """The organisation with this credit code anywhere (duplicate check, unscoped)."""
        return (await self.session.execute(
            select(Enterprise).where(Enterprise.credit_code == code))).scalar_one_or_none()

    async def addresses_named(self, keys: Sequence[tuple[str, str]],
                              ) -> dict[tuple[str, str], Address]:
        """(grid, normalised text) -> the address, for the keys given (an import's rows)."""
        out: dict[tuple[str, str], Address] = {}
        wanted = set(keys)
        texts = sorted({t for _, t in keys})
        for i in range(0, len(texts), CHUNK):
            for a in (await self.session.execute(select(Address).where(
                    Address.normalised.in_(texts[i:i + CHUNK]),
                    scope_clause(self.subject, Address.region_code)))).scalars():
                if (a.region_code, a.normalised) in wanted:
                    out.setdefault((a.region_code, a.normalised), a)
        return out

    async def households_at(self, keys: Sequence[tuple[int, str | None]],
                            ) -> dict[Any, tuple[int, str]]:
        """(address id, head) -> (household id, grid) of households already registered."""
        wanted = set(keys)
        addresses = sorted({a for a, _ in keys})
        out: dict[Any, tuple[int, str]] = {}
        for i in range(0, len(addresses), CHUNK):
            for hid, address, head, grid in (await self.session.execute(
                    select(Household.id, Household.address_id, Household.head_name,
                           Household.region_code)
                    .where(Household.address_id.in_(addresses[i:i + CHUNK])))).all():
                if (address, head) in wanted:
                    out.setdefault((address, head), (hid, grid))
        return out

    async def places_named(self, keys: Sequence[tuple[str, str, str]],
                           ) -> dict[Any, tuple[int, str]]:
        """(grid, category, normalised name) -> (place id, grid) of places registered."""
        from wangge.registry.addresses import normalise_address

        wanted = set(keys)
        grids = sorted({g for g, _, _ in keys})
        out: dict[Any, tuple[int, str]] = {}
        for i in range(0, len(grids), CHUNK):
            for pid, grid, category, name in (await self.session.execute(
                    select(Place.id, Place.region_code, Place.category, Place.name)
                    .where(Place.region_code.in_(grids[i:i + CHUNK])))).all():
                key = (grid, category, normalise_address(name))
                if key in wanted:
                    out.setdefault(key, (pid, grid))
        return out

    async def members(self, household_id: int) -> list[Resident]:
        return list((await self.session.execute(
            self.readable_residents().where(Resident.household_id == household_id,
                                            Resident.merged_into_id.is_(None))
            .order_by(Resident.id))).scalars())

    async def visits_to(self, column: Any, entity_id: int, limit: int = 20) -> list[Visit]:
        """The latest visits with ``column`` (``Visit.place_id``, ``Visit.household_id``)."""
        return list((await self.session.execute(
            select(Visit).where(column == entity_id,
                                scope_clause(self.subject, Visit.region_code))
            .order_by(Visit.at.desc(), Visit.id.desc()).limit(limit))).scalars())

    async def addresses_by_id(self, ids: Sequence[int]) -> dict[int, Address]:
        if not ids:
            return {}
        return {a.id: a for a in (await self.session.execute(
            select(Address).where(Address.id.in_(list(ids))))).scalars()}

    # --- places, households, regions ------------------------------------------------------------

    async def place_page(self, grid: str | None, category: str | None, before: int | None,
                         limit: int) -> list[Place]:
        return await self.scoped_page(Place, grid, before, limit, *(
            [Place.category == category] if category is not None else []))

    async def household(self, household_id: int) -> Household | None:
        return await self.scoped(Household, household_id)

    async def address(self, address_id: int) -> Address | None:
        return await self.session.get(Address, address_id)

    async def region_level(self, code: str) -> str | None:
        return (await self.session.execute(
            select(Region.level).where(Region.code == code))).scalar_one_or_none()

    async def region_levels(self, codes: Sequence[str]) -> dict[str, str]:
        """code -> level of the codes that are regions (in chunks of bound parameters)."""
        unique = sorted(set(codes))
        out: dict[str, str] = {}
        for i in range(0, len(unique), CHUNK):
            out.update((await self.session.execute(
                select(Region.code, Region.level).where(
                    Region.code.in_(unique[i:i + CHUNK])))).all())
        return out

    async def visit_by_client_uuid(self, client_uuid: str) -> Visit | None:
        return (await self.session.execute(
            select(Visit).where(Visit.client_uuid == client_uuid))).scalar_one_or_none()

    # --- the PII access log ---------------------------------------------------------------------

    async def access_page(self, *, account_id: int | None, entity_type: str | None,
                          entity_id: int | None, since: datetime | None,
                          before: int | None, limit: int) -> list[PiiAccess]:
        """Unmasked views of PII about people in scope, newest first."""
        stmt = select(PiiAccess).where(scope_clause(self.subject, PiiAccess.region_code))
        if account_id is not None:
            stmt = stmt.where(PiiAccess.account_id == account_id)
        if entity_type is not None:
            stmt = stmt.where(PiiAccess.entity_type == entity_type)
        if entity_id is not None:
            stmt = stmt.where(PiiAccess.entity_id == entity_id)
        if since is not None:
            stmt = stmt.where(PiiAccess.at >= since)
        if before is not None:
            stmt = stmt.where(PiiAccess.id < before)
        return list((await self.session.execute(
            stmt.order_by(PiiAccess.id.desc()).limit(limit))).scalars())
