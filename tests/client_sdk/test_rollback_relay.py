"""Rollback caught by the generation the node keeps on the relay (issue 18): a copy of
the keystore put back *with the local witness deleted* (as a disk or VM snapshot brings
both back) still resumes nothing, because the relay holds a newer generation, sealed and
signed by the program. A relay that rolls its copy back only leaves the local witness."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx

from client_sdk import ParticipantClient, ProgramClient, events
from client_sdk.vault import witness

PASSPHRASE = "correct horse battery staple (test only)"


def files_of(keystore: Path) -> list[Path]:
    return [keystore.with_name(keystore.name + s) for s in ("", "-wal", "-shm")]


def copy_store(keystore: Path, to: Path) -> None:
    """The store's files as they are (the node is stopped), not its witness."""
    to.mkdir()
    for path in files_of(keystore):
        if path.exists():
            shutil.copyfile(path, to / path.name)


def put_back(copy: Path, keystore: Path) -> None:
    for path in files_of(keystore):
        path.unlink(missing_ok=True)
        if (copy / path.name).exists():
            shutil.copyfile(copy / path.name, path)


async def published_after(program: ProgramClient, generation: int) -> None:
    async def wait() -> None:
        while program._published_generation <= generation:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), 30)


async def relay_generation(relay_url: str, program: ProgramClient) -> dict[str, Any]:
    token = await program._session_token()
    async with httpx.AsyncClient(base_url=relay_url, timeout=10) as client:
        r = await client.get(
            f"/v1/programs/{program.program_id}/generation",
            headers={"authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_store_put_back_without_its_witness_is_caught_by_the_relay(
    relay: Any, program_factory: Any, waiter: Any, tmp_path: Path
) -> None:
    enrolled = program_factory()

    def node() -> Any:
        return ProgramClient.connect(relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False)

    async with await ParticipantClient.connect(
        relay.url, enrolled.program_id, enrolled.identity_key
    ) as first:
        async with await node() as program:
            pev = program.events()
            a = (await waiter(pev, lambda e: isinstance(e, events.NewConversation))).conversation_id
        copy = tmp_path / "copy"
        copy_store(enrolled.keystore, copy)  # a snapshot while the node is stopped: A open

        async with await node() as program:
            pev = program.events()
            assert program.conversations == [a]
            at_copy = program._published_generation  # published at start
            async with await ParticipantClient.connect(
                relay.url, enrolled.program_id, enrolled.identity_key
            ):
                await waiter(pev, lambda e: isinstance(e, events.NewConversation))
                # a new conversation: the node keeps its newer generation on the relay
                await published_after(program, at_copy)
            await first.send("after the copy")
            await waiter(pev, lambda e: isinstance(e, events.Message))

        put_back(copy, enrolled.keystore)
        witness.witness_path(enrolled.keystore).unlink()  # the snapshot had no newer one
        async with await node() as program:
            pev = program.events()
            closed = await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
            assert (closed.conversation_id, closed.reason) == (a, "stale_keystore")
            assert program.conversations == []


async def test_a_relay_that_rolls_its_copy_back_is_outvoted_by_the_local_witness(
    relay: Any, program_factory: Any, waiter: Any, tmp_path: Path
) -> None:
    enrolled = program_factory()

    def node() -> Any:
        return ProgramClient.connect(relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False)

    async with await ParticipantClient.connect(
        relay.url, enrolled.program_id, enrolled.identity_key
    ):
        async with await node() as program:
            pev = program.events()
            a = (await waiter(pev, lambda e: isinstance(e, events.NewConversation))).conversation_id
            old = await relay_generation(relay.url, program)
        copy = tmp_path / "copy"
        copy_store(enrolled.keystore, copy)
        async with await node() as program:
            at_copy = program._published_generation
            await program.close(a)
            await published_after(program, at_copy)
            # the relay hands back the older copy it once held (it is signed: accepted)
            token = await program._session_token()
            async with httpx.AsyncClient(base_url=relay.url, timeout=10) as client:
                r = await client.put(
                    f"/v1/programs/{program.program_id}/generation",
                    json=old["generation"],
                    headers={"authorization": f"Bearer {token}"},
                )
                assert r.status_code == 200, r.text
        put_back(copy, enrolled.keystore)  # the local witness stays: it is newer
        async with await node() as program:
            pev = program.events()
            closed = await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
            assert (closed.conversation_id, closed.reason) == (a, "stale_keystore")
            assert program.conversations == []


async def test_the_generation_endpoints_refuse_what_the_program_did_not_sign(
    relay: Any, program_factory: Any
) -> None:
    enrolled = program_factory()
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        kept = await relay_generation(relay.url, program)
        assert kept["generation"] is not None  # published at start
        body = dict(kept["generation"])
        forged = dict(body, signature=body["signature"][:-4] + "AAAA")
        url = f"/v1/programs/{program.program_id}/generation"
        async with httpx.AsyncClient(base_url=relay.url, timeout=10) as client:
            r = await client.put(url, json=forged, headers={"authorization": "Bearer nope"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "bad_token"
            token = await program._session_token()
            headers = {"authorization": f"Bearer {token}"}
            r = await client.put(url, json=forged, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature"
            r = await client.put(
                url, json={"body": "AAAA", "signature": body["signature"]}, headers=headers
            )
            assert r.status_code in (400, 413), r.text
        assert await relay_generation(relay.url, program) == kept
