"""The one module that computes deadlines: time limits, the working-day calendar, SLA clocks.

A limit is written ``30m``, ``4h``, ``2d`` (calendar time) or ``3wd`` (working days). A
working-day limit ends at the same local (Asia/Shanghai) clock time on the Nth working day
after the start day: reported on Friday 10:00 with ``1wd``, due Monday 10:00 (or later when
Monday is a holiday).

Working days: Monday to Friday, minus China's public holidays, plus the weekend make-up
workdays (调休) — both from the ``holidays`` package (which follows the State Council's yearly
notice) — and finally the operator's own overrides (``calendar_days`` rows, ``wangge calendar
set``), which win over both. See docs/decisions/0011-cases.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

LOCAL = ZoneInfo("Asia/Shanghai")
Unit = Literal["m", "h", "d", "wd"]
_LIMIT = re.compile(r"^\s*(\d{1,4})\s*(m|h|d|wd)\s*$")
# Searching further than this for working days means the calendar is broken (all holidays).
_MAX_SCAN_DAYS = 3660


@dataclass(frozen=True)
class Limit:
    """A time limit: an amount of minutes, hours, calendar days or working days."""

    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"3wd"`` → Limit(3, "wd"); ValueError naming the accepted forms otherwise."""
        m = _LIMIT.match(text or "")
        if not m:
            raise ValueError(f"{text!r} is not a time limit: use e.g. 30m, 4h, 2d or 3wd")
        amount, unit = int(m.group(1)), m.group(2)
        if amount <= 0:
            raise ValueError(f"{text!r}: a time limit must be positive")
        return cls(amount, unit)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@lru_cache(maxsize=64)
def _official(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """China's public holidays and weekend make-up workdays of ``year``."""
    cn = holidays.country_holidays("CN", years=year)
    return frozenset(cn.keys()), frozenset(d for d in cn.weekend_workdays if d.year == year)


class WorkCalendar:
    """Working days: weekdays, minus official holidays, plus make-up days, then overrides."""

    def __init__(self, overrides: Mapping[date, str] | None = None) -> None:
        # day → "holiday" | "workday"
        self.overrides = dict(overrides or {})

    def is_workday(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == "workday"
        off, makeup = _official(day.year)
        if day in makeup:
            return True
        if day in off:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """The Nth working day after ``start`` (n ≥ 1)."""
        day, left = start, n
        for _ in range(_MAX_SCAN_DAYS):
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
                if left == 0:
                    return day
        raise ValueError("the calendar has no working days for ten years")

    def deadline(self, start: datetime, limit: Limit) -> datetime:
        """When a step started at ``start`` (aware) with ``limit`` is due (aware, same zone)."""
        if limit.unit == "m":
            return start + timedelta(minutes=limit.amount)
        if limit.unit == "h":
            return start + timedelta(hours=limit.amount)
        if limit.unit == "d":
            return start + timedelta(days=limit.amount)
        local = start.astimezone(LOCAL)
        day = self.add_working_days(local.date(), limit.amount)
        due = datetime.combine(day, local.timetz()).replace(tzinfo=LOCAL)
        return due.astimezone(start.tzinfo)
