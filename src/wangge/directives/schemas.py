"""Directive API bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from wangge.cases.schemas import Location, Strict

Kind = Literal["notice", "task", "inspection", "emergency"]
Priority = Literal["normal", "high", "urgent"]
UnitLevel = Literal["county", "township", "village", "grid"]
AssignmentStatus = Literal["delivered", "acknowledged", "completed", "accepted", "returned"]
ASSIGNMENT_STATUSES: tuple[str, ...] = ("delivered", "acknowledged", "completed", "accepted",
                                        "returned")
CODE = r"^\d{2,15}$"


class Target(Strict):
    """One entry of ``targets``: exactly one of ``subtree`` (every grid under a region),
    ``grids`` (a list of grid codes) or ``level`` with ``under`` (every unit of that level under
    a region)."""

    subtree: str | None = Field(None, pattern=CODE)
    grids: list[str] | None = Field(None, min_length=1, max_length=5000)
    level: UnitLevel | None = None
    under: str | None = Field(None, pattern=CODE)

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        kinds = [self.subtree is not None, self.grids is not None,
                 self.level is not None or self.under is not None]
        if sum(kinds) != 1:
            raise ValueError("targets: give one of subtree, grids, or level with under")
        if (self.level is None) != (self.under is None):
            raise ValueError("targets: level and under go together")
        for g in self.grids or []:
            if len(g) != 15 or not g.isdigit():
                raise ValueError(f"targets: {g!r} is not a 15-digit grid code")
        return self


class TargetsIn(Strict):
    targets: list[Target] = Field(min_length=1, max_length=100)


class DirectiveCreate(TargetsIn):
    """A new directive. Deadlines default to 30 minutes (emergency) or 1 day for
    acknowledgement; no completion deadline unless given."""

    client_uuid: UUID | None = Field(None, description="makes issuing idempotent")
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=20000)
    kind: Kind = "task"
    priority: Priority = "normal"
    attachments: list[int] = Field(default_factory=list, max_length=20,
                                   description="photo ids (POST /api/v1/photos)")
    ack_due_at: datetime | None = None
    due_at: datetime | None = None
    feedback_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the feedback form")
    post: str | None = Field(None, description="issue under this post (ROLE@CODE); by default "
                             "the issuing post whose region holds every target")

    @model_validator(mode="after")
    def _aware(self) -> DirectiveCreate:
        for name in ("ack_due_at", "due_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name}: give a time zone (e.g. +08:00 or Z)")
        return self


class LevelCount(BaseModel):
    level: str
    count: int


class TargetPreview(BaseModel):
    """How many units a target list reaches (before issuing)."""

    total: int
    by_level: list[LevelCount]


class DirectiveOut(BaseModel):
    id: int
    client_uuid: str | None
    region_code: str
    level: str
    issuer: str
    issuer_post: str | None
    title: str
    body: str
    kind: str
    priority: str
    attachments: list[int]
    feedback_schema: dict[str, Any]
    targets: list[dict[str, Any]]
    target_count: int
    ack_due_at: datetime
    due_at: datetime | None
    status: str
    created_at: datetime
    # The caller's own side of it.
    can_accept: bool = Field(description="the caller may accept/return its feedback")
    can_remind: bool = Field(description="the caller may remind units under it")
    counts: ProgressCounts | None = Field(None, description="assignments in the caller's scope")


class DirectivePage(BaseModel):
    items: list[DirectiveOut]
    next_cursor: int | None


class ProgressCounts(BaseModel):
    """Assignments by current status, plus those late (``overdue``) and done (completed or
    accepted)."""

    total: int = 0
    delivered: int = 0
    acknowledged: int = 0
    completed: int = 0
    accepted: int = 0
    returned: int = 0
    overdue: int = 0
    done: int = 0
    rate: float = Field(0.0, description="done ÷ total (0 when there are none)")


class ProgressRow(ProgressCounts):
    code: str
    name: str | None
    level: str


class ProgressOut(BaseModel):
    directive_id: int
    region: ProgressRow
    children: list[ProgressRow]


class CommentIn(Strict):
    text: str = Field(min_length=1, max_length=2000)


class RemindIn(Strict):
    region: str | None = Field(None, pattern=CODE, description="remind every unfinished unit "
                               "under this region (default: the caller's scope)")
    note: str | None = Field(None, max_length=500)


class RemindOut(BaseModel):
    reminded: int


class CaseFromFeedback(Strict):
    """A problem found while carrying the directive out, opened as a case (#4)."""

    category_code: str = Field(pattern=r"^\d{2,16}$")
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=5000)
    location: Location | None = None
    grid_code: str | None = Field(None, pattern=r"^\d{15}$")


class AssignmentActionIn(Strict):
    version: int = Field(ge=1)
    note: str | None = Field(None, max_length=5000)
    reason: str | None = Field(None, max_length=1000)
    feedback: dict[str, Any] | None = None
    photos: list[int] = Field(default_factory=list, max_length=20)
    case: CaseFromFeedback | None = None


class TimelineItem(BaseModel):
    id: int
    action: str
    at: datetime
    actor: str
    post: str | None
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any]


class AssignmentOut(BaseModel):
    id: int
    directive_id: int
    directive_title: str
    directive_kind: str
    priority: str
    region_code: str
    region_name: str | None
    level: str
    status: str
    version: int
    delivered_at: datetime
    ack_due_at: datetime
    due_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    completed_at: datetime | None
    completed_by: str | None
    feedback: dict[str, Any] | None
    note: str | None
    photos: list[int]
    accepted_at: datetime | None
    returns: int
    overdue: bool
    overdue_step: str | None
    escalated_at: datetime | None
    reminders: int
    case_id: int | None
    allowed_actions: list[str]
    timeline: list[TimelineItem] | None = None


class AssignmentPage(BaseModel):
    items: list[AssignmentOut]
    next_cursor: int | None


class DirectiveDetail(DirectiveOut):
    comments: list[TimelineItem]


DirectiveOut.model_rebuild()
DirectiveDetail.model_rebuild()
