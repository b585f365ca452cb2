"""The newest generation this keystore reached, kept beside it: rollback detection.

Every save of a keystore adds one to its generation counter (sealed in the keystore)
and then writes the new value to ``<keystore>.generation``: the keystore's id in the
clear (16 random bytes, to tell whose witness it is) and the counter sealed under the
keystore's generation key (AES-256-GCM; it cannot be read or forged without the
passphrase). A keystore found *older* than its witness is stale: a copy of the
keystore file was put back (a restored file, a copied-back directory without the
witness's newer value), and its sessions and prekey secrets must not be used again
(``client_sdk.node`` closes them with a notice and publishes fresh prekeys).

Put the witness where copies of the keystore do not go: by default it is beside the
keystore, so a copy of the file alone is caught but a copy of the whole directory
brings the witness back with it; ``QUIETLINE_WITNESS_DIR`` names another directory
(one left out of backups and snapshots of the keystore's).

What the local witness alone does not catch: a rollback of the whole disk or virtual
machine (the witness goes back with the keystore), or a witness deleted with the file
put back (no witness reads as generation 0). For these the program node also keeps the
sealed generation on the relay (:func:`seal`, signed by the program's identity key, at
sign-in and as conversations open and close, ``client_sdk.node.bundle``) and at sign-in
takes the newest of the two (:meth:`client_sdk.vault.store.Keystore.observe_generation`).
The relay cannot read or forge it; it can withhold it or hand back an older one, and
then the local witness still holds. Only both rolled back together (the whole machine
and a malicious relay) go unnoticed. The witness is written after the save's commit and
without its own ``fsync`` (the keystore's commit is durable; a witness that lags
behind after a crash only means a later rollback to that point is missed), and synced
when the keystore is closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from e2ee.errors import DecryptionError
from e2ee.primitives import GCM_NONCE_SIZE, RandomSource, aes256gcm_decrypt, aes256gcm_encrypt

STORE_ID_SIZE = 16
_AAD = b"\x06"


WITNESS_DIR_ENV = "QUIETLINE_WITNESS_DIR"


def witness_path(keystore: Path) -> Path:
    """``<keystore>.generation`` beside it; with ``QUIETLINE_WITNESS_DIR`` set, a file in
    that directory named after the keystore's name and a hash of its full path."""
    directory = os.environ.get(WITNESS_DIR_ENV)
    if not directory:
        return keystore.with_name(keystore.name + ".generation")
    where = hashlib.sha256(str(keystore.resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(directory) / f"{keystore.name}.{where}.generation"


SEALED_SIZE = STORE_ID_SIZE + GCM_NONCE_SIZE + 8 + 16
"""A sealed generation: store id, nonce, AES-GCM of the 8-byte counter and its tag (the
witness file's content, and the bytes the node keeps on the relay)."""


def seal(key: bytes, store_id: bytes, generation: int, random: RandomSource) -> bytes:
    """``store_id || nonce || AES-256-GCM(generation key, counter)``: readable and
    forgeable only with the keystore's generation key (never the relay's)."""
    nonce = random(GCM_NONCE_SIZE)
    sealed = aes256gcm_encrypt(key, nonce, generation.to_bytes(8, "big"), store_id + _AAD)
    return store_id + nonce + sealed


def unseal(data: bytes, key: bytes, store_id: bytes) -> int:
    """The generation sealed in ``data`` for this keystore; 0 when it is another
    store's, or does not authenticate (it then witnesses nothing)."""
    if len(data) < STORE_ID_SIZE + GCM_NONCE_SIZE or data[:STORE_ID_SIZE] != store_id:
        return 0
    nonce = data[STORE_ID_SIZE : STORE_ID_SIZE + GCM_NONCE_SIZE]
    try:
        plain = aes256gcm_decrypt(
            key, nonce, data[STORE_ID_SIZE + GCM_NONCE_SIZE :], store_id + _AAD
        )
    except DecryptionError:
        return 0
    return int.from_bytes(plain, "big") if len(plain) == 8 else 0


def read(path: Path, key: bytes, store_id: bytes) -> int:
    """The generation in the witness of this keystore; 0 when there is none of it."""
    try:
        data = witness_path(path).read_bytes()
    except OSError:
        return 0
    return unseal(data, key, store_id)


def write(
    path: Path, key: bytes, store_id: bytes, generation: int, random: RandomSource, *, sync: bool
) -> None:
    """Overwrite the witness in place (mode 0600); ``sync`` also ``fsync``s it."""
    data = seal(key, store_id, generation, random)
    fd = os.open(witness_path(path), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.ftruncate(fd, len(data))
        if sync:
            os.fsync(fd)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
