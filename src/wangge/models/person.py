from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow


class Person(Base):
    """工作人员 — a member of staff; holds one or more posts (the "three entries", 三进)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Staff number (工号), the key that imports match on.
    staff_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(1))  # "M" | "F"
    # Service the person comes from: government (政务), police (警务), social (社务), other (N).
    service: Mapped[str | None] = mapped_column(String(16))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
