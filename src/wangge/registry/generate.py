"""Synthetic population for a city's grids: standard addresses, households, residents with valid
ID numbers and phones (encrypted, hashed, masked like every registry row), foreign residents,
special-group tags, key places, enterprises and social organisations, and "three-no" compounds
— deterministic from a seed, every row ``synthetic=True``.

Size. ``scale`` S=1 is about 6.25 million residents in 2 million households, 30,000 key places,
60,000 enterprises, 3,000 social organisations and 1,479 "three-no" compounds (a city like
Xinxiang). Households are spread over the grids in proportion to each grid's ``households``
figure from the grid generator; places, enterprises (twice the weight in urban grids) and
social organisations likewise. The small counts — foreign residents, compounds — are spread
with systematic sampling so their city totals are exact (``round(rate × S)``).

Addresses. Urban grids get buildings (楼栋) of 2–4 units (单元), 6–26 floors, two rooms (室) a
floor, filled to about 90%; rural grids a house number (门牌) per household. Coordinates are the
grid's centre plus a seeded offset inside the middle of its bounding box (a building's units and
rooms share its point). ``normalised`` is ``wangge.registry.addresses.normalise_address(text)``.

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

Foreign residents (境外人员): ``FOREIGN_SHARE`` = 0.03% of residents (about 1,900 at S=1), in
households of one or two (30% couples) of their own, on top of the grid's households, in
urban grids ten times as often as rural ones. They have no GB 11643 number — the three ID
columns stay empty (the model has no column for a passport) — no ethnicity and no
special-group tags; names are written as in a passport. Their households are ``floating``:
nobody in them holds local 户籍.

Special groups (per 10,000 residents of the whole population; where a group only applies to an
age band the per-person probability inside that band is raised so the overall rate holds):

============================ ======== ============== ===================================
category                     /10,000  ages            level shares → visit interval (days)
============================ ======== ============== ===================================
released_prisoner 刑满释放     5        18+            high 20% → 7, medium 30% → 30, low → 90
community_correction 社区矫正  3        18+            high 30% → 7, medium 40% → 15, low → 30
mental_disorder 严重精神障碍   40       16+            high 10% → 7, medium 30% → 14, low → 30
drug_user 吸毒人员             5        18+            high 20% → 7, medium 30% → 30, low → 90
hiv_risk 艾滋病危险            1        18+            high 30% → 30, medium 40% → 60, low → 90
left_behind 留守人员           150      <16 or 60+     high 10% → 30, medium 30% → 60, low → 90
key_youth 重点青少年           10       6–25           high 20% → 14, medium 40% → 30, low → 60
============================ ======== ============== ===================================

Each tag's ``responsible_post`` is the grid's ``grid_member@GRID`` post; ``fields`` holds a few
category-specific values (JSON).

Key places: the 23 categories of ``wangge.registry.places`` (there is no other list in the registry
yet; it follows the categories of issue #6), weighted differently for urban and rural grids,
each with its inspection interval and a responsible person with a phone.

Enterprises and social organisations (``ENTERPRISES_PER_SCALE``, ``SOCIAL_ORGS_PER_SCALE``,
see the comment there for the choice): companies, and in rural grids 15% farmers' cooperatives;
associations (45%), private non-enterprise units (52%) and foundations (3%). Each has a valid
unified social credit code (``wangge.registry.creditcode``) registered in its county: authority
and category (91 company, 93 cooperative, 51/52/53), the county's 6-digit code, a GB 11714
organisation code as subject identifier (unique per county and category) and the check
character. Employees: companies log-normal (median about 8, at most 5,000), others a few.

"Three-no" compounds (三无小区), urban grids only: ``COMPOUNDS_RECTIFIED_PER_SCALE`` = 1,286
rectified (the city's figure; every checklist item done, ``rectified_at`` since 2020) and
``COMPOUNDS_OPEN_PER_SCALE`` = 193 more (15%), 60% of them being rectified (some items done)
and the rest pending (none done). The checklist holds the six items of ``COMPOUND_CHECKLIST``.

Loading. Generation is streamed a batch of grids at a time (plain tuples, never ORM objects) with
explicit ids above the tables' current maximum; the next batch is built in a worker thread while
the database takes in the last one. On PostgreSQL each batch goes in as COPY text on the
transaction's own psycopg connection (the sequences are moved past the new ids at the end), on
SQLite with executemany. When the seven registry tables are still empty (a new deployment, the
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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from wangge.authz.scope import Subject, in_subtree
from wangge.kit.actions import record
from wangge.kit.cli import Progress
from wangge.kit.crypto import PiiCipher
from wangge.kit.db import utcnow
from wangge.kit.errors import InvalidInput, NotFound
from wangge.models import (
    Address,
    Compound,
    Enterprise,
    Household,
    Place,
    Region,
    RegionShape,
    Resident,
    ResidentTag,
)
from wangge.org.names import synthetic_name
from wangge.registry import creditcode, idnumber, places
from wangge.registry.addresses import normalise_address

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
# Foreign nationals (境外人员: students and teachers of the universities, staff of foreign-invested
# plants): 0.03% of residents, inside the 0.02–0.05% a city like Xinxiang reports; about 1,900
# people at S=1, in households of one or two in mostly urban grids.
FOREIGN_SHARE = 0.0003
FOREIGN_PER_SCALE = round(RESIDENTS_PER_SCALE * FOREIGN_SHARE)
FOREIGN_COUPLE_SHARE = 0.3
# (family names, men's given names, women's given names), as written in their passports.
FOREIGN_NAMES = (
    (("Sharma", "Patel", "Kumar", "Singh", "Gupta"), ("Rahul", "Amit", "Vikram", "Arjun"),
     ("Priya", "Anjali", "Neha", "Pooja")),
    (("Khan", "Ahmed", "Hussain", "Malik"), ("Ali", "Usman", "Bilal", "Hamza"),
     ("Ayesha", "Fatima", "Sana", "Zainab")),
    (("Kim", "Lee", "Park", "Choi"), ("Minjun", "Jihoon", "Seojun"), ("Seoyeon", "Jiwoo", "Minji")),
    (("Smith", "Johnson", "Brown", "Miller"), ("James", "Michael", "David"),
     ("Emily", "Sarah", "Laura")),
    (("Okafor", "Adeyemi", "Mensah", "Diallo"), ("Chinedu", "Tunde", "Kwame"),
     ("Ngozi", "Amaka", "Aminata")),
    (("Sato", "Suzuki", "Tanaka"), ("Haruto", "Takumi", "Ren"), ("Yui", "Aoi", "Hina")),
)
# Enterprises and social organisations (非公有制经济组织和社会组织) the grids follow. A city like
# Xinxiang has 150–200 thousand market entities, most of them sole traders; the registry keeps
# the enterprises worth a grid's attention (about 60,000: companies and, in rural grids,
# farmers' cooperatives) and the registered social organisations (about 3,000: associations,
# private non-enterprise units such as kindergartens and care homes, a few foundations).
# Enterprises cluster in urban grids (twice the weight per household).
ENTERPRISES_PER_SCALE = 60_000
SOCIAL_ORGS_PER_SCALE = 3_000
URBAN_ENTERPRISE_WEIGHT = 2.0
RURAL_COOPERATIVE_SHARE = 0.15
# "Three-no" compounds (三无小区: no property service, no owners' committee, no competent unit),
# urban grids only: the 1,286 the city reports rectified, and about 15% more (193) still pending
# or being rectified (60% of those under way).
COMPOUNDS_RECTIFIED_PER_SCALE = 1_286
COMPOUNDS_OPEN_PER_SCALE = 193
COMPOUND_RECTIFYING_SHARE = 0.6
COMPOUND_CHECKLIST = (
    "引入物业服务（专业物业或社区托管）",
    "成立业主委员会或物业管理委员会",
    "明确主管单位",
    "建立小区党支部",
    "完善安防设施（门禁、监控、路灯）",
    "整治环境卫生，拆除私搭乱建",
)
RECTIFIED_SINCE = date(2020, 1, 1)
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
    levels: tuple[tuple[str, float], ...]  # (level, share); intervals: places.TAG_LEVELS


SPECIAL_GROUPS: dict[str, GroupSpec] = {
    "released_prisoner": GroupSpec(5, 18, None, 0.8, (("high", .2), ("medium", .3), ("low", .5))),
    "community_correction": GroupSpec(3, 18, None, 0.8,
                                      (("high", .3), ("medium", .4), ("low", .3))),
    "mental_disorder": GroupSpec(40, 16, None, 0.83, (("high", .1), ("medium", .3), ("low", .6))),
    "drug_user": GroupSpec(5, 18, None, 0.8, (("high", .2), ("medium", .3), ("low", .5))),
    "hiv_risk": GroupSpec(1, 18, None, 0.8, (("high", .3), ("medium", .4), ("low", .3))),
    # Children under 16 and people of 60 and over (checked in _eligible).
    "left_behind": GroupSpec(150, 0, None, 0.38, (("high", .1), ("medium", .3), ("low", .6))),
    "key_youth": GroupSpec(10, 6, 25, 0.165, (("high", .2), ("medium", .4), ("low", .4))),
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
ENTERPRISE_COLUMNS = ("id", "region_code", "kind", "name", "credit_code", "legal_person",
                      "employees", "address", "synthetic", "created_at")
COMPOUND_COLUMNS = ("id", "region_code", "name", "address", "households", "checklist", "status",
                    "rectified_at", "synthetic", "created_at")
# (model, columns, Batch attribute), in foreign-key order.
TABLES: tuple[tuple[Any, tuple[str, ...], str], ...] = (
    (Address, ADDRESS_COLUMNS, "addresses"),
    (Household, HOUSEHOLD_COLUMNS, "households"),
    (Resident, RESIDENT_COLUMNS, "residents"),
    (ResidentTag, TAG_COLUMNS, "tags"),
    (Place, PLACE_COLUMNS, "places"),
    (Enterprise, ENTERPRISE_COLUMNS, "enterprises"),
    (Compound, COMPOUND_COLUMNS, "compounds"),
)


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
    county: str  # "红旗区"
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
    enterprises: list[tuple[Any, ...]] = field(default_factory=list)
    compounds: list[tuple[Any, ...]] = field(default_factory=list)
    foreign: int = 0  # residents of population type "foreign" among ``residents``


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
    enterprises: int = 0  # social organisations included
    compounds: int = 0
    foreign: int = 0
    skipped: bool = False
    existing_residents: int = 0
    generate_s: float = 0.0  # time spent building rows (encryption included)
    write_s: float = 0.0  # time spent sending them to the database
    finish_s: float = 0.0  # rebuilding indexes and keys, ANALYZE (PostgreSQL)
    tags_by_category: Counter[str] = field(default_factory=Counter)
    places_by_category: Counter[str] = field(default_factory=Counter)
    enterprises_by_kind: Counter[str] = field(default_factory=Counter)
    compounds_by_status: Counter[str] = field(default_factory=Counter)

    @property
    def social_orgs(self) -> int:
        return self.enterprises_by_kind["social_org"]

    @property
    def rectified(self) -> int:
        return self.compounds_by_status["rectified"]

    def add(self, batch: Batch) -> None:
        self.addresses += len(batch.addresses)
        self.households += len(batch.households)
        self.residents += len(batch.residents)
        self.tags += len(batch.tags)
        self.places += len(batch.places)
        self.enterprises += len(batch.enterprises)
        self.compounds += len(batch.compounds)
        self.foreign += batch.foreign
        self.tags_by_category.update(t[3] for t in batch.tags)
        self.places_by_category.update(p[2] for p in batch.places)
        self.enterprises_by_kind.update(e[2] for e in batch.enterprises)
        self.compounds_by_status.update(c[6] for c in batch.compounds)


@dataclass
class StartIds:
    """The last id already used in each table (new rows are numbered after it)."""

    addresses: int = 0
    households: int = 0
    residents: int = 0
    tags: int = 0
    places: int = 0
    enterprises: int = 0
    compounds: int = 0


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
            village=village, county=names.get(code[:6], ""), lng=clng, lat=clat,
            dx=(x1 - x0) / 2, dy=(y1 - y0) / 2))
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


def _spread(weights: list[float], total: int, rng: random.Random) -> list[int]:
    """Exactly ``total`` items over ``weights`` in proportion (systematic sampling from a
    seeded start); a zero weight never gets one."""
    out = [0] * len(weights)
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return out
    cumulative = _cumulative(weights)
    last = max(i for i, w in enumerate(weights) if w > 0)
    step = whole / total
    position = rng.random() * step
    for _ in range(total):
        out[min(bisect.bisect_right(cumulative, position), last)] += 1
        position += step
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
_RECTIFIED_DAYS = (REFERENCE_DAY - RECTIFIED_SINCE).days
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


# Parts of organisation and compound names (synthetic values).
_TRADE_NAMES = ("宏达", "鑫源", "华瑞", "金利", "恒通", "永盛", "中原", "牧野", "豫新", "瑞丰",
                "博远", "隆昌", "新航", "天成", "盛世", "佳美", "润泽", "广源", "东方", "卫河",
                "太行", "同创", "亿丰", "康泰")
_INDUSTRIES = ("商贸", "科技", "建材", "食品", "机械制造", "农业开发", "物流", "餐饮管理",
               "电子", "纺织", "汽车服务", "装饰工程", "化工", "医药", "印刷", "家具", "电池",
               "起重机械", "环保科技", "建筑工程")
_COMPANY_FORMS = ("有限公司", "有限责任公司", "股份有限公司")
_COMPANY_FORM_CUM = _cumulative([85.0, 12.0, 3.0])
_COOPERATIVE_TRADES = ("小麦种植", "花生种植", "蔬菜种植", "食用菌种植", "生猪养殖",
                       "农机服务")
_ASSOCIATIONS = ("个体劳动者协会", "老年人体育协会", "书法家协会", "摄影家协会",
                 "慈善协会", "餐饮行业协会", "家庭教育协会", "退役军人协会", "工商联商会")
_LOCAL_ASSOCIATIONS = ("老年人协会", "志愿服务协会", "乡贤理事会")
_NON_ENTERPRISE_UNITS = ("幼儿园", "培训学校", "养老院", "社会工作服务中心", "康复中心",
                         "艺术培训中心")
_FOUNDATIONS = ("教育发展", "慈善", "见义勇为")
_OLD_WORKS = ("纺织厂", "化肥厂", "棉纺厂", "造纸厂", "机械厂", "电池厂", "面粉厂", "印染厂",
              "供销社", "粮管所")


class _GridPlan(NamedTuple):
    """How many of each thing one grid gets."""

    households: int
    places: int
    enterprises: int
    social_orgs: int
    rectified: int  # "three-no" compounds rectified
    open: int  # "three-no" compounds pending or being rectified
    foreign: int  # foreign residents (in households of their own)


class _Generator:
    def __init__(self, data: CityData, scale: float, seed: int, cipher: PiiCipher,
                 start: StartIds) -> None:
        self.data, self.scale, self.seed, self.cipher = data, scale, seed, cipher
        self.ids = StartIds(**vars(start))
        self.now = utcnow()
        self.county_codes = sorted(data.counties)
        # Floating people of county i use sequences slot*i .. slot*(i+1)-1 (per sex).
        self.float_slot = max(1, 500 // max(1, len(self.county_codes)))
        # Credit codes: the next subject serial per (authority and category, county).
        self.credit_serials: Counter[tuple[str, str]] = Counter()
        # Building and house numbers run on across the grids of a village (grids are generated
        # in code order), so two grids of one community never share an address.
        self.village_numbers: Counter[str] = Counter()

    # One generator per grid keeps a grid's rows independent of how the city is batched.
    def _rng(self, *parts: object) -> random.Random:
        return random.Random(f"{self.seed}:" + ":".join(str(p) for p in parts))

    def batches(self, grids_per_batch: int = GRIDS_PER_BATCH) -> Iterator[Batch]:
        all_grids = [g for c in self.county_codes for g in self.data.counties[c]]
        alloc_rng = self._rng("allocate")
        weights = [g.weight for g in all_grids]
        households = _allocate(weights, HOUSEHOLDS_PER_SCALE * self.scale, alloc_rng)
        places = _allocate(weights, PLACES_PER_SCALE * self.scale, alloc_rng)
        enterprises = _allocate(
            [g.weight * (URBAN_ENTERPRISE_WEIGHT if g.urban else 1.0) for g in all_grids],
            ENTERPRISES_PER_SCALE * self.scale, alloc_rng)
        social_orgs = _allocate(weights, SOCIAL_ORGS_PER_SCALE * self.scale, alloc_rng)
        # Exact totals for the small counts the tests and the city's figures compare against.
        urban = [g.weight if g.urban else 0.0 for g in all_grids]
        rectified = _spread(urban, round(COMPOUNDS_RECTIFIED_PER_SCALE * self.scale), alloc_rng)
        still_open = _spread(urban, round(COMPOUNDS_OPEN_PER_SCALE * self.scale), alloc_rng)
        foreign = _spread([g.weight * (1.0 if g.urban else 0.1) for g in all_grids],
                          round(FOREIGN_PER_SCALE * self.scale), alloc_rng)
        plan = {g.code: _GridPlan(*counts) for g, *counts in zip(
            all_grids, households, places, enterprises, social_orgs, rectified, still_open,
            foreign, strict=True)}
        for index, county in enumerate(self.county_codes):
            # Sequence counters per (address code, birth date) live for one county only.
            counters: dict[int, int] = {}
            grids = self.data.counties[county]
            for start in range(0, len(grids), grids_per_batch):
                batch = Batch()
                for grid in grids[start : start + grids_per_batch]:
                    self._grid(batch, grid, county, index, plan[grid.code], counters)
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
              plan: _GridPlan, counters: dict[int, int]) -> None:
        rng = self._rng(grid.code)
        foreign_rng = self._rng(grid.code, "foreign")
        foreign_sizes = []
        left = plan.foreign
        while left:
            size = 2 if left >= 2 and foreign_rng.random() < FOREIGN_COUPLE_SHARE else 1
            foreign_sizes.append(size)
            left -= size
        # Foreign households get homes of their own on top of the grid's households.
        households = plan.households + len(foreign_sizes)
        homes: list[int] = []
        village = grid.code[:12]
        if grid.urban:
            while len(homes) < households:
                self.village_numbers[village] += 1
                building_no = self.village_numbers[village]
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
            for _ in range(households):
                self.village_numbers[village] += 1
                label = f"{self.village_numbers[village]}号"
                homes.append(self._address(batch, grid, None, "house", label,
                                           f"{grid.place}{label}", self._point(rng, grid)))
        post = f"grid_member@{grid.code}"
        for address_id in homes[: plan.households]:
            self._household(batch, rng, grid, address_id, county, county_index, counters, post)
        for _ in range(plan.places):
            self._place(batch, rng, grid)
        for address_id, size in zip(homes[plan.households :], foreign_sizes, strict=True):
            self._foreign_household(batch, foreign_rng, grid, address_id, size)
        if plan.enterprises or plan.social_orgs:
            org_rng = self._rng(grid.code, "enterprises")
            for _ in range(plan.enterprises):
                self._enterprise(batch, org_rng, grid, county)
            for _ in range(plan.social_orgs):
                self._social_org(batch, org_rng, grid, county)
        if plan.rectified or plan.open:
            compound_rng = self._rng(grid.code, "compounds")
            for i in range(plan.rectified + plan.open):
                self._compound(batch, compound_rng, grid, rectified=i < plan.rectified)

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
        u, level = rng.random(), spec.levels[-1][0]
        for name, share in spec.levels:
            if u < share:
                level = name
                break
            u -= share
        interval = places.TAG_LEVELS[category][level]
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
        if category == "hiv_risk":
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

    def _foreign_household(self, batch: Batch, rng: random.Random, grid: GridInfo,
                           address_id: int, size: int) -> None:
        """One or two foreign nationals: no GB 11643 number (ID columns stay empty) and no
        ethnicity; the household is ``floating`` (nobody in it holds local 户籍)."""
        families, men, women = rng.choice(FOREIGN_NAMES)
        family = rng.choice(families)
        head_sex = "M" if rng.random() < 0.6 else "F"
        head_age = rng.randint(19, 30) if rng.random() < 0.6 else rng.randint(25, 60)
        self.ids.households += 1
        household_id = self.ids.households
        people = [("head", head_sex, head_age)]
        if size == 2:
            people.append(("spouse", "F" if head_sex == "M" else "M",
                           max(19, head_age + rng.randint(-5, 5))))
        names = [f"{rng.choice(men if sex == 'M' else women)} {family}" for _, sex, _ in people]
        batch.households.append((household_id, grid.code, address_id, "floating", names[0],
                                 True, 1, self.now, self.now))
        c = self.cipher
        for (relation, sex, age), name in zip(people, names, strict=True):
            birth = date.fromordinal(_REF_ORDINAL - int(age * 365.2425) - rng.randrange(365))
            phone_enc = phone_hash = phone_masked = None
            if rng.random() < PHONE_SHARE:
                mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
                phone_enc, phone_hash = c.encrypt(mobile, "phone"), c.keyed_hash("phone", mobile)
                phone_masked = _mask_mobile(mobile)
            self.ids.residents += 1
            batch.residents.append((
                self.ids.residents, grid.code, household_id, relation, name,
                "male" if sex == "M" else "female", birth, None, "foreign", None, None, None,
                phone_enc, phone_hash, phone_masked, True, 1, self.now, self.now))
            batch.foreign += 1

    def _credit_code(self, kind: str, county: str) -> str:
        """A valid credit code registered in the county; the subject identifier is a GB 11714
        organisation code whose body runs through 10^8 values in a scattered order (48271 is
        prime to 10^8), so codes never repeat within a county and category."""
        serial = self.credit_serials[kind, county]
        self.credit_serials[kind, county] = serial + 1
        body = f"{(serial * 48_271 + 31_000_000) % 100_000_000:08d}"
        return creditcode.make(kind, county, creditcode.organisation_code(body))

    def _enterprise(self, batch: Batch, rng: random.Random, grid: GridInfo,
                    county: str) -> None:
        if not grid.urban and rng.random() < RURAL_COOPERATIVE_SHARE:
            kind = creditcode.COOPERATIVE
            name = f"{grid.county}{grid.village}{rng.choice(_COOPERATIVE_TRADES)}专业合作社"
            employees = rng.randint(5, 40)
        else:
            kind = creditcode.ENTERPRISE
            name = (f"{grid.county}{rng.choice(_TRADE_NAMES)}{rng.choice(_INDUSTRIES)}"
                    f"{_pick(rng, _COMPANY_FORMS, _COMPANY_FORM_CUM)}")
            employees = min(5_000, 1 + int(rng.lognormvariate(2.0, 1.2)))
        self._organisation(batch, rng, grid, county, "enterprise", kind, name, employees)

    def _social_org(self, batch: Batch, rng: random.Random, grid: GridInfo,
                    county: str) -> None:
        u = rng.random()
        if u < 0.45:
            kind = creditcode.SOCIAL_GROUP
            name = (f"{grid.county}{rng.choice(_ASSOCIATIONS)}" if rng.random() < 0.5
                    else f"{grid.village}{rng.choice(_LOCAL_ASSOCIATIONS)}")
            employees = rng.randint(1, 10)
        elif u < 0.97:
            kind = creditcode.PRIVATE_NON_ENTERPRISE
            name = f"{grid.county}{rng.choice(_TRADE_NAMES)}{rng.choice(_NON_ENTERPRISE_UNITS)}"
            employees = rng.randint(3, 40)
        else:
            kind = creditcode.FOUNDATION
            name = f"{grid.county}{rng.choice(_FOUNDATIONS)}基金会"
            employees = rng.randint(2, 8)
        self._organisation(batch, rng, grid, county, "social_org", kind, name, employees)

    def _organisation(self, batch: Batch, rng: random.Random, grid: GridInfo, county: str,
                      kind: str, code_kind: str, name: str, employees: int) -> None:
        self.ids.enterprises += 1
        batch.enterprises.append((
            self.ids.enterprises, grid.code, kind, name, self._credit_code(code_kind, county),
            synthetic_name(rng, "M" if rng.random() < 0.7 else "F"), employees,
            f"{grid.place}{rng.randint(1, 300)}号", True, self.now))

    def _compound(self, batch: Batch, rng: random.Random, grid: GridInfo,
                  rectified: bool) -> None:
        items = len(COMPOUND_CHECKLIST)
        rectified_at = None
        if rectified:
            status, done = "rectified", set(range(items))
            day = RECTIFIED_SINCE + timedelta(days=rng.randrange(_RECTIFIED_DAYS))
            rectified_at = datetime(day.year, day.month, day.day, rng.randint(1, 9),
                                    tzinfo=UTC)
        elif rng.random() < COMPOUND_RECTIFYING_SHARE:
            status, done = "rectifying", set(rng.sample(range(items), rng.randint(1, items - 1)))
        else:
            status, done = "pending", set()
        u = rng.random()
        if u < 0.4:
            name = f"原{grid.county}{rng.choice(_OLD_WORKS)}家属院"
        elif u < 0.7:
            name = f"{grid.village}{rng.randint(1, 60)}号院"
        else:
            name = f"{rng.choice(_TRADE_NAMES)}小区"
        checklist = json.dumps([{"item": item, "done": i in done}
                                for i, item in enumerate(COMPOUND_CHECKLIST)],
                               ensure_ascii=False)
        self.ids.compounds += 1
        batch.compounds.append((
            self.ids.compounds, grid.code, name, f"{grid.place}{rng.randint(1, 200)}号",
            rng.randint(20, 240), checklist, status, rectified_at, True, self.now))


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
                f"LOCK TABLE {', '.join(m.__tablename__ for m, _, _ in TABLES)} "
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
                             ("places", summary.places), ("enterprises", summary.enterprises),
                             ("compounds", summary.compounds))})
            await session.flush()
    return summary
