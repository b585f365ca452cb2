"""Full conversations between ProgramClient and ParticipantClient through a real relay."""

from __future__ import annotations

from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events

PASSPHRASE = "correct horse battery staple (test only)"

TEXTS = [
    "مرحبا، أحتاج إلى المساعدة",  # Arabic
    "你好，我需要帮助。",  # Chinese
    "नमस्ते, मुझे मदद चाहिए",  # Hindi
    "👋🏽 help 🆘 👩‍👧‍👦",  # emoji with modifiers and ZWJ sequences
    "I live at שדרות רוטשילד 12 apartment 3 — يوم الاثنين ok?",  # RTL/LTR mix
    "\u202eRLO override\u202c and a\u200dzero-width joiner",
]


async def test_texts_in_every_script_arrive_byte_identical(
    deployment: Any, enroll: Any, waiter: Any
) -> None:
    """On one SQLite relay, and on two relays (PostgreSQL + Redis) with the node on one
    and the participant on the other."""
    enrolled = enroll(deployment)
    async with await ProgramClient.connect(
        deployment.program_url, enrolled.keystore, PASSPHRASE
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            deployment.participant_url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            new = await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            assert new.conversation_id == participant.conversation_id
            cid = new.conversation_id
            qev = participant.events()
            for text in TEXTS:
                await participant.send(text)
                got = await waiter(pev, lambda e: isinstance(e, events.Message))
                assert got.text.encode("utf-8") == text.encode("utf-8")
                assert got.conversation_id == cid
                await program.send(cid, text[::-1])
                back = await waiter(qev, lambda e: isinstance(e, events.Message))
                assert back.text.encode("utf-8") == text[::-1].encode("utf-8")
            await participant.close()
            left = await waiter(pev, lambda e: isinstance(e, events.ParticipantLeft))
            assert left.conversation_id == cid
            await waiter(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
            assert cid not in program.conversations
