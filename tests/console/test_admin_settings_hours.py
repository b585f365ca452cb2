"""Holidays and one-off closures in the posted hours: the protocol's rule (a whole local
day, valid dates, unique, optional key left out when empty), the profile's checks with
the dotted key named, the SDK's hours and the status rule that follow them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from client_sdk import publishing
from client_sdk import workflow as wf
from client_sdk.profile_content import ProfileError
from client_sdk.workflow.hours import WeeklyHours
from e2ee import profile as prof
from e2ee.errors import LocalProtocolError, MalformedInput

ALWAYS = [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)]
PARIS = {"timezone": "Europe/Paris", "weekly": ALWAYS,
         "closures": [{"date": "2026-12-25", "label": "Christmas Day"}]}  # fmt: skip


def test_the_protocol_rule() -> None:
    assert prof.Closure("2026-12-25", "").to_json() == {"date": "2026-12-25", "label": ""}
    for bad in ("2026-02-30", "25/12/2026", "2026-13-01", "", "2026-1-1"):
        with pytest.raises(LocalProtocolError):
            prof.Closure(bad, "")
    with pytest.raises(LocalProtocolError):
        prof.Hours("UTC", (), (prof.Closure("2026-12-25"), prof.Closure("2026-12-25")))
    with pytest.raises(LocalProtocolError):
        prof.Closure("2026-12-25", "x" * (prof.MAX_CLOSURE_LABEL_LENGTH + 1))
    # without closures the JSON is as before (existing signatures stay valid)
    assert "closures" not in prof.Hours("UTC", ()).to_json()
    body = prof.canonical_json({**publishing.DEFAULT_PROFILE, "v": 1, "issued_at": 0})
    assert prof.parse_profile(body).hours.closures == ()
    with_closure = {**publishing.DEFAULT_PROFILE, "hours": PARIS, "v": 1, "issued_at": 0}
    parsed = prof.parse_profile(prof.canonical_json(with_closure))
    assert parsed.hours.closures == (prof.Closure("2026-12-25", "Christmas Day"),)
    assert parsed.to_body() == prof.canonical_json(with_closure)
    # a key this version does not know is ignored (docs/protocol.md, forward compatibility);
    # a missing one is refused
    extra = {**PARIS, "closures": [{"date": "2026-12-25", "label": "", "why": "x"}]}
    parsed = prof.parse_profile(prof.canonical_json({**with_closure, "hours": extra}))
    assert parsed.hours.closures == (prof.Closure("2026-12-25", ""),)
    missing = {**PARIS, "closures": [{"date": "2026-12-25"}]}
    with pytest.raises(MalformedInput):
        prof.parse_profile(prof.canonical_json({**with_closure, "hours": missing}))


def test_a_closed_day_is_closed_from_midnight_to_midnight_local() -> None:
    hours = WeeklyHours.from_profile(PARIS)
    assert hours.to_profile() == PARIS
    # Paris is UTC+1 in December: the 25th runs from 23:00 UTC on the 24th to 23:00 on the 25th
    assert hours.is_open(datetime(2026, 12, 24, 22, 59, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 12, 24, 23, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 12, 25, 22, 59, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 12, 25, 23, 0, tzinfo=UTC))
    change = hours.next_change(datetime(2026, 12, 24, 12, tzinfo=UTC))
    assert change == wf.HoursChange(datetime(2026, 12, 24, 23, 0, tzinfo=UTC), opens=False)
    closure = hours.closed_on(datetime(2026, 12, 25, 12, tzinfo=UTC))
    assert closure is not None and closure.label == "Christmas Day"
    assert hours.closed_on(datetime(2026, 12, 26, 12, tzinfo=UTC)) is None


def test_the_status_rule_follows_a_closed_day() -> None:
    keeper = wf.StatusKeeper(WeeklyHours.from_profile(PARIS))
    assert keeper.desired(datetime(2026, 12, 25, 12, tzinfo=UTC))[0] is wf.StatusState.CLOSED
    assert keeper.desired(datetime(2026, 12, 26, 12, tzinfo=UTC))[0] is wf.StatusState.OPEN


@pytest.mark.parametrize(
    ("closures", "key", "words"),
    [
        ([{"date": "2026-02-30", "label": ""}], "hours.closures[0].date", "not a calendar date"),
        ([{"date": "25/12", "label": ""}], "hours.closures[0].date", "YYYY-MM-DD"),
        ([{"date": "2026-12-25"}], "hours.closures[0].label", "missing"),
        ([{"date": "2026-12-25", "label": "", "note": ""}], "hours.closures[0].note", "unknown"),
        ([{"date": "2026-12-25", "label": ""}, {"date": "2026-12-25", "label": ""}],
         "hours.closures[1].date", "already the date of hours.closures[0]"),
        ({"date": "2026-12-25"}, "hours.closures", "JSON array"),
    ],
)  # fmt: skip
def test_the_profile_names_the_bad_closure(closures: object, key: str, words: str) -> None:
    with pytest.raises(ProfileError) as refused:
        publishing.profile_from_content(
            {"hours": {"timezone": "UTC", "weekly": ALWAYS, "closures": closures}}, 0
        )
    assert refused.value.key == key and words in refused.value.problem


def test_a_long_closure_is_not_refused_as_always_closed() -> None:
    days = [{"date": f"2026-12-{d:02d}", "label": "Winter break"} for d in range(1, 32)]
    now = int(datetime(2026, 12, 10, tzinfo=UTC).timestamp())
    profile = publishing.profile_from_content(
        {"hours": {"timezone": "UTC", "weekly": ALWAYS, "closures": days}}, now
    )
    assert len(profile.hours.closures) == 31
