"""Staff accounts and saved replies, in a real keystore file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from client_sdk.keystore import Argon2Params, Keystore, weak_argon2_for_tests
from console.accounts import Role, StaffAccounts
from console.errors import Conflict, NotAllowed, NotFound, SetupError
from console.replies import SavedReplies
from console.settings import ConsoleSettings, is_loopback

FAST_KS = Argon2Params(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # under the floor
KS_PASS = "console accounts test passphrase"
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@pytest.fixture
def ks(tmp_path: Path) -> Iterator[Keystore]:
    with weak_argon2_for_tests():  # the test-only switch: FAST_KS is under the floor
        yield Keystore.create(tmp_path / "k.qlks", KS_PASS, params=FAST_KS)


def test_accounts_are_argon2id_sealed_and_survive_a_reopen(ks: Keystore, tmp_path: Path) -> None:
    accounts = StaffAccounts(ks, hasher=FAST)
    sam = accounts.add("Sam", "worker", "a long password 1")
    alex = accounts.add("Alex Müller", Role.ADMIN, "another password 2")
    assert sam.role is Role.WORKER and not sam.role.supervises and alex.role.supervises
    assert len(sam.staff_id) == 22 and sam.staff_id != alex.staff_id
    ks.save()
    raw = (tmp_path / "k.qlks").read_bytes()
    assert b"Sam" not in raw and b"argon2" not in raw  # sealed: nothing readable on disk
    with Keystore.open(tmp_path / "k.qlks", KS_PASS) as again:
        reopened = StaffAccounts(again, hasher=FAST)
        assert [a.name for a in reopened.list()] == ["Alex Müller", "Sam"]
        record = again.get(f"console/staff/{sam.staff_id}")
        assert record is not None and b"$argon2id$" in record and b"a long password" not in record
        assert reopened.verify("sam", "a long password 1") == sam  # case does not matter
        assert reopened.verify("Sam", "a long password 2") is None
        assert reopened.verify("Nobody", "a long password 1") is None
    assert "hash" not in repr(accounts) and "password" not in repr(sam)


def test_account_rules(ks: Keystore) -> None:
    accounts = StaffAccounts(ks, hasher=FAST)
    with pytest.raises(NotAllowed, match="at least 10"):
        accounts.add("Sam", "worker", "short")
    with pytest.raises(NotAllowed):
        accounts.add("  ", "worker", "a long password 1")
    with pytest.raises(NotAllowed):
        accounts.add("bad\x00name", "worker", "a long password 1")
    sam = accounts.add("Sam", "worker", "a long password 1")
    with pytest.raises(Conflict):
        accounts.add("SAM", "supervisor", "a long password 1")
    with pytest.raises(ValueError):
        accounts.add("Kim", "boss", "a long password 1")
    assert accounts.set_role(sam.staff_id, "supervisor").role is Role.SUPERVISOR
    accounts.set_password(sam.staff_id, "a new password 3")
    assert accounts.verify("Sam", "a long password 1") is None
    assert accounts.verify("Sam", "a new password 3") is not None
    accounts.disable(sam.staff_id)
    assert accounts.verify("Sam", "a new password 3") is None  # disabled: no sign-in
    assert accounts.get(sam.staff_id) is not None and accounts.get(sam.staff_id).disabled  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        accounts.disable("no-such-id")


class CountingHasher(PasswordHasher):
    """A real Argon2id hasher that records the parameters of every hash it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash).split("$")[3])  # m=...,t=...,p=...
        return super().verify(hash, password)


def test_an_unknown_name_costs_one_argon2id_run_like_a_wrong_password(ks: Keystore) -> None:
    hasher = CountingHasher()
    accounts = StaffAccounts(ks, hasher=hasher)
    accounts.add("Sam", "worker", "a long password 1")
    assert accounts.verify("Sam", "wrong password!") is None
    assert accounts.verify("Nobody at all", "wrong password!") is None
    assert accounts.verify("", "wrong password!") is None  # not even a valid name
    # the same work each time: one verification under the same Argon2id parameters
    assert len(hasher.verified) == 3 and len(set(hasher.verified)) == 1


def test_saved_replies(ks: Keystore) -> None:
    replies = SavedReplies(ks)
    hello = replies.add("Greetings", "Hello", "Hello, I am glad you wrote.\nHow are you?")
    replies.add("Closing", "Goodbye", "Take care.")
    assert [r.title for r in replies.list()] == ["Goodbye", "Hello"]
    assert replies.get(hello.id) == hello
    with pytest.raises(NotAllowed):
        replies.add("Greetings", "", "x")
    replies.remove(hello.id)
    with pytest.raises(NotFound):
        replies.remove(hello.id)
    assert [r.title for r in replies.list()] == ["Goodbye"]


def test_settings_refuse_a_public_host_without_tls(tmp_path: Path) -> None:
    assert ConsoleSettings().url == "http://127.0.0.1:8100/"
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    with pytest.raises(SetupError, match="without TLS: staff passwords"):
        ConsoleSettings(host="0.0.0.0")
    with pytest.raises(SetupError, match="both"):
        ConsoleSettings(tls_cert=tmp_path / "c.pem")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    served = ConsoleSettings(host="0.0.0.0", tls_cert=cert, tls_key=key)
    assert served.tls and served.url.startswith("https://")


def test_an_old_hash_is_replaced_unless_the_password_changed_meanwhile(ks: Keystore) -> None:
    """A running node verifies in its password pool, then upgrades an old hash there too
    (make_hash) and stores it on its loop (replace_hash): a reset made while the
    upgrade ran wins, so the old password never comes back."""
    old = StaffAccounts(ks, hasher=FAST)
    sam = old.add("Sam", "worker", "a long password 1")
    stronger = StaffAccounts(
        ks, hasher=PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)
    )
    record = stronger.lookup("Sam")
    assert record is not None and stronger.needs_rehash(record)
    assert stronger.conclude(record, stronger.check(record, "a long password 1")) == sam
    upgraded = stronger.make_hash("a long password 1")
    assert stronger.replace_hash(sam.staff_id, str(record["hash"]), upgraded)
    again = stronger.lookup("Sam")
    assert again is not None and not stronger.needs_rehash(again)
    assert stronger.verify("Sam", "a long password 1") == sam

    stale = stronger.lookup("Sam")
    assert stale is not None
    stronger.set_password(sam.staff_id, "a new password 22")  # a reset meanwhile
    assert not stronger.replace_hash(sam.staff_id, str(stale["hash"]), upgraded)
    assert stronger.verify("Sam", "a long password 1") is None
    assert stronger.verify("Sam", "a new password 22") == sam
    # verify() on one thread (the CLI) upgrades too
    old.set_password(sam.staff_id, "a new password 22")
    assert stronger.verify("Sam", "a new password 22") == sam
    record = stronger.lookup("Sam")
    assert record is not None and not stronger.needs_rehash(record)
