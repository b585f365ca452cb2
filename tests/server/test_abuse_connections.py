"""Connections and memory under abuse, against a real relay process on loopback:
slow heads and bodies, a silent WebSocket, connection caps at a real 1,024 open-file
limit, a socket that never reads, a socket that sends bad frames."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time

import httpx
import pytest
import websockets
from abuse_helpers import (
    RawWebSocket,
    closed_within,
    connect_from,
    open_files,
    refused,
    rss_bytes,
    start_relay_limited,
)
from relay_helpers import b64, enroll_program, make_envelope, open_conversation

pytestmark = pytest.mark.slow


def test_slow_head_slow_body_and_silent_connections_are_cut(tmp_path) -> None:
    relay = start_relay_limited(
        tmp_path,
        QUIETLINE_HEADER_TIMEOUT_SECONDS="1",
        QUIETLINE_BODY_TIMEOUT_SECONDS="1.5",
        QUIETLINE_WS_AUTH_TIMEOUT_SECONDS="1",
    )
    try:
        silent = connect_from("127.0.0.1", relay.port)
        slow_head = connect_from("127.0.0.1", relay.port)
        slow_head.sendall(b"POST /v1/acks HTTP/1.1\r\nhost: x\r\n")
        slow_body = connect_from("127.0.0.1", relay.port)
        slow_body.sendall(
            b"POST /v1/acks HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n{"message_ids"'
        )
        for s, most in [(silent, 4.0), (slow_head, 4.0), (slow_body, 5.0)]:
            took = closed_within(s, 10.0)
            assert took is not None and took < most, took
            s.close()
        # a head that trickles in, a byte at a time, is cut too
        trickle = connect_from("127.0.0.1", relay.port)
        trickle.settimeout(0.3)
        start = time.monotonic()
        with pytest.raises(OSError):
            for byte in b"GET /v1/openapi.json HTTP/1.1\r\nx-pad: " + b"a" * 100:
                trickle.send(bytes([byte]))
                try:
                    if trickle.recv(1) == b"":
                        raise ConnectionResetError
                except TimeoutError:
                    pass
        assert time.monotonic() - start < 5
        trickle.close()
        # a WebSocket that never sends its auth frame
        ws = RawWebSocket(relay.port)
        _, code = ws.read_until_closed(5.0)
        assert code == 4401
        ws.close()
        # a quick client is served as before
        assert httpx.get(relay.url + "/v1/openapi.json", timeout=5).status_code == 200
    finally:
        relay.stop()
    log = relay.log_path.read_text(errors="replace")
    assert "ERROR" not in log and "Traceback" not in log, log


def test_connections_are_capped_below_a_1024_file_limit(tmp_path) -> None:
    relay = start_relay_limited(
        tmp_path,
        nofile=1024,
        QUIETLINE_HEADER_TIMEOUT_SECONDS="60",
        QUIETLINE_SWEEP_INTERVAL_SECONDS="0.5",
    )
    log_text = relay.log_path.read_text()
    cap = int(re.search(r"at most (\d+) connections", log_text).group(1))  # type: ignore[union-attr]
    assert cap < 1024
    flood: list[socket.socket] = []
    loop = asyncio.new_event_loop()
    legit: list = []
    try:
        origin = relay.url

        async def legit_before() -> tuple:
            async with httpx.AsyncClient(base_url=origin, timeout=10) as c:
                program = await enroll_program(c, relay.db_path, origin, prekeys=0)
                cid, token = await open_conversation(c, program)
            wsurl = origin.replace("http", "ws") + "/v1/ws"
            prog = await websockets.connect(wsurl)
            await prog.send(json.dumps({"type": "auth", "token": program.session}))
            part = await websockets.connect(wsurl)
            await part.send(json.dumps({"type": "auth", "token": token}))
            return program, cid, prog, part

        _program, cid, prog, part = loop.run_until_complete(legit_before())
        legit += [prog.close(), part.close()]

        # one source: at most max_connections_per_source (200) are held, the rest refused
        one = [connect_from("127.0.0.1", relay.port) for _ in range(300)]
        flood += one
        answered = refused(one, 3.0)
        assert len(answered) == 102, len(answered)  # the two legit WebSockets count too
        assert all(b"429" in s.recv(200) for s in answered[:5])

        # many sources: the total cap; every connection past it is refused at once
        sources = [f"127.0.0.{i}" for i in range(2, 9)]
        many = [connect_from(src, relay.port) for src in sources for _ in range(190)]
        flood += many
        answered_many = refused(many, 3.0)
        held = len(one) - len(answered) + len(many) - len(answered_many)
        assert held == cap - 2, (held, cap)  # and the two legit WebSockets
        late = connect_from("127.0.0.9", relay.port)
        flood.append(late)
        assert refused([late], 2.0) == [late] and b"503" in late.recv(200)
        assert open_files(relay.process.pid) < 1024

        # at the cap: the writer commits, pushes arrive, the sweeper and checkpointer run
        async def still_serving() -> None:
            frame = json.loads(await asyncio.wait_for(part.recv(), 10))
            assert frame["type"] == "ready"
            while True:
                frame = json.loads(await asyncio.wait_for(prog.recv(), 10))
                if frame["type"] == "message":
                    break
            for n in range(20):
                env = make_envelope(cid, 1, 0, n=n)
                await prog.send(
                    json.dumps(
                        {
                            "type": "send",
                            "request_id": n,
                            "conversation_id": b64(cid),
                            "envelopes": [b64(env)],
                        }
                    )
                )
            got = 0
            while got < 20:
                frame = json.loads(await asyncio.wait_for(part.recv(), 10))
                if frame["type"] == "message":
                    got += 1
                    await part.send(json.dumps({"type": "ack", "ids": [frame["id"]]}))
            await asyncio.sleep(0)

        loop.run_until_complete(still_serving())
        deadline = time.monotonic() + 3.0  # six sweeps with their TRUNCATE checkpoint
        while time.monotonic() < deadline:
            time.sleep(0.1)
        text = relay.log_path.read_text(errors="replace")
        assert "ERROR" not in text and "OperationalError" not in text, text

        # the flood goes away: new connections are served again
        for s in flood:
            s.close()
        flood.clear()
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(origin + "/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        print(f"flood connections held at the cap: {held} (cap {cap}, open-file limit 1024)")
    finally:
        for s in flood:
            s.close()
        for closing in legit:
            loop.run_until_complete(closing)
        loop.close()
        relay.stop()
    text = relay.log_path.read_text(errors="replace")
    assert "ERROR" not in text and "Traceback" not in text, text


def test_a_socket_that_does_not_read_is_closed_and_memory_stays_bounded(tmp_path) -> None:
    relay = start_relay_limited(tmp_path, QUIETLINE_LIMIT_CONVERSATIONS_PER_PROGRAM="1000")
    try:

        async def scenario() -> tuple[int, int, int | None]:
            async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
                program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
                reader = RawWebSocket(relay.port)  # the program's socket, never read
                reader.send_json({"type": "auth", "token": program.session, "batch": True})
                await asyncio.sleep(0.5)
                before = rss_bytes(relay.process.pid)
                peak = before
                # about 14 MB of envelopes pushed to it (64 KiB each, 87 KB as text): more
                # than the kernel's buffers (about 3.5 MB here) and its queue (4 MiB)
                for _ in range(10):
                    cid, token = await open_conversation(c, program)
                    h = {"authorization": f"Bearer {token}"}
                    for n in range(16):
                        env = b64(make_envelope(cid, 0, 1, blocks=250, n=n))
                        r = await c.post(
                            f"/v1/conversations/{b64(cid)}/messages",
                            json={"envelopes": [env]},
                            headers=h,
                        )
                        assert r.status_code in (201, 429), r.text
                    peak = max(peak, rss_bytes(relay.process.pid))
                # a frame after the overflow ends the socket's loop: its close still goes
                reader.send_json({"type": "ack", "ids": [b64(os.urandom(16))]})
                await asyncio.sleep(0.5)
                _, code = reader.read_until_closed(10.0)
                reader.close()
                return before, peak, code

        before, peak, code = asyncio.run(scenario())
        growth = peak - before
        print(f"relay RSS growth under a non-reading socket: {growth / 2**20:.1f} MiB")
        assert code == 4008
        assert growth < 30 * 2**20, growth
    finally:
        relay.stop()


def test_bad_frames_close_the_socket_and_cost_the_relay_nothing(tmp_path) -> None:
    relay = start_relay_limited(tmp_path)
    try:

        async def scenario() -> tuple[int, int, int | None, list[str]]:
            async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
                program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
                _, token = await open_conversation(c, program)
            before = rss_bytes(relay.process.pid)
            ws = RawWebSocket(relay.port)
            ws.send_json({"type": "auth", "token": token})
            junk = "{" + "x" * 60_000
            sent = 0
            try:
                for _ in range(2000):  # the relay closes it long before
                    ws.send_text(junk)
                    sent += 1
            except OSError:
                pass
            texts, code = ws.read_until_closed(10.0)
            ws.close()
            return before, rss_bytes(relay.process.pid), code, texts

        before, after, code, texts = asyncio.run(scenario())
        assert code == 4400
        errors = [t for t in texts if json.loads(t)["type"] == "error"]
        assert 10 <= len(errors) <= 12
        assert after - before < 20 * 2**20
    finally:
        relay.stop()
    text = relay.log_path.read_text(errors="replace")
    assert "ERROR" not in text, text
