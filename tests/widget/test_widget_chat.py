"""The participant widget against a real relay process and a real ProgramClient.

Everything runs on 127.0.0.1: ``quietline relay serve`` (its own process), a program
enrolled with ``quietline program init`` and connected as ``ProgramClient`` (in a loop
thread), the sample page from ``quietline widget serve`` (its own process), Debian's
Chromium through Playwright. A hostile relay (tests/widget/widget_live.py) stands in
front of the real one for the verification-failure tests.

Issue 5 items covered here: 1 (name, hours, live status verified; closed, busy, outage,
outside hours -> alternatives), 2 (rights notice before the message box), 3 (optional
questions, skip one, skip all in one click, answers end-to-end), 4 (check-in first, every
script, notices as notices, possibly-missing flag), 5 (ending from either side), 6 and 7
(quick exit and duress during a chat), 8 (nothing stored, requests only to the relay and
the page's origin), 9 (swapped identity key, bad signature, edited profile, tampered
message), 10 (keyboard only, live region, axe on every screen), 11 (phone and desktop).
"""

from __future__ import annotations

import contextlib
import datetime
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chromium import page_errors
from loading import load
from playwright.sync_api import Browser, Page, ViewportSize

harness = load("quietline_widget_harness", "widget/widget_harness.py")
live_mod = load("quietline_widget_live", "widget/widget_live.py")
from client_sdk import events as ev  # noqa: E402
from client_sdk import workflow as wf  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
ALWAYS_OPEN = {
    "timezone": "UTC",
    "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
}
SCRIPTS = [
    "مرحبا، هل يمكنني التحدث مع أحد؟",  # Arabic
    "你好，我需要帮助。",  # Chinese
    "नमस्ते, क्या आप मेरी मदद कर सकते हैं?",  # Hindi
    "Thank you 🙏🏽 💜",  # emoji
]


def profile_content(site: str) -> dict[str, Any]:
    return {
        "name": "Harbour Support Line",
        "notice": {
            "voluntary": "Talking with us is your choice. You can stop at any time.",
            "choices": "You decide what to tell us. You can skip any question.",
            "information": "Your messages are encrypted. We keep nothing after the chat.",
            "mandatory_reporting": "If a child is in danger, the law may require us to "
            "report it. We will tell you first.",
        },
        "safety_check_in": "Is it safe for you to chat right now? Could someone see this device?",
        "questions": [
            {
                "id": "age_range",
                "text": "What is your age range?",
                "why": "It helps us know which services to suggest.",
            },
            {
                "id": "region",
                "text": "Which region are you in?",
                "why": "So we can mention services near you.",
            },
        ],
        "hours": ALWAYS_OPEN,
        "alternatives": [{"label": "Phone, 24 hours", "value": "1-800-555-0199"}],
        "quick_exit_url": site + "/neutral.html",
    }


@dataclass
class Live:
    relay: Any
    program: Any
    hostile: Any
    site: str  # the sample page talking to the real relay
    hostile_site: str  # the same page talking to the hostile relay
    profile: dict[str, Any]
    loop: Any


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("widget-live")
    relay = live_mod.start_relay(tmp, **live_mod.FUNCTIONAL_LIMITS)
    loop = live_mod.LoopThread()
    program = None
    hostile = None
    try:
        site_port, hostile_port = live_mod.free_port(), live_mod.free_port()
        site = f"http://127.0.0.1:{site_port}"
        hostile_site = f"http://127.0.0.1:{hostile_port}"
        profile = profile_content(site)
        enrolled = live_mod.enroll_program(relay, tmp, profile)
        program = live_mod.LiveProgram(loop, relay.url, enrolled)
        loop.run(_put_origins(program, [site, hostile_site]))
        loop.run(_staff_on_shift(program))
        hostile = live_mod.HostileRelay(relay.url)
        loop.run(hostile.start())
        ident = (enrolled.program_id, enrolled.identity_key)
        with (
            harness.widget_serve(relay.url, ident, ["--port", str(site_port)]),
            harness.widget_serve(hostile.url, ident, ["--port", str(hostile_port)]),
        ):
            yield Live(relay, program, hostile, site, hostile_site, profile, loop)
    finally:
        if hostile is not None:
            loop.run(hostile.stop())
        if program is not None:
            program.close()
        loop.close()
        relay.stop()


async def _staff_on_shift(program: Any) -> None:
    """One support worker on shift around now, so the program's status is open."""
    now = datetime.datetime.now(datetime.UTC)
    program.client.set_staff(
        wf.StaffMember(
            "sam",
            "Sam",
            shifts=(
                wf.Shift(now - datetime.timedelta(hours=12), now + datetime.timedelta(hours=12)),
            ),
        )
    )
    await program.client.tick()


async def _put_origins(program: Any, origins: list[str]) -> None:
    await program.client.set_origins(origins)


@contextlib.contextmanager
def _open_tab(browser: Browser, live: Live, viewport: ViewportSize) -> Iterator[Page]:
    """A fresh browser context at ``viewport``; after the test, the program closes what
    the test left open, and the page must not have thrown."""
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        errors = page_errors(page)
        page.urls = harness.record_requests(page)  # type: ignore[attr-defined]
        live.program.drain()
        live.hostile.arm(None)
        yield page
        # Conversations left open (quick exit, duress) would fill the staff's capacity
        # and turn the status to busy for the next test.
        for cid in live.program.client.conversations:
            with contextlib.suppress(Exception):
                live.program.call(live.program.client.close, cid, "test over")
        assert errors == [], errors
    finally:
        context.close()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def tab(browser: Browser, live: Live, request: pytest.FixtureRequest) -> Iterator[Page]:
    """Runs the test at desktop and at phone size."""
    size = request.param
    with _open_tab(browser, live, ViewportSize(width=size["width"], height=size["height"])) as page:
        yield page


@pytest.fixture
def desktop_tab(browser: Browser, live: Live) -> Iterator[Page]:
    """Runs the test once, at desktop size."""
    with _open_tab(
        browser, live, ViewportSize(width=DESKTOP["width"], height=DESKTOP["height"])
    ) as page:
        yield page


# -- helpers --------------------------------------------------------------------------


def open_chat(page: Page, live: Live, answers: dict[str, str] | None = None) -> str:
    """Start screen -> notice -> questions (skip all unless answers) -> chat; returns cid."""
    page.goto(live.site + "/")
    harness.screen(page, "start")
    page.click("text=Start a chat")
    harness.screen(page, "notice")
    page.click("text=I have read this, continue")
    harness.screen(page, "questions")
    if answers is None:
        page.click("text=Skip all questions and start the chat")
    else:
        for qid, value in answers.items():
            page.fill(f"[data-question={qid}] input", value)
        page.click("button:has-text('Start the chat') >> nth=-1")
    harness.screen(page, "chat")
    event = live.program.wait(lambda e: isinstance(e, ev.NewConversation))
    return str(event.conversation_id)


def log_items(page: Page) -> list[dict[str, str]]:
    return list(
        page.eval_on_selector_all(
            ".quietline-log > div",
            "items => items.map(li => ({kind: li.dataset.kind, notice: li.dataset.notice || '',"
            " text: li.querySelector('.quietline-text')?.textContent ?? ''}))",
        )
    )


def wait_log_text(page: Page, text: str) -> None:
    page.wait_for_function(
        "t => [...document.querySelectorAll('.quietline-log .quietline-text')]"
        ".some(n => n.textContent === t)",
        arg=text,
        timeout=15_000,
    )


def send_from_widget(page: Page, text: str) -> None:
    page.fill("textarea", text)
    page.click("button:has-text('Send')")
    wait_log_text(page, text)


def assert_only_site_and_relay(page: Page, live: Live) -> None:
    """Every request the page made went to the program's site or to the relay."""
    relay_ws = live.relay.url.replace("http://", "ws://")
    urls = page.urls  # type: ignore[attr-defined]
    harness.assert_only_origins(urls, {live.site, live.relay.url, relay_ws})


def assert_left_without_a_trace(tab: Page, live: Live) -> None:
    """Back returns to the page before the chat (location.replace), nothing was stored,
    and nothing was contacted but the site and the relay."""
    tab.go_back()
    assert tab.url == live.site + "/neutral.html?before-chat"
    harness.assert_nothing_stored(tab)
    assert_only_site_and_relay(tab, live)


# -- 1, 2, 3, 4, 5, 8, 10, 11: a whole conversation ---------------------------------------


def test_complete_conversation_both_ways(tab: Page, live: Live) -> None:
    page, program = tab, live.program
    page.goto(live.site + "/")
    harness.screen(page, "start")
    start = page.inner_text("[data-screen=start]")
    assert "Harbour Support Line" in start
    assert "The chat is open now." in start
    assert "Open 24 hours, every day" in start and "Coordinated Universal Time" in start
    harness.assert_accessible(page, "start")
    harness.assert_exit_visible(page)
    assert page.query_selector("textarea") is None

    page.click("text=Start a chat")
    harness.screen(page, "notice")
    notice = page.inner_text("[data-screen=notice]")
    for part in live.profile["notice"].values():
        assert part in notice
    assert page.query_selector("textarea") is None  # locked until acknowledged
    harness.assert_accessible(page, "notice")
    harness.assert_exit_visible(page)
    page.click("text=I have read this, continue")

    harness.screen(page, "questions")
    for q in live.profile["questions"]:
        assert page.is_visible(f"text={q['text']}")
        assert page.is_visible(f"text={q['why']}")
    assert page.query_selector_all("text=Skip this question") != []
    harness.assert_accessible(page, "questions")
    harness.assert_exit_visible(page)
    held: list[Any] = []
    page.route("**/v1/programs/*/bundle", lambda route: held.append(route))
    page.fill("[data-question=age_range] input", "25 to 34")
    page.fill("[data-question=region] input", "North")
    page.click("[data-question=region] >> text=Skip this question")
    assert page.is_disabled("[data-question=region] input")
    page.click("button:has-text('Start the chat') >> nth=-1")
    harness.screen(page, "connecting")  # held until the bundle request is released
    harness.assert_accessible(page, "connecting")
    assert len(held) == 1
    held[0].continue_()

    harness.screen(page, "chat")
    page.unroute("**/v1/programs/*/bundle")
    cid = program.wait(lambda e: isinstance(e, ev.NewConversation)).conversation_id
    answers = program.wait(lambda e: isinstance(e, ev.Answers) and e.conversation_id == cid)
    assert answers.answers == {"age_range": "25 to 34"}  # the skipped one is not sent

    first = log_items(page)[0]
    assert first["notice"] == "safety_check_in"
    assert first["text"] == live.profile["safety_check_in"]
    assert page.get_attribute(".quietline-log", "aria-live") == "polite"
    assert page.get_attribute(".quietline-log", "role") == "log"
    harness.assert_accessible(page, "chat")
    harness.assert_exit_visible(page)

    for text in SCRIPTS:
        send_from_widget(page, text)
        got = program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
        assert got.text == text
    for text in SCRIPTS:
        program.call(program.client.send, cid, text)
        page.wait_for_function(
            "t => [...document.querySelectorAll('.quietline-from-program .quietline-text')]"
            ".some(n => n.textContent === t)",
            arg=text,
            timeout=15_000,
        )
    direction = page.evaluate(
        "t => { const n = [...document.querySelectorAll('.quietline-from-program .quietline-text')]"
        ".find(n => n.textContent === t); return [n.dir, getComputedStyle(n).direction]; }",
        SCRIPTS[0],
    )
    assert direction == ["auto", "rtl"]

    for kind, body in [
        ("shift_change", "You are now talking with Sam, a new support worker."),
        ("inactivity", "We have not heard from you for a while."),
        ("closing", "We will close this chat in 5 minutes."),
    ]:
        program.call(program.client.send_notice, cid, kind, body)
        page.wait_for_selector(f"[data-notice={kind}]", timeout=15_000)
        assert body in page.inner_text(f"[data-notice={kind}]")
    labels = page.inner_text(".quietline-log")
    assert "Notice (" not in labels and "shift_change" not in labels  # no internal labels
    senders = page.eval_on_selector_all(
        ".quietline-notice .quietline-sender", "nodes => nodes.map((n) => n.textContent)"
    )
    assert set(senders) == {"Harbour Support Line"}
    harness.assert_accessible(page, "chat with messages")

    program.call(program.client.close, cid, "done")
    harness.screen(page, "ended")
    body = page.inner_text("body")
    for text in SCRIPTS:
        assert text not in body
    assert page.query_selector(".quietline-log") is None
    assert page.query_selector("textarea") is None
    harness.assert_accessible(page, "ended")
    harness.assert_exit_visible(page)
    harness.assert_nothing_stored(page)
    assert_only_site_and_relay(page, live)


def test_participant_ends_the_chat(desktop_tab: Page, live: Live) -> None:
    tab = desktop_tab
    cid = open_chat(tab, live)
    send_from_widget(tab, "I have to go now")
    harness.end_chat(tab)
    harness.screen(tab, "ended")
    left = live.program.wait(
        lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid
    )
    assert left.reason == "participant"
    assert "I have to go now" not in tab.inner_text("body")
    harness.assert_nothing_stored(tab)


def _heap_strings_contain(page: Page, needles: list[str]) -> dict[str, bool]:
    """Collect garbage, take a V8 heap snapshot of the page, look for each string."""
    cdp = page.context.new_cdp_session(page)
    chunks: list[str] = []
    cdp.on("HeapProfiler.addHeapSnapshotChunk", lambda p: chunks.append(p["chunk"]))
    try:
        cdp.send("HeapProfiler.enable")
        for _ in range(3):
            cdp.send("HeapProfiler.collectGarbage")
        cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    finally:
        cdp.detach()
    snapshot = "".join(chunks)
    assert len(snapshot) > 100_000  # a real snapshot came back
    return {n: n in snapshot for n in needles}


@pytest.mark.parametrize("who_ends", ["participant", "program"])
def test_ending_drops_messages_from_memory(desktop_tab: Page, live: Live, who_ends: str) -> None:
    """After the end, no message text is left anywhere in the page's JavaScript heap.

    The test itself holds no handle to a chat element (Playwright would keep it, and
    the detached chat with it, alive): it waits and clicks through page functions that
    return plain booleans.
    """
    tab = desktop_tab
    marker_in = "inbound-" + secrets.token_hex(12)
    marker_out = "outbound-" + secrets.token_hex(12)
    cid = open_chat(tab, live)
    live.program.call(live.program.client.send, cid, marker_in)
    tab.wait_for_function(
        "() => document.querySelectorAll('.quietline-from-program').length === 1", timeout=15_000
    )
    # Control: the snapshot does find a string the page holds. (Whether the decrypted
    # text itself is still referenced from the heap at this moment is incidental: the
    # node now also sends "queue" and "delivered" messages, which replace the engine's
    # last-match subject at times the test does not control.)
    control = "control-" + secrets.token_hex(12)
    tab.evaluate("(c) => { window.__quietlineControl = [c].join(''); }", control)
    assert _heap_strings_contain(tab, [control])[control] is True
    tab.evaluate("() => { delete window.__quietlineControl; }")
    tab.evaluate("() => { document.querySelector('textarea').focus(); }")
    tab.keyboard.type(marker_out)
    tab.keyboard.press("Enter")
    tab.wait_for_function(
        "() => document.querySelectorAll('.quietline-from-me').length === 1", timeout=15_000
    )
    live.program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
    if who_ends == "participant":
        tab.evaluate(
            "() => { const b = [...document.querySelectorAll('button')];"
            " b.find((x) => x.textContent === 'End chat').click();"
            " b.find((x) => x.textContent === 'Yes, end the chat').click(); }"
        )
        live.program.wait(lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid)
    else:
        live.program.call(live.program.client.close, cid, "done")
    tab.wait_for_function("() => Boolean(document.querySelector('[data-screen=ended]'))")
    assert _heap_strings_contain(tab, [marker_in, marker_out]) == {
        marker_in: False,
        marker_out: False,
    }


def test_skip_all_questions_sends_no_answers(desktop_tab: Page, live: Live) -> None:
    tab = desktop_tab
    cid = open_chat(tab, live)
    send_from_widget(tab, "hello")
    seen: list[Any] = []

    def note(event: Any) -> bool:
        seen.append(event)
        return isinstance(event, ev.Message) and event.conversation_id == cid

    live.program.wait(note)
    assert not any(isinstance(e, ev.Answers) for e in seen)
    harness.end_chat(tab)
    harness.screen(tab, "ended")


def test_code_word_is_asked_and_checked(desktop_tab: Page, live: Live) -> None:
    tab = desktop_tab
    program = live.program
    program.call(program.client.set_code_word, "returning", "blue heron")
    cid = open_chat(tab, live)
    program.call(program.client.request_code_word, cid, "returning")
    tab.wait_for_selector("[data-kind=codeword] input[type=password]", timeout=15_000)
    harness.assert_accessible(tab, "code word")
    tab.fill("[data-kind=codeword] input", "blue heron")
    tab.click("text=Send code word")
    result = program.wait(lambda e: isinstance(e, ev.CodeWordResult) and e.conversation_id == cid)
    assert result.verified is True
    tab.wait_for_selector("[data-flag=codeword-sent]")
    assert tab.query_selector("[data-kind=codeword]") is None
    harness.end_chat(tab)
    harness.screen(tab, "ended")


# -- 6, 7, 8: leaving in a hurry during a chat -------------------------------------------


def test_duress_tells_the_program_and_leaves(tab: Page, live: Live) -> None:
    tab.goto(live.site + "/neutral.html?before-chat")
    cid = open_chat(tab, live)
    tab.click("text=Someone is here")
    tab.wait_for_url(live.site + "/neutral.html")
    live.program.wait(lambda e: isinstance(e, ev.Duress) and e.conversation_id == cid)
    assert_left_without_a_trace(tab, live)


def test_triple_shift_in_the_message_box_leaves(tab: Page, live: Live) -> None:
    tab.goto(live.site + "/neutral.html?before-chat")
    cid = open_chat(tab, live)
    tab.fill("textarea", "typing something")
    tab.focus("textarea")
    for _ in range(3):
        tab.keyboard.press("Shift")
    tab.wait_for_url(live.site + "/neutral.html")
    # The relay was asked to delete the conversation on the way out; the program hears.
    live.program.wait(lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid)
    assert_left_without_a_trace(tab, live)


# -- 10: keyboard only ------------------------------------------------------------------


def test_whole_flow_by_keyboard(tab: Page, live: Live) -> None:
    tab.goto(live.site + "/")
    harness.screen(tab, "start")
    harness.tab_to(tab, "Start a chat")
    tab.keyboard.press("Enter")
    harness.screen(tab, "notice")
    harness.tab_to(tab, "I have read this")
    tab.keyboard.press("Enter")
    harness.screen(tab, "questions")
    harness.tab_to(tab, "Skip this question")
    tab.keyboard.press("Enter")
    assert tab.is_disabled("[data-question=age_range] input")
    harness.tab_to(tab, "Start the chat")
    tab.keyboard.press("Enter")
    harness.screen(tab, "chat")
    cid = live.program.wait(lambda e: isinstance(e, ev.NewConversation)).conversation_id
    harness.tab_to_selector(tab, "textarea")
    tab.keyboard.type("typed with the keyboard")
    tab.keyboard.press("Enter")
    got = live.program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
    assert got.text == "typed with the keyboard"
    harness.tab_to(tab, "End chat")
    tab.keyboard.press("Enter")
    # It asks first; the confirmation takes focus.
    assert harness.active_name(tab) == "Yes, end the chat"
    tab.keyboard.press("Enter")
    harness.screen(tab, "ended")


# -- 1: when the program cannot take a chat ------------------------------------------------


@pytest.mark.parametrize(("state", "reason"), [("closed", "closed"), ("outage", "outage")])
def test_status_shows_alternatives(tab: Page, live: Live, state: str, reason: str) -> None:
    program = live.program
    program.call(program.client.set_status, state, f"Status message for {state}")
    try:
        tab.goto(live.site + "/")
        harness.screen(tab, "unavailable")
        assert tab.get_attribute("[data-screen=unavailable]", "data-reason") == reason
        text = tab.inner_text("[data-screen=unavailable]")
        assert f"Status message for {state}" in text
        assert "Phone, 24 hours: 1-800-555-0199" in text  # from the signed profile
        for line in harness.FALLBACK_LINES:  # from the page's snippet
            assert line in text
        assert tab.query_selector("text=Start a chat") is None
        harness.assert_accessible(tab, f"unavailable ({state})")
    finally:
        program.call(program.client.set_status, None)


def test_outside_hours_shows_hours_and_alternatives(tab: Page, live: Live) -> None:
    program = live.program
    # Open one hour a week, on the day after today (UTC), so never now.
    tomorrow = (datetime.datetime.now(datetime.UTC).weekday() + 1) % 7
    closed_now = dict(
        live.profile,
        hours={"timezone": "UTC", "weekly": [{"day": tomorrow, "open": "10:00", "close": "11:00"}]},
    )
    program.call(program.client.publish_profile, closed_now)
    try:
        tab.goto(live.site + "/")
        harness.screen(tab, "unavailable")
        assert tab.get_attribute("[data-screen=unavailable]", "data-reason") == "outside_hours"
        text = tab.inner_text("[data-screen=unavailable]")
        assert "10 am to 11 am" in text
        assert "1-800-555-0199" in text
        # The status is "open" (staff are on shift) but this screen is about the hours:
        # its "Chat is open" message would contradict the heading.
        assert "Chat is open" not in text
        harness.assert_accessible(tab, "outside hours")
    finally:
        program.call(program.client.publish_profile, live.profile)


def test_expired_status_is_not_trusted(desktop_tab: Page, live: Live) -> None:
    """A relay that keeps serving an "open" status past its expiry: the widget's clock
    is moved two days ahead, so the program's signed status has expired."""
    tab = desktop_tab
    tab.clock.set_fixed_time(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2))
    tab.goto(live.site + "/")
    harness.screen(tab, "unavailable")
    assert tab.get_attribute("[data-screen=unavailable]", "data-reason") == "unknown"
    text = tab.inner_text("[data-screen=unavailable]")
    assert "We cannot confirm the chat is open right now" in text
    assert "1-800-555-0199" in text
    assert tab.query_selector("text=Start a chat") is None


# -- 9: a relay that lies ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["swap_identity", "break_signature", "edit_profile"])
def test_forged_program_record_stops_with_a_warning(tab: Page, live: Live, mode: str) -> None:
    live.hostile.arm(mode)
    tab.goto(live.hostile_site + "/")
    harness.screen(tab, "warning")
    assert live.hostile.fired.is_set()
    text = tab.inner_text("body")
    assert "We stopped this chat to protect you" in text
    assert live.hostile.FORGED_NAME not in text
    assert "Harbour Support Line" not in text  # nothing from the unverified record
    for line in harness.FALLBACK_LINES:
        assert line in text
    assert tab.query_selector("text=Start a chat") is None
    assert tab.query_selector("textarea") is None
    harness.assert_accessible(tab, f"warning ({mode})")


def _open_hostile_chat(page: Page, live: Live) -> str:
    page.goto(live.hostile_site + "/")
    harness.screen(page, "start")
    page.click("text=Start a chat")
    page.click("text=I have read this, continue")
    page.click("text=Skip all questions and start the chat")
    harness.screen(page, "chat")
    return str(live.program.wait(lambda e: isinstance(e, ev.NewConversation)).conversation_id)


def test_requests_carry_no_referrer_cookie_or_token_in_urls(desktop_tab: Page, live: Live) -> None:
    """Seen from the relay's side: what the widget sends while chatting and ending."""
    tab = desktop_tab
    start = len(live.hostile.requests)
    cid = _open_hostile_chat(tab, live)
    send_from_widget(tab, "checking what the relay sees")
    live.program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
    harness.end_chat(tab)
    harness.screen(tab, "ended")
    live.program.wait(lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid)
    live.hostile.wait_request("POST", f"{cid}/close")
    seen = live.hostile.requests[start:]
    methods = {(m, p.split("?")[0].rsplit("/", 1)[-1]) for m, p, _ in seen}
    assert ("POST", "conversations") in methods and ("POST", "close") in methods
    token = live.hostile.tokens[-1]
    assert token
    for _method, path, headers in seen:
        lower = {k.lower() for k in headers}
        assert "referer" not in lower and "cookie" not in lower, headers
        assert token not in path  # the capability token never travels in a URL
    assert any(h.get("authorization") == f"Bearer {token}" for _, _, h in seen)


def test_tampered_message_stops_the_chat(desktop_tab: Page, live: Live) -> None:
    tab = desktop_tab
    cid = _open_hostile_chat(tab, live)
    live.program.call(live.program.client.send, cid, "a genuine message")
    wait_log_text(tab, "a genuine message")
    live.hostile.arm("tamper")
    live.program.call(live.program.client.send, cid, "this one is altered on the way")
    harness.screen(tab, "warning")
    assert live.hostile.fired.is_set()
    text = tab.inner_text("body")
    assert "this one is altered on the way" not in text
    assert "a genuine message" not in text  # the chat is gone from the page
    assert "1-800-555-0199" in text  # alternatives verified earlier still help
    assert tab.query_selector("textarea") is None
    harness.assert_nothing_stored(tab)


def test_replayed_message_stops_the_chat(desktop_tab: Page, live: Live) -> None:
    tab = desktop_tab
    cid = _open_hostile_chat(tab, live)
    live.program.call(live.program.client.send, cid, "said once")
    wait_log_text(tab, "said once")
    live.hostile.arm("replay")
    live.program.call(live.program.client.send, cid, "said twice?")
    harness.screen(tab, "warning")
    assert live.hostile.fired.is_set()
    assert "said once" not in tab.inner_text("body")
    assert tab.query_selector("textarea") is None


def test_relay_lost_mid_chat_keeps_the_chat(desktop_tab: Page, live: Live) -> None:
    """The socket drops and reconnects fail: the chat stays, saying it is reconnecting
    (test_widget_participant.py takes the relay down for 5 s, 60 s and 3 minutes)."""
    tab = desktop_tab
    cid = _open_hostile_chat(tab, live)
    live.program.call(live.program.client.send, cid, "before the outage")
    wait_log_text(tab, "before the outage")
    try:
        live.loop.run(live.hostile.go_down())
        tab.wait_for_selector("[data-connection=reconnecting]", timeout=15_000)
        assert "Reconnecting" in tab.inner_text("[data-screen=chat]")
        assert "before the outage" in tab.inner_text(".quietline-log")
        assert tab.query_selector("textarea") is not None
    finally:
        live.hostile.arm(None)
    tab.wait_for_selector("[data-connection=online]", timeout=30_000, state="attached")
    harness.end_chat(tab)
    harness.screen(tab, "ended")


def test_dropped_message_is_flagged(desktop_tab: Page, live: Live) -> None:
    tab = desktop_tab
    cid = _open_hostile_chat(tab, live)
    live.program.call(live.program.client.send, cid, "first")
    wait_log_text(tab, "first")
    live.hostile.arm("drop")
    live.program.call(live.program.client.send, cid, "second, never delivered")
    assert live.hostile.fired.wait(10)
    live.program.call(live.program.client.send, cid, "third")
    wait_log_text(tab, "third")
    kinds = [(i["kind"], i["text"]) for i in log_items(tab)]
    flag = kinds.index(next(k for k in kinds if k[0] == "flag"))
    assert kinds[flag + 1] == ("program", "third")
    assert all("second" not in t for _, t in kinds)
    harness.assert_accessible(tab, "chat with a missing-message flag")
    harness.end_chat(tab)
    harness.screen(tab, "ended")
