"""Named actions on the registry and its reads: residents (ID numbers validated per GB 11643,
PII encrypted with a keyed hash and shown masked unless the viewer holds ``pii:read`` there —
every unmasked view logged), key places, home visits (GPS check-in, far ones flagged, an issue
found opened as a case in the same step), the change history and collection records.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from wangge.audit.chain import canonical_changes
from wangge.authz.permissions import PII_READ, REGISTRY_WRITE, grants
from wangge.authz.scope import PostRef, Subject
from wangge.geo.crs import to_wgs84
from wangge.kit.actions import record
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import Base, utcnow
from wangge.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from wangge.kit.jsontext import compact
from wangge.models import (
    AuditRecord,
    CollectionRecord,
    Household,
    PiiAccess,
    Place,
    RegistryChange,
    Resident,
    ResidentTag,
    Visit,
)
from wangge.registry import idnumber, phone
from wangge.registry.repository import RegistryRepository
from wangge.registry.schemas import (
    ChangeOut,
    MergeIn,
    PiiAccessOut,
    PiiAccessPage,
    PlaceOut,
    PlacePage,
    ResidentCreate,
    ResidentDetail,
    ResidentOut,
    ResidentPage,
    ResidentUpdate,
    TagOut,
    VisitCreate,
    VisitOut,
)

if TYPE_CHECKING:
    from wangge.geo.service import GridIndexCache

MAX_PAGE = 200
# A check-in farther than this from the household's address is flagged (never refused).
FAR_METERS = 300.0




def post_over(subject: Subject, permission: str, code: str) -> PostRef | None:
    """The deepest region post of the subject granting ``permission`` over ``code``."""
    posts = [p for p in subject.posts if grants(p, permission) and p.code == p.region_code
             and code.startswith(p.region_code)]
    return max(posts, key=lambda p: len(p.region_code), default=None)


def can_unmask(subject: Subject, region_code: str) -> bool:
    """Whether the subject sees this region's ID numbers and phones in clear."""
    return subject.is_system or post_over(subject, PII_READ, region_code) is not None


def metres_between(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius) in metres."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def writer_post(subject: Subject, region_code: str, what: str) -> PostRef | None:
    """The post writing to the registry at ``region_code``; ``Forbidden`` without one."""
    post = post_over(subject, REGISTRY_WRITE, region_code)
    if post is None and not subject.is_system:
        raise Forbidden(f"{what} needs registry:write in the grid", permission=REGISTRY_WRITE)
    return post


def visit_out(v: Visit) -> VisitOut:
    return VisitOut(id=v.id, client_uuid=v.client_uuid, region_code=v.region_code,
                    household_id=v.household_id, resident_id=v.resident_id, place_id=v.place_id,
                    visitor=v.visitor, post=v.post, at=v.at, lng=v.lng, lat=v.lat,
                    distance_m=v.distance_m, far=v.far, notes=v.notes,
                    issues=json.loads(v.issues), case_id=v.case_id)


def place_fields(p: Place) -> dict[str, Any]:
    """A place as lists show it (the responsible person's phone masked)."""
    return dict(id=p.id, region_code=p.region_code, category=p.category, name=p.name,
                address=p.address, lng=p.lng, lat=p.lat, responsible_name=p.responsible_name,
                responsible_phone=p.responsible_phone_masked,
                inspection_interval_days=p.inspection_interval_days,
                last_inspected_at=p.last_inspected_at)


def tag_out(t: ResidentTag) -> TagOut:
    return TagOut(id=t.id, category=t.category, level=t.level,
                  responsible_post=t.responsible_post, fields=json.loads(t.fields),
                  visit_interval_days=t.visit_interval_days, last_visit_at=t.last_visit_at,
                  active=t.active)


def change_out(c: RegistryChange) -> ChangeOut:
    return ChangeOut(id=c.id, entity_type=c.entity_type, entity_id=c.entity_id,
                     action=c.action, at=c.at, actor=c.actor, post=c.post,
                     changes=json.loads(c.changes))


class RegistryService:
    # --- residents ------------------------------------------------------------------------------

    def resident_fields(self, r: Resident, tags: Sequence[ResidentTag],
                      clear: dict[str, str | None] | None = None) -> dict[str, Any]:
        return dict(
            id=r.id, region_code=r.region_code, household_id=r.household_id,
            relation=r.relation, name=r.name, sex=r.sex, birth_date=r.birth_date,
            ethnicity=r.ethnicity, population_type=r.population_type,
            id_number=clear["id_number"] if clear is not None else r.id_number_masked,
            phone=clear["phone"] if clear is not None else r.phone_masked,
            masked=clear is None, tags=[tag_out(t) for t in tags],
            merged_into_id=r.merged_into_id, version=r.version, created_at=r.created_at,
            updated_at=r.updated_at)

    async def create_resident(self, session: AsyncSession, subject: Subject,
                              cipher: PiiCipher, data: ResidentCreate) -> ResidentOut:
        """Registers a resident in a grid (a collection record for the worker). An ID number
        already registered is a 409 naming ``id_number``, never a second record."""
        repo = RegistryRepository(session, subject)
        post, values = self.check_resident(subject, cipher, data,
                                           await repo.region_level(data.grid_code))
        if "id_number_hash" in values:
            existing = await repo.live_by_id_hash(values["id_number_hash"])
            if existing is not None:
                seen = subject.can_read_code(existing.region_code)
                raise Conflict("id_number: this person is already registered"
                               + (f" (resident {existing.id})" if seen else " elsewhere"),
                               field="id_number",
                               **({"resident_id": existing.id} if seen else {}))
        if data.household_id is not None:
            household = await repo.household(data.household_id)
            if household is None or household.region_code != data.grid_code:
                raise InvalidInput("household_id", f"no household {data.household_id} in "
                                   f"grid {data.grid_code}")
        now = utcnow()
        resident = Resident(
            region_code=data.grid_code, household_id=data.household_id, relation=data.relation,
            name=data.name, ethnicity=data.ethnicity, population_type=data.population_type,
            created_at=now, updated_at=now, **values)
        try:
            async with session.begin_nested():
                session.add(resident)
                await session.flush()
        except IntegrityError:
            # Registered by another request since the check above (the unique index).
            raise Conflict("id_number: this person is already registered",
                           field="id_number") from None
        shown = {"name": data.name, "region_code": data.grid_code,
                 "population_type": data.population_type,
                 "id_number": resident.id_number_masked, "phone": resident.phone_masked}
        await self.changed(session, subject, post, "resident", resident.id,
                            data.grid_code, "create", {k: [None, v] for k, v in shown.items()})
        return self.resident_out(resident, [])

    def check_resident(self, subject: Subject, cipher: PiiCipher, data: ResidentCreate,
                       grid_level: str | None) -> tuple[PostRef | None, dict[str, Any]]:
        """The rules of registering one resident that need no query (``grid_level`` is the
        level of ``data.grid_code``, None if no such region): the grid in scope, registry:write
        over it, the ID number (sex and birth date agreeing with it) and the phone. Returns the
        post acting and the derived column values (PII encrypted, hashed and masked); raises
        ``InvalidInput`` naming the field, or ``Forbidden``. Shared with the file import."""
        if not subject.can_read_code(data.grid_code) or grid_level != "grid":
            raise InvalidInput("grid_code", f"{data.grid_code} is not a grid in your scope")
        post = writer_post(subject, data.grid_code, "registering residents")
        values: dict[str, Any] = dict(sex=data.sex, birth_date=data.birth_date)
        if data.id_number is not None:
            try:
                parsed = idnumber.parse(data.id_number)
            except idnumber.InvalidIdNumber as e:
                raise InvalidInput("id_number", e.reason) from None
            for field, derived in (("sex", parsed.sex), ("birth_date", parsed.birth)):
                if values[field] is not None and values[field] != derived:
                    raise InvalidInput(field, f"differs from the ID number's ({derived})")
                values[field] = derived
            values.update(id_number_enc=cipher.encrypt(parsed.value, "id_number"),
                          id_number_hash=cipher.keyed_hash("id_number", parsed.value),
                          id_number_masked=idnumber.mask(parsed.value))
        if data.phone is not None:
            try:
                number = phone.parse_phone(data.phone)
            except phone.InvalidPhone as e:
                raise InvalidInput("phone", e.reason) from None
            values.update(phone_enc=cipher.encrypt(number, "phone"),
                          phone_hash=cipher.keyed_hash("phone", number),
                          phone_masked=phone.mask_phone(number))
        return post, values

    def change_rows(self, subject: Subject, post: PostRef | None, entity: str, entity_id: int,
                    region: str, action: str, changes: dict[str, Any],
                    ) -> list[tuple[type[Base], dict[str, Any]]]:
        """What ``_changed`` writes (history, collection record, audit record) as (model,
        values) pairs, for bulk writers (the import) that insert each table once per batch.
        Audit records go in unsealed, as ``audit.chain.append`` adds them; the sealer chains
        them."""
        now = utcnow()
        by = str(post) if post else None
        rows: list[tuple[type[Base], dict[str, Any]]] = [(RegistryChange, dict(
            entity_type=entity, entity_id=entity_id, region_code=region, action=action,
            at=now, actor_account_id=subject.account_id, actor=subject.name, post=by,
            changes=compact(changes)))]
        if action in ("create", "update"):
            rows.append((CollectionRecord, dict(
                region_code=region, account_id=subject.account_id, entity_type=entity,
                entity_id=entity_id, action=action, at=now)))
        rows.append((AuditRecord, dict(
            at=now, actor_account_id=subject.account_id, actor=subject.name, post=by,
            action=f"{entity}.{action}d" if action.endswith("e") else f"{entity}.{action}",
            target_type=entity, target_id=str(entity_id), region_code=region,
            changes=canonical_changes({k: tuple(v) for k, v in changes.items()}),
            client_addr=subject.client_addr)))
        return rows

    async def changed(self, session: AsyncSession, subject: Subject, post: PostRef | None,
                       entity: str, entity_id: int, region: str, action: str,
                       changes: dict[str, Any]) -> None:
        """History, collection record and audit record of one registry write (PII masked)."""
        now = utcnow()
        session.add(RegistryChange(
            entity_type=entity, entity_id=entity_id, region_code=region, action=action,
            at=now, actor_account_id=subject.account_id, actor=subject.name,
            post=str(post) if post else None, changes=compact(changes)))
        if action in ("create", "update"):
            session.add(CollectionRecord(region_code=region, account_id=subject.account_id,
                                         entity_type=entity, entity_id=entity_id,
                                         action=action, at=now))
        await record(session, subject, f"{entity}.{action}d" if action.endswith("e")
                     else f"{entity}.{action}", target_type=entity, target_id=entity_id,
                     region_code=region, post=str(post) if post else None,
                     changes={k: tuple(v) for k, v in changes.items()})

    async def resident(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                       resident_id: int, *, route: str | None = None,
                       client_addr: str | None = None) -> ResidentDetail:
        """One resident with tags and history (its merged duplicates' history too). In clear
        for a ``pii:read`` holder over its grid, and then logged."""
        repo = RegistryRepository(session, subject)
        r = await repo.resident(resident_id)
        if r is None:
            raise NotFound(f"resident {resident_id} not found", resident_id=resident_id)
        clear = await self.unmask(session, subject, cipher, "resident", r.id, r.region_code, {
            "id_number": r.id_number_enc, "phone": r.phone_enc}, route=route,
            client_addr=client_addr)
        tags = (await repo.tags_of([r.id])).get(r.id, [])
        history = await repo.history("resident", [r.id, *await repo.merged_into(r.id)])
        return ResidentDetail(**self.resident_fields(r, tags, clear),
                              history=[change_out(c) for c in history])

    async def unmask(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                     entity_type: str, entity_id: int, region_code: str,
                     encrypted: dict[str, str | None], *, route: str | None = None,
                     client_addr: str | None = None) -> dict[str, str | None] | None:
        """The PII fields (field → ciphertext) in clear when the subject may see them at
        ``region_code`` (None otherwise); a view of any value is written to the access log."""
        if not can_unmask(subject, region_code):
            return None
        clear = {f: cipher.decrypt(v, f) if v else None for f, v in encrypted.items()}
        shown = [f for f, v in clear.items() if v is not None]
        if shown:
            post = post_over(subject, PII_READ, region_code)
            session.add(PiiAccess(
                at=utcnow(), account_id=subject.account_id, actor=subject.name,
                post=str(post) if post else None, entity_type=entity_type, entity_id=entity_id,
                region_code=region_code, fields=",".join(shown), route=route,
                client_addr=subject.client_addr if client_addr is None else client_addr))
            await session.flush()
        return clear

    def resident_out(self, r: Resident, tags: Sequence[ResidentTag]) -> ResidentOut:
        """A resident as lists show it (masked)."""
        return ResidentOut(**self.resident_fields(r, tags))

    async def residents(self, session: AsyncSession, subject: Subject, cipher: PiiCipher, *,
                        grid: str | None = None, q: str | None = None,
                        id_number: str | None = None, phone_number: str | None = None,
                        before: int | None = None, limit: int = 50) -> ResidentPage:
        """Residents in scope (masked), newest first; ``id_number`` and ``phone`` find exact
        matches through their keyed hashes."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        if grid is not None and not subject.can_read_code(grid):
            raise NotFound(f"region {grid} not found", region=grid)
        id_hash = phone_hash = None
        if id_number is not None:
            try:
                id_hash = cipher.keyed_hash("id_number", idnumber.parse(id_number).value)
            except idnumber.InvalidIdNumber as e:
                raise InvalidInput("id_number", e.reason) from None
        if phone_number is not None:
            try:
                phone_hash = cipher.keyed_hash("phone", phone.parse_phone(phone_number))
            except phone.InvalidPhone as e:
                raise InvalidInput("phone", e.reason) from None
        repo = RegistryRepository(session, subject)
        rows = await repo.resident_page(grid=grid, q=q, id_hash=id_hash, phone_hash=phone_hash,
                                        before=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        tags = await repo.tags_of([r.id for r in rows])
        return ResidentPage(items=[self.resident_out(r, tags.get(r.id, []))
                                   for r in rows],
                            next_cursor=rows[-1].id if more and rows else None)

    # --- places ---------------------------------------------------------------------------------

    async def places(self, session: AsyncSession, subject: Subject, *, grid: str | None = None,
                     category: str | None = None, before: int | None = None,
                     limit: int = 50) -> PlacePage:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        if grid is not None and not subject.can_read_code(grid):
            raise NotFound(f"region {grid} not found", region=grid)
        rows = await RegistryRepository(session, subject).place_page(grid, category, before,
                                                                     limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return PlacePage(items=[PlaceOut(**place_fields(p)) for p in rows],
                         next_cursor=rows[-1].id if more and rows else None)

    # --- visits ---------------------------------------------------------------------------------

    async def visit(self, session: AsyncSession, subject: Subject, data: VisitCreate,
                    index: GridIndexCache | None = None) -> tuple[VisitOut, bool]:
        """Records a home visit (idempotent on ``client_uuid``): distance of the check-in to
        the household's address, far ones flagged; the special-group tags of the people
        visited count it; an issue found with ``case`` is opened as a case in the same step."""
        repo = RegistryRepository(session, subject)
        body = data.model_dump(mode="json")
        content_hash = hashlib.sha256(compact(body).encode()).hexdigest()
        existing = await repo.visit_by_client_uuid(str(data.client_uuid))
        if existing is not None:
            if existing.visitor_account_id != subject.account_id or \
                    existing.content_hash != content_hash:
                raise Conflict("client_uuid: already used for a different visit",
                               field="client_uuid")
            return visit_out(existing), False
        if sum(x is not None for x in (data.household_id, data.resident_id, data.place_id)) != 1:
            raise InvalidInput("household_id", "give one of household_id, resident_id and "
                               "place_id")
        household = resident = place = None
        if data.household_id is not None:
            household = await repo.household(data.household_id)
            if household is None:
                raise InvalidInput("household_id", f"no household {data.household_id} in "
                                   "your scope")
            region = household.region_code
        elif data.resident_id is not None:
            resident = await repo.resident(data.resident_id)
            if resident is None:
                raise InvalidInput("resident_id", f"no resident {data.resident_id} in your "
                                   "scope")
            region = resident.region_code
            if resident.household_id is not None:
                household = await repo.household(resident.household_id)
        else:
            place = await repo.scoped(Place, data.place_id or 0)
            if place is None:
                raise InvalidInput("place_id", f"no place {data.place_id} in your scope")
            region = place.region_code
        post = writer_post(subject, region, "visits")
        now = utcnow()
        at = data.at or now
        if at > now:
            raise InvalidInput("at", "lies in the future")
        lng = lat = distance = None
        if data.location is not None:
            x, y = to_wgs84(data.location.lng, data.location.lat, data.location.crs)
            lng, lat = round(float(x), 7), round(float(y), 7)
            address = await repo.address(household.address_id) \
                if household is not None and household.address_id else None
            target = (place.lng, place.lat) if place is not None else \
                (address.lng, address.lat) if address is not None else (None, None)
            if target[0] is not None and target[1] is not None:
                distance = round(metres_between(lng, lat, target[0], target[1]), 1)
        visit = Visit(
            client_uuid=str(data.client_uuid), content_hash=content_hash, region_code=region,
            household_id=household.id if household else None,
            resident_id=resident.id if resident else None, place_id=place.id if place else None,
            visitor_account_id=subject.account_id, visitor=subject.name,
            post=str(post) if post else None, at=at, lng=lng, lat=lat, distance_m=distance,
            far=distance is not None and distance > FAR_METERS, notes=data.notes,
            issues=compact(data.issues), created_at=now)
        session.add(visit)
        await session.flush()
        if data.case is not None:
            visit.case_id = await self._open_case(session, subject, visit, data, index)
        await self._mark_visited(session, visit, resident, household, place)
        await record(session, subject, "visit.recorded", target_type="visit",
                     target_id=visit.id, region_code=region, post=str(post) if post else None,
                     changes={"household_id": (None, visit.household_id),
                              "resident_id": (None, visit.resident_id),
                              "place_id": (None, visit.place_id),
                              "distance_m": (None, distance), "far": (None, visit.far),
                              "case_id": (None, visit.case_id)})
        return visit_out(visit), True

    @staticmethod
    async def _mark_visited(session: AsyncSession, visit: Visit, resident: Resident | None,
                            household: Household | None, place: Place | None) -> None:
        """Moves the last-visit times the plans read: the place's inspection, or the
        household's visit and the special-group tags of the people visited (a later visit
        recorded offline never moves them back). Not an edit of the entry: its version stays,
        so a worker's open form does not go stale because someone visited."""
        at = visit.at
        if place is not None:
            await session.execute(
                update(Place).where(Place.id == place.id, or_(
                    Place.last_inspected_at.is_(None), Place.last_inspected_at < at))
                .values(last_inspected_at=at).execution_options(synchronize_session=False))
            await session.refresh(place, ["last_inspected_at"])
            return
        if household is not None and resident is None:
            await session.execute(
                update(Household).where(Household.id == household.id, or_(
                    Household.last_visit_at.is_(None), Household.last_visit_at < at))
                .values(last_visit_at=at).execution_options(synchronize_session=False))
        visited = select(Resident.id).where(
            Resident.id == resident.id if resident is not None
            else Resident.household_id == visit.household_id)
        await session.execute(
            update(ResidentTag).where(ResidentTag.resident_id.in_(visited),
                                      ResidentTag.active.is_(True),
                                      or_(ResidentTag.last_visit_at.is_(None),
                                          ResidentTag.last_visit_at < at))
            .values(last_visit_at=at).execution_options(synchronize_session=False))

    async def _open_case(self, session: AsyncSession, subject: Subject, visit: Visit,
                         data: VisitCreate, index: GridIndexCache | None) -> int:
        from wangge.cases.schemas import CaseCreate
        from wangge.cases.service import case_service
        from wangge.geo.service import GridIndexCache

        found = data.case
        assert found is not None
        created = CaseCreate(
            client_uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"wangge:visit:{visit.client_uuid}"),
            category_code=found.category_code, title=found.title,
            description=found.description, source="grid_worker",
            # The issue is at the household or place visited, in its grid: the visitor's GPS
            # point may lie elsewhere (a far check-in must not fail the visit).
            grid_code=visit.region_code)
        out, _ = await case_service.create(session, subject, created, index or GridIndexCache(0))
        return out.id

    # --- the PII access log ---------------------------------------------------------------------

    async def access_log(self, session: AsyncSession, subject: Subject, *,
                         account_id: int | None = None, entity_type: str | None = None,
                         entity_id: int | None = None, since: datetime | None = None,
                         before: int | None = None, limit: int = 50) -> PiiAccessPage:
        """Who saw which person's ID number or phone in clear, newest first (audit:read)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        rows = await RegistryRepository(session, subject).access_page(
            account_id=account_id, entity_type=entity_type, entity_id=entity_id, since=since,
            before=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return PiiAccessPage(items=[PiiAccessOut(
            id=a.id, at=a.at, actor=a.actor, post=a.post, entity_type=a.entity_type,
            entity_id=a.entity_id, region_code=a.region_code, fields=a.fields, route=a.route,
            client_addr=a.client_addr) for a in rows],
            next_cursor=rows[-1].id if more and rows else None)


    # --- changes and merges --------------------------------------------------------------------

    async def _writable(self, session: AsyncSession, subject: Subject, resident_id: int,
                        version: int | None = None) -> tuple[Resident, PostRef | None]:
        r = await RegistryRepository(session, subject).resident(resident_id)
        if r is None:
            raise NotFound(f"resident {resident_id} not found", resident_id=resident_id)
        post = writer_post(subject, r.region_code, "changing residents")
        if r.merged_into_id is not None:
            raise Conflict(f"resident {r.id} was merged into {r.merged_into_id}",
                           field="resident_id", merged_into_id=r.merged_into_id)
        if version is not None and version != r.version:
            raise Conflict(f"version {version} is stale: the resident is at version "
                           f"{r.version}; reload it", field="version",
                           current_version=r.version)
        return r, post

    async def update_resident(self, session: AsyncSession, subject: Subject,
                              cipher: PiiCipher, resident_id: int,
                              data: ResidentUpdate) -> ResidentOut:
        """Changes the fields given (a collection record; history with PII masked)."""
        r, post = await self._writable(session, subject, resident_id, data.version)
        given = data.model_dump(exclude_unset=True, exclude={"version"})
        changes: dict[str, list[Any]] = {}
        for field in ("name", "population_type", "ethnicity", "relation"):
            if field in given and given[field] != getattr(r, field):
                changes[field] = [getattr(r, field), given[field]]
                setattr(r, field, given[field])
        if "household_id" in given and given["household_id"] != r.household_id:
            if given["household_id"] is not None:
                household = await RegistryRepository(session, subject).household(
                    given["household_id"])
                if household is None or household.region_code != r.region_code:
                    raise InvalidInput("household_id", f"no household {given['household_id']} "
                                       f"in grid {r.region_code}")
            changes["household_id"] = [r.household_id, given["household_id"]]
            r.household_id = given["household_id"]
        if "phone" in given:
            masked = None
            if given["phone"] is not None:
                try:
                    number = phone.parse_phone(given["phone"])
                except phone.InvalidPhone as e:
                    raise InvalidInput("phone", e.reason) from None
                masked = phone.mask_phone(number)
                r.phone_enc = cipher.encrypt(number, "phone")
                r.phone_hash = cipher.keyed_hash("phone", number)
            else:
                r.phone_enc = r.phone_hash = None
            if masked != r.phone_masked or given["phone"] is not None:
                changes["phone"] = [r.phone_masked, masked]
            r.phone_masked = masked
        if changes:
            r.updated_at = utcnow()
            try:
                await session.flush()
            except StaleDataError:
                raise Conflict("the resident changed meanwhile; reload it",
                               field="version") from None
            await self.changed(session, subject, post, "resident", r.id, r.region_code,
                                "update", changes)
        tags = (await RegistryRepository(session, subject).tags_of([r.id])).get(r.id, [])
        return self.resident_out(r, tags)

    async def merge_resident(self, session: AsyncSession, subject: Subject, resident_id: int,
                             data: MergeIn) -> ResidentOut:
        """Merges a duplicate record into another: the duplicate points at it, its tags move,
        an ID number or phone only the duplicate had moves too, and both histories stay (the
        survivor's history shows the duplicate's)."""
        if data.into == resident_id:
            raise InvalidInput("into", "a record cannot be merged into itself")
        dup, post = await self._writable(session, subject, resident_id, data.version)
        try:
            keep, _ = await self._writable(session, subject, data.into)
        except NotFound:
            raise InvalidInput("into", f"no resident {data.into} in your scope") from None
        if dup.id_number_hash and keep.id_number_hash and \
                dup.id_number_hash != keep.id_number_hash:
            raise InvalidInput("into", "the two records carry different ID numbers")
        moved: dict[str, list[Any]] = {}
        dup.merged_into_id = keep.id
        dup.updated_at = utcnow()
        await session.flush()  # the duplicate leaves the live set before its number moves
        if dup.id_number_hash and not keep.id_number_hash:
            keep.id_number_enc, keep.id_number_hash = dup.id_number_enc, dup.id_number_hash
            keep.id_number_masked = dup.id_number_masked
            moved["id_number"] = [None, dup.id_number_masked]
        if dup.phone_hash and not keep.phone_hash:
            keep.phone_enc, keep.phone_hash = dup.phone_enc, dup.phone_hash
            keep.phone_masked = dup.phone_masked
            moved["phone"] = [None, dup.phone_masked]
        keep.updated_at = utcnow()
        await session.execute(update(ResidentTag).where(ResidentTag.resident_id == dup.id)
                              .values(resident_id=keep.id)
                              .execution_options(synchronize_session=False))
        await session.flush()
        await self.changed(session, subject, post, "resident", dup.id, dup.region_code,
                            "merge", {"merged_into_id": [None, keep.id]})
        await self.changed(session, subject, post, "resident", keep.id, keep.region_code,
                            "merge", {"merged_from_id": [None, dup.id], **moved})
        tags = (await RegistryRepository(session, subject).tags_of([keep.id])).get(keep.id, [])
        return self.resident_out(keep, tags)


registry_service = RegistryService()
