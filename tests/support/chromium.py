"""Debian's Chromium for the browser tests (marked ``browser``): ``/usr/bin/chromium``
through Playwright's sync API with the project's fixed flags, never a browser Playwright
downloads (never ``playwright install``).

tests/conftest.py makes the module-scoped ``playwright_sync`` and ``browser`` fixtures
from :func:`launch` (tests/widget/conftest.py says why module scope). bench/ keeps its
own copy of the flags: benchmarks do not import the tests.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Playwright

EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with :data:`CHROMIUM_ARGS`."""
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=CHROMIUM_ARGS)


def page_errors(page: Page) -> list[str]:
    """The uncaught script errors of ``page`` (its ``pageerror`` events), in a list that
    grows as they happen: a test asserts it is empty."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
