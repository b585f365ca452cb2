"""The staff console in Chromium through a whole shift, everything real on 127.0.0.1.

A relay process, a ConsoleNode with the console's web app (tests/console/web_harness.py),
the real widget (``quietline widget serve``) as one participant and real
``ParticipantClient`` s as the others; two support workers (Sam, Alex) and a supervisor
(Kim), each in their own browser context. Issue 14's list: 1 sign in and out, nothing left
in the browser, idle sign-out; 2 on and off shift; 3 the live queue, claim, take the next,
cues (visible, audible, can be turned off); 4 messages both ways in Arabic, Chinese and
emoji, right-to-left shown right, notices, saved replies, code word, end; 5 several
conversations with unread counts; 6 transfer, escalation, shift-end reminder and hand-off;
7 duress alert in every tab concerned until acknowledged; 8 the supervisor's view, take
over, end and block; 9 several staff live, two claims of one conversation. Every screen is
scanned with axe-core and photographed into test-artifacts/console/.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import page_errors
from loading import load
from playwright.sync_api import Browser, BrowserContext, Page, expect

from client_sdk import events as ev

harness = load("quietline_console_web_harness", "console/web_harness.py")
widget = load("quietline_widget_harness", "widget/widget_harness.py")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
STAFF = [("Sam", "worker"), ("Alex", "worker"), ("Kim", "supervisor")]
ARABIC = "مرحبا، هل يمكنني التحدث مع أحد؟"
CHINESE = "你好，我需要帮助。"
EMOJI = "Thank you 🙏🏽 💜"
REPLY_ARABIC = "أنا هنا معك. خذ وقتك."
REPLY_CHINESE = "我在这里，慢慢说。"
REPLY_EMOJI = "You are not alone 💜"
# Counts the tones the console makes (WebAudio oscillators), without changing them.
COUNT_TONES = """
window.__tones = 0;
const made = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__tones += 1;
  return made.call(this);
};
"""
pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with harness.console_stack(tmp_path_factory.mktemp("console-shift"), STAFF) as s:
        yield s


# -- helpers ------------------------------------------------------------------------------


def shot(page: Page, name: str) -> None:
    """axe-core: no serious or critical violation; then a screenshot for review."""
    widget.assert_accessible(page, name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_context(browser: Browser) -> tuple[BrowserContext, Page, list[str]]:
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    context.add_init_script(COUNT_TONES)
    page = context.new_page()
    return context, page, page_errors(page)


def sign_in(page: Page, stack: Any, name: str) -> None:
    harness.sign_in(page, stack.url, name)
    expect(page.locator("#shift-toggle")).to_be_enabled()


def go_on_shift(page: Page) -> None:
    """On shift (a test before may have left this account on shift already)."""
    if page.locator("#shift-toggle").inner_text() == "Go on shift":
        page.get_by_role("button", name="Go on shift").click()
    expect(page.get_by_role("button", name="Go off shift")).to_be_visible()


STORAGE_PROBE = """async () => ({
  local: localStorage.length, session: sessionStorage.length,
  idb: (await indexedDB.databases()).map((d) => d.name), caches: await caches.keys(),
  workers: (await navigator.serviceWorker.getRegistrations()).length,
})"""


def assert_nothing_stored(page: Page) -> None:
    """No local or session storage, IndexedDB, Cache Storage or service worker, and no
    cookie but the sign-in form's own random token (never the session's)."""
    probe = page.evaluate(STORAGE_PROBE)
    assert probe == {"local": 0, "session": 0, "idb": [], "caches": [], "workers": 0}, probe
    state = page.context.storage_state()
    assert [c["name"] for c in state["cookies"]] in ([], ["quietline_signin"]), state
    for entry in state["origins"]:
        assert entry.get("localStorage", []) == [], entry
        assert entry.get("indexedDB", []) in ([], None), entry


def session_alive(stack: Any, page: Page) -> bool:
    """Whether the console still has this browser's session (checked without touching it)."""
    sid = next(c["value"] for c in page.context.cookies() if c["name"] == "quietline_console")

    async def check() -> bool:
        return stack.server.config.app.state.web.sessions.get(sid) is not None

    return bool(stack.run(check()))


def tones(page: Page) -> int:
    return int(page.evaluate("window.__tones"))


def waiting_ids(stack: Any) -> list[str]:
    return [w["id"] for w in stack.snapshot("Kim")["waiting"]]


def new_waiting(stack: Any, before: list[str]) -> dict[str, Any]:
    for _ in range(200):
        for w in stack.snapshot("Kim")["waiting"]:
            if w["id"] not in before:
                return dict(w)
        stack.run(_tick())
    raise AssertionError("no new conversation in the queue")


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.05)


def timeline_texts(page: Page) -> list[str]:
    return list(page.locator("#entries .entry-text").all_inner_texts())


def widget_open_chat(page: Page, site: str) -> None:
    page.goto(site + "/")
    page.get_by_role("button", name="Start a chat").click()
    page.get_by_role("button", name="I have read this, continue").click()
    expect(page.locator("textarea")).to_be_visible()


def widget_send(page: Page, text: str) -> None:
    page.locator("textarea").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def widget_sees(page: Page, text: str) -> None:
    page.wait_for_function(
        "t => [...document.querySelectorAll('.quietline-from-program .quietline-text')]"
        ".some(n => n.textContent === t)", arg=text, timeout=20_000)  # fmt: skip


def participant_wait_notice(p: Any, kind: str) -> Any:
    return p.wait(lambda e: isinstance(e, ev.Notice) and e.kind == kind)


# -- the whole shift --------------------------------------------------------------------


def test_a_whole_shift(browser: Browser, stack: Any, site: str) -> None:
    contexts = []
    errors: dict[str, list[str]] = {}
    pages: dict[str, Page] = {}
    for name, _ in STAFF:
        context, page, errs = open_context(browser)
        contexts.append(context)
        pages[name], errors[name] = page, errs
    sam, alex, kim = pages["Sam"], pages["Alex"], pages["Kim"]
    try:
        _sign_in_screens(sam, stack)
        for name in ("Alex", "Kim"):
            sign_in(pages[name], stack, name)
        shot(sam, "shift-off")

        # 2. on shift, Sam with the keyboard only
        sam.locator("#shift-toggle").focus()
        sam.keyboard.press("Enter")
        expect(sam.get_by_role("button", name="Go off shift")).to_be_visible()
        expect(sam.locator("#shift-state")).to_contain_text("On shift until")
        go_on_shift(alex)
        go_on_shift(kim)
        expect(sam.locator("#line-state")).to_contain_text("Line open · 3 on shift")
        expect(sam.locator("#shift-until")).to_be_hidden()
        assert "Harbour Support Line" in sam.title()
        shot(sam, "shift-on-empty")

        # 3 and 9: a participant arrives (the real widget); everyone sees it, with a cue
        chat_ctx = browser.new_context(viewport={"width": 1024, "height": 800})
        contexts.append(chat_ctx)
        chat = chat_ctx.new_page()
        before = waiting_ids(stack)
        tones_before = {n: tones(p) for n, p in pages.items()}
        widget_open_chat(chat, site)
        first = new_waiting(stack, before)
        label = first["label"]
        for page in pages.values():
            expect(page.locator("#waiting-list")).to_contain_text(label)
            expect(page.locator("#waiting-count")).to_have_text("1")
            expect(page.locator("#waiting-list")).to_contain_text("waited")
        for name, page in pages.items():
            page.wait_for_function("n => window.__tones > n", arg=tones_before[name])
        shot(alex, "queue")

        # two claim it: Sam first; Alex's click on the same Take button comes after
        alex_take = alex.get_by_role("button", name=f"Take {label}").element_handle()
        sam.get_by_role("button", name=f"Take {label}").click()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label} · yours")
        alex_take.evaluate("b => b.click()")  # the button Alex saw, now stale
        expect(alex.locator("#queue-message")).to_contain_text("Someone else took")
        expect(alex.locator("#mine-list")).not_to_contain_text(label)
        expect(kim.locator("#others-list")).to_contain_text(label)
        expect(kim.locator("#others-list")).to_contain_text("Sam")
        assert sam.evaluate("document.activeElement.id") == "conversation-heading"

        # 4. messages both ways, any script; notices in the timeline
        for text in (ARABIC, CHINESE, EMOJI):
            widget_send(chat, text)
            expect(sam.locator("#entries")).to_contain_text(text)
        notices = sam.locator("#entries .entry-notice")
        expect(notices.first).to_contain_text("Safety check-in, seen by the participant")
        direction = sam.locator(".entry-from-participant .entry-text", has_text=ARABIC)
        assert direction.get_attribute("dir") == "auto"
        assert direction.evaluate("n => getComputedStyle(n).direction") == "rtl"
        reply = sam.get_by_label(f"Your reply to {label}")
        for text in (REPLY_ARABIC, REPLY_CHINESE, REPLY_EMOJI):
            reply.fill(text)
            reply.press("Enter")
            widget_sees(chat, text)
            expect(sam.locator(".entry-from-staff", has_text=text)).to_contain_text("You")
        mine = sam.locator(".entry-from-staff .entry-text", has_text=REPLY_ARABIC)
        assert mine.evaluate("n => getComputedStyle(n).direction") == "rtl"
        shot(sam, "conversation")

        # saved reply: inserted for editing, never sent by itself
        sent_before = sam.locator(".entry-from-staff").count()
        sam.get_by_text("Saved replies", exact=True).click()
        shot(sam, "saved-replies")
        sam.get_by_role("button", name="Welcome").click()
        expect(reply).to_have_value(harness.SAVED_REPLIES[0][2])
        assert sam.evaluate("document.activeElement.id") == "reply"
        sam.wait_for_timeout(500)  # nothing may arrive: there is nothing to wait for
        assert sam.locator(".entry-from-staff").count() == sent_before
        reply.press("End")
        reply.type(" مرحبا")
        reply.press("Enter")
        widget_sees(chat, harness.SAVED_REPLIES[0][2] + " مرحبا")

        # the code word: asked, answered in the widget, only the outcome shown
        sam.get_by_role("button", name="Ask for the code word").click()
        chat.get_by_label("Your code word").fill(harness.CODE_WORD)
        chat.get_by_role("button", name="Send code word").click()
        expect(sam.locator("#code-word-result")).to_have_text('Code word "main" matches.')
        sam.get_by_role("button", name="Ask for the code word").click()
        chat.get_by_label("Your code word").fill("not the word")
        chat.get_by_role("button", name="Send code word").click()
        expect(sam.locator("#code-word-result")).to_have_text('Code word "main" does not match.')
        assert harness.CODE_WORD not in sam.content()
        shot(sam, "code-word")

        # 5. a second conversation; unread count while Sam reads the first
        second = stack.participant()
        expect(sam.locator("#waiting-list")).to_contain_text(stack.conversation_of(second)["label"])
        label2 = stack.conversation_of(second)["label"]
        sam.get_by_role("button", name="Take the next conversation").click()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label2} · yours")
        second.call("send", "Is anyone there? 你好")
        expect(sam.locator("#entries")).to_contain_text("Is anyone there? 你好")
        sam.locator("#mine-list").get_by_role("button", name=label).click()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label} · yours")
        tones_now = tones(sam)
        second.call("send", "مرحبا؟")
        expect(sam.locator("#mine-list")).to_contain_text("1 new")
        expect(sam).to_have_title(f"(1) {sam.title().removeprefix('(1) ')}")
        sam.wait_for_function("n => window.__tones > n", arg=tones_now)
        shot(sam, "unread")
        sam.locator("#mine-list").get_by_role("button", name=label2).click()
        expect(sam.locator("#mine-list")).not_to_contain_text("1 new")

        # the sound can be turned off: no tone for the next message
        sam.get_by_label("Sound").uncheck()
        sam.locator("#mine-list").get_by_role("button", name=label).click()
        quiet = tones(sam)
        second.call("send", "one more")
        expect(sam.locator("#mine-list")).to_contain_text("1 new")
        assert tones(sam) == quiet
        again = contexts[0].new_page()  # the choice holds for the session, across pages
        again.goto(stack.url + "/")
        expect(again.get_by_label("Sound")).not_to_be_checked()
        again.close()
        sam.get_by_label("Sound").check()

        # 6. transfer to Alex: the participant is told, Alex sees the conversation so far
        sam.locator("#mine-list").get_by_role("button", name=label2).click()
        sam.get_by_label("Colleague on shift").select_option(label="Alex (support worker)")
        sam.get_by_role("button", name="Transfer").click()
        expect(sam.locator("#conversation-status")).to_contain_text(f"{label2} passed to Alex")
        assert sam.evaluate("document.activeElement.id") == "mine-heading"
        participant_wait_notice(second, "transfer")
        alex.locator("#mine-list").get_by_role("button", name=label2).click()
        expect(alex.locator("#entries")).to_contain_text("Is anyone there? 你好")
        expect(alex.locator("#entries")).to_contain_text("one more")

        # escalate to a supervisor: Kim holds it now, the participant is told again
        alex.get_by_role("button", name="Escalate to a supervisor").click()
        expect(alex.locator("#mine-list")).not_to_contain_text(label2)
        participant_wait_notice(second, "transfer")
        kim.locator("#mine-list").get_by_role("button", name=label2).click()
        expect(kim.locator("#entries")).to_contain_text("Is anyone there? 你好")

        # 8. the supervisor sees every open conversation, takes one over, ends and blocks
        third = stack.participant()
        label3 = stack.conversation_of(third)["label"]
        expect(alex.locator("#waiting-list")).to_contain_text(label3)
        alex.get_by_role("button", name=f"Take {label3}").click()
        third.call("send", "I need to talk")
        expect(kim.locator("#others-list")).to_contain_text(label3)
        expect(kim.locator("#others-list")).to_contain_text("Alex")
        kim.locator("#others-list").get_by_role("button", name=label3).click()
        expect(kim.locator("#conversation-heading")).to_have_text(f"{label3} · held by Alex")
        expect(kim.locator("#entries")).to_contain_text("I need to talk")
        expect(kim.locator("#composer")).to_be_hidden()
        shot(kim, "supervisor")
        kim.get_by_role("button", name="Take over").click()
        expect(kim.locator("#conversation-heading")).to_have_text(f"{label3} · yours")
        expect(alex.locator("#mine-list")).not_to_contain_text(label3)
        kim.get_by_role("button", name="End and block").click()
        expect(kim.locator("#confirm-heading")).to_have_text(f"End and block {label3}?")
        kim.get_by_role("button", name=f"End and block {label3}").click()
        participant_wait_notice(third, "closing")
        third.wait(lambda e: isinstance(e, ev.ConversationClosedEvent))
        expect(kim.locator("#others-list")).not_to_contain_text(label3)

        # 7. duress: every tab of the holder and of the supervisor, until acknowledged
        sam.locator("#mine-list").get_by_role("button", name=label).click()
        sam_second_tab = contexts[0].new_page()  # a second tab of Sam's session
        sam_second_tab.goto(stack.url + "/")
        chat.get_by_role("button", name="Someone is here").click()
        for page in (sam, sam_second_tab, kim):
            alert = page.locator("#alerts .alert-loud[role=alert]")
            expect(alert).to_contain_text(f"Duress signal: {label}")
        expect(alex.locator("#alerts")).to_be_empty()
        colour = sam.locator("#alerts .alert-loud").evaluate(
            "n => getComputedStyle(n).backgroundColor"
        )
        assert colour == "rgb(138, 15, 95)"
        shot(sam, "duress")
        kim.locator("#mine-list").get_by_role("button", name=label2).click()
        second.call("send", "still here")  # other updates do not clear it
        expect(kim.locator("#entries")).to_contain_text("still here")
        expect(kim.locator("#alerts .alert-loud")).to_be_visible()
        kim.locator("#alerts").get_by_role("button", name="Acknowledge").click()
        for page in (sam, sam_second_tab, kim):  # one acknowledgement is for everyone
            expect(page.locator("#alerts .alert-loud")).to_have_count(0)
        sam_second_tab.close()
        expect(sam.locator("#mine-list")).not_to_contain_text(label)  # the widget left

        # Kim ends the escalated one: the participant gets the closing notice first
        kim.locator("#mine-list").get_by_role("button", name=label2).click()
        kim.get_by_role("button", name="End this conversation").click()
        kim.get_by_role("button", name=f"End {label2}").click()
        closing = participant_wait_notice(second, "closing")
        closed = second.wait(lambda e: isinstance(e, ev.ConversationClosedEvent))
        assert closing and closed

        # 6. shift end: Alex hands off by going off shift, then a short shift's reminder
        fourth = stack.participant()
        label4 = stack.conversation_of(fourth)["label"]
        expect(alex.locator("#waiting-list")).to_contain_text(label4)
        alex.get_by_role("button", name=f"Take {label4}").click()
        expect(alex.locator("#conversation-heading")).to_have_text(f"{label4} · yours")
        alex.get_by_role("button", name="Go off shift").click()
        expect(alex.locator("#confirm-heading")).to_have_text("Go off shift?")
        alex.locator("#confirm-yes").click()
        expect(alex.get_by_role("button", name="Go on shift")).to_be_visible()
        expect(sam.locator("#mine-list")).to_contain_text(label4)  # handed to Sam
        participant_wait_notice(fourth, "shift_change")
        # Sam ends it with the keyboard: the confirmation names the conversation
        sam.locator("#mine-list").get_by_role("button", name=label4).click()
        expect(sam.locator("#entries")).to_contain_text("is answering now")
        sam.get_by_role("button", name="End this conversation").focus()
        sam.keyboard.press("Enter")
        expect(sam.locator("#confirm-heading")).to_have_text(f"End {label4}?")
        assert sam.evaluate("document.activeElement.id") == "confirm-no"
        shot(sam, "confirm-end")
        sam.keyboard.press("Escape")  # cancel first: nothing happens
        expect(sam.locator("#confirm")).to_be_hidden()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label4} · yours")
        sam.get_by_role("button", name="End this conversation").click()
        sam.keyboard.press("Shift+Tab")
        assert sam.evaluate("document.activeElement.id") == "confirm-yes"
        sam.keyboard.press("Enter")
        expect(sam.locator("#conversation-status")).to_contain_text(f"{label4} ended")
        expect(sam.locator("#mine-list")).not_to_contain_text(label4)

        participant_wait_notice(fourth, "closing")
        soon = alex.evaluate(
            "() => { const d = new Date(Date.now() + 20 * 60000);"
            " return String(d.getHours()).padStart(2, '0') + ':'"
            " + String(d.getMinutes()).padStart(2, '0'); }"
        )
        alex.get_by_label("Until").fill(soon)
        alex.get_by_role("button", name="Go on shift").click()
        expect(alex.locator("#alerts, #banners").first).to_contain_text("Your shift ends")
        expect(alex.get_by_role("button", name="Go off shift and hand off")).to_have_count(1)
        fifth = stack.participant()
        label5 = stack.conversation_of(fifth)["label"]
        expect(alex.locator("#waiting-list")).to_contain_text(label5)
        alex.get_by_role("button", name="Take the next conversation").click()
        expect(alex.locator("#queue-message")).to_contain_text("30 minutes")
        shot(alex, "shift-ending")
        alex.get_by_role("button", name="Go off shift and hand off").click()
        expect(alex.get_by_role("button", name="Go on shift")).to_be_visible()

        # a worker's page cannot read another's conversation by its id
        sam.get_by_role("button", name=f"Take {label5}").click()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label5} · yours")
        forged = alex.evaluate(
            """([cid, csrf]) => new Promise((resolve) => {
                const ws = new WebSocket(`ws://${location.host}/ws`);
                ws.onopen = () => {
                  ws.send(JSON.stringify({op: 'hello', csrf}));
                  ws.send(JSON.stringify({op: 'open', req: 1, conversation_id: cid}));
                };
                ws.onmessage = (m) => { const f = JSON.parse(m.data);
                  if (f.type === 'result') { ws.close(); resolve(f); } };
            })""",
            [stack.conversation_of(fifth)["id"],
             alex.locator('meta[name="csrf-token"]').get_attribute("content")],
        )  # fmt: skip
        assert forged["ok"] is False and forged["reason"] == "not_found"

        for name, errs in errors.items():
            assert errs == [], (name, errs)
    finally:
        for context in contexts:
            context.close()


def _sign_in_screens(page: Page, stack: Any) -> None:
    page.goto(stack.url + "/signin")
    expect(page.get_by_label("Your name")).to_be_focused()
    shot(page, "signin")
    page.get_by_role("button", name="Sign in").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Enter your name")
    shot(page, "signin-errors")
    summary.get_by_role("link", name="Enter your name").click()
    expect(page.get_by_label("Your name")).to_be_focused()
    page.keyboard.type("Sam")
    page.keyboard.press("Tab")
    page.keyboard.type(harness.PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(stack.url + "/")
    expect(page.locator("#shift-toggle")).to_be_enabled()


# -- 1. sign-out leaves nothing; idle sign-out ------------------------------------------


def test_sign_out_leaves_nothing_readable(browser: Browser, stack: Any) -> None:
    context, page, errors = open_context(browser)
    try:
        sign_in(page, stack, "Sam")
        go_on_shift(page)
        p = stack.participant()
        label = stack.conversation_of(p)["label"]
        expect(page.locator("#waiting-list")).to_contain_text(label)
        take = f'[data-key="take:{p.cid}"]'
        widget.tab_to_selector(page, take)  # keyboard only, from the top of the page
        expect(page.locator(take)).to_have_accessible_name(f"Take {label}")
        page.keyboard.press("Enter")
        expect(page.locator("#conversation-heading")).to_be_focused()
        secret = "لا أحد يعرف أنني هنا 秘密"
        p.call("send", secret)
        expect(page.locator("#entries")).to_contain_text(secret)
        widget.tab_to_selector(page, "#reply")
        page.keyboard.type("a draft not sent")
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#confirm-heading")).to_have_text("Sign out while on shift?")
        mine = len(stack.snapshot("Sam")["mine"])  # earlier tests may have left one with Sam
        words = "1 conversation stays" if mine == 1 else f"{mine} conversations stay"
        expect(page.locator("#confirm-text")).to_contain_text(f"your {words} yours")
        page.get_by_role("button", name="Sign out", exact=True).last.click()
        expect(page).to_have_url(stack.url + "/signin?reason=signed_out")
        expect(page.locator(".notice-box")).to_have_text("You have signed out.")
        shot(page, "signed-out")
        assert_nothing_stored(page)
        page.go_back()
        expect(page).to_have_url(stack.url + "/signin")
        body = page.inner_text("body")
        assert secret not in body and "a draft not sent" not in body and label not in body
        page.go_forward()
        assert secret not in page.inner_text("body")
        assert errors == []
    finally:
        context.close()
        # the conversation Sam held stays with the node; hand it back for the next tests
        stack.run(stack.node.go_off_shift(stack.staff["Sam"]))


def test_idle_sign_out_wipes_the_screen(browser: Browser, stack: Any) -> None:
    context, page, errors = open_context(browser)
    try:
        sign_in(page, stack, "Kim")
        p = stack.participant()
        label = stack.conversation_of(p)["label"]
        expect(page.locator("#waiting-list")).to_contain_text(label)
        stack.clock.advance(minutes=30)
        expect(page).to_have_url(stack.url + "/signin?reason=idle")
        expect(page.locator(".notice-box")).to_contain_text("not used for 30 minutes")
        assert label not in page.inner_text("body")
        assert_nothing_stored(page)
        assert errors == []
    finally:
        context.close()


def test_idle_warning_and_a_key_press_keeps_the_session(browser: Browser, stack: Any) -> None:
    context, page, errors = open_context(browser)
    try:
        page.clock.install()
        sign_in(page, stack, "Alex")
        expect(page.locator("#banners")).to_be_empty()
        page.clock.fast_forward("28:30")  # the browser's own clock; the server's is apart
        warning = page.locator("#banners [role=alert]")
        expect(warning).to_contain_text("You will be signed out in about 2 minutes")
        shot(page, "idle-warning")
        stack.clock.advance(minutes=28, seconds=30)
        page.keyboard.press("Shift")
        expect(page.locator("#banners")).to_be_empty()
        stack.clock.advance(minutes=29)  # 57.5 minutes after sign-in, 29 after the key
        assert session_alive(stack, page)
        stack.clock.advance(minutes=1)
        expect(page).to_have_url(stack.url + "/signin?reason=idle")
        assert errors == []
    finally:
        context.close()


def test_markers_and_notices_are_shown_as_such(browser: Browser, stack: Any) -> None:
    """How the page shows the node's timeline entries of each kind (``view.js``)."""
    context, page, errors = open_context(browser)
    try:
        page.goto(stack.url + "/signin")
        html = page.evaluate(
            """async () => {
              const { entryNode } = await import("/static/view.js");
              const at_ms = Date.now();
              const base = { from: "program", staff_name: null, notice_kind: null,
                             marker: null, at_ms };
              const list = document.createElement("ol");
              for (const e of [
                { ...base, seq: 1, kind: "notice", notice_kind: "rights", text: "Your rights" },
                { ...base, seq: 2, kind: "marker", marker: "possibly_missing", text: "" },
                { ...base, seq: 3, kind: "marker", marker: "verification_failed",
                  text: "A message could not be verified. It is not shown." },
                { ...base, seq: 4, kind: "message", from: "participant", text: "שלום",
                  marker: "late" },
                { ...base, seq: 5, kind: "event", text: "Sam is answering now." },
              ]) list.append(entryNode(e, "Sam"));
              document.body.append(list);
              return [...list.children].map((li) => [li.className, li.innerText]);
            }"""
        )
        kinds = [cls for cls, _ in html]
        texts = [text for _, text in html]
        assert "entry-notice" in kinds[0] and "Rights notice, seen by the participant" in texts[0]
        assert "Possibly missing: A message may be missing here." in texts[1]
        assert "Verification failed: A message could not be verified" in texts[2]
        assert "entry-from-participant" in kinds[3] and "שלום" in texts[3]
        assert "arrived late, out of order" in texts[3]
        hebrew = page.locator(".entry-text", has_text="שלום")
        assert hebrew.evaluate("n => getComputedStyle(n).direction") == "rtl"
        assert "Sam is answering now." in texts[4]
        assert errors == []
    finally:
        context.close()


def test_times_are_in_the_programs_time_zone(browser: Browser, stack: Any) -> None:
    """The program posts its hours in UTC; a console on a computer set to Tokyo time
    still says when the shift ends in the program's time."""
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    try:
        page = context.new_page()
        sign_in(page, stack, "Kim")
        go_on_shift(page)
        ends = stack.snapshot("Kim")["me"]["shift_ends_at_ms"]
        utc = datetime.datetime.fromtimestamp(ends / 1000, datetime.UTC).strftime("%H:%M")
        expect(page.locator("#shift-state")).to_have_text(f"On shift until {utc}")
        assert page.evaluate("document.body.dataset.timezone") == "UTC"
    finally:
        context.close()
