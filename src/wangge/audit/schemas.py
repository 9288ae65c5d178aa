"""API shapes of the audit domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditQuery(BaseModel):
    """Filters of an audit search; every given one must match (an empty query matches all)."""

    actor: str | None = Field(None, description="Exact user name, or `system`")
    action: str | None = Field(None, description="Exact action name, or a prefix ending in `*` "
                                                 "(`staff.*`)")
    target_type: str | None = None
    target_id: str | None = None
    region: str | None = Field(None, description="Region code: records in its subtree")
    since: datetime | None = Field(None, description="At or after (with a timezone offset)")
    until: datetime | None = Field(None, description="Before (with a timezone offset)")


class ChangeOut(BaseModel):
    before: Any
    after: Any


class AuditRecordOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_account_id: int | None
    post: str | None = Field(description="The post acted in, as ROLE@CODE")
    action: str
    target_type: str
    target_id: str
    region_code: str | None = Field(description="None: a system-wide action")
    changes: dict[str, ChangeOut]
    client_addr: str | None
    hash: str | None = Field(None, description="set when sealed into the chain (within a "
                                               "second of the commit)")


class AuditPage(BaseModel):
    """One page of records, newest first; pass ``next_after_id`` as ``after_id`` for the next."""

    items: list[AuditRecordOut]
    next_after_id: int | None = Field(description="None on the last page")
