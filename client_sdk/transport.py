"""HTTP and WebSocket to the relay (``docs/api.md``), with reconnect and backoff.

The transport moves opaque bytes and relay ids; it never sees a key or a plaintext.
Everything it receives is untrusted: it checks shapes only (a frame that is not a JSON
object is dropped), and the callers authenticate the contents.

- :class:`RelayHTTP` is one method per route; a refusal becomes :class:`RelayError`
  with the relay's stable code, a network failure :class:`RelayUnavailable`.
- :class:`RelaySocket` keeps the ``/v1/ws`` socket open: it authenticates with the
  first frame (tokens never travel in a URL), hands pushed frames to a consumer in
  arrival order, correlates ``send`` requests with their answers, and reconnects with
  exponential backoff and jitter when the socket drops. On reconnect the relay
  re-sends every message not yet acked; callers deduplicate by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from client_sdk import proof
from client_sdk.errors import RelayError, RelayUnavailable, SDKError, UsageError

__all__ = ["Backoff", "RelayHTTP", "RelaySocket", "relay_origin", "ws_url"]

log = logging.getLogger("client_sdk.transport")

JSON = dict[str, Any]
MAX_FRAME = 2**20
"""The largest WebSocket frame the socket takes (the relay keeps its pushes within it)."""


def relay_origin(relay_url: str) -> str:
    """The relay's origin (``scheme://host[:port]``) as signed in ``relay-auth``."""
    parts = urlsplit(relay_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise UsageError("relay URL must be http:// or https:// with a host")
    return f"{parts.scheme}://{parts.netloc}".lower()


def ws_url(relay_url: str) -> str:
    """``/v1/ws`` on the relay, ``ws://`` for ``http://`` and ``wss://`` for ``https://``."""
    origin = relay_origin(relay_url)
    return ("wss" + origin[5:] if origin.startswith("https") else "ws" + origin[4:]) + "/v1/ws"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``uniform(0.5, 1) * min(cap, base * 2**n)``."""

    base: float = 0.1
    cap: float = 10.0

    def delay(self, attempt: int, rnd: Callable[[], float] = _random.random) -> float:
        raw: float = min(self.cap, self.base * 2.0 ** min(attempt, 30))
        return raw * (0.5 + 0.5 * rnd())


class RelayHTTP:
    """One async method per relay route. Tokens go in ``Authorization`` only."""

    def __init__(self, relay_url: str, *, timeout: float = 15.0) -> None:
        self.origin = relay_origin(relay_url)
        self._client = httpx.AsyncClient(base_url=self.origin, timeout=timeout)
        self.refresh_token: Callable[[], Awaitable[str]] | None = None
        """Set by a program node: a fresh session token when the relay answers 401."""

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        body: JSON | None,
        token: str | None,
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(extra or {})
        try:
            return await self._client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RelayUnavailable(f"{method} {path}: {type(exc).__name__}") from None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> JSON:
        """The answer's JSON object; :class:`RelayError` for a refusal, else
        :class:`RelayUnavailable` (unreachable, or an answer that is not an object)."""
        response = await self._send(method, path, body, token, headers)
        if response.status_code == 401 and token and self.refresh_token is not None:
            # the session expired or the relay restarted: sign in again, once
            response = await self._send(method, path, body, await self.refresh_token())
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise RelayUnavailable(f"{method} {path}: answer is not JSON") from None
        if response.status_code >= 400:
            error = data.get("error") if isinstance(data, dict) else None
            code = str(error.get("code", "unknown")) if isinstance(error, dict) else "unknown"
            message = str(error.get("message", "")) if isinstance(error, dict) else ""
            raise RelayError(response.status_code, code, message)
        if not isinstance(data, dict):  # every route answers an object (docs/api.md)
            raise RelayUnavailable(f"{method} {path}: answer is not a JSON object")
        return data

    # -- program routes ----------------------------------------------------------

    async def enroll(
        self,
        enrollment_token: str,
        identity_key: str,
        signature: str,
        origins: list[str] | None = None,
    ) -> str:
        body: JSON = {
            "enrollment_token": enrollment_token,
            "identity_key": identity_key,
            "signature": signature,
        }
        if origins is not None:
            body["origins"] = origins
        data = await self.request("POST", "/v1/programs", body=body)
        return _str(data, "program_id")

    async def challenge(self, program_id: str) -> str:
        data = await self.request("POST", f"/v1/programs/{program_id}/challenge")
        return _str(data, "challenge")

    async def session(self, program_id: str, challenge: str, signature: str) -> tuple[str, int]:
        data = await self.request(
            "POST",
            f"/v1/programs/{program_id}/session",
            body={"challenge": challenge, "signature": signature},
        )
        return _str(data, "session_token"), _int(data, "expires_in", 0)

    async def put_origins(self, program_id: str, token: str, origins: list[str]) -> None:
        await self.request(
            "PUT", f"/v1/programs/{program_id}/origins", body={"origins": origins}, token=token
        )

    async def put_signed_prekey(self, program_id: str, token: str, signed: JSON) -> None:
        await self.request(
            "PUT", f"/v1/programs/{program_id}/signed-prekey", body=signed, token=token
        )

    async def post_one_time_prekeys(self, program_id: str, token: str, prekeys: list[JSON]) -> int:
        data = await self.request(
            "POST",
            f"/v1/programs/{program_id}/one-time-prekeys",
            body={"prekeys": prekeys},
            token=token,
        )
        return _int(data, "count", 0)

    async def one_time_prekey_count(self, program_id: str, token: str) -> int:
        data = await self.request(
            "GET", f"/v1/programs/{program_id}/one-time-prekeys/count", token=token
        )
        return _int(data, "count")

    async def put_profile(self, program_id: str, token: str, signed: JSON) -> None:
        await self.request("PUT", f"/v1/programs/{program_id}/profile", body=signed, token=token)

    async def put_status(self, program_id: str, token: str, signed: JSON) -> None:
        await self.request("PUT", f"/v1/programs/{program_id}/status", body=signed, token=token)

    async def put_generation(self, program_id: str, token: str, signed: JSON) -> None:
        await self.request("PUT", f"/v1/programs/{program_id}/generation", body=signed, token=token)

    async def get_generation(self, program_id: str, token: str) -> JSON | None:
        data = await self.request("GET", f"/v1/programs/{program_id}/generation", token=token)
        found = data.get("generation")
        return found if isinstance(found, dict) else None

    async def queue(self, program_id: str, token: str) -> JSON:
        return await self.request("GET", f"/v1/programs/{program_id}/queue", token=token)

    async def program_messages(self, program_id: str, token: str) -> list[JSON]:
        data = await self.request("GET", f"/v1/programs/{program_id}/messages", token=token)
        return _objects(data, "messages")

    # -- public routes -----------------------------------------------------------

    async def get_program(self, program_id: str) -> JSON:
        return await self.request("GET", f"/v1/programs/{program_id}")

    async def bundle(self, program_id: str) -> JSON:
        return await self.proven(program_id, "POST", f"/v1/programs/{program_id}/bundle")

    async def proven(
        self, program_id: str, method: str, path: str, *, body: JSON | None = None
    ) -> JSON:
        """An anonymous request for ``program_id``; when the relay asks a proof of work
        (``proof_required``: the program is under pressure), solve its puzzle on a
        worker thread and send it again with the proof (client_sdk.proof)."""
        for attempt in range(3):
            try:
                return await self.request(method, path, body=body)
            except RelayError as exc:
                if exc.code not in ("proof_required", "bad_proof") or attempt == 2:
                    raise
            puzzle = await self.request("POST", f"/v1/programs/{program_id}/puzzle")
            header = await asyncio.to_thread(proof.proof_header, puzzle)
            try:
                return await self.request(method, path, body=body, headers={proof.HEADER: header})
            except RelayError as exc:
                if exc.code not in ("proof_required", "bad_proof") or attempt == 2:
                    raise
        raise RelayUnavailable("no proof of work was accepted")  # pragma: no cover

    # -- conversations -----------------------------------------------------------

    async def create_conversation(self, program_id: str, envelope: str) -> tuple[str, str]:
        data = await self.proven(
            program_id,
            "POST",
            "/v1/conversations",
            body={"program_id": program_id, "envelope": envelope},
        )
        return _str(data, "conversation_id"), _str(data, "token")

    async def post_messages(
        self, conversation_id: str, token: str, envelopes: list[str]
    ) -> list[str]:
        data = await self.request(
            "POST",
            f"/v1/conversations/{conversation_id}/messages",
            body={"envelopes": envelopes},
            token=token,
        )
        return [str(i) for i in data.get("message_ids", [])]

    async def conversation_messages(self, conversation_id: str, token: str) -> list[JSON]:
        data = await self.request(
            "GET", f"/v1/conversations/{conversation_id}/messages", token=token
        )
        return _objects(data, "messages")

    async def ack(self, token: str, message_ids: list[str]) -> None:
        await self.request("POST", "/v1/acks", body={"message_ids": message_ids}, token=token)

    async def close_conversation(self, conversation_id: str, token: str) -> None:
        await self.request("POST", f"/v1/conversations/{conversation_id}/close", token=token)


def _str(data: JSON, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise RelayUnavailable(f"relay answer lacks {key!r}")
    return value


def _int(data: JSON, key: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RelayUnavailable(f"relay answer lacks the integer {key!r}")
    return value


def _objects(data: JSON, key: str) -> list[JSON]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RelayUnavailable(f"relay answer lacks the list of objects {key!r}")
    return value


TokenProvider = Callable[[], Awaitable[str]]
FrameHandler = Callable[[JSON], Awaitable[None]]


class RelaySocket:
    """The ``/v1/ws`` socket, kept open across drops.

    ``token`` is called before every (re)connection, so a program node can sign a fresh
    challenge when its session expired. ``on_frame`` receives pushed frames
    (``message``, ``conversation``, ``closed``) one at a time, in arrival order, from a
    task of its own: it may itself call :meth:`send`. ``on_idle`` runs whenever the
    frames received so far are all handled (group commit: save once, then ack).

    With ``batch=True`` the socket asks the relay for batched pushes: the messages of one
    relay commit come in one ``messages`` frame, which is handed to ``on_frame`` as the
    ``message`` frames it holds, in order (``on_idle`` then runs once for all of them).
    """

    def __init__(
        self,
        relay_url: str,
        token: TokenProvider,
        on_frame: FrameHandler,
        *,
        backoff: Backoff = Backoff(),
        on_reconnect: Callable[[int], Awaitable[None]] | None = None,
        on_idle: Callable[[], Awaitable[None]] | None = None,
        rnd: Callable[[], float] = _random.random,
        batch: bool = False,
    ) -> None:
        self._url = ws_url(relay_url)
        self._batch = batch
        self._token = token
        self._on_frame = on_frame
        self._on_reconnect = on_reconnect
        self._on_idle = on_idle
        self._backoff = backoff
        self._rnd = rnd
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._frames: asyncio.Queue[JSON | None] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[list[str]]] = {}
        self._ids = itertools.count(1)
        self._runner: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self.connections = 0

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def start(self, timeout: float = 15.0) -> None:
        """Connect and authenticate; if the first try fails, raise its :class:`SDKError`
        (the token provider's own, or :class:`RelayUnavailable`)."""
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._consumer = asyncio.create_task(self._consume())
        self._runner = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(asyncio.shield(self._first), timeout)
        except TimeoutError:
            await self.close()
            raise RelayUnavailable("no socket within the timeout") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._closing = True
        self._ready.clear()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._frames.put_nowait(None)  # wakes the consumer even if a cancel is swallowed
        tasks = [
            t
            for t in (self._runner, self._consumer)
            if t is not None and t is not asyncio.current_task() and not t.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            # bounded: on Python 3.11 wait_for can swallow a cancellation (gh-86296); a
            # task that did must not hang the close
            await asyncio.wait(tasks, timeout=5)
        self._fail_pending("socket closed")

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def send(
        self, conversation_id: str, envelopes: list[str], timeout: float = 15.0
    ) -> list[str]:
        """Send envelopes over the socket; return the relay's message ids."""
        ws = self._ws
        if ws is None or not self._ready.is_set():
            raise RelayUnavailable("not connected")
        request_id = str(next(self._ids))
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        frame = {
            "type": "send",
            "request_id": request_id,
            "conversation_id": conversation_id,
            "envelopes": envelopes,
        }
        try:
            await ws.send(json.dumps(frame))
            return await asyncio.wait_for(future, timeout)
        except (ConnectionClosed, OSError):
            raise RelayUnavailable("connection lost while sending") from None
        except TimeoutError:
            raise RelayUnavailable("no answer to send") from None
        finally:
            self._pending.pop(request_id, None)

    async def ack(self, message_ids: list[str]) -> bool:
        """Ack over the socket; False if not connected (the caller may use HTTP)."""
        ws = self._ws
        if ws is None or not self._ready.is_set() or not message_ids:
            return False
        try:
            await ws.send(json.dumps({"type": "ack", "ids": message_ids}))
        except (ConnectionClosed, OSError):
            return False
        return True

    # -- internals -------------------------------------------------------------

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RelayUnavailable(why))
        self._pending.clear()

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                token = await self._token()
                async with connect(
                    self._url, compression=None, open_timeout=10, max_size=MAX_FRAME
                ) as ws:
                    auth: dict[str, Any] = {"type": "auth", "token": token}
                    if self._batch:
                        auth["batch"] = True
                    await ws.send(json.dumps(auth))
                    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if not isinstance(first, dict) or first.get("type") != "ready":
                        raise RelayUnavailable("relay did not accept the socket")
                    self._ws = ws
                    self.connections += 1
                    self._ready.set()
                    if self._first is not None and not self._first.done():
                        self._first.set_result(None)
                    elif self._on_reconnect is not None:
                        await self._on_reconnect(attempt)
                    attempt = 0
                    async for raw in ws:
                        self._dispatch(raw)
            except asyncio.CancelledError:
                raise
            except SDKError as exc:  # a refusal, or a token provider that failed
                if self._first is not None and not self._first.done():
                    self._first.set_exception(exc)
                    return
            except (
                ConnectionClosed,
                OSError,
                InvalidHandshake,
                InvalidURI,
                TimeoutError,
                ValueError,
            ) as exc:
                if self._first is not None and not self._first.done():
                    self._first.set_exception(RelayUnavailable(type(exc).__name__))
                    return
            finally:
                self._ws = None
                self._ready.clear()
                self._fail_pending("connection lost")
            if self._closing:
                return
            await asyncio.sleep(self._backoff.delay(attempt, self._rnd))
            attempt += 1

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("dropped a frame that is not JSON")
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind in {"sent", "error"} and "request_id" in frame:
            future = self._pending.get(str(frame["request_id"]))
            if future is not None and not future.done():
                if kind == "sent":
                    future.set_result([str(i) for i in frame.get("message_ids", [])])
                else:
                    future.set_exception(
                        RelayError(
                            400, str(frame.get("code", "unknown")), str(frame.get("message", ""))
                        )
                    )
            return
        if kind == "messages":
            items = frame.get("messages")
            if not isinstance(items, list):
                log.warning("dropped a messages frame without a list")
                return
            for item in items:
                if isinstance(item, dict) and item.get("type") == "message":
                    self._frames.put_nowait(item)
                else:
                    log.warning("dropped an item of a messages frame that is not a message")
            return
        self._frames.put_nowait(frame)

    async def _consume(self) -> None:
        while not self._closing:
            frame = await self._frames.get()
            if frame is None or self._closing:
                return
            try:
                await self._on_frame(frame)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bad frame must not stop the others
                log.warning("frame handler failed: %s", type(exc).__name__)
            if self._on_idle is not None and self._frames.empty():
                try:
                    await self._on_idle()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("idle handler failed: %s", type(exc).__name__)
