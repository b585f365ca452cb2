"""Issue 16: the participant always knows what is happening, survives a dead spot, and is
never turned away by mistake.

The same real pieces as ``test_widget_chat.py`` (its ``live`` fixture: a relay process, a
``ProgramClient``, the sample page from ``quietline widget serve``, a hostile relay in
front of the real one), Debian's Chromium, at 320x568 and 390x844 (phones) and 1280x800.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from loading import load
from playwright.sync_api import Browser, Page, ViewportSize

harness = load("quietline_widget_harness", "widget/widget_harness.py")
chat = load("quietline_widget_chat_module", "widget/test_widget_chat.py")
from client_sdk import events as ev  # noqa: E402

live = chat.live  # the module-scoped live pieces (fixtures, re-used by name)
desktop_tab = chat.desktop_tab
tab = chat.tab
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
    with chat._open_tab(
        browser, live, ViewportSize(width=size["width"], height=size["height"])
    ) as page:
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
    const r = c.getClientRects()[0];  // the first line of a link that wraps
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
    size = page.evaluate(
        "() => getComputedStyle(document.querySelector('.quietline-exit')).fontSize"
    )
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


MORE_TEXT = (
    "We keep no transcript of the chat.\n\nOur staff see your messages only while the chat is open."
)

DIALOG_STATE = """() => {
  const d = document.querySelector('[role=dialog]');
  if (!d) return null;
  const label = document.getElementById(d.getAttribute('aria-labelledby'));
  return {modal: d.getAttribute('aria-modal'), label: label?.textContent,
          focusInside: d.contains(document.activeElement),
          links: document.querySelectorAll('.quietline-body a[href]').length,
          text: d.innerText};
}"""


@contextlib.contextmanager
def _published(live: Any, **changes: Any) -> Iterator[None]:
    """The program publishes its profile with ``changes``; the original after the test."""
    profile = dict(live.profile, **changes)
    live.program.call(live.program.client.publish_profile, profile)
    try:
        yield
    finally:
        live.program.call(live.program.client.publish_profile, live.profile)


def _open_more(page: Page, live: Any) -> None:
    page.goto(live.site + "/neutral.html?before-chat")
    page.goto(live.site + "/")
    page.click("text=Start a chat")
    harness.screen(page, "notice")
    page.click("button:has-text('More about how we handle information')")
    page.wait_for_selector("[role=dialog]")


def test_rights_more_opens_in_a_dialog_in_the_widget(desktop_tab: Page, live: Any) -> None:
    """The program's longer text in an accessible dialog inside the widget: no link, no
    new tab, no frame; Tab stays inside, Escape closes and gives focus back."""
    page = desktop_tab
    more = live.site + "/neutral.html?rights"
    notice = dict(live.profile["notice"], more_url=more, more_text=MORE_TEXT)
    with _published(live, notice=notice):
        pages_before = len(page.context.pages)
        _open_more(page, live)
        state = page.evaluate(DIALOG_STATE)
        assert state["modal"] == "true"
        assert state["label"] == "More about how we handle information"
        assert state["focusInside"] and state["links"] == 0
        assert "We keep no transcript of the chat." in state["text"]
        assert "only while the chat is open" in state["text"]
        assert more in state["text"]  # the address as text, with advice
        assert "copy the address" in state["text"]
        assert page.query_selector("iframe") is None
        harness.assert_accessible(page, "rights notice, more (dialog)")
        for _ in range(6):  # Tab and Shift+Tab stay inside the dialog
            page.keyboard.press("Tab")
            assert page.evaluate(DIALOG_STATE)["focusInside"]
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(DIALOG_STATE)["focusInside"]
        page.keyboard.press("Escape")
        assert page.query_selector("[role=dialog]") is None
        assert harness.active_name(page) == "More about how we handle information"
        harness.screen(page, "notice")
        page.keyboard.press("Enter")  # opened again by keyboard, closed with Close
        page.wait_for_selector("[role=dialog]")
        page.click("[role=dialog] button:has-text('Close')")
        assert page.query_selector("[role=dialog]") is None
        assert len(page.context.pages) == pages_before
        assert not any(u.startswith(more) for u in page.urls)  # type: ignore[attr-defined]
        assert page.url == live.site + "/"


def test_rights_dialog_fits_a_small_phone(small_tab: Page, live: Any) -> None:
    """At 320x568 with a long text: the dialog scrolls inside itself, below the quick
    exit bar, and each of its controls can be reached and is not covered."""
    page = small_tab
    notice = dict(live.profile["notice"], more_text="\n\n".join([MORE_TEXT] * 12))
    with _published(live, notice=notice):
        _open_more(page, live)
        state = page.evaluate("""() => {
          const bar = document.querySelector('.quietline-exit-bar').getBoundingClientRect();
          const d = document.querySelector('[role=dialog]');
          const box = d.getBoundingClientRect();
          const problems = [];
          for (const c of d.querySelectorAll('button')) {
            c.scrollIntoView({block: 'center'});
            const r = c.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            if (hit !== c && !c.contains(hit)) problems.push(c.textContent + ': covered');
            if (r.left < 0 || r.right > innerWidth) problems.push(c.textContent + ': sideways');
          }
          return {problems, below: box.top >= bar.bottom - 1, inside: box.bottom <= innerHeight,
                  scrolls: d.scrollHeight > d.clientHeight,
                  wide: document.documentElement.scrollWidth - innerWidth};
        }""")
        assert state == {
            "problems": [],
            "below": True,
            "inside": True,
            "scrolls": True,
            "wide": 0,
        }, state
        harness.assert_exit_visible(page)
        harness.assert_accessible(page, "rights dialog at 320x568")


@pytest.mark.parametrize("how", ["button", "shift", "dialog_button"])
def test_quick_exit_covers_the_rights_dialog(desktop_tab: Page, live: Any, how: str) -> None:
    """Only an address (no longer text): shown as text, and Quick exit leaves from the
    open dialog like from anywhere else; Back does not return."""
    page = desktop_tab
    more = live.site + "/neutral.html?rights"
    with _published(live, notice=dict(live.profile["notice"], more_url=more)):
        _open_more(page, live)
        text = page.inner_text("[role=dialog]")
        assert "We explain this in more detail on our website" in text
        assert more in text
        if how == "button":
            page.click("[data-quietline-exit]")  # the page's bar, above the dialog
        elif how == "dialog_button":
            page.click("[data-quietline-dialog-exit]")
        else:
            for _ in range(3):
                page.keyboard.press("Shift")
        page.wait_for_url(live.site + "/neutral.html")
        page.go_back()
        assert page.url == live.site + "/neutral.html?before-chat"
        harness.assert_nothing_stored(page)
        assert not any(u.startswith(more) for u in page.urls)  # type: ignore[attr-defined]


# -- item 7: plain words ------------------------------------------------------------------

MODULES = """async () => {
  window.H = await import('/widget/ui/hours.js');
  window.T = await import('/widget/ui/text.js');
}"""


@pytest.fixture
def modules_page(page: Page, widget_static_server: str) -> Page:
    page.goto(f"{widget_static_server}/pages/protocol.html")
    page.wait_for_function("window.__ready === true", timeout=10_000)
    page.evaluate(MODULES)
    return page


def _describe(page: Page, hours: dict[str, Any], lang: str = "en") -> list[str]:
    return list(
        page.evaluate(
            "([h, lang]) => H.describeHours(H.parseHours(h), T.LANGUAGES[lang])", [hours, lang]
        )
    )


def test_hours_are_said_as_people_say_them(modules_page: Page) -> None:
    page = modules_page
    assert _describe(page, chat.ALWAYS_OPEN) == ["Open 24 hours, every day"]
    office = {
        "timezone": "America/New_York",
        "weekly": [
            *({"day": d, "open": "09:00", "close": "17:00"} for d in range(5)),
            {"day": 5, "open": "10:00", "close": "12:00"},
            {"day": 6, "open": "18:30", "close": "24:00"},
        ],
    }
    assert _describe(page, office) == [
        "Monday to Friday: 9 am to 5 pm",
        "Saturday: 10 am to midday",
        "Sunday: 6:30 pm to midnight",
    ]
    weekend = {
        "timezone": "UTC",
        "weekly": [
            {"day": 5, "open": "00:00", "close": "24:00"},
            {"day": 6, "open": "00:00", "close": "24:00"},
        ],
    }
    assert _describe(page, weekend) == [
        "Monday to Friday: closed",
        "Saturday and Sunday: open 24 hours",
    ]
    assert _describe(page, office, "fr")[0] == "Du lundi au vendredi : de 09:00 à 17:00"
    assert _describe(page, office, "es")[0] == "De lunes a viernes: de 09:00 a 17:00"
    names = page.evaluate(
        "() => ['America/New_York', 'Europe/London', 'UTC'].map((z) => H.zoneName('en', z))"
    )
    assert names[0] == "Eastern Time"
    assert "Europe/London" not in names[1] and "Time" in names[1]
    assert names[2] == "Coordinated Universal Time"


def test_every_language_has_every_text(modules_page: Page) -> None:
    result = modules_page.evaluate("""() => {
      const langs = Object.keys(T.LANGUAGES);
      const keys = (o) => Object.keys(o).sort().join(',');
      const en = T.LANGUAGES.en;
      return {langs, same: langs.every((l) => keys(T.LANGUAGES[l]) === keys(en)),
              kinds: langs.every((l) => Object.keys(en).every(
                (k) => typeof T.LANGUAGES[l][k] === typeof en[k])),
              picked: ['fr-CA', 'es', 'de', '', 'ES-mx'].map((t) => T.chooseLanguage(t)),
              one: T.plural('en', 1, {one: '{n} person', other: '{n} people'}),
              two: T.plural('en', 2, {one: '{n} person', other: '{n} people'})};
    }""")
    assert result["langs"] == ["en", "fr", "es"]
    assert result["same"] and result["kinds"]
    assert result["picked"] == ["fr", "es", "en", "en", "es"]
    assert (result["one"], result["two"]) == ("1 person", "2 people")


@pytest.mark.parametrize(
    ("lang", "start", "exit_label"),
    [
        ("fr", "Commencer la discussion", "Sortie rapide"),
        ("es", "Empezar un chat", "Salida rápida"),
    ],
)
def test_widget_speaks_the_pages_language(
    desktop_tab: Page, live: Any, lang: str, start: str, exit_label: str
) -> None:
    page = desktop_tab

    # The page's own <html lang> as a program would write it (set before the widget runs).
    page.add_init_script(
        "new MutationObserver((_, o) => { if (document.documentElement) {"
        f" document.documentElement.lang = '{lang}'; o.disconnect(); }} }})"
        ".observe(document, {childList: true});"
    )
    page.goto(live.site + "/")
    harness.screen(page, "start")
    assert page.inner_text("[data-quietline-exit]") == exit_label
    assert page.is_visible(f"button:has-text('{start}')")
    assert "Harbour Support Line" in page.inner_text("[data-screen=start]")  # the program's own
    harness.assert_accessible(page, f"start ({lang})")


def _page_lang(page: Page, lang: str | None) -> None:
    """The sample page's own ``<html lang>`` changed (or removed) before the widget runs."""
    change = "removeAttribute('lang')" if lang is None else f"lang = '{lang}'"
    page.add_init_script(
        "new MutationObserver((_, o) => { if (document.documentElement) {"
        f" document.documentElement.{change}; o.disconnect(); }} }})"
        ".observe(document, {childList: true});"
    )


@pytest.mark.parametrize(
    ("page_lang", "expected"),
    [(None, "es"), ("fr", "fr"), ("de", "es")],
    ids=["no-lang", "page-wins", "unshipped-page-lang"],
)
def test_widget_speaks_the_profiles_language_when_the_page_names_none(
    desktop_tab: Page, live: Any, page_lang: str | None, expected: str
) -> None:
    page = desktop_tab
    _page_lang(page, page_lang)
    words = {
        "es": ("Salida rápida", "Empezar un chat"),
        "fr": ("Sortie rapide", "Commencer la discussion"),
    }
    with _published(live, language="es"):
        page.goto(live.site + "/")
        harness.screen(page, "start")
        exit_label, start = words[expected]
        assert page.inner_text("[data-quietline-exit]") == exit_label
        assert page.is_visible(f"button:has-text('{start}')")
        widget_lang = page.get_attribute(".quietline-app", "lang")
        assert widget_lang == ("es" if expected == "es" else None)
        if page_lang is not None:  # a page without lang is the page's own axe finding
            harness.assert_accessible(page, f"start (page {page_lang}, profile es)")
        if expected == "es":
            page.click(f"button:has-text('{start}')")
            harness.screen(page, "notice")
            assert page.is_visible("text=Lo he leído, continuar")


def test_mistyped_key_tells_the_admin_not_the_participant(desktop_tab: Page, live: Any) -> None:
    """A snippet whose identity key was edited by hand (one character wrong): the console
    tells the page's admin, the participant sees the other ways to reach the program,
    and no request goes to the relay. (``quietline widget snippet`` itself refuses a key
    that does not match the program id, so the page is changed the way a hand edit would.)"""
    page = desktop_tab
    key = bytearray(chat.live_mod.b64u_decode(live.program.enrolled.identity_key))
    key[5] ^= 0x20
    mistyped = chat.live_mod.b64u_encode(bytes(key))
    page.add_init_script(
        "document.addEventListener('readystatechange', () => {"
        " if (document.readyState !== 'interactive') return;"
        f" document.querySelector('[data-quietline]').dataset.identityKey = '{mistyped}'; }});"
    )
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.goto(live.site + "/")
    harness.screen(page, "unavailable")
    assert page.get_attribute("[data-quietline]", "data-identity-key") == mistyped
    assert page.get_attribute("[data-screen=unavailable]", "data-reason") == "setup"
    text = page.inner_text("body")
    assert "interfering" not in text and "protect" not in text
    for line in harness.FALLBACK_LINES:
        assert line in text
    assert any(m.startswith("error: Quietline widget: data-program-id") for m in messages)
    urls = page.urls  # type: ignore[attr-defined]
    assert not any(u.startswith(live.relay.url) for u in urls)  # found before asking
    harness.assert_accessible(page, "setup problem")


# -- item 3: busy means you can wait ------------------------------------------------------


def test_busy_lets_the_participant_start_and_wait(desktop_tab: Page, live: Any) -> None:
    page = desktop_tab
    program = live.program
    program.call(program.client.set_status, "busy")
    try:
        page.goto(live.site + "/")
        harness.screen(page, "start")
        text = page.inner_text("[data-screen=start]")
        assert "You can start the chat and wait" in text
        assert "The chat is open now." not in text  # one status, the one that applies
        assert "Check again" not in text
        harness.assert_accessible(page, "start (busy)")
        cid = chat.open_chat(page, live)
        chat.send_from_widget(page, "waiting in the queue")
        got = program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
        assert got.text == "waiting in the queue"
        harness.end_chat(page)
        harness.screen(page, "ended")
    finally:
        program.call(program.client.set_status, None)


# -- item 4: a useful ending --------------------------------------------------------------


def test_alternatives_become_tappable_links(modules_page: Page) -> None:
    got = modules_page.evaluate("""async () => {
      const S = await import('/widget/ui/screens.js');
      return [['Phone, 24 hours', '1-800-555-0199'], ['Text us', '+1 555 0101'],
              ['Email', 'help@example.org'], ['Office', '12 Harbour Street'],
              ['Web', 'https://example.org/help']]
        .map(([l, v]) => S.alternativeHref(l, v));
    }""")
    assert got == ["tel:18005550199", "sms:+15550101", "mailto:help@example.org", None, None]


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("done", "The support worker ended the chat."),
        ("inactivity", "The chat ended because we had not heard from you for a while."),
    ],
)
def test_ending_says_why_and_what_next(tab: Page, live: Any, reason: str, said: str) -> None:
    page = tab
    cid = chat.open_chat(page, live)
    live.program.call(live.program.client.send, cid, "a message that must not stay")
    chat.wait_log_text(page, "a message that must not stay")
    live.program.call(live.program.client.close, cid, reason)
    harness.screen(page, "ended")
    text = page.inner_text("[data-screen=ended]")
    assert said in text
    closing = chat.wf.CannedNotices().closing
    assert closing in text  # the program's closing text stays on screen
    assert "a message that must not stay" not in page.inner_text("body")
    assert page.query_selector(".quietline-log") is None
    assert page.get_attribute("a:has-text('1-800-555-0199')", "href") == "tel:18005550199"
    assert "History" in text and "private window" in text
    harness.assert_accessible(page, "ended (by the program)")
    page.click("button:has-text('Start a new chat')")
    harness.screen(page, "start")
    page.click("text=Start a chat")
    harness.screen(page, "notice")


def test_participant_ending_says_so(desktop_tab: Page, live: Any) -> None:
    page = desktop_tab
    chat.open_chat(page, live)
    harness.end_chat(page)
    harness.screen(page, "ended")
    text = page.inner_text("[data-screen=ended]")
    assert "You ended the chat." in text
    assert page.is_visible("button:has-text('Start a new chat')")


# -- item 8: leaving ends it ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["navigate", "close tab"])
def test_leaving_the_page_tells_the_program(browser: Browser, live: Any, how: str) -> None:
    context = browser.new_context(viewport=ViewportSize(width=1280, height=800))
    try:
        page = context.new_page()
        live.program.drain()
        cid = chat.open_chat(page, live)
        chat.send_from_widget(page, "I have to go")
        live.program.wait(lambda e: isinstance(e, ev.Message) and e.conversation_id == cid)
        if how == "navigate":
            page.goto(live.site + "/neutral.html")
        else:
            page.close()
        left = live.program.wait(
            lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid,
            timeout=10,
        )
        assert left.reason == "closed"
        live.program.wait(
            lambda e: isinstance(e, ev.ConversationClosedEvent) and e.conversation_id == cid
        )
        assert cid not in live.program.client.conversations
    finally:
        context.close()


# -- item 1: survive a dead spot: test_widget_outage.py (the real relay process, stopped) --


# -- item 5: one safety check-in -------------------------------------------------------------


def test_one_safety_check_in(desktop_tab: Page, live: Any) -> None:
    """The widget shows the profile's check-in first; the node sends the same text (not
    its built-in one), so the participant reads it once."""
    page = desktop_tab
    cid = chat.open_chat(page, live)
    # The node sent its check-in when the conversation arrived; a message after it shows
    # that everything before it has been received and handled.
    live.program.call(live.program.client.send, cid, "after the check-in")
    chat.wait_log_text(page, "after the check-in")
    check_ins = [i for i in chat.log_items(page) if i["notice"] == "safety_check_in"]
    assert [i["text"] for i in check_ins] == [live.profile["safety_check_in"]]
    harness.end_chat(page)
    harness.screen(page, "ended")


# -- item 2: what is happening, end to end encrypted -------------------------------------------


def _status(page: Page) -> str:
    return str(page.inner_text(".quietline-chat-status"))


def test_queue_joined_typing_and_delivered(browser: Browser, desktop_tab: Page, live: Any) -> None:
    from client_sdk import progress

    first = desktop_tab
    cid_a = chat.open_chat(first, live)
    first.wait_for_function(
        "() => document.querySelector('.quietline-chat-status').textContent"
        ".includes('You are next')",
        timeout=15_000,
    )
    second_context = browser.new_context(viewport=ViewportSize(width=390, height=844))
    try:
        second = second_context.new_page()
        cid_b = chat.open_chat(second, live)
        second.wait_for_function(
            "() => document.querySelector('.quietline-chat-status').textContent"
            ".includes('There is 1 person ahead of you')",
            timeout=15_000,
        )
        harness.assert_accessible(second, "chat, waiting in the queue")
        # The check-in (a notice) did not take the waiting line away.
        assert "You are next" in _status(first)

        live.program.call(live.program.client.claim, cid_a, "sam")
        chat.wait_log_text(first, "Sam has joined the chat.")
        second.wait_for_function(
            "() => document.querySelector('.quietline-chat-status').textContent"
            ".includes('You are next')",
            timeout=15_000,
        )
        assert "You are next" not in _status(first)

        assert live.program.call(progress.send_typing, live.program.client, cid_a) is True
        first.wait_for_function(
            "() => document.querySelector('.quietline-chat-status').textContent"
            " === 'Sam is writing...'",
            timeout=15_000,
        )
        live.program.call(live.program.client.send, cid_a, "Hello, I'm here.")
        chat.wait_log_text(first, "Hello, I'm here.")
        assert "writing" not in _status(first)
        sender = first.eval_on_selector_all(
            ".quietline-from-program .quietline-sender", "nodes => nodes.map((n) => n.textContent)"
        )
        assert sender == ["Sam"]

        chat.send_from_widget(first, "thank you")
        first.wait_for_function(
            "() => [...document.querySelectorAll('.quietline-from-me')]"
            ".every((n) => n.dataset.delivered === 'true'"
            " && n.querySelector('.quietline-msg-state').textContent === 'Delivered')",
            timeout=15_000,
        )
        harness.assert_accessible(first, "chat, joined and delivered")
        harness.end_chat(second)
        live.program.wait(
            lambda e: isinstance(e, ev.ParticipantLeft) and e.conversation_id == cid_b
        )
    finally:
        second_context.close()
