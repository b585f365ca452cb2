"""The hazardous layer: thin, typed wrappers over libsodium and the standard library.

Everything here takes and returns plain ``bytes``. Errors from PyNaCl are translated
into :mod:`e2ee.errors` at this boundary, so no caller ever sees a ``nacl`` exception.

- X25519: libsodium ``crypto_scalarmult`` (refuses an all-zero shared secret, i.e. a
  low-order public key, which we surface as :class:`~e2ee.errors.InvalidKey`).
- AES-256-GCM: libsodium ``crypto_aead_aes256gcm_*`` (needs AES-NI or ARMv8 crypto).
- HKDF-SHA256 (RFC 5869) and HMAC-SHA256: the standard library's ``hmac``.
- Ed25519: libsodium ``crypto_sign`` / ``crypto_sign_open`` (the signature is the first
  64 bytes of the signed message; verification opens ``signature || message``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

import nacl.bindings as _sodium
import nacl.exceptions as _nacl_exc

from e2ee.errors import DecryptionError, InvalidKey, InvalidSignature, LocalProtocolError

RandomSource = Callable[[int], bytes]
"""A function returning n random bytes. Protocol functions take one so tests are repeatable."""

X25519_KEY_SIZE = 32
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SEED_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
AES256_KEY_SIZE = 32
GCM_NONCE_SIZE = 12
GCM_TAG_SIZE = 16
HASH_SIZE = 32


def system_random(n: int) -> bytes:
    """The operating system's CSPRNG (``getrandom``), asked afresh at every call.

    ``os.urandom`` directly: ``secrets.token_bytes`` ends in the same call after two more
    Python layers, which every message now pays for its nonce.
    """
    return os.urandom(n)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- HMAC / HKDF ------------------------------------------------------------------


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """One-shot HMAC-SHA256 (``hmac.digest``: OpenSSL's C path, no HMAC object)."""
    return hmac.digest(key, data, "sha256")


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 §2.2. An empty salt means HashLen zero bytes."""
    return hmac_sha256(salt if salt else bytes(HASH_SIZE), ikm)


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3."""
    if length < 0 or length > 255 * HASH_SIZE:
        raise LocalProtocolError("HKDF output length out of range")
    if len(prk) < HASH_SIZE:
        raise LocalProtocolError("HKDF pseudorandom key too short")
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac_sha256(prk, block + info + bytes([counter]))
        out += block
        counter += 1
    return out[:length]


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


# -- AES-256-GCM ------------------------------------------------------------------


def _check_aead_params(key: bytes, nonce: bytes) -> None:
    if len(key) != AES256_KEY_SIZE:
        raise LocalProtocolError("AES-256-GCM key must be 32 bytes")
    if len(nonce) != GCM_NONCE_SIZE:
        raise LocalProtocolError("AES-256-GCM nonce must be 12 bytes")


def aes256gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Return ciphertext || 16-byte tag."""
    _check_aead_params(key, nonce)
    return bytes(_sodium.crypto_aead_aes256gcm_encrypt(plaintext, aad, nonce, key))


def aes256gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Open ciphertext || tag; any failure is one :class:`DecryptionError`."""
    _check_aead_params(key, nonce)
    if len(ciphertext) < GCM_TAG_SIZE:
        raise DecryptionError()
    try:
        return bytes(_sodium.crypto_aead_aes256gcm_decrypt(ciphertext, aad, nonce, key))
    except _nacl_exc.CryptoError:
        raise DecryptionError() from None


# -- X25519 -----------------------------------------------------------------------


def _check_x25519(key: bytes, what: str) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != X25519_KEY_SIZE:
        raise InvalidKey(f"{what} must be {X25519_KEY_SIZE} bytes")


def x25519_public(secret: bytes) -> bytes:
    _check_x25519(secret, "X25519 secret key")
    return bytes(_sodium.crypto_scalarmult_base(bytes(secret)))


def x25519(secret: bytes, public: bytes) -> bytes:
    """Diffie-Hellman; refuses a low-order public key (all-zero shared secret)."""
    _check_x25519(secret, "X25519 secret key")
    _check_x25519(public, "X25519 public key")
    try:
        shared = bytes(_sodium.crypto_scalarmult(bytes(secret), bytes(public)))
    except (_nacl_exc.RuntimeError, _nacl_exc.CryptoError):
        raise InvalidKey("X25519 public key has low order") from None
    if constant_time_equal(shared, bytes(X25519_KEY_SIZE)):
        raise InvalidKey("X25519 public key has low order")
    return shared


def x25519_generate(random: RandomSource = system_random) -> tuple[bytes, bytes]:
    """A fresh (secret, public) pair from ``random``."""
    secret = random(X25519_KEY_SIZE)
    return secret, x25519_public(secret)


# -- Ed25519 ----------------------------------------------------------------------


def ed25519_public_from_seed(seed: bytes) -> bytes:
    if len(seed) != ED25519_SEED_SIZE:
        raise InvalidKey("Ed25519 seed must be 32 bytes")
    public, _ = _sodium.crypto_sign_seed_keypair(bytes(seed))
    return bytes(public)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    if len(seed) != ED25519_SEED_SIZE:
        raise InvalidKey("Ed25519 seed must be 32 bytes")
    _, secret = _sodium.crypto_sign_seed_keypair(bytes(seed))
    return bytes(_sodium.crypto_sign(message, secret)[:ED25519_SIGNATURE_SIZE])


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` is valid (libsodium rules)."""
    if len(public) != ED25519_PUBLIC_KEY_SIZE:
        raise InvalidKey("Ed25519 public key must be 32 bytes")
    if len(signature) != ED25519_SIGNATURE_SIZE:
        raise InvalidSignature("signature must be 64 bytes")
    try:
        _sodium.crypto_sign_open(bytes(signature) + bytes(message), bytes(public))
    except (_nacl_exc.BadSignatureError, _nacl_exc.CryptoError, ValueError):
        raise InvalidSignature("signature does not verify") from None
