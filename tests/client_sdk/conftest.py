"""Fixtures for the SDK's end-to-end tests: a real relay process and a tampering proxy.

- ``relay``: ``python -m quietline relay serve`` (tests/support/relay_process.py) on a
  free port of 127.0.0.1 with a SQLite file in a tmp dir and its output captured to a
  log file; polled until it answers, stopped by PID. One per test module (each test
  enrolls its own program). Every test using it runs a second time on two relays on
  PostgreSQL + Redis behind a round-robin balancer (``pg``, tests/conftest.py) unless
  marked ``sqlite_only``.
- ``fresh_relay``: the same, one per test (the canary test searches its files).
- ``proxy``: an in-test asyncio server on 127.0.0.1 (uvicorn, h11, sans-I/O
  websockets) forwarding HTTP and the WebSocket to the relay, with switchable
  behaviours: tamper, drop, reorder, replay, substitute keys, edit the profile. It plays
  the malicious relay: clients talk to it as if it were the relay.
- ``program_factory``: enrolls a program (``relay add-program`` then
  ``quietline program init``) and returns its keystore path, program id and key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from relay_process import FUNCTIONAL_LIMITS, RelayProcess, free_port, start_relay
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from client_sdk.keystore import weak_argon2_for_tests
from e2ee.encoding import b64u_decode, b64u_encode

PASSPHRASE = "correct horse battery staple (test only)"


@pytest.fixture
def weak_argon2() -> Iterator[None]:
    """Keystores with Argon2id under the floor, to keep tests that make many of them fast.

    The explicit, test-only switch of :func:`client_sdk.keystore.weak_argon2_for_tests`;
    modules that want it say ``pytestmark = pytest.mark.usefixtures("weak_argon2")``.
    """
    with weak_argon2_for_tests():
        yield


ROOT = Path(__file__).resolve().parents[2]

# The real relay process lives in tests/support/relay_process.py (shared with the relay
# and widget tests); ``Relay`` keeps this package's name for it.
Relay = RelayProcess


@pytest.fixture(scope="module")
def relay(
    relay_backend: str,
    relay_pair_factory: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Relay]:
    """One relay process on SQLite, or (``pg``) two on PostgreSQL + Redis behind a
    round-robin balancer, so a node's socket, a participant's and the HTTP requests land
    on either relay (tests/conftest.py)."""
    if relay_backend == "pg":
        yield relay_pair_factory(**FUNCTIONAL_LIMITS)
        return
    r = start_relay(tmp_path_factory.mktemp("relay"), **FUNCTIONAL_LIMITS)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def fresh_relay(tmp_path: Path) -> Iterator[Relay]:
    r = start_relay(tmp_path)
    try:
        yield r
    finally:
        r.stop()


@dataclass
class EnrolledProgram:
    keystore: Path
    program_id: str
    identity_key: str
    relay_url: str


def init_program(relay_url: str, token: str, keystore: Path, *extra: str) -> EnrolledProgram:
    env = dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "quietline",
            "program",
            "init",
            "--keystore",
            str(keystore),
            "--relay",
            relay_url,
            f"--enrollment-token={token}",
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"program_id", "identity_key"}
    return EnrolledProgram(keystore, out["program_id"], out["identity_key"], relay_url)


@pytest.fixture
def program_factory(relay: Relay, tmp_path: Path) -> Callable[..., EnrolledProgram]:
    counter = iter(range(1000))

    def make(*extra: str) -> EnrolledProgram:
        path = tmp_path / f"program-{next(counter)}.qlks"
        return init_program(relay.url, relay.add_program(), path, *extra)

    return make


@pytest.fixture
def enroll(tmp_path: Path) -> Callable[[Relay], EnrolledProgram]:
    """Enroll a program with any relay (e.g. ``fresh_relay``)."""

    def make(relay: Relay) -> EnrolledProgram:
        return init_program(relay.url, relay.add_program(), tmp_path / "enrolled.qlks")

    return make


@pytest.fixture(scope="module")
def shared_program(relay: Relay, tmp_path_factory: pytest.TempPathFactory) -> EnrolledProgram:
    """One enrolled program per module, for tests that open no conversation."""
    path = tmp_path_factory.mktemp("shared") / "program.qlks"
    return init_program(relay.url, relay.add_program(), path)


async def wait_for(
    events: AsyncIterator[Any],
    predicate: Callable[[Any], bool],
    timeout: float = 15.0,
    seen: list[Any] | None = None,
) -> Any:
    """The first event matching ``predicate`` (others are appended to ``seen``)."""

    async def scan() -> Any:
        async for event in events:
            if predicate(event):
                return event
            if seen is not None:
                seen.append(event)
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(scan(), timeout)


@pytest.fixture
def waiter() -> Callable[..., Any]:
    return wait_for


# -- the malicious relay ---------------------------------------------------------------

Frame = dict[str, Any]


def sender_slot(frame: Frame) -> int | None:
    if frame.get("type") != "message":
        return None
    try:
        return b64u_decode(frame["envelope"])[18]
    except Exception:
        return None


class TamperingProxy:
    """Forwards to the relay; ``arm_*`` methods switch on one misbehaviour at a time.

    Behaviours act on messages pushed down the WebSocket, filtered by the envelope's
    sender slot (0 participant, 1 program), so each can be aimed at either direction.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http_hook: Callable[[str, str, Any], Any] | None = None
        self.http_down: Callable[[str, str], bool] | None = None
        """Requests it matches (method, path) get a 503 and never reach the relay."""
        self.http_lost: Callable[[str, str], bool] | None = None
        """Requests it matches reach the relay, but their answer is lost (a 502)."""
        self.seen: dict[int, list[Frame]] = {0: [], 1: []}
        self.done = asyncio.Event()
        self._mode: str | None = None
        self._slot: int | None = None
        self._held: Frame | None = None
        self._edit: Callable[[bytes], bytes] = lambda raw: raw
        self._sockets: set[WebSocket] = set()
        self.tampered_ids: list[str] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(base_url=upstream, timeout=30)
        self.app = Starlette(
            routes=[
                WebSocketRoute("/v1/ws", self._ws),
                Route(
                    "/{path:path}",
                    self._http,
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
                ),
            ]
        )

    # -- switches ---------------------------------------------------------------

    def arm(self, mode: str, slot: int) -> None:
        """``tamper``, ``drop``, ``reorder`` or ``replay`` the next message from ``slot``."""
        assert mode in {"tamper", "drop", "reorder", "replay", "edit"}
        self._mode, self._slot, self._held = mode, slot, None
        self.done.clear()

    def cut_next_sent(self) -> None:
        """When the relay next answers ``sent`` on a socket, drop the answer and close
        that socket: the send is committed, but its sender never hears so."""
        self._mode, self._slot, self._held = "cut_sent", None, None
        self.done.clear()

    def arm_edit(self, slot: int, edit: Callable[[bytes], bytes]) -> None:
        """Replace the next envelope from ``slot`` by ``edit(envelope)``."""
        self._edit = edit
        self.arm("edit", slot)

    async def inject(self, frame: Frame) -> None:
        """Push ``frame`` down every client WebSocket, as if the relay sent it."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.send_text(json.dumps(frame))

    async def kick(self) -> None:
        """Drop every client WebSocket (the clients must reconnect)."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1012)

    def _transform(self, frame: Frame) -> list[Frame]:
        slot = sender_slot(frame)
        if slot is None:
            return [frame]
        self.seen.setdefault(slot, []).append(frame)
        if self._mode is None or slot != self._slot:
            return [frame]
        mode = self._mode
        if mode == "tamper":
            self.tampered_ids.append(str(frame["id"]))
            raw = bytearray(b64u_decode(frame["envelope"]))
            raw[-1] ^= 0x01
            self._finish()
            return [dict(frame, envelope=b64u_encode(bytes(raw)))]
        if mode == "edit":
            self._finish()
            return [dict(frame, envelope=b64u_encode(self._edit(b64u_decode(frame["envelope"]))))]
        if mode == "drop":
            self._finish()
            return []
        if mode == "reorder":
            if self._held is None:
                self._held = frame
                return []
            held, self._held = self._held, None
            self._finish()
            return [frame, held]
        # replay: deliver the genuine message, then an earlier one again under a new id
        old = next(f for f in self.seen[slot] if f["conversation_id"] == frame["conversation_id"])
        self._finish()
        return [frame, dict(old, id=f"{old['id']}-replayed")]

    def _finish(self) -> None:
        self._mode = None
        self.done.set()

    # -- server -----------------------------------------------------------------

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            http="h11",
            ws="websockets-sansio",
            lifespan="off",
            ws_per_message_deflate=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                raise RuntimeError("proxy did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        await self._client.aclose()

    async def _http(self, request: Request) -> Response:
        if self.http_down is not None and self.http_down(request.method, request.url.path):
            body = {"error": {"code": "unavailable", "message": "Try again."}}
            return Response(json.dumps(body), status_code=503, media_type="application/json")
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in {"authorization", "content-type", "host"}
        }
        upstream = await self._client.request(
            request.method,
            request.url.path,
            content=await request.body(),
            headers=headers,
            params=request.query_params,
        )
        if self.http_lost is not None and self.http_lost(request.method, request.url.path):
            return Response(b"", status_code=502)
        content = upstream.content
        if self.http_hook is not None and upstream.status_code < 400 and content:
            changed = self.http_hook(request.method, request.url.path, upstream.json())
            content = json.dumps(changed).encode()
        media = upstream.headers.get("content-type", "application/json")
        return Response(content, status_code=upstream.status_code, media_type=media)

    async def _ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self._sockets.add(websocket)
        upstream_url = self.upstream.replace("http://", "ws://") + "/v1/ws"
        try:
            async with ws_connect(upstream_url, compression=None) as up:

                async def pump_up() -> None:
                    while True:
                        await up.send(await websocket.receive_text())

                async def pump_down() -> None:
                    async for raw in up:
                        frame = json.loads(raw)
                        # a batch (the program node asks for them) is taken apart, so each
                        # message can be tampered with alone; unbatched pushes are valid too
                        if self._mode == "cut_sent" and frame.get("type") == "sent":
                            self._finish()
                            await websocket.close(code=1012)
                            return
                        batch = frame.get("type") == "messages"
                        for one in frame["messages"] if batch else [frame]:
                            for out in self._transform(one):
                                await websocket.send_text(json.dumps(out))

                tasks = [asyncio.create_task(pump_up()), asyncio.create_task(pump_down())]
                _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(BaseException):
                        await task
        except (ConnectionClosed, WebSocketDisconnect, OSError, RuntimeError):
            pass
        self._sockets.discard(websocket)
        with contextlib.suppress(Exception):
            await websocket.close()


@pytest.fixture
async def proxy(relay: Relay) -> AsyncIterator[TamperingProxy]:
    p = TamperingProxy(relay.url)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture(autouse=True)
async def _hang_watchdog() -> AsyncIterator[None]:
    """If a test hangs, print every asyncio task's stack (debug aid; no effect otherwise)."""

    async def watch() -> None:
        await asyncio.sleep(float(os.environ.get("QL_TEST_WATCHDOG", "100000")))
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)

    task = asyncio.create_task(watch())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- the same tests on two relays: PostgreSQL + Redis (docs/scale-out.md) ---------------


@dataclass
class Deployment:
    """Where a test's program node and participants connect: one SQLite relay (both the
    same URL), or two relays on PostgreSQL + Redis, the node on relay a (through the
    balancer, whose origin it signs for) and participants on relay b."""

    name: str
    program_url: str
    participant_url: str
    add_program: Callable[[], str]

    @property
    def url(self) -> str:  # what ``enroll`` connects to
        return self.program_url


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=[pytest.mark.pg, pytest.mark.slow])])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    if request.param == "sqlite":
        relay: Relay = request.getfixturevalue("relay")
        yield Deployment("sqlite", relay.url, relay.url, relay.add_program)
        return
    from relay_pair import start_pair

    pair = start_pair(
        tmp_path_factory.mktemp("pair"),
        request.getfixturevalue("pg_database"),
        request.getfixturevalue("redis_server").url,
        **FUNCTIONAL_LIMITS,
    )
    pair.balancer.targets = [pair.a.port]  # the node on a
    try:
        yield Deployment("pg", pair.balancer.url, pair.b.url, pair.a.add_program)
    finally:
        pair.stop()
