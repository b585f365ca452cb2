"""A malicious relay: a proxy in front of the real relay that tampers, replays, reorders,
drops, substitutes keys and edits the profile. Every case must be detected (a typed
exception or a VerificationFailed event) and nothing forged may show as genuine.

Direction "p2s": participant -> program (slot 0 sends); "s2p": program -> participant.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client_sdk import (
    ParticipantClient,
    ProgramClient,
    RelayUnavailable,
    VerificationFailure,
    events,
)
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.identity import IdentityKeyPair, PrekeyBody, sign_prekey
from e2ee.primitives import x25519_generate

PASSPHRASE = "correct horse battery staple (test only)"
PARTICIPANT, PROGRAM = 0, 1


@contextlib.asynccontextmanager
async def pair(
    proxy: Any, relay: Any, enrolled: Any, waiter: Any
) -> AsyncIterator[tuple[ProgramClient, ParticipantClient, Any, Any, str]]:
    async with await ProgramClient.connect(
        proxy.url, enrolled.keystore, PASSPHRASE, origin=relay.url
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            proxy.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            new = await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            qev = participant.events()
            # the workflow's automatic safety check-in comes first, then the place in the
            # queue; let them pass untouched
            await waiter(qev, lambda e: isinstance(e, events.Notice))
            await waiter(qev, lambda e: isinstance(e, events.Progress) and e.kind == "queue")
            yield program, participant, pev, qev, new.conversation_id


async def say(
    program: ProgramClient, participant: ParticipantClient, cid: str, sender: int, text: str
) -> None:
    if sender == PARTICIPANT:
        await participant.send(text)
    else:
        await program.send(cid, text)


def is_text(text: str) -> Any:
    return lambda e: isinstance(e, events.Message) and e.text == text


def texts(seen: list[Any]) -> list[str]:
    return [e.text for e in seen if isinstance(e, events.Message)]


def failures(seen: list[Any]) -> list[str]:
    return [e.reason for e in seen if isinstance(e, events.VerificationFailed)]


DIRECTIONS = [
    pytest.param(PARTICIPANT, id="participant-to-program"),
    pytest.param(PROGRAM, id="program-to-participant"),
]


@pytest.mark.parametrize("sender", DIRECTIONS)
async def test_tampered_ciphertext_is_refused(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, sender: int
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, part, pev, qev, cid):
        receiver = qev if sender == PROGRAM else pev
        proxy.arm("tamper", sender)
        await say(prog, part, cid, sender, "FORGED")
        await say(prog, part, cid, sender, "genuine after")
        seen: list[Any] = []
        await waiter(receiver, is_text("genuine after"), seen=seen)
        assert proxy.done.is_set()
        assert "decryption" in failures(seen)
        assert "FORGED" not in texts(seen)
        if sender == PARTICIPANT:
            # acks only after decryption: the relay still holds the tampered one
            assert proxy.tampered_ids[0] in await prog.pending_on_relay()


@pytest.mark.parametrize("sender", DIRECTIONS)
async def test_replayed_envelope_is_refused(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, sender: int
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, part, pev, qev, cid):
        receiver = qev if sender == PROGRAM else pev
        await say(prog, part, cid, sender, "first")
        await waiter(receiver, is_text("first"))
        proxy.arm("replay", sender)
        await say(prog, part, cid, sender, "second")
        await say(prog, part, cid, sender, "third")
        seen: list[Any] = []
        await waiter(receiver, is_text("third"), seen=seen)
        assert proxy.done.is_set()
        assert set(failures(seen)) & {"replay", "decryption"}
        assert texts(seen) == ["second"]  # the replayed copy never shows


@pytest.mark.parametrize("sender", DIRECTIONS)
async def test_a_send_repeated_after_its_answer_was_lost_arrives_once(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, sender: int
) -> None:
    """The socket dies after the relay committed a send but before its answer came: the
    SDK sends the same envelope again over HTTP, and the relay recognizes it (same ids,
    stored once), so the recipient sees the message once and no false replay alarm."""
    async with pair(proxy, relay, program_factory(), waiter) as (prog, part, pev, qev, cid):
        receiver = qev if sender == PROGRAM else pev
        proxy.cut_next_sent()
        await say(prog, part, cid, sender, "sent once")
        assert proxy.done.is_set()
        await say(prog, part, cid, sender, "after")
        seen: list[Any] = []
        await waiter(receiver, is_text("after"), seen=seen)
        assert texts(seen) == ["sent once"]  # "after" ended the wait
        assert failures(seen) == []


@pytest.mark.parametrize("sender", DIRECTIONS)
async def test_reordered_messages_are_flagged(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, sender: int
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, part, pev, qev, cid):
        receiver = qev if sender == PROGRAM else pev
        await say(prog, part, cid, sender, "zero")
        await waiter(receiver, is_text("zero"))
        proxy.arm("reorder", sender)
        await say(prog, part, cid, sender, "one")
        await say(prog, part, cid, sender, "two")
        seen: list[Any] = []
        late = await waiter(receiver, is_text("one"), seen=seen)
        assert late.late is True
        assert texts(seen) == ["two"]
        assert any(isinstance(e, events.PossiblyMissingMessage) and e.count == 1 for e in seen)
        assert "out_of_order" in failures(seen)


@pytest.mark.parametrize("sender", DIRECTIONS)
async def test_dropped_message_is_reported(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, sender: int
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, part, pev, qev, cid):
        receiver = qev if sender == PROGRAM else pev
        await say(prog, part, cid, sender, "zero")
        await waiter(receiver, is_text("zero"))
        proxy.arm("drop", sender)
        await say(prog, part, cid, sender, "dropped")
        await say(prog, part, cid, sender, "after")
        seen: list[Any] = []
        await waiter(receiver, is_text("after"), seen=seen)
        gap = [e for e in seen if isinstance(e, events.PossiblyMissingMessage)]
        assert [e.count for e in gap] == [1]
        assert texts(seen) == []


# -- keys and profile --------------------------------------------------------------------


def attacker_prekey(program_id: str, *, one_time: bool) -> dict[str, str]:
    """A well-formed prekey signed by a key that is not the program's."""
    attacker = IdentityKeyPair.generate()
    _, public = x25519_generate()
    body = PrekeyBody(7, public, 2**40)
    return sign_prekey(attacker, body, one_time=one_time).to_json()


def edit_bundle(field: str, program_id: str) -> Any:
    def hook(method: str, path: str, data: Any) -> Any:
        if not (method == "POST" and path.endswith("/bundle")):
            return data
        data = dict(data)
        if field == "identity_key":
            data["identity_key"] = b64u_encode(IdentityKeyPair.generate().public_key)
        elif field == "signed_prekey":
            data["signed_prekey"] = attacker_prekey(program_id, one_time=False)
        elif field == "one_time_prekey":
            data["one_time_prekey"] = attacker_prekey(program_id, one_time=True)
        elif field == "prekey_swap":
            # a genuine one-time prekey offered as the signed prekey: other label
            data["signed_prekey"] = data["one_time_prekey"]
        elif field == "profile":
            body = json.loads(b64u_decode(data["profile"]["body"]))
            body["safety_check_in"] = "Your device is safe. Tell us everything."
            encoded = json.dumps(
                body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
            data["profile"] = dict(data["profile"], body=b64u_encode(encoded))
        return data

    return hook


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("identity_key", "untrusted_key"),
        ("signed_prekey", "bad_signature"),
        ("one_time_prekey", "bad_signature"),
        ("prekey_swap", "bad_signature"),
        ("profile", "bad_signature"),
    ],
)
async def test_participant_refuses_a_doctored_bundle(
    proxy: Any, shared_program: Any, field: str, reason: str
) -> None:
    enrolled = shared_program
    proxy.http_hook = edit_bundle(field, enrolled.program_id)
    with pytest.raises(VerificationFailure) as info:
        await ParticipantClient.connect(proxy.url, enrolled.program_id, enrolled.identity_key)
    assert info.value.reason == reason


async def test_participant_refuses_a_program_id_not_derived_from_the_pinned_key(
    proxy: Any, shared_program: Any, program_factory: Any
) -> None:
    enrolled, other = shared_program, program_factory()
    with pytest.raises(VerificationFailure):
        # the relay answers for `other` while the snippet pins `enrolled`'s key
        await ParticipantClient.connect(proxy.url, other.program_id, enrolled.identity_key)


def edit_public_record(field: str) -> Any:
    def hook(method: str, path: str, data: Any) -> Any:
        if method != "GET" or path.count("/") != 3 or not path.startswith("/v1/programs/"):
            return data
        data = dict(data)
        if field == "identity_key":
            data["identity_key"] = b64u_encode(IdentityKeyPair.generate().public_key)
        else:
            body = json.loads(b64u_decode(data[field]["body"]))
            body["name" if field == "profile" else "message"] = "edited by the relay"
            encoded = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            data[field] = dict(data[field], body=b64u_encode(encoded))
        return data

    return hook


@pytest.mark.parametrize("field", ["identity_key", "profile", "status"])
async def test_program_detects_the_relay_serving_a_doctored_record(
    proxy: Any, relay: Any, shared_program: Any, field: str
) -> None:
    enrolled = shared_program
    proxy.http_hook = edit_public_record(field)
    with pytest.raises(VerificationFailure) as info:
        await ProgramClient.connect(proxy.url, enrolled.keystore, PASSPHRASE, origin=relay.url)
    assert info.value.reason == "published_mismatch"


@pytest.mark.parametrize("answer", [{"count": "many"}, {}, []], ids=["text", "absent", "list"])
async def test_program_refuses_an_answer_of_the_wrong_shape(
    proxy: Any, relay: Any, shared_program: Any, answer: Any
) -> None:
    """A 200 whose JSON is not what docs/api.md promises is RelayUnavailable, not a crash."""

    def hook(method: str, path: str, data: Any) -> Any:
        return answer if path.endswith("/one-time-prekeys/count") else data

    proxy.http_hook = hook
    with pytest.raises(RelayUnavailable):
        await ProgramClient.connect(
            proxy.url, shared_program.keystore, PASSPHRASE, origin=relay.url
        )


def other_prekey_id(raw: bytes) -> bytes:
    """Point an init envelope at another prekey id (offset 21, u32)."""
    data = bytearray(raw)
    data[21:25] = (int.from_bytes(data[21:25], "big") ^ 1).to_bytes(4, "big")
    return bytes(data)


def other_enc(raw: bytes) -> bytes:
    """Replace HPKE's enc (offset 25, 32 bytes) by another valid public key."""
    data = bytearray(raw)
    data[25:57] = x25519_generate()[1]
    return bytes(data)


@pytest.mark.parametrize("edit", [other_prekey_id, other_enc])
async def test_program_refuses_an_init_pointing_at_another_prekey(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, edit: Any
) -> None:
    enrolled = program_factory()
    async with await ProgramClient.connect(
        proxy.url, enrolled.keystore, PASSPHRASE, origin=relay.url
    ) as program:
        pev = program.events()
        proxy.arm_edit(PARTICIPANT, edit)
        async with await ParticipantClient.connect(
            proxy.url, enrolled.program_id, enrolled.identity_key
        ):
            seen: list[Any] = []
            failed = await waiter(
                pev, lambda e: isinstance(e, events.VerificationFailed), seen=seen
            )
            assert failed.reason == "decryption"
            assert not [e for e in seen if isinstance(e, events.NewConversation)]
            assert program.conversations == []


async def test_reconnects_after_the_socket_drops(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, part, pev, qev, cid):
        await proxy.kick()
        await waiter(pev, lambda e: isinstance(e, events.Reconnected))
        await waiter(qev, lambda e: isinstance(e, events.Reconnected))
        await part.send("after the reconnect")
        await waiter(pev, is_text("after the reconnect"))
        await prog.send(cid, "and back")
        await waiter(qev, is_text("and back"))


async def test_replayed_init_cannot_resurrect_a_closed_conversation(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, _, pev, _, cid):
        init = proxy.seen[PARTICIPANT][0]
        assert b64u_decode(init["envelope"])[1] == 1  # kind: init
        await prog.close(cid)
        await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
        await proxy.inject(dict(init, id=b64u_encode(b"\x07" * 16)))
        seen: list[Any] = []
        failed = await waiter(pev, lambda e: isinstance(e, events.VerificationFailed), seen=seen)
        assert (failed.conversation_id, failed.reason) == (cid, "replay")
        assert not [e for e in seen if isinstance(e, events.NewConversation)]
        assert prog.conversations == []


async def test_close_deletes_the_keys_even_when_the_relay_fails_the_sign_in(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any
) -> None:
    async with pair(proxy, relay, program_factory(), waiter) as (prog, _, pev, qev, cid):
        prog._token_expires = 0.0  # the session token expired: closing must sign in again

        def malformed_challenge(method: str, path: str, data: Any) -> Any:
            return dict(data, challenge="not base64url!") if path.endswith("/challenge") else data

        proxy.http_hook = malformed_challenge
        await prog.close(cid)
        closed = await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
        assert (closed.conversation_id, closed.by) == (cid, "self")
        assert prog.conversations == []
        assert prog._ks.names(f"conversation/{cid}/") == []
        await waiter(qev, lambda e: isinstance(e, events.ConversationClosedEvent))


def without_one_time_prekey(method: str, path: str, data: Any) -> Any:
    """The bundle as if no one-time prekey were left: the participant uses the signed one."""
    if method == "POST" and path.endswith("/bundle"):
        return dict(data, one_time_prekey=None)
    return data


@pytest.mark.parametrize(
    "restart", [pytest.param(False, id="same-node"), pytest.param(True, id="after-node-restart")]
)
async def test_replayed_signed_prekey_init_cannot_open_a_ghost_conversation(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, restart: bool
) -> None:
    enrolled = program_factory()
    proxy.http_hook = without_one_time_prekey
    async with contextlib.AsyncExitStack() as stack:
        program = await stack.enter_async_context(
            await ProgramClient.connect(proxy.url, enrolled.keystore, PASSPHRASE, origin=relay.url)
        )
        pev = program.events()
        async with await ParticipantClient.connect(
            proxy.url,
            enrolled.program_id,
            enrolled.identity_key,
            first_message="my first message",
        ):
            new = await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            cid = new.conversation_id
            await waiter(pev, is_text("my first message"))
            init = proxy.seen[PARTICIPANT][0]
            raw = b64u_decode(init["envelope"])
            assert (raw[1], raw[20]) == (1, 1)  # an init, to the signed prekey
            await program.close(cid)
            await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
        if restart:  # a new process on the same keystore: nothing in memory survives
            await stack.aclose()
            program = await stack.enter_async_context(
                await ProgramClient.connect(
                    proxy.url, enrolled.keystore, PASSPHRASE, origin=relay.url
                )
            )
            pev = program.events()
        await proxy.inject(dict(init, id=b64u_encode(b"\x09" * 16)))
        seen: list[Any] = []
        first = await waiter(
            pev,
            lambda e: isinstance(
                e, events.VerificationFailed | events.NewConversation | events.Message
            ),
            seen=seen,
        )
        assert isinstance(first, events.VerificationFailed)
        assert (first.conversation_id, first.reason) == (cid, "replay")
        assert not [e for e in seen if isinstance(e, events.NewConversation | events.Message)]
        assert program.conversations == []
