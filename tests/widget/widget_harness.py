"""Helpers for the participant-widget tests (H6): processes, assertions, keyboard moves.

Loaded by path from the ``test_widget_*.py`` modules (pytest runs in importlib mode, so
sibling test modules are not importable by name). Everything here is real: the sample
page is served by ``quietline widget serve`` in its own process on 127.0.0.1, started
and stopped by PID.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from nacl.signing import SigningKey
from playwright.sync_api import Page
from relay_process import free_port, stop_process

from e2ee.encoding import b64u_encode

__all__ = ["free_port"]  # re-exported for the widget tests

FALLBACK_LINES = ("Call us any time: 1-800-555-0100", "Text us: 555-0101")
_axe = Axe()


@dataclass(frozen=True)
class Identity:
    """A program identity made for one test run (fixed seed where given)."""

    seed: bytes

    @property
    def identity_key(self) -> bytes:
        return bytes(SigningKey(self.seed).verify_key)

    @property
    def identity_key_b64u(self) -> str:
        return b64u_encode(self.identity_key)

    @property
    def program_id_b64u(self) -> str:
        digest = hashlib.sha256(b"quietline/v1/program-id" + self.identity_key).digest()
        return b64u_encode(digest[:16])


def _stop(proc: subprocess.Popen[str]) -> None:
    stop_process(proc)
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def widget_serve(
    relay: str, identity: Identity | tuple[str, str], extra: Sequence[str] = ()
) -> Iterator[str]:
    """Run ``quietline widget serve`` (port 0 unless ``extra`` names one); yield its URL.

    ``identity`` is an :class:`Identity` or a ``(program_id, identity_key)`` pair (b64u).
    """
    if isinstance(identity, Identity):
        program_id, identity_key = identity.program_id_b64u, identity.identity_key_b64u
    else:
        program_id, identity_key = identity
    args = [
        sys.executable,
        "-m",
        "quietline",
        "widget",
        "serve",
        "--port",
        "0",
        "--relay",
        relay,
        "--program-id",
        program_id,
        "--identity-key",
        identity_key,
    ]
    for line in FALLBACK_LINES:
        args += ["--fallback", line]
    with tempfile.TemporaryFile(mode="w+") as errors:  # said when it does not start
        proc = subprocess.Popen([*args, *extra], stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("serving http://127.0.0.1:"):
                _stop(proc)
                errors.seek(0)
                raise AssertionError(f"widget serve did not start: {line!r}\n{errors.read()}")
            yield line.split()[1].rstrip("/")
        finally:
            _stop(proc)


# -- assertions --------------------------------------------------------------------------


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def assert_only_origins(urls: Sequence[str], allowed: set[str]) -> None:
    """Every request went to an allowed origin (http and ws forms of the relay count)."""
    assert urls, "no request was recorded at all"
    for url in urls:
        if urlsplit(url).scheme in {"data", "blob", "about"}:
            continue
        assert origin(url) in allowed, f"request outside the page and the relay: {url}"


def record_requests(page: Page) -> list[str]:
    """Record every HTTP request and WebSocket the page's context opens."""
    urls: list[str] = []
    page.context.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


STORAGE_PROBE = """async () => {
  const out = {cookie: document.cookie, local: localStorage.length,
               session: sessionStorage.length};
  out.idb = (await indexedDB.databases()).map((d) => d.name);
  out.caches = await caches.keys();
  out.workers = (await navigator.serviceWorker.getRegistrations()).length;
  return out;
}"""


def assert_nothing_stored(page: Page) -> None:
    """No cookie, local/session storage, IndexedDB, Cache Storage or service worker.

    Checked twice: from inside the page's origin, and from the browser context's own
    record of cookies and local storage for every origin it touched.
    """
    probe = page.evaluate(STORAGE_PROBE)
    assert probe == {
        "cookie": "",
        "local": 0,
        "session": 0,
        "idb": [],
        "caches": [],
        "workers": 0,
    }, probe
    state = page.context.storage_state()
    assert state["cookies"] == [], state["cookies"]
    for entry in state["origins"]:
        assert entry.get("localStorage", []) == [], entry
        assert entry.get("indexedDB", []) in ([], None), entry


def assert_accessible(page: Page, screen: str) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = _axe.run(page)
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert bad == [], f"axe on {screen} screen: {json.dumps(bad)}"


def assert_exit_visible(page: Page) -> None:
    """The quick exit button is on screen, inside the viewport, not scrolled away; and
    the page does not overflow sideways (nothing to scroll to at phone width)."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the viewport"
    box = page.locator("[data-quietline-exit]").bounding_box()
    assert box is not None and box["y"] < 16, "quick exit is not at the top"
    size = page.viewport_size
    assert box is not None and size is not None
    assert box["x"] >= 0 and box["y"] >= 0
    assert box["x"] + box["width"] <= size["width"] + 1
    assert box["y"] + box["height"] <= size["height"] + 1
    page.mouse.wheel(0, 2000)  # still there after scrolling the page
    page.wait_for_function("() => scrollY > 0 || document.body.scrollHeight <= innerHeight")
    after = page.locator("[data-quietline-exit]").bounding_box()
    assert after == box


def active_name(page: Page) -> str:
    return str(
        page.evaluate(
            "() => { const a = document.activeElement;"
            " return (a?.getAttribute('aria-label') || a?.innerText || a?.value || '').trim(); }"
        )
    )


def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused control's name starts with ``name`` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if active_name(page).startswith(name):
            return
    raise AssertionError(f"no control named {name!r} reachable with Tab")


def tab_to_selector(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches ``selector`` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"nothing matching {selector!r} reachable with Tab")


def end_chat(page: Page) -> None:
    """Select "End chat", then confirm it (the widget asks first)."""
    page.click("button:has-text('End chat')")
    page.click("button:has-text('Yes, end the chat')")


def screen(page: Page, name: str, timeout: float = 15_000) -> None:
    page.wait_for_selector(f"[data-screen={name}]", timeout=timeout)
