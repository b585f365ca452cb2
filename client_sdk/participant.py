"""``ParticipantClient``: the participant's side of the protocol, from Python.

For tests, bots and bridges (people in crisis use the widget). Security properties:

- Trust comes from the pinned identity key only (the one in the program's embed
  snippet). :meth:`ParticipantClient.connect` checks the relay's bundle against it:
  the identity key (constant time), the program id derived from it, every signature
  (prekeys, profile, status) and every expiry. A substituted key, a prekey the program
  did not sign or an edited profile raises :class:`~client_sdk.errors.VerificationFailure`
  before anything is sent.
- Keys live in memory only; nothing is written to disk. At close the session is dropped.
- A send the relay cannot take (it is down) is kept in an outbox in memory only and
  sent again, in order and byte for byte, when the socket is back (the relay answers a
  repeat with the first ids, and the ratchet refuses a second copy): ``send`` says
  ``"delivered"`` or ``"queued"``. Queued sends are lost if this process ends first.
- Every message is authenticated by the ratchet before it becomes an event; a tampered
  or replayed envelope becomes :class:`~client_sdk.events.VerificationFailed` and is not
  acked; gaps become :class:`~client_sdk.events.PossiblyMissingMessage`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

from client_sdk import conversation as conv
from client_sdk import events as ev
from client_sdk.counters import CounterTracker, FailedIds
from client_sdk.errors import (
    ConversationClosed,
    RelayError,
    RelayUnavailable,
    UsageError,
    VerificationFailure,
    reason_for,
)
from client_sdk.outbox import Delivery, MemoryRecords, Outbox, no_commit
from client_sdk.transport import Backoff, RelayHTTP, RelaySocket
from e2ee import payload as pl
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import Profile, Status, VerifiedBundle, fingerprint, verify_bundle
from e2ee.primitives import RandomSource, system_random
from e2ee.session import ParticipantSession, start_conversation

Clock = Callable[[], float]
MAX_RECENT_IDS = 64


class ParticipantClient:
    """One participant in one conversation. Build it with :meth:`connect`."""

    def __init__(
        self,
        relay_url: str,
        bundle: VerifiedBundle,
        *,
        clock: Clock,
        random: RandomSource,
        backoff: Backoff,
    ) -> None:
        self._relay_url = relay_url
        self._bundle = bundle
        self.program_id = b64u_encode(bundle.program_id)
        self.identity_key = b64u_encode(bundle.identity_key)
        self.fingerprint = fingerprint(bundle.identity_key)
        self._clock = clock
        self._random = random
        self._backoff = backoff
        self._http = RelayHTTP(relay_url)
        self._socket: RelaySocket | None = None
        self._session: ParticipantSession | None = None
        self._token: str | None = None
        self.conversation_id: str = ""
        self._tracker = CounterTracker()
        self._recent: list[str] = []
        self._failed = FailedIds()
        self._events = ev.EventStream()
        self._pending_acks: list[str] = []
        self._pending_events: list[ev.Event] = []
        self._closed = False
        self._ended = False
        self._outbox = Outbox(MemoryRecords(), no_commit, self._deliver)
        """Sends the relay could not take yet, in memory only (a participant keeps
        nothing on disk): sent again in order, byte for byte, when it is back."""

    @property
    def profile(self) -> Profile:
        """The program's signed profile (verified): show its notice before typing."""
        return self._bundle.profile

    @property
    def status(self) -> Status | None:
        """The program's signed status as verified at connect, or None if it was absent or
        expired then (it is not refreshed)."""
        return self._bundle.status

    @classmethod
    async def connect(
        cls,
        relay_url: str,
        program_id: str,
        identity_key: str | bytes,
        *,
        first_message: str | None = None,
        clock: Clock = time.time,
        random: RandomSource = system_random,
        backoff: Backoff | None = None,
    ) -> ParticipantClient:
        """Fetch and verify the bundle, open the conversation, open the socket.

        ``identity_key`` is the pinned key (b64u text or 32 bytes). The conversation
        opens with ``first_message`` as its first text, or with a ``system`` ``start``
        event when None.
        """
        pinned = identity_key if isinstance(identity_key, bytes) else _b64(identity_key)
        http = RelayHTTP(relay_url)
        try:
            raw_bundle = await http.bundle(program_id)
            try:
                bundle = verify_bundle(raw_bundle, pinned, now=int(clock()))
            except QuietlineError as exc:
                raise VerificationFailure(reason_for(exc), "the relay's bundle") from None
            except (KeyError, TypeError):
                raise VerificationFailure("malformed", "the relay's bundle") from None
            if b64u_encode(bundle.program_id) != program_id:
                raise VerificationFailure("untrusted_key", "program id is not the pinned key's")
        finally:
            await http.aclose()
        self = cls(relay_url, bundle, clock=clock, random=random, backoff=backoff or Backoff())
        try:
            await self._start(first_message)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _start(self, first_message: str | None) -> None:
        ts = self._now_ms()
        first: pl.Payload = (
            pl.System("start", ts) if first_message is None else pl.Text(first_message, ts)
        )
        self._session, init = start_conversation(self._bundle, first, random=self._random)
        cid, token = await self._http.create_conversation(self.program_id, b64u_encode(init))
        if cid != conv.envelope_cid(init):
            raise VerificationFailure("malformed", "relay answered another conversation id")
        self.conversation_id, self._token = cid, token
        self._socket = RelaySocket(
            self._relay_url,
            self._ws_token,
            self._on_frame,
            backoff=self._backoff,
            on_reconnect=self._on_reconnect,
            on_idle=self._on_idle,
        )
        await self._socket.start()

    async def __aenter__(self) -> ParticipantClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Disconnect and drop every key (the conversation stays open on the relay)."""
        if self._closed:
            return
        self._closed = True
        await self._outbox.aclose()
        if self._socket is not None:
            await self._socket.close()
        await self._http.aclose()
        self._session = None
        self._events.end()

    # -- public API ----------------------------------------------------------------

    def events(self) -> AsyncIterator[ev.Event]:
        """Typed events, in order, until the client is closed."""
        return aiter(self._events)

    async def send(self, text: str) -> Delivery:
        """Send a text: ``"delivered"`` (the relay took it) or ``"queued"`` (the relay
        is unavailable: it goes, in order and once, when the relay is back; the queue is
        in this process's memory only, see :mod:`client_sdk.outbox`)."""
        return await self._send(pl.Text(text, self._now_ms()))

    async def send_duress(self) -> Delivery:
        """The duress signal: reaches the program as an urgent event."""
        return await self._send(pl.Duress(self._now_ms()))

    async def answer_code_word(self, alias: str, word: str) -> Delivery:
        return await self._send(pl.CodeWordAnswer(alias, word, self._now_ms()))

    async def send_answers(self, answers: dict[str, str]) -> Delivery:
        return await self._send(pl.Answers(answers, self._now_ms()))

    @property
    def queued(self) -> int:
        """How many sends wait for the relay (in memory only)."""
        return len(self._outbox)

    async def close(self, reason: str = "left") -> None:
        """Leave: a close message, the relay deletes the conversation, keys are dropped."""
        if self._ended:
            return
        with contextlib.suppress(RelayError):
            await self._send(pl.Close(reason, self._now_ms()))
        if self._token is not None:
            with contextlib.suppress(RelayError):
                await self._http.close_conversation(self.conversation_id, self._token)
        self._end("self", reason)

    # -- internals -----------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _ws_token(self) -> str:
        if self._token is None:
            raise UsageError("no conversation")
        return self._token

    async def _send(self, payload: pl.Payload) -> Delivery:
        if self._closed:
            raise UsageError("the client is closed")
        if self._ended or self._session is None:
            raise ConversationClosed("the conversation is closed")
        self._session, sealed = self._session.encrypt(payload, random=self._random)
        return await self._outbox.send(self.conversation_id, [b64u_encode(sealed)])

    async def _deliver(self, conversation_id: str, envelopes: list[str]) -> None:
        if self._socket is not None and self._socket.connected:
            with contextlib.suppress(RelayUnavailable):
                await self._socket.send(conversation_id, envelopes)
                return
        assert self._token is not None
        await self._http.post_messages(conversation_id, self._token, envelopes)

    def _end(self, by: str, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._session = None
        if by != "self":  # the relay would refuse them; the participant's own close goes
            self._outbox.drop(self.conversation_id)
        self._events.put(ev.ConversationClosedEvent(self.conversation_id, by, reason))

    async def _on_reconnect(self, attempts: int) -> None:
        self._events.put(ev.Reconnected(attempts))
        self._outbox.kick()

    def _fail(self, reason: str, message_id: str) -> None:
        if message_id not in self._failed:
            self._failed.add(message_id)
            self._pending_events.append(ev.VerificationFailed(self.conversation_id, reason))

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "closed" and frame.get("conversation_id") == self.conversation_id:
            for event in self._pending_events:
                self._events.put(event)
            self._pending_events = []
            self._end("relay", "closed")
            return
        if kind != "message" or self._session is None:
            return
        message_id = str(frame.get("id", ""))
        if message_id in self._recent:
            self._pending_acks.append(message_id)
            return
        if message_id in self._failed:
            return
        try:
            raw = b64u_decode(str(frame.get("envelope", "")))
            opened = conv.parse(raw, expect_cid=self.conversation_id, recipient_slot=0)
            if opened.is_init:
                raise VerificationFailure("malformed")
            self._session, payload = conv.open_message(self._session, raw, self._random)
        except QuietlineError as exc:
            self._fail(reason_for(exc), message_id)
            return
        except VerificationFailure as exc:
            self._fail(exc.reason, message_id)
            return
        obs = self._tracker.observe(*opened.header)
        cid = self.conversation_id
        self._pending_events += ev.gap_events(cid, obs)
        self._recent = [*self._recent, message_id][-MAX_RECENT_IDS:]
        self._pending_acks.append(message_id)
        if isinstance(payload, pl.Text):
            self._pending_events.append(ev.Message(cid, payload.body, payload.ts, obs.late))
        elif isinstance(payload, pl.Notice):
            self._pending_events.append(ev.Notice(cid, payload.kind, payload.body, payload.ts))
        elif isinstance(payload, pl.CodeWordRequest):
            self._pending_events.append(ev.CodeWordRequest(cid, payload.alias))
        elif isinstance(payload, pl.Queue):
            self._pending_events.append(ev.Progress(cid, "queue", payload.position))
        elif isinstance(payload, pl.Joined):
            self._pending_events.append(ev.Progress(cid, "joined", payload.name))
        elif isinstance(payload, pl.Typing):
            self._pending_events.append(ev.Progress(cid, "typing", payload.active))
        elif isinstance(payload, pl.Delivered):
            self._pending_events.append(ev.Progress(cid, "delivered", payload.count))
        elif isinstance(payload, pl.Close):
            await self._on_idle()
            self._end("peer", payload.reason)

    async def _on_idle(self) -> None:
        acks, self._pending_acks = self._pending_acks, []
        events, self._pending_events = self._pending_events, []
        if (
            acks
            and self._token is not None
            and (self._socket is None or not await self._socket.ack(acks))
        ):
            with contextlib.suppress(RelayError):
                await self._http.ack(self._token, acks)
        for event in events:
            self._events.put(event)


def _b64(text: str) -> bytes:
    try:
        return b64u_decode(text)
    except QuietlineError:
        raise UsageError("identity_key must be base64url (the pinned key)") from None
