"""Refusals: every one is a 4xx with a stable code (docs/api.md, "Errors").

::

    ApiError(status, code, message)   raised by routes and services, answered as
                                      {"error": {"code", "message"}}

A message never echoes the input: it names the field, not its value.
"""

from __future__ import annotations

CODES = frozenset(
    {
        "malformed_json",
        "malformed_field",
        "bad_base64",
        "bad_key_length",
        "malformed_envelope",
        "oversized",
        "unknown_program",
        "unknown_conversation",
        "closed_conversation",
        "bad_token",
        "bad_signature",
        "bad_challenge",
        "expired",
        "prekey_id_reused",
        "too_many_recipients",
        "wrong_slot",
        "wrong_kind",
        "incomplete_body",
        "rate_limited",
        "quota_exceeded",
        "proof_required",
        "bad_proof",
        "not_found",
        "method_not_allowed",
        "conflict",
        "enrollment_used",
        "forbidden_origin",
        "unavailable",
        "internal",
    }
)

STATUS = {
    "malformed_json": 400,
    "malformed_field": 400,
    "bad_base64": 400,
    "bad_key_length": 400,
    "malformed_envelope": 400,
    "oversized": 413,
    "unknown_program": 404,
    "unknown_conversation": 404,
    "closed_conversation": 410,
    "bad_token": 401,
    "bad_signature": 401,
    "bad_challenge": 401,
    "expired": 400,
    "prekey_id_reused": 409,
    "too_many_recipients": 400,
    "wrong_slot": 403,
    "wrong_kind": 400,
    "incomplete_body": 400,
    "rate_limited": 429,
    "quota_exceeded": 429,
    "proof_required": 428,
    "bad_proof": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "enrollment_used": 409,
    "forbidden_origin": 403,
    "unavailable": 503,
    "internal": 500,
}


class ApiError(Exception):
    """A refusal the client can act on. ``status`` follows from ``code``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS[code]

    def as_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}
