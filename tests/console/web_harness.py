"""Live pieces for the console's web tests: everything real, on 127.0.0.1.

- a relay process (``quietline relay serve``, tests/support/relay_process.py);
- a program enrolled with ``quietline program init`` (its keystore on disk), staff
  accounts and saved replies sealed in that keystore;
- a real :class:`console.node.ConsoleNode` (connected to the relay) and the console's web
  app (:func:`console.web.create_app`) served by uvicorn, both in one asyncio loop in a
  thread beside the sync Playwright tests (tests/widget/conftest.py says why);
- participants as real :class:`client_sdk.ParticipantClient` s in that loop, or the real
  widget (``quietline widget serve``) in Chromium.

The web app's clock is a ``ManualClock`` the test moves (idle sign-out, throttling); the
node keeps the system clock unless the test gives it one (``node_clock``). Loaded by
path from the ``test_web_*`` modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from argon2 import PasswordHasher
from loading import load
from playwright.sync_api import Page, expect
from relay_process import FUNCTIONAL_LIMITS, RelayProcess, free_port, start_relay

from client_sdk import ParticipantClient
from client_sdk.keystore import Keystore
from client_sdk.workflow.clock import ManualClock
from console.accounts import StaffAccounts
from console.node import ConsoleNode
from console.replies import SavedReplies
from console.settings import ConsoleSettings
from console.web import create_app
from console.web.throttle import SignInLimits

live_mod = load("quietline_widget_live", "widget/widget_live.py")
PASSPHRASE: str = live_mod.PASSPHRASE
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
PASSWORD = "a long test password"
ALWAYS_OPEN = {
    "timezone": "UTC",
    "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
}
CODE_ALIAS = "main"
CODE_WORD = "bluebird"
SAVED_REPLIES = [
    ("Opening", "Welcome", "Hello, I'm glad you wrote to us. I'm here to listen."),
    ("Safety", "Is it safe?", "Is it safe for you to keep writing right now?"),
]


def sign_in(page: Page, url: str, name: str, password: str = PASSWORD) -> None:
    """Sign ``name`` in to the console at ``url`` in Chromium as a person does (the
    form's labels, Enter), and wait for the console's home page."""
    page.goto(url + "/signin")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(url + "/")


def profile(site: str) -> dict[str, Any]:
    return {
        "name": "Harbour Support Line",
        "notice": {
            "voluntary": "Talking with us is your choice. You can stop at any time.",
            "choices": "You decide what to tell us. You can skip any question.",
            "information": "Your messages are encrypted. We keep nothing after the chat.",
            "mandatory_reporting": "If a child is in danger, the law may require us to "
            "report it. We will tell you first.",
        },
        "safety_check_in": "Is it safe for you to chat right now? Could someone see this device?",
        "questions": [],
        "hours": ALWAYS_OPEN,
        "alternatives": [{"label": "Phone, 24 hours", "value": "1-800-555-0199"}],
        "quick_exit_url": site + "/neutral.html",
    }


@dataclass
class Stack:
    relay: RelayProcess
    loop: Any  # widget_live.LoopThread
    enrolled: Any
    node: ConsoleNode
    url: str
    site: str
    clock: ManualClock
    staff: dict[str, Any]  # name -> Account
    server: uvicorn.Server
    participants: list[Participant] = field(default_factory=list)

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return self.loop.run(coro, timeout)

    def participant(self, first: str | None = None) -> Participant:
        p = Participant(self)
        self.participants.append(p)
        return p

    def snapshot(self, name: str) -> dict[str, Any]:
        """What the node shows ``name`` now (read in the node's own loop)."""

        async def read() -> dict[str, Any]:
            return dict(self.node.snapshot(self.staff[name]))

        return dict(self.run(read()))

    def conversation_of(self, p: Participant) -> dict[str, Any]:
        """The summary the node shows a supervisor for ``p``'s conversation."""
        boss = next(a for a in self.staff.values() if a.role.supervises)
        snap = self.snapshot(boss.name)
        for summary in snap["waiting"] + snap["mine"] + snap["others"]:
            if summary["id"] == p.cid:
                return dict(summary)
        raise AssertionError("the node does not show this conversation")


class Participant:
    """A real ParticipantClient in the stack's loop; ``wait`` returns a matching event."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.events: queue.Queue[Any] = queue.Queue()
        self.client: ParticipantClient = stack.run(
            ParticipantClient.connect(
                stack.relay.url, stack.enrolled.program_id, stack.enrolled.identity_key
            ),
            timeout=60,
        )
        self.cid = str(self.client.conversation_id)
        self._pump = asyncio.run_coroutine_threadsafe(self._collect(), stack.loop.loop)

    async def _collect(self) -> None:
        with contextlib.suppress(Exception):
            async for event in self.client.events():
                self.events.put(event)

    def call(self, name: str, *args: Any) -> Any:
        return self.stack.run(getattr(self.client, name)(*args))

    def wait(self, predicate: Callable[[Any], bool], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                break
            if predicate(event):
                return event
        raise AssertionError("the participant saw no matching event in time")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stack.run(self.client.aclose(), timeout=10)


def _prepare_keystore(path: Path, staff: list[tuple[str, str]]) -> None:
    ks = Keystore.open(path, PASSPHRASE)
    try:
        accounts = StaffAccounts(ks, hasher=FAST)
        for name, role in staff:
            accounts.add(name, role, PASSWORD)
        replies = SavedReplies(ks)
        for group, title, text in SAVED_REPLIES:
            replies.add(group, title, text)
        ks.save()
    finally:
        ks.close()


@contextlib.contextmanager
def console_stack(
    tmp: Path,
    staff: list[tuple[str, str]],
    *,
    idle_minutes: int = 30,
    limits: SignInLimits | None = None,
    poll_seconds: float = 0.2,
    node_clock: ManualClock | None = None,
    hasher: PasswordHasher = FAST,
    console_settings: dict[str, Any] | None = None,
) -> Iterator[Stack]:
    """``node_clock``: the node's workflow runs on it (shift ends, the last-minutes rule,
    hand-off) instead of the system clock; the test moves it. ``hasher``: the node's
    Argon2id hasher (the accounts are made with ``FAST``); ``console_settings``: more
    ``ConsoleSettings`` fields."""
    relay = start_relay(tmp, **FUNCTIONAL_LIMITS)
    loop = live_mod.LoopThread()
    node: ConsoleNode | None = None
    server: uvicorn.Server | None = None
    serving: Any = None
    stack: Stack | None = None
    try:
        site = f"http://127.0.0.1:{free_port()}"
        enrolled = live_mod.enroll_program(relay, tmp, profile(site))
        _prepare_keystore(enrolled.keystore, staff)
        settings = ConsoleSettings(
            port=0, idle_signout_minutes=idle_minutes, **(console_settings or {})
        )
        node = loop.run(
            ConsoleNode.open(
                enrolled.keystore, PASSPHRASE, settings, hasher=hasher, clock=node_clock
            ),
            timeout=60,
        )
        loop.run(node.program.set_origins([site]))
        loop.run(node.program.set_code_word(CODE_ALIAS, CODE_WORD))
        clock = ManualClock(datetime.now(UTC))
        app = create_app(node, settings, clock=clock, limits=limits, poll_seconds=poll_seconds)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        serving = asyncio.run_coroutine_threadsafe(server.serve(), loop.loop)
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the console did not start"
            assert not serving.done(), serving.exception()
            time.sleep(0.05)
        accounts = {a.name: a for a in node.accounts.list()}
        stack = Stack(
            relay, loop, enrolled, node, f"http://127.0.0.1:{port}", site, clock, accounts, server
        )
        yield stack
    finally:
        if stack is not None:
            for p in stack.participants:
                p.close()
        if server is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                serving.result(timeout=15)
        if node is not None:
            with contextlib.suppress(Exception):
                loop.run(node.aclose(), timeout=20)
        loop.close()
        relay.stop()
