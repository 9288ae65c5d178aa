"""The one place where scoping happens: every list and detail query passes through ``readable``.

A subject's scope is a set of region-code prefixes (the regions of its posts); a row is readable
when its region code falls in one of the prefix ranges. No prefix, no rows: deny by default.
Log-in and posts-to-scope come with the access issue (#3); until then the web app serves every
request as ``Subject.everything()`` and the CLI acts as the system.
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
    """``column`` lies in the subtree rooted at region ``prefix`` (a B-tree range scan)."""
    end = prefix_end(prefix)
    lower = column >= prefix
    return and_(lower, column < end) if end is not None else lower


@dataclass(frozen=True)
class Subject:
    """Who is asking, reduced to what scoping needs: the region prefixes they may read."""

    name: str
    prefixes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def everything(cls) -> Subject:
        # The empty prefix covers every code.
        return cls(name="system", prefixes=("",))

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
