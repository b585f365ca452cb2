"""Prekey replenishment and rotation, status re-signing: the workflow's decisions carried
out by the program node against a real relay, on a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from client_sdk import ParticipantClient, ProgramClient, events, proof
from client_sdk.keystore import Keystore
from client_sdk.workflow import ManualClock, StaffMember, StatusKeeper, Workflow
from client_sdk.workflow.staff import Shift
from e2ee.encoding import b64u_decode
from e2ee.identity import SignedObject, parse_status

PASSPHRASE = "correct horse battery staple (test only)"


async def published_status(relay: Any, program_id: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        record = (await client.get(f"{relay.url}/v1/programs/{program_id}")).json()
    return parse_status(SignedObject.from_json(record["status"]).body)


async def signed_prekey_id(relay: Any, program_id: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        bundle = (await client.post(f"{relay.url}/v1/programs/{program_id}/bundle")).json()
    return int.from_bytes(b64u_decode(bundle["signed_prekey"]["body"])[:4], "big")


def record_names(path: Any, prefix: str) -> list[str]:
    with Keystore.open(path, PASSPHRASE) as ks:
        return ks.names(prefix)


async def test_one_time_prekeys_are_used_once_and_replenished(
    program_factory: Any, relay: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        full = await program.prekey_count()
        assert full >= 20
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        ):
            await waiter(program.events(), lambda e: isinstance(e, events.NewConversation))
        # its secret was deleted right after its one use
        assert len(record_names(enrolled.keystore, "prekey/one-time/")) == full - 1
        # others take prekeys without ever writing: from several addresses (one may try
        # 30 a minute, a refused try included), solving the puzzle once it is draining
        url = f"{relay.url}/v1/programs/{enrolled.program_id}/bundle"
        for n in range(full - 5):
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.4.{n // 12 + 1}")
            async with httpx.AsyncClient(timeout=10, transport=transport) as client:
                r = await client.post(url)
                if r.status_code == 428:
                    puzzle_url = f"{relay.url}/v1/programs/{enrolled.program_id}/puzzle"
                    puzzle = (await client.post(puzzle_url)).json()
                    headers = {proof.HEADER: proof.proof_header(puzzle)}
                    r = await client.post(url, headers=headers)
                assert r.status_code == 200, r.text
        assert await program.prekey_count() == 4
        await program.maintain()
        assert await program.prekey_count() >= 20


async def test_status_is_re_signed_before_it_expires_and_on_demand(
    program_factory: Any, relay: Any
) -> None:
    enrolled = program_factory()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    keeper = StatusKeeper()
    # with nobody on shift the workflow says "busy"; one staff member makes it "open"
    now = clock.now()
    staff = StaffMember(
        "ana", "Ana", shifts=(Shift(now - timedelta(hours=1), now + timedelta(days=1)),)
    )
    workflow = Workflow(clock=clock, status=keeper, staff=[staff])
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, workflow=workflow, auto_tick=False
    ) as program:
        first = await published_status(relay, enrolled.program_id)
        assert first.state == "open"
        clock.advance(minutes=1)
        await program.tick()
        assert await published_status(relay, enrolled.program_id) == first  # not due yet
        clock.advance(keeper.policy.lifetime - keeper.policy.resign_before)
        await program.tick()
        again = await published_status(relay, enrolled.program_id)
        assert again.issued_at > first.issued_at and again.expires_at > first.expires_at
        await program.set_status("outage", "Our chat is down; please call.")
        down = await published_status(relay, enrolled.program_id)
        assert down.state == "outage" and down.message.startswith("Our chat is down")
        async with await ParticipantClient.connect(
            relay.url,
            enrolled.program_id,
            enrolled.identity_key,
            clock=lambda: clock.now().timestamp(),
        ) as participant:
            assert participant.status is not None and participant.status.state == "outage"


async def test_signed_prekey_rotates_and_old_secrets_go_after_the_grace(
    program_factory: Any, relay: Any
) -> None:
    enrolled = program_factory()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    workflow = Workflow(clock=clock, status=StatusKeeper())
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, workflow=workflow, auto_tick=False
    ) as program:
        first = await signed_prekey_id(relay, enrolled.program_id)
        clock.advance(days=7)
        await program.maintain()
        second = await signed_prekey_id(relay, enrolled.program_id)
        assert second != first
        # the old secret stays for handshakes in flight
        assert len(record_names(enrolled.keystore, "prekey/signed/")) == 2
        clock.advance(days=9)  # past the first one's expiry plus grace
        await program.maintain()
        names = record_names(enrolled.keystore, "prekey/signed/")
        assert f"prekey/signed/{first}" not in names
        assert f"prekey/signed/{second}" in names
