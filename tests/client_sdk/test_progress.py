"""What the node tells a participant while waiting (issue 16 item 2): the bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from client_sdk import events as ev
from client_sdk import workflow as wf
from client_sdk.progress import TYPING_MIN_INTERVAL_MS, ParticipantProgress
from e2ee import payload as pl

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _workflow() -> wf.Workflow:
    flow = wf.Workflow(clock=wf.ManualClock(T0))
    shift = wf.Shift(T0 - timedelta(hours=1), T0 + timedelta(hours=8))
    flow.set_staff(wf.StaffMember("s1", "Sam", shifts=(shift,)))
    return flow


def test_queue_places_then_joined_when_claimed() -> None:
    flow, progress = _workflow(), ParticipantProgress()
    out = progress.updates_after(flow, flow.conversation_opened("a"), 1)
    out += progress.updates_after(flow, flow.conversation_opened("b"), 2)
    assert out == [("a", pl.Queue(1, 1)), ("b", pl.Queue(2, 2))]
    # Nothing changed: nothing is sent again.
    assert progress.updates_after(flow, flow.tick(), 3) == []
    claimed = flow.claim("a", "s1")
    assert progress.updates_after(flow, claimed, 4) == [
        ("a", pl.Joined("Sam", 4)),
        ("b", pl.Queue(1, 4)),  # moved up
    ]
    flow.participant_left("b")
    assert progress.updates_after(flow, [], 5) == []
    assert progress.positions == {}


def test_delivered_counts_text_messages_per_conversation() -> None:
    progress = ParticipantProgress()
    events = [ev.Message("a", "hi", 1, False), ev.Message("a", "there", 2, False),
              ev.Message("b", "hello", 3, False), ev.Answers("a", {})]  # fmt: skip
    assert progress.delivered_after(events, 9) == [
        ("a", pl.Delivered(2, 9)),
        ("b", pl.Delivered(1, 9)),
    ]
    assert progress.delivered_after([ev.Message("a", "again", 4, False)], 10) == [
        ("a", pl.Delivered(3, 10))
    ]
    progress.delivered_after([ev.ConversationClosedEvent("a", "self", "done")], 11)
    assert "a" not in progress.received


def test_typing_is_rate_limited() -> None:
    progress = ParticipantProgress()
    assert progress.typing_allowed("a", True, 1000)
    assert not progress.typing_allowed("a", True, 1000 + TYPING_MIN_INTERVAL_MS - 1)
    assert progress.typing_allowed("a", True, 1000 + TYPING_MIN_INTERVAL_MS)
    assert progress.typing_allowed("a", False, 1000 + TYPING_MIN_INTERVAL_MS + 1)
    assert progress.typing_allowed("a", True, 1000 + TYPING_MIN_INTERVAL_MS + 2)
