"""The base registry (GB/T 31000 areas): standard addresses, households, residents with their
special-group tags, key places, enterprises and social organisations, "three-no" compounds,
home visits, collection records, the change history and the log of unmasked PII views.

PII (resident ID numbers, phones) is stored encrypted (``*_enc``, ``wangge.kit.crypto``) with a
keyed hash for exact look-ups (``*_hash``) and its masked form for lists (``*_masked``): a list
never decrypts.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow


class Address(Base):
    """标准地址 — a building (楼栋), a unit (单元) in it, a room (室) in that, or a rural house
    number (门牌); ``parent_id`` links room → unit → building. ``normalised`` is the text folded
    for matching (``wangge.registry.addresses.normalise_address``)."""

    __tablename__ = "addresses"
    __table_args__ = (Index("ix_addresses_region_id", "region_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # building | unit | room | house
    label: Mapped[str] = mapped_column(String(50))  # "3号楼", "2单元", "301室", "12号"
    text: Mapped[str] = mapped_column(String(200))  # the whole address as shown
    normalised: Mapped[str] = mapped_column(String(200), index=True)
    lng: Mapped[float | None] = mapped_column(Float)  # WGS-84
    lat: Mapped[float | None] = mapped_column(Float)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Household(Base):
    """户 — the people living at one address (a room or a house)."""

    __tablename__ = "households"
    __table_args__ = (Index("ix_households_region_id", "region_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"), index=True)
    # registered (户籍) | floating (流动) | mixed
    kind: Mapped[str] = mapped_column(String(10), default="registered")
    head_name: Mapped[str | None] = mapped_column(String(50))
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Resident(Base):
    """实有人口 — a person living in a grid: registered (户籍), floating (流动) or foreign (境外).

    The ID number and phone are held three ways (encrypted, keyed hash, masked). ``merged_into_id``
    points a duplicate at the record it was merged into (both keep their history).
    """

    __tablename__ = "residents"
    __table_args__ = (
        Index("ix_residents_region_id", "region_code", "id"),
        # One live record per ID number: duplicates are found by the hash, never doubled.
        Index("uq_residents_id_number_hash", "id_number_hash", unique=True,
              postgresql_where=text("merged_into_id IS NULL"),
              sqlite_where=text("merged_into_id IS NULL")),
        Index("ix_residents_phone_hash", "phone_hash"),
        Index("ix_residents_name", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    relation: Mapped[str | None] = mapped_column(String(12))  # head | spouse | child | ...
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str | None] = mapped_column(String(6))  # male | female
    birth_date: Mapped[date | None] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(20))
    population_type: Mapped[str] = mapped_column(String(10))  # registered | floating | foreign
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    id_number_masked: Mapped[str | None] = mapped_column(String(20))
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ResidentTag(Base):
    """A special group (特殊人群) or key youth (重点青少年) tag on a resident, with its own fields,
    the care/management level and the post responsible; the visit interval follows the level."""

    __tablename__ = "resident_tags"
    __table_args__ = (Index("ix_resident_tags_region", "region_code", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(15))
    category: Mapped[str] = mapped_column(String(24))
    level: Mapped[str] = mapped_column(String(8))  # e.g. high | medium | low
    responsible_post: Mapped[str | None] = mapped_column(String(48))  # ROLE@CODE
    fields: Mapped[str] = mapped_column(Text, default="{}")  # JSON, per category
    visit_interval_days: Mapped[int] = mapped_column(SmallInteger)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Place(Base):
    """重点场所 — a key place (one of the categories in ``wangge.registry.places``), its
    responsible person and how often it must be inspected."""

    __tablename__ = "places"
    __table_args__ = (Index("ix_places_region_id", "region_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    category: Mapped[str] = mapped_column(String(24), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    lng: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    responsible_name: Mapped[str | None] = mapped_column(String(50))
    responsible_phone_enc: Mapped[str | None] = mapped_column(Text)
    responsible_phone_hash: Mapped[str | None] = mapped_column(String(64))
    responsible_phone_masked: Mapped[str | None] = mapped_column(String(20))
    inspection_interval_days: Mapped[int] = mapped_column(SmallInteger)
    last_inspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Enterprise(Base):
    """非公有制经济组织和社会组织 — an enterprise or a social organisation in a grid."""

    __tablename__ = "enterprises"
    __table_args__ = (Index("ix_enterprises_region_id", "region_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    kind: Mapped[str] = mapped_column(String(12))  # enterprise | social_org
    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    legal_person: Mapped[str | None] = mapped_column(String(50))
    employees: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(200))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Compound(Base):
    """"三无"小区 — a residential compound without property management, owners' committee or
    competent unit, with its rectification checklist (JSON list of {item, done}) and status."""

    __tablename__ = "compounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    households: Mapped[int | None] = mapped_column(Integer)
    checklist: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[str] = mapped_column(String(12))  # pending | rectifying | rectified
    rectified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Visit(Base):
    """入户走访 — a home visit, or 场所巡查 — a key place's inspection: GPS check-in with its
    distance to the address (far check-ins are flagged, not refused), notes, issues found and
    the case opened for one. Exactly one of household, resident and place is visited."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_region_at", "region_code", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    visitor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"),
                                                           index=True)
    visitor: Mapped[str] = mapped_column(String(64))
    post: Mapped[str | None] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    lng: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    far: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    issues: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of strings
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitPlan(Base):
    """走访计划 — a routine for every grid under ``region_code``:

    - ``special_groups``: each active tag (of ``categories``, or all) visited within its level's
      interval (``interval_days`` overrides it);
    - ``households``: each household visited within ``interval_days``;
    - ``places``: each key place inspected within its inspection interval;
    - ``patrol``: each post of ``roles`` in a grid records at least ``quota`` visits in every
      period of ``interval_days`` counted from ``starts_on`` (e.g. weekly by all three roles).
    """

    __tablename__ = "visit_plans"
    __table_args__ = (Index("ix_visit_plans_region", "region_code", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    categories: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of tag categories
    interval_days: Mapped[int | None] = mapped_column(SmallInteger)
    roles: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of grid roles
    quota: Mapped[int] = mapped_column(SmallInteger, default=1)
    starts_on: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    post: Mapped[str | None] = mapped_column(String(48))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CollectionRecord(Base):
    """信息采集 — one registry entry created or updated by a worker (counted for scoring)."""

    __tablename__ = "collection_records"
    __table_args__ = (Index("ix_collection_records_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))  # create | update
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegistryChange(Base):
    """One change of a registry entry: who, when, what (field → [before, after], PII masked)."""

    __tablename__ = "registry_changes"
    __table_args__ = (Index("ix_registry_changes_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(15))
    action: Mapped[str] = mapped_column(String(12))  # create | update | merge | tag | visit
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    actor: Mapped[str] = mapped_column(String(64))
    post: Mapped[str | None] = mapped_column(String(48))
    changes: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class PiiAccess(Base):
    """One unmasked view of PII (a resident's ID number or phone): searchable by administrators."""

    __tablename__ = "pii_access_log"
    __table_args__ = (Index("ix_pii_access_log_at", "at"),
                      Index("ix_pii_access_log_entity", "entity_type", "entity_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    post: Mapped[str | None] = mapped_column(String(48))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(15))
    fields: Mapped[str] = mapped_column(String(100))  # "id_number,phone"
    route: Mapped[str | None] = mapped_column(String(200))
    client_addr: Mapped[str | None] = mapped_column(String(64))
