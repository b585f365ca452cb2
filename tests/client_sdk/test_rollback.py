"""A keystore put back from an older copy (issue 18): nothing in it is used again.

The demonstration of the issue, against a real relay and a malicious proxy: a copy of
the keystore taken while conversation A was open is put back after the node accepted
conversation B (one one-time prekey used) and went on in A. Before format 2, the node
resumed A from its old ratchet state (message keys used again) and the relay's replay of
B's init opened a new conversation (the one-time prekey's secret was back). Now the
witness is newer than the copy: A is closed with a notice to staff (reason
``stale_keystore``), the prekey secrets of the copy are gone, and B's init is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events
from e2ee.encoding import b64u_decode, b64u_encode

PASSPHRASE = "correct horse battery staple (test only)"
PARTICIPANT = 0


def put_back(copy: Path, keystore: Path) -> None:
    """The old copy over the keystore; the witness beside it is not part of the copy."""
    for suffix in ("-wal", "-shm"):
        keystore.with_name(keystore.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(copy, keystore)


async def test_a_rolled_back_keystore_resumes_nothing_and_a_replayed_init_opens_nothing(
    proxy: Any, relay: Any, program_factory: Any, waiter: Any, tmp_path: Path
) -> None:
    enrolled = program_factory()

    def node() -> Any:
        return ProgramClient.connect(
            proxy.url, enrolled.keystore, PASSPHRASE, origin=relay.url, auto_tick=False
        )

    async with await ParticipantClient.connect(
        proxy.url, enrolled.program_id, enrolled.identity_key
    ) as first:
        async with await node() as program:
            pev = program.events()
            a = (await waiter(pev, lambda e: isinstance(e, events.NewConversation))).conversation_id
        copy = tmp_path / "keystore-copy"
        shutil.copyfile(enrolled.keystore, copy)  # a backup, a snapshot: A open

        async with await node() as program:
            pev = program.events()
            assert program.conversations == [a]
            async with await ParticipantClient.connect(
                proxy.url, enrolled.program_id, enrolled.identity_key
            ) as second:
                b = second.conversation_id
                await waiter(pev, lambda e: isinstance(e, events.NewConversation))
                init = next(f for f in proxy.seen[PARTICIPANT] if f["conversation_id"] == b)
                raw = b64u_decode(init["envelope"])
                assert (raw[1], raw[20]) == (1, 2)  # an init, to a one-time prekey
            await first.send("after the copy")
            await waiter(pev, lambda e: isinstance(e, events.Message))

        put_back(copy, enrolled.keystore)
        async with await node() as program:
            pev = program.events()
            await proxy.inject(dict(init, id=b64u_encode(b"\x0b" * 16)))
            seen: list[Any] = []
            first_b = await waiter(
                pev,
                lambda e: (
                    isinstance(e, events.VerificationFailed | events.NewConversation)
                    and e.conversation_id == b
                ),
                seen=seen,
            )
            assert isinstance(first_b, events.VerificationFailed)  # B's init opens nothing
            closed = [e for e in seen if isinstance(e, events.ConversationClosedEvent)]
            assert [(e.conversation_id, e.reason) for e in closed] == [(a, "stale_keystore")]
            assert program.conversations == []
