"""The case state machine, readable top to bottom (diagram: docs/cases.md).

Statuses::

    reported ──accept──▶ accepted ──dispatch──▶ dispatched ──start──▶ in_progress
       │                    │  ▲                    │                     │
       │ void               │  └──── escalate ◀─────┴─────────────────────┤
       ▼                    ▼ void                                        │ report_handled
    voided               voided          closed ◀──close── handled ◀──────┘
                                                  rework──▶ dispatched

Side paths: ``escalate`` raises the owning level one step (grid → village → township → county
→ city); a reported case stays reported there, a later one goes back to ``accepted`` for the
new level to dispatch. ``suspend`` parks accepted/dispatched/in-progress cases (the clock
stops) and ``resume`` returns them. ``request_extension`` / ``approve_extension`` move the
current deadline. ``rate`` records the reporter's satisfaction on a closed case. A case created
``self_handled`` is closed at once with its evidence and waits for a ``spot_check``.

Who may act is a role relative to the case, not a global right:

- **manager**: holds ``case:dispatch`` at the owning level or above (it accepted the case and
  verifies its closure);
- **handler**: holds ``case:handle`` in the region or organisation the case is dispatched to;
- **reporter**: the account that reported it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Status = Literal["reported", "accepted", "dispatched", "in_progress", "handled", "closed",
                 "voided", "suspended"]
STATUSES: tuple[Status, ...] = ("reported", "accepted", "dispatched", "in_progress", "handled",
                                "closed", "voided", "suspended")
OPEN_STATUSES: tuple[Status, ...] = ("reported", "accepted", "dispatched", "in_progress",
                                     "handled", "suspended")
FINAL_STATUSES: tuple[Status, ...] = ("closed", "voided")

Role = Literal["manager", "handler", "reporter"]
Step = Literal["accept", "dispatch", "handle", "verify"]
STEPS: tuple[Step, ...] = ("accept", "dispatch", "handle", "verify")

# The action names are a contract (API paths, audit actions, timeline entries).
ACTIONS = ("accept", "void", "dispatch", "start", "report_handled", "close", "rework",
           "escalate", "suspend", "resume", "request_extension", "approve_extension", "rate",
           "spot_check")
# Entries the system writes itself (timeline and audit), never requested through the API.
SYSTEM_ACTIONS = ("report", "self_handle", "overdue", "supervise")

# The level names from the top, and the code length of each.
LEVEL_LENGTHS = {"city": 4, "county": 6, "township": 9, "village": 12, "grid": 15}


@dataclass(frozen=True)
class Transition:
    """An action allowed in ``sources``: who may take it and the status it leads to.

    ``target`` None keeps the status (or, for escalate and resume, is decided by the case).
    """

    action: str
    sources: tuple[Status, ...]
    roles: tuple[Role, ...]
    target: Status | None


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("accept", ("reported",), ("manager",), "accepted"),
    Transition("void", ("reported", "accepted"), ("manager",), "voided"),
    Transition("dispatch", ("accepted", "dispatched"), ("manager",), "dispatched"),
    Transition("start", ("dispatched",), ("handler",), "in_progress"),
    Transition("report_handled", ("dispatched", "in_progress"), ("handler",), "handled"),
    Transition("close", ("handled",), ("manager",), "closed"),
    Transition("rework", ("handled",), ("manager",), "dispatched"),
    Transition("escalate", ("reported", "accepted", "dispatched", "in_progress"),
               ("manager", "handler"), None),
    Transition("suspend", ("accepted", "dispatched", "in_progress"), ("manager",), "suspended"),
    Transition("resume", ("suspended",), ("manager",), None),
    Transition("request_extension", ("dispatched", "in_progress"), ("handler",), None),
    Transition("approve_extension", ("dispatched", "in_progress"), ("manager",), None),
    Transition("rate", ("closed",), ("reporter", "manager"), None),
    Transition("spot_check", ("closed",), ("manager",), None),
)}

# The step whose clock runs in each status (no clock: closed, voided, suspended).
STEP_OF: dict[str, Step | None] = {
    "reported": "accept", "accepted": "dispatch", "dispatched": "handle",
    "in_progress": "handle", "handled": "verify", "closed": None, "voided": None,
    "suspended": None,
}


def actions_in(status: str) -> list[str]:
    """The actions the state machine allows in ``status`` (whoever asks)."""
    return [a for a, t in TRANSITIONS.items() if status in t.sources]


def parent_code(code: str) -> str | None:
    """The owning level above ``code`` (grid → village → township → county → city)."""
    lengths = sorted(LEVEL_LENGTHS.values())
    shorter = [n for n in lengths if n < len(code)]
    return code[: shorter[-1]] if shorter else None


def level_of(code: str) -> str:
    return next((lv for lv, n in LEVEL_LENGTHS.items() if n == len(code)), "province")


def escalated_status(status: str) -> Status:
    """Where an escalated case lands at the level above: reported stays reported; anything
    later goes back to accepted, for the new owner to dispatch."""
    return "reported" if status == "reported" else "accepted"


def check_invariants(case: CaseView) -> list[str]:
    """What is wrong with a case's fields for its status (empty when consistent).

    Used by the property tests and the demo generator's tests.
    """
    problems: list[str] = []
    if case.status not in STATUSES:
        return [f"unknown status {case.status!r}"]
    if case.status in ("dispatched", "in_progress", "handled") and not case.handler_code:
        problems.append(f"{case.status} without a handler")
    if case.status == "closed" and case.closed_at is None:
        problems.append("closed without closed_at")
    if case.status != "closed" and case.closed_at is not None:
        problems.append(f"{case.status} with closed_at")
    if case.status == "suspended" and (case.suspended_at is None or not case.resume_status):
        problems.append("suspended without suspended_at and resume_status")
    if case.status != "suspended" and case.suspended_at is not None:
        problems.append(f"{case.status} still carries suspended_at")
    expects_clock = STEP_OF[case.status] is not None
    if expects_clock != (case.due_at is not None):
        problems.append(f"{case.status} with{'out' if expects_clock else ''} a deadline")
    if not case.region_code.startswith(case.owner_code):
        problems.append("the owning level is not above the case's grid")
    return problems


class CaseView(Protocol):
    """The fields ``check_invariants`` reads (a Case row satisfies it)."""

    status: str
    handler_code: str | None
    closed_at: object | None
    suspended_at: object | None
    resume_status: str | None
    due_at: object | None
    region_code: str
    owner_code: str
