"""Exporting the residents of one's scope as CSV (UTF-8 with BOM, which Excel opens as
Unicode) or .xlsx, with the headers and values the import reads back.

ID numbers and phones are masked, except in the grids where the caller holds ``pii:read``:
there they are in clear, and each resident exported in clear gets one row in the PII access log
(the log answers "who has seen this person's ID number", so an export must show up under every
person in it, like a detail view does). One audit record summarises the export.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.permissions import PII_READ
from wangge.authz.scope import Subject
from wangge.kit.actions import record
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput, NotFound
from wangge.models import PiiAccess
from wangge.registry.repository import RegistryRepository
from wangge.registry.service import can_unmask, post_over

Format = Literal["csv", "xlsx"]
MAX_ROWS = 200_000
HEADERS = ("编号", "网格编码", "姓名", "性别", "出生日期", "民族", "人口类型", "身份证号",
           "联系电话", "与户主关系")
SEX_LABELS = {"male": "男", "female": "女"}
POPULATION_LABELS = {"registered": "户籍", "floating": "流动", "foreign": "境外"}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes
    rows: int
    clear: int  # rows with PII in clear (each logged)


class RegistryExports:
    async def residents(self, session: AsyncSession, subject: Subject, cipher: PiiCipher,
                        *, grid: str | None, fmt: Format = "csv",
                        route: str | None = None) -> ExportFile:
        """The residents of ``grid`` (any region: its subtree; None: the whole scope)."""
        if grid is not None and not subject.can_read_code(grid):
            raise NotFound(f"region {grid} not found", region=grid)
        rows = await RegistryRepository(session, subject).export_page(grid, MAX_ROWS + 1)
        if len(rows) > MAX_ROWS:
            raise InvalidInput("grid", f"more than {MAX_ROWS} residents; export a smaller "
                               "region at a time")
        unmask: dict[str, bool] = {}
        table: list[list[Any]] = []
        logged: list[dict[str, Any]] = []
        now = utcnow()
        for r in rows:
            clear = unmask.setdefault(r.region_code, can_unmask(subject, r.region_code))
            id_number, phone = r.id_number_masked, r.phone_masked
            if clear:
                id_number = cipher.decrypt(r.id_number_enc, "id_number") \
                    if r.id_number_enc else None
                phone = cipher.decrypt(r.phone_enc, "phone") if r.phone_enc else None
                shown = [f for f, v in (("id_number", id_number), ("phone", phone)) if v]
                if shown:
                    post = post_over(subject, PII_READ, r.region_code)
                    logged.append(dict(
                        at=now, account_id=subject.account_id, actor=subject.name,
                        post=str(post) if post else None, entity_type="resident",
                        entity_id=r.id, region_code=r.region_code, fields=",".join(shown),
                        route=route, client_addr=subject.client_addr))
            table.append([r.id, r.region_code, r.name, SEX_LABELS.get(r.sex or "", r.sex),
                          r.birth_date.isoformat() if r.birth_date else None, r.ethnicity,
                          POPULATION_LABELS.get(r.population_type, r.population_type),
                          id_number, phone, r.relation])
        for i in range(0, len(logged), 1000):
            await session.execute(insert(PiiAccess), logged[i:i + 1000])
        region = grid or (min(subject.prefixes, key=len) if subject.prefixes else "") or None
        await record(session, subject, "resident.exported", target_type="export",
                     target_id=grid or "scope", region_code=region,
                     changes={"format": (None, fmt), "rows": (None, len(table)),
                              "clear": (None, len(logged))})
        content = _xlsx(table) if fmt == "xlsx" else _csv(table)
        return ExportFile(filename=f"residents-{grid or 'scope'}.{fmt}",
                          media_type=MEDIA_TYPES[fmt], content=content, rows=len(table),
                          clear=len(logged))


def _csv(table: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows([["" if v is None else v for v in row] for row in table])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(table: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("residents")
    sheet.append(list(HEADERS))
    for row in table:
        # ID numbers and phones as text: as numbers Excel would round them
        sheet.append([v if i == 0 or v is None else str(v) for i, v in enumerate(row)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


registry_exports = RegistryExports()
