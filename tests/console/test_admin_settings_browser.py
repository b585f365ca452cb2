"""Issue 17's settings in Chromium, everything real on 127.0.0.1: an admin changes the
hours, the rights notice and a question on the console's profile page (with the widget's
own live preview), and a participant in another browser, on the real widget, sees the
new ones (the widget shows only what verified against the pinned key; the test checks
the signature too); the previous version is restored; an outage is set and cleared; a
website origin added on the Website page lets a page that was refused connect (before:
the widget's admin diagnostic in the browser console). Each page is scanned with axe."""

from __future__ import annotations

import datetime
import http.server
import threading
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chromium import page_errors
from loading import load
from playwright.sync_api import Browser, Page, expect
from published import served

from quietline import widget_cli as w

harness = load("quietline_console_web_harness", "console/web_harness.py")
widget = load("quietline_widget_harness", "widget/widget_harness.py")
STAFF = [("Ada", "admin")]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NEW_VOLUNTARY = "You choose whether to talk with us, and you can stop whenever you like."
NEW_QUESTION = "Which town are you in?"
NEW_WHY = "So we can tell you about help near you."
pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with harness.console_stack(tmp_path_factory.mktemp("console-settings"), STAFF) as s:
        yield s


@pytest.fixture
def admin(browser: Browser, stack: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors = page_errors(page)
    harness.sign_in(page, stack.url, "Ada")
    try:
        yield page
    finally:
        context.close()
    assert errors == []


@pytest.fixture
def participant(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    try:
        yield page, messages
    finally:
        context.close()


def live(page: Page) -> Any:
    return page.locator("#admin-status")


def test_profile_changes_reach_the_participant(
    admin: Page, participant: tuple[Page, list[str]], stack: Any, site: str
) -> None:
    visitor, _ = participant
    visitor.goto(site + "/")
    widget.screen(visitor, "start")
    old_voluntary = harness.profile(site)["notice"]["voluntary"]

    admin.goto(stack.url + "/admin/profile")
    expect(admin.locator("#p-name")).to_have_value("Harbour Support Line")
    preview = admin.locator("#preview")
    expect(preview.locator("[data-screen=start] .quietline-heading")).to_have_text(
        "Harbour Support Line"
    )
    widget.assert_accessible(admin, "admin profile page")

    # the rights notice: one part
    admin.get_by_label("Talking with us is voluntary").fill(NEW_VOLUNTARY)
    admin.get_by_label("More about your rights, shown inside the chat window (optional)").fill(
        "Your rights, at length."
    )
    admin.get_by_label("Language of your texts").select_option("en")
    # a question with its reason
    admin.get_by_role("button", name="Add a question").click()
    row = admin.locator("#p-questions .profile-row").last
    row.get_by_label("Short id").fill("town")
    row.get_by_label("Question", exact=True).fill(NEW_QUESTION)
    row.get_by_label("Why we ask it").fill(NEW_WHY)
    # the hours: Paris time, every day around the clock except one far from today
    zone = "Europe/Paris"
    today = datetime.datetime.now(ZoneInfo(zone)).weekday()
    closed_day = (today + 3) % 7
    admin.get_by_label("Time zone").fill(zone)
    hours = admin.locator("#p-hours .profile-row")
    expect(hours).to_have_count(7)
    hours.nth(closed_day).get_by_role("button").click()
    expect(admin.locator("#p-hours .profile-row")).to_have_count(6)

    # a holiday ten days from now, shown in plain words
    admin.get_by_role("button", name="Add a closed day").click()
    holiday = datetime.datetime.now(ZoneInfo(zone)).date() + datetime.timedelta(days=10)
    closure = admin.locator("#p-closures .profile-row").last
    closure.get_by_label("Date").fill(holiday.isoformat())
    closure.get_by_label("What it is").fill("Staff training day")

    # the live preview is the widget's own screens, from the form as it is now
    expect(preview).to_contain_text(f"{DAYS[closed_day]}: closed")
    expect(preview).to_contain_text(f"Closed on {DAYS[holiday.weekday()]}")
    expect(preview).to_contain_text("(Staff training day)")
    admin.get_by_role("button", name="Rights notice").click()
    expect(preview.locator("[data-screen=notice]")).to_contain_text(NEW_VOLUNTARY)
    admin.get_by_role("button", name="Questions", exact=True).click()
    expect(preview.locator("[data-screen=questions]")).to_contain_text(NEW_QUESTION)
    expect(preview.locator("[data-screen=questions]")).to_contain_text(NEW_WHY)
    widget.assert_accessible(admin, "admin profile preview")

    admin.get_by_role("button", name="Save and publish").click()
    expect(live(admin)).to_contain_text("Saved and published as version 2")
    profile, _ = served(stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key)
    assert profile.notice.voluntary == NEW_VOLUNTARY and profile.hours.timezone == zone
    assert profile.notice.more_text == "Your rights, at length." and profile.language == "en"
    assert [(q.id, q.text, q.why) for q in profile.questions] == [("town", NEW_QUESTION, NEW_WHY)]
    assert [(c.date, c.label) for c in profile.hours.closures] == [
        (holiday.isoformat(), "Staff training day")
    ]

    # a participant in another browser: the real widget, verified against the pinned key
    visitor.reload()
    widget.screen(visitor, "start")
    expect(visitor.locator("[data-screen=start]")).to_contain_text(f"{DAYS[closed_day]}: closed")
    expect(visitor.locator("[data-screen=start]")).to_contain_text("(Staff training day)")
    visitor.locator("[data-screen=start] .quietline-primary").click()
    widget.screen(visitor, "notice")
    expect(visitor.locator("[data-screen=notice]")).to_contain_text(NEW_VOLUNTARY)
    visitor.locator("[data-screen=notice] .quietline-primary").click()
    widget.screen(visitor, "questions")
    expect(visitor.locator("[data-screen=questions]")).to_contain_text(NEW_QUESTION)
    expect(visitor.locator("[data-screen=questions]")).to_contain_text(NEW_WHY)

    # bad input is refused with the key named, and nothing is published
    admin.get_by_label("Quick-exit site (where the Leave button goes)").fill("javascript:alert(1)")
    admin.get_by_role("button", name="Save and publish").click()
    expect(live(admin)).to_contain_text("quick_exit_url")
    admin.reload()
    expect(admin.locator("#p-name")).to_have_value("Harbour Support Line")

    # restore the first version
    admin.get_by_role("button", name="Restore version 1").click()
    expect(live(admin)).to_contain_text("Version 1 is published again, as version 3")
    visitor.goto(site + "/")
    widget.screen(visitor, "start")
    visitor.locator("[data-screen=start] .quietline-primary").click()
    widget.screen(visitor, "notice")
    expect(visitor.locator("[data-screen=notice]")).to_contain_text(old_voluntary)
    profile, _ = served(stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key)
    assert profile.questions == () and profile.hours.timezone == "UTC"


def test_outage_set_and_cleared(
    admin: Page, participant: tuple[Page, list[str]], stack: Any, site: str
) -> None:
    visitor, _ = participant
    admin.goto(stack.url + "/admin/status")
    expect(admin.locator("#status-override")).to_contain_text("Automatic")
    widget.assert_accessible(admin, "admin status page")
    admin.get_by_label("Outage: the chat is not working").check()
    admin.get_by_label("Message for participants").fill("We are fixing a problem tonight.")
    admin.get_by_role("button", name="Set this status").click()
    expect(live(admin)).to_contain_text("The status is now outage")
    expect(admin.locator("#status-now")).to_have_attribute("data-state", "outage")
    visitor.goto(site + "/")
    widget.screen(visitor, "unavailable")
    screen = visitor.locator("[data-screen=unavailable]")
    expect(screen).to_have_attribute("data-reason", "outage")
    expect(screen).to_contain_text("We are fixing a problem tonight.")

    admin.get_by_role("button", name="Clear: back to the posted hours").click()
    expect(live(admin)).to_contain_text("Cleared")
    visitor.reload()
    widget.screen(visitor, "start")


def test_an_origin_added_in_the_console_lets_the_page_connect(
    admin: Page, participant: tuple[Page, list[str]], stack: Any
) -> None:
    visitor, messages = participant
    ident = (stack.enrolled.program_id, stack.enrolled.identity_key)
    with widget.widget_serve(stack.relay.url, ident) as other:
        visitor.goto(other + "/")
        widget.screen(visitor, "unavailable")
        expect(visitor.locator("[data-screen=unavailable]")).to_have_attribute(
            "data-reason", "unreachable"
        )
        text = visitor.inner_text("body")
        assert "origin" not in text.lower()  # never told to the participant
        for _ in range(100):
            if any("origin_not_registered" in m for m in messages):
                break
            visitor.wait_for_timeout(100)
        diagnostic = [m for m in messages if "origin_not_registered" in m]
        said = "\n".join(messages)
        assert diagnostic and diagnostic[0].startswith("error: Quietline widget"), said
        assert f"quietline program origins add {other}" in diagnostic[0]

        admin.goto(stack.url + "/admin/website")
        widget.assert_accessible(admin, "admin website page")
        admin.get_by_label("Page address").fill(other + "/")
        admin.get_by_role("button", name="Check the page").click()
        problem = admin.locator("#check-result [data-code=origin_not_registered]")
        expect(problem).to_be_visible()
        admin.get_by_label("Add a website").fill(other)
        admin.get_by_role("button", name="Allow this website").click()
        expect(live(admin)).to_contain_text(f"{other} can show the chat now")
        expect(admin.locator("#origins")).to_contain_text(other)
        admin.get_by_role("button", name="Check the page").click()
        expect(admin.locator("#check-result")).to_contain_text("the page can reach the relay")

        visitor.reload()
        widget.screen(visitor, "start")

        admin.get_by_label("Add a website").fill("http://www.example.org")
        admin.get_by_role("button", name="Allow this website").click()
        expect(live(admin)).to_contain_text("must use https")
        admin.get_by_role("button", name=f"Remove {other}").click()
        expect(live(admin)).to_contain_text(f"{other} can no longer show the chat")


def test_a_closed_day_closes_the_line(
    admin: Page, participant: tuple[Page, list[str]], stack: Any, site: str
) -> None:
    """A one-off closure today: the node's signed status says closed, the widget too."""
    visitor, _ = participant
    zone = "UTC" if 1 <= datetime.datetime.now(datetime.UTC).hour <= 22 else "Asia/Tokyo"
    today = datetime.datetime.now(ZoneInfo(zone)).date()
    admin.goto(stack.url + "/admin/profile")
    expect(admin.locator("#p-hours .profile-row")).to_have_count(7)
    admin.get_by_label("Time zone").fill(zone)
    admin.get_by_role("button", name="Add a closed day").click()
    closure = admin.locator("#p-closures .profile-row").last
    closure.get_by_label("Date").fill(today.isoformat())
    closure.get_by_label("What it is").fill("Closed for a team day")
    admin.get_by_role("button", name="Save and publish").click()
    expect(live(admin)).to_contain_text("Saved and published")
    _, status = served(stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key)
    assert status.state == "closed"
    visitor.goto(site + "/")
    widget.screen(visitor, "unavailable")
    expect(visitor.locator("[data-screen=unavailable]")).to_have_attribute("data-reason", "closed")
    expect(visitor.locator("[data-screen=unavailable]")).to_contain_text("Closed for a team day")
    # the widget's own hours rule agrees (it decides alone when the status is unknown)
    verdict = visitor.evaluate(
        """async ([zone, date]) => {
          const h = await import("/widget/ui/hours.js");
          const weekly = [0, 1, 2, 3, 4, 5, 6]
            .map((day) => ({ day, open: "00:00", close: "24:00" }));
          const closed = h.parseHours({ timezone: zone, weekly, closures: [{ date, label: "" }] });
          const open = h.parseHours({ timezone: zone, weekly });
          return [h.isOpenAt(closed, Date.now()), h.isOpenAt(open, Date.now())];
        }""",
        [zone, today.isoformat()],
    )
    assert verdict == [False, True]

    admin.get_by_role("button", name="Remove closed day 1").click()
    admin.get_by_role("button", name="Save and publish").click()
    expect(live(admin)).to_contain_text("Saved and published")
    _, status = served(stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key)
    assert status.state != "closed"
    visitor.reload()
    widget.screen(visitor, "start")


def test_a_page_whose_csp_leaves_out_the_relay_is_diagnosed(
    participant: tuple[Page, list[str]], stack: Any
) -> None:
    """The page's CSP does not name the relay in connect-src: the participant sees the
    other ways to reach the program, the page's admin reads why in the browser console."""
    visitor, messages = participant
    config = w.WidgetConfig(stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key)
    snippet = w.build_snippet(config)
    page = w.sample_page(snippet).encode()
    headers = [
        (k, v.replace(f"connect-src {config.relay}", "connect-src 'self'"))
        for k, v in snippet.headers
    ]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path.startswith("/widget/"):
                body = (w.WIDGET_DIR / path[len("/widget/") :]).read_bytes()
                kind = "text/css" if path.endswith(".css") else "text/javascript"
                extra: list[tuple[str, str]] = [("Content-Type", kind)]
            else:
                body, extra = page, [("Content-Type", "text/html"), *headers]
            self.send_response(200)
            for name, value in extra:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        visitor.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        widget.screen(visitor, "unavailable")
        for _ in range(100):
            if any("csp_connect_src" in m for m in messages):
                break
            visitor.wait_for_timeout(100)
        said = "\n".join(messages)
        assert "Quietline widget [csp_connect_src]" in said, said
        assert "connect-src" not in visitor.inner_text("body")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


API = """async ([op, args]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const answer = await fetch(`/admin/api/${op}`, {
    method: "POST", body: JSON.stringify(args),
    headers: {"content-type": "application/json", "x-csrf-token": csrf},
  });
  return answer.json();
}"""


def test_an_open_shift_screen_follows_a_new_name_and_time_zone(admin: Page, stack: Any) -> None:
    """The shift screen open in one tab shows the name and time zone an admin publishes in
    another at once (the node's next snapshot carries them), and a page loaded later too."""
    heading = admin.locator("h1.topbar-name")
    expect(heading).to_contain_text("Harbour Support Line")
    expect(admin.locator("body")).to_have_attribute("data-timezone", "UTC")
    clock = "async () => (await import('/static/format.js')).clockTime(0)"
    in_utc = admin.evaluate(clock)

    other = admin.context.new_page()
    other.goto(stack.url + "/admin")
    before = other.evaluate(API, ["profile.show", {}])["result"]["content"]
    changed = {
        **before,
        "name": "Harbour Night Line",
        "hours": {**before["hours"], "timezone": "Asia/Tokyo"},
    }
    try:
        assert other.evaluate(API, ["profile.set", {"content": changed}])["ok"]
        expect(heading).to_contain_text("Harbour Night Line")
        expect(admin.locator("body")).to_have_attribute("data-timezone", "Asia/Tokyo")
        expect(admin).to_have_title("Shift · Harbour Night Line console")
        assert admin.evaluate(clock) != in_utc  # 09:00 in Tokyo, 00:00 in UTC
        other.goto(stack.url + "/")
        expect(other.locator("h1.topbar-name")).to_contain_text("Harbour Night Line")
        expect(other.locator("body")).to_have_attribute("data-timezone", "Asia/Tokyo")
    finally:
        assert other.evaluate(API, ["profile.set", {"content": before}])["ok"]
    expect(heading).to_contain_text("Harbour Support Line")
    expect(admin.locator("body")).to_have_attribute("data-timezone", "UTC")
    assert admin.evaluate(clock) == in_utc
