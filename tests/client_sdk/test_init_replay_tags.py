"""Replay tags of signed-prekey inits (``client_sdk.store``): kept in the keystore under the
prekey's id, deleted with the prekey's secret after the grace period, bounded in number.
The replay itself through a malicious relay is in ``test_malicious_relay.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import ParticipantClient, ProgramClient, events, store
from client_sdk.keystore import Argon2Params, Keystore
from client_sdk.workflow import ManualClock, StatusKeeper, Workflow
from e2ee.encoding import b64u_decode

PASSPHRASE = "correct horse battery staple (test only)"
FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)
pytestmark = pytest.mark.usefixtures("weak_argon2")


def fixed_random(byte: int) -> Any:
    return lambda n: bytes([byte]) * n


def test_tags_are_keyed_per_keystore_and_found_only_under_their_prekey(tmp_path: Path) -> None:
    enc, other = b"\x01" * 32, b"\x02" * 32
    with (
        Keystore.create(tmp_path / "a", PASSPHRASE, params=FAST) as a,
        Keystore.create(tmp_path / "b", PASSPHRASE, params=FAST) as b,
    ):
        tag = store.replay_tag(a, enc, fixed_random(0xAA))
        assert store.replay_tag(a, enc, fixed_random(0xBB)) == tag  # the key is made once
        assert store.replay_tag(b, enc, fixed_random(0xBB)) != tag  # per-keystore key
        assert len(tag) == store.REPLAY_TAG_SIZE and enc not in tag
        assert not store.init_seen(a, 5, tag)
        store.remember_init(a, 5, tag)
        assert store.init_seen(a, 5, tag)
        assert not store.init_seen(a, 6, tag)
        assert not store.init_seen(a, 5, store.replay_tag(a, other, fixed_random(0xAA)))
        assert store.replay_tag_count(a, 5) == 1


def test_tags_go_when_their_signed_prekey_secret_is_gone(tmp_path: Path) -> None:
    with Keystore.create(tmp_path / "k", PASSPHRASE, params=FAST) as ks:
        ks.put(f"{store.SIGNED_PREKEY}1", b"secret record")
        for prekey_id in (1, 2):
            store.remember_init(ks, prekey_id, store.replay_tag(ks, b"\x03" * 32, fixed_random(1)))
        store.forget_replay_tags(ks)  # prekey 2's secret is gone: its tags go too
        assert ks.names(store.REPLAY_TAGS) == [store.replay_tags_name(1)]
        ks.delete(f"{store.SIGNED_PREKEY}1")
        store.forget_replay_tags(ks)
        assert ks.names(store.REPLAY_TAGS) == []


def without_one_time_prekey(method: str, path: str, data: Any) -> Any:
    if method == "POST" and path.endswith("/bundle"):
        return dict(data, one_time_prekey=None)
    return data


def record_names(path: Any, prefix: str) -> list[str]:
    with Keystore.open(path, PASSPHRASE) as ks:
        return ks.names(prefix)


async def signed_prekey_id(relay: Any, program_id: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        bundle = (await client.post(f"{relay.url}/v1/programs/{program_id}/bundle")).json()
    return int.from_bytes(b64u_decode(bundle["signed_prekey"]["body"])[:4], "big")


async def test_tags_outlive_the_close_and_go_with_the_prekey_after_the_grace(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    proxy.http_hook = without_one_time_prekey
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    workflow = Workflow(clock=clock, status=StatusKeeper())
    async with await ProgramClient.connect(
        proxy.url,
        enrolled.keystore,
        PASSPHRASE,
        origin=relay.url,
        workflow=workflow,
        auto_tick=False,
    ) as program:
        pev = program.events()
        first = await signed_prekey_id(relay, enrolled.program_id)
        async with await ParticipantClient.connect(
            proxy.url, enrolled.program_id, enrolled.identity_key
        ):
            new = await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            assert record_names(enrolled.keystore, store.REPLAY_TAGS) == [
                store.replay_tags_name(first)
            ]
            await program.close(new.conversation_id)
            await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
        # closed: the tag stays as long as the prekey's secret could open the init
        assert record_names(enrolled.keystore, store.REPLAY_TAGS) == [store.replay_tags_name(first)]
        clock.advance(days=7)
        await program.maintain()
        assert await signed_prekey_id(relay, enrolled.program_id) != first
        assert record_names(enrolled.keystore, store.REPLAY_TAGS) == [store.replay_tags_name(first)]
        clock.advance(days=9)  # past the first prekey's expiry plus grace
        await program.maintain()
        assert f"{store.SIGNED_PREKEY}{first}" not in record_names(
            enrolled.keystore, store.SIGNED_PREKEY
        )
        assert record_names(enrolled.keystore, store.REPLAY_TAGS) == []


async def test_a_full_tag_set_refuses_more_inits_and_rotates_the_prekey(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    proxy.http_hook = without_one_time_prekey
    async with await ProgramClient.connect(
        proxy.url,
        enrolled.keystore,
        PASSPHRASE,
        origin=relay.url,
        auto_tick=False,
        max_replay_tags=1,
    ) as program:
        pev = program.events()
        first = await signed_prekey_id(relay, enrolled.program_id)
        async with await ParticipantClient.connect(
            proxy.url, enrolled.program_id, enrolled.identity_key
        ):
            await waiter(pev, lambda e: isinstance(e, events.NewConversation))
        async with await ParticipantClient.connect(
            proxy.url, enrolled.program_id, enrolled.identity_key
        ) as second:
            seen: list[Any] = []
            failed = await waiter(
                pev, lambda e: isinstance(e, events.VerificationFailed), seen=seen
            )
            assert (failed.conversation_id, failed.reason) == (second.conversation_id, "expired")
            assert not [e for e in seen if isinstance(e, events.NewConversation)]
            assert second.conversation_id not in program.conversations
        await program.maintain()
        assert await signed_prekey_id(relay, enrolled.program_id) != first
        async with await ParticipantClient.connect(
            proxy.url, enrolled.program_id, enrolled.identity_key
        ) as third:
            new = await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            assert new.conversation_id == third.conversation_id
