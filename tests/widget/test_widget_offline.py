"""The widget when no relay answers, and the controls that need no relay at all.

Served by a real ``quietline widget serve`` process whose relay URL points at a closed
loopback port. Covers issue 5 items 1 (relay unreachable: alternatives, not a dead box;
the fallback text without JavaScript), 6 (quick exit: button, Shift x3, cover first,
location.replace so Back does not return), 8 (nothing stored, no request except the
page's own origin and the relay), 10 (keyboard, axe) and 11 (phone and desktop widths)
for these screens, and the Subresource Integrity hashes doing their job in Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import page_errors
from loading import load
from playwright.sync_api import Browser, BrowserContext, Page, Route

harness = load("quietline_widget_harness", "widget/widget_harness.py")

pytestmark = pytest.mark.browser

IDENTITY = harness.Identity(bytes(range(1, 33)))
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def dead_relay() -> str:
    return f"http://127.0.0.1:{harness.free_port()}"


@pytest.fixture(scope="module")
def site(dead_relay: str) -> Iterator[str]:
    with harness.widget_serve(dead_relay, IDENTITY) as base:
        yield base


@pytest.fixture(params=[PHONE, DESKTOP], ids=["phone", "desktop"])
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=request.param)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def tab(context: BrowserContext) -> Page:
    page = context.new_page()
    page.js_errors = page_errors(page)  # type: ignore[attr-defined]
    return page


def test_unreachable_relay_shows_the_alternatives(tab: Page, site: str, dead_relay: str) -> None:
    urls = harness.record_requests(tab)
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")
    assert tab.get_attribute("[data-screen=unavailable]", "data-reason") == "unreachable"
    text = tab.inner_text("[data-screen=unavailable]")
    assert "The chat cannot be reached right now" in text
    for line in harness.FALLBACK_LINES:
        assert line in text
    assert tab.is_visible("[data-screen=unavailable] >> text=Other ways to reach us")
    assert tab.is_visible("button:has-text('Check again')")
    assert tab.is_visible("[data-quietline-exit]")
    assert tab.js_errors == []  # type: ignore[attr-defined]
    harness.assert_only_origins(urls, {site, dead_relay})
    assert any(u.startswith(dead_relay + "/v1/programs/") for u in urls)
    harness.assert_nothing_stored(tab)
    harness.assert_accessible(tab, "unreachable")


def test_check_again_by_keyboard_still_shows_alternatives(tab: Page, site: str) -> None:
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")
    harness.tab_to(tab, "Check again")
    tab.keyboard.press("Enter")
    harness.screen(tab, "unavailable")
    # After a keyboard action the new screen's heading takes focus, for screen readers.
    tab.wait_for_function("document.activeElement?.classList.contains('quietline-heading')")


def test_fallback_is_readable_without_javascript(browser: Browser, site: str) -> None:
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        page.goto(site + "/")
        for line in harness.FALLBACK_LINES:
            assert page.is_visible(f"text={line}")
    finally:
        ctx.close()


def test_changed_widget_file_does_not_run(tab: Page, site: str, dead_relay: str) -> None:
    """A file that differs from its integrity hash is refused; the fallback stays."""
    urls = harness.record_requests(tab)

    def tamper(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text() + "\n// changed\n")

    tab.route("**/widget/ui/app.js", tamper)
    tab.goto(site + "/")
    tab.wait_for_load_state("load")
    for line in harness.FALLBACK_LINES:
        assert tab.is_visible(f"text={line}")
    assert tab.query_selector("[data-screen]") is None
    assert not any(u.startswith(dead_relay) for u in urls)


def _open_from_previous_page(tab: Page, site: str) -> None:
    tab.goto(site + "/neutral.html?before-chat")
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")


def test_quick_exit_button_replaces_the_page(tab: Page, site: str) -> None:
    _open_from_previous_page(tab, site)
    tab.click("[data-quietline-exit]")
    tab.wait_for_url(site + "/neutral.html")
    tab.go_back()
    assert tab.url == site + "/neutral.html?before-chat"  # Back skips the chat page
    harness.assert_nothing_stored(tab)


def test_triple_shift_quick_exit(tab: Page, site: str) -> None:
    _open_from_previous_page(tab, site)
    for _ in range(3):
        tab.keyboard.press("Shift")
    tab.wait_for_url(site + "/neutral.html")
    tab.go_back()
    assert tab.url == site + "/neutral.html?before-chat"
    harness.assert_nothing_stored(tab)


def test_shift_interrupted_by_typing_does_not_exit(tab: Page, site: str) -> None:
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")
    for key in ["Shift", "Shift", "a", "Shift"]:
        tab.keyboard.press(key)
    tab.keyboard.press("Tab")  # any further key: still here
    assert tab.url == site + "/"
    assert tab.query_selector(".quietline-cover") is None


def test_quick_exit_covers_the_page_before_leaving(tab: Page, site: str) -> None:
    """In the same task as the click, before any navigation: the page is covered."""
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")
    state = tab.evaluate("""() => {
      document.querySelector('[data-quietline-exit]').click();
      const cover = document.querySelector('.quietline-cover');
      const rect = cover?.getBoundingClientRect();
      return {
        cover: Boolean(cover),
        coverVisible: cover ? getComputedStyle(cover).visibility : null,
        coversViewport: Boolean(rect) && rect.width >= innerWidth && rect.height >= innerHeight,
        main: getComputedStyle(document.querySelector('main')).visibility,
        widgetScreens: document.querySelectorAll('[data-screen]').length,
        title: document.title.trim(),
      };
    }""")
    assert state.pop("title").strip("\u200b ") == ""  # the tab no longer names the program
    assert state == {
        "cover": True,
        "coverVisible": "visible",
        "coversViewport": True,
        "main": "hidden",
        "widgetScreens": 0,
    }
    tab.wait_for_url(site + "/neutral.html")


def test_quick_exit_reachable_by_keyboard(tab: Page, site: str) -> None:
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")
    harness.tab_to(tab, "Quick exit")
    tab.keyboard.press("Enter")
    tab.wait_for_url(site + "/neutral.html")


def test_loading_screen_is_accessible(tab: Page, site: str) -> None:
    held: list[Route] = []
    tab.route("**/v1/programs/**", lambda route: held.append(route))  # the check waits
    tab.goto(site + "/")
    harness.screen(tab, "loading")
    harness.assert_accessible(tab, "loading")
    harness.assert_exit_visible(tab)
    assert len(held) == 1
    held[0].abort()
    harness.screen(tab, "unavailable")


def test_page_policy_refuses_any_other_connection(tab: Page, site: str) -> None:
    """The CSP sent with the page lets scripts reach the relay and nothing else, registers
    no worker, and refuses every HTML-from-string sink (Trusted Types)."""
    tab.goto(site + "/")
    harness.screen(tab, "unavailable")
    elsewhere = f"http://127.0.0.1:{harness.free_port()}/"
    outcome = tab.evaluate(
        """async (url) => {
      const violations = [];
      const first = new Promise((resolve) => {
        document.addEventListener('securitypolicyviolation', (e) => {
          violations.push(e.violatedDirective);
          resolve();
        });
      });
      let fetched = 'sent';
      try { await fetch(url); } catch { fetched = 'refused'; }
      let socket = 'opened';
      try { new WebSocket(url.replace('http', 'ws')); } catch { socket = 'refused'; }
      // Wait for the report event itself (a failure path gives up after 5 s).
      await Promise.race([first, new Promise((r) => setTimeout(r, 5000))]);
      const workers = typeof navigator.serviceWorker?.register === 'function'
        ? await navigator.serviceWorker.register('/widget/quietline-widget.js')
            .then(() => 'registered', () => 'refused')
        : 'absent';
      let html = 'parsed';
      try { document.createElement('div').innerHTML = '<img src=x>'; } catch { html = 'refused'; }
      return {fetched, socket, workers, html, violations: [...new Set(violations)].sort()};
    }""",
        elsewhere,
    )
    assert outcome["fetched"] == "refused"
    assert outcome["socket"] == "refused" or "connect-src" in outcome["violations"]
    assert outcome["workers"] in {"refused", "absent"}
    assert "connect-src" in outcome["violations"]
    assert outcome["html"] == "refused"  # Trusted Types: no HTML string sink at all
