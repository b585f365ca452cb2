"""Argon2id never holds up the node (console/passwords.py): while a sign-in or a password
reset hashes, other requests are answered; at most ``password_workers`` hashes run at
once and a full queue is refused at once. A real relay, a real ConsoleNode, uvicorn.

The node's hasher is the real Argon2id one, held at a gate the test opens: the test
knows a hash has started (an event) and that it cannot finish before the gate opens, so
"answered while the hash runs" is checked without timing. Were the hash on the event
loop, the loop would stop at the gate and the other request would not be answered.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from loading import load

harness = load("quietline_console_web_harness", "console/web_harness.py")
STAFF = [("Sam", "worker"), ("Kim", "supervisor"), ("Ada", "admin")]
GATE_SECONDS = 30.0  # a hash held longer than this fails the test rather than hang it
ANSWER_SECONDS = 15.0
SAM = {"name": "Sam", "password": harness.PASSWORD}
pytestmark = pytest.mark.slow


class GatedHasher(PasswordHasher):
    """The accounts' Argon2id parameters (``harness.FAST``); each hash or verification
    waits at ``gate`` (open unless a test closes it) and counts how many run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def _held(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.started.release()
        try:
            self.gate.wait(GATE_SECONDS)
            return work()
        finally:
            with self._lock:
                self.running -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        return str(self._held(lambda: super(GatedHasher, self).hash(password, salt=salt)))

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        return bool(self._held(lambda: super(GatedHasher, self).verify(hash, password)))

    @contextlib.contextmanager
    def closed(self) -> Iterator[None]:
        self.gate.clear()
        self.started = threading.Semaphore(0)  # only hashes from now on count
        self.peak = 0
        try:
            yield
        finally:
            self.gate.set()

    def wait_started(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.started.acquire(timeout=ANSWER_SECONDS), "no hash started"


@pytest.fixture(scope="module")
def hasher() -> GatedHasher:
    return GatedHasher()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, hasher: GatedHasher) -> Iterator[Any]:
    with harness.console_stack(
        tmp_path_factory.mktemp("console-passwords"),
        STAFF,
        hasher=hasher,
        console_settings={"password_workers": 1, "password_waiting": 1},
    ) as s:
        yield s


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as p:
        yield p


def _token(client: httpx.Client) -> str:
    found = re.search(r'name="token" value="([^"]+)"', client.get("/signin").text)
    assert found is not None
    return found.group(1)


def _signin(client: httpx.Client, name: str, password: str = harness.PASSWORD) -> httpx.Response:
    form = {"token": _token(client), "name": name, "password": password}
    return client.post("/signin", data=form)


def _client(stack: Any) -> httpx.Client:
    return httpx.Client(base_url=stack.url, follow_redirects=False, timeout=ANSWER_SECONDS * 3)


def _signed_in(stack: Any, name: str) -> httpx.Client:
    client = _client(stack)
    assert _signin(client, name).status_code == 303
    return client


def _csrf(client: httpx.Client) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/").text)
    assert found is not None
    return found.group(1)


def _others_are_answered(stack: Any, pending: Future[Any], kim: httpx.Client) -> None:
    """A health check, another staff member's page and a read in the node's own loop are
    answered while ``pending`` is held at the gate."""
    with httpx.Client(base_url=stack.url, timeout=ANSWER_SECONDS) as other:
        assert other.get("/healthz").text == "ok"
    page = kim.get("/", timeout=ANSWER_SECONDS)
    assert page.status_code == 200 and "Harbour Support Line" in page.text
    assert "waiting" in stack.run(_snapshot(stack, "Kim"), timeout=ANSWER_SECONDS)
    assert not pending.done(), "the hash was not held: the test proves nothing"


async def _snapshot(stack: Any, name: str) -> dict[str, Any]:
    return dict(stack.node.snapshot(stack.staff[name]))


def test_a_signin_hashing_does_not_hold_up_other_requests(
    stack: Any, hasher: GatedHasher, pool: ThreadPoolExecutor
) -> None:
    with (
        contextlib.closing(_signed_in(stack, "Kim")) as kim,
        contextlib.closing(_client(stack)) as sam,
    ):
        token = _token(sam)
        with hasher.closed():
            signing_in = pool.submit(
                sam.post,
                "/signin",
                data={"token": token, "name": "Sam", "password": harness.PASSWORD},
            )
            hasher.wait_started()
            _others_are_answered(stack, signing_in, kim)
        assert signing_in.result(timeout=ANSWER_SECONDS).status_code == 303


def test_a_password_reset_hashing_does_not_hold_up_other_requests(
    stack: Any, hasher: GatedHasher, pool: ThreadPoolExecutor
) -> None:
    new_password = "Sam's new password 7"
    with (
        contextlib.closing(_signed_in(stack, "Ada")) as ada,
        contextlib.closing(_signed_in(stack, "Kim")) as kim,
    ):
        token = _csrf(ada)
        with hasher.closed():
            resetting = pool.submit(
                ada.post,
                "/admin/api/staff.passwd",
                json={"name": "Sam", "password": new_password},
                headers={"x-csrf-token": token},
            )
            hasher.wait_started()
            _others_are_answered(stack, resetting, kim)
        answer = resetting.result(timeout=ANSWER_SECONDS)
        assert answer.status_code == 200 and answer.json()["ok"], answer.text
        with contextlib.closing(_client(stack)) as sam:
            assert _signin(sam, "Sam", new_password).status_code == 303
        with hasher.closed():  # adding an account hashes off the loop too
            added = pool.submit(
                ada.post,
                "/admin/api/staff.add",
                json={"name": "Lee", "role": "worker", "password": "Lee's first password"},
                headers={"x-csrf-token": token},
            )
            hasher.wait_started()
            _others_are_answered(stack, added, kim)
        assert added.result(timeout=ANSWER_SECONDS).json()["ok"]
        reset_back = ada.post(
            "/admin/api/staff.passwd",
            json={"name": "Sam", "password": harness.PASSWORD},
            headers={"x-csrf-token": token},
        )
        assert reset_back.json()["ok"]


def test_hashes_run_a_few_at_a_time_and_a_full_queue_is_refused_at_once(
    stack: Any, hasher: GatedHasher, pool: ThreadPoolExecutor
) -> None:
    """One worker, one waiting (this stack's settings): the third sign-in is refused with
    503 at once (not counted as a failed try); never more than one hash runs."""
    clients = [_client(stack) for _ in range(3)]
    try:
        tokens = [_token(c) for c in clients]
        with hasher.closed():
            first, second = (
                pool.submit(c.post, "/signin", data={"token": t, **SAM})
                for c, t in zip(clients[:2], tokens[:2], strict=True)
            )
            hasher.wait_started()
            _wait_pending(stack, 2)
            third = clients[2].post(
                "/signin",
                data={"token": tokens[2], **SAM},
                timeout=ANSWER_SECONDS,
            )
            assert third.status_code == 503 and "busy" in third.text
            assert not first.done() and not second.done()
        assert first.result(timeout=ANSWER_SECONDS).status_code == 303
        assert second.result(timeout=ANSWER_SECONDS).status_code == 303
        assert hasher.peak == 1
    finally:
        for c in clients:
            c.close()


def _wait_pending(stack: Any, count: int) -> None:
    """Until the node's password pool holds ``count`` hashes (read in the node's loop)."""

    async def pending() -> int:
        return int(stack.node.passwords.pending)

    deadline = time.monotonic() + ANSWER_SECONDS
    while stack.run(pending(), timeout=ANSWER_SECONDS) < count:
        assert time.monotonic() < deadline, "the sign-ins did not reach the password pool"
        time.sleep(0.02)
