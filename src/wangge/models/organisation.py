from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow

# Organisation kinds; the code prefix tells the kind at a glance (e.g. PS410702001).
ORGANISATION_KINDS = {
    "police_bureau": "PB",  # 公安局 (county level)
    "police_station": "PS",  # 派出所
    "village_committee": "VC",  # 村(居)委会
    "department": "DP",  # 职能部门 (market supervision, emergency management, ...)
}


class Organisation(Base):
    """职能部门/组织 — a body people hold posts in: police bureau, police station, committee."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(100))
    # Where the organisation sits (its home region); scope for its records.
    region_code: Mapped[str] = mapped_column(String(15), ForeignKey("regions.code"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrganisationCoverage(Base):
    """The regions an organisation serves (a police station covers one or more townships)."""

    __tablename__ = "organisation_coverage"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(
        String(15), ForeignKey("regions.code"), primary_key=True, index=True
    )
