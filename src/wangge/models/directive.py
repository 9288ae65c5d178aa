from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow


class Directive(Base):
    """指令 — an instruction issued by one level to the units beneath it.

    ``region_code`` is the issuing post's region (the directive's own scope); each target unit
    gets one ``DirectiveAssignment``. ``targets`` keeps the request's target list as given
    (JSON); ``target_count`` is how many assignments it fanned out to.
    """

    __tablename__ = "directives"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"), index=True)
    level: Mapped[str] = mapped_column(String(10))  # city | county | township | village
    issuer_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    issuer: Mapped[str] = mapped_column(String(64))
    issuer_post: Mapped[str | None] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12))  # notice | task | inspection | emergency
    priority: Mapped[str] = mapped_column(String(8))  # normal | high | urgent
    feedback_schema: Mapped[str] = mapped_column(Text, default="{}")  # JSON Schema
    targets: Mapped[str] = mapped_column(Text)  # JSON, as requested
    target_count: Mapped[int] = mapped_column(Integer)
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # completion deadline
    status: Mapped[str] = mapped_column(String(8), default="active")  # active
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DirectiveAssignment(Base):
    """指令任务 — one directive's copy for one target unit (a grid, or a village, township or
    county), acknowledged (签收) and completed (反馈) by it, accepted or returned by the issuer.

    The deadlines are copied from the directive (the sweep reads one table). ``overdue_at`` is
    set by the sweep while the step named by ``overdue_step`` is late and cleared when it is
    done. ``version`` grows with every action (optimistic concurrency).
    """

    __tablename__ = "directive_assignments"
    __table_args__ = (
        UniqueConstraint("directive_id", "region_code"),
        # Progress per child region reads (directive, region prefix, status) from the index.
        Index("ix_directive_assignments_progress", "directive_id", "region_code", "status",
              "overdue_at"),
        Index("ix_directive_assignments_region", "region_code", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directives.id", ondelete="CASCADE"))
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"))
    level: Mapped[str] = mapped_column(String(10))
    # delivered | acknowledged | completed | accepted | returned
    status: Mapped[str] = mapped_column(String(12))
    version: Mapped[int] = mapped_column(Integer, default=1)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(64))
    feedback: Mapped[str | None] = mapped_column(Text)  # JSON, per the directive's schema
    note: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returns: Mapped[int] = mapped_column(SmallInteger, default=0)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_step: Mapped[str | None] = mapped_column(String(12))  # acknowledge | complete
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminders: Mapped[int] = mapped_column(SmallInteger, default=0)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Compare-and-set on every UPDATE: a concurrent change raises StaleDataError (→ 409).
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AssignmentAction(Base):
    """One step of an assignment's timeline, a reminder (催办), or a comment on a directive
    (``assignment_id`` None; ``region_code`` is then the commenter's region)."""

    __tablename__ = "directive_actions"
    __table_args__ = (
        Index("ix_directive_actions_assignment", "assignment_id", "id"),
        Index("ix_directive_actions_directive", "directive_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directives.id", ondelete="CASCADE"))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("directive_assignments.id", ondelete="CASCADE"))
    region_code: Mapped[str] = mapped_column(String(15))
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    actor: Mapped[str] = mapped_column(String(64))
    post: Mapped[str | None] = mapped_column(String(48))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str | None] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON
