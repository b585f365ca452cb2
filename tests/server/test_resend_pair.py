"""A send repeated to another relay process after the first one died (its answer lost)
is recognised there and not stored twice (server/shared_sends.py, docs/scale-out.md)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from relay_helpers import b64, enroll_program, make_envelope, open_conversation
from relay_pair import RelayPair
from websockets.asyncio.client import connect

from server.shared_sends import PREFIX

pytestmark = [pytest.mark.pg, pytest.mark.slow]
SENDS = 12


@pytest.fixture
def pair(failover_pair: RelayPair) -> RelayPair:
    """Failover: every connection goes to relay a while it lives, then to b."""
    return failover_pair


async def _participant(url: str, token: str) -> Any:
    ws = await connect(url.replace("http", "ws") + "/v1/ws", open_timeout=10, compression=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "ready"}
    return ws


async def _answers(ws: Any, n: int) -> dict[Any, list[str]]:
    """The next ``n`` ``sent`` answers, by request id."""
    got: dict[Any, list[str]] = {}
    while len(got) < n:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert frame["type"] == "sent", frame
        got[frame["request_id"]] = frame["message_ids"]
    return got


async def _conversation(c: httpx.AsyncClient, pair: RelayPair, sends: int) -> Any:
    """A program on the pair with one conversation whose init it took: the program's
    headers, the conversation id, the participant's token, the program's pending path and
    ``sends`` send frames from the participant."""
    url = pair.balancer.url
    program = await enroll_program(c, "", url, token=pair.a.add_program())
    h = program.auth_headers()
    cid, token = await open_conversation(c, program)
    pending = f"/v1/programs/{program.pid}/messages"
    (init,) = (await c.get(pending, headers=h)).json()["messages"]
    assert (await c.post("/v1/acks", json={"message_ids": [init["id"]]}, headers=h)).is_success
    frames = [
        {
            "type": "send",
            "request_id": n,
            "conversation_id": b64(cid),
            "envelopes": [b64(make_envelope(cid, 0, 1, n=n + 1))],
        }
        for n in range(sends)
    ]
    return h, cid, token, pending, frames


async def test_sends_repeated_to_the_other_relay_after_a_kill_are_stored_once(
    pair: RelayPair, redis_server: Any
) -> None:
    url = pair.balancer.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as c:
        h, cid, token, pending, frames = await _conversation(c, pair, SENDS)
        ws = await _participant(url, token)
        assert pair.balancer.connections[-1] == pair.a.port
        for frame in frames:  # pipelined, as the SDK's outbox sends
            await ws.send(json.dumps(frame))
        first = await _answers(ws, SENDS)  # committed by a: then a dies
        pair.a.kill9()
        await ws.close()

        # The client never heard (as if the answers were lost with a): it sends every
        # one again, now through b, over the socket and over HTTP.
        ws = await _participant(url, token)
        assert pair.balancer.connections[-1] == pair.b.port
        for frame in frames[: SENDS // 2]:
            await ws.send(json.dumps(frame))
        again = await _answers(ws, SENDS // 2)
        await ws.close()
    async with httpx.AsyncClient(base_url=pair.b.url, timeout=15) as c:
        for frame in frames[SENDS // 2 :]:
            r = await c.post(
                f"/v1/conversations/{b64(cid)}/messages",
                json={"envelopes": frame["envelopes"]},
                headers={"authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            again[frame["request_id"]] = r.json()["message_ids"]
        assert again == first
        waiting = (await c.get(pending, headers=h)).json()["messages"]
        assert [m["id"] for m in waiting] == [first[n][0] for n in range(SENDS)]

        # a send a never took is stored by b, once
        new = {"envelopes": [b64(make_envelope(cid, 0, 1, n=SENDS + 1))]}
        auth = {"authorization": f"Bearer {token}"}
        stored = await c.post(f"/v1/conversations/{b64(cid)}/messages", json=new, headers=auth)
        repeat = await c.post(f"/v1/conversations/{b64(cid)}/messages", json=new, headers=auth)
        assert stored.status_code == repeat.status_code == 201
        assert repeat.json()["message_ids"] == stored.json()["message_ids"]
        waiting = (await c.get(pending, headers=h)).json()["messages"]
        assert len(waiting) == SENDS + 1

    # What Redis holds of it: the SHA-256 of each send's fingerprint, its ids, an expiry
    redis = Redis.from_url(redis_server.url)
    try:
        keys = [k async for k in redis.scan_iter(match=PREFIX + "*")]
        ours = {n: None for n in range(SENDS)}
        for key in keys:
            assert len(key) == len(PREFIX) + 64
            value = (await redis.get(key)).decode()
            ttl = await redis.pttl(key)
            assert 0 < ttl <= 300_000
            for n, ids in first.items():
                if value == ",".join(ids):
                    ours[n] = key
        assert all(ours.values())  # one key per send, holding its ids only
    finally:
        await redis.aclose()


async def _gets(redis: Redis) -> int:
    """How many GET commands Redis has answered (its own counter, INFO commandstats)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_a_socket_asks_redis_only_until_its_first_new_send(
    pair: RelayPair, redis_server: Any
) -> None:
    """Lookups cost a Redis round trip: a socket makes them for what may repeat an earlier
    connection's sends (they come first, in order), and stops at the first send no relay
    knows; every send is still stored once."""
    url = pair.balancer.url
    redis = Redis.from_url(redis_server.url)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=15) as c:
            h, _cid, token, pending, frames = await _conversation(c, pair, 10)
            before = await _gets(redis)
            ws = await _participant(url, token)
            assert pair.balancer.connections[-1] == pair.a.port
            for frame in frames[:6]:
                await ws.send(json.dumps(frame))
            first = await _answers(ws, 6)
            await ws.close()
            assert await _gets(redis) - before == 1  # the first send only

            pair.balancer.targets = [pair.b.port]  # the next connection goes to b
            before = await _gets(redis)
            ws = await _participant(url, token)
            assert pair.balancer.connections[-1] == pair.b.port
            for frame in frames:  # six repeats of a's sends, then four new ones
                await ws.send(json.dumps(frame))
            again = await _answers(ws, 10)
            await ws.close()
            assert await _gets(redis) - before == 7  # the six repeats and the first new one
            assert {n: again[n] for n in range(6)} == first
            waiting = (await c.get(pending, headers=h)).json()["messages"]
            assert len(waiting) == 10
            assert len({m["id"] for m in waiting}) == 10
    finally:
        await redis.aclose()
