"""Canaries: unique strings sent both ways through a real relay process must never appear
in its SQLite database, its WAL or its logs (as UTF-8, UTF-16 LE/BE or base64 at any
alignment), neither while the conversation is open (with a message held for an offline
program node) nor after it closed. The program node's keystore is searched too."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events

PASSPHRASE = "correct horse battery staple (test only)"


def _b64_forms(data: bytes) -> list[bytes]:
    """Base64 (standard and URL-safe, padded or not) of ``data`` at each of the three
    byte alignments it can have inside a longer encoded string: the characters that
    depend only on ``data``."""
    forms = []
    for shift in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * shift + data).rstrip(b"=")
            lead = (shift * 8 + 5) // 6  # characters touched by the padding bytes
            tail = len(text) - ((len(data) + shift) * 8 % 6 != 0)  # last, partial char
            forms.append(text[lead:tail])
    return forms


def forms(canary: str) -> list[bytes]:
    raw = canary.encode("utf-8")
    out = [raw, canary.encode("utf-16-le"), canary.encode("utf-16-be")]
    for form in (raw, canary.encode("utf-16-le"), canary.encode("utf-16-be")):
        out += _b64_forms(form)
    return out


def leaks(paths: list[Path], canaries: list[str]) -> list[tuple[str, str]]:
    found = []
    for path in paths:
        if not path.exists():
            continue
        data = path.read_bytes()
        for canary in canaries:
            if any(form in data for form in forms(canary)):
                found.append((path.name, canary))
    return found


def test_the_search_finds_every_form(tmp_path: Path) -> None:
    """The detector itself can fail: each encoding of a canary, at any offset, is found."""
    canary = f"canary-{uuid.uuid4().hex}"
    samples = [canary.encode(), canary.encode("utf-16-le"), canary.encode("utf-16-be")]
    for i, sample in enumerate(samples):
        for prefix in (b"", b"x", b"xy"):
            for encoder in (base64.b64encode, base64.urlsafe_b64encode):
                path = tmp_path / f"{i}-{len(prefix)}-{encoder.__name__}"
                path.write_bytes(b"junk" + encoder(prefix + sample + b"tail") + b"junk")
                assert leaks([path], [canary]) == [(path.name, canary)]
        plain = tmp_path / f"plain-{i}"
        plain.write_bytes(b"..." + sample + b"...")
        assert leaks([plain], [canary]) == [(plain.name, canary)]
    clean = tmp_path / "clean"
    clean.write_bytes(b"nothing to see")
    assert leaks([clean], [canary]) == []


async def test_canaries_never_reach_the_relays_files(
    fresh_relay: Any, enroll: Any, waiter: Any
) -> None:
    relay = fresh_relay
    enrolled = enroll(relay)
    files = [
        relay.db_path,
        relay.db_path.with_name(relay.db_path.name + "-wal"),
        relay.db_path.with_name(relay.db_path.name + "-shm"),
        relay.log_path,
    ]
    canaries = {
        "participant_first": f"pCANARY1-{uuid.uuid4().hex}",
        "participant": f"pCANARY2-{uuid.uuid4().hex} مرحبا 你好",
        "program": f"sCANARY3-{uuid.uuid4().hex} नमस्ते",
        "held": f"pCANARY4-{uuid.uuid4().hex}",
        "answer": f"pCANARY5-{uuid.uuid4().hex}",
    }
    every = list(canaries.values())
    program = await ProgramClient.connect(relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False)
    try:
        pev = program.events()
        async with await ParticipantClient.connect(
            relay.url,
            enrolled.program_id,
            enrolled.identity_key,
            first_message=canaries["participant_first"],
        ) as participant:
            qev = participant.events()
            cid = (
                await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            ).conversation_id
            await participant.send(canaries["participant"])
            await waiter(
                pev, lambda e: isinstance(e, events.Message) and e.text == canaries["participant"]
            )
            await program.send(cid, canaries["program"])
            await waiter(
                qev, lambda e: isinstance(e, events.Message) and e.text == canaries["program"]
            )
            await participant.send_answers({"q1": canaries["answer"]})
            await waiter(pev, lambda e: isinstance(e, events.Answers))

            # during: the program node is away, so the relay holds this one
            await program.aclose()
            await participant.send(canaries["held"])
            assert leaks(files, every) == []

            program = await ProgramClient.connect(
                relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
            )
            pev = program.events()
            await waiter(
                pev, lambda e: isinstance(e, events.Message) and e.text == canaries["held"]
            )
            assert leaks(files, every) == []
            await program.close(cid)
            await waiter(qev, lambda e: isinstance(e, events.ConversationClosedEvent))
    finally:
        await program.aclose()
    # after: the conversation is closed, then the relay is stopped
    assert leaks([*files, enrolled.keystore], every) == []
    relay.stop()
    assert relay.db_path.exists() and relay.log_path.exists()
    assert leaks([*files, enrolled.keystore], every) == []
