"""Loads the official division list (统计用区划代码) into ``regions``, in bulk.

Rows are validated while they are read; the first bad row stops the load with an error naming
file, line and field, before anything is written. The write is one transaction and an upsert, so
a load is idempotent and a failed load leaves the database as it was.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from wangge.config import DATA_DIR
from wangge.kit.cli import Progress
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput
from wangge.models.region import CODE_LENGTHS, Region

DIVISIONS_DIR = DATA_DIR / "divisions"

# (file, level, column holding the parent's code)
FILES = (
    ("provinces.csv", "province", None),
    ("cities.csv", "city", "provinceCode"),
    ("areas.csv", "county", "cityCode"),
    ("streets.csv.gz", "township", "areaCode"),
    ("villages.csv.gz", "village", "streetCode"),
)
# Functional zones (statistics-only county-level units, code digits 70-79) have no boundary or
# police bureau of their own; each lies in, and is served by, a host county.
ZONE_HOSTS = {"410771": "410702", "410772": "410721", "410773": "410725"}
COLUMNS = ("code", "parent_code", "level", "name", "kind", "urban", "synthetic", "created_at")
Row = tuple[str, str | None, str, str, str | None, bool | None]


@dataclass(frozen=True)
class Selection:
    """Which part of the list to load: everything, one province or one city."""

    province: str | None = None
    city: str | None = None

    @classmethod
    def parse(cls, *, city: str | None, province: str | None, all_: bool) -> Selection:
        chosen = [name for name, v in (("city", city), ("province", province), ("all", all_)) if v]
        if len(chosen) != 1:
            raise InvalidInput("selection", "give exactly one of --city, --province or --all")
        if city is not None and (len(city) != 4 or not city.isdigit()):
            raise InvalidInput("city", f"{city!r} is not a 4-digit city code")
        if province is not None and (len(province) != 2 or not province.isdigit()):
            raise InvalidInput("province", f"{province!r} is not a 2-digit province code")
        return cls(province=province or (city[:2] if city else None), city=city)

    def prefix_for(self, length: int) -> str:
        """The prefix every wanted code of this length starts with ("" for all of China)."""
        if self.city and length >= 4:
            return self.city
        return (self.province or "")[:length]

    def wants(self, code: str) -> bool:
        if self.city and len(code) >= 4:
            return code.startswith(self.city)
        return self.province is None or code.startswith(self.province)


def county_kind(code: str, name: str) -> str:
    # GB/T 2260 ranges of the county's 2 digits: 01-20 districts, 21-69 counties (banners),
    # 70-79 functional zones (statistics only), 80-99 county-level cities.
    n = int(code[4:6])
    if 70 <= n <= 79:
        return "zone"
    if n >= 80:
        return "county_city"
    if n >= 21 or name.endswith(("县", "旗")):
        return "county"
    return "district"


def township_kind(code: str) -> str:
    # GB/T 10114 ranges of the township's 3 digits.
    n = int(code[6:9])
    if n < 100:
        return "street"
    if n < 200:
        return "town"
    if n < 400:
        return "township"
    return "other"


def is_urban_village(name: str) -> bool:
    return "社区" in name or "居委会" in name or "居民委员会" in name


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_file(path: Path, level: str, parent_column: str | None, sel: Selection) -> Iterator[Row]:
    """Yields validated rows of one division file that fall inside the selection."""
    length = CODE_LENGTHS[level]
    with _open(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or header[:2] != ["code", "name"]:
            raise InvalidInput("header", "expected columns code,name,...", file=path.name, line=1)
        parent_at = header.index(parent_column) if parent_column else None
        if parent_column and parent_column not in header:
            raise InvalidInput(parent_column, "column missing", file=path.name, line=1)
        prefix, in_order, previous = sel.prefix_for(length), True, ""
        for line, rec in enumerate(reader, start=2):
            # The published files are sorted by code: once past the selection (and the file has
            # been in order so far), nothing further can be wanted.
            in_order = in_order and rec[:1] >= [previous]
            if prefix and in_order and rec[0][: len(prefix)] > prefix:
                break
            previous = rec[0] if rec else previous
            if len(rec) != len(header):
                raise InvalidInput(
                    "row", f"expected {len(header)} fields, found {len(rec)}",
                    file=path.name, line=line,
                )
            code, name = rec[0], rec[1].strip()
            if len(code) != length or not code.isdigit():
                raise InvalidInput(
                    "code", f"{code!r} is not a {length}-digit {level} code",
                    file=path.name, line=line,
                )
            if not sel.wants(code):
                continue
            if not name:
                raise InvalidInput("name", "empty", file=path.name, line=line)
            parent = rec[parent_at] if parent_at is not None else None
            if parent is not None and not code.startswith(parent):
                raise InvalidInput(
                    parent_column or "parent", f"{parent!r} is not a prefix of code {code}",
                    file=path.name, line=line,
                )
            if level == "county":
                yield code, parent, level, name, county_kind(code, name), None
            elif level == "township":
                yield code, parent, level, name, township_kind(code), None
            elif level == "village":
                urban = is_urban_village(name)
                yield code, parent, level, name, "community" if urban else "village", urban
            else:
                yield code, parent, level, name, None, None


def read_divisions(sel: Selection, directory: Path = DIVISIONS_DIR) -> list[Row]:
    """Reads and validates every selected row; raises before anything is written."""
    rows: list[Row] = []
    for filename, level, parent_column in FILES:
        rows.extend(read_file(directory / filename, level, parent_column, sel))
    return rows


async def write_regions(
    conn: AsyncConnection, rows: list[Row], progress: Progress | None = None,
    batch: int = 20_000,
) -> int:
    """Upserts division rows (bulk: COPY on PostgreSQL, executemany on SQLite)."""
    if conn.dialect.name == "postgresql":
        await _copy_upsert(conn, rows, progress)
    else:
        now = utcnow()
        table = Region.__table__
        ins = sqlite_insert(table)
        stmt = ins.on_conflict_do_update(
            index_elements=["code"],
            set_={c: ins.excluded[c] for c in ("parent_code", "level", "name", "kind", "urban")},
        )
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            await conn.execute(
                stmt,
                [dict(zip(COLUMNS, (*r, False, now), strict=True)) for r in chunk],
            )
            if progress:
                progress(len(chunk))
    return len(rows)


async def _copy_upsert(conn: AsyncConnection, rows: list[Row], progress: Progress | None) -> None:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    now = utcnow()
    async with driver.cursor() as cur:
        await cur.execute(
            "CREATE TEMP TABLE _division_load (LIKE regions INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        async with cur.copy(f"COPY _division_load ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for i, r in enumerate(rows, start=1):
                await copy.write_row((*r, False, now))
                if progress and i % 20_000 == 0:
                    progress(20_000)
        await cur.execute(
            f"INSERT INTO regions ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} "
            "FROM _division_load ON CONFLICT (code) DO UPDATE SET parent_code = "
            "excluded.parent_code, level = excluded.level, name = excluded.name, "
            "kind = excluded.kind, urban = excluded.urban"
        )
    if progress:
        progress(len(rows) % 20_000)

