from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

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
)
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")


class CaseCategory(Base):
    """事件类别 — a node of the case category tree with its handling rules and time limits.

    ``limits`` is JSON ``{"accept": "2h", "dispatch": "4h", "handle": "3wd", "verify": "1wd"}``
    (see ``wangge.kit.calendar.Limit``); ``fields_schema`` is a JSON Schema for the category's
    extra fields (disputes: parties, scale, mediation method, outcome as in GB/T 31000).
    """

    __tablename__ = "case_categories"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("case_categories.code"), index=True)
    name: Mapped[str] = mapped_column(String(64))  # Chinese
    name_en: Mapped[str] = mapped_column(String(64))
    # The level that normally handles it: grid | village | township | county | city.
    handling_level: Mapped[str] = mapped_column(String(10))
    # Organisation kind it goes to (police_station, department, ...), or None for the grid team.
    department_kind: Mapped[str | None] = mapped_column(String(24))
    # Only posts in police organisations (and commanders) may read cases of this category.
    police_only: Mapped[bool] = mapped_column(Boolean, default=False)
    limits: Mapped[str] = mapped_column(Text)  # JSON
    fields_schema: Mapped[str] = mapped_column(Text)  # JSON Schema
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """A working-day calendar override: a holiday on a weekday or a make-up workday (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # holiday | workday
    name: Mapped[str] = mapped_column(String(64))


class Case(Base):
    """事件 — a field report on its way to being handled and closed.

    ``region_code`` is the grid where it happened (scope); ``owner_code`` the level now
    responsible for it (the grid, raised by each escalation); the handler is a region (a grid
    team, a village...) or an organisation (a department, a police station). ``version`` grows
    with every action (optimistic concurrency). ``due_at`` is the deadline of the current step.
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_region_id", "region_code", "id"),
        # The deadline sweep ranges over running clocks by deadline. No index mentions
        # overdue_at or supervised_at, and pages keep 15% free: marking a hundred thousand
        # cases overdue is then a HOT update that writes no index entry (migration 0008).
        Index("ix_cases_due_at", "due_at"),
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    category_code: Mapped[str] = mapped_column(String(16), ForeignKey("case_categories.code"),
                                               index=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    lng: Mapped[float | None] = mapped_column(Float)  # WGS-84
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    parties: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    fields: Mapped[str] = mapped_column(Text, default="{}")  # JSON, per the category's schema
    source: Mapped[str] = mapped_column(String(16))  # grid_worker | resident | phone | system
    status: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    self_handled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Copied from the category: only police posts, commanders and the reporter may read it.
    police_only: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_code: Mapped[str] = mapped_column(String(15), index=True)
    handler_kind: Mapped[str | None] = mapped_column(String(12))  # region | organisation
    handler_code: Mapped[str | None] = mapped_column(String(32), index=True)
    handler_name: Mapped[str | None] = mapped_column(String(100))
    reporter_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"),
                                                            index=True)
    reporter: Mapped[str] = mapped_column(String(64))
    reporter_post: Mapped[str | None] = mapped_column(String(48))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The step the clock runs for (accept | dispatch | handle | verify) and its deadline.
    step: Mapped[str | None] = mapped_column(String(10))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Escalations made by the deadline sweep (督办) for the current step.
    supervised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resume_status: Mapped[str | None] = mapped_column(String(16))
    # While suspended: the time the step had left, given back on resume.
    remaining_seconds: Mapped[int | None] = mapped_column(Integer)
    extension_request: Mapped[str | None] = mapped_column(Text)  # JSON {"extra", "reason"}
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    spot_check: Mapped[str | None] = mapped_column(String(8))  # pending | passed | failed
    # True for the generated demo cases (wangge.cases.demo).
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def number(self) -> str:
        """The human-readable number, e.g. ``SJ-410702-20261129-00042``: county, local day of
        the report, id (derived, so intake takes no lock to number a case)."""
        return case_number(self.id, self.region_code, self.reported_at)

    # Compare-and-set on every UPDATE: a concurrent change raises StaleDataError (→ 409).
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CaseAction(Base):
    """One step of a case's timeline: a named action by a person or by the system."""

    __tablename__ = "case_actions"
    __table_args__ = (Index("ix_case_actions_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    actor: Mapped[str] = mapped_column(String(64))  # username, or "system"
    post: Mapped[str | None] = mapped_column(String(48))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)  # the case's version after the action
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class CasePhoto(Base):
    """A photo uploaded by a worker, attached once used: to a case (as report or evidence), to a
    directive (an attachment) or to an assignment's feedback."""

    __tablename__ = "case_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                                index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("case_actions.id"))
    # Or attached to a directive (an attachment) or to an assignment's feedback.
    directive_id: Mapped[int | None] = mapped_column(
        ForeignKey("directives.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("directive_assignments.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(200))  # relative to the photo directory
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def case_number(case_id: int, region_code: str, reported_at: datetime) -> str:
    """``SJ-<county>-<local date>-<id>``; the id part has at least five digits."""
    day = reported_at.astimezone(SHANGHAI).strftime("%Y%m%d")
    return f"SJ-{region_code[:6]}-{day}-{case_id:05d}"
