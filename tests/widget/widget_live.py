"""Live pieces for the widget tests (H6): a real relay process, a real ProgramClient, and a
hostile relay standing in front of the real one.

- :func:`start_relay`, :class:`RelayProcess`, :func:`free_port`: re-exported from
  tests/support/relay_process.py (``python -m quietline relay serve`` on a free loopback
  port with a SQLite file in a tmp dir; stopped by PID).
- :func:`enroll_program`: ``relay add-program`` then ``quietline program init`` with a
  profile file, as a program would do it.
- :class:`LoopThread`: one asyncio loop in a thread, because Playwright's sync API runs in
  the test's own thread and refuses an asyncio loop there.
- :class:`LiveProgram`: a ``ProgramClient`` on that loop; its events land in a queue the
  test waits on with timeouts.
- :class:`HostileRelay`: an HTTP and WebSocket forwarder (uvicorn, on that loop) that the
  widget believes is the relay. It passes CORS headers both ways (the browser needs them)
  and can, when armed, swap the identity key, break a signature, edit the profile,
  flip a bit of a program message, or drop one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from relay_process import FUNCTIONAL_LIMITS as FUNCTIONAL_LIMITS  # re-exported
from relay_process import RelayProcess, free_port
from relay_process import start_relay as start_relay  # re-exported for the tests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from client_sdk.program import ProgramClient
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.identity import IdentityKeyPair

PASSPHRASE = "widget tests only, not a real passphrase"
T = TypeVar("T")


@dataclass(frozen=True)
class Enrolled:
    keystore: Path
    program_id: str
    identity_key: str


def enroll_program(relay: RelayProcess, tmp: Path, profile: dict[str, Any]) -> Enrolled:
    added = relay.cli("relay", "add-program", "--json", "--database-url", relay.database_url)
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["enrollment_token"]
    profile_path = tmp / "profile.json"
    profile_path.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
    keystore = tmp / "program.qlks"
    result = relay.cli(
        "program",
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        relay.url,
        "--enrollment-token",
        token,
        "--profile",
        str(profile_path),
        "--json",
        env={"QUIETLINE_PASSPHRASE": PASSPHRASE},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    return Enrolled(keystore, out["program_id"], out["identity_key"])


# -- an asyncio loop beside the sync Playwright tests ----------------------------------


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        with contextlib.suppress(Exception):
            self.run(shutdown(), timeout=15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=15)
        self.loop.close()


class LiveProgram:
    """A real ProgramClient; ``wait()`` returns the first matching event within a timeout."""

    def __init__(self, loop: LoopThread, relay_url: str, enrolled: Enrolled) -> None:
        self.loop = loop
        self.enrolled = enrolled
        self.events: queue.Queue[Any] = queue.Queue()
        self.client: ProgramClient = loop.run(
            ProgramClient.connect(relay_url, enrolled.keystore, PASSPHRASE), timeout=60
        )
        self._pump = asyncio.run_coroutine_threadsafe(self._collect(), loop.loop)

    async def _collect(self) -> None:
        async for event in self.client.events():
            self.events.put(event)

    def call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kw: Any) -> T:
        return self.loop.run(fn(*args, **kw))

    def allow_origin(self, origin: str) -> None:
        """Register the widget page's origin with the relay (CORS allow-list)."""

        self.loop.run(self.client.set_origins([origin]))

    def wait(self, predicate: Callable[[Any], bool], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the program saw no matching event in time")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(event):
                return event

    def drain(self) -> list[Any]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run(self.client.aclose())
        with contextlib.suppress(Exception):
            self._pump.result(timeout=10)


# -- the hostile relay -------------------------------------------------------------------

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "content-encoding",
    "upgrade",
}


def sign_as(attacker: IdentityKeyPair, label: str, body: bytes) -> dict[str, str]:
    return {"body": b64u_encode(body), "signature": b64u_encode(attacker.sign(label, body))}


class HostileRelay:
    """Forwards everything to the real relay; ``mode`` picks one misbehaviour at a time.

    HTTP modes act on ``GET /v1/programs/{pid}`` and ``POST .../bundle`` answers:
    ``swap_identity`` (another identity key, and a profile re-signed by it with a forged
    name), ``break_signature`` (one bit of the profile signature), ``edit_profile``
    (the profile's name changed, the program's signature kept).
    WebSocket modes act on the next message from the program (sender slot 1):
    ``tamper`` (one bit of the ciphertext flipped), ``drop`` (never delivered),
    ``replay`` (delivered, then the conversation's first program message again under
    a new message id).
    """

    FORGED_NAME = "Forged Helpline"

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode: str | None = None
        self.fired = threading.Event()
        self._seen: dict[str, list[dict[str, Any]]] = {}
        self._sockets: set[WebSocket] = set()
        # What the browser sent, for tests: (method, path + query, headers), and every
        # capability token the real relay handed out.
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tokens: list[str] = []
        self.refused_sockets = 0  # WebSockets refused while down (reconnection attempts)
        self._arrived = threading.Condition()
        self.attacker = IdentityKeyPair.from_seed(bytes(range(100, 132)))
        self._client = httpx.AsyncClient(base_url=upstream, timeout=30)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                WebSocketRoute("/v1/ws", self._ws),
                Route("/{path:path}", self._http, methods=["GET", "POST", "PUT", "OPTIONS"]),
            ]
        )

    def arm(self, mode: str | None) -> None:
        assert mode in {
            None,
            "swap_identity",
            "break_signature",
            "edit_profile",
            "tamper",
            "drop",
            "replay",
            "down",
        }
        self.fired.clear()
        self.mode = mode

    async def go_down(self) -> None:
        """Behave like a relay that crashed: drop every socket, answer nothing more."""
        self.arm("down")
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1011)

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
                raise RuntimeError("hostile relay did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        await self._client.aclose()

    def wait_request(self, method: str, path_end: str, timeout: float = 15.0) -> None:
        """Block until the browser has sent ``method`` to a path ending in ``path_end``."""

        def seen() -> bool:
            return any(
                m == method and p.split("?")[0].endswith(path_end) for m, p, _ in self.requests
            )

        with self._arrived:
            assert self._arrived.wait_for(seen, timeout), f"no {method} .../{path_end}"

    # -- HTTP -------------------------------------------------------------------------

    def _rewrite(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        is_record = path.startswith("/v1/programs/") and (
            path.count("/") == 3 or path.endswith("/bundle")
        )
        if not is_record or self.mode not in {"swap_identity", "break_signature", "edit_profile"}:
            return data
        data = dict(data)
        profile = dict(data["profile"])
        body = json.loads(b64u_decode(profile["body"]))
        body["name"] = self.FORGED_NAME
        forged = json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        if self.mode == "swap_identity":
            data["identity_key"] = b64u_encode(self.attacker.public_key)
            data["profile"] = sign_as(self.attacker, "profile", forged)
        elif self.mode == "break_signature":
            sig = bytearray(b64u_decode(profile["signature"]))
            sig[0] ^= 0x01
            profile["signature"] = b64u_encode(bytes(sig))
            data["profile"] = profile
        else:
            profile["body"] = b64u_encode(forged)
            data["profile"] = profile
        self.fired.set()
        return data

    async def _http(self, request: Request) -> Response:
        if self.mode == "down":
            self.fired.set()
            return Response(b"", status_code=502)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        with self._arrived:
            self.requests.append(
                (
                    request.method,
                    str(request.url.path) + "?" + str(request.url.query),
                    dict(request.headers),
                )
            )
            self._arrived.notify_all()
        upstream = await self._client.request(
            request.method,
            request.url.path,
            content=await request.body(),
            headers=headers,
            params=request.query_params,
        )
        content = upstream.content
        if request.url.path == "/v1/conversations" and upstream.status_code == 201:
            self.tokens.append(str(upstream.json().get("token", "")))
        if upstream.status_code == 200 and request.method in {"GET", "POST"} and content:
            with contextlib.suppress(ValueError):
                content = json.dumps(self._rewrite(request.url.path, upstream.json())).encode()
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
        return Response(content, status_code=upstream.status_code, headers=out_headers)

    # -- WebSocket ----------------------------------------------------------------------

    def _transform(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        if frame.get("type") != "message":
            return [frame]
        raw = bytearray(b64u_decode(frame["envelope"]))
        if raw[18] != 1:  # sender slot: only the program's messages
            return [frame]
        earlier = self._seen.setdefault(frame["conversation_id"], [])
        earlier.append(frame)
        if self.mode not in {"tamper", "drop", "replay"}:
            return [frame]
        mode, self.mode = self.mode, None
        self.fired.set()
        if mode == "drop":
            return []
        if mode == "replay":  # the genuine message, then the first one again, new id
            return [frame, dict(earlier[0], id=earlier[0]["id"] + "-again")]
        raw[-1] ^= 0x01
        return [dict(frame, envelope=b64u_encode(bytes(raw)))]

    def wait_refused_socket(self, after: int, timeout: float) -> int:
        """Block until more than ``after`` sockets were refused while down; the count."""
        with self._arrived:
            refused = self._arrived.wait_for(lambda: self.refused_sockets > after, timeout)
            assert refused, "no reconnection attempt in time"
            return self.refused_sockets

    async def _ws(self, websocket: WebSocket) -> None:
        if self.mode == "down":
            self.fired.set()
            with self._arrived:
                self.refused_sockets += 1
                self._arrived.notify_all()
            await websocket.close(code=1011)
            return
        await websocket.accept()
        self._sockets.add(websocket)
        origin = websocket.headers.get("origin")
        upstream_url = self.upstream.replace("http://", "ws://") + "/v1/ws"
        try:
            async with ws_connect(
                upstream_url, compression=None, origin=Origin(origin) if origin else None
            ) as up:

                async def pump_up() -> None:
                    while True:
                        await up.send(await websocket.receive_text())

                async def pump_down() -> None:
                    async for raw in up:
                        for out in self._transform(json.loads(raw)):
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
