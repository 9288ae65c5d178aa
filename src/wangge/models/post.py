from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow

# Role names are a contract (see docs/architecture.md); more may be added.
ROLES = (
    "admin",
    "commander",
    "analyst",
    "grid_leader",  # 网格长
    "deputy_grid_leader",  # 副网格长
    "grid_member",  # 网格员
    "grid_support",  # "N" 力量 — other services reaching into the grid
    "department_officer",
)
GRID_ROLES = ("grid_leader", "deputy_grid_leader", "grid_member", "grid_support")


class Post(Base):
    """岗位 — a person's role at one region, optionally inside an organisation."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("person_id", "role", "region_code", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(24))
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(50))  # e.g. 村党支部书记, 派出所所长
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
