"""The WebSocket against a real relay process."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import websockets
from relay_helpers import b64, enroll_program, make_envelope, open_conversation, snapshot

import server.ws
from server.app import create_app
from server.settings import Settings

TIMEOUT = 10.0


async def recv_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def connect(origin: str, token: str):
    ws = await websockets.connect(origin.replace("http", "ws") + "/v1/ws", compression=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert await recv_json(ws) == {"type": "ready"}
    return ws


async def test_push_send_ack_close_over_websocket(relay_process) -> None:
    origin = relay_process.url
    async with httpx.AsyncClient(base_url=origin) as c:
        program = await enroll_program(c, relay_process.database_url, origin)
        prog_ws = await connect(origin, program.session)
        try:
            cid, token = await open_conversation(c, program)
            # Both arrive, in either order: the init can come in the pending page that
            # follows ``ready`` before the live ``conversation`` event (docs/api.md).
            first, second = await recv_json(prog_ws), await recv_json(prog_ws)
            new, init = (first, second) if first["type"] == "conversation" else (second, first)
            assert new == {"type": "conversation", "conversation_id": b64(cid)}
            assert init["type"] == "message" and init["conversation_id"] == b64(cid)
            await prog_ws.send(json.dumps({"type": "ack", "ids": [init["id"]]}))

            part_ws = await connect(origin, token)
            try:
                reply = make_envelope(cid, 1, 0)
                await prog_ws.send(
                    json.dumps(
                        {
                            "type": "send",
                            "request_id": "r1",
                            "conversation_id": b64(cid),
                            "envelopes": [b64(reply)],
                        }
                    )
                )
                sent = await recv_json(prog_ws)
                assert sent["type"] == "sent" and sent["request_id"] == "r1"
                pushed = await recv_json(part_ws)
                assert pushed["envelope"] == b64(reply) and pushed["id"] == sent["message_ids"][0]
                await part_ws.send(json.dumps({"type": "ack", "ids": [pushed["id"]]}))

                msg = make_envelope(cid, 0, 1, n=1)
                await part_ws.send(
                    json.dumps(
                        {
                            "type": "send",
                            "request_id": 7,
                            "conversation_id": b64(cid),
                            "envelopes": [b64(msg)],
                        }
                    )
                )
                assert (await recv_json(part_ws))["type"] == "sent"
                assert (await recv_json(prog_ws))["envelope"] == b64(msg)

                # a bad frame gets a typed error, and the socket stays usable
                await part_ws.send("{not json")
                err = await recv_json(part_ws)
                assert err["type"] == "error" and err["code"] == "malformed_json"
                await part_ws.send(
                    json.dumps(
                        {
                            "type": "send",
                            "request_id": "x",
                            "conversation_id": b64(cid),
                            "envelopes": ["!!"],
                        }
                    )
                )
                err = await recv_json(part_ws)
                assert err == {
                    "type": "error",
                    "request_id": "x",
                    "code": "bad_base64",
                    "message": err["message"],
                }
                before = snapshot(relay_process.database_url)  # every earlier write answered
                refused = [
                    ({"type": "hello", "request_id": 1}, "malformed_field"),
                    (
                        {"type": "send", "request_id": 2, "conversation_id": "AAAA"},
                        "malformed_field",
                    ),
                    ({"type": "send", "request_id": 3, "conversation_id": "*"}, "bad_base64"),
                    ({"type": "send", "request_id": 4, "conversation_id": 5}, "malformed_field"),
                    ({"type": "ack", "request_id": 5, "ids": "x"}, "malformed_field"),
                    ({"type": "ack", "request_id": 6, "ids": ["*"]}, "bad_base64"),
                ]
                for frame, code in refused:
                    await part_ws.send(json.dumps(frame))
                    err = await recv_json(part_ws)
                    assert err["type"] == "error", frame
                    assert (err["request_id"], err["code"]) == (frame["request_id"], code)
                for bad in ("[" * 50_000, b"{}"):  # nested past the recursion limit; binary
                    await part_ws.send(bad)
                    err = await recv_json(part_ws)
                    assert (err["type"], err["code"]) == ("error", "malformed_json")
                assert snapshot(relay_process.database_url) == before

                r = await c.post(
                    f"/v1/conversations/{b64(cid)}/close", headers=program.auth_headers()
                )
                assert r.status_code == 200
                assert await recv_json(part_ws) == {"type": "closed", "conversation_id": b64(cid)}
                assert await recv_json(prog_ws) == {"type": "closed", "conversation_id": b64(cid)}
            finally:
                await part_ws.close()
        finally:
            await prog_ws.close()


async def test_pending_messages_are_pushed_after_ready(relay_process) -> None:
    origin = relay_process.url
    async with httpx.AsyncClient(base_url=origin) as c:
        program = await enroll_program(c, relay_process.database_url, origin)
        cid, _token = await open_conversation(c, program)
        ws = await connect(origin, program.session)
        try:
            first = await recv_json(ws)
            assert first["type"] == "message" and first["conversation_id"] == b64(cid)
        finally:
            await ws.close()


async def test_bad_first_frame_closes_4401(relay_process) -> None:
    """Each bad first frame closes the socket with 4401 and a reason naming the fault."""
    origin = relay_process.url
    async with httpx.AsyncClient(base_url=origin) as c:
        program = await enroll_program(c, relay_process.database_url, origin)
    url = origin.replace("http", "ws") + "/v1/ws"
    for frame, reason in [
        ("nonsense", "bad_token"),
        (json.dumps({"type": "auth", "token": b64(os.urandom(32))}), "bad_token"),
        (json.dumps({"type": "hello"}), "malformed_field"),
        (json.dumps({"type": "auth"}), "bad_token"),
        # a valid session, but "batch" must be a boolean
        (json.dumps({"type": "auth", "token": program.session, "batch": "yes"}), "malformed_field"),
    ]:
        async with websockets.connect(url, compression=None) as ws:
            await ws.send(frame)
            try:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
                raise AssertionError("expected a close")
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 4401
                assert exc.rcvd.reason == reason, frame


async def test_websocket_from_unregistered_origin_is_refused(relay_process) -> None:
    url = relay_process.url.replace("http", "ws") + "/v1/ws"
    try:
        async with websockets.connect(url, origin="https://evil.example", compression=None):
            raise AssertionError("expected refusal")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 403


async def test_batched_pushes_keep_every_message_once_and_in_order(relay_process) -> None:
    """A program socket that asked for batches: pending and live messages come only in
    ``messages`` frames, each exactly once, in send order, and ``closed`` after them."""
    origin = relay_process.url
    async with httpx.AsyncClient(base_url=origin) as c:
        program = await enroll_program(c, relay_process.database_url, origin)
        opened = [await open_conversation(c, program) for _ in range(3)]
        ws = await websockets.connect(origin.replace("http", "ws") + "/v1/ws", compression=None)
        try:
            await ws.send(json.dumps({"type": "auth", "token": program.session, "batch": True}))
            assert await recv_json(ws) == {"type": "ready"}
            pending = await recv_json(ws)  # the three init messages, one frame
            assert pending["type"] == "messages" and len(pending["messages"]) == 3
            assert [m["conversation_id"] for m in pending["messages"]] == [
                b64(cid) for cid, _ in opened
            ]
            await ws.send(
                json.dumps({"type": "ack", "ids": [m["id"] for m in pending["messages"]]})
            )

            cid, token = opened[0]
            part = await connect(origin, token)
            try:
                sent = [make_envelope(cid, 0, 1, n=n) for n in range(1, 6)]
                for n, env in enumerate(sent):
                    frame = {
                        "type": "send",
                        "request_id": n,
                        "conversation_id": b64(cid),
                        "envelopes": [b64(env)],
                    }
                    await part.send(json.dumps(frame))
                pushed: list[dict] = []
                while len(pushed) < len(sent):
                    frame = await recv_json(ws)
                    assert frame["type"] == "messages", frame
                    assert all(
                        set(m) == {"type", "id", "conversation_id", "envelope"}
                        for m in frame["messages"]
                    )
                    pushed += frame["messages"]
                assert [m["envelope"] for m in pushed] == [b64(e) for e in sent]
                assert len({m["id"] for m in pushed}) == len(sent)
                await ws.send(json.dumps({"type": "ack", "ids": [m["id"] for m in pushed]}))
            finally:
                await part.close()
            closed = await c.post(
                f"/v1/conversations/{b64(cid)}/close",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert closed.status_code == 200, closed.text
            assert await recv_json(ws) == {"type": "closed", "conversation_id": b64(cid)}
        finally:
            await ws.close()


async def test_the_socket_app_gets_the_servers_own_send_and_other_paths_the_router(
    monkeypatch,
) -> None:
    """``/v1/ws`` is reached straight from the relay middleware: its endpoint sends each
    frame through the server's own ``send`` (no Starlette wrapper per frame). Any other
    WebSocket path still goes through the router, which refuses it."""
    calls: list[tuple[object, object]] = []

    async def endpoint(ws, receive, send) -> None:
        calls.append((receive, send))

    monkeypatch.setattr(server.ws, "websocket_endpoint", endpoint)
    app = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db"))
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        raise AssertionError("nothing is read here")

    for path in ("/v1/ws", "/v1/wss", "/v1/ws/"):
        scope = {"type": "websocket", "path": path, "headers": [], "query_string": b""}
        await app(scope, receive, send)
    assert calls == [(receive, send)]
    assert [m["type"] for m in sent] == ["websocket.close", "websocket.close"]


async def test_a_websocket_to_another_path_is_refused(relay_process) -> None:
    url = relay_process.url.replace("http", "ws") + "/v1/wss"
    try:
        async with websockets.connect(url, compression=None):
            raise AssertionError("expected refusal")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 403
