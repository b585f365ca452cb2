"""The statistics page in Chromium after a scripted day of chats, everything real on
127.0.0.1: a relay process, a ConsoleNode (its workflow clock a ManualClock the script
moves) with the console's web app (tests/console/web_harness.py), real participants.
The charts' tables show the expected counts with small counts suppressed, the threshold
changes from the page, the CSV download is the operation's text, the period chooser
works by keyboard, supervisors may read and workers may not, and axe finds nothing
serious."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from chromium import page_errors
from loading import load
from playwright.sync_api import Browser, Page, expect
from stat_day import AGE_ANSWERS, Day, expected_texts, set_profile, zone_for_mid_morning

from client_sdk.workflow.clock import ManualClock
from console.admin import AdminContext, call, load_operations

harness = load("quietline_console_web_harness", "console/web_harness.py")
widget = load("quietline_widget_harness", "widget/widget_harness.py")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
STAFF = [("Sam", "worker"), ("Ali", "worker"), ("Kim", "supervisor"), ("Ada", "admin")]
pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with harness.console_stack(tmp_path_factory.mktemp("console-stats"), STAFF) as s:
        yield s


@pytest.fixture(scope="module")
def day(stack: Any) -> dict[str, Any]:
    """The scripted day on the stack's node: its expected counts, by (metric, bucket)."""
    load_operations()
    now = datetime.now(UTC).replace(microsecond=0)
    zone = zone_for_mid_morning(now)
    clock = ManualClock(now)

    async def run() -> dict[tuple[str, str], int]:
        node = stack.node
        set_profile(node, zone)
        node.workflow.clock = clock  # the injectable clock: the script moves time
        admin = AdminContext.for_node(node, None)
        await call(admin, "stats.settings", {"answers": {"age": AGE_ANSWERS}})
        ids = (stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key)
        return await Day(node, *ids, clock, stack.staff).run()

    expected = stack.run(run(), timeout=240)
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    out: dict[tuple[str, str], Any] = {}
    for (metric, bucket), n in expected.items():
        if metric == "arrived":
            bucket = f"{today.weekday()}/{bucket}"
        out[(metric, bucket)] = n
    return {"counts": out, "today": today.isoformat(), "clock": clock}


def op(stack: Any, name: str, args: dict[str, Any]) -> Any:
    async def run() -> Any:
        return await call(AdminContext.for_node(stack.node, None), name, args)

    return stack.run(run())


def table_cell(page: Page, metric: str, label: str) -> str:
    row = page.locator(f'section[data-metric="{metric}"] table tbody tr').filter(
        has=page.locator("th", has_text=label)
    )
    return str(row.first.locator("td").inner_text()).strip()


def check_tables(page: Page, stack: Any, day: dict[str, Any], threshold: int) -> None:
    """Every expected count, and a zero, as the charts' tables say."""
    expect(page.locator("#stats-summary")).to_contain_text(f"Counts below {threshold}")
    report = op(stack, "stats.show", {"days": 7})
    labels = {(m["metric"], r["bucket"]): r["label"] for m in report["metrics"] for r in m["rows"]}
    want = expected_texts(day["counts"], threshold)
    for (metric, bucket), n in day["counts"].items():
        if metric == "arrived":
            weekday, hour = (int(x) for x in bucket.split("/"))
            cell = page.locator('section[data-metric="arrived"] table tbody tr').nth(weekday)
            text = cell.locator("td").nth(hour).inner_text().strip()
        else:
            text = table_cell(page, metric, labels[(metric, bucket)])
        assert text == want[(metric, bucket)], (metric, bucket, n, text)
    assert table_cell(page, "waited", "30-60 minutes") == "0"


def test_the_statistics_page_after_a_scripted_day(
    browser: Browser, stack: Any, day: dict[str, Any], tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = page_errors(page)
    try:
        harness.sign_in(page, stack.url, "Ada")
        page.goto(stack.url + "/admin/statistics")
        expect(page.get_by_role("heading", name="Statistics", level=2)).to_be_visible()
        table = page.get_by_role("table", name="Who ended conversations")
        expect(table).to_be_visible()
        # the default threshold: the whole day's 6 conversations, the rest "fewer than 5"
        check_tables(page, stack, day, 5)
        expect(page.locator("section[data-metric=conversations] td")).to_have_text("6")
        assert page.locator("svg.stats-chart").count() == page.locator("table.stats-table").count()
        assert page.locator("svg.stats-chart rect.stats-bar-few").count() > 0
        widget.assert_accessible(page, "admin statistics")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "admin-statistics.png"), full_page=True)

        # the threshold, by keyboard: a bad one is refused in words, 2 shows the 2s
        field = page.get_by_label("Show counts below this number")
        expect(field).to_have_value("5")
        field.fill("1")
        field.press("Enter")
        expect(page.locator("#admin-status")).to_contain_text("threshold: 1 is not allowed")
        expect(field).to_have_attribute("aria-invalid", "true")
        field.fill("2")
        field.press("Enter")
        expect(page.locator("#admin-status")).to_contain_text("fewer than 2")
        check_tables(page, stack, day, 2)
        assert table_cell(page, "ended_by", "a support worker") == "2"
        assert table_cell(page, "ended_by", "inactivity") == "fewer than 2"

        # the CSV download is the operation's text, made in the browser
        with page.expect_download() as info:
            page.get_by_role("button", name="Download as CSV").click()
        download = info.value
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        assert target.read_bytes().decode("utf-8") == op(stack, "stats.csv", {"days": 7})["csv"]
        expect(page.locator("#admin-status")).to_contain_text("Downloading statistics-")

        # the period chooser: days I choose; an empty day is refused, a past month is zeros
        page.get_by_label("Show", exact=True).select_option("custom")
        page.get_by_label("First day").fill("")
        page.get_by_role("button", name="Show the figures").click()
        expect(page.locator("#admin-status")).to_contain_text("Choose the first and the last day")
        page.get_by_label("First day").fill("2020-01-01")
        page.get_by_label("Last day").fill("2020-01-31")
        page.get_by_label("Last day").press("Enter")
        expect(page.locator("#stats-summary")).to_contain_text("2020-01-01 to 2020-01-31")
        texts = page.locator("table.stats-table td").all_inner_texts()
        assert texts and set(texts) == {"0"}
        page.get_by_label("First day").fill(day["today"])
        page.get_by_label("Last day").fill(day["today"])
        page.get_by_label("Last day").press("Enter")
        expect(page.locator("section[data-metric=conversations] td")).to_have_text("6")
        widget.assert_accessible(page, "admin statistics, chosen days")

        # the answers to count, from the page: a question the profile asks, by keyboard
        area = page.get_by_label("Answers to count for “Which area do you live in?”")
        expect(page.get_by_label("Answers to count for “How old are you?”")).to_have_value(
            "\n".join(AGE_ANSWERS)
        )
        area.fill("North\nSouth\n")
        page.get_by_role("button", name="Save the answers to count").click()
        expect(page.locator("#admin-status")).to_contain_text("Saved the answers to count")
        saved = op(stack, "stats.settings", {})
        assert saved["answers"]["area"] == ["North", "South"]
        rows = page.locator('section[data-metric="answers/area"] tbody th').all_inner_texts()
        assert rows[:3] == ["North", "South", "another answer"]
        area.fill("north\nNORTH")  # the same answer twice: refused in words, nothing saved
        page.get_by_role("button", name="Save the answers to count").click()
        expect(page.locator("#admin-status")).to_contain_text("listed twice")
        expect(area).to_have_attribute("aria-invalid", "true")
        assert op(stack, "stats.settings", {})["answers"]["area"] == ["North", "South"]
        widget.assert_accessible(page, "admin statistics, answers to count")
        assert errors == []
        op(stack, "stats.settings", {"threshold": 5, "answers": {"area": []}})
    finally:
        context.close()


def test_who_may_open_the_statistics_page(
    browser: Browser, stack: Any, day: dict[str, Any]
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        harness.sign_in(page, stack.url, "Kim")  # a supervisor reads, without the threshold form
        page.goto(stack.url + "/admin/statistics")
        expect(page.get_by_role("table", name="Who ended conversations")).to_be_visible()
        assert page.locator("#stats-threshold").count() == 0
        page.goto(stack.url + "/admin")
        expect(page.get_by_role("link", name="Statistics").first).to_be_visible()
    finally:
        context.close()
    context = browser.new_context()
    page = context.new_page()
    try:
        harness.sign_in(page, stack.url, "Sam")  # a support worker may not
        answer = page.goto(stack.url + "/admin/statistics")
        assert answer is not None and answer.status == 404
    finally:
        context.close()


def test_the_admin_api_answers_by_role(stack: Any, day: dict[str, Any]) -> None:
    """Over HTTP: a worker is refused, a supervisor reads but may not change settings."""

    def client(name: str) -> tuple[httpx.Client, str]:
        c = httpx.Client(base_url=stack.url, follow_redirects=False, timeout=20)
        token = re.search(r'name="token" value="([^"]+)"', c.get("/signin").text)
        assert token is not None
        signed = c.post(
            "/signin", data={"token": token.group(1), "name": name, "password": harness.PASSWORD}
        )
        assert signed.status_code == 303
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', c.get("/").text)
        assert csrf is not None
        return c, csrf.group(1)

    def post(c: httpx.Client, csrf: str, name: str, args: dict[str, Any]) -> httpx.Response:
        return c.post(f"/admin/api/{name}", json=args, headers={"x-csrf-token": csrf})

    sam, sam_csrf = client("Sam")
    kim, kim_csrf = client("Kim")
    try:
        refused = post(sam, sam_csrf, "stats.show", {})
        assert refused.status_code == 403 and refused.json()["kind"] == "Forbidden"
        shown = post(kim, kim_csrf, "stats.show", {"days": 30})
        assert shown.status_code == 200 and shown.json()["result"]["days"] == 30
        assert shown.headers["cache-control"] == "no-store"
        bad = post(kim, kim_csrf, "stats.show", {"days": 0})
        assert bad.status_code == 400 and "days" in bad.json()["error"]
        change = post(kim, kim_csrf, "stats.settings", {"threshold": 3})
        assert change.status_code == 403
        assert post(kim, kim_csrf, "stats.settings", {}).json()["result"]["threshold"] == 5
    finally:
        sam.close()
        kim.close()
