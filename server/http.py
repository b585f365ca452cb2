"""HTTP routes: thin. Each authorizes, validates, calls the relay, answers."""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from e2ee.encoding import b64u_encode
from server.errors import ApiError
from server.relay import Relay
from server.sources import source_key
from server.wire import parse_json, path_id


def relay_of(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


def source_of(request: Request) -> bytes:
    """The keyed hash of where the request comes from (never the address itself)."""
    relay = relay_of(request)
    return source_key(request.scope, relay.trusted_proxies, relay.hasher)


def proof_of(request: Request) -> str | None:
    """The ``Quietline-Proof`` header (server.pow), if any."""
    value = request.headers.get("quietline-proof")
    return None if value is None else value.strip()


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def read_json(request: Request) -> dict[str, Any]:
    limit = relay_of(request).settings.max_body_size
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError("oversized", f"The body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError("oversized", f"The body is larger than {limit} bytes.")
            chunks.append(chunk)
    except ClientDisconnect:
        # The client went away mid-body: its fault, not the relay's, and nobody is left
        # to read an answer. Nothing was written.
        raise ApiError("incomplete_body", "The body ended before its end.") from None
    return parse_json(b"".join(chunks))


def answer(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def pid_of(request: Request) -> bytes:
    return path_id(request.path_params["pid"], "program id")


def cid_of(request: Request) -> bytes:
    return path_id(request.path_params["cid"], "conversation id")


async def enroll(request: Request) -> JSONResponse:
    program_id = await relay_of(request).enroll(await read_json(request))
    return answer({"program_id": b64u_encode(program_id)}, 201)


async def program_info(request: Request) -> JSONResponse:
    return answer(await relay_of(request).program_info(pid_of(request)))


async def challenge(request: Request) -> JSONResponse:
    relay = relay_of(request)
    value = await relay.challenge(pid_of(request))
    return answer(
        {"challenge": b64u_encode(value), "expires_in": relay.settings.challenge_ttl_seconds}
    )


async def session(request: Request) -> JSONResponse:
    relay = relay_of(request)
    token = await relay.session(pid_of(request), await read_json(request))
    return answer({"session_token": token, "expires_in": relay.settings.session_ttl_seconds})


async def _program(request: Request) -> tuple[Relay, bytes]:
    """The relay and the program id, once the bearer proved to be that program."""
    relay, pid = relay_of(request), pid_of(request)
    await relay.program_principal(bearer(request), pid)
    return relay, pid


async def put_origins(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    await relay.set_origins(pid, await read_json(request))
    return answer({"ok": True})


async def put_signed_prekey(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    await relay.publish_signed(pid, "signed_prekey", await read_json(request))
    return answer({"ok": True})


async def put_profile(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    await relay.publish_signed(pid, "profile", await read_json(request))
    return answer({"ok": True})


async def put_status(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    await relay.publish_signed(pid, "status", await read_json(request))
    return answer({"ok": True})


async def put_generation(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    await relay.set_generation(pid, await read_json(request))
    return answer({"ok": True})


async def get_generation(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    return answer(await relay.get_generation(pid))


async def add_one_time_prekeys(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    count = await relay.add_one_time_prekeys(pid, await read_json(request))
    return answer({"count": count})


async def count_one_time_prekeys(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    return answer({"count": await relay.count_one_time_prekeys(pid)})


async def bundle(request: Request) -> JSONResponse:
    relay = relay_of(request)
    return answer(await relay.bundle(pid_of(request), source_of(request), proof_of(request)))


async def puzzle(request: Request) -> JSONResponse:
    relay = relay_of(request)
    relay.hit_source(b"puzzle", source_of(request), relay.settings.limit_bundles_per_source * 4)
    return answer(await relay.puzzle(pid_of(request)))


async def queue(request: Request) -> JSONResponse:
    relay, pid = await _program(request)
    return answer(await relay.queue(pid))


async def program_messages(request: Request) -> JSONResponse:
    relay, pid = relay_of(request), pid_of(request)
    who = await relay.program_principal(bearer(request), pid)
    messages, _ = await relay.pending(who)
    return answer({"messages": [_strip(m) for m in messages]})


def _strip(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "type"}


async def create_conversation(request: Request) -> JSONResponse:
    relay = relay_of(request)
    body = await read_json(request)
    cid, token = await relay.create_conversation(body, source_of(request), proof_of(request))
    return answer({"conversation_id": b64u_encode(cid), "token": token}, 201)


async def send(request: Request) -> JSONResponse:
    relay, cid = relay_of(request), cid_of(request)
    who = await relay.principal(bearer(request))
    body = await read_json(request)
    ids = await relay.send(who, cid, body, source_of(request))
    return answer({"message_ids": ids}, 201)


async def conversation_messages(request: Request) -> JSONResponse:
    relay, cid = relay_of(request), cid_of(request)
    who = await relay.principal(bearer(request))
    if who.is_program or who.conversation_id != cid:
        raise ApiError("bad_token", "The token is not valid for this conversation.")
    messages, _ = await relay.pending(who)
    return answer({"messages": [_strip(m) for m in messages]})


async def add_member(request: Request) -> JSONResponse:
    relay, cid = relay_of(request), cid_of(request)
    who = await relay.principal(bearer(request))
    if not who.is_program:
        raise ApiError("bad_token", "Only the program can invite a party.")
    body = await read_json(request)
    token = await relay.add_member(who, cid, body)
    return answer({"slot": body["slot"], "token": token}, 201)


async def acks(request: Request) -> JSONResponse:
    relay = relay_of(request)
    who = await relay.principal(bearer(request))
    body = await read_json(request)
    return answer({"acked": await relay.ack(who, body)})


async def close(request: Request) -> JSONResponse:
    relay, cid = relay_of(request), cid_of(request)
    who = await relay.principal(bearer(request))
    await relay.close(who, cid)
    return answer({"ok": True})


PROGRAM = "/v1/programs/{pid}"
CONVERSATION = "/v1/conversations/{cid}"

ROUTES = [
    Route("/v1/programs", enroll, methods=["POST"]),
    Route(PROGRAM, program_info, methods=["GET"]),
    Route(PROGRAM + "/challenge", challenge, methods=["POST"]),
    Route(PROGRAM + "/session", session, methods=["POST"]),
    Route(PROGRAM + "/origins", put_origins, methods=["PUT"]),
    Route(PROGRAM + "/signed-prekey", put_signed_prekey, methods=["PUT"]),
    Route(PROGRAM + "/one-time-prekeys", add_one_time_prekeys, methods=["POST"]),
    Route(PROGRAM + "/one-time-prekeys/count", count_one_time_prekeys, methods=["GET"]),
    Route(PROGRAM + "/profile", put_profile, methods=["PUT"]),
    Route(PROGRAM + "/status", put_status, methods=["PUT"]),
    Route(PROGRAM + "/generation", put_generation, methods=["PUT"]),
    Route(PROGRAM + "/generation", get_generation, methods=["GET"]),
    Route(PROGRAM + "/bundle", bundle, methods=["POST"]),
    Route(PROGRAM + "/puzzle", puzzle, methods=["POST"]),
    Route(PROGRAM + "/queue", queue, methods=["GET"]),
    Route(PROGRAM + "/messages", program_messages, methods=["GET"]),
    Route("/v1/conversations", create_conversation, methods=["POST"]),
    Route(CONVERSATION + "/messages", send, methods=["POST"]),
    Route(CONVERSATION + "/messages", conversation_messages, methods=["GET"]),
    Route(CONVERSATION + "/members", add_member, methods=["POST"]),
    Route(CONVERSATION + "/close", close, methods=["POST"]),
    Route("/v1/acks", acks, methods=["POST"]),
]
