"""Keystore format 2 (``client_sdk.vault``): records, conversations under their own keys,
what a stolen file shows, what a closed conversation leaves, generations and witness."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
from collections import Counter
from pathlib import Path

import pytest

from client_sdk import store
from client_sdk.keystore import (
    Argon2Params,
    CorruptKeystore,
    Keystore,
    KeystoreExists,
    KeystoreNotFound,
    KeystoreV1,
    WrongPassphrase,
)
from client_sdk.keystore import _parse as parse_v1
from client_sdk.vault import sealing
from client_sdk.vault.sealing import AAD_PART
from client_sdk.vault.witness import witness_path

FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)
pytestmark = pytest.mark.usefixtures("weak_argon2")  # FAST is under the floor
PASS = "correct horse battery staple"
NEW_PASS = "another long passphrase"
BACKUP_PASS = "the backup's own words"


def entry(i: int) -> dict[str, object]:
    return {"from": "participant", "t": "text", "ts": i, "body": f"message number {i:04d}"}


def fill(ks: object, lengths: dict[str, int]) -> None:
    """Conversations as the node keeps them: session, metadata, one entry per message."""
    for cid, n in lengths.items():
        store.put_json(ks, store.meta_name(cid), {"opened_at": 1.0})  # type: ignore[arg-type]
        ks.put(store.session_name(cid), b"s" * 700)  # type: ignore[attr-defined]
        for i in range(n):
            store.append_transcript(ks, cid, entry(i))  # type: ignore[arg-type]


def visible_sizes(path: Path) -> Counter[int]:
    """What a thief sees of each record: its size (both formats)."""
    data = path.read_bytes()
    if data.startswith(b"QLKS"):
        return Counter(len(sealed) for _, _, sealed in parse_v1(data).records)
    with sqlite3.connect(path) as conn:
        rows = [r[0] for t in ("records", "parts") for r in conn.execute(f"SELECT sealed FROM {t}")]
    return Counter(len(r) for r in rows)


def v1_with_transcripts(path: Path, lengths: dict[str, int]) -> None:
    ks = KeystoreV1.create(path, PASS, params=FAST)
    for cid, n in lengths.items():
        ks.put(store.session_name(cid), b"s" * 700)
        store.put_json(ks, store.meta_name(cid), {"opened_at": 1.0})
        store.put_json(ks, store.transcript_name(cid), [entry(i) for i in range(n)])
    ks.save()


def test_round_trip_and_conversation_records(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    with Keystore.create(path, PASS, params=FAST) as ks:
        ks.put("identity/seed", b"\x01" * 32)
        fill(ks, {"c1": 3})
        assert ks.dirty
        ks.save()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with Keystore.open(path, PASS) as ks:
        assert ks.get("identity/seed") == b"\x01" * 32
        assert ks.conversations() == ["c1"]
        assert store.open_conversations(ks) == ["c1"]
        assert [e["ts"] for e in store.transcript(ks, "c1")] == [0, 1, 2]
        assert json.loads(ks.get(store.transcript_name("c1")) or b"")[2] == entry(2)
        assert ks.names("conversation/") == [
            "conversation/c1/meta",
            "conversation/c1/session",
            "conversation/c1/transcript",
        ]
        assert store.session_name("c1") in ks and "nothing" not in ks


def test_errors(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    Keystore.create(path, PASS, params=FAST).close()
    with pytest.raises(KeystoreExists):
        Keystore.create(path, PASS, params=FAST)
    with pytest.raises(WrongPassphrase):
        Keystore.open(path, "not the passphrase")
    with pytest.raises(KeystoreNotFound):
        Keystore.open(tmp_path / "none", PASS)
    (tmp_path / "junk").write_bytes(b"just some bytes, not a keystore at all")
    with pytest.raises(CorruptKeystore):
        Keystore.open(tmp_path / "junk", PASS)
    with Keystore.open(path, PASS) as ks, pytest.raises(Exception, match="name"):
        ks.put("\x00key/c1", b"internal names are refused")


def test_record_sizes_in_a_stolen_file_do_not_show_transcript_lengths(tmp_path: Path) -> None:
    """Two programs with the same total of messages, split 11+1 and 6+6."""
    uneven, even = {"c1": 11, "c2": 1}, {"c1": 6, "c2": 6}
    for name, lengths in (("uneven", uneven), ("even", even)):
        with Keystore.create(tmp_path / name, PASS, params=FAST) as ks:
            fill(ks, lengths)
            ks.save()
    assert visible_sizes(tmp_path / "uneven") == visible_sizes(tmp_path / "even")
    assert set(visible_sizes(tmp_path / "even")) <= {sealing.bucket(0) + 28, 1024 + 28}


def test_format_1_showed_them(tmp_path: Path) -> None:
    """The demonstration of the issue on the format the node wrote before."""
    v1_with_transcripts(tmp_path / "uneven", {"c1": 11, "c2": 1})
    v1_with_transcripts(tmp_path / "even", {"c1": 6, "c2": 6})
    assert visible_sizes(tmp_path / "uneven") != visible_sizes(tmp_path / "even")


def test_a_closed_conversation_cannot_be_opened_from_what_an_older_copy_left(
    tmp_path: Path,
) -> None:
    """A copy from before the close holds the conversation's records; the keystore after
    the close (same passphrase) holds nothing that opens them, and no byte of the
    wrapped key is left in its file or WAL."""
    path = tmp_path / "ks"
    ks = Keystore.create(path, PASS, params=FAST)
    ks.put("identity/seed", b"\x01" * 32)
    fill(ks, {"closing": 5, "staying": 2})
    ks.save()
    ks._db._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    older = tmp_path / "older"
    shutil.copyfile(path, older)
    key_tag = ks._keys.tag("\x00key/closing")
    with sqlite3.connect(older) as conn:
        wrapped = conn.execute("SELECT sealed FROM records WHERE tag = ?", (key_tag,)).fetchone()[0]
        leftovers = [bytes(r[0]) for r in conn.execute("SELECT sealed FROM parts")]
    store.forget_conversation(ks, "closing", retain_transcript=False)
    ks.save()
    assert ks.conversations() == ["staying"]
    files = [path, path.with_name(path.name + "-wal")]
    after = b"".join(f.read_bytes() for f in files if f.exists())
    assert bytes(wrapped) not in after
    assert bytes(wrapped)[12:40] not in after  # not even a piece of its ciphertext
    # every key the keystore still holds, tried on every record the old copy had
    keys = [ks._keys.record_key] + [c.key for c in ks._convs.values()]
    opened = 0
    for sealed in leftovers:
        for key in keys:
            try:
                sealing.open_sealed(key, ks._store_id + AAD_PART, None, sealed)
                opened += 1
            except CorruptKeystore:
                pass
    assert opened == 2 + 2  # the session, metadata and transcript of "staying" only
    ks.close()
    with Keystore.open(path, PASS) as reopened:
        assert reopened.conversations() == ["staying"]
        assert reopened.get(store.session_name("closing")) is None
    with Keystore.open(older, PASS) as old:  # the copy from before the close: expected
        assert "closing" in old.conversations()


def test_format_1_gave_closed_conversations_back_from_an_older_copy(tmp_path: Path) -> None:
    """The demonstration of the issue: format 1 sealed every record under the one key, so
    a record left from before the close opens with the keystore as it is after."""
    path = tmp_path / "ks"
    v1_with_transcripts(path, {"closing": 2})
    before = {tag: (nonce, sealed) for tag, nonce, sealed in parse_v1(path.read_bytes()).records}
    ks = KeystoreV1.open(path, PASS)
    for name in ks.names("conversation/"):
        ks.delete(name)
    ks.save()
    tag = ks._tag(store.session_name("closing").encode())
    name, value = ks._open_record(tag, *before[tag])
    assert (name, value) == (store.session_name("closing"), b"s" * 700)


def test_generation_witness_and_stale_copy(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    with Keystore.create(path, PASS, params=FAST) as ks:
        ks.put("a", b"1")
        ks.save()
        first = ks.generation
    copy = tmp_path / "copy"
    shutil.copyfile(path, copy)
    with Keystore.open(path, PASS) as ks:
        assert not ks.stale
        ks.put("a", b"2")
        ks.save()
        ks.put("a", b"3")
        ks.save()
        assert ks.generation == first + 2
    assert witness_path(path).read_bytes()[:16] == ks._store_id  # the rest is sealed
    shutil.copyfile(copy, path)
    with Keystore.open(path, PASS) as ks:
        assert ks.stale and ks.generation == first
        ks.put("a", b"still stale")
        ks.save()
        assert ks.stale  # a stale file never passes for a fresh one by being saved
        fill(ks, {"c": 1})
        assert store.discard_stale(ks) == ["c"]
        assert not ks.stale and ks.generation == first + 3
    shutil.copyfile(copy, path)  # the same copy again: still older than the witness
    with Keystore.open(path, PASS) as ks:
        assert ks.stale


def test_migration_of_a_format_1_keystore(tmp_path: Path) -> None:
    """``data/keystore-v1.qlks`` was written by the code before format 2 (see data/README)."""
    path = tmp_path / "ks"
    shutil.copyfile(Path(__file__).parent / "data" / "keystore-v1.qlks", path)
    passphrase = "keystore v1 fixture (test only)"
    with pytest.raises(WrongPassphrase):
        Keystore.open(path, "not it")
    assert path.read_bytes().startswith(b"QLKS")  # a wrong passphrase changes nothing
    with Keystore.open(path, passphrase) as ks:
        assert ks.conversations() == ["conv-a", "conv-b"]
        assert ks.get("conversation/conv-a/session") == b"session bytes of conv-a"
        assert [e["body"] for e in store.transcript(ks, "conv-b")] == [
            "hello from conv-b",
            "hello, how can we help?",
        ]
        assert ks.get("identity/seed") == bytes(range(32))
        assert ks.get("console/staff/alice") == b"staff account (fixture)"
        assert ks.names("prekey/") == ["prekey/last-id", "prekey/one-time/7"]
        assert json.loads(ks.get("retained/conv-old") or b"")[0]["body"] == "kept"
        assert ks.params == FAST
    assert path.read_bytes().startswith(b"SQLite format 3\x00")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ks", "ks.generation"]


def test_backup_holds_no_session_prekey_secret_or_replay_tag(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    with Keystore.create(path, PASS, params=FAST) as ks:
        for name in ("identity/seed", "console/staff/alice", "codeword/home", "prekey/last-id"):
            ks.put(name, b"kept")
        for name in ("prekey/one-time/3", "prekey/signed/1", "replay/key", "workflow/state"):
            ks.put(name, b"left out")
        fill(ks, {"c1": 2})
        ks.save()
        left_out = ks.write_backup(tmp_path / "backup", BACKUP_PASS)
        assert "prekey/one-time/3" in left_out and "conversation/c1/session" in left_out
    with pytest.raises(CorruptKeystore):
        Keystore.open(tmp_path / "backup", BACKUP_PASS)  # a backup is not a keystore
    restored = Keystore.restore_backup(tmp_path / "backup", BACKUP_PASS, tmp_path / "new", NEW_PASS)
    with restored:
        assert restored.names() == sorted(
            ["identity/seed", "console/staff/alice", "codeword/home", "prekey/last-id"]
        )
        assert restored.conversations() == []


def test_change_passphrase_rekeys_everything(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    with Keystore.create(path, PASS, params=FAST) as ks:
        ks.put("a", b"1")
        fill(ks, {"c1": 2})
        ks.save()
        ks.change_passphrase("the new passphrase words")
        ks.append_transcript("c1", b'{"after":1}')
        ks.save()
    with pytest.raises(WrongPassphrase):
        Keystore.open(path, PASS)
    with Keystore.open(path, "the new passphrase words") as ks:
        assert ks.get("a") == b"1" and not ks.stale
        assert len(ks.transcript("c1")) == 3


def test_a_format_1_backup_restores_only_what_is_safe(tmp_path: Path) -> None:
    old = KeystoreV1.create(tmp_path / "old", PASS, params=FAST)
    for name in ("identity/seed", "prekey/one-time/3", "replay/key", store.session_name("c")):
        old.put(name, b"value")
    old.save()
    old.write_backup(tmp_path / "backup", BACKUP_PASS)  # format 1: every record
    old.close()
    with Keystore.restore_backup(
        tmp_path / "backup", BACKUP_PASS, tmp_path / "new", NEW_PASS
    ) as restored:
        assert restored.names() == ["identity/seed"]
        assert restored.conversations() == []


def test_the_witness_can_live_in_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "state"
    elsewhere.mkdir()
    monkeypatch.setenv("QUIETLINE_WITNESS_DIR", str(elsewhere))
    (tmp_path / "keys").mkdir()
    path = tmp_path / "keys" / "ks"
    with Keystore.create(path, PASS, params=FAST) as ks:
        ks.put("a", b"1")
        ks.save()
    copy = tmp_path / "copy-of-the-directory"
    shutil.copytree(tmp_path / "keys", copy)  # the whole directory: no witness in it
    with Keystore.open(path, PASS) as ks:
        ks.put("a", b"2")
        ks.save()
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["ks"]
    assert len(list(elsewhere.iterdir())) == 1
    shutil.rmtree(tmp_path / "keys")
    shutil.copytree(copy, tmp_path / "keys")
    with Keystore.open(path, PASS) as ks:
        assert ks.stale
        ks.change_passphrase("the new passphrase words")  # never lowers the witness
    with Keystore.open(path, "the new passphrase words") as ks:
        assert ks.stale
