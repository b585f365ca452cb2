"""Errors raised by the protocol core.

Two roots say whose fault it was, as in h11::

    QuietlineError
     +-- LocalProtocolError        you misused the API (wrong state, bad argument)
     |    +-- SequenceOverflow     an HPKE context ran out of nonces
     +-- RemoteProtocolError       the peer or the relay sent something wrong
          +-- MalformedInput       bytes that do not parse (bad length, field, JSON, padding)
          |    +-- OversizedInput  larger than a named limit
          +-- InvalidKey           wrong length or a low-order X25519 point
          +-- VerificationError    a signature, pinned key or expiry check failed
          |    +-- InvalidSignature
          |    +-- UntrustedKey    an identity key other than the pinned one
          |    +-- Expired
          +-- DecryptionError      authentication failed; never says which check
               +-- ReplayedMessage a counter that was already consumed
               +-- TooManySkipped  a gap larger than the skipped-key bound

Messages never contain key material or plaintext.
"""

from __future__ import annotations


class QuietlineError(Exception):
    """Root of every error the protocol core raises."""


class LocalProtocolError(QuietlineError):
    """The caller misused the API."""


class SequenceOverflow(LocalProtocolError):
    """An HPKE context has sealed or opened its last allowed message."""


class RemoteProtocolError(QuietlineError):
    """The peer or the relay sent something that is not acceptable."""


class MalformedInput(RemoteProtocolError):
    """Bytes or JSON that do not parse as the expected structure."""


class OversizedInput(MalformedInput):
    """Input larger than a named limit."""


class InvalidKey(RemoteProtocolError):
    """A key of the wrong length, or an X25519 point of low order."""


class VerificationError(RemoteProtocolError):
    """An authenticity check failed."""


class InvalidSignature(VerificationError):
    """An Ed25519 signature does not verify for this label, program and body."""


class UntrustedKey(VerificationError):
    """The identity key offered is not the pinned one."""


class Expired(VerificationError):
    """A signed object is past its expiry."""


class DecryptionError(RemoteProtocolError):
    """Decryption failed. Deliberately silent about which check failed."""

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)


class ReplayedMessage(DecryptionError):
    """The message counter was already consumed in this chain."""

    def __init__(self, message: str = "message already received") -> None:
        super().__init__(message)


class TooManySkipped(DecryptionError):
    """The message would skip more keys than the configured bound."""

    def __init__(self, message: str = "too many skipped messages") -> None:
        super().__init__(message)
