"""``quietline program backup | restore | passphrase`` and ``--passphrase-file``, run as
real processes on real keystore files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from client_sdk import store
from client_sdk.keystore import DEFAULT_ARGON2, Argon2Params, Keystore, weak_argon2_for_tests

FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)
PASS = "the keystore passphrase (test only)"
BACKUP_PASS = "the backup passphrase (test only)"
NEW_PASS = "the restored keystore's passphrase"
CHANGED_PASS = "the changed passphrase (test only)"
ROOT = Path(__file__).resolve().parents[2]


def quietline(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "quietline", "program", *args],
        capture_output=True,
        text=True,
        env=dict(clean, **env),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def make_keystore(path: Path) -> None:
    """Made fast here, under the floor; the first command that opens it re-seals it at
    the default (the policy, in a real process)."""
    with weak_argon2_for_tests(), Keystore.create(path, PASS, params=FAST) as ks:
        for name in ("identity/seed", "console/staff/alice", "codeword/home"):
            ks.put(name, b"kept: " + name.encode())
        for name in ("prekey/one-time/1", "prekey/signed/1", "replay/key"):
            ks.put(name, b"never in a backup")
        ks.put(store.session_name("c1"), b"a live ratchet state")
        store.append_transcript(ks, "c1", {"from": "participant", "body": "hello"})
        ks.save()


def test_backup_restore_and_passphrase_change(tmp_path: Path) -> None:
    ks_path, backup, restored = tmp_path / "ks", tmp_path / "backup", tmp_path / "restored"
    make_keystore(ks_path)
    secret = tmp_path / "passphrase"
    secret.write_text(PASS + "\n")
    secret.chmod(0o644)
    backup_args = ["backup", "--keystore", str(ks_path), "--out", str(backup)]
    refused = quietline(*backup_args, "--passphrase-file", str(secret),
                        QUIETLINE_BACKUP_PASSPHRASE="b")  # fmt: skip
    assert refused.returncode == 1
    assert "can be read by others" in refused.stderr and "chmod 600" in refused.stderr
    assert not backup.exists()
    secret.chmod(0o600)
    weak = quietline(*backup_args, "--passphrase-file", str(secret),
                     QUIETLINE_BACKUP_PASSPHRASE="bk")  # fmt: skip
    assert weak.returncode == 1, weak.stderr
    assert "QUIETLINE_BACKUP_PASSPHRASE: the passphrase has 2 characters" in weak.stderr
    assert not backup.exists()
    done = quietline(*backup_args, "--passphrase-file", str(secret),
                     QUIETLINE_BACKUP_PASSPHRASE=BACKUP_PASS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 open conversation(s), prekey secrets and replay tags" in done.stdout
    with Keystore.open(ks_path, PASS) as ks:  # opened by a real process: at the default now
        assert ks.params == DEFAULT_ARGON2
    restore_args = ["restore", "--backup", str(backup), "--keystore", str(restored)]
    weak = quietline(*restore_args, QUIETLINE_BACKUP_PASSPHRASE=BACKUP_PASS,
                     QUIETLINE_PASSPHRASE="new ks")  # fmt: skip
    assert weak.returncode == 1 and "QUIETLINE_PASSPHRASE: the passphrase has 6" in weak.stderr
    assert not restored.exists()
    again = quietline(*restore_args, QUIETLINE_BACKUP_PASSPHRASE=BACKUP_PASS,
                      QUIETLINE_PASSPHRASE=NEW_PASS)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "no open conversation" in again.stdout and "Fresh prekeys" in again.stdout
    with Keystore.open(restored, NEW_PASS) as ks:
        assert ks.names() == ["codeword/home", "console/staff/alice", "identity/seed"]
        assert ks.conversations() == []
        assert ks.params == DEFAULT_ARGON2
    weak = quietline("passphrase", "--keystore", str(ks_path), "--passphrase-file",
                     str(secret), QUIETLINE_NEW_PASSPHRASE="changed")  # fmt: skip
    assert weak.returncode == 1 and "the passphrase has 7 characters" in weak.stderr
    changed = quietline("passphrase", "--keystore", str(ks_path), "--passphrase-file",
                        str(secret), QUIETLINE_NEW_PASSPHRASE=CHANGED_PASS)  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    with Keystore.open(ks_path, CHANGED_PASS) as ks:
        assert ks.get(store.session_name("c1")) == b"a live ratchet state"
    wrong = quietline("info", "--keystore", str(ks_path), "--passphrase-file", str(secret))
    assert wrong.returncode == 1 and "WrongPassphrase" in wrong.stderr


def test_passphrase_file_must_be_the_owners_alone(tmp_path: Path) -> None:
    ks_path = tmp_path / "ks"
    make_keystore(ks_path)
    listing = ["replies", "list", "--keystore", str(ks_path)]
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    for path, reason in ((link, "passphrase file"), (empty, "is empty"), (tmp_path, "regular")):
        out = quietline(*listing, "--passphrase-file", str(path))
        assert out.returncode == 1 and reason in out.stderr, out.stderr
    good = tmp_path / "good"
    good.write_text(PASS)
    good.chmod(0o400)
    listed = quietline(*listing, "--passphrase-file", str(good))
    assert listed.returncode == 0, listed.stderr


def test_init_refuses_a_weak_passphrase_file_before_anything(tmp_path: Path) -> None:
    weak = tmp_path / "passphrase"
    weak.write_text("hunter2\n")
    weak.chmod(0o600)
    keystore = tmp_path / "p.qlks"
    out = quietline("init", "--keystore", str(keystore), "--relay", "http://127.0.0.1:9",
                    "--enrollment-token=x", "--passphrase-file", str(weak))  # fmt: skip
    assert out.returncode != 0
    assert f"{weak}: the passphrase has 7 characters; use at least 15" in out.stderr
    assert "could not connect" not in out.stderr and not keystore.exists()
