"""The relay tells the program node its one-time prekeys are going fast (a script
fetching bundles from many addresses); the node shows it as an event."""

from __future__ import annotations

import asyncio
import time
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
        # The relay counts in minutes of the monotonic clock (server/pow.py), which this
        # process shares: start with half a minute left, so the 30 fetches fall in one.
        while time.monotonic() % 60 > 30:
            await asyncio.sleep(0.25)
        for i in range(30):  # 30 a minute mark the pool as draining (from 3 addresses)
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.2.{i % 3 + 1}")
            async with httpx.AsyncClient(base_url=fresh_relay.url, transport=transport) as c:
                r = await c.post(url)
                assert r.status_code == 200 and r.json()["one_time_prekey"] is not None
        await waiter(pev, lambda e: isinstance(e, events.PrekeysDraining))
