"""Posted hours (widget/ui/hours.js) in Chromium: "open now" in the program's time zone.

Run in the page served by the shared static server; each case gives a UTC instant and
the expected answer, so nothing depends on the machine's clock or zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from client_sdk.workflow.hours import WeeklyHours

pytestmark = pytest.mark.browser

PARIS_WEEKDAYS = {
    "timezone": "Europe/Paris",
    "weekly": [{"day": d, "open": "09:00", "close": "17:00"} for d in range(5)],
}
OVERNIGHT = {
    "timezone": "America/Toronto",
    "weekly": [{"day": 4, "open": "22:00", "close": "02:00"}],
}  # Friday night
WHOLE_SUNDAY = {
    "timezone": "Asia/Kolkata",
    "weekly": [{"day": 6, "open": "00:00", "close": "24:00"}],
}


def ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


CASES = [
    # Monday 2026-11-30 08:30 UTC = 09:30 in Paris (winter, UTC+1): open
    (PARIS_WEEKDAYS, ms(2026, 11, 30, 8, 30), True),
    # 07:59 UTC = 08:59 Paris: not yet
    (PARIS_WEEKDAYS, ms(2026, 11, 30, 7, 59), False),
    # 16:00 UTC = 17:00 Paris: closing time is exclusive
    (PARIS_WEEKDAYS, ms(2026, 11, 30, 16, 0), False),
    # Summer: 2026-07-06 (Monday) 07:30 UTC = 09:30 Paris (UTC+2): open
    (PARIS_WEEKDAYS, ms(2026, 7, 6, 7, 30), True),
    # Saturday 12:00 Paris: closed
    (PARIS_WEEKDAYS, ms(2026, 11, 28, 11, 0), False),
    # Friday 2026-11-27 23:30 Toronto (UTC-5) = Sat 04:30 UTC: open
    (OVERNIGHT, ms(2026, 11, 28, 4, 30), True),
    # Saturday 01:59 Toronto = 06:59 UTC: still the Friday window
    (OVERNIGHT, ms(2026, 11, 28, 6, 59), True),
    # Saturday 02:00 Toronto: over
    (OVERNIGHT, ms(2026, 11, 28, 7, 0), False),
    # Friday 21:59 Toronto: not yet
    (OVERNIGHT, ms(2026, 11, 28, 2, 59), False),
    # Sunday 23:59 in Kolkata (UTC+5:30) = 18:29 UTC: open until midnight
    (WHOLE_SUNDAY, ms(2026, 11, 29, 18, 29), True),
    # Monday 00:00 Kolkata: closed
    (WHOLE_SUNDAY, ms(2026, 11, 29, 18, 30), False),
]


@pytest.mark.parametrize(("hours", "now_ms", "expected"), CASES)
def test_open_now_in_the_program_zone(
    protocol_page: Page, hours: dict[str, object], now_ms: int, expected: bool
) -> None:
    result = protocol_page.evaluate(
        """async ([hours, now]) => {
          const H = await import('/widget/ui/hours.js');
          return H.isOpenAt(H.parseHours(hours), now);
        }""",
        [hours, now_ms],
    )
    assert result is expected


def test_hours_are_listed_in_week_order(protocol_page: Page) -> None:
    lines = protocol_page.evaluate(
        """async (hours) => {
          const H = await import('/widget/ui/hours.js');
          const T = await import('/widget/ui/text.js');
          return H.describeHours(H.parseHours(hours), T.LANGUAGES.en);
        }""",
        {
            "timezone": "UTC",
            "weekly": [
                {"day": 6, "open": "10:00", "close": "12:00"},
                {"day": 0, "open": "09:00", "close": "24:00"},
            ],
        },
    )
    assert lines == [
        "Monday: 9 am to midnight",
        "Tuesday to Saturday: closed",
        "Sunday: 10 am to midday",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Not/AZone", "weekly": []},
        {"timezone": "UTC", "weekly": [{"day": 7, "open": "09:00", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 0, "open": "9:00", "close": "10:00"}]},
        {"timezone": "UTC", "weekly": [{"day": 0, "open": "09:00", "close": "24:30"}]},
        {"timezone": "UTC"},
    ],
)
def test_malformed_hours_are_refused(protocol_page: Page, bad: dict[str, object]) -> None:
    refused = protocol_page.evaluate(
        """async (hours) => {
          const H = await import('/widget/ui/hours.js');
          try { H.parseHours(hours); return false; } catch { return true; }
        }""",
        bad,
    )
    assert refused is True


# -- the nights the clocks change: the widget agrees with the program node (the SDK) ------

DST_ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"]
DST_SCHEDULES = [
    # windows that open or close inside the hour skipped or repeated, or run across it
    [{"day": d, "open": "02:30", "close": "01:30"} for d in range(7)],
    [{"day": d, "open": "01:15", "close": "02:15"} for d in range(7)],
    [{"day": d, "open": "22:00", "close": "03:00"} for d in range(7)],
    [{"day": d, "open": "03:00", "close": "24:00"} for d in range(7)],
]


def _transitions(zone: str) -> list[datetime]:
    """The instants (to the hour) at which ``zone`` changed its offset in 2026."""
    tz = ZoneInfo(zone)
    out, t = [], datetime(2026, 1, 1, tzinfo=UTC)
    previous = t.astimezone(tz).utcoffset()
    while t.year == 2026:
        t += timedelta(hours=1)
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            out.append(t)
            previous = offset
    return out


@pytest.mark.parametrize("zone", DST_ZONES)
def test_open_now_matches_the_sdk_around_every_clock_change(protocol_page: Page, zone: str) -> None:
    """Every 5 minutes for 8 hours either side of each 2026 change (30-minute changes on
    Lord Howe, 45-minute zones on Chatham), for windows that open, close or run inside
    the skipped or repeated hour: the widget's answer is the SDK's."""
    changes = _transitions(zone)
    assert len(changes) == 2
    instants = [change + timedelta(minutes=5 * k) for change in changes for k in range(-96, 97)]
    for weekly in DST_SCHEDULES:
        hours = {"timezone": zone, "weekly": weekly}
        sdk = WeeklyHours.from_profile(hours)
        expected = [sdk.is_open(t) for t in instants]
        got = protocol_page.evaluate(
            """async ([hours, instants]) => {
              const H = await import('/widget/ui/hours.js');
              const parsed = H.parseHours(hours);
              return instants.map((t) => H.isOpenAt(parsed, t));
            }""",
            [hours, [int(t.timestamp() * 1000) for t in instants]],
        )
        wrong = [
            (t.isoformat(), e) for t, e, g in zip(instants, expected, got, strict=True) if e != g
        ]
        assert not wrong, (weekly[0], wrong[:5])
        assert True in expected and False in expected  # the cases do test both answers
