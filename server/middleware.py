"""Pure ASGI middleware: privacy headers, CORS by registered origin, and a last guard.

- Every HTTP answer carries ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``
  and ``X-Content-Type-Options: nosniff``; uvicorn adds no ``Server`` or ``Date``.
- CORS: an ``Origin`` is echoed only if a program registered it (for ``/v1/programs/{pid}``
  paths, that program; elsewhere, any enrolled program). A browser WebSocket from an
  unregistered origin is refused.
- The guard turns any unexpected exception into a JSON 500 and logs only the
  exception's type: never a message (which could quote input) or a request detail.
  The client's address is never read.
- A WebSocket to a path in ``websockets`` goes straight to its app, with the server's
  own ``send`` (no routing, no exception wrapper around each frame it sends): the app
  must catch its own failures, as :class:`server.ws.WebSocketApp` does. Any other
  WebSocket path goes through the router (which refuses it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from e2ee.encoding import b64u_decode
from e2ee.errors import MalformedInput

log = logging.getLogger("quietline.relay")

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
ALLOW_METHODS = b"GET, POST, PUT, OPTIONS"
ALLOW_HEADERS = b"authorization, content-type, quietline-proof"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RelayMiddleware:
    def __init__(
        self, app: ASGIApp, relay_getter: Any, websockets: Mapping[str, ASGIApp] | None = None
    ) -> None:
        self.app = app
        self.relay_getter = relay_getter
        self.websockets = dict(websockets or {})

    def _allowed(self, scope: Scope, origin: str) -> bool:
        relay = self.relay_getter()
        path: str = scope.get("path", "")
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "v1" and parts[2] == "programs" and parts[3]:
            try:
                pid = b64u_decode(parts[3])
            except MalformedInput:
                return False
            return origin in relay.origins.get(pid, ())
        return origin in relay.all_origins

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A WebSocket (or lifespan) is handed on as it is, with no coroutine of this
        middleware waiting above it: one would live as long as the socket, a few hundred
        bytes on every idle connection. HTTP goes through :meth:`_http`."""
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and origin not in self.relay_getter().all_origins:
                self.relay_getter().metrics.refused("forbidden_origin")
                return send({"type": "websocket.close", "code": 4403})
            endpoint = self.websockets.get(scope["path"])
            return (endpoint or self.app)(scope, receive, send)
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None and self._allowed(scope, origin):
            cors = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"origin"),
            ]
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(send, cors)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"server"]
                message = {**message, "headers": headers + SECURITY_HEADERS + cors}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except (ClientDisconnect, OSError):
            # The client went away (mid-body, or before its answer): not the relay's
            # failure, and nobody is left to read an answer.
            log.debug("client went away")
        except Exception as exc:
            log.error("request failed: %s", type(exc).__name__)
            if not started:
                await _json(
                    send, 500, {"error": {"code": "internal", "message": "Internal error."}}, cors
                )

    async def _preflight(self, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        if not cors:
            self.relay_getter().metrics.refused("forbidden_origin")
            body = {
                "error": {"code": "forbidden_origin", "message": "This origin is not registered."}
            }
            await _json(send, 403, body, [])
            return
        extra = [
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", b"600"),
        ]
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": SECURITY_HEADERS + cors + extra,
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _json(send: Send, status: int, obj: Any, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(obj).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
