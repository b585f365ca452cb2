"""ISO/IEC 7816-4 padding of payloads to a multiple of 256 bytes.

``pad(data) = data || 0x80 || 0x00 * k`` with the smallest ``k >= 0`` that makes the
length a multiple of :data:`PADDING_BLOCK`. The relay therefore learns a message's
length only to the nearest 256 bytes.

``unpad`` accepts exactly what ``pad`` produces and nothing else (a non-multiple length,
a missing ``0x80`` marker or a padding run longer than one block is
:class:`~e2ee.errors.MalformedInput`). It runs only on authenticated plaintext, so its
timing reveals nothing an attacker could not already see.
"""

from __future__ import annotations

from e2ee.errors import MalformedInput

PADDING_BLOCK = 256
"""Every padded payload is a positive multiple of this many bytes."""

_MARKER = 0x80


def padded_length(length: int) -> int:
    """The length of ``pad(data)`` for ``len(data) == length``."""
    return (length // PADDING_BLOCK + 1) * PADDING_BLOCK


def pad(data: bytes) -> bytes:
    """Append ``0x80`` and the fewest zero bytes reaching a multiple of 256."""
    zeros = padded_length(len(data)) - len(data) - 1
    return bytes(data) + bytes([_MARKER]) + bytes(zeros)


def unpad(padded: bytes) -> bytes:
    """Strip the padding of :func:`pad`; anything else is :class:`MalformedInput`."""
    if not padded or len(padded) % PADDING_BLOCK:
        raise MalformedInput("padded payload is not a positive multiple of 256 bytes")
    stripped = bytes(padded).rstrip(b"\x00")
    if not stripped or stripped[-1] != _MARKER:
        raise MalformedInput("padding marker missing")
    data = stripped[:-1]
    if len(padded) - len(data) > PADDING_BLOCK:
        raise MalformedInput("padding longer than one block")
    return data
