"""Connection guard: caps and deadlines below the ASGI app, in uvicorn's protocols.

What an anonymous client could otherwise hold for free, and the bound on each:

- **Open connections.** At most ``max_connections`` in all (never more than the
  process's open-file limit less :data:`FD_RESERVE`, kept for the database, the log and
  the listening socket, so the writer, the sweeper and the checkpointer can always open
  their files) and ``max_connections_per_source`` from one address. A connection over
  either cap is answered at once (a fixed 503 or 429 with the usual JSON error, then
  closed) before any of its bytes are read.
- **Time.** A request's head must arrive within ``header_timeout_seconds`` of its first
  byte (or of the connection), its body within ``body_timeout_seconds`` after the head;
  otherwise the connection is closed. Between requests uvicorn's keep-alive timeout
  applies; the WebSocket's first (auth) frame has its own deadline (``server.ws``).
- **Pongs.** A WebSocket client that sends pings and never reads would grow the
  transport's write buffer by a pong each; past :data:`PONG_BUFFER_LIMIT` unread bytes
  the socket is closed instead.

Per-source counts are kept under a keyed hash of the peer's address (HMAC under a key
made at start, :class:`server.limits.KeyedHasher`), in memory, and dropped with the
last connection. The address itself is never stored or logged. A peer named in
``trusted_proxies`` carries many clients' connections: only the total cap applies to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Coroutine
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from server.limits import KeyedHasher
from server.settings import Settings

log = logging.getLogger("quietline.relay")

FD_RESERVE = 64
"""Open files kept out of the connection cap: every SQLite connection holds three (the
database, its WAL and its shared memory; up to ten connections), plus the listening
socket, the event loop's own, standard streams and the log."""
PONG_BUFFER_LIMIT = 64 * 1024
CLOSE_GRACE = 30.0
"""How long a socket the relay closed may keep its unread frames (at most
PONG_BUFFER_LIMIT or one frame beyond the transport's high-water mark) before it is cut."""


def open_file_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def effective_max_connections(settings: Settings, nofile: int | None = None) -> int:
    """``max_connections``, lowered below the open-file limit where that is smaller."""
    nofile = open_file_limit() if nofile is None else nofile
    if nofile == resource.RLIM_INFINITY:
        return settings.max_connections
    room = nofile - FD_RESERVE
    if room < 1:
        raise ValueError(f"the open-file limit ({nofile}) leaves no room for connections")
    return min(settings.max_connections, room)


def _refusal(status: int, reason: bytes, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\ncache-control: no-store\r\n\r\n%s"
        % (status, reason, len(body), body)
    )


FULL = _refusal(503, b"Service Unavailable", "unavailable", "Too many connections; try again.")
TOO_MANY_FROM_SOURCE = _refusal(
    429, b"Too Many Requests", "rate_limited", "Too many connections from here; close some."
)


class ConnectionGuard:
    """Counts open connections, in all and per source; one per serving process."""

    def __init__(self, settings: Settings, hasher: KeyedHasher | None = None) -> None:
        self.settings = settings
        self.max_total = effective_max_connections(settings)
        self.max_per_source = settings.max_connections_per_source
        self.trusted = frozenset(settings.trusted_proxy_list())
        self._hash = hasher or KeyedHasher()
        self.total = 0
        self.refused = 0
        self.refused_per_source = 0
        """Of ``refused``: at ``max_connections_per_source`` (server.metrics)."""
        self._per_source: dict[bytes, int] = {}
        self._open: dict[Any, bytes | None] = {}

    def admit(self, transport: Any, client: tuple[str, int] | None) -> bytes | None:
        """Count a new connection; the bytes to answer with when it is refused."""
        if self.total >= self.max_total:
            self.refused += 1
            return FULL
        key: bytes | None = None
        if client is not None and client[0] not in self.trusted:
            key = self._hash("connection source", client[0].encode())
            count = self._per_source.get(key, 0)
            if count >= self.max_per_source:
                self.refused += 1
                self.refused_per_source += 1
                return TOO_MANY_FROM_SOURCE
            self._per_source[key] = count + 1
        self.total += 1
        self._open[transport] = key
        return None

    def release(self, transport: Any) -> None:
        """Forget a closed connection (once; later calls do nothing)."""
        if transport not in self._open:
            return
        key = self._open.pop(transport)
        self.total -= 1
        if key is not None:
            left = self._per_source[key] - 1
            if left:
                self._per_source[key] = left
            else:
                del self._per_source[key]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the guard's cap and the head and body deadlines."""

    guard: ClassVar[ConnectionGuard]
    _timer: asyncio.TimerHandle | None = None
    _reading_body = False
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        refusal = self.guard.admit(transport, self.client)
        if refusal is not None:
            self._refused = True
            transport.write(refusal)
            transport.close()
            return
        self._arm(self.guard.settings.header_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if not self._refused:
            self.guard.release(self.transport)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._timer is None:  # the first bytes of a request after an idle keep-alive
            self._reading_body = False
            self._arm(self.guard.settings.header_timeout_seconds)
        super().data_received(data)
        if self.transport.get_protocol() is not self:  # upgraded to a WebSocket
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY and not self._reading_body:
            self._reading_body = True
            self._arm(self.guard.settings.body_timeout_seconds)
        elif state is not h11.IDLE and state is not h11.SEND_BODY:
            self._disarm()  # the whole request is in: the app answers, keep-alive follows

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        """Too slow: closed (a body half read ends the app's request as the client
        leaving would, ``incomplete_body``)."""
        self._timer = None
        self.transport.close()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, releasing the guard's count when it ends and
    closing a socket whose unread pongs pile up."""

    guard: ClassVar[ConnectionGuard]

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self.transport)
        super().connection_lost(exc)

    def handle_ping(self) -> None:
        if self.transport.get_write_buffer_size() > PONG_BUFFER_LIMIT:
            self.transport.abort()
            return
        super().handle_ping()

    def send(self, message: Any) -> Coroutine[Any, Any, None]:
        """A close from the app never waits for a client that does not read: the close
        frame goes behind what it has not read, and the connection is cut
        :data:`CLOSE_GRACE` seconds later if the client has not closed by then. Any
        other message is uvicorn's own send, its coroutine returned as it is (no await
        of ours in between: this is on every frame's path)."""
        if message["type"] == "websocket.close" and not self.writable.is_set():
            return self._close_now(message)
        return super().send(message)

    async def _close_now(self, message: Any) -> None:
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.transport.is_closing()
        ):
            await super().send(message)
            return
        code = message.get("code", 1000)
        reason = message.get("reason", "") or ""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.close_timer = self.loop.call_later(CLOSE_GRACE, self.transport.abort)


def protocols(guard: ConnectionGuard) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes for ``uvicorn.run(http=.., ws=..)``."""
    http = type("RelayHTTPProtocol", (GuardedH11Protocol,), {"guard": guard})
    ws = type("RelayWebSocketProtocol", (GuardedWebSocketProtocol,), {"guard": guard})
    return http, ws
