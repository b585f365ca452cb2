"""Format 1 keystores (one sealed file, ``client_sdk.keystore.KeystoreV1``) converted
to format 2 on their first open.

The conversion opens the old file with the passphrase (a wrong one changes nothing),
writes a new keystore under the same passphrase (even one the strength rule would refuse
today) and Argon2id parameters (the default if the old ones are under the floor:
:mod:`client_sdk.keystore`) to a temporary
file beside it (mode 0600), closes it (WAL checkpointed and removed) and moves it over
the old file with ``os.replace``: a crash leaves the old file or the new one. Every record
keeps its name; a conversation's session, metadata and transcript go under that
conversation's new key, the transcript as one row per entry.

The old file's bytes are not overwritten by the move (the file system frees them): the
old format held every open conversation under the one passphrase key, so a program that
migrates should treat the blocks of the old file like any older copy of the keystore.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from client_sdk.keystore import DEFAULT_ARGON2, KeystoreV1, allowed
from client_sdk.vault.witness import witness_path
from e2ee.primitives import RandomSource


def migrate_v1(path: Path, passphrase: str | bytes, random: RandomSource) -> None:
    """Convert the format 1 keystore at ``path`` in place."""
    from client_sdk.vault.store import Keystore

    old = KeystoreV1.open(path, passphrase, random=random)
    tmp = path.with_name(f".{path.name}.{random(8).hex()}.migrating")
    try:
        params = old.params if allowed(old.params) else DEFAULT_ARGON2
        new = Keystore._create(tmp, passphrase, params, random)
        try:
            for name in old.names():
                value = old.get(name)
                if value is not None:
                    new.put(name, value)
            new.save()
        finally:
            new.close()
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        old.close()
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-wal", "-shm"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        with contextlib.suppress(FileNotFoundError):
            os.replace(witness_path(tmp), witness_path(path))
