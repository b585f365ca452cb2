"""Keystore record naming and grouped saves (no relay)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client_sdk import store
from client_sdk.keystore import Argon2Params, Keystore

FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)
PASSPHRASE = "correct horse battery staple (test only)"
pytestmark = pytest.mark.usefixtures("weak_argon2")


def test_forget_conversation_deletes_everything_unless_retained(tmp_path: Path) -> None:
    with Keystore.create(tmp_path / "k", PASSPHRASE, params=FAST) as ks:
        for cid in ("a", "b"):
            ks.put(store.session_name(cid), b"session")
            store.put_json(ks, store.meta_name(cid), {"x": 1})
            store.put_json(ks, store.transcript_name(cid), [{"body": "hello"}])
        assert store.open_conversations(ks) == ["a", "b"]
        store.forget_conversation(ks, "a", retain_transcript=False)
        store.forget_conversation(ks, "b", retain_transcript=True)
        assert ks.names(store.CONVERSATION) == []
        assert ks.get("retained/a") is None
        assert store.get_json(ks, "retained/b") == [{"body": "hello"}]


async def test_group_commit_saves_once_per_turn(tmp_path: Path) -> None:
    saves: list[int] = []
    commit = store.GroupCommit(lambda: saves.append(1))
    await asyncio.gather(*(commit.commit() for _ in range(50)))
    assert len(saves) == 1
    await commit.commit()
    assert len(saves) == 2


async def test_group_commit_reports_a_failed_save_to_every_waiter() -> None:
    def fail() -> None:
        raise OSError("disk full")

    commit = store.GroupCommit(fail)
    results = await asyncio.gather(commit.commit(), commit.commit(), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    with pytest.raises(OSError):
        await commit.commit()
