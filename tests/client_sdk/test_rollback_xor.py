"""The XOR demonstration at the message level (issue 18), end to end: the program
node's store is copied, a message is sent, the copy is put back with its local witness
*and* the relay's generation rolled back too (the worst case: nothing can tell), and
another message is sent. Both go under the same message key, but with fresh random
nonces: the relay, which holds both envelopes, does not get ``pt1 XOR pt2`` (with the
old all-zero nonce it did), and the participant refuses the second as a replay."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from client_sdk import ParticipantClient, ProgramClient, events
from client_sdk.vault import witness
from client_sdk.workflow import ManualClock
from e2ee.encoding import b64u_decode
from e2ee.envelope import Envelope
from e2ee.padding import pad
from e2ee.payload import Text, encode_payload

PASSPHRASE = "correct horse battery staple (test only)"
PROGRAM = 1
PT1 = "She is at 14 Birch Road, flat 2"
PT2 = "Call the shelter before 9 tonight"


def store_files(keystore: Path) -> list[Path]:
    return [keystore.with_name(keystore.name + s) for s in ("", "-wal", "-shm")] + [
        witness.witness_path(keystore)
    ]


def snapshot(keystore: Path, to: Path) -> None:
    """Everything of the node's store, its witness too (a VM snapshot)."""
    to.mkdir()
    for path in store_files(keystore):
        if path.exists():
            shutil.copyfile(path, to / path.name)


def restore(copy: Path, keystore: Path) -> None:
    for path in store_files(keystore):
        path.unlink(missing_ok=True)
        if (copy / path.name).exists():
            shutil.copyfile(copy / path.name, path)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


async def generation_on_relay(relay_url: str, program: ProgramClient, put: Any = None) -> Any:
    """The relay's copy of the store generation; with ``put``, replace it (as a relay
    rolling it back would: an older copy is still the program's signature)."""
    token = await program._session_token()
    url = f"/v1/programs/{program.program_id}/generation"
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=relay_url, timeout=10) as client:
        if put is None:
            return (await client.get(url, headers=headers)).json()["generation"]
        r = await client.put(url, json=put, headers=headers)
        assert r.status_code == 200, r.text
        return None


async def sent_by_program(proxy: Any, cid: str, count: int) -> list[Envelope]:
    """The first ``count`` envelopes the program sent in ``cid``, as the relay held them."""

    async def wait() -> list[Envelope]:
        while True:
            frames = [f for f in proxy.seen[PROGRAM] if f.get("conversation_id") == cid]
            if len(frames) >= count:
                return [Envelope.from_bytes(b64u_decode(f["envelope"])) for f in frames]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), 30)


async def test_a_fully_rolled_back_node_sends_under_a_used_key_but_leaks_no_xor(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, tmp_path: Path
) -> None:
    enrolled = program_factory()
    # the relay checks the node's signed status against its own (real) time: start now
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    ts = int(clock.now().timestamp() * 1000)

    def node() -> Any:
        return ProgramClient.connect(
            proxy.url,
            enrolled.keystore,
            PASSPHRASE,
            origin=relay.url,
            clock=clock,
            auto_tick=False,
        )

    async with await ParticipantClient.connect(
        proxy.url, enrolled.program_id, enrolled.identity_key
    ) as participant:
        qev = participant.events()
        async with await node() as program:
            pev = program.events()
            cid = (
                await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            ).conversation_id
            assert await program.send(cid, "warm-up") == "delivered"
            await waiter(qev, lambda e: isinstance(e, events.Message) and e.text == "warm-up")
            kept = await generation_on_relay(relay.url, program)
        copy = tmp_path / "snapshot"
        snapshot(enrolled.keystore, copy)
        before = len([f for f in proxy.seen[PROGRAM] if f.get("conversation_id") == cid])

        async with await node() as program:
            assert await program.send(cid, PT1) == "delivered"
            await waiter(qev, lambda e: isinstance(e, events.Message) and e.text == PT1)
            # the relay's copy goes back too (it is still the program's signature)
            await generation_on_relay(relay.url, program, put=kept)
        after_first = len([f for f in proxy.seen[PROGRAM] if f.get("conversation_id") == cid])

        # the worst case: the store and its witness go back, with the relay's copy
        restore(copy, enrolled.keystore)
        async with await node() as program:
            assert program.conversations == [cid]  # nothing could tell: it is resumed
            assert await program.send(cid, PT2) == "delivered"
            await waiter(
                qev,
                lambda e: isinstance(e, events.VerificationFailed) and e.reason == "replay",
            )
        sent = await sent_by_program(proxy, cid, after_first + 1)

    first = sent[before:after_first]
    second = sent[after_first:]
    # the same sends after the snapshot, so the same message keys, in the same order
    env1, env2 = first[-1], second[len(first) - 1]
    assert env1.header == env2.header  # one chain, one counter: one message key
    pt1 = pad(encode_payload(Text(body=PT1, ts=ts)))
    pt2 = pad(encode_payload(Text(body=PT2, ts=ts)))
    assert len(pt1) == len(pt2)
    ct1, ct2 = env1.ciphertext, env2.ciphertext
    # however the relay aligns the two ciphertexts, no XOR of them is pt1 XOR pt2
    for offset in range(len(ct1) - len(pt1) + 1):
        window = slice(offset, offset + len(pt1))
        assert xor(ct1[window], ct2[window]) != xor(pt1, pt2)
    assert env1.nonce != env2.nonce
