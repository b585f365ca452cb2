"""An independent check of our key schedule against the ``doubleratchet`` package.

python-doubleratchet (Syndace) implements the Signal specification separately from us.
Configured to docs/protocol.md's choices (KDF_RK = HKDF-SHA256 with the root key as
salt and info "quietline/v1/kdf-rk"; KDF_CK = HMAC-SHA256 with 0x02 for the next chain
key and 0x01 for the message key), its Diffie-Hellman ratchet must produce the message
keys our ratchet uses, both when it plays Bob against our Alice and the other way round.

Only the message keys come from the package; encryption uses docs/protocol.md's ENCRYPT,
written out here independently of e2ee.ratchet: ``nonce || AES-256-GCM(mk, nonce, pt, ad)``
with a fresh random 12-byte nonce. That is one of the nonce handlings the specification
lists for ENCRYPT (section 3.1: "chosen randomly and transmitted"); the package's own
recommended AEAD (AES-256-CBC with HMAC, section 5.2) is not used by Quietline, since
WebCrypto has AES-GCM and no SIV, so there is nothing of it to compare. The nonces here
come from a seeded stream, so the test is repeatable.
"""

from __future__ import annotations

import random as stdlib_random
from collections.abc import Callable, Iterator

from doubleratchet.recommended import HashFunction, kdf_hkdf, kdf_separate_hmacs
from doubleratchet.recommended.diffie_hellman_ratchet_curve25519 import (
    DiffieHellmanRatchet as Curve25519Ratchet,
)
from doubleratchet.types import Header as TheirHeader

from e2ee.envelope import Header
from e2ee.primitives import aes256gcm_decrypt, aes256gcm_encrypt, x25519_generate
from e2ee.ratchet import (
    RatchetState,
    decrypt,
    encrypt,
    init_alice,
    init_bob,
)

SK = bytes(range(100, 132))


class RootKDF(kdf_hkdf.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return b"quietline/v1/kdf-rk"


class ChainKDF(kdf_separate_hmacs.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256


CHAIN_CONSTANT = b"\x02\x01"  # output = HMAC(ck, 0x02) || HMAC(ck, 0x01): next key, message key

_their_random: Iterator[bytes] = iter(())


class SeededRatchet(Curve25519Ratchet):
    @staticmethod
    def _generate_priv() -> bytes:
        return next(_their_random)


def _seed_theirs(seed: int) -> None:
    global _their_random
    rng = stdlib_random.Random(seed)
    _their_random = iter(lambda: rng.randbytes(32), None)


async def _their_ratchet(own_priv: bytes | None, other_pub: bytes) -> SeededRatchet:
    return await SeededRatchet.create(
        own_priv, other_pub, RootKDF, SK, ChainKDF, CHAIN_CONSTANT, dos_protection_threshold=100
    )


def aad(header: Header) -> bytes:
    return b"interop" + header.to_bytes()


_nonces: Callable[[int], bytes] = stdlib_random.Random(5).randbytes


def _seal(message_key: bytes, plaintext: bytes, header: Header) -> bytes:
    """ENCRYPT: a fresh 12-byte nonce, sent in front of AES-256-GCM under the message key."""
    nonce = _nonces(12)
    return nonce + aes256gcm_encrypt(message_key, nonce, plaintext, aad(header))


def _open(message_key: bytes, ciphertext: bytes, header: Header) -> bytes:
    return aes256gcm_decrypt(message_key, ciphertext[:12], ciphertext[12:], aad(header))


def _ours(header: TheirHeader) -> Header:
    return Header(
        header.ratchet_pub, header.previous_sending_chain_length, header.sending_chain_length
    )


def _theirs(header: Header) -> TheirHeader:
    return TheirHeader(header.dh, header.pn, header.n)


async def test_their_bob_against_our_alice() -> None:
    _seed_theirs(1)
    rnd: Callable[[int], bytes] = stdlib_random.Random(2).randbytes
    bob_secret, bob_public = x25519_generate(rnd)
    alice: RatchetState = init_alice(SK, bob_public, rnd)
    bob: SeededRatchet | None = None
    for round_ in range(6):
        for i in range(round_ % 3 + 1):  # Alice sends 1-3 messages
            text = b"a%d.%d" % (round_, i)
            alice, header, ciphertext = encrypt(alice, text, aad, rnd)
            if bob is None:
                bob = await _their_ratchet(bob_secret, header.dh)
            message_key, skipped = await bob.next_decryption_key(_theirs(header))
            assert not skipped
            assert _open(message_key, ciphertext, header) == text
        assert bob is not None
        for i in range(2):  # Bob answers twice; the first one makes Alice step
            text = b"b%d.%d" % (round_, i)
            message_key, their_header = await bob.next_encryption_key()
            header = _ours(their_header)
            out = decrypt(alice, header, _seal(message_key, text, header), aad(header), rnd)
            alice = out.state
            assert out.plaintext == text


async def test_their_alice_against_our_bob_with_reordering() -> None:
    _seed_theirs(3)
    rnd: Callable[[int], bytes] = stdlib_random.Random(4).randbytes
    bob_secret, bob_public = x25519_generate(rnd)
    bob: RatchetState = init_bob(SK, bob_secret, bob_public)
    alice = await _their_ratchet(None, bob_public)
    for round_ in range(5):
        batch = []
        for i in range(3):
            text = b"a%d.%d" % (round_, i)
            message_key, their_header = await alice.next_encryption_key()
            header = _ours(their_header)
            batch.append((header, _seal(message_key, text, header), text))
        for header, ciphertext, text in reversed(batch):  # our side takes them backwards
            out = decrypt(bob, header, ciphertext, aad(header), rnd)
            bob = out.state
            assert out.plaintext == text
        bob, header, ciphertext = encrypt(bob, b"reply %d" % round_, aad, rnd)
        message_key, skipped = await alice.next_decryption_key(_theirs(header))
        assert not skipped
        assert _open(message_key, ciphertext, header) == b"reply %d" % round_
