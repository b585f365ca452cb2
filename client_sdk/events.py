"""Typed events yielded by ``ProgramClient.events()`` and ``ParticipantClient.events()``.

Every event is a frozen dataclass naming the conversation it belongs to. An event that
carries content (:class:`Message`, :class:`Notice`, :class:`Answers`, ...) is only ever
built from a payload that decrypted and authenticated under the conversation's ratchet:
anything the relay forged, tampered with or replayed becomes a
:class:`VerificationFailed` event instead, and its content is never shown.

Times in events are the sender's clock (``sent_at_ms``, from inside the ciphertext),
never the relay's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from client_sdk.counters import Observation

__all__ = [
    "Answers",
    "Assigned",
    "CodeWordRequest",
    "CodeWordResult",
    "ConversationClosedEvent",
    "Duress",
    "Event",
    "Message",
    "NewConversation",
    "Notice",
    "NoticeSent",
    "ParticipantLeft",
    "PossiblyMissingMessage",
    "PrekeysDraining",
    "Progress",
    "Reconnected",
    "VerificationFailed",
    "WorkflowEvent",
]


@dataclass(frozen=True)
class NewConversation:
    """A participant opened a conversation (program side)."""

    conversation_id: str
    assigned_to: str | None = None


@dataclass(frozen=True)
class Message:
    """A text message from the other side, authenticated by the ratchet.

    ``late`` is true when it arrived after a message the sender wrote later (the relay
    reordered, or the network delayed it); it is genuine but out of order.
    """

    conversation_id: str
    text: str
    sent_at_ms: int
    late: bool = False


@dataclass(frozen=True)
class Notice:
    """A typed notice from the program (participant side): rights, safety check-in, ..."""

    conversation_id: str
    kind: str
    body: str
    sent_at_ms: int


@dataclass(frozen=True)
class NoticeSent:
    """The program node sent a notice on its own (workflow: check-in, inactivity, ...)."""

    conversation_id: str
    kind: str


@dataclass(frozen=True)
class CodeWordRequest:
    """The program asks the participant for the code word of ``alias`` (participant side)."""

    conversation_id: str
    alias: str


@dataclass(frozen=True)
class CodeWordResult:
    """The participant answered a code-word request (program side).

    The word itself is checked and dropped; it is never shown nor stored.
    """

    conversation_id: str
    alias: str
    verified: bool
    outcome: str = ""
    """``verified``, ``wrong``, ``locked`` or ``unknown_alias``."""
    rotation_due: bool = False


@dataclass(frozen=True)
class Answers:
    """Answers to the profile's optional questions (program side)."""

    conversation_id: str
    answers: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class Duress:
    """The participant pressed the duress signal: urgent (program side)."""

    conversation_id: str
    sent_at_ms: int


@dataclass(frozen=True)
class Assigned:
    """A conversation was assigned (claimed or transferred) to a staff member."""

    conversation_id: str
    staff: str


@dataclass(frozen=True)
class ParticipantLeft:
    """The participant ended the conversation (program side)."""

    conversation_id: str
    reason: str


@dataclass(frozen=True)
class ConversationClosedEvent:
    """The conversation is closed; its keys are deleted on this side.

    ``by`` is ``"self"``, ``"peer"`` (a signed-in-ciphertext close from the other side)
    or ``"relay"`` (the relay says it is closed; unauthenticated, but a relay can always
    refuse service). ``reason`` ``"stale_keystore"``: the node started on a keystore
    older than one it had used (a copy put back), so the conversation could not be
    continued safely and was closed at start (``by`` is ``"self"``).
    """

    conversation_id: str
    by: str
    reason: str


@dataclass(frozen=True)
class VerificationFailed:
    """Something the relay delivered is not authentic, or was replayed or reordered.

    ``reason`` is coarse: ``decryption``, ``replay``, ``malformed``,
    ``unknown_conversation``, ``out_of_order`` or ``expired`` (an init to a signed prekey
    whose replay tags are full).
    Nothing of the offending envelope is shown.
    """

    conversation_id: str | None
    reason: str


@dataclass(frozen=True)
class PossiblyMissingMessage:
    """A gap in the sender's message counters: ``count`` messages may have been dropped."""

    conversation_id: str
    count: int


@dataclass(frozen=True)
class WorkflowEvent:
    """Something the workflow tells staff: queued, urgent alert, shift ending, hand-off.

    ``action`` is a :mod:`client_sdk.workflow.actions` object.
    """

    action: Any


@dataclass(frozen=True)
class Reconnected:
    """The WebSocket to the relay was re-established after a loss."""

    attempts: int


@dataclass(frozen=True)
class PrekeysDraining:
    """The relay says the program's one-time prekeys are being handed out fast (a
    script may be draining them); the node publishes more at once. Participants still
    connect when none is left (through the signed prekey)."""


@dataclass(frozen=True)
class Progress:
    """What the program says is happening (participant side): ``kind`` is ``queue``
    (``value``: place, 1 = next), ``joined`` (the support worker's chosen name),
    ``typing`` (bool) or ``delivered`` (how many of our text messages it received)."""

    conversation_id: str
    kind: str
    value: int | str | bool


Event = (
    NewConversation
    | Message
    | Notice
    | NoticeSent
    | CodeWordRequest
    | CodeWordResult
    | Answers
    | Duress
    | Assigned
    | ParticipantLeft
    | ConversationClosedEvent
    | VerificationFailed
    | PossiblyMissingMessage
    | WorkflowEvent
    | Reconnected
    | PrekeysDraining
    | Progress
)


def gap_events(conversation_id: str, observation: Observation) -> list[Event]:
    """What the sender's counters say about one authenticated message: messages before it
    may be missing, or it arrived after one its sender wrote later."""
    out: list[Event] = []
    if observation.missing:
        out.append(PossiblyMissingMessage(conversation_id, observation.missing))
    if observation.late:
        out.append(VerificationFailed(conversation_id, "out_of_order"))
    return out


class EventStream:
    """The queue behind a client's ``events()``: events in order until :meth:`end`, after
    which every iterator (also one started later) stops."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                self._queue.put_nowait(None)  # for the next iterator
                return
            yield event
