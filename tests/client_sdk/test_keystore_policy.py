"""The keystore's policy (issue 18): an Argon2id floor and a passphrase-strength rule.

No ``weak_argon2`` switch here (except where a test says so): these tests run Argon2id
at the real default, about a second each on a loaded machine, so they are few.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from argon2.profiles import RFC_9106_LOW_MEMORY

from client_sdk.keystore import (
    ARGON2_FLOOR,
    DEFAULT_ARGON2,
    MIN_PASSPHRASE_LENGTH,
    Argon2Params,
    Keystore,
    KeystoreError,
    KeystoreV1,
    WeakPassphrase,
    check_passphrase_strength,
    weak_argon2_for_tests,
)

PASS = "correct horse battery staple"
WEAKEST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)  # Argon2's own minimum
ROOT = Path(__file__).resolve().parents[2]


def _header_params(path: Path) -> tuple[int, int, int]:
    """The Argon2id parameters a keystore file shows (format 2: its ``header`` table;
    format 1: the bytes after the magic)."""
    data = path.read_bytes()
    if data.startswith(b"QLKS"):
        return tuple(int.from_bytes(data[i : i + 4], "big") for i in (7, 11, 15))  # type: ignore[return-value]
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        (kdf,) = conn.execute("SELECT v FROM header WHERE k = 'kdf'").fetchone()
    return tuple(int.from_bytes(kdf[i : i + 4], "big") for i in (0, 4, 8))  # type: ignore[return-value]


def test_the_default_is_argon2_cffi_rfc_9106_low_memory_profile_and_the_floor() -> None:
    profile = RFC_9106_LOW_MEMORY
    assert (DEFAULT_ARGON2.time_cost, DEFAULT_ARGON2.memory_cost, DEFAULT_ARGON2.parallelism) == (
        profile.time_cost,
        profile.memory_cost,
        profile.parallelism,
    )
    assert DEFAULT_ARGON2.meets(ARGON2_FLOOR)
    assert (ARGON2_FLOOR.time_cost, ARGON2_FLOOR.memory_cost) == (3, 64 * 1024)
    # Lanes change the defender's wall time, not the attacker's work.
    assert Argon2Params(3, 64 * 1024, 1).meets(ARGON2_FLOOR)
    assert not Argon2Params(2, 64 * 1024, 4).meets(ARGON2_FLOOR)
    assert not Argon2Params(3, 64 * 1024 - 1, 4).meets(ARGON2_FLOOR)


def test_nothing_is_made_under_the_floor(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    for weak in (WEAKEST, Argon2Params(2, 64 * 1024, 1), Argon2Params(3, 32 * 1024, 1)):
        with pytest.raises(KeystoreError, match="under the floor"):
            Keystore.create(path, PASS, params=weak)
    assert not path.exists()
    ks = Keystore.create(path, PASS)  # the default: one real Argon2id run
    assert ks.params == DEFAULT_ARGON2 and _header_params(path) == (3, 65536, 4)
    with pytest.raises(KeystoreError, match="under the floor"):
        ks.change_passphrase("another long passphrase", params=WEAKEST)
    with pytest.raises(KeystoreError, match="under the floor"):
        ks.write_backup(tmp_path / "backup", "a backup passphrase here", params=WEAKEST)
    assert not (tmp_path / "backup").exists()
    assert _header_params(path) == (3, 65536, 4)


def test_the_test_switch_is_explicit_and_ends_with_its_block(tmp_path: Path) -> None:
    with weak_argon2_for_tests():
        with weak_argon2_for_tests():  # nests
            Keystore.create(tmp_path / "a", PASS, params=WEAKEST).close()
        Keystore.create(tmp_path / "b", PASS, params=WEAKEST).close()
        assert Keystore.open(tmp_path / "a", PASS).params == WEAKEST  # left as it is
    with pytest.raises(KeystoreError, match="under the floor"):
        Keystore.create(tmp_path / "c", PASS, params=WEAKEST)


def test_a_keystore_found_under_the_floor_is_strengthened_when_it_opens(tmp_path: Path) -> None:
    """A file an older version made with Argon2's minimum: re-sealed at the default, same
    passphrase (even one the new rule would refuse), same records, conversations too."""
    path = tmp_path / "old"
    # An older version wrote it: no floor, no passphrase rule.
    with weak_argon2_for_tests(), Keystore._create(path, "pw", WEAKEST, os.urandom) as old:
        old.put("identity", b"k" * 32)
        old.put("conversation/c1/session", b"a ratchet state")
        old.append_transcript("c1", b'{"body":"hello"}')
        old.save()
    assert _header_params(path) == (1, 8, 1)
    ks = Keystore.open(path, "pw")
    assert ks.params == DEFAULT_ARGON2 and ks.get("identity") == b"k" * 32
    assert _header_params(path) == (3, 65536, 4) and not ks.dirty and not ks.stale
    ks.close()
    with Keystore.open(path, "pw") as again:
        assert again.get("conversation/c1/session") == b"a ratchet state"
        assert again.transcript("c1") == [b'{"body":"hello"}']
        assert not again.stale


def test_a_backup_found_under_the_floor_restores_at_the_default(tmp_path: Path) -> None:
    with weak_argon2_for_tests(), Keystore.create(tmp_path / "ks", PASS, params=WEAKEST) as ks:
        ks.put("identity/seed", b"k" * 32)
        ks.save()
        ks.write_backup(tmp_path / "backup", "a backup passphrase here")
    assert _header_params(tmp_path / "backup") == (1, 8, 1)
    with Keystore.restore_backup(
        tmp_path / "backup", "a backup passphrase here", tmp_path / "new", PASS
    ) as restored:
        assert restored.params == DEFAULT_ARGON2 and restored.get("identity/seed") == b"k" * 32
    assert _header_params(tmp_path / "new") == (3, 65536, 4)


def test_a_format_1_file_under_the_floor_opens_and_is_converted_at_the_default(
    tmp_path: Path,
) -> None:
    """Format 1 is read whatever its parameters (and its passphrase): the conversion is
    where the floor applies."""
    path = tmp_path / "v1"
    with (
        weak_argon2_for_tests(),
        KeystoreV1._new_unchecked(path, "pw", 1, WEAKEST, os.urandom) as old,
    ):
        old.put("identity/seed", b"k" * 32)
        old.put("conversation/c1/session", b"a ratchet state")
        old._write(exclusive=True)
    assert _header_params(path) == (1, 8, 1)
    with KeystoreV1.open(path, "pw") as v1:  # read as it is: nothing re-sealed
        assert v1.params == WEAKEST and v1.get("identity/seed") == b"k" * 32
    assert _header_params(path) == (1, 8, 1)
    with Keystore.open(path, "pw") as ks:
        assert ks.params == DEFAULT_ARGON2 and ks.conversations() == ["c1"]
        assert ks.get("conversation/c1/session") == b"a ratchet state"
    assert path.read_bytes().startswith(b"SQLite format 3\x00")
    assert _header_params(path) == (3, 65536, 4)


@pytest.mark.parametrize(
    ("passphrase", "says"),
    [
        ("", "has 0 characters"),
        ("hunter2", "has 7 characters; use at least 15"),
        ("fourteen chars", "has 14 characters"),
        ("café crème!!", "has 12 characters"),
        ("aaaaaaaaaaaaaaaaaaaa", "repeats a few characters"),
        ("abababababababababab", "repeats a few characters"),
        (b"\xff" * 20, "must be text"),
    ],
)
def test_weak_passphrases_are_refused_with_a_reason(passphrase: str | bytes, says: str) -> None:
    with pytest.raises(WeakPassphrase, match=says):
        check_passphrase_strength(passphrase)


@pytest.mark.parametrize(
    "passphrase",
    [
        "fifteen chars!!",
        "correct horse battery staple",
        "مرحبا بكم في الخط",  # Arabic: 17 characters, more bytes
        "cafe\u0301 au lait, merci",  # counted after NFC
        b"lantern heron 1987 willow",
    ],
)
def test_long_passphrases_pass(passphrase: str | bytes) -> None:
    check_passphrase_strength(passphrase)
    assert MIN_PASSPHRASE_LENGTH == 15


def test_every_new_passphrase_meets_the_rule_and_old_ones_still_open(tmp_path: Path) -> None:
    with weak_argon2_for_tests():  # the rule, not the cost, is under test
        with pytest.raises(WeakPassphrase):
            Keystore.create(tmp_path / "ks", "short", params=WEAKEST)
        assert not (tmp_path / "ks").exists()
        ks = Keystore.create(tmp_path / "ks", PASS, params=WEAKEST)
        ks.put("identity", b"k" * 32)
        ks.save()
        with pytest.raises(WeakPassphrase):
            ks.change_passphrase("new")
        with pytest.raises(WeakPassphrase):
            ks.write_backup(tmp_path / "backup", "backup")
        assert Keystore.open(tmp_path / "ks", PASS).get("identity") == b"k" * 32
        ks.write_backup(tmp_path / "backup", "a backup passphrase here")
        with pytest.raises(WeakPassphrase):
            Keystore.restore_backup(
                tmp_path / "backup", "a backup passphrase here", tmp_path / "new", "x"
            )
        assert not (tmp_path / "new").exists()


# -- the command line ------------------------------------------------------------------------


def _init_args(tmp_path: Path) -> list[str]:
    # Port 9 (discard) on loopback: nothing listens, so init stops at "could not connect",
    # after the passphrase and before any file is made.
    return [
        "init",
        "--keystore",
        str(tmp_path / "p.qlks"),
        "--relay",
        "http://127.0.0.1:9",
        "--enrollment-token=x",
    ]


def test_cli_refuses_a_weak_passphrase_from_the_environment(tmp_path: Path) -> None:
    env = dict(os.environ, QUIETLINE_PASSPHRASE="hunter2")
    result = subprocess.run(
        [sys.executable, "-m", "quietline", "program", *_init_args(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "QUIETLINE_PASSPHRASE: the passphrase has 7 characters; use at least 15" in (
        result.stderr
    )
    assert "could not connect" not in result.stderr  # stopped before anything else
    assert not (tmp_path / "p.qlks").exists()


class _Terminal:
    """The command run in a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, *argv], env)
        self.pid, self.fd, self.seen, self.read_to = pid, fd, b"", 0

    def expect(self, text: str, timeout: float = 60.0) -> None:
        """Wait until ``text`` shows after what the last ``expect`` matched."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen[self.read_to :]:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the command ended before {text!r}: {self.seen!r}"
                self.seen += chunk
        self.read_to = self.seen.index(text.encode(), self.read_to) + len(text)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                with contextlib.suppress(OSError):  # the child closed the terminal
                    self.seen += os.read(self.fd, 4096)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"the command did not end: {self.seen!r}")


def test_cli_prompt_says_why_and_asks_again(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QUIETLINE_PASSPHRASE"}
    term = _Terminal(["-m", "quietline", "program", *_init_args(tmp_path)], env)
    term.expect("New keystore passphrase (at least 15 characters")
    term.type("hunter2")
    term.expect("the passphrase has 7 characters; use at least 15")
    term.expect("Try again.")
    term.expect("New keystore passphrase")
    term.type("lantern heron willow 1987")
    term.expect("Repeat the passphrase")
    term.type("lantern heron willow 1987")
    assert term.wait() != 0
    assert b"could not connect" in term.seen  # the passphrase was taken; init went on
    assert not (tmp_path / "p.qlks").exists()


def test_cli_prompt_gives_up_after_three_weak_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QUIETLINE_PASSPHRASE"}
    term = _Terminal(["-m", "quietline", "program", *_init_args(tmp_path)], env)
    for answer in ("one", "two words", "aaaaaaaaaaaaaaaaaaaaaa"):
        term.expect("New keystore passphrase")
        term.type(answer)
    term.expect("repeats a few characters")
    assert term.wait() != 0
    assert b"Try again" in term.seen and b"could not connect" not in term.seen
    assert not (tmp_path / "p.qlks").exists()
