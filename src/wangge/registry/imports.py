"""Importing residents from CSV or Excel with a validation report (row, field, reason).

Each row goes through the same rules as registering one resident
(``RegistryService.check_resident``): the grid in scope, registry:write over it, the ID number
(GB 11643; sex and birth date agreeing with it), the phone. ID numbers already registered —
in the database or on an earlier row of the file — are reported as duplicates and skipped,
never stored twice. ``mode="all"`` stores nothing when any row is invalid; ``mode="valid"``
stores the valid rows and reports the rest. Duplicates are not errors in either mode (a file
imported twice imports nothing the second time, and says why).

Reading: .xlsx (first sheet) or CSV in UTF-8 (with or without BOM), falling back to GB 18030
(a superset of GBK, what Chinese Excel writes). Headers in Chinese or English (``COLUMNS``).
Lookups are batched (region levels and duplicate hashes in chunks), and the rows and their
history, collection and audit records are inserted one statement per table and batch, so
thousands of rows take seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import PostRef, Subject
from wangge.kit.actions import record
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import Base, utcnow
from wangge.kit.errors import Forbidden, InvalidInput
from wangge.models import Region, Resident
from wangge.registry.schemas import ResidentCreate
from wangge.registry.service import registry_service

Mode = Literal["all", "valid"]
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
CHUNK = 500  # bound parameters per IN (...) list, well under SQLite's limit
PII_COLUMNS = ("id_number_enc", "id_number_hash", "id_number_masked", "phone_enc",
               "phone_hash", "phone_masked")

# field -> accepted headers (compared case-insensitively, spaces ignored)
COLUMNS: dict[str, tuple[str, ...]] = {
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
REQUIRED = ("name", "grid_code")
POPULATION_TYPES = {"户籍": "registered", "户籍人口": "registered", "流动": "floating",
                    "流动人口": "floating", "境外": "foreign", "境外人员": "foreign",
                    "registered": "registered", "floating": "floating", "foreign": "foreign"}
SEXES = {"男": "male", "女": "female", "m": "male", "f": "female", "male": "male",
         "female": "female"}


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet shows it: the header is row 1
    field: str
    reason: str


@dataclass(frozen=True)
class Duplicate:
    row: int
    reason: str
    resident_id: int | None = None  # the registered record, when in the importer's scope
    of_row: int | None = None  # the earlier row of the same file


class RowErrorOut(BaseModel):
    row: int
    field: str
    reason: str


class DuplicateOut(BaseModel):
    row: int
    reason: str
    resident_id: int | None = Field(None, description="the registered record, if in scope")
    of_row: int | None = Field(None, description="the earlier row with the same ID number")


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
    resident_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "mode": self.mode, "file": self.file,
                "rows": self.rows, "imported": self.imported,
                "errors": [{"row": e.row, "field": e.field, "reason": e.reason}
                           for e in self.errors],
                "duplicates": [{k: v for k, v in (("row", d.row), ("reason", d.reason),
                                                  ("resident_id", d.resident_id),
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


def _header_map(header: Sequence[str]) -> tuple[dict[str, int], list[RowError]]:
    aliases = {a.lower(): f for f, names in COLUMNS.items() for a in names}
    at: dict[str, int] = {}
    errors: list[RowError] = []
    for i, raw in enumerate(header):
        name = aliases.get("".join(raw.split()).lower())
        if name is None:
            continue
        if name in at:
            errors.append(RowError(1, name, f"column {raw!r} given twice"))
        at.setdefault(name, i)
    errors += [RowError(1, f, "column missing") for f in REQUIRED if f not in at]
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


def _body(cells: dict[str, str], row: int, errors: list[RowError]) -> ResidentCreate | None:
    body: dict[str, Any] = {k: v for k, v in cells.items() if v}
    if "population_type" in body:
        mapped = POPULATION_TYPES.get(body["population_type"].lower())
        if mapped is None:
            errors.append(RowError(row, "population_type",
                                   f"{body['population_type']!r} is not 户籍, 流动 or 境外 "
                                   "(registered, floating, foreign)"))
            return None
        body["population_type"] = mapped
    if "sex" in body:
        sex = SEXES.get(body["sex"].lower())
        if sex is None:
            errors.append(RowError(row, "sex", f"{body['sex']!r} is not 男 or 女"))
            return None
        body["sex"] = sex
    if "birth_date" in body:
        body["birth_date"] = _birth_date(body["birth_date"])
    try:
        return ResidentCreate.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "row"
            errors.append(RowError(row, name, "required" if err["type"] == "missing"
                                   else err["msg"]))
        return None


# --- the import ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Checked:
    row: int
    data: ResidentCreate
    post: PostRef | None
    values: dict[str, Any]


class ImportRepository:
    """The import's batched queries (region levels, live records by ID hash)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def region_levels(self, codes: Sequence[str]) -> dict[str, str]:
        unique = sorted(set(codes))
        out: dict[str, str] = {}
        for i in range(0, len(unique), CHUNK):
            out.update((await self.session.execute(
                select(Region.code, Region.level).where(
                    Region.code.in_(unique[i:i + CHUNK])))).all())
        return out

    async def live_by_id_hashes(self, hashes: Sequence[str]) -> dict[str, tuple[int, str]]:
        """hash -> (resident id, grid) of live records anywhere (duplicates, unscoped)."""
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


class RegistryImports:
    async def residents(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                        filename: str, content: bytes, mode: Mode = "all") -> ImportReport:
        """Validates every row of the file, then stores the valid ones that are no duplicates
        (``mode="all"``: only if no row is invalid). Each stored row gets its history,
        collection and audit records like a single registration; one more audit record
        summarises the import."""
        report = ImportReport(entity="residents", mode=mode, file=filename)
        table = read_table(filename, content)
        while table and not any(table[-1]):
            table.pop()
        if not table:
            report.errors.append(RowError(1, "file", "empty file"))
            return report
        at, header_errors = _header_map(table[0])
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

        bodies: list[tuple[int, ResidentCreate]] = []
        for number, cells in records:
            values = {f: (cells[i] if i < len(cells) else "") for f, i in at.items()}
            body = _body(values, number, report.errors)
            if body is not None:
                bodies.append((number, body))
        repo = ImportRepository(session)
        levels = await repo.region_levels([b.grid_code for _, b in bodies])
        checked: list[_Checked] = []
        for number, body in bodies:
            try:
                post, derived = registry_service.check_resident(
                    subject, cipher, body, levels.get(body.grid_code))
            except InvalidInput as exc:
                report.errors.append(RowError(number, str(exc.detail.get("field", "row")),
                                              str(exc.detail.get("reason", exc))))
                continue
            except Forbidden as exc:
                report.errors.append(RowError(number, "grid_code", str(exc)))
                continue
            checked.append(_Checked(number, body, post, derived))
        report.errors.sort(key=lambda e: e.row)

        known = await repo.live_by_id_hashes(
            [c.values["id_number_hash"] for c in checked if "id_number_hash" in c.values])
        first_row: dict[str, int] = {}
        fresh: list[_Checked] = []
        for c in checked:
            h = c.values.get("id_number_hash")
            if h is not None and h in known:
                rid, code = known[h]
                seen = subject.can_read_code(code)
                report.duplicates.append(Duplicate(
                    c.row, "this person is already registered"
                    + (f" (resident {rid})" if seen else " elsewhere"),
                    resident_id=rid if seen else None))
            elif h is not None and h in first_row:
                report.duplicates.append(Duplicate(
                    c.row, f"the same ID number as row {first_row[h]}", of_row=first_row[h]))
            else:
                if h is not None:
                    first_row[h] = c.row
                fresh.append(c)
        if (report.errors and mode == "all") or not fresh:
            return report
        await self._store(session, subject, report, fresh)
        return report

    async def _store(self, session: AsyncSession, subject: Subject, report: ImportReport,
                     rows: list[_Checked]) -> None:
        table = Resident.__table__
        for i in range(0, len(rows), CHUNK):
            batch = rows[i:i + CHUNK]
            now = utcnow()
            values = [dict(
                region_code=c.data.grid_code, household_id=None, relation=c.data.relation,
                name=c.data.name, ethnicity=c.data.ethnicity,
                population_type=c.data.population_type, synthetic=False, version=1,
                created_at=now, updated_at=now, **{k: c.values.get(k) for k in PII_COLUMNS},
                sex=c.values["sex"], birth_date=c.values["birth_date"]) for c in batch]
            ids = list((await session.execute(
                table.insert().returning(table.c.id, sort_by_parameter_order=True),
                values)).scalars())
            side: dict[type[Base], list[dict[str, Any]]] = {}
            for c, v, rid in zip(batch, values, ids, strict=True):
                shown = {"name": v["name"], "region_code": v["region_code"],
                         "population_type": v["population_type"],
                         "id_number": v["id_number_masked"], "phone": v["phone_masked"]}
                for model, row in registry_service.change_rows(
                        subject, c.post, "resident", rid, v["region_code"], "create",
                        {k: [None, x] for k, x in shown.items()}):
                    side.setdefault(model, []).append(row)
            for model, many in side.items():
                await session.execute(insert(model), many)
            report.resident_ids += ids
        report.imported = len(report.resident_ids)
        grids = sorted({c.data.grid_code for c in rows})
        common = grids[0]
        for g in grids[1:]:
            while not g.startswith(common):
                common = common[:-1]
        await record(session, subject, "resident.imported", target_type="import",
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
