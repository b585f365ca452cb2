"""Identity keys, labelled signatures, prekeys, profile/status signatures, bundle checks."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any

import pytest
from e2ee_samples import NOW, make_profile, make_status
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee import identity as ident
from e2ee.encoding import b64u_encode
from e2ee.errors import (
    Expired,
    InvalidKey,
    InvalidSignature,
    LocalProtocolError,
    MalformedInput,
    OversizedInput,
    UntrustedKey,
    VerificationError,
)
from e2ee.identity import (
    IdentityKeyPair,
    PrekeyBody,
    SignedObject,
)
from e2ee.primitives import x25519_public

ALICE = IdentityKeyPair.from_seed(bytes(range(32)))
MALLORY = IdentityKeyPair.from_seed(bytes(range(1, 33)))
LOW_ORDER = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
ALL_LABELS = [
    ident.LABEL_SIGNED_PREKEY,
    ident.LABEL_ONE_TIME_PREKEY,
    ident.LABEL_PROFILE,
    ident.LABEL_STATUS,
    ident.LABEL_INVITE,
    ident.LABEL_ENROLL,
    ident.LABEL_RELAY_AUTH,
    ident.LABEL_GENERATION,
]


def signed_prekey(
    prekey_id: int = 7,
    *,
    one_time: bool = False,
    key: bytes | None = None,
    expires_at: int = NOW + 3600,
    signer: IdentityKeyPair = ALICE,
) -> SignedObject:
    public = key if key is not None else x25519_public(bytes([prekey_id]) * 32)
    return ident.sign_prekey(signer, PrekeyBody(prekey_id, public, expires_at), one_time=one_time)


def make_bundle(**changes: Any) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "program_id": b64u_encode(ALICE.program_id),
        "identity_key": b64u_encode(ALICE.public_key),
        "signed_prekey": signed_prekey(1).to_json(),
        "one_time_prekey": signed_prekey(2, one_time=True).to_json(),
        "profile": ident.sign_profile(ALICE, make_profile()).to_json(),
        "status": ident.sign_status(ALICE, make_status()).to_json(),
    }
    bundle.update(changes)
    return bundle


# -- identifiers --------------------------------------------------------------------------


def test_program_id_and_fingerprint_follow_the_spec() -> None:
    key = ALICE.public_key
    assert (
        ident.program_id_for(key) == hashlib.sha256(b"quietline/v1/program-id" + key).digest()[:16]
    )
    assert ALICE.program_id == ident.program_id_for(key)
    fp = ident.fingerprint(key)
    assert re.fullmatch(r"(?:[0-9A-F]{4} ){9}[0-9A-F]{4}", fp)
    digest = hashlib.sha256(b"quietline/v1/fingerprint" + key).digest()[:20]
    assert fp.replace(" ", "") == digest.hex().upper()
    assert ident.fingerprint(MALLORY.public_key) != fp
    assert len(b64u_encode(ALICE.program_id)) == 22


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "x" * 32])
def test_identifiers_refuse_wrong_keys(bad: Any) -> None:
    with pytest.raises(InvalidKey):
        ident.program_id_for(bad)
    with pytest.raises(InvalidKey):
        ident.fingerprint(bad)


def test_identity_key_pair() -> None:
    assert IdentityKeyPair.from_seed(bytes(range(32))) == ALICE
    assert ALICE.seed.hex() not in repr(ALICE)
    assert repr(ALICE.seed) not in repr(ALICE)
    assert "public_key" in repr(ALICE)
    generated = IdentityKeyPair.generate(lambda n: bytes(range(n)))
    assert generated.public_key == ALICE.public_key
    assert IdentityKeyPair.generate() != IdentityKeyPair.generate()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALICE.seed = bytes(32)  # type: ignore[misc]
    for bad in (bytes(31), bytes(33), "s" * 32):
        with pytest.raises(InvalidKey):
            IdentityKeyPair.from_seed(bad)  # type: ignore[arg-type]


# -- signatures -----------------------------------------------------------------------------


def test_signed_message_layout() -> None:
    pid = bytes(range(16))
    assert ident.signed_message("status", pid, b"abc") == (
        b"quietline-sig" + b"\x01" + b"\x06" + b"status" + pid + b"\x00\x00\x00\x03" + b"abc"
    )


def test_signed_message_refuses_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        ident.signed_message("prekey", ALICE.program_id, b"")
    with pytest.raises(LocalProtocolError):
        ident.signed_message("status", bytes(15), b"")
    with pytest.raises(LocalProtocolError):
        ident.signed_message("status", ALICE.program_id, "body")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        ALICE.sign("unknown", b"")


@pytest.mark.parametrize(("signed_as", "checked_as"), list(itertools.permutations(ALL_LABELS, 2)))
def test_a_label_never_verifies_as_another(signed_as: str, checked_as: str) -> None:
    body = b"the same body"
    signature = ALICE.sign(signed_as, body)
    ident.verify_signature(ALICE.public_key, signed_as, ALICE.program_id, body, signature)
    with pytest.raises(InvalidSignature):
        ident.verify_signature(ALICE.public_key, checked_as, ALICE.program_id, body, signature)


def test_signature_binds_program_body_and_key() -> None:
    body = b"body"
    sig = ALICE.sign(ident.LABEL_PROFILE, body)
    ident.verify_signature(ALICE.public_key, "profile", ALICE.program_id, body, sig)
    with pytest.raises(InvalidSignature):
        ident.verify_signature(ALICE.public_key, "profile", MALLORY.program_id, body, sig)
    with pytest.raises(InvalidSignature):
        ident.verify_signature(ALICE.public_key, "profile", ALICE.program_id, b"bodY", sig)
    with pytest.raises(InvalidSignature):
        ident.verify_signature(MALLORY.public_key, "profile", ALICE.program_id, body, sig)
    with pytest.raises(InvalidSignature):
        ident.verify_signature(ALICE.public_key, "profile", ALICE.program_id, body, sig[:-1])
    with pytest.raises(MalformedInput):
        ident.verify_signature(ALICE.public_key, "profile", bytes(8), body, sig)
    with pytest.raises(InvalidKey):
        ident.verify_signature(bytes(31), "profile", ALICE.program_id, body, sig)


def test_signed_object_holds_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        SignedObject("body", bytes(64))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        SignedObject(b"body", None)  # type: ignore[arg-type]


def test_signed_object_json() -> None:
    signed = SignedObject(b"body", ALICE.sign("status", b"body"))
    obj = signed.to_json()
    assert set(obj) == {"body", "signature"}
    assert SignedObject.from_json(json.loads(json.dumps(obj))) == signed


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "body",
        {"body": "Ym9keQ"},
        {"body": "Ym9keQ", "signature": "A" * 86, "extra": 1},
        {"body": 1, "signature": "A" * 86},
        {"body": "Ym9keQ", "signature": None},
        {"body": "Ym9keQ==", "signature": "A" * 86},
        {"body": "Ym9keQ", "signature": "A" * 84},
        {"body": "Ym9keQ", "signature": "A" * 88},
    ],
)
def test_signed_object_refuses_bad_shapes(bad: object) -> None:
    with pytest.raises(MalformedInput):
        SignedObject.from_json(bad)


def test_signed_object_refuses_oversized_body() -> None:
    big = b64u_encode(bytes(ident.MAX_SIGNED_BODY_SIZE + 3))
    with pytest.raises(OversizedInput):
        SignedObject.from_json({"body": big, "signature": "A" * 86})
    ok = b64u_encode(bytes(ident.MAX_SIGNED_BODY_SIZE))
    assert len(SignedObject.from_json({"body": ok, "signature": "A" * 86}).body) == (
        ident.MAX_SIGNED_BODY_SIZE
    )


# -- prekeys -------------------------------------------------------------------------------


def test_prekey_body_layout() -> None:
    key = x25519_public(bytes([5]) * 32)
    body = PrekeyBody(0x01020304, key, 0x001B0C0D0E0F1011)
    raw = body.to_bytes()
    assert len(raw) == ident.PREKEY_BODY_SIZE == 44
    assert raw == b"\x01\x02\x03\x04" + key + bytes.fromhex("001b0c0d0e0f1011")
    assert PrekeyBody.from_bytes(raw) == body


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(min_size=32, max_size=32), st.integers(0, 2**53 - 1))
def test_prekey_body_round_trip(prekey_id: int, key: bytes, expires_at: int) -> None:
    body = PrekeyBody(prekey_id, key, expires_at)
    assert PrekeyBody.from_bytes(body.to_bytes()) == body


@settings(deadline=None)
@given(st.binary(max_size=100))
def test_prekey_body_parser_total(data: bytes) -> None:
    try:
        body = PrekeyBody.from_bytes(data)
    except MalformedInput:
        assert len(data) != 44 or int.from_bytes(data[36:44], "big") > 2**53 - 1
    else:
        assert body.to_bytes() == data


def test_prekey_expiry_past_2_53_is_refused_both_ways() -> None:
    """Every protocol time is exact in JavaScript; the widget refuses the rest too."""
    key = x25519_public(bytes([5]) * 32)
    last = PrekeyBody(1, key, 2**53 - 1)
    assert PrekeyBody.from_bytes(last.to_bytes()) == last
    with pytest.raises(LocalProtocolError):
        PrekeyBody(1, key, 2**53)
    with pytest.raises(MalformedInput):
        PrekeyBody.from_bytes(last.to_bytes()[:36] + (2**53).to_bytes(8, "big"))


@pytest.mark.parametrize(
    "args",
    [
        (-1, bytes(32), 0),
        (2**32, bytes(32), 0),
        (True, bytes(32), 0),
        (0, bytes(31), 0),
        (0, "k" * 32, 0),
        (0, bytes(32), -1),
        (0, bytes(32), 2**64),
        (0, bytes(32), 1.5),
    ],
)
def test_prekey_body_refuses_bad_fields(args: tuple[Any, Any, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        PrekeyBody(*args)


def test_prekey_body_from_bytes_refuses_non_bytes() -> None:
    with pytest.raises(MalformedInput):
        PrekeyBody.from_bytes("x" * 44)  # type: ignore[arg-type]


@pytest.mark.parametrize("one_time", [False, True])
def test_verify_prekey(one_time: bool) -> None:
    signed = signed_prekey(9, one_time=one_time)
    body = ident.verify_prekey(
        ALICE.public_key, ALICE.program_id, signed, one_time=one_time, now=NOW
    )
    assert body.prekey_id == 9
    assert body.public_key == x25519_public(bytes([9]) * 32)
    # the other prekey label does not verify
    with pytest.raises(InvalidSignature):
        ident.verify_prekey(
            ALICE.public_key, ALICE.program_id, signed, one_time=not one_time, now=NOW
        )
    with pytest.raises(InvalidSignature):
        ident.verify_prekey(
            MALLORY.public_key, MALLORY.program_id, signed, one_time=one_time, now=NOW
        )
    with pytest.raises(InvalidSignature):
        ident.verify_prekey(
            ALICE.public_key, MALLORY.program_id, signed, one_time=one_time, now=NOW
        )


def test_verify_prekey_expiry_boundary() -> None:
    signed = signed_prekey(3, expires_at=NOW)
    ident.verify_prekey(ALICE.public_key, ALICE.program_id, signed, one_time=False, now=NOW - 1)
    with pytest.raises(Expired):
        ident.verify_prekey(ALICE.public_key, ALICE.program_id, signed, one_time=False, now=NOW)


@pytest.mark.parametrize("key", [LOW_ORDER, bytes(32), (1).to_bytes(32, "little")])
def test_verify_prekey_refuses_low_order_key(key: bytes) -> None:
    signed = signed_prekey(4, key=key)
    with pytest.raises(InvalidKey):
        ident.verify_prekey(ALICE.public_key, ALICE.program_id, signed, one_time=False, now=NOW)


def test_verify_prekey_refuses_wrong_length_body_and_misuse() -> None:
    raw = bytes(45)
    signed = SignedObject(raw, ALICE.sign(ident.LABEL_SIGNED_PREKEY, raw))
    with pytest.raises(MalformedInput):
        ident.verify_prekey(ALICE.public_key, ALICE.program_id, signed, one_time=False, now=NOW)
    with pytest.raises(LocalProtocolError):
        ident.verify_prekey(
            ALICE.public_key,
            ALICE.program_id,
            signed_prekey(),
            one_time=False,
            now=float(NOW),  # type: ignore[arg-type]
        )
    with pytest.raises(LocalProtocolError):
        ident.verify_prekey(
            ALICE.public_key,
            ALICE.program_id,
            signed_prekey().to_json(),  # type: ignore[arg-type]
            one_time=False,
            now=NOW,
        )


def test_check_x25519_public_key() -> None:
    ident.check_x25519_public_key(x25519_public(bytes([1]) * 32))
    for bad in (LOW_ORDER, bytes(31), b"x" * 33):
        with pytest.raises(InvalidKey):
            ident.check_x25519_public_key(bad)


# -- profile and status signatures ------------------------------------------------------------


def test_sign_and_verify_profile() -> None:
    signed = ident.sign_profile(ALICE, make_profile())
    assert ident.verify_profile(ALICE.public_key, ALICE.program_id, signed) == make_profile()
    with pytest.raises(InvalidSignature):
        ident.verify_profile(MALLORY.public_key, ALICE.program_id, signed)
    edited = SignedObject(signed.body.replace(b"Safe", b"Fake"), signed.signature)
    with pytest.raises(InvalidSignature):
        ident.verify_profile(ALICE.public_key, ALICE.program_id, edited)
    # a status signature never passes as a profile, even over the same bytes
    as_status = SignedObject(signed.body, ALICE.sign(ident.LABEL_STATUS, signed.body))
    with pytest.raises(InvalidSignature):
        ident.verify_profile(ALICE.public_key, ALICE.program_id, as_status)


def test_verify_profile_parses_only_after_the_signature() -> None:
    garbage = b"not json"
    signed = SignedObject(garbage, ALICE.sign(ident.LABEL_PROFILE, garbage))
    with pytest.raises(MalformedInput):
        ident.verify_profile(ALICE.public_key, ALICE.program_id, signed)
    unsigned = SignedObject(garbage, bytes(64))
    with pytest.raises(InvalidSignature):
        ident.verify_profile(ALICE.public_key, ALICE.program_id, unsigned)


def test_sign_and_verify_status() -> None:
    signed = ident.sign_status(ALICE, make_status())
    assert ident.verify_status(ALICE.public_key, ALICE.program_id, signed, now=NOW) == make_status()
    with pytest.raises(Expired):
        ident.verify_status(ALICE.public_key, ALICE.program_id, signed, now=NOW + 600)
    with pytest.raises(InvalidSignature):
        ident.verify_status(ALICE.public_key, MALLORY.program_id, signed, now=NOW)
    with pytest.raises(LocalProtocolError):
        ident.verify_status(ALICE.public_key, ALICE.program_id, signed, now="now")  # type: ignore[arg-type]


# -- bundles -------------------------------------------------------------------------------------


def test_verify_bundle() -> None:
    verified = ident.verify_bundle(make_bundle(), ALICE.public_key, now=NOW)
    assert verified.program_id == ALICE.program_id
    assert verified.identity_key == ALICE.public_key
    assert verified.signed_prekey.prekey_id == 1
    assert verified.one_time_prekey is not None
    assert verified.one_time_prekey.prekey_id == 2
    assert verified.prekey == verified.one_time_prekey
    assert verified.profile == make_profile()
    assert verified.status == make_status()


def test_verify_bundle_without_one_time_prekey_or_status() -> None:
    verified = ident.verify_bundle(
        make_bundle(one_time_prekey=None, status=None), ALICE.public_key, now=NOW
    )
    assert verified.one_time_prekey is None
    assert verified.prekey == verified.signed_prekey
    assert verified.status is None


def test_expired_status_is_unknown_not_an_error() -> None:
    verified = ident.verify_bundle(make_bundle(), ALICE.public_key, now=NOW + 600)
    assert verified.status is None


def test_bundle_with_another_identity_key() -> None:
    forged = make_bundle(
        identity_key=b64u_encode(MALLORY.public_key),
        program_id=b64u_encode(MALLORY.program_id),
        signed_prekey=signed_prekey(1, signer=MALLORY).to_json(),
        one_time_prekey=None,
        profile=ident.sign_profile(MALLORY, make_profile()).to_json(),
        status=None,
    )
    ident.verify_bundle(forged, MALLORY.public_key, now=NOW)
    with pytest.raises(UntrustedKey):
        ident.verify_bundle(forged, ALICE.public_key, now=NOW)


def test_bundle_with_a_program_id_not_derived_from_the_key() -> None:
    with pytest.raises(VerificationError) as info:
        ident.verify_bundle(
            make_bundle(program_id=b64u_encode(MALLORY.program_id)), ALICE.public_key, now=NOW
        )
    assert not isinstance(info.value, UntrustedKey | InvalidSignature)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"signed_prekey": signed_prekey(1, one_time=True).to_json()}, InvalidSignature),
        ({"one_time_prekey": signed_prekey(2).to_json()}, InvalidSignature),
        ({"signed_prekey": signed_prekey(1, signer=MALLORY).to_json()}, InvalidSignature),
        ({"profile": ident.sign_profile(MALLORY, make_profile()).to_json()}, InvalidSignature),
        ({"status": ident.sign_status(MALLORY, make_status()).to_json()}, InvalidSignature),
        ({"profile": ident.sign_status(ALICE, make_status()).to_json()}, InvalidSignature),
        ({"signed_prekey": signed_prekey(1, expires_at=NOW).to_json()}, Expired),
        ({"one_time_prekey": signed_prekey(2, one_time=True, expires_at=NOW).to_json()}, Expired),
        ({"one_time_prekey": signed_prekey(2, one_time=True, key=LOW_ORDER).to_json()}, InvalidKey),
        ({"profile": None}, MalformedInput),
        ({"signed_prekey": None}, MalformedInput),
        ({"status": "open"}, MalformedInput),
        ({"identity_key": b64u_encode(ALICE.public_key[:31])}, MalformedInput),
        ({"identity_key": 5}, MalformedInput),
        ({"program_id": b64u_encode(ALICE.program_id + b"x")}, MalformedInput),
        ({"extra": 1}, MalformedInput),
    ],
)
def test_bundle_refusals(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ident.verify_bundle(make_bundle(**changes), ALICE.public_key, now=NOW)


def test_bundle_missing_keys_and_bad_arguments() -> None:
    for key in make_bundle():
        bundle = make_bundle()
        del bundle[key]
        with pytest.raises(MalformedInput):
            ident.verify_bundle(bundle, ALICE.public_key, now=NOW)
    with pytest.raises(MalformedInput):
        ident.verify_bundle([], ALICE.public_key, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        ident.verify_bundle(make_bundle(), ALICE.public_key[:31], now=NOW)
    with pytest.raises(LocalProtocolError):
        ident.verify_bundle(make_bundle(), ALICE.public_key, now=None)  # type: ignore[arg-type]


def test_bundle_survives_a_json_round_trip() -> None:
    wire = json.loads(json.dumps(make_bundle()))
    assert ident.verify_bundle(wire, ALICE.public_key, now=NOW).profile == make_profile()
