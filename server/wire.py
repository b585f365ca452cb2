"""Parsing what clients send: JSON bodies, base64url fields, envelopes, signed objects.

Every failure becomes an :class:`~server.errors.ApiError` with the stable code of
docs/api.md. Messages name the field, never echo its value.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.envelope import Envelope
from e2ee.errors import MalformedInput, OversizedInput
from server.errors import ApiError

__all__ = [
    "ParsedEnvelope",
    "SignedObject",
    "b64u_encode",
    "field_bytes",
    "field_list",
    "field_str",
    "parse_envelope",
    "parse_json",
    "signed_object",
]


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("malformed_json", "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ApiError("malformed_json", "The body must be a JSON object.")
    return value


def field_str(obj: dict[str, Any], name: str, *, max_len: int = 4096) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ApiError("malformed_field", f"Field {name!r} must be a non-empty string.")
    return value


def decode_b64u(value: object, name: str) -> bytes:
    """Canonical unpadded base64url only, as :func:`e2ee.encoding.b64u_decode`.

    Fast path for large fields: decode in C, then accept only if re-encoding gives back
    exactly the same text (which rules out padding, other characters and non-zero
    trailing bits); anything else goes through the strict e2ee decoder for its verdict.
    """
    if not isinstance(value, str):
        raise ApiError("malformed_field", f"Field {name!r} must be a base64url string.")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if b64u_encode(data) == value:
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


def path_id(text: str, name: str) -> bytes:
    """A 16-byte id from a URL path segment (program or conversation)."""
    data = decode_b64u(text, name)
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


@dataclass(frozen=True, slots=True)
class ParsedEnvelope:
    """What the relay reads from an envelope: routing fields, and the bytes to store."""

    raw: bytes
    kind: int
    conversation_id: bytes
    sender_slot: int
    recipient_slot: int


def parse_envelope(value: object, max_size: int, name: str = "envelope") -> ParsedEnvelope:
    if isinstance(value, str) and len(value) > (max_size * 4) // 3 + 4:
        raise ApiError("oversized", f"The {name} is larger than {max_size} bytes.")
    raw = decode_b64u(value, name)
    if len(raw) > max_size:
        raise ApiError("oversized", f"The {name} is larger than {max_size} bytes.")
    try:
        env = Envelope.from_bytes(raw)
    except OversizedInput:
        raise ApiError("oversized", f"The {name} is too large.") from None
    except MalformedInput:
        raise ApiError("malformed_envelope", f"The {name} does not parse as an envelope.") from None
    return ParsedEnvelope(
        raw=raw,
        kind=env.kind,
        conversation_id=env.conversation_id,
        sender_slot=env.sender_slot,
        recipient_slot=env.recipient_slot,
    )
