"""Per-source limits and storage quotas, against a real relay process. Sources are
loopback addresses (127.0.0.x): every one is this machine, as the relay cannot tell."""

from __future__ import annotations

import os

import httpx
import pytest
from abuse_helpers import start_relay_limited
from relay_helpers import b64, enroll_program, make_envelope, open_conversation

pytestmark = pytest.mark.slow


def client_from(source: str, url: str, **kw: object) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=30, **kw)  # type: ignore[arg-type]


async def create(c: httpx.AsyncClient, pid: str, **kw: object) -> httpx.Response:
    env = make_envelope(os.urandom(16), 0, 1, init=True)
    return await c.post("/v1/conversations", json={"program_id": pid, "envelope": b64(env)}, **kw)  # type: ignore[arg-type]


async def test_anonymous_work_is_limited_per_source_not_per_program(tmp_path) -> None:
    relay = start_relay_limited(tmp_path, QUIETLINE_LIMIT_SENDS_PER_SOURCE="5")
    try:
        async with client_from("127.0.0.1", relay.url) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
        bundle = f"/v1/programs/{program.pid}/bundle"
        async with client_from("127.0.0.2", relay.url) as attacker:
            codes = [(await attacker.post(bundle)).status_code for _ in range(35)]
            assert codes[:30] == [200] * 30 and codes[30:] == [429] * 5
            codes = [(await create(attacker, program.pid)).status_code for _ in range(25)]
            assert codes[:20] == [201] * 20 and codes[20:] == [429] * 5
            # a spoofed forwarded header from an untrusted peer changes nothing
            spoofed = {"x-forwarded-for": "203.0.113.9"}
            assert (await attacker.post(bundle, headers=spoofed)).status_code == 429
        async with client_from("127.0.0.3", relay.url) as person:
            assert (await person.post(bundle)).status_code == 200
            r = await create(person, program.pid)
            assert r.status_code == 201
            cid, token = r.json()["conversation_id"], r.json()["token"]
            h = {"authorization": f"Bearer {token}"}
            from e2ee.encoding import b64u_decode

            raw = b64u_decode(cid)
            codes = []
            for n in range(7):
                env = make_envelope(raw, 0, 1, n=n)
                r = await person.post(
                    f"/v1/conversations/{cid}/messages", json={"envelopes": [b64(env)]}, headers=h
                )
                codes.append(r.status_code)
            assert codes == [201] * 5 + [429] * 2
    finally:
        relay.stop()
    log = relay.log_path.read_text(errors="replace")
    assert "127.0.0.2" not in log and "127.0.0.3" not in log and "203.0.113" not in log


async def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path) -> None:
    relay = start_relay_limited(
        tmp_path, QUIETLINE_TRUSTED_PROXY="127.0.0.5", QUIETLINE_LIMIT_BUNDLES_PER_SOURCE="3"
    )
    try:
        async with client_from("127.0.0.1", relay.url) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
        bundle = f"/v1/programs/{program.pid}/bundle"
        async with client_from("127.0.0.5", relay.url) as proxy:
            for client in ("198.51.100.1", "198.51.100.2"):
                h = {"x-forwarded-for": f"10.9.9.9, {client}"}  # the proxy's own is last
                codes = [(await proxy.post(bundle, headers=h)).status_code for _ in range(4)]
                assert codes == [200, 200, 200, 429], client
    finally:
        relay.stop()
    log = relay.log_path.read_text(errors="replace")
    assert "198.51.100" not in log and "127.0.0.5" not in log


async def test_storage_quotas_refuse_what_would_pile_up_and_free_on_ack(tmp_path) -> None:
    relay = start_relay_limited(
        tmp_path,
        QUIETLINE_QUOTA_MESSAGES_PER_PROGRAM="200",
        QUIETLINE_LIMIT_SENDS_PER_SOURCE="100000",
    )
    try:
        async with client_from("127.0.0.1", relay.url) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
            cid, token = await open_conversation(c, program)  # its init waits: 1
            h = {"authorization": f"Bearer {token}"}
            url = f"/v1/conversations/{b64(cid)}/messages"
            # 64 KiB envelopes: 8 MiB fit in one conversation, the next one does not
            codes = []
            for n in range(140):
                env = b64(make_envelope(cid, 0, 1, blocks=250, n=n))
                r = await c.post(url, json={"envelopes": [env]}, headers=h)
                codes.append(r.status_code)
                if r.status_code == 429:
                    assert r.json()["error"]["code"] == "quota_exceeded"
                    break
            assert codes[-1] == 429 and len(codes) == 131, len(codes)  # 8 MiB / 64,076 bytes
            # the program acks everything: room again
            ph = program.auth_headers()
            pending = (await c.get(f"/v1/programs/{program.pid}/messages", headers=ph)).json()
            ids = [m["id"] for m in pending["messages"]]
            r = await c.post("/v1/acks", json={"message_ids": ids}, headers=ph)
            assert r.json()["acked"] == len(ids)
            env = b64(make_envelope(cid, 0, 1, n=500))
            assert (await c.post(url, json={"envelopes": [env]}, headers=h)).status_code == 201
            # per program: 200 messages waiting in all of its conversations (1 so far)
            cid2, token2 = await open_conversation(c, program)
            h2 = {"authorization": f"Bearer {token2}"}
            url2 = f"/v1/conversations/{b64(cid2)}/messages"
            codes = []
            for n in range(205):
                env = b64(make_envelope(cid2, 0, 1, n=n))
                codes.append(
                    (await c.post(url2, json={"envelopes": [env]}, headers=h2)).status_code
                )
            assert codes == [201] * 198 + [429] * 7
            r = await create(c, program.pid)
            assert r.status_code == 429 and r.json()["error"]["code"] == "quota_exceeded"
        # the quota is rebuilt from the database after a restart
        relay.restart()
        async with client_from("127.0.0.1", relay.url) as c:
            r = await create(c, program.pid)
            assert r.status_code == 429 and r.json()["error"]["code"] == "quota_exceeded"
    finally:
        relay.stop()
