"""Posted hours: weekly schedule, time zones, daylight saving edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from client_sdk.workflow.errors import InvalidSetting, InvalidTime
from client_sdk.workflow.hours import HoursChange, OpeningSpan, WeeklyHours
from e2ee import identity

NY = "America/New_York"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def week(tz: str, *spans: tuple[int, str, str]) -> WeeklyHours:
    return WeeklyHours(tz, tuple(OpeningSpan.parse(d, o, c) for d, o, c in spans))


def weekdays(tz: str, open_: str, close: str) -> WeeklyHours:
    return week(tz, *[(d, open_, close) for d in range(5)])


def total(hours: WeeklyHours, start: datetime, end: datetime) -> timedelta:
    return sum((min(b, end) - max(a, start) for a, b in hours.intervals(start, end)), timedelta())


def test_office_hours_in_winter() -> None:
    hours = weekdays(NY, "09:00", "17:00")  # EST = UTC-5; 2026-01-05 is a Monday
    assert not hours.is_open(at(2026, 1, 5, 13, 59))
    assert hours.is_open(at(2026, 1, 5, 14, 0))
    assert hours.is_open(at(2026, 1, 5, 21, 59))
    assert not hours.is_open(at(2026, 1, 5, 22, 0))
    assert not hours.is_open(at(2026, 1, 10, 15, 0))  # Saturday


def test_office_hours_in_summer_follow_the_wall_clock() -> None:
    hours = weekdays(NY, "09:00", "17:00")  # EDT = UTC-4; 2026-07-06 is a Monday
    assert not hours.is_open(at(2026, 7, 6, 12, 59))
    assert hours.is_open(at(2026, 7, 6, 13, 0))
    assert not hours.is_open(at(2026, 7, 6, 21, 0))


def test_next_change() -> None:
    hours = weekdays(NY, "09:00", "17:00")
    assert hours.next_change(at(2026, 1, 5, 13, 0)) == HoursChange(at(2026, 1, 5, 14, 0), True)
    assert hours.next_change(at(2026, 1, 5, 15, 0)) == HoursChange(at(2026, 1, 5, 22, 0), False)
    assert hours.next_change(at(2026, 1, 5, 14, 0)) == HoursChange(at(2026, 1, 5, 22, 0), False)
    # Friday evening -> Monday morning
    assert hours.next_change(at(2026, 1, 9, 22, 0)) == HoursChange(at(2026, 1, 12, 14, 0), True)


def test_next_change_across_the_spring_change() -> None:
    hours = week("Europe/London", *[(d, "09:00", "17:00") for d in range(7)])
    # Saturday 28 March 2026, GMT; Sunday 29 March opens at 09:00 BST = 08:00 UTC
    assert hours.next_change(at(2026, 3, 28, 18, 0)) == HoursChange(at(2026, 3, 29, 8, 0), True)
    assert hours.next_change(at(2026, 3, 29, 8, 0)) == HoursChange(at(2026, 3, 29, 16, 0), False)


def test_span_across_spring_forward_is_an_hour_shorter() -> None:
    hours = week(NY, (6, "01:00", "05:00"))  # Sunday 8 March 2026, 02:00 -> 03:00
    day = (at(2026, 3, 8, 0, 0), at(2026, 3, 9, 0, 0))
    assert hours.intervals(*day) == [(at(2026, 3, 8, 6, 0), at(2026, 3, 8, 9, 0))]
    assert total(hours, *day) == timedelta(hours=3)
    assert hours.is_open(at(2026, 3, 8, 8, 59))
    assert not hours.is_open(at(2026, 3, 8, 9, 0))


def test_opening_in_the_skipped_hour_reads_the_old_offset() -> None:
    hours = week(NY, (6, "02:30", "04:00"))  # 02:30 does not exist on 8 March 2026
    assert hours.intervals(at(2026, 3, 8), at(2026, 3, 9)) == [
        (at(2026, 3, 8, 7, 30), at(2026, 3, 8, 8, 0))  # 03:30 EDT to 04:00 EDT
    ]
    assert not hours.is_open(at(2026, 3, 8, 7, 0))
    assert hours.is_open(at(2026, 3, 8, 7, 30))


def test_span_inside_the_skipped_hour_never_opens() -> None:
    hours = week(NY, (6, "02:00", "03:00"))
    assert hours.intervals(at(2026, 3, 8), at(2026, 3, 9)) == []
    assert hours.intervals(at(2026, 3, 15), at(2026, 3, 16)) == [
        (at(2026, 3, 15, 6, 0), at(2026, 3, 15, 7, 0))
    ]


def test_span_across_fall_back_is_an_hour_longer() -> None:
    hours = week(NY, (6, "00:00", "03:00"))  # Sunday 1 November 2026, 02:00 -> 01:00
    day = (at(2026, 11, 1), at(2026, 11, 2))
    assert hours.intervals(*day) == [(at(2026, 11, 1, 4, 0), at(2026, 11, 1, 8, 0))]
    assert total(hours, *day) == timedelta(hours=4)


def test_ambiguous_time_means_first_occurrence() -> None:
    hours = week(NY, (6, "01:30", "02:00"))
    assert hours.intervals(at(2026, 11, 1), at(2026, 11, 2)) == [
        (at(2026, 11, 1, 5, 30), at(2026, 11, 1, 7, 0))  # 01:30 EDT to 02:00 EST
    ]
    assert hours.is_open(at(2026, 11, 1, 6, 45))  # 01:45 EST, the second pass


def test_overnight_span_across_both_changes() -> None:
    hours = week(NY, (5, "22:00", "06:00"))  # Saturday night into Sunday
    spring = hours.intervals(at(2026, 3, 7), at(2026, 3, 9))
    assert spring == [(at(2026, 3, 8, 3, 0), at(2026, 3, 8, 10, 0))]  # 7 hours
    autumn = hours.intervals(at(2026, 10, 31), at(2026, 11, 2))
    assert autumn == [(at(2026, 11, 1, 2, 0), at(2026, 11, 1, 11, 0))]  # 9 hours


def test_overnight_from_sunday_wraps_into_monday() -> None:
    hours = week("Europe/Paris", (6, "22:00", "02:00"))
    assert hours.is_open(at(2026, 1, 5, 0, 30))  # Monday 01:30 CET
    assert not hours.is_open(at(2026, 1, 5, 1, 0))  # Monday 02:00 CET
    assert hours.next_change(at(2026, 1, 5, 1, 0)) == HoursChange(at(2026, 1, 11, 21, 0), True)


def test_touching_spans_merge() -> None:
    hours = week("UTC", (0, "00:00", "24:00"), (1, "00:00", "08:00"))
    # Monday 5 Jan 2026 noon: open until Tuesday 08:00, no change at midnight
    assert hours.next_change(at(2026, 1, 5, 12)) == HoursChange(at(2026, 1, 6, 8), False)


def test_always_open_and_never_open() -> None:
    always = week("Asia/Kolkata", *[(d, "00:00", "24:00") for d in range(7)])
    assert always.is_open(at(2026, 6, 1, 3, 17))
    assert always.next_change(at(2026, 6, 1, 3, 17)) is None
    never = WeeklyHours("UTC", ())
    assert not never.is_open(at(2026, 6, 1))
    assert never.next_change(at(2026, 6, 1)) is None


def test_profile_round_trip() -> None:
    data = {
        "timezone": "America/Vancouver",
        "weekly": [
            {"day": 0, "open": "09:00", "close": "17:00"},
            {"day": 5, "open": "20:00", "close": "24:00"},
            {"day": 6, "open": "22:00", "close": "06:00"},
        ],
    }
    hours = WeeklyHours.from_profile(data)
    assert hours.to_profile() == data
    signed_form = hours.to_identity()
    assert isinstance(signed_form, identity.Hours)
    assert WeeklyHours.from_identity(signed_form) == hours


@pytest.mark.parametrize(
    "data",
    [
        {"timezone": "Mars/Olympus", "weekly": []},
        {"timezone": "UTC"},
        {"timezone": "UTC", "weekly": [], "extra": 1},
        {"timezone": "UTC", "weekly": {}},
        {"timezone": "UTC", "weekly": [{"day": 7, "open": "09:00", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": True, "open": "09:00", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 1, "open": "9:00", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 1, "open": "24:00", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 1, "open": "09:60", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 1, "open": "09:00", "close": "24:01"}]},
        {"timezone": "UTC", "weekly": [{"day": 1, "open": "٠٩:٠٠", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 1, "open": "09:00"}]},
        [],
    ],
)
def test_bad_schedules_are_refused(data: object) -> None:
    with pytest.raises(InvalidSetting):
        WeeklyHours.from_profile(data)


def test_hours_the_signed_profile_could_not_carry_are_refused_at_once() -> None:
    too_many = tuple(
        OpeningSpan(0, 10 * i, 10 * i + 5) for i in range(identity.MAX_HOURS_PERIODS + 1)
    )
    with pytest.raises(InvalidSetting):
        WeeklyHours("UTC", too_many)
    WeeklyHours("UTC", too_many[:-1]).to_identity()
    with pytest.raises(InvalidSetting):
        OpeningSpan(True, 0, 60)  # type: ignore[arg-type]


def test_naive_time_is_refused() -> None:
    with pytest.raises(InvalidTime):
        weekdays("UTC", "09:00", "17:00").is_open(datetime(2026, 1, 5, 10, 0))
