"""Importing residents, households and key places from CSV or Excel with a validation report
(row, field, reason).

Each row goes through the same rules as registering one entry through the API: the grid in
scope, registry:write over it, then the entry's own checks (a resident's ID number per GB 11643
with sex and birth date agreeing, phones, a household's standard address in the grid, a place's
category). Entries already registered — in the database or on an earlier row of the file — are
reported as duplicates and skipped, never stored twice: residents by the ID number's keyed
hash, households by address and head, places by grid, category and name. ``mode="all"`` stores
nothing when any row is invalid; ``mode="valid"`` stores the valid rows and reports the rest.
Duplicates are not errors in either mode (a file imported twice imports nothing the second
time, and says why). Two imports racing to register the same person: the unique index stops
the second, whose rows are checked again and reported as duplicates.

Reading: .xlsx (first sheet) or CSV in UTF-8 (with or without BOM), falling back to GB 18030
(a superset of GBK, what Chinese Excel writes). Headers in Chinese or English (``COLUMNS``).
Lookups are batched (region levels and duplicate hashes in chunks), and the rows and their
history, collection and audit records are inserted one statement per table and batch, so
thousands of rows take seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import PostRef, Subject
from wangge.kit.actions import record
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import Base, utcnow
from wangge.kit.errors import Forbidden, InvalidInput
from wangge.models import Address, Household, Place, Resident
from wangge.registry.addresses import normalise_address
from wangge.registry.entities import entity_service
from wangge.registry.places import PLACE_CATEGORIES, PLACE_INTERVALS
from wangge.registry.repository import RegistryRepository
from wangge.registry.schemas import HouseholdImport, PlaceCreate, ResidentCreate
from wangge.registry.service import registry_service, writer_post

Mode = Literal["all", "valid"]
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
CHUNK = 500  # bound parameters per IN (...) list, well under SQLite's limit
PII_COLUMNS = ("id_number_enc", "id_number_hash", "id_number_masked", "phone_enc",
               "phone_hash", "phone_masked")

# field -> accepted headers (compared case-insensitively, spaces ignored), per entity
RESIDENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "公民身份号码", "证件号码"),
    "grid_code": ("grid_code", "grid", "网格编码", "网格代码", "网格"),
    "population_type": ("population_type", "人口类型"),
    "sex": ("sex", "性别"),
    "birth_date": ("birth_date", "出生日期"),
    "ethnicity": ("ethnicity", "民族"),
    "phone": ("phone", "联系电话", "电话", "手机号", "手机号码"),
    "relation": ("relation", "与户主关系"),
}
HOUSEHOLD_COLUMNS: dict[str, tuple[str, ...]] = {
    "grid_code": RESIDENT_COLUMNS["grid_code"],
    "address": ("address", "地址", "住址", "标准地址", "门牌地址"),
    "head_name": ("head_name", "户主", "户主姓名"),
    "kind": ("kind", "户别", "户类型"),
}
PLACE_COLUMNS: dict[str, tuple[str, ...]] = {
    "grid_code": RESIDENT_COLUMNS["grid_code"],
    "category": ("category", "类别", "场所类别", "场所类型"),
    "name": ("name", "名称", "场所名称"),
    "address": ("address", "地址", "场所地址"),
    "lng": ("lng", "经度"),
    "lat": ("lat", "纬度"),
    "responsible_name": ("responsible_name", "负责人", "负责人姓名"),
    "responsible_phone": ("responsible_phone", "负责人电话", "联系电话", "电话"),
    "inspection_interval_days": ("inspection_interval_days", "巡查周期", "巡查周期（天）"),
}
POPULATION_TYPES = {"户籍": "registered", "户籍人口": "registered", "流动": "floating",
                    "流动人口": "floating", "境外": "foreign", "境外人员": "foreign",
                    "registered": "registered", "floating": "floating", "foreign": "foreign"}
SEXES = {"男": "male", "女": "female", "m": "male", "f": "female", "male": "male",
         "female": "female"}
HOUSEHOLD_KINDS = {"户籍": "registered", "户籍户": "registered", "流动": "floating",
                   "流动户": "floating", "混合": "mixed", "混合户": "mixed",
                   "registered": "registered", "floating": "floating", "mixed": "mixed"}
PLACE_CATEGORY_NAMES = {**{c.name.lower(): c.code for c in PLACE_CATEGORIES},
                        **{c.name_en.lower(): c.code for c in PLACE_CATEGORIES},
                        **{c.code: c.code for c in PLACE_CATEGORIES}}


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet shows it: the header is row 1
    field: str
    reason: str


@dataclass(frozen=True)
class Duplicate:
    row: int
    reason: str
    existing_id: int | None = None  # the registered entry, when in the importer's scope
    of_row: int | None = None  # the earlier row of the same file


class RowErrorOut(BaseModel):
    row: int
    field: str
    reason: str


class DuplicateOut(BaseModel):
    row: int
    reason: str
    resident_id: int | None = Field(None, description="the registered resident, if in scope")
    household_id: int | None = Field(None, description="the registered household, if in "
                                     "scope")
    place_id: int | None = Field(None, description="the registered place, if in scope")
    of_row: int | None = Field(None, description="the earlier row with the same key")


class ImportOut(BaseModel):
    entity: str
    mode: str
    file: str
    rows: int = Field(description="data rows read (blank rows skipped)")
    imported: int
    errors: list[RowErrorOut]
    duplicates: list[DuplicateOut]


@dataclass
class ImportReport:
    entity: str
    mode: Mode
    file: str
    rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        key = f"{SPECS[self.entity].singular}_id"
        return {"entity": self.entity, "mode": self.mode, "file": self.file,
                "rows": self.rows, "imported": self.imported,
                "errors": [{"row": e.row, "field": e.field, "reason": e.reason}
                           for e in self.errors],
                "duplicates": [{k: v for k, v in (("row", d.row), ("reason", d.reason),
                                                  (key, d.existing_id),
                                                  ("of_row", d.of_row)) if v is not None}
                               for d in self.duplicates]}


# --- reading ------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps numeric codes as floats
    return str(value).strip()


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """The rows (header first) of an uploaded .xlsx or CSV file."""
    if len(content) > MAX_BYTES:
        raise InvalidInput("file", f"larger than {MAX_BYTES // (1024 * 1024)} MB", file=filename)
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return _xlsx_rows(filename, content)
    return _csv_rows(filename, content)


def _csv_rows(filename: str, content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly any byte string
        raise InvalidInput("file", "neither UTF-8 nor GBK text", file=filename)
    if "\x00" in text:
        raise InvalidInput("file", "expected a .csv or .xlsx file", file=filename)
    return [[_cell(c) for c in rec] for rec in csv.reader(io.StringIO(text, newline=""))]


def _xlsx_rows(filename: str, content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InvalidInput("file", f"not a readable .xlsx file ({exc})",
                           file=filename) from None
    try:
        return [[_cell(v) for v in values]
                for values in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _header_map(header: Sequence[str], columns: dict[str, tuple[str, ...]],
                required: Sequence[str]) -> tuple[dict[str, int], list[RowError]]:
    aliases = {a.lower(): f for f, names in columns.items() for a in names}
    at: dict[str, int] = {}
    errors: list[RowError] = []
    for i, raw in enumerate(header):
        name = aliases.get("".join(raw.split()).lower())
        if name is None:
            continue
        if name in at:
            errors.append(RowError(1, name, f"column {raw!r} given twice"))
        at.setdefault(name, i)
    errors += [RowError(1, f, "column missing") for f in required if f not in at]
    return at, errors


def _birth_date(value: str) -> str:
    """ISO from 1985-06-15, 1985/6/15, 1985.6.15, 19850615 (else as given: the schema says)."""
    text = value.split(" ")[0]
    if text.isdigit() and len(text) == 8:
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    for sep in ("/", ".", "-"):
        parts = text.split(sep)
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return f"{int(parts[0]):04d}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return value


def _mapped(body: dict[str, Any], name: str, values: dict[str, str], row: int,
            errors: list[RowError], expected: str) -> bool:
    """Replaces a cell by the value it names (户籍 → registered); False when it names none."""
    if name not in body:
        return True
    mapped = values.get(body[name].lower())
    if mapped is None:
        errors.append(RowError(row, name, f"{body[name]!r} is not {expected}"))
        return False
    body[name] = mapped
    return True


def _resident_cells(body: dict[str, Any], row: int, errors: list[RowError]) -> bool:
    if "birth_date" in body:
        body["birth_date"] = _birth_date(body["birth_date"])
    return _mapped(body, "population_type", POPULATION_TYPES, row, errors,
                   "户籍, 流动 or 境外 (registered, floating, foreign)") and \
        _mapped(body, "sex", SEXES, row, errors, "男 or 女")


def _household_cells(body: dict[str, Any], row: int, errors: list[RowError]) -> bool:
    return _mapped(body, "kind", HOUSEHOLD_KINDS, row, errors,
                   "户籍, 流动 or 混合 (registered, floating, mixed)")


def _place_cells(body: dict[str, Any], row: int, errors: list[RowError]) -> bool:
    return _mapped(body, "category", PLACE_CATEGORY_NAMES, row, errors,
                   "one of the 23 key-place categories (e.g. 学校, 旅馆, 网吧)")


def _body(schema: type[BaseModel], cells: dict[str, str], row: int,
          errors: list[RowError], adjust: Callable[[dict[str, Any], int, list[RowError]], bool],
          ) -> Any:
    body: dict[str, Any] = {k: v for k, v in cells.items() if v}
    if not adjust(body, row, errors):
        return None
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "row"
            errors.append(RowError(row, name, "required" if err["type"] == "missing"
                                   else err["msg"]))
        return None


# --- the entities ---------------------------------------------------------------------------------

Key = Any  # what makes two rows the same entry (None: cannot tell)
Known = dict[Key, tuple[int, str]]  # key -> (id, region) of entries already registered


@dataclass(frozen=True)
class _Checked:
    row: int
    region: str
    post: PostRef | None
    values: dict[str, Any]  # the table's columns
    shown: dict[str, Any]  # what the history shows (PII masked)
    key: Key


@dataclass
class _Context:
    """What the checks of one file need, read once for all rows."""

    subject: Subject
    cipher: PiiCipher
    levels: dict[str, str]
    addresses: dict[tuple[str, str], Address] = field(default_factory=dict)


def _grid(ctx: _Context, grid: str) -> PostRef | None:
    if not ctx.subject.can_read_code(grid) or ctx.levels.get(grid) != "grid":
        raise InvalidInput("grid_code", f"{grid} is not a grid in your scope")
    return writer_post(ctx.subject, grid, "registering entries")


def _check_resident(ctx: _Context, row: int, body: ResidentCreate) -> _Checked:
    post, derived = registry_service.check_resident(ctx.subject, ctx.cipher, body,
                                                    ctx.levels.get(body.grid_code))
    now = utcnow()
    values = dict(region_code=body.grid_code, household_id=None, relation=body.relation,
                  name=body.name, ethnicity=body.ethnicity,
                  population_type=body.population_type, synthetic=False, version=1,
                  created_at=now, updated_at=now, **{k: derived.get(k) for k in PII_COLUMNS},
                  sex=derived["sex"], birth_date=derived["birth_date"])
    shown = {"name": body.name, "region_code": body.grid_code,
             "population_type": body.population_type,
             "id_number": values["id_number_masked"], "phone": values["phone_masked"]}
    return _Checked(row, body.grid_code, post, values, shown, derived.get("id_number_hash"))


def _check_household(ctx: _Context, row: int, body: HouseholdImport) -> _Checked:
    post = _grid(ctx, body.grid_code)
    address = ctx.addresses.get((body.grid_code, normalise_address(body.address)))
    if address is None or address.kind not in ("room", "house"):
        raise InvalidInput("address", f"no room or house {body.address!r} in grid "
                           f"{body.grid_code}: add the address first")
    now = utcnow()
    values = dict(region_code=body.grid_code, address_id=address.id, kind=body.kind,
                  head_name=body.head_name, synthetic=False, version=1, created_at=now,
                  updated_at=now)
    shown = {"kind": body.kind, "head_name": body.head_name, "address": address.text}
    return _Checked(row, body.grid_code, post, values, shown, (address.id, body.head_name))


def _check_place(ctx: _Context, row: int, body: PlaceCreate) -> _Checked:
    post = _grid(ctx, body.grid_code)
    phone_values = entity_service.place_phone(ctx.cipher, body.responsible_phone)
    now = utcnow()
    lng, lat = (body.lng, body.lat) if body.lng is not None and body.lat is not None \
        else (None, None)
    interval = body.inspection_interval_days or PLACE_INTERVALS[body.category]
    values = dict(region_code=body.grid_code, category=body.category, name=body.name,
                  address=body.address, lng=lng, lat=lat,
                  responsible_name=body.responsible_name, inspection_interval_days=interval,
                  synthetic=False, version=1, created_at=now, updated_at=now, **phone_values)
    shown = {"category": body.category, "name": body.name, "address": body.address,
             "responsible_name": body.responsible_name,
             "responsible_phone": phone_values["responsible_phone_masked"],
             "inspection_interval_days": interval}
    return _Checked(row, body.grid_code, post, values, shown,
                    (body.grid_code, body.category, normalise_address(body.name)))


async def _known_residents(repo: RegistryRepository, keys: Sequence[Key]) -> Known:
    return await repo.live_by_id_hashes([k for k in keys if k is not None])


async def _known_households(repo: RegistryRepository, keys: Sequence[Key]) -> Known:
    return await repo.households_at([k for k in keys if k is not None])


async def _known_places(repo: RegistryRepository, keys: Sequence[Key]) -> Known:
    return await repo.places_named([k for k in keys if k is not None])


@dataclass(frozen=True)
class Spec:
    """How one entity is imported."""

    entity: str
    singular: str
    model: type[Base]
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    schema: type[BaseModel]
    adjust: Callable[[dict[str, Any], int, list[RowError]], bool]
    check: Callable[[_Context, int, Any], _Checked]
    known: Callable[[RegistryRepository, Sequence[Key]], Awaitable[Known]]
    same: str  # why a duplicate is one, as the report says it
    key_field: str  # the field a duplicate is reported on


SPECS: dict[str, Spec] = {
    "residents": Spec("residents", "resident", Resident, RESIDENT_COLUMNS,
                      ("name", "grid_code"), ResidentCreate, _resident_cells, _check_resident,
                      _known_residents, "the same ID number", "id_number"),
    "households": Spec("households", "household", Household, HOUSEHOLD_COLUMNS,
                       ("grid_code", "address"), HouseholdImport, _household_cells,
                       _check_household, _known_households, "the same address and head",
                       "address"),
    "places": Spec("places", "place", Place, PLACE_COLUMNS, ("grid_code", "category", "name"),
                   PlaceCreate, _place_cells, _check_place, _known_places,
                   "the same grid, category and name", "name"),
}
Entity = Literal["residents", "households", "places"]


class RegistryImports:
    async def run(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                  entity: Entity, filename: str, content: bytes,
                  mode: Mode = "all") -> ImportReport:
        """Validates every row of the file, then stores the valid ones that are no duplicates
        (``mode="all"``: only if no row is invalid). Each stored row gets its history,
        collection and audit records like a single registration; one more audit record
        summarises the import."""
        spec = SPECS[entity]
        report = ImportReport(entity=entity, mode=mode, file=filename)
        table = read_table(filename, content)
        while table and not any(table[-1]):
            table.pop()
        if not table:
            report.errors.append(RowError(1, "file", "empty file"))
            return report
        at, header_errors = _header_map(table[0], spec.columns, spec.required)
        if header_errors:
            report.errors += header_errors
            return report
        records = [(n, cells) for n, cells in enumerate(table[1:], start=2) if any(cells)]
        if not records:
            report.errors.append(RowError(1, "file", "no data rows"))
            return report
        if len(records) > MAX_ROWS:
            raise InvalidInput("file", f"more than {MAX_ROWS} rows; split the file",
                               file=filename)
        report.rows = len(records)

        bodies: list[tuple[int, Any]] = []
        for number, cells in records:
            values = {f: (cells[i] if i < len(cells) else "") for f, i in at.items()}
            body = _body(spec.schema, values, number, report.errors, spec.adjust)
            if body is not None:
                bodies.append((number, body))
        repo = RegistryRepository(session, subject)
        grids = [b.grid_code for _, b in bodies]
        ctx = _Context(subject, cipher, await repo.region_levels(grids))
        if entity == "households":
            ctx.addresses = await repo.addresses_named(
                [(b.grid_code, normalise_address(b.address)) for _, b in bodies])
        checked: list[_Checked] = []
        for number, body in bodies:
            try:
                checked.append(spec.check(ctx, number, body))
            except InvalidInput as exc:
                report.errors.append(RowError(number, str(exc.detail.get("field", "row")),
                                              str(exc.detail.get("reason", exc))))
            except Forbidden as exc:
                report.errors.append(RowError(number, "grid_code", str(exc)))
        report.errors.sort(key=lambda e: e.row)
        fresh = self._fresh(spec, subject, report, checked,
                            await spec.known(repo, [c.key for c in checked]))
        if (report.errors and mode == "all") or not fresh:
            return report
        await self._store(session, subject, repo, spec, report, fresh)
        return report

    async def residents(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                        filename: str, content: bytes, mode: Mode = "all") -> ImportReport:
        return await self.run(session, subject, cipher, "residents", filename, content, mode)

    @staticmethod
    def _fresh(spec: Spec, subject: Subject, report: ImportReport, checked: list[_Checked],
               known: Known) -> list[_Checked]:
        """The rows to store: those registered already, or repeating an earlier row, are
        reported as duplicates (the registered entry named only inside the caller's scope)."""
        first_row: dict[Key, int] = {}
        fresh: list[_Checked] = []
        for c in checked:
            if c.key is not None and c.key in known:
                eid, code = known[c.key]
                seen = subject.can_read_code(code)
                report.duplicates.append(Duplicate(
                    c.row, f"this {spec.singular} is already registered"
                    + (f" ({spec.singular} {eid})" if seen else " elsewhere"),
                    existing_id=eid if seen else None))
            elif c.key is not None and c.key in first_row:
                report.duplicates.append(Duplicate(
                    c.row, f"{spec.same} as row {first_row[c.key]}", of_row=first_row[c.key]))
            else:
                if c.key is not None:
                    first_row[c.key] = c.row
                fresh.append(c)
        return fresh

    async def _store(self, session: AsyncSession, subject: Subject, repo: RegistryRepository,
                     spec: Spec, report: ImportReport, rows: list[_Checked]) -> None:
        table = spec.model.__table__
        pending = list(rows)
        while pending:
            batch, pending = pending[:CHUNK], pending[CHUNK:]
            try:
                async with session.begin_nested():
                    ids = list((await session.execute(
                        table.insert().returning(table.c.id, sort_by_parameter_order=True),
                        [c.values for c in batch])).scalars())
            except IntegrityError:
                # Another import registered some of these meanwhile (the unique index):
                # report those as duplicates and store the rest.
                known = await spec.known(repo, [c.key for c in batch])
                if not known:
                    raise
                pending = self._fresh(spec, subject, report, batch, known) + pending
                continue
            side: dict[type[Base], list[dict[str, Any]]] = {}
            for c, eid in zip(batch, ids, strict=True):
                for model, row in registry_service.change_rows(
                        subject, c.post, spec.singular, eid, c.region, "create",
                        {k: [None, x] for k, x in c.shown.items() if x is not None}):
                    side.setdefault(model, []).append(row)
            for model, many in side.items():
                await session.execute(insert(model), many)
            report.ids += ids
        report.imported = len(report.ids)
        report.duplicates.sort(key=lambda d: d.row)
        if not report.ids:
            return
        grids = sorted({c.region for c in rows})
        common = grids[0]
        for g in grids[1:]:
            while not g.startswith(common):
                common = common[:-1]
        await record(session, subject, f"{spec.singular}.imported", target_type="import",
                     target_id=report.file[:64], region_code=common or None,
                     changes={"file": (None, report.file), "mode": (None, report.mode),
                              "rows": (None, report.rows), "imported": (None, report.imported),
                              "invalid": (None, len({e.row for e in report.errors})),
                              "duplicates": (None, len(report.duplicates))})

    async def acting_as(self, session: AsyncSession, username: str | None) -> Subject:
        """The subject a CLI import acts as: an active account's (its posts' scope and
        rights), or ``system`` when no user name is given."""
        if username is None:
            return Subject.everything()
        from wangge.auth.repository import AuthRepository
        from wangge.auth.subjects import subject_for

        account = await AuthRepository(session).account_by_username(username)
        if account is None or not account.is_active:
            raise InvalidInput("as", f"no active account {username!r}")
        return await subject_for(session, account)


registry_imports = RegistryImports()
