"""The assignment state machine (diagram: docs/directives.md).

Statuses::

    delivered ──acknowledge──▶ acknowledged ──complete──▶ completed ──accept──▶ accepted
        │                           ▲                        │
        └──────── complete ─────────┼────────────────────────┤ return (退回重办)
                                    │                        ▼
                                    └──── complete ◀──── returned

``complete`` from ``delivered`` acknowledges on the way (a unit that reports back has received
it). ``remind`` (催办) leaves the status as it is and may be sent while anything is owed.

Who may act is a role relative to the assignment:

- **unit**: holds ``directive:handle`` on a post of exactly the assignment's region (the grid's
  workers for a grid; the village's or township's staff for theirs);
- **issuer**: holds ``directive:issue`` at the directive's issuing level or above;
- **overseer**: holds ``directive:issue`` at a level strictly above the unit, at or below the
  issuing level — the intermediate levels, which watch and remind but need not relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["delivered", "acknowledged", "completed", "accepted", "returned"]
Role = Literal["unit", "issuer", "overseer"]

# The action names are a contract (API paths, audit actions, timeline entries).
ACTIONS = ("acknowledge", "complete", "accept", "return", "remind")
# Entries the system writes itself.
SYSTEM_ACTIONS = ("issue", "overdue", "escalate", "comment")


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[Status, ...]
    roles: tuple[Role, ...]
    target: Status | None  # None keeps the status


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("acknowledge", ("delivered",), ("unit",), "acknowledged"),
    Transition("complete", ("delivered", "acknowledged", "returned"), ("unit",), "completed"),
    Transition("accept", ("completed",), ("issuer",), "accepted"),
    Transition("return", ("completed",), ("issuer",), "returned"),
    Transition("remind", ("delivered", "acknowledged", "returned"), ("issuer", "overseer"),
               None),
)}


def actions_in(status: str) -> list[str]:
    return [a for a, t in TRANSITIONS.items() if status in t.sources]
