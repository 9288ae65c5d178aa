"""Named actions on the registry's other entries: standard addresses, households, special-group
tags, key places, enterprises and social organisations, and "three-no" compounds.

Every write goes through the same steps as a resident's (``RegistryService``): the region in
scope, ``registry:write`` over it, the checks that name the field, then the row, its history
(field → [before, after]), a collection record for the worker and the audit record — one
transaction. Updates carry the ``version`` the caller saw (stale: 409).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from wangge.authz.scope import Subject
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import Base, utcnow
from wangge.kit.errors import Conflict, InvalidInput, NotFound
from wangge.models import Address, Compound, Enterprise, Household, Place, Resident, ResidentTag
from wangge.registry import creditcode, phone
from wangge.registry.addresses import normalise_address
from wangge.registry.places import PLACE_CATEGORY_CODES, PLACE_INTERVALS, TAG_LEVELS
from wangge.registry.repository import RegistryRepository
from wangge.registry.schemas import (
    AddressCreate,
    AddressOut,
    AddressPage,
    ChecklistItem,
    CompoundCreate,
    CompoundOut,
    CompoundPage,
    CompoundUpdate,
    EnterpriseCreate,
    EnterpriseOut,
    EnterprisePage,
    EnterpriseUpdate,
    HouseholdCreate,
    HouseholdDetail,
    HouseholdOut,
    HouseholdPage,
    HouseholdUpdate,
    PlaceCreate,
    PlaceDetail,
    PlaceUpdate,
    TagCreate,
    TagOut,
    TagUpdate,
)
from wangge.registry.service import (
    MAX_PAGE,
    change_out,
    place_fields,
    registry_service,
    tag_out,
    visit_out,
    writer_post,
)

E = TypeVar("E", bound=Base)

# The standard items of a "three-no" compound's rectification (三无小区整治): each must be done
# before the compound counts as rectified.
COMPOUND_CHECKLIST = (
    "引入物业服务或明确托管单位",
    "成立业主委员会或物业管理委员会",
    "明确主管部门和责任单位",
    "完善安防设施（门禁、监控、照明）",
    "清理违建和乱堆乱放",
    "建立网格员联系和巡查制度",
)
# Where a child address may hang: a unit in a building, a room in a unit or a building.
PARENT_KINDS = {"unit": ("building",), "room": ("unit", "building")}


def _page_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")


def _apply(row: Any, given: dict[str, Any], fields: Iterable[str]) -> dict[str, list[Any]]:
    """Sets the given fields that differ; returns them as field → [before, after]."""
    changes: dict[str, list[Any]] = {}
    for field in fields:
        if field in given and given[field] != getattr(row, field):
            changes[field] = [getattr(row, field), given[field]]
            setattr(row, field, given[field])
    return changes


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like: ColumnElement[bool] = column.like(f"{escaped}%", escape="\\")
    return like


def _check_version(row: Any, version: int, what: str) -> None:
    if version != row.version:
        raise Conflict(f"version {version} is stale: the {what} is at version {row.version}; "
                       "reload it", field="version", current_version=row.version)


async def _flush(session: AsyncSession, what: str) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise Conflict(f"the {what} changed meanwhile; reload it", field="version") from None


def _enterprise_out(e: Enterprise) -> EnterpriseOut:
    return EnterpriseOut(id=e.id, region_code=e.region_code, kind=e.kind, name=e.name,
                         credit_code=e.credit_code, legal_person=e.legal_person,
                         employees=e.employees, address=e.address, version=e.version)


def _compound_out(c: Compound) -> CompoundOut:
    return CompoundOut(id=c.id, region_code=c.region_code, name=c.name, address=c.address,
                       households=c.households,
                       checklist=[ChecklistItem(**i) for i in json.loads(c.checklist)],
                       status=c.status, rectified_at=c.rectified_at, version=c.version)


class EntityService:
    async def _grid(self, repo: RegistryRepository, subject: Subject, grid: str) -> None:
        if not subject.can_read_code(grid) or await repo.region_level(grid) != "grid":
            raise InvalidInput("grid_code", f"{grid} is not a grid in your scope")

    async def _created(self, session: AsyncSession, subject: Subject, row: Any, what: str,
                       shown: dict[str, Any]) -> None:
        """Stores a new row with its history, collection and audit records."""
        post = writer_post(subject, row.region_code, f"registering {what}s")
        session.add(row)
        await session.flush()
        await registry_service.changed(session, subject, post, what, row.id, row.region_code,
                                       "create", {k: [None, v] for k, v in shown.items()
                                                  if v is not None})

    async def _updated(self, session: AsyncSession, subject: Subject, row: Any, what: str,
                       changes: dict[str, list[Any]]) -> None:
        post = writer_post(subject, row.region_code, f"changing {what}s")
        if not changes:
            return
        if hasattr(row, "updated_at"):
            row.updated_at = utcnow()
        await _flush(session, what)
        await registry_service.changed(session, subject, post, what, row.id, row.region_code,
                                       "update", changes)

    async def _get(self, repo: RegistryRepository, model: type[E], entity_id: int,
                   what: str) -> E:
        row = await repo.scoped(model, entity_id)
        if row is None:
            raise NotFound(f"{what} {entity_id} not found", **{f"{what}_id": entity_id})
        return row

    async def _page(self, repo: RegistryRepository, model: type[E], grid: str | None,
                    before: int | None, limit: int, *where: ColumnElement[bool],
                    ) -> tuple[list[E], int | None]:
        """One keyset page of ``model`` in scope (and ``grid``'s subtree), newest first, and
        the cursor of the next page."""
        _page_limit(limit)
        if grid is not None and not repo.subject.can_read_code(grid):
            raise NotFound(f"region {grid} not found", region=grid)
        rows = await repo.scoped_page(model, grid, before, limit + 1, *where)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, rows[-1].id if more else None  # type: ignore[attr-defined]

    # --- addresses ------------------------------------------------------------------------------

    async def create_address(self, session: AsyncSession, subject: Subject,
                             data: AddressCreate) -> AddressOut:
        repo = RegistryRepository(session, subject)
        await self._grid(repo, subject, data.grid_code)
        text = data.label
        parent = None
        if data.parent_id is not None:
            parent = await repo.scoped(Address, data.parent_id)
            if parent is None or parent.region_code != data.grid_code:
                raise InvalidInput("parent_id", f"no address {data.parent_id} in grid "
                                   f"{data.grid_code}")
            if parent.kind not in PARENT_KINDS.get(data.kind, ()):
                raise InvalidInput("parent_id", f"a {data.kind} cannot be inside a "
                                   f"{parent.kind}")
            text = parent.text + data.label
        elif data.kind in PARENT_KINDS and data.kind != "room":
            raise InvalidInput("parent_id", f"a {data.kind} needs its building")
        lng, lat = (data.lng, data.lat) if data.lng is not None and data.lat is not None \
            else (None, None)
        if lng is None and parent is not None:
            lng, lat = parent.lng, parent.lat  # a room stands where its building stands
        row = Address(region_code=data.grid_code, parent_id=data.parent_id, kind=data.kind,
                      label=data.label, text=text, normalised=normalise_address(text),
                      lng=lng, lat=lat)
        await self._created(session, subject, row, "address", {
            "kind": data.kind, "text": text, "lng": lng, "lat": lat})
        return self._address_out(row)

    @staticmethod
    def _address_out(a: Address) -> AddressOut:
        return AddressOut(id=a.id, region_code=a.region_code, parent_id=a.parent_id,
                          kind=a.kind, label=a.label, text=a.text, lng=a.lng, lat=a.lat)

    async def addresses(self, session: AsyncSession, subject: Subject, *, grid: str | None,
                        q: str | None, parent_id: int | None, before: int | None,
                        limit: int) -> AddressPage:
        """Addresses in scope, newest first; ``q`` matches the start of the normalised text."""
        where: list[ColumnElement[bool]] = []
        if q:
            where.append(_starts_with(Address.normalised, normalise_address(q)))
        if parent_id is not None:
            where.append(Address.parent_id == parent_id)
        rows, cursor = await self._page(RegistryRepository(session, subject), Address, grid,
                                        before, limit, *where)
        return AddressPage(items=[self._address_out(a) for a in rows], next_cursor=cursor)

    # --- households -----------------------------------------------------------------------------

    async def _household_address(self, repo: RegistryRepository, grid: str,
                                 address_id: int) -> Address:
        address = await repo.scoped(Address, address_id)
        if address is None or address.region_code != grid or \
                address.kind not in ("room", "house"):
            raise InvalidInput("address_id", f"no room or house {address_id} in grid {grid}")
        return address

    async def create_household(self, session: AsyncSession, subject: Subject,
                               data: HouseholdCreate) -> HouseholdOut:
        repo = RegistryRepository(session, subject)
        await self._grid(repo, subject, data.grid_code)
        address = None
        if data.address_id is not None:
            address = await self._household_address(repo, data.grid_code, data.address_id)
        now = utcnow()
        row = Household(region_code=data.grid_code, address_id=data.address_id, kind=data.kind,
                        head_name=data.head_name, created_at=now, updated_at=now)
        await self._created(session, subject, row, "household", {
            "kind": data.kind, "head_name": data.head_name,
            "address": address.text if address else None})
        return self._household_out(row, address)

    @staticmethod
    def _household_out(h: Household, address: Address | None) -> HouseholdOut:
        return HouseholdOut(id=h.id, region_code=h.region_code, address_id=h.address_id,
                            address=address.text if address else None, kind=h.kind,
                            head_name=h.head_name, last_visit_at=h.last_visit_at,
                            version=h.version)

    async def update_household(self, session: AsyncSession, subject: Subject,
                               household_id: int, data: HouseholdUpdate) -> HouseholdOut:
        repo = RegistryRepository(session, subject)
        row = await self._get(repo, Household, household_id, "household")
        _check_version(row, data.version, "household")
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        if given.get("address_id") is not None:
            await self._household_address(repo, row.region_code, given["address_id"])
        changes = _apply(row, given, ("address_id", "kind", "head_name"))
        await self._updated(session, subject, row, "household", changes)
        address = await repo.address(row.address_id) if row.address_id else None
        return self._household_out(row, address)

    async def households(self, session: AsyncSession, subject: Subject, *, grid: str | None,
                         q: str | None = None, before: int | None,
                         limit: int) -> HouseholdPage:
        """Households in scope, newest first; ``q`` matches the start of their address's
        normalised text (``幸福路3号楼2单元`` finds that unit's households)."""
        repo = RegistryRepository(session, subject)
        where: list[ColumnElement[bool]] = []
        if q:
            where.append(Household.address_id.in_(
                select(Address.id).where(_starts_with(Address.normalised,
                                                      normalise_address(q)))))
        rows, cursor = await self._page(repo, Household, grid, before, limit, *where)
        addresses = await repo.addresses_by_id([h.address_id for h in rows if h.address_id])
        return HouseholdPage(
            items=[self._household_out(h, addresses.get(h.address_id or 0)) for h in rows],
            next_cursor=cursor)

    async def household(self, session: AsyncSession, subject: Subject,
                        household_id: int) -> HouseholdDetail:
        """A household with its members (masked), latest visits and history."""
        from wangge.models import Visit

        repo = RegistryRepository(session, subject)
        row = await self._get(repo, Household, household_id, "household")
        address = await repo.address(row.address_id) if row.address_id else None
        members = await repo.members(row.id)
        tags = await repo.tags_of([m.id for m in members])
        return HouseholdDetail(
            **self._household_out(row, address).model_dump(),
            members=[registry_service.resident_out(m, tags.get(m.id, [])) for m in members],
            visits=[visit_out(v) for v in await repo.visits_to(Visit.household_id, row.id)],
            history=[change_out(c) for c in await repo.history("household", [row.id])])

    # --- tags -----------------------------------------------------------------------------------

    @staticmethod
    def _tag_interval(category: str, level: str) -> int:
        levels = TAG_LEVELS.get(category)
        if levels is None:
            raise InvalidInput("category", f"unknown category {category!r}: one of "
                               + ", ".join(TAG_LEVELS))
        if level not in levels:
            raise InvalidInput("level", f"{category} has the levels " + ", ".join(levels))
        return levels[level]

    @staticmethod
    def _check_post(value: str | None, region: str) -> None:
        if value is None:
            return
        role, _, code = value.partition("@")
        if not role or not code.isdigit() or not region.startswith(code):
            raise InvalidInput("responsible_post", "must be ROLE@CODE of the resident's grid "
                               "or a region above it")

    async def create_tag(self, session: AsyncSession, subject: Subject, resident_id: int,
                         data: TagCreate) -> TagOut:
        repo = RegistryRepository(session, subject)
        resident = await self._get(repo, Resident, resident_id, "resident")
        if resident.merged_into_id is not None:
            raise Conflict(f"resident {resident.id} was merged into {resident.merged_into_id}",
                           field="resident_id", merged_into_id=resident.merged_into_id)
        interval = self._tag_interval(data.category, data.level)
        self._check_post(data.responsible_post, resident.region_code)
        if any(t.category == data.category and t.active
               for t in (await repo.tags_of([resident.id])).get(resident.id, [])):
            raise Conflict(f"category: resident {resident.id} already has an active "
                           f"{data.category} tag", field="category")
        row = ResidentTag(resident_id=resident.id, region_code=resident.region_code,
                          category=data.category, level=data.level,
                          responsible_post=data.responsible_post,
                          fields=json.dumps(data.fields, ensure_ascii=False, sort_keys=True),
                          visit_interval_days=interval, active=True)
        post = writer_post(subject, resident.region_code, "tagging residents")
        session.add(row)
        await session.flush()
        await registry_service.changed(session, subject, post, "resident", resident.id,
                                       resident.region_code, "tag", {
                                           f"tag.{data.category}": [None, data.level]})
        return tag_out(row)

    async def update_tag(self, session: AsyncSession, subject: Subject, tag_id: int,
                         data: TagUpdate) -> TagOut:
        repo = RegistryRepository(session, subject)
        row = await self._get(repo, ResidentTag, tag_id, "tag")
        _check_version(row, data.version, "tag")
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        if "level" in given:
            given["visit_interval_days"] = self._tag_interval(row.category, given["level"])
        if "responsible_post" in given:
            self._check_post(given["responsible_post"], row.region_code)
        if "fields" in given:
            given["fields"] = json.dumps(given["fields"] or {}, ensure_ascii=False,
                                         sort_keys=True)
        changes = {f"tag.{row.category}.{k}": v for k, v in _apply(
            row, given, ("level", "visit_interval_days", "responsible_post", "fields",
                         "active")).items()}
        post = writer_post(subject, row.region_code, "changing tags")
        if changes:
            await _flush(session, "tag")
            await registry_service.changed(session, subject, post, "resident", row.resident_id,
                                           row.region_code, "tag", changes)
        return tag_out(row)

    # --- places ---------------------------------------------------------------------------------

    @staticmethod
    def _category(category: str) -> str:
        if category not in PLACE_CATEGORY_CODES:
            raise InvalidInput("category", f"unknown place category {category!r}")
        return category

    @staticmethod
    def place_phone(cipher: PiiCipher, value: str | None) -> dict[str, Any]:
        """A responsible person's phone as the columns hold it (422 naming it if invalid)."""
        if value is None:
            return dict(responsible_phone_enc=None, responsible_phone_hash=None,
                        responsible_phone_masked=None)
        try:
            number = phone.parse_phone(value)
        except phone.InvalidPhone as e:
            raise InvalidInput("responsible_phone", e.reason) from None
        return dict(responsible_phone_enc=cipher.encrypt(number, "phone"),
                    responsible_phone_hash=cipher.keyed_hash("phone", number),
                    responsible_phone_masked=phone.mask_phone(number))

    async def create_place(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                           data: PlaceCreate) -> PlaceDetail:
        repo = RegistryRepository(session, subject)
        await self._grid(repo, subject, data.grid_code)
        category = self._category(data.category)
        lng, lat = (data.lng, data.lat) if data.lng is not None and data.lat is not None \
            else (None, None)
        now = utcnow()
        row = Place(region_code=data.grid_code, category=category, name=data.name,
                    address=data.address, lng=lng, lat=lat,
                    responsible_name=data.responsible_name,
                    inspection_interval_days=data.inspection_interval_days
                    or PLACE_INTERVALS[category], created_at=now, updated_at=now,
                    **self.place_phone(cipher, data.responsible_phone))
        await self._created(session, subject, row, "place", {
            "category": category, "name": data.name, "address": data.address,
            "responsible_name": data.responsible_name,
            "responsible_phone": row.responsible_phone_masked,
            "inspection_interval_days": row.inspection_interval_days})
        return await self.place(session, subject, cipher, row.id)

    async def update_place(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                           place_id: int, data: PlaceUpdate) -> PlaceDetail:
        repo = RegistryRepository(session, subject)
        row = await self._get(repo, Place, place_id, "place")
        _check_version(row, data.version, "place")
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        if given.get("category") is not None:
            self._category(given["category"])
        for field in ("category", "name", "inspection_interval_days"):
            if field in given and given[field] is None:
                raise InvalidInput(field, "cannot be emptied")
        changes = _apply(row, given, ("category", "name", "address", "lng", "lat",
                                      "responsible_name", "inspection_interval_days"))
        if "responsible_phone" in given:
            values = self.place_phone(cipher, given["responsible_phone"])
            if values["responsible_phone_hash"] != row.responsible_phone_hash:
                changes["responsible_phone"] = [row.responsible_phone_masked,
                                                values["responsible_phone_masked"]]
                for k, v in values.items():
                    setattr(row, k, v)
        await self._updated(session, subject, row, "place", changes)
        return await self.place(session, subject, cipher, row.id)

    async def place(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                    place_id: int, *, route: str | None = None) -> PlaceDetail:
        """A place with its latest inspections and history; the responsible person's phone
        in clear for a ``pii:read`` holder (logged), masked otherwise."""
        from wangge.models import Visit

        repo = RegistryRepository(session, subject)
        row = await self._get(repo, Place, place_id, "place")
        out = place_fields(row)
        clear = await registry_service.unmask(
            session, subject, cipher, "place", row.id, row.region_code,
            {"phone": row.responsible_phone_enc}, route=route)
        if clear is not None:
            out["responsible_phone"] = clear["phone"]
        return PlaceDetail(
            **out, masked=clear is None, version=row.version,
            inspections=[visit_out(v) for v in await repo.visits_to(Visit.place_id, row.id)],
            history=[change_out(c) for c in await repo.history("place", [row.id])])

    # --- enterprises and social organisations ---------------------------------------------------

    async def create_enterprise(self, session: AsyncSession, subject: Subject,
                                data: EnterpriseCreate) -> EnterpriseOut:
        repo = RegistryRepository(session, subject)
        await self._grid(repo, subject, data.grid_code)
        code = None
        if data.credit_code is not None:
            try:
                code = creditcode.parse(data.credit_code)
            except creditcode.InvalidCreditCode as e:
                raise InvalidInput("credit_code", e.reason) from None
            if await repo.enterprise_by_credit_code(code) is not None:
                raise Conflict("credit_code: this organisation is already registered",
                               field="credit_code")
        row = Enterprise(region_code=data.grid_code, kind=data.kind, name=data.name,
                         credit_code=code, legal_person=data.legal_person,
                         employees=data.employees, address=data.address,
                         updated_at=utcnow())
        await self._created(session, subject, row, "enterprise", {
            "kind": data.kind, "name": data.name, "credit_code": code,
            "legal_person": data.legal_person, "employees": data.employees,
            "address": data.address})
        return _enterprise_out(row)

    async def update_enterprise(self, session: AsyncSession, subject: Subject,
                                enterprise_id: int, data: EnterpriseUpdate) -> EnterpriseOut:
        repo = RegistryRepository(session, subject)
        row = await self._get(repo, Enterprise, enterprise_id, "enterprise")
        _check_version(row, data.version, "enterprise")
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        if "name" in given and given["name"] is None:
            raise InvalidInput("name", "cannot be emptied")
        changes = _apply(row, given, ("name", "legal_person", "employees", "address"))
        await self._updated(session, subject, row, "enterprise", changes)
        return _enterprise_out(row)

    async def enterprises(self, session: AsyncSession, subject: Subject, *, grid: str | None,
                          kind: str | None, before: int | None, limit: int) -> EnterprisePage:
        rows, cursor = await self._page(RegistryRepository(session, subject), Enterprise, grid,
                                        before, limit,
                                        *([Enterprise.kind == kind] if kind else []))
        return EnterprisePage(items=[_enterprise_out(e) for e in rows], next_cursor=cursor)

    # --- "three-no" compounds -------------------------------------------------------------------

    async def create_compound(self, session: AsyncSession, subject: Subject,
                              data: CompoundCreate) -> CompoundOut:
        repo = RegistryRepository(session, subject)
        await self._grid(repo, subject, data.grid_code)
        checklist = [i.model_dump() for i in data.checklist] if data.checklist is not None \
            else [{"item": item, "done": False} for item in COMPOUND_CHECKLIST]
        row = Compound(region_code=data.grid_code, name=data.name, address=data.address,
                       households=data.households,
                       checklist=json.dumps(checklist, ensure_ascii=False),
                       status="pending", updated_at=utcnow())
        await self._created(session, subject, row, "compound", {
            "name": data.name, "address": data.address, "households": data.households,
            "status": "pending", "checklist": checklist})
        return _compound_out(row)

    async def update_compound(self, session: AsyncSession, subject: Subject, compound_id: int,
                              data: CompoundUpdate) -> CompoundOut:
        """Ticks items or moves the status: rectified needs every item done and records when;
        a ticked item on a pending compound makes it rectifying."""
        repo = RegistryRepository(session, subject)
        row = await self._get(repo, Compound, compound_id, "compound")
        _check_version(row, data.version, "compound")
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        for field in ("name", "status", "checklist"):
            if field in given and given[field] is None:
                raise InvalidInput(field, "cannot be emptied")
        checklist = given.pop("checklist", None)
        changes = _apply(row, given, ("name", "households"))
        items = json.loads(row.checklist)
        if checklist is not None and checklist != items:
            changes["checklist"] = [items, checklist]
            items = checklist
            row.checklist = json.dumps(checklist, ensure_ascii=False)
        status = given.get("status") or row.status
        if status == "pending" and any(i["done"] for i in items) and "status" not in given:
            status = "rectifying"
        if status == "rectified" and not all(i["done"] for i in items):
            raise InvalidInput("status", "rectified needs every checklist item done: "
                               + ", ".join(i["item"] for i in items if not i["done"]))
        if status != row.status:
            changes["status"] = [row.status, status]
            row.status = status
            row.rectified_at = utcnow() if status == "rectified" else None
        await self._updated(session, subject, row, "compound", changes)
        return _compound_out(row)

    async def compounds(self, session: AsyncSession, subject: Subject, *, grid: str | None,
                        status: str | None, before: int | None, limit: int) -> CompoundPage:
        rows, cursor = await self._page(RegistryRepository(session, subject), Compound, grid,
                                        before, limit,
                                        *([Compound.status == status] if status else []))
        return CompoundPage(items=[_compound_out(c) for c in rows], next_cursor=cursor)


entity_service = EntityService()
