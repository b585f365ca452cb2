"""The relay tells the program node its one-time prekeys are going fast (a script
fetching bundles from many addresses); the node shows it as an event."""

from __future__ import annotations

from typing import Any

import httpx

from client_sdk import ProgramClient, events

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
