"""Fan-out between relay processes through Redis pub/sub (``QUIETLINE_BROKER_URL``).

Every relay process subscribes to one shared Redis channel for its whole life and
publishes there what it publishes to its own connections, so a participant on one relay
and the program node on another get each other's events live. Message notifications,
the bulk of it, go instead to their recipient's own Redis channel (``quietline:m:`` and
the broker channel: a program id, or a conversation id and slot), which a process
subscribes to only while it holds a socket on it: a relay hears the messages of its own
sockets, not every relay's. A new socket waits until Redis confirmed that subscription
before it reads what waits in the database, so no message falls between the two.

What goes through Redis is only what the relay may hold, and never for longer than a
delivery takes:

- a message push goes as the socket would get it (its message id, conversation id and
  envelope, the ciphertext the relay has just committed to the shared database and keeps
  there until it is acked), on its recipient's own channel only (a program id, or a
  conversation id and slot), so only a relay holding that recipient's socket hears it
  and pushes it as it comes. (It used to carry the id alone, and the receiving relay
  read the envelope back from the database: a statement and a round trip more on the
  shared database, the part every relay shares, for every batch delivered.) A client
  that connects reads what waits in the database, as ever;
- the other events (a new conversation, a close, ``prekeys_draining``) hold opaque ids
  only, as they do on the socket, plus control notices between relays (a participant
  came back, a program's origins changed) that hold a conversation or program id;
- each payload names the publishing process by 8 random bytes made at start (to skip
  its own payloads), which identify nothing and die with it.

Program challenges and proof-of-work puzzles are issued by one process and may come
back to another: each is also kept in Redis as a *ticket*, the SHA-256 of the program
id and the random challenge or puzzle, with the same expiry (a minute or two), deleted
by the first process that redeems it. Recent sends are kept there too, as the SHA-256
of their fingerprint and the ids they got, for a few minutes (server/shared_sends.py).
That is all Redis stores.

Redis keeps none of it longer: pub/sub is not stored, tickets expire or are used, and
the relay asks for no persistence.
When the connection to Redis drops, events published meanwhile are lost as
notifications, never as messages (the rows are in the database): once the relay is
subscribed again it closes its WebSockets with 1012 (service restart), and every client
reconnects and gets what waits for it from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from e2ee.encoding import b64u_decode, b64u_encode
from server.broker import Event, LocalBroker

log = logging.getLogger("quietline.relay")

CHANNEL = "quietline:events"
"""Every relay process's channel: the events besides message pushes, and control notices."""
MESSAGES_PREFIX = "quietline:m:"
"""Message notifications go to ``MESSAGES_PREFIX`` + the recipient's broker channel
(base64url: a program id, or a conversation id and slot), to which only the processes
holding a socket on that channel subscribe."""
LISTEN_WAIT = 5.0
"""How long a new socket waits for its Redis subscription (``listening``)."""
RETRY_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)
MAX_PAYLOADS_PER_READ = 256
SET_PATIENCE_SECONDS = 2.0
SET_ALL = (
    "for i, key in ipairs(KEYS) do "
    "redis.call('SET', key, ARGV[2 * i - 1], 'PX', ARGV[2 * i]) end "
    "return #KEYS"
)
"""The SETs queued since the last pipeline (``set_later``), as one command: ``SET key
value PX ttl`` for each key, run by Redis's own script interpreter. Each SET sent
separately cost the relay's client library more than the send it remembers (measured:
60-100 µs of CPU per message in bench/scale_bench.py)."""
SETS_PER_SCRIPT = 256
Hook = Callable[[Event], None]


PUSH_KEYS = frozenset(("type", "id", "conversation_id", "envelope"))


def _is_push(event: dict[str, Any]) -> bool:
    """A message push as :func:`server.relay.message_event` makes it: those four keys, the
    three besides ``type`` text (base64url, as the sockets send them). Anything else from
    Redis is dropped, not handed to a socket."""
    return event.keys() == PUSH_KEYS and all(
        isinstance(event[k], str) for k in ("id", "conversation_id", "envelope")
    )


def _settle(sets: list[Any]) -> None:
    for *_, done in sets:
        if not done.done():
            done.set_result(None)


def check_reachable(url: str, timeout: float = 10.0) -> None:
    """Raise OSError, in one line without the URL's password, unless Redis answers a PING
    (``quietline relay serve`` checks before it starts serving)."""
    from redis import Redis
    from sqlalchemy.engine import make_url

    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:
        try:
            where = make_url(url).render_as_string(hide_password=True)
        except Exception:
            where = "the broker URL"
        raise OSError(f"the broker {where} cannot be reached: {type(exc).__name__}") from None
    finally:
        client.close()


class RedisBroker(LocalBroker):
    """A :class:`LocalBroker` that also tells the other relay processes.

    ``publish`` delivers here at once (as the local broker does) and queues a
    notification; the notifications of one turn of the event loop go to Redis in one
    PUBLISH, in order, from one task. ``notify`` sends a control notice to the other
    processes only. Set ``fetch`` (envelopes from the database), ``on_remote`` (called
    with every event that came from another process, messages excepted) and
    ``on_resync`` (after a lost connection to Redis came back) before ``start``.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.instance = b64u_encode(secrets.token_bytes(8))
        self._own = f'{{"i":"{self.instance}",'.encode()
        """How this process's own payloads start (see ``_flush``): skipped unparsed."""
        self.on_remote: Hook | None = None
        self.on_resync: Callable[[], None] | None = None
        self.subscribed = asyncio.Event()
        self.sent = 0
        self.received = 0
        self._out: list[tuple[str, list[Any]]] = []
        self._payloads: deque[tuple[str, str]] = deque()
        self._sets: list[tuple[str, str, int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis: Any = None
        self._publisher: Any = None
        self._dropped = False
        self.reconnects = 0
        self._pubsub: Any = None
        self._names: set[str] = set()
        """The message channels this process subscribes to in Redis (a socket's each)."""
        self._expect: dict[str, deque[asyncio.Future[None] | None]] = {}
        self._commands: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return "RedisBroker()"  # the URL may hold a password

    async def start(self) -> None:
        """Connect, subscribe, and return once subscribed (or raise if Redis cannot be
        reached within a few seconds: a relay told to use Redis does not start without)."""
        from redis.asyncio import Redis

        self._loop = asyncio.get_running_loop()
        self._redis = Redis.from_url(self.url)
        # The pushes and SETs have a client of their own (one task, one pipeline at a
        # time): a crowd of ticket requests or send lookups that takes every connection of
        # the shared pool then fails those requests alone, instead of a dropped publish
        # that would restart every socket of this process (``_send``'s resync).
        self._publisher = Redis.from_url(self.url)
        await asyncio.wait_for(self._redis.ping(), 10)
        self._tasks = [
            asyncio.create_task(self._listen(), name="quietline-redis-listen"),
            asyncio.create_task(self._send(), name="quietline-redis-send"),
        ]
        await asyncio.wait_for(self.subscribed.wait(), 10)

    async def stop(self) -> None:
        for task in (*self._tasks, *self._commands):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for client in (self._redis, self._publisher):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._redis = self._publisher = None

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(self, channel: bytes, queue: Any) -> None:
        """Also subscribe to the channel's message notifications in Redis, when this is
        its first subscriber in this process (see :meth:`listening`)."""
        first = channel not in self._subs
        super().subscribe(channel, queue)
        if first:
            self._command("subscribe", MESSAGES_PREFIX + b64u_encode(channel))

    def unsubscribe(self, channel: bytes, queue: Any) -> None:
        had = channel in self._subs
        super().unsubscribe(channel, queue)
        if had and channel not in self._subs:
            self._command("unsubscribe", MESSAGES_PREFIX + b64u_encode(channel))

    def _command(self, verb: str, name: str) -> None:
        """SUBSCRIBE or UNSUBSCRIBE on the listening connection, in order. Redis answers
        each in turn: ``_expect`` holds, per channel, a future for each SUBSCRIBE (None
        for an UNSUBSCRIBE) not answered yet. A failure is the listener's to see: it
        subscribes every channel again when it reconnects."""
        if verb == "subscribe":
            self._names.add(name)
        else:
            self._names.discard(name)
        pubsub, loop = self._pubsub, self._loop
        if pubsub is None or loop is None:
            return
        future = loop.create_future() if verb == "subscribe" else None
        self._expect.setdefault(name, deque()).append(future)
        task = loop.create_task(getattr(pubsub, verb)(name))
        self._commands.add(task)
        task.add_done_callback(self._command_done)

    def _command_done(self, task: asyncio.Task[Any]) -> None:
        self._commands.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("redis subscription failed: %s", type(task.exception()).__name__)

    def _answered(self, name: str) -> None:
        """Redis answered the oldest SUBSCRIBE or UNSUBSCRIBE of a channel."""
        waiting = self._expect.get(name)
        if not waiting:
            return
        future = waiting.popleft()
        if not waiting:
            del self._expect[name]
        if future is not None and not future.done():
            future.set_result(None)

    def _subscribed_afresh(self) -> list[str]:
        """A new listening connection: every channel is subscribed again (answered in
        turn); what waited on the old one is let go (the resync closes its sockets)."""
        for waiting in self._expect.values():
            for future in waiting:
                if future is not None and not future.done():
                    future.set_result(None)
        self._expect = {}
        names = sorted(self._names)
        if self._loop is not None:
            for name in names:
                self._expect[name] = deque([self._loop.create_future()])
        return names

    async def listening(self, channel: bytes) -> None:
        """Return once Redis answered this process's last SUBSCRIBE to the channel's
        message notifications (at most :data:`LISTEN_WAIT` seconds: past that, the
        listener's reconnect and resync take over). A new socket waits for it before it
        reads what waits in the database, so a message stored after that read is always
        notified to this process."""
        waiting = self._expect.get(MESSAGES_PREFIX + b64u_encode(channel))
        futures = [f for f in waiting or () if f is not None]
        if futures:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(futures[-1]), LISTEN_WAIT)

    # -- out --------------------------------------------------------------------------

    def publish(self, channel: bytes, event: Event) -> None:
        super().publish(channel, event)
        key = b64u_encode(channel)
        if event.get("type") == "message":
            self._queue(MESSAGES_PREFIX + key, [key, event])
        else:
            self._queue(CHANNEL, [key, event])

    def notify(self, event: Event) -> None:
        """A control notice for the other relay processes (none of this one's sockets)."""
        self._queue(CHANNEL, ["", event])

    def _queue(self, target: str, item: list[Any]) -> None:
        if self._loop is None:
            return
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append((target, item))

    def _flush(self) -> None:
        """One payload per run of items for the same Redis channel, in order (one
        subscriber connection gets the publishes of one publisher in order, whatever
        their channels)."""
        items, self._out = self._out, []
        run: list[Any] = []
        for i, (target, item) in enumerate(items):
            run.append(item)
            if i + 1 == len(items) or items[i + 1][0] != target:
                payload = json.dumps({"i": self.instance, "e": run}, separators=(",", ":"))
                self._payloads.append((target, payload))
                run = []
        if items:
            self._wake.set()

    async def _send(self) -> None:
        attempt = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._payloads or self._sets:
                batch = list(self._payloads)
                sets, self._sets = self._sets, []
                try:
                    async with self._publisher.pipeline(transaction=False) as pipe:
                        for start in range(0, len(sets), SETS_PER_SCRIPT):
                            chunk = sets[start : start + SETS_PER_SCRIPT]
                            pipe.execute_command(
                                "EVAL",
                                SET_ALL,
                                len(chunk),
                                *(name for name, *_ in chunk),
                                *(x for _, value, ttl_ms, _ in chunk for x in (value, ttl_ms)),
                            )
                        for target, payload in batch:
                            pipe.publish(target, payload)
                        await pipe.execute()
                except asyncio.CancelledError:
                    _settle(sets)
                    raise
                except Exception as exc:
                    _settle(sets)
                    # Dropped: the rows are in the database. Once a publish goes through
                    # again, a resync notice makes every process's clients fetch them.
                    log.warning("redis publish failed: %s", type(exc).__name__)
                    self._payloads.clear()
                    self._dropped = True
                    await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                    attempt += 1
                    break
                attempt = 0
                _settle(sets)
                for _ in batch:
                    self._payloads.popleft()
                self.sent += len(batch)
                if self._dropped:
                    self._dropped = False
                    self.notify({"type": "resync"})

    def set_later(self, name: str, value: str, ttl_ms: int) -> asyncio.Future[None] | None:
        """SET ``name`` to ``value`` for ``ttl_ms``, in the next pipeline with the
        notifications (server.shared_sends); lost, like them, if Redis is away. The
        future is done once that pipeline ran (or failed), or after
        ``SET_PATIENCE_SECONDS`` at most; None before ``start``."""
        if self._loop is None:
            return None
        done: asyncio.Future[None] = self._loop.create_future()
        if not self._sets:
            # A Redis that hangs (rather than refusing) delays an answer by this much at
            # most: one timer for the list of SETs this one starts (``_send`` takes the
            # list whole, so the timer settles the SETs of the pipeline that takes them).
            self._loop.call_later(SET_PATIENCE_SECONDS, _settle, self._sets)
        self._sets.append((name, value, ttl_ms, done))
        self._wake.set()
        return done

    async def get_value(self, name: str) -> bytes | None:
        value: bytes | None = await self._redis.get(name)
        return value

    # -- in ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        attempt = 0
        lost = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                names = self._subscribed_afresh()
                await pubsub.subscribe(CHANNEL, *names)
                self._pubsub = pubsub
                for name in self._names.difference(names):  # sockets that came meanwhile
                    self._command("subscribe", name)
                for name in set(names).difference(self._names):  # and those that left
                    self._command("unsubscribe", name)
                # The client library reconnects and subscribes again by itself after a
                # short drop, without raising: this hears of it, to catch up all the same.
                pubsub.connection.register_connect_callback(self._reconnected)
                self.subscribed.set()
                if lost:
                    await self._reconnected(None)
                    lost = False
                attempt = 0
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    # Whatever else arrived meanwhile goes with it: one database read
                    # for the messages of all of them.
                    datas = self._take(message, [])
                    while len(datas) < MAX_PAYLOADS_PER_READ:
                        more = await pubsub.get_message(timeout=0)
                        if more is None:
                            break
                        self._take(more, datas)
                    if datas:
                        self._receive(datas)
            except asyncio.CancelledError:
                self._pubsub = None
                await self._close(pubsub)
                raise
            except Exception as exc:
                self._pubsub = None
                if not lost:
                    log.warning("redis connection lost: %s", type(exc).__name__)
                lost = True
                self.subscribed.clear()
                await self._close(pubsub)
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1

    def _take(self, message: dict[str, Any], datas: list[bytes]) -> list[bytes]:
        """Add a published payload to ``datas``; note a subscription's confirmation."""
        kind = message.get("type")
        if kind == "message":
            datas.append(message["data"])
        elif kind in ("subscribe", "unsubscribe"):
            channel = message.get("channel")
            if isinstance(channel, bytes):
                self._answered(channel.decode())
        return datas

    async def _close(self, pubsub: Any) -> None:
        """Close a subscription; its connection goes back to the pool without our hook."""
        connection = pubsub.connection
        if connection is not None:
            connection.deregister_connect_callback(self._reconnected)
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    async def _reconnected(self, _connection: Any) -> None:
        """The subscription's connection came back (called after the library subscribed
        again): notifications sent meanwhile are lost, so every client fetches."""
        log.warning("redis connection back: clients reconnect to catch up")
        self.reconnects += 1
        if self.on_resync is not None:
            self.on_resync()

    def _receive(self, datas: list[bytes]) -> None:
        """Deliver other processes' payloads to this process's subscribers, in order; a
        payload this process cannot read is dropped (logged by type)."""
        items: list[tuple[bytes, Any]] = []
        for data in datas:
            if data.startswith(self._own):  # every relay hears its own publishes too
                continue
            try:
                payload = json.loads(data)
                if payload.get("i") == self.instance:
                    continue
                items += [(b64u_decode(c) if c else b"", e) for c, e in payload["e"]]
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("redis payload refused: %s", type(exc).__name__)
                continue
            self.received += 1
        for channel, event in items:
            if not isinstance(event, dict):
                continue
            if event.get("type") == "message":
                if not channel or not _is_push(event):
                    log.warning("redis payload refused: malformed push")
                    continue
                LocalBroker.publish(self, channel, event)
                continue
            if self.on_remote is not None:
                try:
                    self.on_remote(event)
                except Exception as exc:
                    log.error("remote event failed: %s", type(exc).__name__)
            if channel:
                LocalBroker.publish(self, channel, event)

    # -- tickets: single-use tokens any process may redeem ------------------------------

    @staticmethod
    def _ticket(kind: str, key: bytes) -> str:
        return f"quietline:{kind}:" + hashlib.sha256(key).hexdigest()

    async def put_ticket(self, kind: str, key: bytes, ttl: float) -> None:
        """Remember a challenge or puzzle one process issued, for ``ttl`` seconds, under
        a hash of it: any process can then redeem it once (``take_ticket``). Redis drops
        it at its expiry or when it is used, whichever comes first."""
        await self._redis.set(self._ticket(kind, key), b"1", px=max(1, int(ttl * 1000)))

    async def take_ticket(self, kind: str, key: bytes) -> bool:
        """Redeem a ticket: True once, for the first process that asks in time."""
        return bool(await self._redis.delete(self._ticket(kind, key)))

    def subscribers(self) -> list[Any]:
        """Every subscriber of this process (for a resync)."""
        return [queue for queues in self._subs.values() for queue in queues]
