"""Shared fixtures for every widget test (owned by H4; H6 builds on them).

Chromium is driven with Playwright's **sync** API, from plain ``def`` tests only.
pytest runs with ``asyncio_mode=auto``: an ``async def`` test runs inside an asyncio
loop, and the sync Playwright API refuses to run there; while sync Playwright is alive
(it keeps a loop of its own on the main thread) pytest-asyncio cannot run an async test
either. Hence the rules, checked by experiment:

- widget tests are plain ``def`` functions; a module that uses ``browser``/``page``
  contains no ``async def`` test;
- ``browser`` is **module**-scoped, so Playwright is stopped before the next module
  (async tests elsewhere in the session keep working);
- anything asynchronous a widget test needs (a relay, a ``ProgramClient``) runs in its
  own process, or in its own thread with its own event loop, started by a fixture.

Fixtures
--------
``widget_static_server`` (session)
    A real HTTP server *process* (this interpreter, ``http.server``) bound to
    127.0.0.1 on a free port chosen by the OS, started by PID and stopped by PID at
    teardown. It serves a temporary root with two entries:

    - ``/widget/``  the repository's ``widget/`` directory (ES modules),
    - ``/pages/``   ``tests/widget/pages/`` (test pages, e.g. ``protocol.html``).

    ``.js``/``.mjs`` are sent as ``text/javascript`` (ES modules need it), every
    response carries ``Cache-Control: no-store``. The fixture's value is the base
    URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash).
``browser`` (module, from tests/conftest.py)
    Debian's Chromium, launched exactly as the briefing says (tests/support/chromium.py).
    Never ``playwright install``.
``page`` (function)
    A fresh incognito context and page (no state shared between tests). Every request
    URL the page makes is appended to ``page.requested_urls`` (a ``list[str]``), so a
    test can assert that only loopback was contacted (see ``assert_loopback_only``).
``protocol_page`` (function)
    ``page`` opened on ``/pages/protocol.html``, which imports
    ``/widget/protocol/index.js`` and exposes it as ``window.Q`` (the module namespace);
    ``window.__ready`` is true once loaded. Use ``protocol_page.evaluate(...)``.

Helpers: ``assert_loopback_only(urls)``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page
from relay_process import stop_process

REPO = Path(__file__).resolve().parents[2]
WIDGET_DIR = REPO / "widget"
PAGES_DIR = Path(__file__).resolve().parent / "pages"

_SERVER_SCRIPT = r"""
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript",
                      ".json": "application/json", ".html": "text/html; charset=utf-8",
                      ".css": "text/css"}
    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()
    def log_message(self, *args):
        pass
handler = functools.partial(Handler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def assert_loopback_only(urls: list[str]) -> None:
    """Fail if any URL (besides data:/blob:/about:) names a host other than loopback."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob", "about"}:
            continue
        assert parts.hostname in LOOPBACK_HOSTS, f"non-loopback request: {url}"


@pytest.fixture(scope="session")
def widget_static_server() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="quietline-widget-"))
    os.symlink(WIDGET_DIR, root / "widget")
    PAGES_DIR.mkdir(exist_ok=True)
    os.symlink(PAGES_DIR, root / "pages")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER_SCRIPT, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints its port once bound
        if not line.strip().isdigit():
            raise RuntimeError("static server did not start")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    pg = context.new_page()
    urls: list[str] = []
    pg.requested_urls = urls  # type: ignore[attr-defined]
    context.on("request", lambda request: urls.append(request.url))
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def protocol_page(page: Page, widget_static_server: str) -> Page:
    page.goto(f"{widget_static_server}/pages/protocol.html")
    page.wait_for_function("window.__ready === true", timeout=10_000)
    return page
