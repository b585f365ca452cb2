"""Backups that are safe to restore.

A backup is a keystore file of purpose 2 (it cannot be opened as a keystore by
mistake), under its own passphrase and salt. It holds the program's identity, its
relay record, the published profile and status, code words, staff accounts, saved
replies, settings, retained transcripts: every record that stays true after a restore.
It never holds what a restore would bring back to life and make unsafe:

- live conversations (sessions, metadata, transcripts, conversation keys): a ratchet
  state put back would encrypt again under message keys already used;
- prekey secrets, one-time and signed: a one-time secret put back would let the relay
  replay an init it already delivered, and a new conversation would open;
- replay tags and their key, and the workflow's state of open conversations;
- queued sends (``outbox/``): envelopes of live conversations.

A restored keystore starts with no open conversation and no prekey secret: the node
publishes a fresh signed prekey and one-time prekeys when it starts. One-time prekeys
published before the backup may still be handed out by the relay until they expire; a
participant who gets one sees the start of the chat fail and is asked to try again.

A backup written by format 1 (``KeystoreV1.write_backup``: every record) is restored
the same way: only the records above come back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from client_sdk.keystore import DEFAULT_ARGON2, Argon2Params, KeystoreV1, allowed
from e2ee.primitives import RandomSource

if TYPE_CHECKING:
    from client_sdk.vault.store import Keystore

LEFT_OUT = (
    "conversation/",
    "prekey/signed/",
    "prekey/one-time/",
    "replay/",
    "workflow/state",
    "outbox/",
)
"""Record names (prefixes) a backup never holds (see :mod:`client_sdk.store`)."""


def kept_in_backup(name: str) -> bool:
    return not name.startswith(LEFT_OUT)


def write_backup(
    ks: Keystore, path: Path, backup_passphrase: str | bytes, params: Argon2Params
) -> list[str]:
    """Write the records safe to restore to a new file; the names left out."""
    from client_sdk.vault.store import PURPOSE_BACKUP, Keystore

    backup = Keystore.create(
        path, backup_passphrase, params=params, random=ks._random, purpose=PURPOSE_BACKUP
    )
    left_out: list[str] = []
    try:
        for name in ks.names():
            value = ks.get(name)
            if value is None:
                continue
            if kept_in_backup(name):
                backup.put(name, value)
            else:
                left_out.append(name)
        backup.save()
    finally:
        backup.close()
    return left_out


def restore_backup(
    backup_path: Path,
    backup_passphrase: str | bytes,
    new_path: Path,
    passphrase: str | bytes,
    params: Argon2Params | None,
    random: RandomSource,
) -> Keystore:
    """A new keystore at ``new_path`` (which must not exist) from a backup, open."""
    from client_sdk.vault.store import PURPOSE_BACKUP, Keystore

    with backup_path.open("rb") as f:
        old_format = f.read(4) == b"QLKS"
    if old_format:  # a backup of format 1 holds everything: only the safe part comes back
        backup: Any = KeystoreV1._load(backup_path, backup_passphrase, 2, random)
    else:
        backup = Keystore.open(
            backup_path, backup_passphrase, random=random, purpose=PURPOSE_BACKUP
        )
    try:
        inherited = backup.params if allowed(backup.params) else DEFAULT_ARGON2
        ks = Keystore.create(new_path, passphrase, params=params or inherited, random=random)
        try:
            for name in backup.names():
                value = backup.get(name)
                if value is not None and kept_in_backup(name):
                    ks.put(name, value)
            ks.save()
        except BaseException:
            ks.close()
            raise
    finally:
        backup.close()
    return ks
