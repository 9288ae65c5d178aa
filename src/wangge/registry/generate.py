"""Synthetic population for a city's grids: standard addresses, households, residents with valid
ID numbers and phones (encrypted, hashed, masked like every registry row), special-group tags
and key places — deterministic from a seed, every row ``synthetic=True``.

Size. ``scale`` S=1 is about 6.25 million residents in 2 million households and 30,000 key places
(a city like Xinxiang). Households are spread over the grids in proportion to each grid's
``households`` figure from the grid generator; places likewise.

Addresses. Urban grids get buildings (楼栋) of 2–4 units (单元), 6–26 floors, two rooms (室) a
floor, filled to about 90%; rural grids a house number (门牌) per household. Coordinates are the
grid's centre plus a seeded offset inside the middle of its bounding box (a building's units and
rooms share its point). ``normalised`` is ``normalise_address(text)``.

Households and residents. 1–5 residents a household (shares 12/22/26/22/18%: mean 3.12);
heads aged 22–85, a spouse in 85% of households of two or more, children, and in households of
five one parent of the head. 88% of households are registered (户籍), 9% floating (流动: every
member's ID number carries an address code of another county, mostly in other provinces, see
``FLOATING_CODES``) and 3% mixed (a floating spouse). Registered people's ID numbers carry the
county's 6-digit code. ID numbers are unique: within a county the sequence is counted per address
code and birth date (odd for men, even for women); floating people draw from a slice of the
sequence range reserved to their county, so counties never collide. Birth dates are taken
relative to ``REFERENCE_DAY`` (not today) so a seed always gives the same numbers. Adults (18+)
have a mobile phone 95% of the time.

Special groups (per 10,000 residents of the whole population; where a group only applies to an
age band the per-person probability inside that band is raised so the overall rate holds):

============================ ======== ============== ===================================
category                     /10,000  ages            level shares → visit interval (days)
============================ ======== ============== ===================================
released_prisoner 刑满释放     5        18+            high 20% → 7, medium 30% → 30, low → 90
community_correction 社区矫正  3        18+            high 30% → 7, medium 40% → 15, low → 30
mental_disorder 严重精神障碍   40       16+            high 10% → 7, medium 30% → 14, low → 30
drug_user 吸毒人员             5        18+            high 20% → 7, medium 30% → 30, low → 90
hiv_high_risk 艾滋病危险       1        18+            high 30% → 30, medium 40% → 60, low → 90
left_behind 留守人员           150      <16 or 60+     high 10% → 30, medium 30% → 60, low → 90
key_youth 重点青少年           10       6–25           high 20% → 14, medium 40% → 30, low → 60
============================ ======== ============== ===================================

Each tag's ``responsible_post`` is the grid's ``grid_member@GRID`` post; ``fields`` holds a few
category-specific values (JSON).

Key places: the 23 categories of ``wangge.registry.places`` (there is no other list in the registry
yet; it follows the categories of issue #6), weighted differently for urban and rural grids,
each with its inspection interval and a responsible person with a phone.

Loading. Generation is streamed a batch of grids at a time (plain tuples, never ORM objects) with
explicit ids above the tables' current maximum; the next batch is built in a worker thread while
the database takes in the last one. On PostgreSQL each batch goes in as COPY text on the
transaction's own psycopg connection (the sequences are moved past the new ids at the end), on
SQLite with executemany. When the five registry tables are still empty (a new deployment, the
benchmark), their foreign keys and secondary indexes are dropped for the load and recreated
from their catalogue definitions afterwards — building an index once and validating a key in one
pass is several times cheaper than maintaining them row by row. All of it is one transaction
with one audit record; a city that already has residents is left alone
(``RegistrySummary.skipped``), so a second run changes nothing.

Speed: ID numbers are built like ``idnumber.make`` but with the weighted sums of codes and dates
cached, and masked like ``idnumber.mask`` / ``phone.mask_phone`` without re-parsing (the tests
check every number against ``idnumber.parse`` and both masks).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from wangge.authz.scope import Subject, in_subtree
from wangge.kit.actions import record
from wangge.kit.cli import Progress
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput, NotFound
from wangge.models import Address, Household, Place, Region, RegionShape, Resident, ResidentTag
from wangge.org.names import synthetic_name
from wangge.registry import idnumber, places

RESIDENTS_PER_SCALE = 6_250_000
HOUSEHOLDS_PER_SCALE = 2_000_000
PLACES_PER_SCALE = 30_000
MAX_SCALE = 20.0
REFERENCE_DAY = date(2025, 12, 31)
GRIDS_PER_BATCH = 40

HOUSEHOLD_SIZES = (1, 2, 3, 4, 5)
HOUSEHOLD_SIZE_WEIGHTS = (12, 22, 26, 22, 18)
REGISTERED_SHARE, FLOATING_SHARE = 0.88, 0.09  # the rest: mixed
PHONE_SHARE = 0.95
# Real county-level codes floating people come from: other Henan cities, then other provinces.
FLOATING_CODES = (
    "410102", "410105", "410302", "410502", "410802", "410882", "411002", "411102", "411302",
    "411502", "411602", "411702", "130102", "130602", "140105", "340102", "340302", "370102",
    "370702", "371302", "320102", "320302", "420102", "430102", "510104", "500101", "610102",
    "110105", "120101", "360102",
)
ETHNICITIES = (("汉族", 985), ("回族", 12), ("满族", 3))
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "157", "158", "159", "166", "176", "177", "180", "181", "182",
                   "183", "185", "186", "187", "188", "189", "191", "198", "199")


@dataclass(frozen=True)
class GroupSpec:
    """One special group: its rate, who it can apply to and its levels."""

    per_10k: float
    min_age: int
    max_age: int | None
    eligible_share: float  # rough share of the population in the age band
    levels: tuple[tuple[str, float, int], ...]  # (level, share, visit interval days)


SPECIAL_GROUPS: dict[str, GroupSpec] = {
    "released_prisoner": GroupSpec(5, 18, None, 0.8,
                                   (("high", .2, 7), ("medium", .3, 30), ("low", .5, 90))),
    "community_correction": GroupSpec(3, 18, None, 0.8,
                                      (("high", .3, 7), ("medium", .4, 15), ("low", .3, 30))),
    "mental_disorder": GroupSpec(40, 16, None, 0.83,
                                 (("high", .1, 7), ("medium", .3, 14), ("low", .6, 30))),
    "drug_user": GroupSpec(5, 18, None, 0.8,
                           (("high", .2, 7), ("medium", .3, 30), ("low", .5, 90))),
    "hiv_high_risk": GroupSpec(1, 18, None, 0.8,
                               (("high", .3, 30), ("medium", .4, 60), ("low", .3, 90))),
    # Children under 16 and people of 60 and over (checked in _eligible).
    "left_behind": GroupSpec(150, 0, None, 0.38,
                             (("high", .1, 30), ("medium", .3, 60), ("low", .6, 90))),
    "key_youth": GroupSpec(10, 6, 25, 0.165,
                           (("high", .2, 14), ("medium", .4, 30), ("low", .4, 60))),
}


@dataclass(frozen=True)
class PlaceCategory:
    key: str
    label: str
    urban_weight: float
    rural_weight: float
    inspection_days: int


# How common each category is per grid, (urban, rural) relative weights; names and inspection
# intervals come from ``wangge.registry.places``.
PLACE_WEIGHTS: dict[str, tuple[float, float]] = {
    "school": (4, 4), "kindergarten": (5, 4), "hospital": (6, 6), "pharmacy": (7, 3),
    "market": (3, 3), "supermarket": (10, 8), "restaurant": (16, 6), "hotel": (5, 1),
    "internet_cafe": (2, 1), "entertainment": (3, 1), "bathhouse": (2, 1),
    "petrol_station": (1, 2), "hazardous_chemicals": (0.5, 1), "logistics": (4, 3),
    "construction_site": (3, 2), "religious_venue": (1, 3), "transport_station": (1, 1),
    "park_square": (2, 2), "elderly_care": (2, 2), "bank": (3, 1),
    "residential_compound": (6, 0.5), "factory": (3, 6), "rental_cluster": (3, 2),
}
PLACE_CATEGORIES: tuple[PlaceCategory, ...] = tuple(
    PlaceCategory(c.code, c.name, *PLACE_WEIGHTS[c.code], c.inspection_days)
    for c in places.PLACE_CATEGORIES)

ADDRESS_COLUMNS = ("id", "region_code", "parent_id", "kind", "label", "text", "normalised",
                   "lng", "lat", "synthetic", "created_at")
HOUSEHOLD_COLUMNS = ("id", "region_code", "address_id", "kind", "head_name", "synthetic",
                     "version", "created_at", "updated_at")
RESIDENT_COLUMNS = ("id", "region_code", "household_id", "relation", "name", "sex",
                    "birth_date", "ethnicity", "population_type", "id_number_enc",
                    "id_number_hash", "id_number_masked", "phone_enc", "phone_hash",
                    "phone_masked", "synthetic", "version", "created_at", "updated_at")
TAG_COLUMNS = ("id", "resident_id", "region_code", "category", "level", "responsible_post",
               "fields", "visit_interval_days", "active", "created_at")
PLACE_COLUMNS = ("id", "region_code", "category", "name", "address", "lng", "lat",
                 "responsible_name", "responsible_phone_enc", "responsible_phone_hash",
                 "responsible_phone_masked", "inspection_interval_days", "synthetic", "version",
                 "created_at", "updated_at")
# (model, columns, Batch attribute), in foreign-key order.
TABLES: tuple[tuple[Any, tuple[str, ...], str], ...] = (
    (Address, ADDRESS_COLUMNS, "addresses"),
    (Household, HOUSEHOLD_COLUMNS, "households"),
    (Resident, RESIDENT_COLUMNS, "residents"),
    (ResidentTag, TAG_COLUMNS, "tags"),
    (Place, PLACE_COLUMNS, "places"),
)

_PUNCTUATION = str.maketrans("", "", " \t-—_,，.。()（）#")


def normalise_address(value: str) -> str:
    """Address text folded for matching: NFKC (full-width digits become ASCII), no spaces or
    punctuation, lowercase."""
    return unicodedata.normalize("NFKC", value).translate(_PUNCTUATION).lower()


def _short_village(name: str) -> str:
    for suffix, keep in (("社区居民委员会", "社区"), ("居民委员会", ""), ("村民委员会", "村"),
                         ("委员会", "")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + keep
    return name


@dataclass(frozen=True)
class GridInfo:
    """What the generator needs to know of one grid."""

    code: str
    urban: bool
    weight: float
    place: str  # "红旗区东街街道东街社区" — the address prefix
    village: str  # "东街社区"
    lng: float
    lat: float
    dx: float  # half the bounding box's width and height (degrees)
    dy: float


@dataclass
class CityData:
    """The city's grids in code order, grouped by county."""

    city: str
    counties: dict[str, list[GridInfo]]

    @property
    def grids(self) -> int:
        return sum(len(g) for g in self.counties.values())


@dataclass
class Batch:
    """Rows of a few grids, as tuples in the ``*_COLUMNS`` order."""

    addresses: list[tuple[Any, ...]] = field(default_factory=list)
    households: list[tuple[Any, ...]] = field(default_factory=list)
    residents: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    places: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class RegistrySummary:
    city: str
    scale: float
    seed: int
    grids: int = 0
    addresses: int = 0
    households: int = 0
    residents: int = 0
    tags: int = 0
    places: int = 0
    skipped: bool = False
    existing_residents: int = 0
    generate_s: float = 0.0  # time spent building rows (encryption included)
    write_s: float = 0.0  # time spent sending them to the database
    finish_s: float = 0.0  # rebuilding indexes and keys, ANALYZE (PostgreSQL)
    tags_by_category: Counter[str] = field(default_factory=Counter)
    places_by_category: Counter[str] = field(default_factory=Counter)

    def add(self, batch: Batch) -> None:
        self.addresses += len(batch.addresses)
        self.households += len(batch.households)
        self.residents += len(batch.residents)
        self.tags += len(batch.tags)
        self.places += len(batch.places)
        self.tags_by_category.update(t[3] for t in batch.tags)
        self.places_by_category.update(p[2] for p in batch.places)


@dataclass
class StartIds:
    """The last id already used in each table (new rows are numbered after it)."""

    addresses: int = 0
    households: int = 0
    residents: int = 0
    tags: int = 0
    places: int = 0


# --- reading the city ---------------------------------------------------------------------------

async def read_city(conn: AsyncConnection, city: str) -> CityData:
    """The city's grids with their shapes' centres and extents; NotFound without grids."""
    names = dict((await conn.execute(
        select(Region.code, Region.name).where(
            in_subtree(Region.code, city), Region.level.in_(("county", "township", "village")))
    )).all())
    rows = (await conn.execute(
        select(Region.code, Region.urban, Region.households, RegionShape.centre_lng,
               RegionShape.centre_lat, RegionShape.min_lng, RegionShape.min_lat,
               RegionShape.max_lng, RegionShape.max_lat)
        .join(RegionShape, RegionShape.code == Region.code, isouter=True)
        .where(in_subtree(Region.code, city), Region.level == "grid")
        .order_by(Region.code)
    )).all()
    if not rows:
        raise NotFound(f"no grids under {city}: run `wangge grids generate --city {city}` first",
                       code=city)
    counties: dict[str, list[GridInfo]] = defaultdict(list)
    for code, urban, households, clng, clat, x0, y0, x1, y1 in rows:
        village = _short_village(names.get(code[:12], ""))
        place = names.get(code[:6], "") + names.get(code[:9], "") + village
        if clng is None:
            clng, clat, x0, y0, x1, y1 = 113.9, 35.3, 113.9, 35.3, 113.9, 35.3
        counties[code[:6]].append(GridInfo(
            code=code, urban=bool(urban), weight=float(households or 300), place=place,
            village=village, lng=clng, lat=clat, dx=(x1 - x0) / 2, dy=(y1 - y0) / 2))
    return CityData(city, dict(counties))


# --- generation (pure) --------------------------------------------------------------------------

def _allocate(weights: list[float], total: float, rng: random.Random) -> list[int]:
    """Integer shares of ``total`` proportional to ``weights`` (seeded rounding)."""
    whole = sum(weights) or 1.0
    out = []
    for w in weights:
        exact = total * w / whole
        n = int(exact)
        out.append(n + (rng.random() < exact - n))
    return out


def _cumulative(weights: list[float]) -> list[float]:
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc)
    return out


_ETHNIC_NAMES = tuple(n for n, _ in ETHNICITIES)
_ETHNIC_CUM = _cumulative([float(w) for _, w in ETHNICITIES])
_SIZE_CUM = _cumulative([float(w) for w in HOUSEHOLD_SIZE_WEIGHTS])
_URBAN_PLACE_CUM = _cumulative([c.urban_weight for c in PLACE_CATEGORIES])
_RURAL_PLACE_CUM = _cumulative([c.rural_weight for c in PLACE_CATEGORIES])
_GROUP_NAMES = tuple(SPECIAL_GROUPS)
_REF_ORDINAL = REFERENCE_DAY.toordinal()
_EARLIEST_ORDINAL = idnumber.EARLIEST_BIRTH.toordinal()


def _eligible(category: str, age: int) -> bool:
    spec = SPECIAL_GROUPS[category]
    if category == "left_behind":
        return age < 16 or age >= 60
    return age >= spec.min_age and (spec.max_age is None or age <= spec.max_age)


def _group_thresholds() -> list[tuple[str, float]]:
    """Per-person probability of each group inside its age band (the overall rate holds)."""
    return [(k, s.per_10k / 10_000 / s.eligible_share) for k, s in SPECIAL_GROUPS.items()]


_GROUP_PROBABILITIES = _group_thresholds()
_ANY_GROUP = sum(p for _, p in _GROUP_PROBABILITIES)


# idnumber.make, with the weighted sums of the address code, the date and the sequence cached:
# millions of numbers share a few codes and dates.
_CODE_SUMS: dict[str, int] = {}
_DATES: dict[int, tuple[date, str, int]] = {}
_SEQUENCES = [(f"{n:03d}", sum(int(d) * w for d, w in zip(f"{n:03d}", idnumber.WEIGHTS[14:],
                                                          strict=True)))
              for n in range(1000)]


def _make_id(code: str, ordinal: int, sequence: int) -> tuple[str, date]:
    code_sum = _CODE_SUMS.get(code)
    if code_sum is None:
        code_sum = _CODE_SUMS[code] = sum(int(d) * w for d, w in zip(code, idnumber.WEIGHTS[:6],
                                                                      strict=True))
    found = _DATES.get(ordinal)
    if found is None:
        birth = date.fromordinal(ordinal)
        digits = f"{birth:%Y%m%d}"
        found = _DATES[ordinal] = (birth, digits, sum(
            int(d) * w for d, w in zip(digits, idnumber.WEIGHTS[6:14], strict=True)))
    birth, digits, date_sum = found
    seq_text, seq_sum = _SEQUENCES[sequence]
    first17 = code + digits + seq_text
    return first17 + idnumber.CHECK_CHARS[(code_sum + date_sum + seq_sum) % 11], birth


def _mask_id(value: str) -> str:
    return value[:4] + "**********" + value[-4:]  # idnumber.mask of an 18-character number


def _mask_mobile(value: str) -> str:
    return value[:3] + "****" + value[-4:]  # phone.mask_phone of a mobile number


def _pick(rng: random.Random, items: tuple[Any, ...], cumulative: list[float]) -> Any:
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


class _Generator:
    def __init__(self, data: CityData, scale: float, seed: int, cipher: PiiCipher,
                 start: StartIds) -> None:
        self.data, self.scale, self.seed, self.cipher = data, scale, seed, cipher
        self.ids = StartIds(**vars(start))
        self.now = utcnow()
        self.county_codes = sorted(data.counties)
        # Floating people of county i use sequences slot*i .. slot*(i+1)-1 (per sex).
        self.float_slot = max(1, 500 // max(1, len(self.county_codes)))

    # One generator per grid keeps a grid's rows independent of how the city is batched.
    def _rng(self, *parts: object) -> random.Random:
        return random.Random(f"{self.seed}:" + ":".join(str(p) for p in parts))

    def batches(self, grids_per_batch: int = GRIDS_PER_BATCH) -> Iterator[Batch]:
        all_grids = [g for c in self.county_codes for g in self.data.counties[c]]
        alloc_rng = self._rng("allocate")
        weights = [g.weight for g in all_grids]
        households = _allocate(weights, HOUSEHOLDS_PER_SCALE * self.scale, alloc_rng)
        places = _allocate(weights, PLACES_PER_SCALE * self.scale, alloc_rng)
        plan = dict(zip((g.code for g in all_grids), zip(households, places, strict=True),
                        strict=True))
        for index, county in enumerate(self.county_codes):
            # Sequence counters per (address code, birth date) live for one county only.
            counters: dict[int, int] = {}
            grids = self.data.counties[county]
            for start in range(0, len(grids), grids_per_batch):
                batch = Batch()
                for grid in grids[start : start + grids_per_batch]:
                    h, p = plan[grid.code]
                    self._grid(batch, grid, county, index, h, p, counters)
                yield batch

    # --- one grid ---

    def _point(self, rng: random.Random, grid: GridInfo) -> tuple[float, float]:
        return (round(grid.lng + (rng.random() * 2 - 1) * grid.dx * 0.4, 6),
                round(grid.lat + (rng.random() * 2 - 1) * grid.dy * 0.4, 6))

    def _address(self, batch: Batch, grid: GridInfo, parent: int | None, kind: str,
                 label: str, full: str, point: tuple[float, float]) -> int:
        self.ids.addresses += 1
        batch.addresses.append((self.ids.addresses, grid.code, parent, kind, label, full,
                                normalise_address(full), point[0], point[1], True, self.now))
        return self.ids.addresses

    def _grid(self, batch: Batch, grid: GridInfo, county: str, county_index: int,
              households: int, places: int, counters: dict[int, int]) -> None:
        rng = self._rng(grid.code)
        homes: list[int] = []
        if grid.urban:
            building_no = 0
            while len(homes) < households:
                building_no += 1
                point = self._point(rng, grid)
                units, floors = rng.randint(2, 4), rng.choice((6, 6, 7, 11, 18, 26))
                label = f"{building_no}号楼"
                b_text = f"{grid.place}{label}"
                building = self._address(batch, grid, None, "building", label, b_text, point)
                for u in range(1, units + 1):
                    u_label = f"{u}单元"
                    unit = self._address(batch, grid, building, "unit", u_label,
                                         b_text + u_label, point)
                    for floor in range(1, floors + 1):
                        for room in (1, 2):
                            r_label = f"{floor}{room:02d}室"
                            rid = self._address(batch, grid, unit, "room", r_label,
                                                b_text + u_label + r_label, point)
                            if len(homes) < households and rng.random() < 0.9:
                                homes.append(rid)
        else:
            for n in range(1, households + 1):
                label = f"{n}号"
                homes.append(self._address(batch, grid, None, "house", label,
                                           f"{grid.place}{label}", self._point(rng, grid)))
        post = f"grid_member@{grid.code}"
        for address_id in homes:
            self._household(batch, rng, grid, address_id, county, county_index, counters, post)
        for _ in range(places):
            self._place(batch, rng, grid)

    def _household(self, batch: Batch, rng: random.Random, grid: GridInfo, address_id: int,
                   county: str, county_index: int, counters: dict[int, int],
                   post: str) -> None:
        size = _pick(rng, HOUSEHOLD_SIZES, _SIZE_CUM)
        u = rng.random()
        kind = "registered" if u < REGISTERED_SHARE else (
            "floating" if u < REGISTERED_SHARE + FLOATING_SHARE else "mixed")
        origin = rng.choice(FLOATING_CODES)
        self.ids.households += 1
        household_id = self.ids.households
        head_age = rng.randint(22, 85) if kind != "floating" else rng.randint(20, 55)
        head_sex = "M" if rng.random() < 0.7 else "F"
        head_name = synthetic_name(rng, head_sex)
        batch.households.append((household_id, grid.code, address_id, kind, head_name, True, 1,
                                 self.now, self.now))
        members: list[tuple[str, str, int, str | None]] = [("head", head_sex, head_age,
                                                            head_name)]
        rest = size - 1
        if rest and rng.random() < 0.85:
            members.append(("spouse", "F" if head_sex == "M" else "M",
                            max(18, head_age + rng.randint(-5, 5)), None))
            rest -= 1
        if size == 5 and rest and head_age <= 60:
            members.append(("parent", "M" if rng.random() < 0.5 else "F",
                            head_age + rng.randint(22, 32), None))
            rest -= 1
        for _ in range(rest):
            child_age = max(0, head_age - rng.randint(22, 38))
            members.append(("child", "M" if rng.random() < 0.51 else "F", child_age,
                            head_name[0]))
        for i, (relation, sex, age, given) in enumerate(members):
            if relation == "head":
                name = head_name
            elif given is not None:  # a child takes the head's surname
                name = given + synthetic_name(rng, sex)[1:]
            else:
                name = synthetic_name(rng, sex)
            floating = kind == "floating" or (kind == "mixed" and relation == "spouse")
            code = origin if floating else county
            number, birth = self._id_number(rng, code, sex, age, floating, county_index,
                                            counters)
            self._resident(batch, rng, grid, household_id, relation, name, sex, birth, age,
                           number, "floating" if floating else "registered", post,
                           first=i == 0)

    def _id_number(self, rng: random.Random, code: str, sex: str, age: int, floating: bool,
                   county_index: int, counters: dict[int, int]) -> tuple[str, date]:
        ordinal = max(_EARLIEST_ORDINAL,
                      _REF_ORDINAL - int(age * 365.2425) - rng.randrange(365))
        odd = 1 if sex == "M" else 0
        limit = self.float_slot if floating else 500
        base = self.float_slot * county_index if floating else 0
        code_number = int(code)
        while True:
            key = (code_number * 1_000_000 + ordinal) * 2 + odd
            n = counters.get(key, 0)
            if n < limit:
                counters[key] = n + 1
                return _make_id(code, ordinal, (base + n) * 2 + odd)
            ordinal -= 1  # this day's sequences are used up: one day earlier

    def _resident(self, batch: Batch, rng: random.Random, grid: GridInfo, household_id: int,
                  relation: str, name: str, sex: str, birth: date, age: int, number: str,
                  population: str, post: str, first: bool) -> None:
        c = self.cipher
        self.ids.residents += 1
        resident_id = self.ids.residents
        phone_enc = phone_hash = phone_masked = None
        if age >= 18 and rng.random() < PHONE_SHARE:
            mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
            phone_enc, phone_hash = c.encrypt(mobile, "phone"), c.keyed_hash("phone", mobile)
            phone_masked = _mask_mobile(mobile)
        ethnicity = _pick(rng, _ETHNIC_NAMES, _ETHNIC_CUM)
        batch.residents.append((
            resident_id, grid.code, household_id, relation, name,
            "male" if sex == "M" else "female", birth, ethnicity, population,
            c.encrypt(number, "id_number"), c.keyed_hash("id_number", number),
            _mask_id(number), phone_enc, phone_hash, phone_masked, True, 1, self.now,
            self.now))
        u = rng.random()
        if u >= _ANY_GROUP:
            return
        for category, p in _GROUP_PROBABILITIES:
            if u < p:
                if _eligible(category, age):
                    self._tag(batch, rng, grid, resident_id, category, age, sex, post)
                return
            u -= p

    def _tag(self, batch: Batch, rng: random.Random, grid: GridInfo, resident_id: int,
             category: str, age: int, sex: str, post: str) -> None:
        spec = SPECIAL_GROUPS[category]
        u, level, interval = rng.random(), spec.levels[-1][0], spec.levels[-1][2]
        for name, share, days in spec.levels:
            if u < share:
                level, interval = name, days
                break
            u -= share
        self.ids.tags += 1
        batch.tags.append((self.ids.tags, resident_id, grid.code, category, level, post,
                           json.dumps(self._fields(rng, category, age, sex, level),
                                      ensure_ascii=False, sort_keys=True),
                           interval, True, self.now))

    def _fields(self, rng: random.Random, category: str, age: int, sex: str,
                level: str) -> dict[str, Any]:
        past = (REFERENCE_DAY - timedelta(days=rng.randrange(30, 5 * 365))).isoformat()
        if category == "released_prisoner":
            return {"release_date": past, "offence": rng.choice(
                ("theft", "fraud", "assault", "drug_offence", "traffic_offence"))}
        if category == "community_correction":
            return {"start_date": past, "kind": rng.choice(
                ("probation", "parole", "suspended_sentence", "temporary_release"))}
        if category == "mental_disorder":
            grade = {"high": rng.randint(3, 5), "medium": rng.randint(1, 2), "low": 0}[level]
            return {"risk_grade": grade, "guardian": synthetic_name(rng, rng.choice("MF"))}
        if category == "drug_user":
            return {"status": rng.choice(
                ("community_rehab", "community_abstinence", "abstinent_3y"))}
        if category == "hiv_high_risk":
            return {"follow_up": rng.choice(("quarterly", "half_yearly"))}
        if category == "left_behind":
            kind = "child" if age < 16 else "elderly"
            return {"kind": kind, "guardian": synthetic_name(rng, rng.choice("MF"))}
        return {"kind": rng.choice(("out_of_school", "no_guardian", "homeless",
                                    "minor_offender"))}

    def _place(self, batch: Batch, rng: random.Random, grid: GridInfo) -> None:
        cum = _URBAN_PLACE_CUM if grid.urban else _RURAL_PLACE_CUM
        category = _pick(rng, PLACE_CATEGORIES, cum)
        mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
        lng, lat = self._point(rng, grid)
        self.ids.places += 1
        c = self.cipher
        batch.places.append((
            self.ids.places, grid.code, category.key,
            f"{grid.village}{category.label}{self.ids.places % 1000:03d}",
            f"{grid.place}{rng.randint(1, 200)}号", lng, lat,
            synthetic_name(rng, rng.choice("MF")), c.encrypt(mobile, "phone"),
            c.keyed_hash("phone", mobile), _mask_mobile(mobile), category.inspection_days,
            True, 1, self.now, self.now))


def generate_batches(data: CityData, scale: float, seed: int, cipher: PiiCipher,
                     start: StartIds | None = None,
                     grids_per_batch: int = GRIDS_PER_BATCH) -> Iterator[Batch]:
    """The city's rows, a few grids at a time (pure: nothing is written)."""
    return _Generator(data, scale, seed, cipher, start or StartIds()).batches(grids_per_batch)


# --- writing ------------------------------------------------------------------------------------

async def _last_ids(conn: AsyncConnection) -> StartIds:
    values = {}
    for model, _, attr in TABLES:
        values[attr] = (await conn.execute(select(func.max(model.id)))).scalar() or 0
    return StartIds(**values)


def _copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows in PostgreSQL's COPY text format."""
    cache: dict[Any, str] = {}

    def text_of(v: Any) -> str:
        if v is None:
            return "\\N"
        if v is True:
            return "t"
        if v is False:
            return "f"
        if isinstance(v, str):
            if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
                return (v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                        .replace("\r", "\\r"))
            return v
        if isinstance(v, datetime):  # the same few timestamps over and over
            found = cache.get(v)
            if found is None:
                found = cache[v] = v.isoformat()
            return found
        return str(v)

    return "".join("\t".join([text_of(v) for v in row]) + "\n" for row in rows).encode()


@dataclass
class _Prepared:
    batch: Batch
    copy: dict[str, bytes]  # table attribute → COPY text (PostgreSQL only)
    seconds: float


async def _write_pg(conn: AsyncConnection, prepared: _Prepared) -> None:
    raw = await conn.get_raw_connection()
    pg: Any = raw.driver_connection
    async with pg.cursor() as cursor:
        for model, columns, attr in TABLES:
            if attr not in prepared.copy:
                continue
            statement = f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN"
            async with cursor.copy(statement) as copy:
                await copy.write(prepared.copy[attr])


async def _write_sqlite(conn: AsyncConnection, prepared: _Prepared) -> None:
    for model, columns, attr in TABLES:
        rows = getattr(prepared.batch, attr)
        if rows:
            await conn.execute(model.__table__.insert(),
                               [dict(zip(columns, row, strict=True)) for row in rows])


_TABLE_NAMES = ", ".join(f"'{m.__tablename__}'::regclass" for m, _, _ in TABLES)


async def _set_aside_pg(conn: AsyncConnection) -> list[str] | None:
    """When every registry table is empty, drops their foreign keys and secondary indexes for
    the load and returns the statements that put them back exactly (definitions read from the
    catalogue); otherwise None. Index builds and one validation per key after the load are
    several times cheaper than checking and indexing millions of rows one at a time."""
    for model, _, _ in TABLES:
        if (await conn.execute(select(model.id).limit(1))).first() is not None:
            return None
    keys = (await conn.execute(text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE contype = 'f' AND conrelid = ANY(ARRAY[{_TABLE_NAMES}]) ORDER BY conname"
    ))).all()
    indexes = (await conn.execute(text(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        f"WHERE i.indrelid = ANY(ARRAY[{_TABLE_NAMES}]) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1"
    ))).all()
    for table, name, _ in keys:
        await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        await conn.execute(text(f"DROP INDEX {name}"))
    return ([definition for _, definition in indexes]
            + [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
               for table, name, definition in keys])


async def generate_registry(
    engine: AsyncEngine, city: str, scale: float, seed: int, cipher: PiiCipher, *,
    progress: Progress | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> RegistrySummary:
    """Generates and loads a synthetic population for the city in one transaction; a city that
    already has residents is left as it is (``skipped``)."""
    if len(city) != 4 or not city.isdigit():
        raise InvalidInput("city", f"{city!r} is not a 4-digit city code")
    if not 0 < scale <= MAX_SCALE:
        raise InvalidInput("scale", f"must be above 0 and at most {MAX_SCALE:g}")
    summary = RegistrySummary(city=city, scale=scale, seed=seed)
    advance = progress or (lambda _: None)
    async with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            # Stable "last id" figures while we number rows ourselves.
            await conn.execute(text(
                "LOCK TABLE addresses, households, residents, resident_tags, places "
                "IN SHARE ROW EXCLUSIVE MODE"))
        existing = (await conn.execute(
            select(func.count()).select_from(Resident)
            .where(in_subtree(Resident.region_code, city)))).scalar() or 0
        if existing:
            summary.skipped, summary.existing_residents = True, existing
            return summary
        data = await read_city(conn, city)
        summary.grids = data.grids
        restore = await _set_aside_pg(conn) if postgres else None
        write = _write_pg if postgres else _write_sqlite
        batches = generate_batches(data, scale, seed, cipher, await _last_ids(conn))

        def prepare() -> _Prepared | None:
            started = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                return None
            copy = {attr: _copy_text(getattr(batch, attr)) for _, _, attr in TABLES
                    if postgres and getattr(batch, attr)}
            return _Prepared(batch, copy, time.perf_counter() - started)

        async def timed_write(prepared: _Prepared) -> float:
            started = time.perf_counter()
            await write(conn, prepared)
            return time.perf_counter() - started

        # The next batch is built in a thread while the database takes in the last one.
        prepared = await asyncio.to_thread(prepare)
        while prepared is not None:
            writing = asyncio.create_task(timed_write(prepared))
            try:
                following = await asyncio.to_thread(prepare)
            finally:
                summary.write_s += await writing
            summary.generate_s += prepared.seconds
            summary.add(prepared.batch)
            if on_batch is not None:
                on_batch(prepared.batch)
            advance(len(prepared.batch.residents))
            prepared = following
        finishing = time.perf_counter()
        if restore:
            await conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            for statement in restore:
                await conn.execute(text(statement))
        if postgres:
            for model, _, _ in TABLES:
                table = model.__tablename__
                await conn.execute(text(f"ANALYZE {table}"))
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
        summary.finish_s = time.perf_counter() - finishing
        async with AsyncSession(bind=conn) as session:
            await record(session, Subject.everything(), "registry.generate",
                         target_type="region", target_id=city, region_code=city,
                         changes={name: (None, value) for name, value in (
                             ("seed", seed), ("scale", scale), ("households",
                                                                summary.households),
                             ("residents", summary.residents), ("tags", summary.tags),
                             ("places", summary.places))})
            await session.flush()
    return summary
