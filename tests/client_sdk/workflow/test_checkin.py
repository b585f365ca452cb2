"""One safety check-in: the node sends the profile's text (issue 16 item 5)."""

from __future__ import annotations

from client_sdk import publishing
from client_sdk.workflow import CannedNotices, ManualClock, SendNotice, Workflow
from client_sdk.workflow.checkin import use_profile_check_in, with_profile_check_in
from client_sdk.workflow.notices import NoticeKind


def test_the_profile_text_replaces_the_default() -> None:
    notices = CannedNotices()
    ours = "Is it safe to talk? Use Quick exit to leave at once."
    assert with_profile_check_in(notices, {"safety_check_in": ours}).safety_check_in == ours
    # No text, an empty one or no profile at all: the default stays.
    for content in ({}, {"safety_check_in": "  "}, None, {"safety_check_in": 3}):
        assert with_profile_check_in(notices, content) is notices


def test_the_workflow_sends_the_profile_check_in_once() -> None:
    from datetime import UTC, datetime

    workflow = Workflow(clock=ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)))
    ours = "Is it safe to talk right now?"
    use_profile_check_in(workflow, {"safety_check_in": ours})
    actions = workflow.conversation_opened("c1")
    check_ins = [
        a for a in actions
        if isinstance(a, SendNotice) and a.notice.kind is NoticeKind.SAFETY_CHECK_IN
    ]  # fmt: skip
    assert [a.notice.body for a in check_ins] == [ours]


def test_default_wording_names_the_widget_controls() -> None:
    text = CannedNotices().safety_check_in
    assert "Quick exit" in text and "Someone is here" in text
    assert "Exit button" not in text and "exit button" not in text
    # A new profile starts from the same text the node would send.
    assert publishing.DEFAULT_PROFILE["safety_check_in"] == text
