"""Issue 16: the participant always knows what is happening, survives a dead spot, and is
never turned away by mistake.

The same real pieces as ``test_widget_chat.py`` (its ``live`` fixture: a relay process, a
``ProgramClient``, the sample page from ``quietline widget serve``, a hostile relay in
front of the real one), Debian's Chromium, at 320x568 and 390x844 (phones) and 1280x800.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize


def _load(name: str, file: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    assert spec is not None and spec.loader is not None
    if name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = _load("quietline_widget_harness", "widget_harness.py")
chat = _load("quietline_widget_chat_module", "test_widget_chat.py")
from client_sdk import events as ev  # noqa: E402

live = chat.live  # the module-scoped live pieces (fixtures, re-used by name)
desktop_tab = chat.desktop_tab
Live = chat.Live

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMALL_PHONE = {"width": 320, "height": 568}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SIZES = [SMALL_PHONE, PHONE, DESKTOP]
SIZE_IDS = ["320x568", "390x844", "1280x800"]


@pytest.fixture(params=SIZES, ids=SIZE_IDS)
def sized_tab(browser: Browser, live: Any, request: pytest.FixtureRequest) -> Iterator[Page]:
    size = request.param
    with chat._open_tab(browser, live, ViewportSize(width=size["width"],
                                                    height=size["height"])) as page:
        yield page


@pytest.fixture
def small_tab(browser: Browser, live: Any) -> Iterator[Page]:
    with chat._open_tab(browser, live, ViewportSize(width=320, height=568)) as page:
        yield page


# -- layout checks ----------------------------------------------------------------------

UNCOVERED = """() => {
  const barNode = document.querySelector('.quietline-exit-bar');
  const bar = barNode.getBoundingClientRect();
  const problems = [];
  const controls = document.querySelectorAll(
    '[data-quietline-exit], .quietline-body button, .quietline-body input,'
    + ' .quietline-body textarea, .quietline-body a, .quietline-body [tabindex="0"]');
  for (const c of controls) {
    if (c.closest('[hidden]') || c.getClientRects().length === 0) continue;
    c.scrollIntoView({block: 'center', inline: 'nearest'});
    const r = c.getBoundingClientRect();
    const name = (c.textContent || c.tagName).trim().slice(0, 40);
    if (r.left < 0 || r.right > innerWidth + 1) problems.push(`${name}: off screen sideways`);
    const x = r.left + r.width / 2;
    const inBar = barNode.contains(c);
    const y = inBar ? r.top + r.height / 2
      : Math.max(r.top, bar.bottom) + Math.min(r.height, innerHeight - bar.bottom) / 2;
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === c || c.contains(hit))) {
      problems.push(`${name}: covered by ${hit?.className}`);
    }
    if (!inBar && r.top < bar.bottom - 1 && r.bottom - r.top < innerHeight - bar.bottom) {
      problems.push(`${name}: under the quick exit bar`);
    }
  }
  return {problems, count: controls.length};
}"""


def assert_phone_first(page: Page, what: str) -> None:
    """Nothing sideways, quick exit at the top, every control reachable and uncovered."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, f"{what}: page is {overflow}px wider than the viewport"
    box = page.locator("[data-quietline-exit]").bounding_box()
    assert box is not None and box["y"] < 16, f"{what}: quick exit not at the top"
    result = page.evaluate(UNCOVERED)
    assert result["count"] > 0
    assert result["problems"] == [], f"{what}: {result['problems']}"
    page.evaluate("() => scrollTo(0, document.body.scrollHeight)")
    after = page.locator("[data-quietline-exit]").bounding_box()
    assert after is not None and after["y"] == box["y"], f"{what}: quick exit scrolled away"


def assert_composer_in_view(page: Page) -> None:
    """The message box and Send are inside the viewport, below the exit bar, as they are."""
    state = page.evaluate("""() => {
      const bar = document.querySelector('.quietline-exit-bar').getBoundingClientRect();
      const inView = (el) => { const r = el.getBoundingClientRect();
        return r.top >= bar.bottom - 1 && r.bottom <= innerHeight + 1; };
      const send = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Send');
      return {box: inView(document.querySelector('textarea')), send: inView(send)};
    }""")
    assert state == {"box": True, "send": True}, state


def walk_to_chat(page: Page, live: Any, check: Any) -> str:
    page.goto(live.site + "/")
    harness.screen(page, "start")
    check("start")
    page.click("text=Start a chat")
    harness.screen(page, "notice")
    check("notice")
    page.click("text=I have read this, continue")
    harness.screen(page, "questions")
    check("questions")
    page.click("text=Skip all questions and start the chat")
    harness.screen(page, "chat")
    return str(live.program.wait(lambda e: isinstance(e, ev.NewConversation)).conversation_id)


# -- item 6: phone first ------------------------------------------------------------------


def test_every_screen_fits_and_nothing_is_covered(sized_tab: Page, live: Any) -> None:
    page = sized_tab

    def check(what: str) -> None:
        assert_phone_first(page, what)
        harness.assert_accessible(page, what)

    cid = walk_to_chat(page, live, check)
    assert_composer_in_view(page)
    for i in range(15):
        live.program.call(live.program.client.send, cid, f"Message number {i} from the program.")
    chat.wait_log_text(page, "Message number 14 from the program.")
    # After many messages the log scrolls inside; the box and Send have not moved away.
    assert_composer_in_view(page)
    page.focus("textarea")
    assert_composer_in_view(page)
    check("chat")
    page.click("button:has-text('End chat')")
    check("chat, asking before ending")
    page.click("button:has-text('Yes, end the chat')")
    harness.screen(page, "ended")
    check("ended")


def test_text_at_200_percent_reflows_at_320_px(small_tab: Page, live: Any) -> None:
    """Browser text size at 200% (the root font size the widget's rem units follow):
    still no sideways scrolling at 320 CSS px and every control reachable."""
    page = small_tab
    page.goto(live.site + "/")
    harness.screen(page, "start")
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    size = page.evaluate("() => getComputedStyle(document.querySelector('.quietline-exit'))"
                         ".fontSize")
    assert size == "32px"  # the widget's text did follow

    def check(what: str) -> None:
        assert_phone_first(page, f"{what} at 200%")

    check("start")
    page.click("text=Start a chat")
    harness.screen(page, "notice")
    check("notice")
    page.click("text=I have read this, continue")
    page.click("text=Skip all questions and start the chat")
    harness.screen(page, "chat")
    live.program.wait(lambda e: isinstance(e, ev.NewConversation))
    check("chat")
    harness.end_chat(page)
    harness.screen(page, "ended")


def test_end_chat_asks_first_and_looks_unlike_duress(desktop_tab: Page, live: Any) -> None:
    page = desktop_tab
    cid = chat.open_chat(page, live)
    look = page.evaluate("""() => {
      const b = [...document.querySelectorAll('button')];
      const end = b.find((x) => x.textContent === 'End chat');
      const duress = b.find((x) => x.textContent === 'Someone is here');
      const s = (x) => getComputedStyle(x);
      const re = end.getBoundingClientRect(), rd = duress.getBoundingClientRect();
      return {bg: [s(end).backgroundColor, s(duress).backgroundColor],
              border: [s(end).borderTopStyle, s(duress).borderTopStyle],
              gap: Math.max(re.left - rd.right, rd.left - re.right, re.top - rd.bottom,
                            rd.top - re.bottom)};
    }""")
    assert look["bg"][0] != look["bg"][1]
    assert look["border"][0] != look["border"][1]
    assert look["gap"] >= 16  # not side by side
    page.click("button:has-text('End chat')")
    assert page.is_visible("text=End this chat now?")
    assert harness.active_name(page) == "Yes, end the chat"
    harness.assert_accessible(page, "asking before ending")
    page.click("button:has-text('No, keep chatting')")
    assert not page.is_visible("text=End this chat now?")
    assert harness.active_name(page) == "End chat"
    # Nothing was ended: the chat still works both ways.
    chat.send_from_widget(page, "still here")
    got = live.program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
    assert got.text == "still here"
    assert cid in live.program.client.conversations
    harness.end_chat(page)
    harness.screen(page, "ended")
    live.program.wait(lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid)


def test_rights_link_opens_in_the_same_tab(desktop_tab: Page, live: Any) -> None:
    page = desktop_tab
    more = live.site + "/neutral.html?rights"
    profile = dict(live.profile, notice=dict(live.profile["notice"], more_url=more))
    live.program.call(live.program.client.publish_profile, profile)
    try:
        page.goto(live.site + "/")
        page.click("text=Start a chat")
        harness.screen(page, "notice")
        link = page.locator("a:has-text('More about how we handle information')")
        assert link.get_attribute("href") == more
        assert link.get_attribute("target") in (None, "", "_self")
        pages_before = len(page.context.pages)
        link.click()
        page.wait_for_url(more)
        assert len(page.context.pages) == pages_before  # no tab left behind a quick exit
    finally:
        live.program.call(live.program.client.publish_profile, live.profile)
