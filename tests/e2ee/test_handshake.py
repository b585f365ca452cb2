"""The handshake: HPKE to a prekey, exporter secret as the ratchet root."""

from __future__ import annotations

import random as stdlib_random
from collections.abc import Callable

import pytest
from e2ee_samples import make_profile

from e2ee import hpke
from e2ee.encoding import b64u_encode
from e2ee.envelope import Header, InitFields
from e2ee.errors import DecryptionError, LocalProtocolError
from e2ee.handshake import handshake_info, initiate, respond
from e2ee.identity import (
    IdentityKeyPair,
    PrekeyBody,
    VerifiedBundle,
    sign_prekey,
    sign_profile,
    verify_bundle,
)
from e2ee.primitives import x25519_generate
from e2ee.ratchet import decrypt, encrypt

NOW = 1_764_000_000
IDENTITY = IdentityKeyPair.from_seed(bytes(range(32)))


def seeded(seed: int) -> Callable[[int], bytes]:
    return stdlib_random.Random(seed).randbytes


PROFILE = make_profile()  # tests/support/e2ee_samples.py


def bundle(one_time: bool) -> tuple[VerifiedBundle, dict[tuple[int, int], bytes]]:
    rnd = seeded(42)
    spk_secret, spk_public = x25519_generate(rnd)
    otk_secret, otk_public = x25519_generate(rnd)
    spk = PrekeyBody(prekey_id=7, public_key=spk_public, expires_at=NOW + 3600)
    otk = PrekeyBody(prekey_id=8, public_key=otk_public, expires_at=NOW + 3600)
    obj = {
        "program_id": b64u_encode(IDENTITY.program_id),
        "identity_key": b64u_encode(IDENTITY.public_key),
        "signed_prekey": sign_prekey(IDENTITY, spk, one_time=False).to_json(),
        "one_time_prekey": sign_prekey(IDENTITY, otk, one_time=True).to_json()
        if one_time
        else None,
        "profile": sign_profile(IDENTITY, PROFILE).to_json(),
        "status": None,
    }
    return verify_bundle(obj, IDENTITY.public_key, now=NOW), {
        (1, 7): spk_secret,
        (2, 8): otk_secret,
    }


def aad(header: Header) -> bytes:
    return header.to_bytes()


def test_info_layout() -> None:
    info = handshake_info(b"P" * 16, b"C" * 16, 2, 0x01020304)
    assert info == b"quietline/v1/handshake" + b"P" * 16 + b"C" * 16 + b"\x02\x01\x02\x03\x04"


@pytest.mark.parametrize(
    "args",
    [
        (b"P" * 15, b"C" * 16, 1, 0),
        (b"P" * 16, b"C", 1, 0),
        (b"P" * 16, b"C" * 16, 3, 0),
        (b"P" * 16, b"C" * 16, 1, -1),
        (b"P" * 16, b"C" * 16, 1, 2**32),
        (b"P" * 16, b"C" * 16, 1, "1"),
        (b"P" * 16, b"C" * 16, 1, 1.0),
        (b"P" * 16, b"C" * 16, 1, None),
        (b"P" * 16, b"C" * 16, 1, True),
        (b"P" * 16, b"C" * 16, True, 0),
        (b"P" * 16, b"C" * 16, [1], 0),
    ],
)
def test_info_refuses(args: tuple[bytes, bytes, int, int]) -> None:
    with pytest.raises(LocalProtocolError):
        handshake_info(*args)


@pytest.mark.parametrize(("one_time", "kind", "prekey_id"), [(True, 2, 8), (False, 1, 7)])
def test_both_sides_agree(one_time: bool, kind: int, prekey_id: int) -> None:
    verified, secrets = bundle(one_time)
    rnd = seeded(1)
    started = initiate(verified, random=rnd)
    assert started.init.prekey_kind == kind and started.init.prekey_id == prekey_id
    # the randomness order is documented: conversation id, ikm_e, ratchet secret
    replay = seeded(1)
    cid, ikm_e, ratchet_secret = replay(16), replay(32), replay(32)
    assert started.conversation_id == cid
    assert started.init.enc == hpke.derive_key_pair(ikm_e)[1]
    assert started.ratchet.dhs_secret == ratchet_secret
    bob = respond(verified.program_id, cid, started.init, secrets[(kind, prekey_id)])
    out = encrypt(started.ratchet, b"hello", aad, rnd)
    assert decrypt(bob, out.header, out.ciphertext, aad(out.header), rnd).plaintext == b"hello"
    assert "hidden" in repr(started)


def test_info_binds_conversation_and_prekey() -> None:
    verified, secrets = bundle(True)
    rnd = seeded(2)
    started = initiate(verified, random=rnd)
    out = encrypt(started.ratchet, b"hello", aad, rnd)
    wrong = [
        respond(verified.program_id, bytes(16), started.init, secrets[(2, 8)]),
        respond(bytes(16), started.conversation_id, started.init, secrets[(2, 8)]),
        respond(
            verified.program_id,
            started.conversation_id,
            InitFields(prekey_kind=1, prekey_id=8, enc=started.init.enc),
            secrets[(2, 8)],
        ),
        respond(verified.program_id, started.conversation_id, started.init, secrets[(1, 7)]),
    ]
    for bob in wrong:
        with pytest.raises(DecryptionError):
            decrypt(bob, out.header, out.ciphertext, aad(out.header), rnd)


def test_low_order_enc_is_a_decryption_error() -> None:
    verified, secrets = bundle(True)
    init = InitFields(prekey_kind=2, prekey_id=8, enc=bytes(32))
    with pytest.raises(DecryptionError):
        respond(verified.program_id, bytes(16), init, secrets[(2, 8)])


def test_respond_refuses_a_bad_secret() -> None:
    init = InitFields(prekey_kind=2, prekey_id=8, enc=bytes(range(32)))
    with pytest.raises(LocalProtocolError):
        respond(bytes(16), bytes(16), init, b"short")


def test_initiate_needs_a_verified_bundle() -> None:
    with pytest.raises(LocalProtocolError):
        initiate({"identity_key": "x"}, random=seeded(0))  # type: ignore[arg-type]
