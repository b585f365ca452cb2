"""The WebSocket ``/v1/ws``: push to a program node or a participant, and take sends/acks.

The token comes in the first frame, never in the URL. Events and replies go out through
one :class:`Mailbox` per socket, which has one writer at a time (the caller when it is
idle, else its task), so frames never interleave and keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.broker import Event, member_channel, program_channel
from server.errors import ApiError
from server.relay import Relay, dumps, token_hash
from server.sources import source_key
from server.storage import Principal
from server.wire import parse_json, path_id
from server.writer import WriterStopped

log = logging.getLogger("quietline.relay")

PUSH_OVERHEAD = 100
"""A message push's text besides its envelope (type, id and conversation id, JSON)."""
MAX_INFLIGHT = 64
CLOSE_BAD_AUTH = 4401
CLOSE_RATE_LIMITED = 4429
CLOSE_SLOW_READER = 4008
"""The socket did not read its frames: its queue (``max_socket_queue_bytes``) was full."""
CLOSE_RESTART = 1012
"""Service restart: the relay lost its fan-out for a while; reconnect and fetch."""
CLOSE_WAIT = 5.0
"""How long a socket's end waits for its 4008 close to be written."""
CLOSE_BAD_FRAMES = 4400
"""The socket sent more than ``max_bad_frames`` frames refused as malformed."""
BAD_FRAME_CODES = frozenset(
    {
        "malformed_json",
        "malformed_field",
        "bad_base64",
        "bad_key_length",
        "malformed_envelope",
        "oversized",
        "too_many_recipients",
        "wrong_slot",
        "wrong_kind",
    }
)
"""Refusals that count as a bad frame: the sender's bug or attack, never the relay's
state (a closed conversation or a rate limit does not count)."""


async def _authenticate(ws: WebSocket, relay: Relay) -> tuple[Principal, bool] | None:
    """The caller named by the first frame, and whether it asked for batched pushes."""
    try:
        first = await asyncio.wait_for(ws.receive_text(), relay.settings.ws_auth_timeout_seconds)
        frame = json.loads(first)
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            raise ApiError("malformed_field", "The first frame must be an auth frame.")
        token = frame.get("token")
        if not isinstance(token, str):
            raise ApiError("bad_token", "The auth frame has no token.")
        batch = frame.get("batch", False)
        if not isinstance(batch, bool):
            raise ApiError("malformed_field", "Field 'batch' must be true or false.")
        who = await relay.principal(token)
        relay.limits.hit("connect", token_hash(token), relay.settings.limit_connections_per_token)
        return who, batch
    except ApiError as exc:
        relay.metrics.refused(exc.code)
        code = CLOSE_RATE_LIMITED if exc.code == "rate_limited" else CLOSE_BAD_AUTH
        await ws.close(code, exc.code)
    except (TimeoutError, ValueError, KeyError, RuntimeError):
        await ws.close(CLOSE_BAD_AUTH, "bad_token")
    except WebSocketDisconnect:
        pass
    return None


class WebSocketApp:
    """``/v1/ws`` as a plain ASGI app. Starlette hands an app that is not a function the
    server's ``receive`` as it is, so after the auth frame the read loop takes frames
    straight from it (no per-frame state checks of Starlette's WebSocket), and no
    session wrapper keeps coroutine frames of its own for as long as a socket lives.
    ``__call__`` returns :func:`websocket_endpoint`'s coroutine without one of its own,
    for the same reason. :class:`server.middleware.RelayMiddleware` calls it with the
    server's own ``send`` too (see :class:`Mailbox`)."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return websocket_endpoint(WebSocket(scope, receive=receive, send=send), receive, send)


async def websocket_endpoint(ws: WebSocket, receive: Receive, send: Send) -> None:
    """Serve one socket; an unexpected failure is logged by type only (never a message,
    which could quote input) and closes the socket with 1011.

    One coroutine per socket (frames are taken here, not in a coroutine of their own:
    every coroutine waiting as long as the socket lives costs each idle connection its
    frame) and nothing allocated before it is needed: an idle connection should cost
    little more than the socket itself. Sends and acks are handed to the writer without
    a task each; their answers go to the outbox when the batch committed. ``receive``
    and ``send`` are the server's own (see :class:`WebSocketApp`); ``ws`` (Starlette's)
    accepts, reads the auth frame and closes."""
    relay: Relay = ws.app.state.relay
    outbox: Mailbox | None = None
    channel = b""
    try:
        await ws.accept()
        authenticated = await _authenticate(ws, relay)
        if authenticated is None:
            return
        who, batch = authenticated
        if who.is_program:
            assert who.program_id is not None
            channel = program_channel(who.program_id)
        else:
            assert who.conversation_id is not None
            channel = member_channel(who.conversation_id, who.slot)
        outbox = Mailbox(ws, relay, who, send=send, batch=batch)
        relay.metrics.sockets += 1
        if not who.is_program:  # a participant's sends count per source too
            outbox.source = source_key(ws.scope, relay.trusted_proxies, relay.hasher)
        relay.broker.subscribe(channel, outbox)
        outbox.start()
        inflight: Inflight | None = None  # made on the first frame
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":  # websocket.disconnect
                return
            text = message.get("text")
            if text is None:  # a binary frame: refused like any frame that is not JSON
                outbox.refuse(None, ApiError("malformed_json", "A frame is JSON text."))
            else:
                if inflight is None:
                    inflight = Inflight()
                elif inflight.count >= MAX_INFLIGHT:
                    await inflight.below(MAX_INFLIGHT)
                taken = _take(relay, who, text, outbox, inflight)
                if taken is not True and (taken is False or not await taken):
                    return
            if outbox.bad_frames > relay.settings.max_bad_frames:
                await outbox.stop()
                await send(
                    {"type": "websocket.close", "code": CLOSE_BAD_FRAMES, "reason": "bad_frames"}
                )
                return
            if outbox.overflowed:
                return
    except Exception as exc:  # the last guard for this socket
        log.error("websocket failed: %s", type(exc).__name__)
        with contextlib.suppress(Exception):
            await ws.close(1011)
    finally:
        if outbox is not None:
            relay.metrics.sockets -= 1
            relay.broker.unsubscribe(channel, outbox)
            await outbox.stop()


class Mailbox:
    """Outgoing frames of one socket, written by one task at a time.

    The task exists only while there is something to send: an idle connection costs
    no task beyond the one reading it. The first task sends ``ready`` and every pending
    message (paged); live events that duplicate one of those are dropped.

    A socket that asked for batches (``"batch": true`` in its auth frame: a program
    node, which takes many conversations' messages) gets its messages as ``messages``
    frames: every message published in one turn of the event loop (all the sends of one
    group commit) goes out in one frame, up to ``max_push_batch_bytes``, instead of one
    frame (and one write) each. Any other event first sends the batch before it, so the
    order never changes.

    Frames go out through ``send``, the server's ASGI send as the app got it, as
    ``websocket.send`` messages: not through Starlette's ``WebSocket.send_text`` and the
    exception middleware's wrapper, three coroutines more per frame that check what
    cannot change on an accepted socket. A send on a socket that is gone raises, as
    through them: ``OSError`` (uvicorn's ``ClientDisconnected``) or ``RuntimeError``
    after a close. ``ws`` closes a participant's socket after ``closed``.
    """

    __slots__ = (
        "_asgi_send",
        "_batch",
        "_batch_size",
        "_items",
        "_relay",
        "_seen",
        "_task",
        "_who",
        "_ws",
        "bad_frames",
        "closed",
        "overflowed",
        "queued",
        "source",
    )

    def __init__(
        self, ws: WebSocket, relay: Relay, who: Principal, *, send: Send, batch: bool = False
    ) -> None:
        self._ws = ws
        self._asgi_send = send
        self._relay = relay
        self._who = who
        self._items: deque[Item] | None = None  # made on first use: idle sockets stay small
        self._task: asyncio.Task[None] | None = None
        self._seen: set[str] | None = None
        self._batch: list[Event] | None = [] if batch else None
        self._batch_size = 0
        self.closed = False
        self.overflowed = False
        self.queued = 0
        """About how much text waits in ``_items`` (bounded by ``max_socket_queue_bytes``)."""
        self.bad_frames = 0
        self.source = b""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(initial=True))

    def put_nowait(self, event: Event | str) -> None:
        """Send or queue an event (a dict) or a frame already serialized (a str).

        A message for a batching socket joins the open batch, which is sent at the end
        of this turn of the event loop (or at once when it is full)."""
        if self.closed:
            return
        batch = self._batch
        if batch is not None:
            if not isinstance(event, str) and event.get("type") == "message":
                if not batch:
                    asyncio.get_running_loop().call_soon(self._flush)
                batch.append(event)
                self._batch_size += _push_size(event)
                if self._batch_size >= self._relay.settings.max_push_batch_bytes:
                    self._flush()
                return
            if batch:
                self._flush()
        self._put(event)

    def _flush(self) -> None:
        """Send the open batch (nothing if it was sent already)."""
        if not self._batch:
            return
        batch, self._batch, self._batch_size = self._batch, [], 0
        self._put(batch)

    def _put(self, item: Item) -> None:
        """When nothing is queued and no task is writing, the frame is written at once,
        without a task: uvicorn's WebSocket send writes to the transport and returns
        without suspending unless the transport paused writing (a client reading too
        slowly), so a task per frame would only add scheduling. A send that does suspend
        is finished by a task, before anything queued after it."""
        if self.closed:
            return
        if self._task is None and not self._items and not _closes(item):
            self._send_now(item)
            return
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self.queued += _item_size(item)
        if self.queued > self._relay.settings.max_socket_queue_bytes:
            self._overflow()
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def refuse(self, request_id: Any, exc: ApiError) -> None:
        """Answer a refused frame; a malformed one counts toward ``max_bad_frames``."""
        self._relay.metrics.refused(exc.code)
        if exc.code in BAD_FRAME_CODES:
            self.bad_frames += 1
        self.put_nowait(_error(request_id, exc))

    def _overflow(self) -> None:
        """The client does not read: drop what waits (its messages stay in the database
        until acked) and close the socket with CLOSE_SLOW_READER."""
        self._drop(CLOSE_SLOW_READER, "queue_full")

    def restart(self) -> None:
        """Close the socket with 1012 (service restart): the client reconnects and gets
        every message waiting for it from the database (server.fanout, after Redis came
        back: pushes published meanwhile were lost as notifications, not as rows)."""
        if not self.closed:
            self._drop(CLOSE_RESTART, "service_restart")

    def _drop(self, code: int, reason: str) -> None:
        self.closed = self.overflowed = True
        self._items = None
        self.queued = 0
        task = self._task
        if task is not None:
            task.cancel()
        self._task = asyncio.create_task(self._close_with(task, code, reason))

    async def _close_with(
        self, previous: asyncio.Task[None] | None, code: int, reason: str
    ) -> None:
        if previous is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await previous
        with contextlib.suppress(Exception):
            await self._asgi_send({"type": "websocket.close", "code": code, "reason": reason})

    def _send_now(self, item: Item) -> None:
        frame = self._frame(item)
        if frame is None:
            return
        coro: Any = self._write(frame)  # a coroutine: uvicorn's send
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
            return
        except Exception as exc:  # this socket's failure, never the publisher's
            log.error("websocket send failed: %s", type(exc).__name__)
            self.closed = True
            return
        self._task = asyncio.create_task(self._run(suspended=(coro, waiting)))

    async def stop(self) -> None:
        self.closed = True
        task = self._task
        if task is not None:
            if self.overflowed:  # let the 4008 close go out (it never waits on the client)
                with contextlib.suppress(TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(task), CLOSE_WAIT)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(
        self, *, initial: bool = False, suspended: tuple[Any, Any] | None = None
    ) -> None:
        """Send ``ready`` and the pending pages (``initial``), or finish a send that
        suspended, then everything queued, in order."""
        try:
            if initial:
                # Subscribed across relays before the read of what waits: a message
                # stored after that read is then always pushed live.
                await self._relay.listening(self._channel())
                await self._write('{"type":"ready"}')
                await self._pending()
            if suspended is not None:
                await _resume(*suspended)
            while self._items and not self.closed:
                item = self._items.popleft()
                self.queued -= _item_size(item)
                await self._send(item)
            self._items = None
            self.queued = 0
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
        finally:
            self._task = None

    def _channel(self) -> bytes:
        who = self._who
        if who.program_id is not None:
            return program_channel(who.program_id)
        assert who.conversation_id is not None
        return member_channel(who.conversation_id, who.slot)

    def _write(self, text: str) -> Awaitable[None]:
        """The server's send of one text frame."""
        return self._asgi_send({"type": "websocket.send", "text": text})

    async def _pending(self) -> None:
        cursor = 0
        while True:
            page, cursor = await self._relay.pending(self._who, cursor)
            if page and self._seen is None:
                self._seen = set()
            for event in page:
                assert self._seen is not None
                self._seen.add(event["id"])
            if self._batch is None:
                for event in page:
                    await self._write(dumps(event))
            else:
                for part in _split(page, self._relay.settings.max_push_batch_bytes):
                    await self._write(_messages_frame(part))
            if len(page) < self._relay.settings.max_fetch_messages:
                return

    def _frame(self, item: Item) -> str | None:
        """The text to send, or None when nothing is left of it: a message already sent
        from the pending pages is dropped (alone, or from a batch)."""
        if isinstance(item, str):
            return item
        if isinstance(item, list):
            if self._seen:
                item = [e for e in item if not self._sent_before(e)]
            return _messages_frame(item) if item else None
        if self._seen and self._sent_before(item):
            return None
        return dumps(item)

    def _sent_before(self, event: Event) -> bool:
        """Whether ``event`` is a message the pending pages sent (each is dropped once)."""
        assert self._seen is not None
        if event.get("type") != "message" or event["id"] not in self._seen:
            return False
        self._seen.discard(event["id"])
        return True

    async def _send(self, item: Item) -> None:
        frame = self._frame(item)
        if frame is None:
            return
        await self._write(frame)
        if _closes(item) and not self._who.is_program:
            self.closed = True
            await self._ws.close(1000)


Item = Event | str | list[Event]
"""What a mailbox queues: an event, a frame already serialized, or a batch of messages."""


def _messages_frame(events: list[Event]) -> str:
    """``{"type":"messages","messages":[..]}``, each message as :func:`dumps` writes it."""
    return '{"type":"messages","messages":[' + ",".join(dumps(e) for e in events) + "]}"


def _split(events: list[Event], limit: int) -> list[list[Event]]:
    """``events`` in order, in parts of about ``limit`` bytes of text (one at least each)."""
    parts: list[list[Event]] = []
    size = limit
    for event in events:
        if size >= limit:
            parts.append([])
            size = 0
        parts[-1].append(event)
        size += _push_size(event)
    return parts


def _item_size(item: Item) -> int:
    """About how much text an item queued in a mailbox will be."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, list):
        return sum(_push_size(e) for e in item)
    return PUSH_OVERHEAD + len(item.get("envelope") or item.get("message") or "")


def _push_size(event: Event) -> int:
    """About how much text a message adds to a ``messages`` frame."""
    return len(event["envelope"]) + PUSH_OVERHEAD


async def _resume(coro: Any, waiting: Any) -> None:
    """Drive a coroutine that suspended on ``waiting`` (a future, or None for a bare
    yield) to its end, as a task would; cancelling closes it.

    The future is waited on beside the coroutine, never awaited again: the coroutine's
    own await has already claimed it, and asyncio refuses a second await of a pending
    future ("await wasn't used with future"). Once it is done, the coroutine reads its
    result or exception itself."""
    while True:
        try:
            await (asyncio.sleep(0) if waiting is None else asyncio.wait((waiting,)))
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


def _closes(item: Item) -> bool:
    """A ``closed`` event: a participant's socket is closed after it (in the task)."""
    return isinstance(item, dict) and item.get("type") == "closed"


class Inflight:
    """How many of a socket's sends and acks the writer has not answered yet; the socket
    reads no further frame while MAX_INFLIGHT are (backpressure on a client that sends
    faster than the relay commits). A future exists only while the reader waits."""

    __slots__ = ("_waiter", "catching_up", "count")

    def __init__(self) -> None:
        self.count = 0
        self._waiter: asyncio.Future[None] | None = None
        self.catching_up = True
        """Whether this socket's sends may still repeat sends made on an earlier
        connection, maybe to another relay process: a client sends what went unanswered
        first, in order, so once Redis knows none of a send (server/shared_sends.py) the
        socket's later sends are new and Redis is not asked about them."""

    def add(self) -> None:
        self.count += 1

    def done(self) -> None:
        self.count -= 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def below(self, limit: int) -> None:
        """Return once fewer than ``limit`` are in flight."""
        while self.count >= limit:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


def _take(
    relay: Relay, who: Principal, text: str, outbox: Mailbox, inflight: Inflight
) -> bool | Awaitable[bool]:
    """Handle one frame; False when the relay is shutting down (the socket then ends).
    A send this process does not know, with Redis between relays, first asks Redis
    whether another process took it (server/shared_sends.py): then an awaitable, which
    the socket's loop awaits before it reads the next frame, so sends keep their order."""
    try:
        frame = parse_json(text, "frame")
    except ApiError as exc:
        outbox.refuse(None, exc)
        return True
    request_id = frame.get("request_id")
    if not isinstance(request_id, str | int | None) or isinstance(request_id, bool):
        request_id = None
    try:
        later = _submit(relay, who, frame, request_id, outbox, inflight)
    except ApiError as exc:
        outbox.refuse(request_id, exc)
        return True
    except WriterStopped:
        return False
    return True if later is None else later


async def _submit_unless_shared(
    relay: Relay, op: Any, request_id: Any, outbox: Mailbox, inflight: Inflight
) -> bool:
    """Answer a send another relay process already took with its ids, else submit it."""
    assert relay.shared_sends is not None
    resent = await relay.shared_sends.recall(op.shared_key)
    if resent is not None:
        outbox.put_nowait(_sent_frame(request_id, resent))
        return True
    inflight.catching_up = False
    try:
        _submit_send(relay, op, request_id, outbox, inflight)
    except WriterStopped:
        return False
    return True


def _sent_frame(request_id: Any, ids: list[str]) -> str:
    """``{"type":"sent","request_id":..,"message_ids":[..]}`` as compact JSON; the ids
    are base64url text, which JSON never escapes."""
    rid = (
        json.dumps(request_id)
        if isinstance(request_id, str)
        else ("null" if request_id is None else str(int(request_id)))
    )
    return '{"type":"sent","request_id":' + rid + ',"message_ids":["' + '","'.join(ids) + '"]}'


def _error(request_id: Any, exc: ApiError) -> Event:
    return {"type": "error", "request_id": request_id, "code": exc.code, "message": exc.message}


def _failed(request_id: Any, exc: Exception) -> Event:
    """The answer to a send or an ack the writer did not take: its refusal, or
    ``unavailable`` when the write failed (the client may try again)."""
    if not isinstance(exc, ApiError):
        exc = ApiError("unavailable", "Try again.")
    return _error(request_id, exc)


def _submit(
    relay: Relay,
    who: Principal,
    frame: dict[str, Any],
    request_id: Any,
    outbox: Mailbox,
    inflight: Inflight,
) -> Awaitable[bool] | None:
    """Hand a send or an ack to the writer with a callback (no task, no future), which
    answers right after the batch committed and counts it off ``inflight``; or, for a
    send Redis must be asked about first, the coroutine that does (see :func:`_take`)."""
    kind = frame.get("type")
    if kind == "ack":
        ack = relay.prepare_ack(who, frame, "ids")

        def acked(result: Any) -> None:
            inflight.done()
            if isinstance(result, Exception):
                outbox.put_nowait(_failed(request_id, result))
            else:
                relay.acked(ack, result)

        relay.writer.submit_with(ack, acked)
        inflight.add()
        return None
    if kind != "send":
        raise ApiError("malformed_field", "Unknown frame type.")
    cid = path_id(frame.get("conversation_id"), "conversation_id")
    op = relay.prepare_send(who, cid, frame, outbox.source)
    resent = relay.resent(op)
    if resent is not None:
        outbox.put_nowait(_sent_frame(request_id, resent))
        return None
    if relay.shared_sends is not None and inflight.catching_up:
        return _submit_unless_shared(relay, op, request_id, outbox, inflight)
    _submit_send(relay, op, request_id, outbox, inflight)
    return None


def _submit_send(
    relay: Relay, op: Any, request_id: Any, outbox: Mailbox, inflight: Inflight
) -> None:
    def sent(result: Any) -> None:
        inflight.done()
        if isinstance(result, Exception):
            outbox.put_nowait(_failed(request_id, result))
        else:
            frame = _sent_frame(request_id, relay.deliver(op, result))
            if op.shared is None:
                outbox.put_nowait(frame)
            else:  # answered once Redis has it (server/shared_sends.py)
                op.shared.add_done_callback(lambda _: outbox.put_nowait(frame))

    relay.writer.submit_with(op, sent)
    inflight.add()
