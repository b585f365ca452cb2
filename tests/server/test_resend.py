"""A send repeated byte for byte (its answer was lost) is answered, not stored again."""

from __future__ import annotations

import gc
import hmac
import json

import httpx
import pytest
import websockets
from relay_helpers import b64, enroll_program, make_envelope, open_conversation, snapshot

from server import limits
from server.limits import KeyedHasher, RecentSends


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("openssl", [True, False])
def test_the_keyed_hash_is_hmac_sha256_of_namespace_and_value(openssl, monkeypatch) -> None:
    """The hasher copies one keyed HMAC state: the same bytes as a fresh HMAC-SHA256
    (RFC 2104 with SHA-256, as ``hmac.digest``), truncated to 16 bytes; the key never
    shows in its repr. So on OpenSSL's object and on ``hmac.new``'s alike."""
    if openssl:
        assert limits._openssl_hmac is not None  # CPython with OpenSSL, as we run
    else:
        monkeypatch.setattr(limits, "_openssl_hmac", None)
    key = bytes(range(32))
    hasher = KeyedHasher(key)
    for namespace, value in [("send", b""), ("closed", bytes(16)), ("connect", b"x" * 1000)]:
        expected = hmac.digest(key, namespace.encode() + b"\x00" + value, "sha256")[:16]
        assert hasher(namespace, value) == expected
    assert hasher("send", b"a") == hasher("send", b"a") != hasher("sen", b"da")
    assert key.hex() not in repr(hasher) and "hidden" in repr(hasher)


def test_recent_sends_remember_ids_until_the_ttl() -> None:
    clock = Clock()
    sends = RecentSends(KeyedHasher(), capacity=10, ttl=300, clock=clock)
    key = sends.key(bytes(16), 0, [b"envelope"])
    assert sends.get(key) is None
    sends.remember(key, ["id1"])
    assert sends.get(key) == ["id1"]
    clock.now += 299
    assert sends.get(key) == ["id1"]
    clock.now += 1
    assert sends.get(key) is None
    assert len(sends._items) == 0


def test_recent_sends_cost_the_cyclic_collector_nothing() -> None:
    """Tens of thousands of entries sit in memory: none stays tracked by the collector,
    so its full collections (pauses on the event loop) do not grow with them."""
    sends = RecentSends(KeyedHasher(), capacity=1000, ttl=300)
    for n in range(1000):
        sends.remember(n.to_bytes(16, "big"), [f"id{n}a", f"id{n}b"])
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in sends._items.values())
    assert sends.get((7).to_bytes(16, "big")) == ["id7a", "id7b"]


def test_recent_sends_forget_the_oldest_past_capacity_and_expired_ones() -> None:
    clock = Clock()
    sends = RecentSends(KeyedHasher(), capacity=2, ttl=300, clock=clock)
    keys = [sends.key(bytes(16), 0, [bytes([n])]) for n in range(3)]
    for n, key in enumerate(keys):
        sends.remember(key, [f"id{n}"])
    assert sends.get(keys[0]) is None and sends.get(keys[2]) == ["id2"]
    clock.now += 400  # both left expired: the next remember sweeps them
    fresh = sends.key(bytes(16), 0, [b"fresh"])
    sends.remember(fresh, ["new"])
    assert list(sends._items) == [fresh]


def test_the_key_tells_sends_apart() -> None:
    sends = RecentSends(KeyedHasher(), capacity=10, ttl=300)
    cid, other = bytes(16), bytes([1]) * 16
    base = sends.key(cid, 0, [b"ab", b"c"])
    assert base == sends.key(cid, 0, [b"ab", b"c"])
    assert (
        len(
            {
                base,
                sends.key(other, 0, [b"ab", b"c"]),  # another conversation
                sends.key(cid, 1, [b"ab", b"c"]),  # another sender
                sends.key(cid, 0, [b"a", b"bc"]),  # the same bytes, cut elsewhere
                sends.key(cid, 0, [b"c", b"ab"]),  # another order
                sends.key(cid, 0, [b"ab"]),
                sends.key(cid, 1, [b"ab", b"c"], bytes(32)),  # a program's names it
                sends.key(cid, 1, [b"ab", b"c"], bytes([1]) * 32),
            }
        )
        == 8
    )
    # a real-sized envelope: another header (a ratchet counter) or tag is another send
    env = bytes(range(256)) * 4
    header = env[:30] + b"\xff" + env[31:]
    tag = env[:-1] + b"\x00"
    assert len({sends.key(cid, 0, [e]) for e in (env, header, tag, env + b"x")}) == 4
    # one envelope (the usual send, built in one join) or more: the same definition
    hasher = KeyedHasher(bytes(32))
    one = RecentSends(hasher, 10, 300)
    for envelopes, program in (([env], b""), ([env], bytes(16)), ([env, b"ab"], b"")):
        fields = b"".join(len(e).to_bytes(4, "big") + e[:64] + e[-16:] for e in envelopes)
        value = cid + bytes([1, len(program)]) + program + fields
        assert one.key(cid, 1, envelopes, program) == hasher("send", value)
    # keyed: another process (another random key) makes other hashes
    assert RecentSends(KeyedHasher(), 10, 300).key(cid, 0, [b"ab", b"c"]) != base
    assert b"ab" not in base


async def test_a_repeated_send_gets_the_same_ids_and_is_stored_and_pushed_once(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin)
    h = program.auth_headers()
    cid, _token = await open_conversation(c, program)
    (init,) = (await c.get(f"/v1/programs/{program.pid}/messages", headers=h)).json()["messages"]
    await c.post("/v1/acks", json={"message_ids": [init["id"]]}, headers=h)

    reply = make_envelope(cid, 1, 0, n=1)
    url = f"/v1/conversations/{b64(cid)}/messages"
    first = await c.post(url, json={"envelopes": [b64(reply)]}, headers=h)
    assert first.status_code == 201, first.text
    rows = len(snapshot(relay.db)["messages"])
    again = await c.post(url, json={"envelopes": [b64(reply)]}, headers=h)
    assert again.status_code == 201 and again.json() == first.json()
    assert len(snapshot(relay.db)["messages"]) == rows
    other = await c.post(url, json={"envelopes": [b64(make_envelope(cid, 1, 0, n=2))]}, headers=h)
    assert other.json()["message_ids"] != first.json()["message_ids"]
    assert len(snapshot(relay.db)["messages"]) == rows + 1

    # another program repeating it learns nothing: refused as any send of its own would be
    stranger = await enroll_program(c, relay.db, relay.origin)
    refused = await c.post(url, json={"envelopes": [b64(reply)]}, headers=stranger.auth_headers())
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "unknown_conversation"


async def test_a_send_resent_over_http_after_the_socket_gets_the_socket_ids(
    relay_process,
) -> None:
    """The SDK's fallback: sent over the socket, the answer lost, sent again over HTTP.
    The recipient's pending list holds the message once; after it was acked, a late
    repeat is still answered and stores nothing."""
    origin = relay_process.url
    async with httpx.AsyncClient(base_url=origin) as c:
        program = await enroll_program(c, relay_process.database_url, origin)
        h = program.auth_headers()
        cid, token = await open_conversation(c, program)
        pending = f"/v1/programs/{program.pid}/messages"
        (init,) = (await c.get(pending, headers=h)).json()["messages"]
        await c.post("/v1/acks", json={"message_ids": [init["id"]]}, headers=h)

        env = b64(make_envelope(cid, 0, 1, n=1))
        ws_url = origin.replace("http", "ws") + "/v1/ws"
        async with websockets.connect(ws_url, compression=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await ws.recv()) == {"type": "ready"}
            frame = {
                "type": "send",
                "request_id": "r",
                "conversation_id": b64(cid),
                "envelopes": [env],
            }
            await ws.send(json.dumps(frame))
            sent = json.loads(await ws.recv())
            assert sent["type"] == "sent"
            await ws.send(json.dumps(frame))  # the same again, on the socket
            assert json.loads(await ws.recv()) == sent

        ph = {"authorization": f"Bearer {token}"}
        url = f"/v1/conversations/{b64(cid)}/messages"
        again = await c.post(url, json={"envelopes": [env]}, headers=ph)
        assert again.status_code == 201 and again.json()["message_ids"] == sent["message_ids"]
        waiting = (await c.get(pending, headers=h)).json()["messages"]
        assert [m["id"] for m in waiting] == sent["message_ids"]

        await c.post("/v1/acks", json={"message_ids": sent["message_ids"]}, headers=h)
        late = await c.post(url, json={"envelopes": [env]}, headers=ph)
        assert late.json()["message_ids"] == sent["message_ids"]
        assert (await c.get(pending, headers=h)).json()["messages"] == []
