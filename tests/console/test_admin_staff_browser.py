"""Issue 17's staff part in Chromium, everything real on 127.0.0.1: the admin pages for
staff, rota and shift rules, saved replies and code words (axe on each), a saved reply
added by an admin and used by a support worker (the participant receives it), and a rota
whose slot ends driving the last-minutes rule and the hand-off on the node's own
ManualClock (tests/console/web_harness.py ``node_clock``).

Chromium comes from tests/conftest.py; the sign-in and axe helpers are those of
tests/console/test_web_shift.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from loading import load
from playwright.sync_api import Browser, Page, expect

from client_sdk import events as ev
from client_sdk.workflow.clock import ManualClock
from console.admin import AdminContext, call

harness = load("quietline_console_web_harness", "console/web_harness.py")
shift = load("quietline_console_web_shift", "console/test_web_shift.py")
STAFF = [("Ada", "admin"), ("Sam", "worker"), ("Alex", "worker"), ("Kim", "supervisor")]
REPLY_TITLE = "Planning a safe exit"
REPLY_TEXT = "خطة الأمان: احتفظ بحقيبة صغيرة جاهزة. We can plan this together."
pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    # whole minutes: rota times are HH:MM
    return ManualClock(datetime.now(UTC).replace(second=0, microsecond=0))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console-admin-staff")
    with harness.console_stack(tmp, STAFF, node_clock=clock) as s:
        yield s


def page_for(browser: Browser, stack: Any, name: str) -> tuple[Page, list[str]]:
    _context, page, errors = shift.open_context(browser)
    shift.sign_in(page, stack, name)
    return page, errors


def op(stack: Any, name: str, args: dict[str, Any] | None = None) -> Any:
    """An admin operation run on the node as the operator (what the CLI does)."""

    async def run() -> Any:
        return await call(AdminContext.for_node(stack.node, None), name, args or {})

    return stack.run(run())


def status(page: Page) -> Any:
    return expect(page.locator("#admin-status"))


def test_staff_pages_and_code_words(browser: Browser, stack: Any) -> None:
    ada, errors = page_for(browser, stack, "Ada")
    try:
        ada.goto(stack.url + "/admin/staff")
        expect(ada.locator("#staff-rows")).to_contain_text("Sam")
        shift.shot(ada, "admin-staff")
        ada.get_by_label("Name").fill("Noor")
        ada.get_by_label("Role", exact=True).select_option("worker")
        ada.get_by_label("First password").fill(harness.PASSWORD)
        ada.get_by_role("button", name="Add", exact=True).click()
        status(ada).to_have_text("Added Noor as support worker.")
        assert harness.PASSWORD not in ada.content()
        noor, _ = page_for(browser, stack, "Noor")  # the new account signs in

        ada.get_by_label("Role of Noor", exact=True).select_option("supervisor")
        ada.get_by_role("button", name="Change the role of Noor").click()
        status(ada).to_have_text("Noor is now supervisor.")
        assert stack.node.accounts.find("Noor").role.value == "supervisor"

        ada.get_by_role("button", name="Disable Noor").click()
        status(ada).to_contain_text("Noor is disabled")
        expect(noor).to_have_url(re.compile(r"/signin"))  # signed out at once
        expect(ada.get_by_role("button", name="Enable Noor")).to_be_visible()
        ada.get_by_role("button", name="Disable Ada").click()  # never oneself
        status(ada).to_have_text("You cannot disable your own account.")
        sam, _ = page_for(browser, stack, "Sam")
        ada.get_by_label("Staff member", exact=True).select_option("Sam")
        ada.get_by_label("New password").fill(harness.PASSWORD)  # the same, for later sign-ins
        ada.get_by_role("button", name="Set the new password").click()
        status(ada).to_have_text("The password of Sam is changed.")
        expect(sam).to_have_url(re.compile(r"/signin"))  # the old password's session ends
        sam.context.close()

        ada.goto(stack.url + "/admin/codewords")
        expect(ada.locator("#codeword-rows")).to_contain_text("main")
        shift.shot(ada, "admin-codewords")
        ada.get_by_label("Name staff ask by").fill("Spare")
        ada.get_by_label("Code word", exact=True).fill("harbour lights")
        ada.get_by_role("button", name="Save the code word").click()
        status(ada).to_have_text('Added the code word "spare".')
        first = stack.node.workflow.codewords.get("spare")
        assert first is not None
        ada.get_by_role("button", name='Change the word of "spare"').click()
        assert ada.evaluate("document.activeElement.id") == "codeword-word"
        ada.keyboard.type("winter harbour")
        ada.keyboard.press("Enter")
        status(ada).to_have_text('The code word "spare" is changed.')
        rotated = stack.node.workflow.codewords.get("spare")
        assert rotated is not None and rotated.to_bytes() != first.to_bytes()
        assert "harbour lights" not in ada.content() and "winter harbour" not in ada.content()
        ada.get_by_role("button", name='Remove "spare"').click()
        status(ada).to_have_text('Removed the code word "spare".')
        assert stack.node.workflow.codewords.get("spare") is None
        expect(ada.locator("#codeword-rows")).not_to_contain_text("spare")

        for section in ("rota", "replies"):
            ada.goto(stack.url + f"/admin/{section}")
            expect(ada.locator("#admin-status")).to_be_attached()
            ada.wait_for_load_state("networkidle")
            shift.shot(ada, f"admin-{section}")
        assert errors == []
    finally:
        ada.context.close()


def test_a_saved_reply_added_and_used(browser: Browser, stack: Any) -> None:
    ada, errors = page_for(browser, stack, "Ada")
    sam, sam_errors = page_for(browser, stack, "Sam")
    try:
        shift.go_on_shift(sam)
        ada.goto(stack.url + "/admin/replies")
        ada.get_by_label("Group").fill("Safety planning")
        ada.get_by_label("Title").fill("Draft")
        ada.get_by_label("Text").fill(REPLY_TEXT)
        ada.get_by_role("button", name="Add", exact=True).click()
        status(ada).to_have_text('Added "Draft" to Safety planning.')
        ada.get_by_role("button", name='Change "Draft"').click()
        ada.get_by_label("Title").fill(REPLY_TITLE)
        ada.get_by_role("button", name="Save the change").click()
        status(ada).to_have_text(f'Saved the change to "{REPLY_TITLE}".')
        shown = ada.locator(".admin-reply-text", has_text="خطة الأمان")
        expect(shown).to_have_attribute("dir", "auto")
        assert shown.evaluate("n => getComputedStyle(n).direction") == "rtl"
        shift.shot(ada, "admin-replies-rtl")

        participant = stack.participant()
        label = stack.conversation_of(participant)["label"]
        sam.get_by_role("button", name=f"Take {label}").click()
        expect(sam.locator("#conversation-heading")).to_have_text(f"{label} · yours")
        sam.locator("#saved-replies summary").click()
        # the worker's page got the new reply without a reload (the library number moved)
        expect(sam.locator("#saved-replies-list")).to_contain_text(REPLY_TITLE)
        sam.get_by_label("Search saved replies").fill("safe exit")
        expect(sam.locator("#saved-replies-list button")).to_have_count(1)
        expect(sam.locator("#saved-search-count")).to_have_text("1 saved reply matches.")
        sam.get_by_label("Search saved replies").fill("nothing like this")
        expect(sam.locator("#saved-replies-list")).to_contain_text("No saved reply matches.")
        sam.get_by_label("Search saved replies").fill("خطة")  # by its text, in Arabic
        expect(sam.locator("#saved-replies-list button")).to_have_count(1)
        shift.shot(sam, "saved-reply-search")
        sam.get_by_label("Search saved replies").press("Enter")  # inserts, never sends
        expect(sam.locator("#reply")).to_have_value(REPLY_TEXT)
        assert sam.evaluate("document.activeElement.id") == "reply"
        sam.keyboard.press("Enter")
        got = participant.wait(lambda e: isinstance(e, ev.Message) and e.text == REPLY_TEXT)
        assert got.text == REPLY_TEXT
        assert errors == [] and sam_errors == []
    finally:
        ada.context.close()
        sam.context.close()


def _hm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _tick(stack: Any) -> None:
    stack.run(stack.node.program.tick())


def test_a_rota_slot_ending_brings_the_last_minutes_rule_and_the_hand_off(
    browser: Browser, stack: Any, clock: ManualClock
) -> None:
    ada, errors = page_for(browser, stack, "Ada")
    alex, alex_errors = page_for(browser, stack, "Alex")
    sam, _ = page_for(browser, stack, "Sam")
    try:
        shift.go_on_shift(sam)  # the colleague who takes the hand-off
        now = clock.now()
        start, end = now - timedelta(hours=1), now + timedelta(minutes=45)
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[start.weekday()]

        # the admin sets Alex's rota and the last-minutes rule in the browser
        ada.goto(stack.url + "/admin/rota")
        ada.get_by_label("Staff member", exact=True).select_option("Alex")
        ada.get_by_label("Day", exact=True).select_option(day)
        ada.get_by_label("From", exact=True).fill(_hm(start))
        ada.get_by_label("To", exact=True).fill(_hm(end))
        ada.get_by_role("button", name="Add the slot").click()
        status(ada).to_contain_text(f"Alex works {day} {_hm(start)}–{_hm(end)}")
        expect(ada.locator("#rota-rows")).to_contain_text("Due on shift")
        ada.get_by_label("No new conversation in the last (minutes of a shift)").fill("20")
        ada.get_by_role("button", name="Save the shift rules").click()
        status(ada).to_have_text("The shift rules are saved and apply now.")
        assert stack.node.workflow.settings.shift_end_buffer == timedelta(minutes=20)
        shift.shot(ada, "admin-rota")

        # Alex goes on shift with no end: the rota slot's end is the shift's end
        alex.get_by_role("button", name="Go on shift").click()
        expect(alex.get_by_role("button", name="Go off shift")).to_be_visible()
        me = stack.snapshot("Alex")["me"]
        assert me["shift_ends_at_ms"] == int(end.timestamp() * 1000)
        first = stack.participant()
        label = stack.conversation_of(first)["label"]
        alex.get_by_role("button", name=f"Take {label}").click()
        expect(alex.locator("#conversation-heading")).to_have_text(f"{label} · yours")

        # 15 minutes before the slot ends: in the last 20, no new conversation
        clock.set(end - timedelta(minutes=15))
        _tick(stack)
        second = stack.participant()
        expect(alex.locator("#waiting-list")).to_contain_text(
            stack.conversation_of(second)["label"]
        )
        alex.get_by_role("button", name="Take the next conversation").click()
        expect(alex.locator("#queue-message")).to_contain_text("last 20 minutes")
        assert stack.snapshot("Alex")["me"]["last_30"] is True
        expect(alex.locator("#alerts, #banners").first).to_contain_text("Your shift ends")

        # the slot ends: Alex's conversation is handed to Sam, the participant is told
        clock.set(end + timedelta(seconds=1))
        _tick(stack)
        shift.participant_wait_notice(first, "shift_change")
        assert stack.conversation_of(first)["assigned_to"] == stack.staff["Sam"].staff_id
        expect(alex.get_by_role("button", name="Go on shift")).to_be_visible()
        expect(sam.locator("#mine-list")).to_contain_text(label)
        assert errors == [] and alex_errors == []
    finally:
        for page in (ada, alex, sam):
            page.context.close()
        op(stack, "rules.set", {"last_minutes": 30})


def test_operations_refuse_bad_input_in_plain_words(stack: Any) -> None:
    from console.errors import ConsoleError

    for name, args, words in (
        ("rota.set", {"name": "Sam", "day": "someday", "from": "09:00", "to": "17:00"}, "day"),
        ("rota.set", {"name": "Sam", "day": "mon", "from": "9", "to": "17:00"}, "start time"),
        ("rota.set", {"name": "Nobody", "day": "mon", "from": "09:00", "to": "17:00"}, "no staff"),
        ("rota.except", {"name": "Sam", "date": "tomorrow", "off": True}, "YYYY-MM-DD"),
        ("rules.set", {"last_minutes": -1}, "from 0 to 240"),
        ("rules.set", {"colour": 3}, "no shift rule"),
        ("staff.add", {"name": "Lee", "role": "boss", "password": "long enough pw"}, "role"),
        ("staff.passwd", {"name": "Sam", "password": "short"}, "at least 10 characters"),
        ("staff.role", {"name": "Ada", "role": "worker"}, "only admin"),
        ("codewords.add", {"alias": "main", "word": "another word"}, "rotate it instead"),
        ("codewords.rotate", {"alias": "nope", "word": "another word"}, "no code word"),
        ("replies.edit", {"id": "nope", "title": "x"}, "no such saved reply"),
    ):
        with pytest.raises(ConsoleError, match=words):
            op(stack, name, args)

    # only an admin may run them, from the console's API as from anywhere
    from console.admin import OPERATIONS
    from console.errors import Forbidden

    mine = [
        n
        for n in OPERATIONS
        if n.split(".")[0] in {"staff", "rota", "rules", "replies", "codewords"}
    ]
    assert len(mine) == 21
    for who in ("Kim", "Sam"):
        account = stack.staff[who]
        for name in mine:

            async def as_them(name: str = name, account: Any = account) -> Any:
                return await call(AdminContext.for_node(stack.node, account), name, {})

            with pytest.raises(Forbidden, match="Only an admin"):
                stack.run(as_them())

    # the idle sign-out follows the rules at once (the web sessions of the running console)
    sessions = stack.server.config.app.state.web.sessions
    op(stack, "rules.set", {"idle_minutes": 45, "max_conversations": 4})
    assert sessions.idle == timedelta(minutes=45)
    assert stack.node.workflow.settings.max_active_per_staff == 4
    # a console started on a keystore with stored rules takes its idle time from them
    from console.settings import ConsoleSettings
    from console.web import create_app

    restarted = create_app(stack.node, ConsoleSettings(port=0, idle_signout_minutes=30))
    assert restarted.state.web.sessions.idle == timedelta(minutes=45)
    stack.node.rules_listeners.pop()  # that app is not served
    op(stack, "rules.set", {"idle_minutes": 30, "max_conversations": 3})
    assert sessions.idle == timedelta(minutes=30)
