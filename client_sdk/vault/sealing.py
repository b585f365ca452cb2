"""Keys, padding and sealing of the keystore's records (format 2).

Key schedule (``master`` is Argon2id of the passphrase, as in format 1)::

    record_key     = HKDF-SHA256(ikm=master, info="quietline/v2/keystore/record-key")
    name_key       = HKDF-SHA256(ikm=master, info="quietline/v2/keystore/name-key")
    generation_key = HKDF-SHA256(ikm=master, info="quietline/v2/keystore/generation-key")
    name_tag(n)    = HMAC-SHA256(name_key, UTF-8(n))

A record is sealed as ``nonce(12) || AES-256-GCM(key, nonce, pad(u16 len(name) || name ||
value), aad = store_id || purpose-byte || name_tag)``: the name inside binds the record
to its row (a record moved under another tag does not open), the store id binds it to
its file. ``key`` is ``record_key`` for the keystore's own records, and a conversation's
own random 32-byte key for that conversation's records (the conversation key is itself a
record sealed under ``record_key``: it is *wrapped* by the store key).

Padding (:func:`pad`): ``u32 length || data || zeros`` up to the next bucket, the
buckets being 256 bytes and each power of two above; a stolen file shows each record's
bucket, not its size.

Nonces are 96 random bits; a key seals far fewer than 2**32 records in its life (a
conversation key: a few per message of one conversation; the record key: one per change
of a keystore record; the generation key: one per save).
"""

from __future__ import annotations

import struct
import unicodedata
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw

from client_sdk.keystore import Argon2Params, CorruptKeystore, KeystoreError
from e2ee.errors import DecryptionError
from e2ee.primitives import (
    GCM_NONCE_SIZE,
    RandomSource,
    aes256gcm_decrypt,
    aes256gcm_encrypt,
    hkdf,
    hmac_sha256,
)

MIN_BUCKET = 256
KEY_SIZE = 32
AAD_RECORD = b"\x01"
AAD_PART = b"\x03"
AAD_GENERATION = b"\x04"
AAD_CHECK = b"\x05"


def passphrase_bytes(passphrase: str | bytes) -> bytes:
    """NFC-normalised UTF-8 (``bytes`` as given); refuses an empty passphrase."""
    if isinstance(passphrase, str):
        passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if not isinstance(passphrase, bytes) or not passphrase:
        raise KeystoreError("the passphrase must be a non-empty string")
    return passphrase


@dataclass(frozen=True)
class StoreKeys:
    """The keys derived from the passphrase; never shown."""

    record_key: bytes
    name_key: bytes
    generation_key: bytes

    def __repr__(self) -> str:
        return "StoreKeys(<hidden>)"

    def tag(self, name: str) -> bytes:
        return hmac_sha256(self.name_key, name.encode("utf-8"))


def derive(passphrase: str | bytes, salt: bytes, params: Argon2Params) -> StoreKeys:
    """Argon2id, then HKDF into the three keys of format 2."""
    params.check()
    try:
        master = hash_secret_raw(
            passphrase_bytes(passphrase),
            salt,
            params.time_cost,
            params.memory_cost,
            params.parallelism,
            32,
            Type.ID,
            0x13,
        )
    except HashingError:
        raise KeystoreError("Argon2id could not run with these parameters") from None
    return StoreKeys(
        record_key=hkdf(b"", master, b"quietline/v2/keystore/record-key", 32),
        name_key=hkdf(b"", master, b"quietline/v2/keystore/name-key", 32),
        generation_key=hkdf(b"", master, b"quietline/v2/keystore/generation-key", 32),
    )


def bucket(size: int) -> int:
    """The padded size for ``size`` bytes of content (length prefix included)."""
    need = size + 4
    out = MIN_BUCKET
    while out < need:
        out *= 2
    return out


def pad(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data + bytes(bucket(len(data)) - 4 - len(data))


def unpad(padded: bytes) -> bytes:
    if len(padded) < 4:
        raise CorruptKeystore("a keystore record is malformed")
    (size,) = struct.unpack_from(">I", padded, 0)
    if 4 + size > len(padded) or any(padded[4 + size :]):
        raise CorruptKeystore("a keystore record is malformed")
    return padded[4 : 4 + size]


def seal(key: bytes, aad: bytes, name: str, value: bytes, random: RandomSource) -> bytes:
    """``nonce || AES-256-GCM(key, nonce, pad(u16 len || name || value), aad)``."""
    raw = name.encode("utf-8")
    nonce = random(GCM_NONCE_SIZE)
    body = pad(struct.pack(">H", len(raw)) + raw + value)
    return nonce + aes256gcm_encrypt(key, nonce, body, aad)


def open_sealed(key: bytes, aad: bytes, name: str | None, sealed: bytes) -> tuple[str, bytes]:
    """The name and value of a sealed record; refuses a record filed under another name."""
    try:
        body = unpad(aes256gcm_decrypt(key, sealed[:GCM_NONCE_SIZE], sealed[GCM_NONCE_SIZE:], aad))
    except DecryptionError:
        raise CorruptKeystore("a keystore record does not authenticate") from None
    (size,) = struct.unpack_from(">H", body, 0)
    try:
        found = body[2 : 2 + size].decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptKeystore("a keystore record name is not UTF-8") from None
    if len(body) < 2 + size or (name is not None and found != name):
        raise CorruptKeystore("a keystore record is filed under the wrong name")
    return found, body[2 + size :]


def seal_counter(key: bytes, store_id: bytes, value: int, random: RandomSource) -> bytes:
    """The generation counter, sealed (its value is not shown)."""
    nonce = random(GCM_NONCE_SIZE)
    return nonce + aes256gcm_encrypt(
        key, nonce, struct.pack(">Q", value), store_id + AAD_GENERATION
    )


def open_counter(key: bytes, store_id: bytes, sealed: bytes) -> int:
    """The generation counter; raises :class:`DecryptionError` when it does not open."""
    plain = aes256gcm_decrypt(
        key, sealed[:GCM_NONCE_SIZE], sealed[GCM_NONCE_SIZE:], store_id + AAD_GENERATION
    )
    (value,) = struct.unpack(">Q", plain)
    return int(value)
