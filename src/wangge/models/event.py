from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow


class EventLogEntry(Base):
    """A domain event as published on the bus; its id is the SSE event id (replay on reconnect)."""

    __tablename__ = "event_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    type: Mapped[str] = mapped_column(String(64))
    # Who may see it: subscribers whose scope covers region_code and who hold ``permission``.
    region_code: Mapped[str] = mapped_column(String(15), index=True)
    permission: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # JSON


class JobRun(Base):
    """One run of a scheduled job for one period; the unique key makes a double run impossible."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. 2026-11-29T12:05
    runner: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
