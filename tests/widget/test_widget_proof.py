"""The widget's proof of work (widget/ui/proof.js) against a real relay under pressure,
in Chromium: WebCrypto's SHA-256 only, the relay's highest difficulty, and the
"connecting securely..." line while it works."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page
from relay_process import RelayProcess, start_relay

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from relay_helpers import enroll_program

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _in_thread(coro: Any) -> Any:
    """Run ``coro`` on an asyncio loop of its own thread (sync Playwright owns this one)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    thread.start()
    thread.join(60)
    return out[0]


@pytest.fixture(scope="module")
def busy_relay(
    tmp_path_factory: pytest.TempPathFactory, widget_static_server: str
) -> Iterator[tuple[RelayProcess, str]]:
    relay = start_relay(
        tmp_path_factory.mktemp("proof"),
        QUIETLINE_LIMIT_BUNDLES_PER_PROGRAM="2",
        QUIETLINE_LIMIT_CONVERSATIONS_PER_PROGRAM="2",
        QUIETLINE_POW_PRESSURE_FRACTION="1.0",
    )
    try:

        async def setup() -> str:
            async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
                program = await enroll_program(
                    c, relay.db_path, relay.url, prekeys=5, origins=[widget_static_server]
                )
            return program.pid

        yield relay, _in_thread(setup())
    finally:
        relay.stop()


def test_the_widget_solves_the_relays_puzzle_with_webcrypto(
    page: Page, widget_static_server: str, busy_relay: tuple[RelayProcess, str]
) -> None:
    relay, pid = busy_relay
    page.goto(widget_static_server + "/pages/protocol.html")
    page.wait_for_function("window.__ready === true")
    # two free fetches spend the allowance: the relay now asks its highest difficulty
    for _ in range(2):
        assert httpx.post(f"{relay.url}/v1/programs/{pid}/bundle").status_code == 200
    r = httpx.post(f"{relay.url}/v1/programs/{pid}/bundle")
    assert r.status_code == 428 and r.json()["error"]["code"] == "proof_required"
    start = time.monotonic()
    asked, has_prekey, bits = page.evaluate(
        """async ([relay, pid]) => {
          const { RelayClient } = await import("/widget/ui/relay.js");
          const client = new RelayClient(relay);
          let asked = 0;
          client.onProof = () => { asked += 1; };
          const bundle = await client.bundle(pid);
          const puzzle = await client.request("POST", `/v1/programs/${pid}/puzzle`, {});
          return [asked, bundle.signed_prekey !== null, puzzle.difficulty];
        }""",
        [relay.url, pid],
    )
    took = time.monotonic() - start
    assert asked == 1 and has_prekey and bits == 16
    print(f"widget proof of work at 16 bits: {took:.2f} s")
    assert took < 30


def test_the_connecting_screen_says_connecting_securely(
    page: Page, widget_static_server: str
) -> None:
    page.goto(widget_static_server + "/pages/protocol.html")
    page.wait_for_function("window.__ready === true")
    text = page.evaluate(
        """async () => {
          const { connectingScreen } = await import("/widget/ui/screens.js");
          const { TEXT } = await import("/widget/ui/text.js");
          const screen = connectingScreen();
          const status = screen.querySelector("[data-proof-status]");
          status.textContent = TEXT.connectingSecurely;
          return [status.getAttribute("role"), status.textContent];
        }"""
    )
    assert text == ["status", "connecting securely..."]
