"""Issue 16 item 1, survive drops: the REAL relay process is taken down (stopped by PID)
for 5 s, 60 s and 3 minutes, then started again on the same port and database.

The same live pieces as ``test_widget_chat.py`` (its module-scoped ``live`` fixture, so
this module has its own relay process, program node and Chromium). Both the widget and
the program node lose the relay. Each time: the widget shows "Reconnecting...", keeps
the draft, sends what was written meanwhile once the relay is back, in order, each
once; the node queued what the support worker wrote meanwhile and keeps the
conversation. After 3 minutes (past the default two-minute window) a page with the
default snippet offers "Try again", while a page whose snippet says
``--reconnect-seconds 240`` is still reconnecting and comes back by itself.

Waiting for the outage's length is the one timed wait here: the outage is the thing
under test. Everything else waits on events with timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from loading import load
from playwright.sync_api import Browser, Page, ViewportSize

harness = load("quietline_widget_harness", "widget/widget_harness.py")
chat = load("quietline_widget_chat_module", "widget/test_widget_chat.py")
from client_sdk import events as ev  # noqa: E402

live = chat.live  # module-scoped: this module's own relay process and program node

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = ViewportSize(width=1280, height=800)
PATIENT_SECONDS = 240  # the second snippet's reconnect window, longer than the outage

WAITING = (
    "(n) => [...document.querySelectorAll('.quietline-from-me')]"
    ".filter((m) => m.dataset.state === 'waiting').length === n"
)
ALL_SENT = (
    "() => [...document.querySelectorAll('.quietline-from-me')]"
    ".every((m) => m.dataset.state === 'sent')"
)


@pytest.fixture(scope="module")
def patient_site(live: Any) -> Iterator[str]:
    """The sample page again, its snippet keeping on reconnecting for 4 minutes."""
    port = chat.live_mod.free_port()
    site = f"http://127.0.0.1:{port}"
    live.program.call(live.program.client.set_origins, [live.site, live.hostile_site, site])
    ident = (live.program.enrolled.program_id, live.program.enrolled.identity_key)
    extra = ["--port", str(port), "--reconnect-seconds", str(PATIENT_SECONDS)]
    with harness.widget_serve(live.relay.url, ident, extra) as base:
        assert base == site
        yield site


@pytest.fixture
def desktop_tab(browser: Browser, live: Any) -> Iterator[Page]:
    with chat._open_tab(browser, live, DESKTOP) as page:
        yield page


def _open(page: Page, live: Any, site: str) -> str:
    """Start -> notice -> skip the questions -> chat; the conversation id."""
    page.goto(site + "/")
    harness.screen(page, "start")
    page.click("text=Start a chat")
    harness.screen(page, "notice")
    page.click("text=I have read this, continue")
    harness.screen(page, "questions")
    page.click("text=Skip all questions and start the chat")
    harness.screen(page, "chat")
    return str(live.program.wait(lambda e: isinstance(e, ev.NewConversation)).conversation_id)


def _write_while_down(page: Page, written: list[str], draft: str) -> None:
    page.wait_for_selector("[data-connection=reconnecting]", timeout=15_000)
    assert "Reconnecting" in page.inner_text("[data-screen=chat]")
    for text in written:
        page.fill("textarea", text)
        page.click("button:has-text('Send')")
    page.wait_for_function(WAITING, arg=len(written), timeout=15_000)
    assert "Waiting to send" in page.inner_text(".quietline-log")
    page.fill("textarea", draft)


def _received(live: Any, expected: dict[str, list[str]], timeout: float = 90) -> None:
    """The node receives exactly ``expected`` (per conversation, in order, each once)."""
    got: dict[str, list[str]] = {cid: [] for cid in expected}

    def record(event: Any) -> bool:
        if isinstance(event, ev.Message) and event.conversation_id in got:
            got[event.conversation_id].append(event.text)
        return all(len(got[cid]) >= len(texts) for cid, texts in expected.items())

    live.program.wait(record, timeout=timeout)
    assert got == expected


def _back_and_whole(page: Page, live: Any, cid: str, draft: str) -> None:
    """After the relay is back: the worker's queued message arrived, every message of the
    participant is sent, the draft is still there, the chat goes on both ways."""
    chat.wait_log_text(page, "are you still there?")
    page.wait_for_function(ALL_SENT, timeout=15_000)
    log = page.inner_text(".quietline-log")
    assert "before the outage" in log
    assert page.input_value("textarea") == draft
    assert not page.is_visible("text=Reconnecting")
    assert cid in live.program.client.conversations  # the node kept the conversation
    chat.send_from_widget(page, "back again")
    _received(live, {cid: ["back again"]})
    harness.end_chat(page)
    harness.screen(page, "ended")
    live.program.wait(lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid)


def _stop_relay(live: Any) -> float:
    """Stop the relay process by its PID (SIGTERM); the moment it is gone."""
    live.relay.stop()
    assert live.relay.process.poll() is not None
    return time.monotonic()


def _wait_out(down_at: float, seconds: float) -> None:
    """The outage itself: the relay stays down until ``seconds`` after ``down_at``."""
    remaining = down_at + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


@pytest.mark.parametrize("seconds", [5, 60])
def test_relay_down_for_a_while(desktop_tab: Page, live: Any, seconds: int) -> None:
    page = desktop_tab
    cid = _open(page, live, live.site)
    live.program.call(live.program.client.send, cid, "before the outage")
    chat.wait_log_text(page, "before the outage")
    written = [f"written during the outage {i}" for i in range(3)]
    draft = "a draft not sent yet"
    try:
        down_at = _stop_relay(live)
        _write_while_down(page, written, draft)
        # The support worker writes meanwhile: the node queues it, sealed, for later.
        assert live.program.call(live.program.client.send, cid, "are you still there?") == (
            "queued"
        )
        _wait_out(down_at, seconds)
        assert page.get_attribute("[data-connection]", "data-connection") == "reconnecting"
    finally:
        live.relay.restart()
    page.wait_for_selector("[data-connection=online]", timeout=30_000, state="attached")
    _received(live, {cid: written})
    _back_and_whole(page, live, cid, draft)


@pytest.mark.timeout(480)
def test_relay_down_for_three_minutes(
    browser: Browser, desktop_tab: Page, live: Any, patient_site: str
) -> None:
    """Past the default two-minute window the default page offers Try again (and keeps
    everything); the page whose snippet allows 4 minutes is still reconnecting."""
    short = desktop_tab
    with chat._open_tab(browser, live, DESKTOP) as patient:
        cids = {
            "short": _open(short, live, live.site),
            "patient": _open(patient, live, patient_site),
        }
        pages = {"short": short, "patient": patient}
        for name, page in pages.items():
            live.program.call(live.program.client.send, cids[name], "before the outage")
            chat.wait_log_text(page, "before the outage")
        written = {
            name: [f"{name}: written during the outage {i}" for i in range(2)] for name in pages
        }
        draft = "a draft not sent yet"
        try:
            down_at = _stop_relay(live)
            for name, page in pages.items():
                _write_while_down(page, written[name], draft)
                queued = live.program.call(
                    live.program.client.send, cids[name], "are you still there?"
                )
                assert queued == "queued"
            # The default window (two minutes) runs out: Try again, nothing dropped.
            short.wait_for_selector(
                "[data-connection=lost]", timeout=(down_at + 150 - time.monotonic()) * 1000
            )
            assert time.monotonic() - down_at >= 120
            assert short.is_visible("button:has-text('Try again')")
            assert "Not sent yet" in short.inner_text(".quietline-log")
            assert short.input_value("textarea") == draft
            harness.assert_accessible(short, "connection lost")
            # The snippet's setting decides: the patient page is still reconnecting.
            assert patient.get_attribute("[data-connection]", "data-connection") == ("reconnecting")
            assert not patient.is_visible("button:has-text('Try again')")
            _wait_out(down_at, 180)
            assert patient.get_attribute("[data-connection]", "data-connection") == ("reconnecting")
        finally:
            live.relay.restart()
        # The patient page comes back by itself; the default one waits for Try again.
        patient.wait_for_selector("[data-connection=online]", timeout=30_000, state="attached")
        assert short.get_attribute("[data-connection]", "data-connection") == "lost"
        short.click("button:has-text('Try again')")
        short.wait_for_selector("[data-connection=online]", timeout=30_000, state="attached")
        _received(live, {cids[name]: written[name] for name in pages})
        for name, page in pages.items():
            _back_and_whole(page, live, cids[name], draft)
