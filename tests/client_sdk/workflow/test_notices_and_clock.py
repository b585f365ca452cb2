"""Canned notices, the manual clock and staff shifts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from client_sdk.workflow.clock import ManualClock, SystemClock, utc
from client_sdk.workflow.errors import InvalidSetting, InvalidTime
from client_sdk.workflow.notices import CannedNotices, Notice, NoticeKind, RightsNotice
from client_sdk.workflow.staff import Role, Shift, StaffMember
from e2ee import identity, payload

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_every_default_notice_has_its_kind_and_plain_text() -> None:
    n = CannedNotices()
    made = [
        n.rights_notice(),
        n.safety_check_in_notice(),
        n.inactivity_notice(5),
        n.closing_notice(),
        n.closed_now_notice(),
        n.shift_change_notice(),
        n.transfer_notice(),
        n.code_word_request_notice(),
        CannedNotices.custom("Hello"),
    ]
    assert [m.kind for m in made] == [
        NoticeKind.RIGHTS, NoticeKind.SAFETY_CHECK_IN, NoticeKind.INACTIVITY,
        NoticeKind.CLOSING, NoticeKind.CLOSING, NoticeKind.SHIFT_CHANGE,
        NoticeKind.TRANSFER, NoticeKind.CODE_WORD_REQUEST, NoticeKind.CUSTOM,
    ]  # fmt: skip
    assert "5 minutes" in n.inactivity_notice(5).body
    assert "{minutes}" not in n.inactivity_notice(5).body
    one = n.inactivity_notice(1).body
    assert "in 1 minute," in one and "1 minutes" not in one
    safety = n.safety_check_in_notice().body.lower()
    assert "safe" in safety and "watching" in safety and "phone" in safety
    rights = n.rights_notice().body.lower()
    for word in ("choice", "skip", "share", "report"):
        assert word in rights
    assert {k.value for k in NoticeKind} == payload.NOTICE_KINDS


def test_notice_becomes_a_protocol_payload() -> None:
    notice = CannedNotices().transfer_notice()
    p = notice.to_payload(1_767_600_000_000)
    assert isinstance(p, payload.Notice)
    decoded = payload.decode_payload(payload.encode_payload(p))
    assert decoded == p
    assert decoded.kind == "transfer"


def test_program_edits_its_texts() -> None:
    n = CannedNotices().replace(
        closing="Take care. This window will now clear.",
        rights=RightsNotice(more_url="https://example.org/rights"),
    )
    assert n.closing_notice().body == "Take care. This window will now clear."
    assert "https://example.org/rights" in n.rights_notice().body
    stored = json.dumps(n.to_dict())
    again = CannedNotices.from_dict(json.loads(stored))
    assert again == n
    assert CannedNotices.from_dict({"transfer": "New person."}).transfer == "New person."


def test_rights_notice_is_the_profile_notice() -> None:
    rights = RightsNotice(more_url="https://example.org/r")
    signed_form = rights.to_identity()
    assert isinstance(signed_form, identity.Notice)
    assert rights.to_profile() == {  # the profile's notice keys (docs/protocol.md)
        "voluntary": rights.voluntary,
        "choices": rights.choices,
        "information": rights.information,
        "mandatory_reporting": rights.mandatory_reporting,
        "more_url": "https://example.org/r",
    }
    assert RightsNotice.from_identity(signed_form) == rights
    assert "more_url" not in RightsNotice().to_profile()


@pytest.mark.parametrize(
    "change",
    [
        {"closing": ""},
        {"closing": "   "},
        {"transfer": "x" * 5000},
        {"shift_change": "\ud800"},
    ],
)
def test_bad_texts_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(InvalidSetting):
        CannedNotices().replace(**change)


def test_bad_stored_notices_are_refused() -> None:
    bad: list[object] = [{"nonsense": "x"}, {"rights": "x"}, {"rights": {"bogus": "x"}}, []]
    for data in bad:
        with pytest.raises(InvalidSetting):
            CannedNotices.from_dict(data)  # type: ignore[arg-type]
    for url in ("http://insecure.example", "https://exa mple.org", "https://example.org/\u200b", 5):
        with pytest.raises(InvalidSetting):
            RightsNotice(more_url=url)  # type: ignore[arg-type]
    with pytest.raises(InvalidSetting):
        CannedNotices.from_dict({"rights": {"more_url": "https://example.org/\u202e"}})
    with pytest.raises(InvalidSetting):
        Notice(NoticeKind.CUSTOM, "")
    long_parts = RightsNotice(*(["x" * 4000] * 3 + ["x" * 1000]))
    with pytest.raises(InvalidSetting):  # refused when set, not when a conversation opens
        CannedNotices(rights=long_parts)
    with pytest.raises(ValueError):
        Notice("bogus", "text")  # type: ignore[arg-type]


def test_manual_clock() -> None:
    clock = ManualClock(T0)
    assert clock.now() == T0
    assert clock.advance(minutes=5) == T0 + timedelta(minutes=5)
    clock.advance(timedelta(seconds=1))
    assert clock.now() == T0 + timedelta(minutes=5, seconds=1)
    with pytest.raises(InvalidTime):
        clock.advance(seconds=-1)
    clock.set(datetime(2026, 1, 5, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    with pytest.raises(InvalidTime):
        ManualClock(datetime(2026, 1, 5))
    assert SystemClock().now().tzinfo is UTC
    with pytest.raises(InvalidTime):
        utc("2026-01-05")  # type: ignore[arg-type]


def test_shifts_merge_and_eligibility() -> None:
    member = StaffMember(
        "ana", "Ana",
        shifts=(Shift(T0 + timedelta(hours=4), T0 + timedelta(hours=8)),
                Shift(T0, T0 + timedelta(hours=4))),
    )  # fmt: skip
    buffer = timedelta(minutes=30)
    assert member.shift_end(T0 + timedelta(hours=3, minutes=45)) == T0 + timedelta(hours=8)
    assert member.eligible_for_new(T0 + timedelta(hours=3, minutes=45), buffer)
    assert member.eligible_for_new(T0 + timedelta(hours=7, minutes=29), buffer)
    assert not member.eligible_for_new(T0 + timedelta(hours=7, minutes=30), buffer)
    assert member.in_last_minutes(T0 + timedelta(hours=7, minutes=30), buffer)
    assert member.on_shift(T0 + timedelta(hours=7, minutes=59))
    assert not member.on_shift(T0 + timedelta(hours=8))
    assert not member.on_shift(T0 - timedelta(seconds=1))
    assert member.shift_end(T0 + timedelta(hours=9)) is None
    assert member.role is Role.STAFF and not member.is_supervisor
    later = member.with_shifts(Shift(T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)))
    assert later.on_shift(T0 + timedelta(days=1, minutes=1))


def test_bad_staff_and_shifts() -> None:
    with pytest.raises(InvalidSetting):
        Shift(T0, T0)
    with pytest.raises(InvalidTime):
        Shift(datetime(2026, 1, 5), datetime(2026, 1, 6))
    with pytest.raises(InvalidSetting):
        StaffMember("", "Nobody")
    with pytest.raises(ValueError):
        StaffMember("x", "X", role="boss")  # type: ignore[arg-type]
