"""Format 1 (``KeystoreV1``), still read to convert old files (format 2: ``test_vault.py``).

Keystore: round trips, every failure the docstring names, and no secret on disk."""

from __future__ import annotations

import base64
import hashlib
import os
import random as stdlib_random
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import client_sdk.keystore as keystore_module
from client_sdk.keystore import (
    DEFAULT_ARGON2,
    Argon2Params,
    CorruptKeystore,
    KeystoreError,
    KeystoreExists,
    KeystoreNotFound,
    WrongPassphrase,
)
from client_sdk.keystore import KeystoreV1 as Keystore

FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)
PASS = "correct horse battery staple"
NEW = "new words for the keystore"
BACKUP = "backup words for the safe"
pytestmark = pytest.mark.usefixtures("weak_argon2")  # FAST is under the floor


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = stdlib_random.Random(seed)
    return rng.randbytes


def fix_checksum(data: bytes) -> bytes:
    """Recompute the (non-cryptographic) outer checksum, as a tamperer could."""
    body = data[:-32]
    return body + hashlib.sha256(body).digest()


@pytest.fixture
def ks_path(tmp_path: Path) -> Path:
    return tmp_path / "program.keystore"


def make(path: Path, records: dict[str, bytes] | None = None, seed: int = 1) -> Keystore:
    ks = Keystore.create(path, PASS, params=FAST, random=seeded(seed))
    for name, value in (records or {}).items():
        ks.put(name, value)
    ks.save()
    return ks


def test_defaults_are_sized_for_a_server() -> None:
    assert Argon2Params(time_cost=3, memory_cost=65536, parallelism=4) == DEFAULT_ARGON2


def test_round_trip(ks_path: Path) -> None:
    ks = make(ks_path, {"identity": b"\x01" * 32, "prekey/1": b"\x02" * 32, "prekey/2": b""})
    assert ks.get("identity") == b"\x01" * 32
    assert ks.get("missing") is None
    assert ks.names() == ["identity", "prekey/1", "prekey/2"]
    assert ks.names("prekey/") == ["prekey/1", "prekey/2"]
    reopened = Keystore.open(ks_path, PASS)
    assert reopened.names() == ["identity", "prekey/1", "prekey/2"]
    assert reopened.get("prekey/1") == b"\x02" * 32
    assert reopened.get("prekey/2") == b""
    assert "identity" in reopened and len(reopened) == 3
    assert list(reopened) == ["identity", "prekey/1", "prekey/2"]


def test_put_overwrites_and_delete_forgets(ks_path: Path) -> None:
    ks = make(ks_path, {"a": b"one", "b": b"two"})
    ks.put("a", b"uno")
    ks.delete("b")
    ks.delete("never-there")
    ks.save()
    reopened = Keystore.open(ks_path, PASS)
    assert reopened.get("a") == b"uno"
    assert reopened.get("b") is None
    assert reopened.names() == ["a"]


def test_changes_are_in_memory_until_save(ks_path: Path) -> None:
    ks = make(ks_path, {"a": b"one"})
    assert not ks.dirty
    ks.put("a", b"changed")
    ks.put("b", b"new")
    assert ks.dirty
    assert Keystore.open(ks_path, PASS).get("a") == b"one"
    assert Keystore.open(ks_path, PASS).get("b") is None
    ks.save()
    assert not ks.dirty
    assert Keystore.open(ks_path, PASS).get("a") == b"changed"


def test_unicode_names_and_nfc_passphrase(ks_path: Path) -> None:
    composed = "caf\u00e9 m\u00e9lange au lait"
    decomposed = "cafe\u0301 me\u0301lange au lait"
    ks = Keystore.create(ks_path, composed, params=FAST)
    ks.put("conversation/\u0645\u0631\u062d\u0628\u0627/state", b"x")
    ks.save()
    reopened = Keystore.open(ks_path, decomposed)
    assert reopened.names() == ["conversation/\u0645\u0631\u062d\u0628\u0627/state"]


def test_file_is_private(ks_path: Path) -> None:
    make(ks_path)
    assert stat.S_IMODE(os.stat(ks_path).st_mode) == 0o600


def test_create_refuses_existing_file(ks_path: Path) -> None:
    ks_path.write_bytes(b"something precious")
    with pytest.raises(KeystoreExists):
        Keystore.create(ks_path, PASS, params=FAST)
    assert ks_path.read_bytes() == b"something precious"
    assert [p.name for p in ks_path.parent.iterdir()] == [ks_path.name]


def test_open_missing_file(ks_path: Path) -> None:
    with pytest.raises(KeystoreNotFound):
        Keystore.open(ks_path, PASS)


def test_wrong_passphrase(ks_path: Path) -> None:
    make(ks_path, {"identity": b"k" * 32})
    with pytest.raises(WrongPassphrase) as info:
        Keystore.open(ks_path, "correct horse battery stapler")
    assert "stapler" not in str(info.value)


def test_empty_passphrase_refused(ks_path: Path) -> None:
    with pytest.raises(KeystoreError):
        Keystore.create(ks_path, "", params=FAST)
    make(ks_path)
    with pytest.raises(KeystoreError):
        Keystore.open(ks_path, b"")


def test_not_a_keystore(ks_path: Path) -> None:
    ks_path.write_bytes(b"hello, this is not a keystore at all" * 4)
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)
    ks_path.write_bytes(b"")
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)


def test_every_flipped_byte_is_refused(ks_path: Path) -> None:
    make(ks_path, {"identity": b"I" * 32, "p": b"P" * 5})
    data = ks_path.read_bytes()
    assert len(data) < 400
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x01
        ks_path.write_bytes(bytes(damaged))
        with pytest.raises(CorruptKeystore):
            Keystore.open(ks_path, PASS)


def test_every_flipped_byte_is_refused_even_with_a_fixed_checksum(ks_path: Path) -> None:
    """A tamperer can recompute the checksum; AES-256-GCM still refuses every change."""
    make(ks_path, {"identity": b"I" * 32, "p": b"P" * 5})
    data = ks_path.read_bytes()
    for i in range(len(data) - 32):
        damaged = bytearray(data)
        damaged[i] ^= 0x01
        ks_path.write_bytes(fix_checksum(bytes(damaged)))
        with pytest.raises((CorruptKeystore, WrongPassphrase)):
            Keystore.open(ks_path, PASS)


def test_every_truncation_is_refused(ks_path: Path) -> None:
    make(ks_path, {"identity": b"I" * 32, "p": b"P" * 5})
    data = ks_path.read_bytes()
    for n in range(len(data)):
        ks_path.write_bytes(data[:n])
        with pytest.raises(CorruptKeystore):
            Keystore.open(ks_path, PASS)
    ks_path.write_bytes(data + b"\x00")
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)


def test_removed_record_is_refused(ks_path: Path) -> None:
    """Dropping a whole record (and fixing count and checksum) breaks the sealed trailer."""
    make(ks_path, {"a": b"A" * 16, "b": b"B" * 16})
    data = ks_path.read_bytes()
    header, first = data[:35], 39  # the record count is the u32 at offset 35
    size = int.from_bytes(data[first + 44 : first + 48], "big")
    shortened = header + (1).to_bytes(4, "big") + data[first + 48 + size :]
    ks_path.write_bytes(fix_checksum(shortened))
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)


def test_swapping_two_records_is_refused(ks_path: Path) -> None:
    """A sealed value moved under another name does not open, even with a valid trailer."""
    ks = make(ks_path, {"alice": b"A" * 32, "bobby": b"B" * 32})
    tag_a, nonce_a, ct_a = ks._sealed["alice"]
    tag_b, nonce_b, ct_b = ks._sealed["bobby"]
    ks._sealed["alice"] = (tag_a, nonce_b, ct_b)
    ks._sealed["bobby"] = (tag_b, nonce_a, ct_a)
    with pytest.raises(CorruptKeystore):
        ks.get("alice")
    ks.save()  # seals a trailer over the swapped records
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)


def test_swapping_records_in_the_file_is_refused(ks_path: Path) -> None:
    make(ks_path, {"alice": b"A" * 32, "bobby": b"B" * 32})
    data = ks_path.read_bytes()
    first = 39
    size = int.from_bytes(data[first + 44 : first + 48], "big")
    rec1 = data[first : first + 48 + size]
    rec2 = data[first + 48 + size : first + 2 * (48 + size)]
    assert len(rec2) == len(rec1)
    # keep the name tags in place, exchange nonce and ciphertext
    swapped = rec1[:32] + rec2[32:] + rec2[:32] + rec1[32:]
    tampered = data[:first] + swapped + data[first + len(swapped) :]
    assert tampered != data
    ks_path.write_bytes(fix_checksum(tampered))
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)


def test_record_from_another_keystore_is_refused(tmp_path: Path) -> None:
    """The header is in every AAD: a record copied from a file with another salt fails."""
    one = make(tmp_path / "one", {"identity": b"1" * 32}, seed=1)
    two = make(tmp_path / "two", {"identity": b"2" * 32}, seed=2)
    one._sealed["identity"] = two._sealed["identity"]
    with pytest.raises(CorruptKeystore):
        one.get("identity")


def test_change_passphrase(ks_path: Path) -> None:
    ks = make(ks_path, {"identity": b"k" * 32, "prekey/7": b"s" * 32})
    before = ks_path.read_bytes()
    ks.change_passphrase("a brand new passphrase")
    after = ks_path.read_bytes()
    assert before[19:35] != after[19:35]  # new salt
    with pytest.raises(WrongPassphrase):
        Keystore.open(ks_path, PASS)
    reopened = Keystore.open(ks_path, "a brand new passphrase")
    assert reopened.get("identity") == b"k" * 32
    assert reopened.get("prekey/7") == b"s" * 32
    ks.put("more", b"m")  # the live object keeps working under the new keys
    ks.save()
    assert Keystore.open(ks_path, "a brand new passphrase").get("more") == b"m"


def test_change_passphrase_can_raise_the_cost(ks_path: Path) -> None:
    ks = make(ks_path, {"identity": b"k" * 32})
    stronger = Argon2Params(time_cost=2, memory_cost=32, parallelism=1)
    ks.change_passphrase(NEW, params=stronger)
    assert ks.params == stronger
    reopened = Keystore.open(ks_path, NEW)
    assert reopened.params == stronger and reopened.get("identity") == b"k" * 32


def test_backup_and_restore(tmp_path: Path) -> None:
    ks = make(tmp_path / "ks", {"identity": b"k" * 32, "prekey/1": b"p" * 32})
    ks.write_backup(tmp_path / "backup", BACKUP)
    with pytest.raises(KeystoreExists):
        ks.write_backup(tmp_path / "backup", BACKUP)
    with pytest.raises(CorruptKeystore):
        Keystore.open(tmp_path / "backup", BACKUP)  # a backup is not a keystore
    with pytest.raises(WrongPassphrase):
        Keystore.restore_backup(tmp_path / "backup", PASS, tmp_path / "new", NEW)
    assert not (tmp_path / "new").exists()
    restored = Keystore.restore_backup(tmp_path / "backup", BACKUP, tmp_path / "new", NEW)
    assert restored.get("identity") == b"k" * 32
    reopened = Keystore.open(tmp_path / "new", NEW)
    assert reopened.names() == ["identity", "prekey/1"]
    assert reopened.get("prekey/1") == b"p" * 32
    with pytest.raises(KeystoreExists):
        Keystore.restore_backup(tmp_path / "backup", BACKUP, tmp_path / "ks", NEW)
    with pytest.raises(CorruptKeystore):
        Keystore.restore_backup(tmp_path / "ks", PASS, tmp_path / "other", NEW)


def test_no_secret_in_the_clear(tmp_path: Path) -> None:
    """Plant secrets and their names; the raw bytes of keystore and backup hold none."""
    secret_key = bytes(range(100, 132))
    canary = "QUIETLINE-CANARY-\u0645\u0631\u062d\u0628\u0627-\U0001f512"
    conversation = "conversation/Zx9-secret-conversation-id/ratchet"
    ks = Keystore.create(tmp_path / "ks", PASS, params=FAST)
    ks.put("identity-key-seed-record", secret_key)
    ks.put(conversation, canary.encode("utf-8"))
    ks.save()
    ks.write_backup(tmp_path / "backup", BACKUP)
    needles: list[bytes] = []
    for raw in (
        secret_key,
        canary.encode("utf-8"),
        conversation.encode("utf-8"),
        PASS.encode("utf-8"),
        b"identity-key-seed-record",
    ):
        needles += [raw, raw.hex().encode(), raw.hex().upper().encode()]
        for shift in range(3):
            chunk = raw[shift:]
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                text = enc(chunk).rstrip(b"=")
                needles.append(text[: len(text) - 2])  # drop the characters that mix bytes
        needles.append(raw[:16])
    needles.append(canary.encode("utf-16-le"))
    needles.append(canary.encode("utf-16-be"))
    for path in (tmp_path / "ks", tmp_path / "backup"):
        blob = path.read_bytes()
        for needle in needles:
            assert len(needle) >= 8
            assert needle not in blob, (path.name, needle)


def test_repr_hides_everything(ks_path: Path) -> None:
    ks = make(ks_path, {"identity": b"\xaa" * 32})
    text = repr(ks)
    assert "aa" not in text.lower().replace(str(ks_path).lower(), "")
    assert "identity" not in text
    assert PASS not in text
    assert "hidden" in repr(ks._keys)


def test_crash_during_save_leaves_old_file(ks_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ks = make(ks_path, {"a": b"old"})
    before = ks_path.read_bytes()
    ks.put("a", b"new")

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        ks.save()
    monkeypatch.undo()
    assert ks_path.read_bytes() == before
    assert [p.name for p in ks_path.parent.iterdir()] == [ks_path.name]
    assert ks.dirty
    ks.save()
    assert Keystore.open(ks_path, PASS).get("a") == b"new"


def test_closed_keystore_refuses_use(ks_path: Path) -> None:
    with make(ks_path, {"a": b"x"}) as ks:
        assert ks.get("a") == b"x"
    assert "closed" in repr(ks)
    for call in (
        lambda: ks.get("a"),
        lambda: ks.put("a", b"y"),
        ks.save,
        lambda: ks.names(),
        lambda: ks.delete("a"),
    ):
        with pytest.raises(KeystoreError):
            call()


def test_bad_names_and_values(ks_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ks = make(ks_path)
    for bad in ("", "x" * 1025, "\ud800"):
        with pytest.raises(KeystoreError):
            ks.put(bad, b"v")
    with pytest.raises(KeystoreError):
        ks.put("a", "not bytes")  # type: ignore[arg-type]
    monkeypatch.setattr(keystore_module, "MAX_VALUE_SIZE", 10)
    with pytest.raises(KeystoreError):
        ks.put("a", b"x" * 11)
    ks.put("a", bytearray(b"x" * 10))  # type: ignore[arg-type]
    assert ks.get("a") == b"x" * 10


def test_parameters_are_checked(ks_path: Path) -> None:
    for bad in (
        Argon2Params(time_cost=0, memory_cost=8, parallelism=1),
        Argon2Params(time_cost=1, memory_cost=7, parallelism=1),
        Argon2Params(time_cost=1, memory_cost=8 * 1024 * 1024, parallelism=1),
        Argon2Params(time_cost=1, memory_cost=64, parallelism=0),
    ):
        with pytest.raises(KeystoreError):
            Keystore.create(ks_path, PASS, params=bad)
    assert not ks_path.exists()


def test_absurd_parameters_in_a_file_are_refused_before_argon2(ks_path: Path) -> None:
    make(ks_path)
    data = bytearray(ks_path.read_bytes())
    data[11:15] = (0xFFFFFFFF).to_bytes(4, "big")  # memory_cost
    ks_path.write_bytes(fix_checksum(bytes(data)))
    with pytest.raises(CorruptKeystore):
        Keystore.open(ks_path, PASS)


def test_params_survive_reopen(ks_path: Path) -> None:
    params = Argon2Params(time_cost=2, memory_cost=16, parallelism=2)
    Keystore.create(ks_path, PASS, params=params)
    assert Keystore.open(ks_path, PASS).params == params


def test_failed_passphrase_change_keeps_the_old_one(
    ks_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks = make(ks_path, {"identity": b"k" * 32})

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        ks.change_passphrase(NEW)
    monkeypatch.undo()
    assert Keystore.open(ks_path, PASS).get("identity") == b"k" * 32
    ks.put("more", b"m")
    ks.save()
    assert Keystore.open(ks_path, PASS).get("more") == b"m"
