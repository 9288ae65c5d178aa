from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow


class AuditRecord(Base):
    """审计记录 — one named action, append-only and hash-chained to the record before it.

    ``hash`` = SHA-256 over the previous record's hash and this record's canonical content, so
    changing, inserting or deleting any record breaks every link after it. Records are written
    unsealed and chained within a second by the sealer, in commit order (``seq``).
    """

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # username, or "system" for jobs and the CLI
    post: Mapped[str | None] = mapped_column(String(48))  # the post used, as ROLE@CODE
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    # The region the target belongs to: administrators search their subtree's records.
    region_code: Mapped[str | None] = mapped_column(String(15), index=True)
    changes: Mapped[str] = mapped_column(Text)  # canonical JSON {"field": [before, after]}
    client_addr: Mapped[str | None] = mapped_column(String(64))
    # Set by the sealer (wangge.audit.chain.seal): the chain position and the links.
    seq: Mapped[int | None] = mapped_column(unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)
