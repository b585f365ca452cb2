"""Issue 16 item 2: while a support worker writes in the console, the participant's widget
says so ("Sam is writing..."), end to end encrypted, and stops saying it.

Everything real on 127.0.0.1 (tests/console/web_harness.py): a relay process, a
ConsoleNode with the console's web app, the real widget (``quietline widget serve``) as
the participant, both in Debian's Chromium. The console page's WebSocket frames are
read from Chromium (Playwright's ``framesent``/``framereceived``) to see what it asked
the node and what the node answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from loading import load
from playwright.sync_api import Page, WebSocket, expect

harness = load("quietline_console_web_harness", "console/web_harness.py")
widget = load("quietline_widget_harness", "widget/widget_harness.py")
shift = load("quietline_console_web_shift", "console/test_web_shift.py")
pytestmark = [pytest.mark.browser, pytest.mark.slow]

STAFF = [("Sam", "worker"), ("Kim", "supervisor")]  # Kim: the harness reads the queue as her
STATUS = "(document.querySelector('.quietline-chat-status')?.textContent ?? '')"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with harness.console_stack(tmp_path_factory.mktemp("console-typing"), STAFF) as s:
        yield s


class Frames:
    """The console page's typing requests (in order) and its socket, to wait on."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.ws: WebSocket | None = None
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        self.ws = ws
        ws.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("op") == "typing":
            self.sent.append(frame)

    def typing(self, active: bool) -> list[dict[str, Any]]:
        return [f for f in self.sent if f["active"] is active]

    def answer_to(self, active: bool, nth: int) -> Any:
        """Wait (on exit) for the node's answer to the ``nth`` typing request of ``active``."""

        def answers(payload: str | bytes) -> bool:
            frame = json.loads(payload)
            asked = self.typing(active)
            return (
                len(asked) > nth
                and frame.get("type") == "result"
                and frame.get("req") == asked[nth]["req"]
            )

        assert self.ws is not None
        return self.ws.expect_event("framereceived", predicate=answers, timeout=30_000)


def test_the_participant_sees_the_worker_writing(browser: Any, stack: Any, site: str) -> None:
    context, sam, errors = shift.open_context(browser)
    frames = Frames(sam)
    chat_context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        chat = chat_context.new_page()
        shift.sign_in(sam, stack, "Sam")
        shift.go_on_shift(sam)
        before = shift.waiting_ids(stack)
        shift.widget_open_chat(chat, site)
        label = shift.new_waiting(stack, before)["label"]
        sam.get_by_role("button", name=f"Take {label}").click()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label} · yours")
        chat.wait_for_function(
            "() => [...document.querySelectorAll('.quietline-log .quietline-text')]"
            ".some((n) => n.textContent === 'Sam has joined the chat.')",
            timeout=20_000,
        )
        reply = sam.get_by_label(f"Your reply to {label}")

        # Writing: one "writing" for a burst of keys (at most one every 3 s), and the
        # participant sees who is writing.
        with frames.answer_to(True, 0) as first:
            reply.press_sequentially("Take your", delay=20)
            chat.wait_for_function(f"() => {STATUS} === 'Sam is writing...'", timeout=20_000)
        assert json.loads(first.value)["ok"] is True
        assert len(frames.typing(True)) == 1
        shift.shot(sam, "conversation-typing")
        widget.assert_accessible(chat, "chat, the worker writing")

        # A pause: the console says "stopped" and the participant's line goes away.
        with frames.answer_to(False, 0) as stopped:
            pass
        answer = json.loads(stopped.value)
        assert answer["ok"] is True and answer["sent"] is True
        chat.wait_for_function(f"() => !{STATUS}.includes('writing')", timeout=20_000)
        assert reply.input_value() == "Take your"  # the draft stays in the console
        assert len(frames.typing(True)) == 1

        # Writing again, then sending: the message takes the line away, no "stopped".
        with frames.answer_to(True, 1):
            reply.press_sequentially(" time.", delay=20)
            chat.wait_for_function(f"() => {STATUS} === 'Sam is writing...'", timeout=20_000)
        reply.press("Enter")
        shift.widget_sees(chat, "Take your time.")
        assert "writing" not in chat.evaluate(f"() => {STATUS}")
        assert len(frames.typing(False)) == 1
        assert errors == []
    finally:
        chat_context.close()
        context.close()
