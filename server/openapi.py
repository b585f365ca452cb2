"""The OpenAPI 3.1 document served at ``/v1/openapi.json``.

Built from one table; a test checks that it lists exactly the app's routes.
"""

from __future__ import annotations

from typing import Any

B64U = {"type": "string", "contentEncoding": "base64url"}
SIGNED = {
    "type": "object",
    "required": ["body", "signature"],
    "properties": {"body": B64U, "signature": B64U},
}
OK = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
MESSAGES = {
    "type": "object",
    "properties": {
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": B64U, "conversation_id": B64U, "envelope": B64U},
            },
        }
    },
}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


PROGRAM_ANSWER = _obj(
    ["program_id", "identity_key", "profile", "status"],
    program_id=B64U,
    identity_key=B64U,
    profile={"oneOf": [SIGNED, {"type": "null"}]},
    status={"oneOf": [SIGNED, {"type": "null"}]},
)
BUNDLE = _obj(
    ["program_id", "identity_key", "signed_prekey", "one_time_prekey", "profile", "status"],
    program_id=B64U,
    identity_key=B64U,
    signed_prekey=SIGNED,
    one_time_prekey={"oneOf": [SIGNED, {"type": "null"}]},
    profile=SIGNED,
    status={"oneOf": [SIGNED, {"type": "null"}]},
)
IDS = {"type": "array", "items": B64U}

# (method, path, who, summary, request body schema or None, status, answer schema)
OPERATIONS: list[tuple[str, str, str, str, Any, int, Any]] = [
    (
        "post",
        "/v1/programs",
        "enrollment token",
        "Enroll a program's identity key",
        _obj(
            ["enrollment_token", "identity_key", "signature"],
            enrollment_token={"type": "string"},
            identity_key=B64U,
            signature=B64U,
            origins={"type": "array", "items": {"type": "string"}},
        ),
        201,
        _obj(["program_id"], program_id=B64U),
    ),
    (
        "get",
        "/v1/programs/{pid}",
        "public",
        "A program's identity key, profile and status",
        None,
        200,
        PROGRAM_ANSWER,
    ),
    (
        "post",
        "/v1/programs/{pid}/challenge",
        "program",
        "A fresh single-use challenge",
        None,
        200,
        _obj(["challenge", "expires_in"], challenge=B64U, expires_in={"type": "integer"}),
    ),
    (
        "post",
        "/v1/programs/{pid}/session",
        "program",
        "Exchange a signed challenge for a session",
        _obj(["challenge", "signature"], challenge=B64U, signature=B64U),
        200,
        _obj(
            ["session_token", "expires_in"],
            session_token={"type": "string"},
            expires_in={"type": "integer"},
        ),
    ),
    (
        "put",
        "/v1/programs/{pid}/origins",
        "program session",
        "Set the CORS allow-list",
        _obj(["origins"], origins={"type": "array", "items": {"type": "string"}}),
        200,
        OK,
    ),
    (
        "put",
        "/v1/programs/{pid}/signed-prekey",
        "program session",
        "Publish the signed prekey",
        SIGNED,
        200,
        OK,
    ),
    (
        "post",
        "/v1/programs/{pid}/one-time-prekeys",
        "program session",
        "Publish a batch of one-time prekeys",
        _obj(["prekeys"], prekeys={"type": "array", "items": SIGNED}),
        200,
        _obj(["count"], count={"type": "integer"}),
    ),
    (
        "get",
        "/v1/programs/{pid}/one-time-prekeys/count",
        "program session",
        "How many one-time prekeys are left",
        None,
        200,
        _obj(["count"], count={"type": "integer"}),
    ),
    (
        "put",
        "/v1/programs/{pid}/profile",
        "program session",
        "Publish the signed profile",
        SIGNED,
        200,
        OK,
    ),
    (
        "put",
        "/v1/programs/{pid}/status",
        "program session",
        "Publish the signed status",
        SIGNED,
        200,
        OK,
    ),
    (
        "put",
        "/v1/programs/{pid}/generation",
        "program session",
        "Keep the node's newest store generation (sealed, signed; opaque to the relay)",
        SIGNED,
        200,
        OK,
    ),
    (
        "get",
        "/v1/programs/{pid}/generation",
        "program session",
        "The node's newest store generation as last kept (null if none)",
        None,
        200,
        _obj(["generation"], generation={"oneOf": [SIGNED, {"type": "null"}]}),
    ),
    (
        "post",
        "/v1/programs/{pid}/bundle",
        "public",
        "Fetch the bundle; consumes one one-time prekey",
        None,
        200,
        BUNDLE,
    ),
    (
        "post",
        "/v1/programs/{pid}/puzzle",
        "public",
        "A proof-of-work puzzle, for a program under pressure (header Quietline-Proof)",
        None,
        200,
        _obj(
            ["puzzle", "difficulty", "expires_in"],
            puzzle=B64U,
            difficulty={"type": "integer"},
            expires_in={"type": "integer"},
        ),
    ),
    (
        "get",
        "/v1/programs/{pid}/queue",
        "program session",
        "Waiting and active conversations",
        None,
        200,
        _obj(
            ["waiting", "active", "waiting_count", "active_count"],
            waiting=IDS,
            active=IDS,
            waiting_count={"type": "integer"},
            active_count={"type": "integer"},
        ),
    ),
    (
        "get",
        "/v1/programs/{pid}/messages",
        "program session",
        "Messages pending for the program",
        None,
        200,
        MESSAGES,
    ),
    (
        "post",
        "/v1/conversations",
        "participant",
        "Open a conversation with its init envelope",
        _obj(["program_id", "envelope"], program_id=B64U, envelope=B64U),
        201,
        _obj(["conversation_id", "token"], conversation_id=B64U, token={"type": "string"}),
    ),
    (
        "post",
        "/v1/conversations/{cid}/messages",
        "either side",
        "Send one envelope per recipient (a repeat of a send committed moments ago is "
        "answered with its ids and not stored again)",
        _obj(["envelopes"], envelopes=IDS),
        201,
        _obj(["message_ids"], message_ids=IDS),
    ),
    (
        "get",
        "/v1/conversations/{cid}/messages",
        "participant or invited party token",
        "Messages pending for the caller",
        None,
        200,
        MESSAGES,
    ),
    (
        "post",
        "/v1/conversations/{cid}/members",
        "program session",
        "Admit an invited party's slot; returns its capability token",
        _obj(["slot"], slot={"type": "integer", "minimum": 2, "maximum": 7}),
        201,
        _obj(["slot", "token"], slot={"type": "integer"}, token={"type": "string"}),
    ),
    (
        "post",
        "/v1/conversations/{cid}/close",
        "either side",
        "Close: delete every row of the conversation and tell the other side",
        None,
        200,
        OK,
    ),
    (
        "post",
        "/v1/acks",
        "either side",
        "Acknowledge delivered messages (deletes them)",
        _obj(["message_ids"], message_ids=IDS),
        200,
        _obj(["acked"], acked={"type": "integer"}),
    ),
    ("get", "/v1/openapi.json", "public", "This document", None, 200, {"type": "object"}),
    (
        "get",
        "/v1/health",
        "public",
        "Liveness: the process answers (no data in the answer)",
        None,
        200,
        _obj(["status"], status={"const": "ok"}),
    ),
    (
        "get",
        "/v1/health/ready",
        "public",
        "Readiness: the database answers a new connection (503 when it does not; no data "
        "in the answer)",
        None,
        200,
        _obj(["status"], status={"const": "ready"}),
    ),
    (
        "get",
        "/v1/ws",
        "token in the first frame",
        "WebSocket upgrade (see docs/api.md)",
        None,
        101,
        None,
    ),
]

PROVEN = {"/v1/programs/{pid}/bundle", "/v1/conversations"}
"""Anonymous routes that take a proof of work when the program is under pressure."""
PROOF_HEADER = {
    "name": "Quietline-Proof",
    "in": "header",
    "required": False,
    "description": "<puzzle>.<solution>, base64url (see docs/api.md, proof of work)",
    "schema": {"type": "string"},
}

ERROR = _obj(
    ["error"],
    error=_obj(["code", "message"], code={"type": "string"}, message={"type": "string"}),
)


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, who, summary, request, status, answer in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "description": f"Caller: {who}.",
            "responses": {
                str(status): {"description": "Success"}
                | ({"content": {"application/json": {"schema": answer}}} if answer else {}),
                "4XX": {
                    "description": "Refused",
                    "content": {"application/json": {"schema": ERROR}},
                },
            },
        }
        params = [p for p in ("pid", "cid") if "{" + p + "}" in path]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": B64U} for p in params
            ]
        if path in PROVEN:
            op.setdefault("parameters", []).append(PROOF_HEADER)
        if request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        paths.setdefault(path, {})[method] = op
    paths["/v1/health/ready"]["get"]["responses"]["503"] = {
        "description": "The database does not answer",
        "content": {"application/json": {"schema": ERROR}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Quietline relay", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
