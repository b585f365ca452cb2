"""Parsing what clients send: JSON bodies, base64url fields, envelopes, signed objects.

Every failure becomes an :class:`~server.errors.ApiError` with the stable code of
docs/api.md. Messages name the field, never echo its value.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

import pybase64

from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.envelope import (
    COMMON_PREFIX_SIZE,
    ENVELOPE_VERSION,
    INIT_AAD_SIZE,
    KIND_INIT,
    KINDS,
    MAX_ENVELOPE_SIZE,
    MAX_SLOT,
    MESSAGE_AAD_SIZE,
    PREKEY_KINDS,
    valid_ciphertext_size,
)
from e2ee.errors import MalformedInput
from server.errors import ApiError

__all__ = [
    "ParsedEnvelope",
    "SignedObject",
    "b64u_encode",
    "field_bytes",
    "field_list",
    "field_str",
    "origin_ok",
    "parse_envelope",
    "parse_json",
    "parse_origins",
    "signed_object",
]


def parse_json(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """A JSON object (an HTTP body or a WebSocket frame). Nesting past the parser's
    recursion limit is malformed input too, not the relay's own trouble."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError("malformed_json", f"The {what} is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ApiError("malformed_json", f"The {what} must be a JSON object.")
    return value


def field_str(obj: dict[str, Any], name: str, *, max_len: int = 4096) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len or not _utf8(value):
        raise ApiError("malformed_field", f"Field {name!r} must be a non-empty string.")
    return value


def _utf8(value: str) -> bool:
    """Whether ``value`` is text UTF-8 can carry: JSON's ``\\ud800`` escape makes a lone
    surrogate, which no hash or database column takes (refused here, not failed there)."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
"""base64url to the standard alphabet; ``+``, ``/`` and ``=`` become ``!``, which the
strict decoder refuses, so only the URL-safe alphabet without padding gets through."""
_URLSAFE_INDEX = bytes(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".find(bytes([c])) % 256
    for c in range(128)
)
"""Each ASCII character's value in base64url (255 for a character outside it)."""
_PADDING = (b"", b"", b"==", b"=")
"""The padding the standard decoder needs, by length modulo 4 (a length of 4k+1 is never
base64, and the decoder refuses it)."""
_UNUSED_BITS = (0, 0, 0b1111, 0b11)
"""The bits of the last character that must be zero, by length modulo 4."""


_FAST_MIN = 256
"""From this length on, the SIMD decoder (pybase64) takes the text; shorter ones (ids,
keys) go through the standard library, which costs less to call."""


def decode_b64u(value: object, name: str) -> bytes:
    """Canonical unpadded base64url only, as :func:`e2ee.encoding.b64u_decode`.

    Fast path: the unused trailing bits of the last character must be zero, then a
    validating C decoder (which refuses any character outside the alphabet and an
    impossible length) takes the text. Long texts (envelopes) go to pybase64 (SIMD, four
    to five times faster on a 1.5 KB envelope), after refusing ``+``, ``/`` and ``=``
    itself: with ``-_`` as its alternative characters pybase64 also takes the standard
    ones, and the padding is added here. Short texts go through one translation and the
    standard library's strict decoder. Anything the fast path does not accept goes
    through the strict e2ee decoder for its verdict, so both always agree
    (tests/server/test_wire_fast.py).
    """
    if not isinstance(value, str):
        raise ApiError("malformed_field", f"Field {name!r} must be a base64url string.")
    remainder = len(value) % 4
    if value.isascii() and not (
        remainder and _URLSAFE_INDEX[ord(value[-1])] & _UNUSED_BITS[remainder]
    ):
        try:
            if len(value) < _FAST_MIN:
                text = value.encode("ascii").translate(_TO_STANDARD) + _PADDING[remainder]
                return binascii.a2b_base64(text, strict_mode=True)
            if "+" not in value and "/" not in value and "=" not in value:
                padded = value + _PADDING[remainder].decode("ascii")
                data: bytes = pybase64.b64decode(padded, altchars=b"-_", validate=True)
                return data
        except (binascii.Error, ValueError):
            pass
    try:
        return b64u_decode(value)
    except MalformedInput:
        raise ApiError("bad_base64", f"Field {name!r} is not canonical base64url.") from None


def field_bytes(obj: dict[str, Any], name: str, size: int | None = None) -> bytes:
    """A base64url field; with ``size``, a key or signature of exactly that length."""
    if name not in obj:
        raise ApiError("malformed_field", f"Field {name!r} is missing.")
    data = decode_b64u(obj[name], name)
    if size is not None and len(data) != size:
        raise ApiError("bad_key_length", f"Field {name!r} must be {size} bytes.")
    return data


def field_list(
    obj: dict[str, Any], name: str, *, max_items: int, code: str = "oversized"
) -> list[Any]:
    value = obj.get(name)
    if not isinstance(value, list) or not value:
        raise ApiError("malformed_field", f"Field {name!r} must be a non-empty list.")
    if len(value) > max_items:
        raise ApiError(code, f"Field {name!r} has more than {max_items} items.")
    return value


def origin_ok(origin: str) -> bool:
    """A web origin as a browser sends it: ``http(s)://host[:port]``, lower-case host."""
    if not origin.isascii():  # a browser sends a non-ASCII host as punycode
        return False
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or len(origin) > 255:
        return False
    host, _, port = rest.partition(":")
    if not host or any(c in host for c in "/?#@ \\") or host != host.lower():
        return False
    return not port or (port.isdigit() and 0 < int(port) < 65536 and not port.startswith("0"))


def parse_origins(value: object, max_items: int) -> list[str]:
    if not isinstance(value, list) or len(value) > max_items:
        raise ApiError("malformed_field", f"Field 'origins' must be a list of at most {max_items}.")
    if not all(isinstance(o, str) and origin_ok(o) for o in value):
        raise ApiError("malformed_field", "Each origin must look like https://host[:port].")
    return sorted(set(value))


def path_id(value: object, name: str) -> bytes:
    """A 16-byte id (program or conversation) from a URL path segment or a frame field."""
    data = decode_b64u(value, name)
    if len(data) != 16:
        raise ApiError("malformed_field", f"{name} must be 16 bytes.")
    return data


@dataclass(frozen=True, slots=True)
class SignedObject:
    body: bytes
    signature: bytes


def signed_object(obj: object, name: str = "signed object", *, max_body: int) -> SignedObject:
    if not isinstance(obj, dict):
        raise ApiError("malformed_field", f"The {name} must be an object with body and signature.")
    body = field_bytes(obj, "body")
    if len(body) > max_body:
        raise ApiError("oversized", f"The {name} body is larger than {max_body} bytes.")
    return SignedObject(body=body, signature=field_bytes(obj, "signature", 64))


@dataclass(slots=True)  # not frozen: one per envelope received, and 4x cheaper to make
class ParsedEnvelope:
    """What the relay reads from an envelope: routing fields, and the bytes to store."""

    raw: bytes
    kind: int
    conversation_id: bytes
    sender_slot: int
    recipient_slot: int
    text: str
    """The canonical base64url the client sent (the relay forwards it as it came)."""


def parse_envelope(value: object, max_size: int, name: str = "envelope") -> ParsedEnvelope:
    """Decode and check an envelope by the rules of :meth:`e2ee.envelope.Envelope.from_bytes`
    (size, version, kind, the length its kind implies, slots, prekey kind), read straight
    from the bytes: every other field has a fixed size, so the length check covers it."""
    if isinstance(value, str) and len(value) > (max_size * 4) // 3 + 4:
        raise ApiError("oversized", f"The {name} is larger than {max_size} bytes.")
    raw = decode_b64u(value, name)
    size = len(raw)
    if size > max_size:
        raise ApiError("oversized", f"The {name} is larger than {max_size} bytes.")
    if size > MAX_ENVELOPE_SIZE:
        raise ApiError("oversized", f"The {name} is too large.")
    if size < COMMON_PREFIX_SIZE:
        raise ApiError("malformed_envelope", f"The {name} does not parse as an envelope.")
    kind, sender, recipient = raw[1], raw[18], raw[19]
    prefix = INIT_AAD_SIZE if kind == KIND_INIT else MESSAGE_AAD_SIZE
    if (
        raw[0] != ENVELOPE_VERSION
        or kind not in KINDS
        or not valid_ciphertext_size(size - prefix)
        or sender > MAX_SLOT
        or recipient > MAX_SLOT
        or sender == recipient
        or (kind == KIND_INIT and raw[COMMON_PREFIX_SIZE] not in PREKEY_KINDS)
    ):
        raise ApiError("malformed_envelope", f"The {name} does not parse as an envelope.")
    return ParsedEnvelope(
        raw=raw,
        kind=kind,
        conversation_id=raw[2:18],
        sender_slot=sender,
        recipient_slot=recipient,
        text=value if isinstance(value, str) else "",
    )
