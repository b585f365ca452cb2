"""Strict text and integer encodings used on the wire.

- ``b64u``: base64url without padding (RFC 4648 §5). Decoding is canonical: exactly one
  string decodes to a given byte string. Padding, whitespace, characters outside the
  URL-safe alphabet, an impossible length (4k+1) and non-zero trailing bits are all
  refused with :class:`~e2ee.errors.MalformedInput`, so an attacker cannot make two
  different texts that a verifier treats as the same bytes.
- ``u8``/``u32``/``u64``: big-endian unsigned integers, range-checked when packing
  (:class:`~e2ee.errors.LocalProtocolError`). Parsers check a structure's whole length
  first, then read its fixed-size fields with ``int.from_bytes``.
"""

from __future__ import annotations

import base64
import binascii

from e2ee.errors import LocalProtocolError, MalformedInput

_B64U_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHABET = frozenset(_B64U_ALPHABET)
_INDEX = {c: i for i, c in enumerate(_B64U_ALPHABET)}
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64u_encode(data: bytes) -> str:
    """Base64url of ``data`` without ``=`` padding."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LocalProtocolError("b64u_encode takes bytes")
    # RFC 4648 base64, unpadded, then its two characters that differ for base64url: what
    # base64.urlsafe_b64encode does, in a third of the time (no Python wrapper calls).
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URLSAFE).decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; anything else is :class:`MalformedInput`."""
    if not isinstance(text, str):
        raise MalformedInput("base64url value must be a string")
    if not _ALPHABET.issuperset(text):
        raise MalformedInput("base64url value has a character outside the alphabet")
    remainder = len(text) % 4
    if remainder == 1:
        raise MalformedInput("base64url value has an impossible length")
    if remainder:
        # The last character carries 6 bits, of which only 2 (remainder 2) or 4
        # (remainder 3) belong to the data; the rest must be zero to be canonical.
        unused_bits = 4 if remainder == 2 else 2
        if _INDEX[text[-1]] & ((1 << unused_bits) - 1):
            raise MalformedInput("base64url value has non-zero trailing bits")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - excluded by checks above
        raise MalformedInput("base64url value does not decode") from None


# -- big-endian unsigned integers ---------------------------------------------------


def _pack(value: int, size: int) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LocalProtocolError("integer field must be an int")
    if value < 0 or value >= 1 << (8 * size):
        raise LocalProtocolError(f"integer does not fit in u{8 * size}")
    return value.to_bytes(size, "big")


def u8(value: int) -> bytes:
    return _pack(value, 1)


def u32(value: int) -> bytes:
    return _pack(value, 4)


def u64(value: int) -> bytes:
    return _pack(value, 8)
