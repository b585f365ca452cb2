"""Quietline's program node and participant client.

- :class:`ProgramClient`: the program's side, holding its keys in a keystore.
- :class:`ParticipantClient`: the participant's side, from Python (keys in memory).
- :mod:`client_sdk.events`: the typed events both yield from ``events()``.
- :mod:`client_sdk.errors`: the error tree.

See ``docs/sdk.md``.
"""

from client_sdk.errors import (
    ConversationClosed,
    CorruptKeystore,
    KeystoreError,
    KeystoreExists,
    RelayError,
    RelayUnavailable,
    SDKError,
    UsageError,
    VerificationFailure,
    WrongPassphrase,
)
from client_sdk.events import (
    Answers,
    Assigned,
    CodeWordRequest,
    CodeWordResult,
    ConversationClosedEvent,
    Duress,
    Event,
    Message,
    NewConversation,
    Notice,
    NoticeSent,
    ParticipantLeft,
    PossiblyMissingMessage,
    Reconnected,
    VerificationFailed,
)
from client_sdk.lock import KeystoreInUse
from client_sdk.participant import ParticipantClient
from client_sdk.program import ProgramClient

__all__ = [
    "Answers",
    "Assigned",
    "CodeWordRequest",
    "CodeWordResult",
    "ConversationClosed",
    "ConversationClosedEvent",
    "CorruptKeystore",
    "Duress",
    "Event",
    "KeystoreError",
    "KeystoreExists",
    "KeystoreInUse",
    "Message",
    "NewConversation",
    "Notice",
    "NoticeSent",
    "ParticipantClient",
    "ParticipantLeft",
    "PossiblyMissingMessage",
    "ProgramClient",
    "Reconnected",
    "RelayError",
    "RelayUnavailable",
    "SDKError",
    "UsageError",
    "VerificationFailed",
    "VerificationFailure",
    "WrongPassphrase",
]
