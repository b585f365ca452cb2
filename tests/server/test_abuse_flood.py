"""Floods of bundle fetches and conversation openings, from one source and from 100
simulated sources (127.0.1.x on loopback), against a real relay process: a real
participant (the SDK's ParticipantClient, solving the relay's puzzle when asked) gets
through during each, and the program is told its prekeys are being drained."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import httpx
import pytest
import websockets
from abuse_helpers import start_relay_limited
from relay_helpers import b64, enroll_program, make_envelope

from client_sdk.participant import ParticipantClient

pytestmark = pytest.mark.slow


def client_from(source: str, url: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=30)


async def attack(c: httpx.AsyncClient, pid: str, rounds: int, codes: Counter[int]) -> None:
    """Bundle fetches and conversation openings as fast as answers come (no proofs)."""
    for _ in range(rounds):
        r = await c.post(f"/v1/programs/{pid}/bundle")
        codes[r.status_code] += 1
        env = make_envelope(os.urandom(16), 0, 1, init=True)
        r = await c.post("/v1/conversations", json={"program_id": pid, "envelope": b64(env)})
        codes[r.status_code] += 1


async def participant_during(url: str, pid: str, key: str, flood: asyncio.Task) -> float:
    """A participant connects while ``flood`` runs; returns how long it took."""
    await asyncio.sleep(0.3)  # the flood is under way
    assert not flood.done()
    start = time.monotonic()
    p = await asyncio.wait_for(ParticipantClient.connect(url, pid, key), 60)
    took = time.monotonic() - start
    await p.aclose()
    return took


async def test_a_participant_gets_through_floods_from_one_and_from_many_sources(tmp_path) -> None:
    relay = start_relay_limited(tmp_path)
    report = []
    try:
        async with client_from("127.0.0.1", relay.url) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=150)
        pid, key = program.pid, b64(program.keys.public_key)
        ws = await websockets.connect(relay.url.replace("http", "ws") + "/v1/ws")
        await ws.send(json.dumps({"type": "auth", "token": program.session}))

        # one source
        codes: Counter[int] = Counter()
        async with client_from("127.0.0.3", relay.url) as a:
            start = time.monotonic()
            flood = asyncio.create_task(attack(a, pid, 150, codes))
            took = await participant_during(relay.url, pid, key, flood)
            await flood
            rate = sum(codes.values()) / (time.monotonic() - start)
        assert codes[429] > 0  # the source's own limit
        report.append(
            f"one source: {rate:.0f} requests/s ({dict(codes)}), participant {took:.2f} s"
        )

        # 100 sources: together past the program's free allowance, so it asks for proofs
        codes = Counter()
        clients = [client_from(f"127.0.1.{i}", relay.url) for i in range(1, 101)]
        try:
            start = time.monotonic()
            flood = asyncio.gather(*(attack(a, pid, 6, codes) for a in clients))
            flood_task = asyncio.ensure_future(flood)
            took = await participant_during(relay.url, pid, key, flood_task)
            await flood_task
            rate = sum(codes.values()) / (time.monotonic() - start)
        finally:
            for a in clients:
                await a.aclose()
        assert codes[428] > 0  # the program was under pressure
        report.append(
            f"100 sources: {rate:.0f} requests/s ({dict(codes)}), participant {took:.2f} s"
        )

        # the program heard its prekeys were going fast
        seen = set()
        while "prekeys_draining" not in seen:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen.add(frame.get("type"))
            for item in frame.get("messages", []):
                seen.add(item.get("type"))
        await ws.close()
    finally:
        relay.stop()
    print("\n".join(report))
    log = relay.log_path.read_text(errors="replace")
    assert "ERROR" not in log, log
