"""The one WebSocket of a signed-in browser, ``/ws``: actions in, live updates out.

Checks before anything is read or sent:

1. the upgrade's ``Origin`` is the console's own (no other site can open it with the
   browser's cookie), and the session cookie names a live session;
2. the first frame is ``{"op": "hello", "csrf": ...}`` with the session's CSRF token,
   within ``HELLO_SECONDS``.

Then the socket carries the node's updates for that account (``ConsoleNode.subscribe``,
bounded by the node, starting with a snapshot; the web side adds the account's
colleagues to each snapshot, for the transfer choice, and the program's name, time zone
and idle sign-out as they are now, so an admin's change shows at once) and the
browser's actions, each
answered by a ``result`` frame with the same ``req``. Every action names its account to
the node, which decides what it may see: an id the account may not see is "not found",
the same as an unknown one. A session that ends (sign-out in another tab, idle time, a
disabled account) closes its sockets at once with a ``signed_out`` frame. Errors that
are not the node's own plain-words errors are logged by type only (never a message,
which could hold content) and answered with a generic sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from console.errors import ConsoleError
from console.web.sessions import Session
from console.web.state import WebState, maybe_await, web_state

__all__ = ["console_socket"]

log = logging.getLogger("quietline.console")

HELLO_SECONDS = 10.0
MAX_FRAME = 64 * 1024
MAX_TEXT = 10_000
CLOSE_POLICY = 4401  # not signed in, wrong origin or token: the browser goes to sign-in
CLOSE_DROPPED = 4000  # the node dropped a slow subscriber: the browser reconnects

# op -> (node method, argument names in order)
OPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "open": ("timeline", ("conversation_id",)),
    "claim": ("claim", ("conversation_id",)),
    "take_next": ("take_next", ()),
    "send": ("send", ("conversation_id", "text")),
    "typing": ("typing", ("conversation_id",)),
    "ask_code_word": ("ask_code_word", ("conversation_id", "alias")),
    "transfer": ("transfer", ("conversation_id", "to_staff_id")),
    "escalate": ("escalate", ("conversation_id",)),
    "end": ("end", ("conversation_id",)),
    "block": ("block", ("conversation_id",)),
    "ack_alert": ("ack_alert", ("alert_id",)),
    "go_on_shift": ("go_on_shift", ()),
    "go_off_shift": ("go_off_shift", ()),
    "library": ("library", ()),
}


class BadRequest(Exception):
    """A frame that is not a well-formed action."""


def _expected_origin(ws: WebSocket) -> str:
    scheme = "https" if ws.url.scheme == "wss" else "http"
    return f"{scheme}://{ws.headers.get('host', '')}"


def _args(op: str, frame: dict[str, Any]) -> list[Any]:
    _, names = OPS[op]
    values: list[Any] = []
    for name in names:
        value = frame.get(name)
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            raise BadRequest(f"{name} is missing or not valid")
        if name == "text" and not value.strip():
            raise BadRequest("the message is empty")
        values.append(value)
    return values


class _Link:
    """One socket's sending side: frames go out one at a time."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_text(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))


async def _hello(ws: WebSocket, session: Session) -> bool:
    try:
        raw = await asyncio.wait_for(ws.receive_text(), HELLO_SECONDS)
        frame = json.loads(raw) if len(raw) <= MAX_FRAME else None
    except (TimeoutError, ValueError, KeyError, WebSocketDisconnect):
        return False
    return (
        isinstance(frame, dict)
        and frame.get("op") == "hello"
        and session.csrf_ok(frame.get("csrf"))
    )


async def _act(web: WebState, session: Session, frame: dict[str, Any]) -> dict[str, Any]:
    """Carry out one action; the ``result`` frame to answer it with."""
    req = frame.get("req")
    if not isinstance(req, int) or isinstance(req, bool):
        req = None
    reply: dict[str, Any] = {"type": "result", "req": req, "ok": False, "error": None}
    op = frame.get("op")
    web.sessions.touch(session)
    if op == "touch":
        reply["ok"] = True
        return reply
    if op == "sound":  # the sound switch holds for the session, across reloads
        session.sound = frame.get("on") is not False
        reply["ok"] = True
        return reply
    if not isinstance(op, str) or op not in OPS:
        reply.update(error="That action is not known.", reason="bad_request")
        return reply
    who = web.account_of(session)
    if who is None:
        reply.update(error="You are signed out.", reason="signed_out")
        return reply
    try:
        args = _args(op, frame)
        method = getattr(web.node, OPS[op][0])
        if op == "go_on_shift":
            until = frame.get("until_ms")
            result = await maybe_await(
                method(who, until if isinstance(until, int) and until > 0 else None)
            )
        elif op == "typing":  # "active": false says the worker stopped writing
            result = await maybe_await(method(who, *args, frame.get("active") is not False))
        else:
            result = await maybe_await(method(who, *args))
    except BadRequest as exc:
        reply.update(error=str(exc).capitalize() + ".", reason="bad_request")
        return reply
    except ConsoleError as exc:
        reason = "".join("_" + c.lower() if c.isupper() else c for c in type(exc).__name__)
        reply.update(error=exc.message, reason=reason.lstrip("_"))
        return reply
    except Exception as exc:  # a bug must not end the worker's socket or show content
        log.error("console action %s failed: %s", op, type(exc).__name__)
        reply.update(error="Something went wrong. Try again.", reason="internal")
        return reply
    reply["ok"] = True
    if op == "open":
        reply.update(conversation_id=args[0], timeline=result)
    elif op == "take_next":
        reply["conversation_id"] = result
    elif op == "claim":
        reply["conversation_id"] = args[0]
    elif op == "typing":
        reply["sent"] = bool(result)
    elif op == "library":
        reply["library"] = result
    return reply


async def _read(ws: WebSocket, web: WebState, session: Session, link: _Link) -> None:
    while True:
        raw = await ws.receive_text()
        if len(raw) > MAX_FRAME:
            await link.send(
                {
                    "type": "result",
                    "req": None,
                    "ok": False,
                    "error": "That was too long to send.",
                    "reason": "too_large",
                }
            )
            continue
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            await link.send(
                {
                    "type": "result",
                    "req": None,
                    "ok": False,
                    "error": "That action is not known.",
                    "reason": "bad_request",
                }
            )
            continue
        await link.send(await _act(web, session, frame))


def _console_info(web: WebState) -> dict[str, Any]:
    """What the page shows of the program, as it is now: an admin may change the name,
    the time zone or the shift rules while the page is open (each snapshot carries it)."""
    return {
        "program_name": web.program_name,
        "timezone": web.timezone,
        "idle_minutes": int(web.sessions.idle.total_seconds() // 60),
    }


async def _forward(web: WebState, who: Any, link: _Link) -> None:
    async with web.node.subscribe(who) as updates:
        async for update in updates:
            if update.get("type") == "signed_out":
                web.sessions.end_for_staff(who.staff_id, "disabled")
                return
            if update.get("type") == "snapshot":
                update = {
                    **update,
                    "colleagues": await maybe_await(web.node.colleagues(who)),
                    "console": _console_info(web),
                }
            await link.send(update)


async def _watch(web: WebState, session: Session) -> str:
    """Returns why the session ended: sign-out, idle time, a disabled account."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.ended.wait(), web.poll_seconds)
        if not session.ended.is_set():
            web.sessions.get(session.sid)  # ends it when idle too long
            if not session.ended.is_set():
                web.account_of(session)
        if session.ended.is_set():
            return session.end_reason or "expired"


async def console_socket(ws: WebSocket) -> None:
    web = web_state(ws)
    session = web.session_of(ws)
    if ws.headers.get("origin") != _expected_origin(ws) or session is None:
        await ws.close(code=CLOSE_POLICY)
        return
    await ws.accept()
    if not await _hello(ws, session) or (who := web.account_of(session)) is None:
        with contextlib.suppress(Exception):
            await ws.close(code=CLOSE_POLICY)
        return
    link = _Link(ws)
    await link.send(
        {
            "type": "setup",
            "saved_replies": await maybe_await(web.node.saved_replies(who)),
            "code_word_aliases": await maybe_await(web.node.code_word_aliases(who)),
            "idle_minutes": int(web.sessions.idle.total_seconds() // 60),
        }
    )
    tasks = {
        asyncio.create_task(_read(ws, web, session, link), name="read"),
        asyncio.create_task(_forward(web, who, link), name="forward"),
        asyncio.create_task(_watch(web, session), name="watch"),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finished = done.pop()
    code = 1000
    if finished.get_name() == "watch" and not finished.cancelled() and finished.exception() is None:
        with contextlib.suppress(Exception):
            await link.send({"type": "signed_out", "reason": finished.result()})
        code = CLOSE_POLICY
    elif finished.get_name() == "forward" and session.ended.is_set():
        with contextlib.suppress(Exception):
            await link.send({"type": "signed_out", "reason": session.end_reason or "expired"})
        code = CLOSE_POLICY
    elif finished.get_name() == "forward":
        code = CLOSE_DROPPED
    elif finished.exception() is not None and not isinstance(
        finished.exception(), WebSocketDisconnect
    ):
        log.error("console socket stopped: %s", type(finished.exception()).__name__)
    with contextlib.suppress(Exception):
        await ws.close(code=code)
