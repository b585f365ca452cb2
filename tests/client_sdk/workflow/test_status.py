"""Live status: state, alternatives, re-signing before expiry, "no new chats"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from client_sdk.workflow.errors import InvalidSetting
from client_sdk.workflow.hours import OpeningSpan, WeeklyHours
from client_sdk.workflow.status import (
    Alternative,
    StatusKeeper,
    StatusMessages,
    StatusPolicy,
    StatusState,
)
from e2ee import identity

HOURS = WeeklyHours("UTC", tuple(OpeningSpan.parse(d, "09:00", "17:00") for d in range(5)))
MONDAY_10 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
MONDAY_18 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
ALTS = (Alternative("Phone", "1-800-555-0100"), Alternative("Text", "555-0101"))


def keeper(**kw: object) -> StatusKeeper:
    return StatusKeeper(HOURS, alternatives=ALTS, **kw)  # type: ignore[arg-type]


def test_states_in_order_of_precedence() -> None:
    k = keeper()
    assert k.desired(MONDAY_10)[0] is StatusState.OPEN
    assert k.desired(MONDAY_10, at_capacity=True)[0] is StatusState.BUSY
    assert k.desired(MONDAY_18)[0] is StatusState.CLOSED
    assert k.desired(MONDAY_18, at_capacity=True)[0] is StatusState.CLOSED
    k.set_override(StatusState.BUSY)
    assert k.desired(MONDAY_10)[0] is StatusState.BUSY
    assert k.desired(MONDAY_18)[0] is StatusState.CLOSED
    k.set_override(StatusState.CLOSED)
    assert k.desired(MONDAY_10)[0] is StatusState.CLOSED
    k.set_override(StatusState.OUTAGE, "Our chat is down after a storm.")
    state, message = k.desired(MONDAY_18)
    assert state is StatusState.OUTAGE
    assert message.startswith("Our chat is down after a storm.")
    k.set_override(None)
    assert k.override is None
    assert k.desired(MONDAY_10)[0] is StatusState.OPEN
    assert StatusKeeper().desired(MONDAY_18)[0] is StatusState.OPEN  # no hours posted


def test_alternatives_shown_unless_open() -> None:
    k = keeper()
    assert "1-800-555-0100" not in k.desired(MONDAY_10)[1]
    for state in (StatusState.BUSY, StatusState.CLOSED, StatusState.OUTAGE):
        k.set_override(state)
        message = k.desired(MONDAY_10)[1]
        assert "Phone: 1-800-555-0100" in message and "Text: 555-0101" in message


def test_alternatives_left_out_when_too_long_for_the_protocol() -> None:
    many = tuple(Alternative(f"Line {i}", "x" * 400) for i in range(5))
    k = StatusKeeper(HOURS, alternatives=many)
    state, message = k.desired(MONDAY_18)
    assert state is StatusState.CLOSED
    assert message == StatusMessages().closed
    assert len(message) <= identity.MAX_STATUS_MESSAGE_LENGTH


def test_no_new_chats_when_closed_outage_or_busy() -> None:
    k = keeper()
    assert k.accepting_new(MONDAY_10)
    assert not k.accepting_new(MONDAY_10, at_capacity=True)
    assert not k.refuses_new(MONDAY_10)
    assert not k.accepting_new(MONDAY_18)
    assert k.refuses_new(MONDAY_18)
    k.set_override(StatusState.OUTAGE)
    assert k.refuses_new(MONDAY_10)
    k.set_override(StatusState.BUSY)
    assert not k.accepting_new(MONDAY_10) and not k.refuses_new(MONDAY_10)


def test_resigned_before_expiry_and_on_change() -> None:
    policy = StatusPolicy(lifetime=timedelta(minutes=15), resign_before=timedelta(minutes=5))
    k = keeper(policy=policy)
    first = k.due(MONDAY_10)
    assert first is not None
    assert first.state is StatusState.OPEN
    assert first.expires_at - first.issued_at == 15 * 60
    assert first.issued_at == int(MONDAY_10.timestamp())
    k.published(first)
    assert k.current == first
    assert k.due(MONDAY_10 + timedelta(minutes=9, seconds=59)) is None
    second = k.due(MONDAY_10 + timedelta(minutes=10))
    assert second is not None and second.state is StatusState.OPEN
    k.published(second)
    assert k.due(MONDAY_10 + timedelta(minutes=11)) is None
    busy = k.due(MONDAY_10 + timedelta(minutes=11), at_capacity=True)
    assert busy is not None and busy.state is StatusState.BUSY
    k.published(busy)
    # hours end at 17:00: the next check after that re-signs as closed
    assert k.due(datetime(2026, 1, 5, 16, 59, tzinfo=UTC), at_capacity=True) is not None
    closing = k.due(datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    assert closing is not None and closing.state is StatusState.CLOSED


def test_body_is_the_signed_protocol_status() -> None:
    k = keeper()
    k.set_override(StatusState.OUTAGE, "Down — désolé — معطل")
    body = k.due(MONDAY_10)
    assert body is not None
    status = body.to_status()
    protocol_form = {
        "v": 1,
        "state": "outage",
        "message": body.message,
        "issued_at": int(MONDAY_10.timestamp()),
        "expires_at": int(MONDAY_10.timestamp()) + 15 * 60,
    }
    assert body.to_dict() == protocol_form
    canonical = json.dumps(protocol_form, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert body.to_json_bytes() == canonical.encode("utf-8")
    ident = identity.IdentityKeyPair.from_seed(bytes(range(32)))
    signed = identity.sign_status(ident, status)
    assert identity.parse_status(signed.body) == status
    assert b"\\u" not in body.to_json_bytes()  # ensure_ascii=False, as the protocol says
    assert body.expires == datetime.fromtimestamp(body.expires_at, UTC)


def test_states_are_the_protocols() -> None:
    assert [s.value for s in StatusState] == list(identity.STATUS_STATES)


def test_bad_settings() -> None:
    with pytest.raises(InvalidSetting):
        StatusPolicy(lifetime=timedelta(seconds=30))
    with pytest.raises(InvalidSetting):
        StatusPolicy(lifetime=timedelta(minutes=10), resign_before=timedelta(minutes=10))
    for forced in (StatusState.OPEN, "open", "bogus"):
        with pytest.raises(InvalidSetting):
            keeper().set_override(forced)  # type: ignore[arg-type]
    with pytest.raises(InvalidSetting):
        keeper().set_override(StatusState.OUTAGE, "x" * 1001)
    with pytest.raises(InvalidSetting):
        StatusMessages(busy="")


@pytest.mark.parametrize("text", ["", "x" * 1001, "down \ud800"])
def test_a_message_the_protocol_would_refuse_is_refused_when_set(text: str) -> None:
    k = keeper()
    with pytest.raises(InvalidSetting):
        k.set_override(StatusState.OUTAGE, text)
    assert k.override is None
    with pytest.raises(InvalidSetting):
        StatusMessages(outage=text)
    assert k.due(MONDAY_10) is not None
