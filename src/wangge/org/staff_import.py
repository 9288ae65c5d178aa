"""Importing staff and their posts from CSV or Excel, all or nothing.

Every row is validated first and every problem collected into an ``ImportReport`` (row, field,
reason), so the CLI and a future web upload can show the whole list at once. Only a report
without issues is applied; the caller's transaction makes the import whole.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput
from wangge.models import Person, Post
from wangge.models.post import GRID_ROLES, ROLES
from wangge.org.repository import StaffRepository

COLUMNS = ("staff_no", "name", "gender", "service", "role", "region_code", "organisation_code",
           "title")
REQUIRED = ("staff_no", "name", "role", "region_code")
SERVICES = ("government", "police", "social", "other")
GENDERS = {"M": "M", "F": "F", "男": "M", "女": "F"}
MAX_LENGTHS = {"staff_no": 32, "name": 50, "title": 50}
RESERVED_PREFIX = "SYN"  # staff numbers of generated (synthetic) people


@dataclass(frozen=True)
class Issue:
    row: int  # as a spreadsheet shows it: the header is row 1
    field: str
    reason: str


@dataclass(frozen=True)
class StaffRow:
    row: int
    staff_no: str
    name: str
    gender: str | None
    service: str | None
    role: str
    region_code: str
    organisation_code: str | None
    title: str | None


@dataclass
class ImportReport:
    """The outcome of validating a file: its rows, and every problem found in them."""

    file: str
    rows: list[StaffRow] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def add(self, row: int, field_name: str, reason: str) -> None:
        self.issues.append(Issue(row, field_name, reason))


@dataclass(frozen=True)
class ImportResult:
    people_created: int
    people_updated: int
    posts_created: int
    posts_updated: int


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps numeric codes as floats
    return str(value).strip()


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Header and (row number, cells) of a .csv (UTF-8) or .xlsx file's first sheet."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput("file", "no such file", file=str(path))
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(path)
    else:
        raise InvalidInput("file", "expected a .csv or .xlsx file", file=path.name)
    first = next(rows, None)
    if first is None:
        return [], iter(())
    return [c.lower() for c in first[1]], rows


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for number, rec in enumerate(csv.reader(fh), start=1):
                yield number, [_cell(c) for c in rec]
    except UnicodeDecodeError:
        raise InvalidInput("file", "not UTF-8 text", file=path.name) from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InvalidInput("file", f"not a readable .xlsx file ({exc})", file=path.name) from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in values]
    finally:
        book.close()


async def validate(session: AsyncSession, subject: Subject, path: Path) -> ImportReport:
    """Reads and checks every row of ``path``; the report lists each problem found."""
    report = ImportReport(file=path.name)
    header, records = read_table(path)
    missing = [c for c in COLUMNS if c not in header]
    for column in missing:
        report.add(1, column, "column missing")
    if not header or missing:
        if not header:
            report.add(1, "file", "empty file")
        return report
    at = {c: header.index(c) for c in COLUMNS}

    first_seen: dict[str, StaffRow] = {}
    keys: dict[tuple[str, str, str, str | None], int] = {}
    for number, cells in records:
        if not any(cells):
            continue
        values = {c: (cells[i] if i < len(cells) else "") for c, i in at.items()}
        row = _check_row(report, number, values)
        report.rows.append(row)  # every row is checked further; applied only if all are clean
        if not row.staff_no:
            continue
        key = (row.staff_no, row.role, row.region_code, row.organisation_code)
        if key in keys:
            report.add(number, "row", f"duplicates row {keys[key]}")
            continue
        keys[key] = number
        earlier = first_seen.setdefault(row.staff_no, row)
        for name in ("name", "gender", "service"):
            mine, theirs = getattr(row, name), getattr(earlier, name)
            if mine and theirs and mine != theirs:
                report.add(number, name, f"{mine!r} differs from {theirs!r} on row {earlier.row} "
                                         f"for staff_no {row.staff_no}")

    if not report.rows and report.ok:
        report.add(1, "file", "no data rows")
    await _check_references(session, subject, report)
    return report


def _check_row(report: ImportReport, number: int, v: dict[str, str]) -> StaffRow:
    for name in REQUIRED:
        if not v[name]:
            report.add(number, name, "required")
    for name, limit in MAX_LENGTHS.items():
        if len(v[name]) > limit:
            report.add(number, name, f"longer than {limit} characters")
    if v["staff_no"].upper().startswith(RESERVED_PREFIX):
        report.add(number, "staff_no", f"numbers starting {RESERVED_PREFIX} are reserved for "
                                       "synthetic staff")
    if v["role"] and v["role"] not in ROLES:
        report.add(number, "role", f"{v['role']!r} is not one of {', '.join(ROLES)}")
    if v["gender"] and v["gender"] not in GENDERS:
        report.add(number, "gender", f"{v['gender']!r} is not M or F")
    if v["service"] and v["service"] not in SERVICES:
        report.add(number, "service", f"{v['service']!r} is not one of {', '.join(SERVICES)}")
    if v["region_code"] and not v["region_code"].isdigit():
        report.add(number, "region_code", f"{v['region_code']!r} is not a digit code")
    return StaffRow(
        row=number, staff_no=v["staff_no"], name=v["name"], gender=GENDERS.get(v["gender"]),
        service=v["service"] if v["service"] in SERVICES else None, role=v["role"],
        region_code=v["region_code"], organisation_code=v["organisation_code"] or None,
        title=v["title"] or None,
    )


async def _check_references(session: AsyncSession, subject: Subject, report: ImportReport) -> None:
    repo = StaffRepository(session, subject)
    levels = await repo.region_levels([r.region_code for r in report.rows
                                       if r.region_code.isdigit()])
    orgs = await repo.organisation_ids([r.organisation_code for r in report.rows
                                        if r.organisation_code])
    for r in report.rows:
        if r.region_code.isdigit():
            level = levels.get(r.region_code)
            if level is None:
                report.add(r.row, "region_code", f"region {r.region_code} does not exist")
            elif r.role in GRID_ROLES and level != "grid":
                report.add(r.row, "region_code", f"role {r.role} is held at a grid, "
                                                 f"{r.region_code} is a {level}")
        if r.organisation_code and r.organisation_code not in orgs:
            report.add(r.row, "organisation_code",
                       f"organisation {r.organisation_code} does not exist")
    report.issues.sort(key=lambda i: (i.row, COLUMNS.index(i.field) if i.field in COLUMNS else -1))


async def apply(session: AsyncSession, subject: Subject, report: ImportReport) -> ImportResult:
    """Writes a clean report's rows: people upserted by staff_no, posts by their key."""
    if not report.ok:
        raise InvalidInput("file", f"{len(report.issues)} invalid rows; nothing imported",
                           file=report.file)
    repo = StaffRepository(session, subject)
    now = utcnow()
    firsts: dict[str, StaffRow] = {}
    for r in report.rows:
        firsts.setdefault(r.staff_no, r)
    # A value given on any row of a person counts, even if their first row left it blank.
    gender = {r.staff_no: r.gender for r in reversed(report.rows) if r.gender}
    service = {r.staff_no: r.service for r in reversed(report.rows) if r.service}

    existing = await repo.people_by_staff_no(list(firsts))
    people = Person.__table__
    new = [no for no in firsts if no not in existing]
    if new:
        result = await session.execute(
            people.insert().returning(people.c.staff_no, people.c.id),
            [{"staff_no": no, "name": firsts[no].name, "gender": gender.get(no),
              "service": service.get(no), "synthetic": False, "created_at": now} for no in new],
        )
        ids = {no: pid for no, pid in result}
    else:
        ids = {}
    if existing:
        await session.execute(
            update(people).where(people.c.id == bindparam("b_id")).values(
                name=bindparam("b_name"),
                gender=func.coalesce(bindparam("b_gender"), people.c.gender),
                service=func.coalesce(bindparam("b_service"), people.c.service),
                synthetic=False,
            ),
            [{"b_id": pid, "b_name": firsts[no].name, "b_gender": gender.get(no),
              "b_service": service.get(no)} for no, pid in existing.items()],
        )
    ids.update(existing)

    org_ids = await repo.organisation_ids([r.organisation_code for r in report.rows
                                           if r.organisation_code])
    held = await repo.post_keys(list(existing.values()))
    posts = Post.__table__
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for r in report.rows:
        org = org_ids[r.organisation_code] if r.organisation_code else None
        key = (ids[r.staff_no], r.role, r.region_code, org)
        if key in held:
            updates.append({"b_id": held[key], "b_title": r.title})
        else:
            inserts.append({"person_id": key[0], "role": r.role, "region_code": r.region_code,
                            "organisation_id": org, "title": r.title, "synthetic": False,
                            "created_at": now})
    if inserts:
        await session.execute(posts.insert(), inserts)
    if updates:
        await session.execute(
            update(posts).where(posts.c.id == bindparam("b_id"))
            .values(title=func.coalesce(bindparam("b_title"), posts.c.title), synthetic=False),
            updates,
        )
    return ImportResult(people_created=len(new), people_updated=len(existing),
                        posts_created=len(inserts), posts_updated=len(updates))
