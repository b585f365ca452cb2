"""Errors raised by the SDK (program node and participant client).

One tree, drawn here as httpx draws its own; errors of the libraries below (httpx,
websockets, the protocol core) are translated at the boundary::

    SDKError
     +-- UsageError                 you misused the SDK (unknown conversation, closed client)
     +-- RelayError                 the relay refused a request (``status``, stable ``code``)
     |    +-- RelayUnavailable      the relay could not be reached or answered nonsense
     +-- VerificationFailure        something the relay handed over is not authentic:
     |                              a key other than the pinned one, a bad signature, an
     |                              expired object, a tampered or replayed envelope
     +-- ConversationClosed         the conversation is closed; nothing more can be sent

    KeystoreError                   (re-exported from :mod:`client_sdk.keystore`)
     +-- WrongPassphrase
     +-- WeakPassphrase             a new passphrase the strength rule refuses (says why)
     +-- CorruptKeystore
     +-- KeystoreExists
     +-- KeystoreNotFound           (in :mod:`client_sdk.keystore` only)
     +-- KeystoreInUse              another node holds the keystore's lock
                                    (:mod:`client_sdk.lock`; exported by ``client_sdk``)

:class:`VerificationFailure` never says which cryptographic check failed beyond a
coarse ``reason`` (``untrusted_key``, ``bad_signature``, ``expired``, ``decryption``,
``replay``, ``invalid_key``, ``malformed``, ``published_mismatch``), and never carries
key material or plaintext. The relay is untrusted: every one of these is what a
malicious relay produces, and the caller must show it, never a forged message.
"""

from __future__ import annotations

from client_sdk.keystore import (
    CorruptKeystore,
    KeystoreError,
    KeystoreExists,
    WeakPassphrase,
    WrongPassphrase,
)
from e2ee import errors as _core

__all__ = [
    "ConversationClosed",
    "CorruptKeystore",
    "KeystoreError",
    "KeystoreExists",
    "RelayError",
    "RelayUnavailable",
    "SDKError",
    "UsageError",
    "VerificationFailure",
    "WeakPassphrase",
    "WrongPassphrase",
    "reason_for",
]


class SDKError(Exception):
    """Root of every error the SDK raises (besides the keystore's own tree)."""


class UsageError(SDKError):
    """The caller misused the SDK."""


class RelayError(SDKError):
    """The relay answered with a refusal (a 4xx with a stable machine code)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"relay refused ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.message = message


class RelayUnavailable(RelayError):
    """The relay could not be reached, timed out, or answered something unparseable."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "unavailable", message)


class VerificationFailure(SDKError):
    """What the relay handed over is not authentic. ``reason`` is coarse on purpose."""

    def __init__(self, reason: str, message: str = "verification failed") -> None:
        super().__init__(f"{message} ({reason})")
        self.reason = reason


class ConversationClosed(SDKError):
    """The conversation is closed."""


def reason_for(exc: BaseException) -> str:
    """The coarse reason of a protocol-core error, for a :class:`VerificationFailure`."""
    if isinstance(exc, _core.UntrustedKey):
        return "untrusted_key"
    if isinstance(exc, _core.Expired):
        return "expired"
    if isinstance(exc, _core.InvalidSignature):
        return "bad_signature"
    if isinstance(exc, _core.ReplayedMessage):
        return "replay"
    if isinstance(exc, _core.DecryptionError):
        return "decryption"
    if isinstance(exc, _core.InvalidKey):
        return "invalid_key"
    return "malformed"
