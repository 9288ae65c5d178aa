"""kit.calendar: time limits, China's working days (holidays, make-up days, overrides) and the
deadlines computed from them in local (Asia/Shanghai) time.

The 2026 dates are those of the State Council's notice as the ``holidays`` package encodes them:
National Day 1-7 October off, Sunday 20 September and Saturday 10 October worked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
import pytest

from wangge.kit.calendar import LOCAL, Limit, WorkCalendar


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL)


class TestLimitParse:
    @pytest.mark.parametrize("text, amount, unit", [
        ("30m", 30, "m"), ("4h", 4, "h"), ("2d", 2, "d"), ("3wd", 3, "wd"),
        (" 5 wd ", 5, "wd"), ("9999m", 9999, "m"),
    ])
    def test_valid_forms(self, text: str, amount: int, unit: str) -> None:
        limit = Limit.parse(text)
        assert (limit.amount, limit.unit) == (amount, unit)
        assert Limit.parse(str(limit)) == limit

    def test_prints_compactly(self) -> None:
        assert str(Limit.parse(" 3 wd")) == "3wd"

    @pytest.mark.parametrize("text", ["", "3", "wd", "3w", "3 days", "1.5h", "-1d", "10000m",
                                      "h4", "3wd2"])
    def test_malformed_names_the_accepted_forms(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"use e\.g\. 30m, 4h, 2d or 3wd"):
            Limit.parse(text)

    @pytest.mark.parametrize("text", ["0m", "0wd", "000h"])
    def test_zero_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match="must be positive"):
            Limit.parse(text)


class TestIsWorkday:
    def test_plain_weekdays_and_weekends(self) -> None:
        cal = WorkCalendar()
        assert cal.is_workday(date(2026, 11, 27))  # Friday
        assert not cal.is_workday(date(2026, 11, 28))  # Saturday
        assert not cal.is_workday(date(2026, 11, 29))  # Sunday
        assert cal.is_workday(date(2026, 11, 30))  # Monday

    @pytest.mark.parametrize("day", [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5),
                                     date(2026, 10, 6), date(2026, 10, 7), date(2026, 1, 1),
                                     date(2026, 2, 17), date(2026, 9, 25)])
    def test_official_holidays_on_weekdays_are_off(self, day: date) -> None:
        assert day.weekday() < 5
        assert not WorkCalendar().is_workday(day)

    @pytest.mark.parametrize("day", [date(2026, 9, 20), date(2026, 10, 10), date(2026, 2, 14),
                                     date(2026, 1, 4)])
    def test_make_up_weekend_days_are_worked(self, day: date) -> None:
        assert day.weekday() >= 5
        assert WorkCalendar().is_workday(day)

    def test_the_dates_come_from_the_holidays_package(self) -> None:
        cn = holidays.country_holidays("CN", years=2026)
        assert date(2026, 10, 1) in cn
        assert {date(2026, 9, 20), date(2026, 10, 10)} <= set(cn.weekend_workdays)
        # 261 weekdays - 19 holidays on weekdays + 6 make-up weekend days.
        year = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
        assert sum(WorkCalendar().is_workday(d) for d in year) == 248

    def test_overrides_win_over_holidays_make_up_days_and_weekdays(self) -> None:
        cal = WorkCalendar({
            date(2026, 10, 1): "workday",  # an official holiday worked locally
            date(2026, 9, 20): "holiday",  # an official make-up Sunday given off
            date(2026, 11, 30): "holiday",  # a plain Monday off (local festival)
            date(2026, 11, 28): "workday",  # a plain Saturday worked
        })
        assert cal.is_workday(date(2026, 10, 1))
        assert not cal.is_workday(date(2026, 9, 20))
        assert not cal.is_workday(date(2026, 11, 30))
        assert cal.is_workday(date(2026, 11, 28))
        # Days without an override keep the official rule.
        assert not cal.is_workday(date(2026, 10, 2)) and cal.is_workday(date(2026, 10, 10))

    def test_a_calendar_without_working_days_is_an_error(self) -> None:
        start = date(2026, 1, 1)
        cal = WorkCalendar({start + timedelta(days=i): "holiday" for i in range(1, 3700)})
        with pytest.raises(ValueError, match="no working days"):
            cal.add_working_days(start, 1)


class TestDeadline:
    def test_calendar_units_add_plain_time(self) -> None:
        cal = WorkCalendar()
        start = local(2026, 9, 30, 23, 50)  # the eve of National Day does not matter here
        assert cal.deadline(start, Limit(30, "m")) == local(2026, 10, 1, 0, 20)
        assert cal.deadline(start, Limit(4, "h")) == local(2026, 10, 1, 3, 50)
        assert cal.deadline(start, Limit(2, "d")) == local(2026, 10, 2, 23, 50)

    def test_friday_plus_one_working_day_is_monday_same_time(self) -> None:
        due = WorkCalendar().deadline(local(2026, 11, 27, 10, 0), Limit(1, "wd"))
        assert due == local(2026, 11, 30, 10, 0)
        assert due.tzinfo is not None and due.utcoffset() == timedelta(hours=8)

    def test_monday_holiday_pushes_to_tuesday(self) -> None:
        cal = WorkCalendar({date(2026, 11, 30): "holiday"})
        assert cal.deadline(local(2026, 11, 27, 10, 0), Limit(1, "wd")) == \
            local(2026, 12, 1, 10, 0)

    @pytest.mark.parametrize("n, due", [
        (1, local(2026, 10, 8, 9, 30)),  # 1-7 October off
        (2, local(2026, 10, 9, 9, 30)),
        (3, local(2026, 10, 10, 9, 30)),  # the make-up Saturday counts
        (4, local(2026, 10, 12, 9, 30)),
    ])
    def test_across_national_day(self, n: int, due: datetime) -> None:
        assert WorkCalendar().deadline(local(2026, 9, 30, 9, 30), Limit(n, "wd")) == due

    def test_starting_on_a_weekend_counts_from_the_next_working_day(self) -> None:
        cal = WorkCalendar()
        assert cal.deadline(local(2026, 11, 28, 15, 0), Limit(1, "wd")) == \
            local(2026, 11, 30, 15, 0)
        assert cal.deadline(local(2026, 11, 29, 8, 0), Limit(2, "wd")) == \
            local(2026, 12, 1, 8, 0)
        # Saturday 19 September: the next day is a make-up Sunday.
        assert cal.deadline(local(2026, 9, 19, 11, 0), Limit(1, "wd")) == \
            local(2026, 9, 20, 11, 0)

    def test_working_days_follow_the_local_date_of_a_utc_start(self) -> None:
        cal = WorkCalendar()
        # Friday 17:00 UTC is Saturday 01:00 in Shanghai: one working day later is Monday
        # 01:00 local, i.e. Sunday 17:00 UTC (not Monday 17:00 UTC).
        due = cal.deadline(datetime(2026, 11, 27, 17, 0, tzinfo=UTC), Limit(1, "wd"))
        assert due == datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
        assert due.tzinfo is UTC
        # Friday 02:00 UTC is Friday 10:00 local: due Monday 10:00 local.
        due = cal.deadline(datetime(2026, 11, 27, 2, 0, tzinfo=UTC), Limit(1, "wd"))
        assert due == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
        assert due.tzinfo is UTC

    def test_results_are_timezone_aware(self) -> None:
        cal = WorkCalendar()
        start = datetime(2026, 3, 3, 1, 2, tzinfo=UTC)
        for text in ("30m", "4h", "2d", "3wd"):
            due = cal.deadline(start, Limit.parse(text))
            assert due.tzinfo is not None and due > start
