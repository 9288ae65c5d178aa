"""The one place where scoping happens: every list and detail query passes through ``readable``.

A subject's scope is a set of region-code prefixes (the regions of its posts); a row is readable
when its region code falls in one of the prefix ranges. No prefix, no rows: deny by default.
Subjects are built from an account's posts (``wangge.auth``); the CLI and scheduled jobs act as
``Subject.everything()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_

S = TypeVar("S", bound=Select)


def prefix_end(prefix: str) -> str | None:
    """The smallest digit string above every code that starts with ``prefix`` (None: no bound)."""
    digits = list(prefix)
    for i in range(len(digits) - 1, -1, -1):
        if digits[i] != "9":
            digits[i] = str(int(digits[i]) + 1)
            return "".join(digits[: i + 1])
    return None


def in_subtree(column: Any, prefix: str) -> ColumnElement[bool]:
    """``column`` lies in the subtree rooted at region ``prefix`` (a B-tree range scan).

    A prefix as long as the column holds (a grid's 15 digits in a ``String(15)``) has no
    subtree: it is an equality, which the planner estimates as one value — as a range it may
    think a grid holds a large share of the table and choose a worse plan.
    """
    if len(prefix) >= (getattr(getattr(column, "type", None), "length", None) or 10**6):
        eq: ColumnElement[bool] = column == prefix
        return eq
    end = prefix_end(prefix)
    lower = column >= prefix
    return and_(lower, column < end) if end is not None else lower


@dataclass(frozen=True)
class PostRef:
    """A post as the subject holds it: ``ROLE@CODE`` (a region, or an organisation's code)."""

    role: str
    code: str
    region_code: str

    def __str__(self) -> str:
        return f"{self.role}@{self.code}"


@dataclass(frozen=True)
class Subject:
    """Who is asking: the region prefixes they may read, their permissions and posts.

    Built from an account's posts by ``wangge.auth``; ``Subject.everything()`` is the system
    itself (CLI commands and scheduled jobs).
    """

    name: str
    prefixes: tuple[str, ...] = field(default_factory=tuple)
    permissions: frozenset[str] = field(default_factory=frozenset)
    posts: tuple[PostRef, ...] = field(default_factory=tuple)
    account_id: int | None = None
    person_id: int | None = None
    client_addr: str | None = None

    @classmethod
    def everything(cls) -> Subject:
        # The empty prefix covers every code.
        from wangge.authz.permissions import ALL_PERMISSIONS

        return cls(name="system", prefixes=("",), permissions=ALL_PERMISSIONS)

    @property
    def is_system(self) -> bool:
        return self.account_id is None and "" in self.prefixes

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def can_read_code(self, code: str) -> bool:
        return any(code.startswith(p) for p in self.prefixes)


def scope_clause(subject: Subject, column: Any) -> ColumnElement[bool]:
    if not subject.prefixes:
        return false()
    if "" in subject.prefixes:
        return column.is_not(None)
    return or_(*(in_subtree(column, p) for p in subject.prefixes))


def readable(subject: Subject, stmt: S, column: Any) -> S:
    """Restricts ``stmt`` to rows whose region ``column`` lies in the subject's scope."""
    return stmt.where(scope_clause(subject, column))


# Lengths of region codes from province to village: the levels a code's ancestors can have.
_ANCESTOR_LENGTHS = (2, 4, 6, 9, 12)


def scope_ancestors(subject: Subject) -> tuple[str, ...]:
    """The regions strictly above the subject's own: shown as breadcrumbs, never their data."""
    return tuple(sorted({p[:n] for p in subject.prefixes for n in _ANCESTOR_LENGTHS
                         if 0 < n < len(p)}))


def breadcrumb_readable(subject: Subject, stmt: S, column: Any) -> S:
    """Restricts ``stmt`` to rows in scope or above it (ancestors' names are not secret).

    Only for breadcrumbs (code, name, level): an ancestor's counts, children and shapes stay
    out of reach because every other query uses ``readable``. Decision 0010.
    """
    above = scope_ancestors(subject)
    clause = scope_clause(subject, column)
    return stmt.where(or_(clause, column.in_(above)) if above else clause)

