"""The relay tells the program node its one-time prekeys are going fast (a script
fetching bundles from many addresses); the node shows it as an event."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from client_sdk import ProgramClient, events, proof
from client_sdk.workflow.prekeys import PrekeyPolicy

PASSPHRASE = "correct horse battery staple (test only)"


async def test_a_drained_pool_is_an_event(fresh_relay: Any, enroll: Any, waiter: Any) -> None:
    enrolled = enroll(fresh_relay)
    async with await ProgramClient.connect(
        fresh_relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        pev = program.events()
        url = f"/v1/programs/{enrolled.program_id}/bundle"
        # The relay counts prekeys handed out as a count that decays over a minute (no
        # window edge, server/pow.py): fetches in quick succession from 3 addresses reach
        # 30 and the relay then asks for a proof of work (428) and tells the program.
        refused = False
        for i in range(45):
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.2.{i % 3 + 1}")
            async with httpx.AsyncClient(base_url=fresh_relay.url, transport=transport) as c:
                r = await c.post(url)
            if r.status_code == 428:
                assert r.json()["error"]["code"] == "proof_required"
                refused = True
                break
            assert r.status_code == 200 and r.json()["one_time_prekey"] is not None
        assert refused
        await waiter(pev, lambda e: isinstance(e, events.PrekeysDraining))


async def take_prekeys(relay_url: str, program_id: str, count: int, net: int) -> None:
    """Fetch ``count`` bundles from 20 addresses of 127.0.<net>.x, solving the puzzle
    when the relay asks for one (as a determined script would)."""
    url = f"{relay_url}/v1/programs/{program_id}/bundle"
    for n in range(count):
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.{net}.{n % 20 + 1}")
        async with httpx.AsyncClient(base_url=relay_url, transport=transport, timeout=10) as c:
            r = await c.post(url)
            if r.status_code == 428:
                puzzle = (await c.post(f"/v1/programs/{program_id}/puzzle")).json()
                r = await c.post(url, headers={proof.HEADER: proof.proof_header(puzzle)})
            assert r.status_code == 200, r.text


async def count_reaches(program: Any, wanted: int, timeout: float = 60) -> int:
    async def poll() -> int:
        while (count := await program.prekey_count()) < wanted:
            await asyncio.sleep(0.5)
        return count

    return await asyncio.wait_for(poll(), timeout)


@pytest.mark.slow
async def test_the_node_tops_up_more_and_more_often_while_drained(
    fresh_relay: Any, enroll: Any, waiter: Any
) -> None:
    enrolled = enroll(fresh_relay)
    policy = PrekeyPolicy(draining_target=200, draining_maintain_every=timedelta(seconds=1))
    async with await ProgramClient.connect(
        fresh_relay.url, enrolled.keystore, PASSPHRASE, prekey_policy=policy
    ) as program:
        pev = program.events()
        assert await program.prekey_count() == policy.one_time_target
        await take_prekeys(fresh_relay.url, enrolled.program_id, 40, net=6)
        await waiter(pev, lambda e: isinstance(e, events.PrekeysDraining))
        assert program.draining
        # a bigger pool than the usual target...
        assert await count_reaches(program, policy.draining_target) == policy.draining_target
        # ...kept full while the drain goes on, though far above the low water (the usual
        # policy would not top up at 160 of 100) and with no new signal from the relay
        await take_prekeys(fresh_relay.url, enrolled.program_id, 40, net=7)
        assert await count_reaches(program, policy.draining_target) == policy.draining_target
