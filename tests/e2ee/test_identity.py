"""Identity keys, signatures with labels, prekeys, profile, status and bundle checks."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any

import pytest
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
    Alternative,
    Hours,
    IdentityKeyPair,
    Notice,
    OpeningPeriod,
    PrekeyBody,
    Profile,
    Question,
    SignedObject,
    Status,
)
from e2ee.primitives import x25519_public

NOW = 1_700_000_000
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
]


def make_profile(**changes: Any) -> Profile:
    profile = Profile(
        name="Safe Harbor Chat",
        notice=Notice(
            voluntary="This chat is voluntary. You can stop at any time.",
            choices="You choose what to share.",
            information="We do not keep a record of this chat.",
            mandatory_reporting="We must report if a child is in danger.",
            more_url="https://example.org/rights",
        ),
        safety_check_in="Are you safe to chat right now?",
        questions=(Question(id="age", text="How old are you?", why="To find the right help."),),
        hours=Hours(
            timezone="America/New_York",
            weekly=(
                OpeningPeriod(day=0, open="09:00", close="17:00"),
                OpeningPeriod(day=5, open="22:00", close="24:00"),
            ),
        ),
        alternatives=(Alternative(label="Hotline", value="+1 555 0100"),),
        quick_exit_url="https://weather.example/",
        issued_at=NOW - 100,
    )
    return dataclasses.replace(profile, **changes)


def make_status(**changes: Any) -> Status:
    return dataclasses.replace(
        Status(state="open", message="We are answering.", issued_at=NOW - 10, expires_at=NOW + 600),
        **changes,
    )


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
    body = PrekeyBody(0x01020304, key, 0x0A0B0C0D0E0F1011)
    raw = body.to_bytes()
    assert len(raw) == ident.PREKEY_BODY_SIZE == 44
    assert raw == b"\x01\x02\x03\x04" + key + bytes.fromhex("0a0b0c0d0e0f1011")
    assert PrekeyBody.from_bytes(raw) == body


@given(st.integers(0, 2**32 - 1), st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1))
def test_prekey_body_round_trip(prekey_id: int, key: bytes, expires_at: int) -> None:
    body = PrekeyBody(prekey_id, key, expires_at)
    assert PrekeyBody.from_bytes(body.to_bytes()) == body


@given(st.binary(max_size=100))
def test_prekey_body_parser_total(data: bytes) -> None:
    try:
        body = PrekeyBody.from_bytes(data)
    except MalformedInput:
        assert len(data) != 44
    else:
        assert body.to_bytes() == data


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
            signed_prekey().to_json(),
            one_time=False,
            now=NOW,  # type: ignore[arg-type]
        )


def test_check_x25519_public_key() -> None:
    ident.check_x25519_public_key(x25519_public(bytes([1]) * 32))
    for bad in (LOW_ORDER, bytes(31), b"x" * 33):
        with pytest.raises(InvalidKey):
            ident.check_x25519_public_key(bad)


# -- canonical JSON ------------------------------------------------------------------------------


def test_canonical_json() -> None:
    assert ident.canonical_json({"b": 1, "a": ["é", "مرحبا"]}) == (
        '{"a":["é","مرحبا"],"b":1}'.encode()
    )
    for bad in ({"x": float("nan")}, {"x": "\ud800"}, {"x": {1, 2}}):
        with pytest.raises(LocalProtocolError):
            ident.canonical_json(bad)


# -- profile ---------------------------------------------------------------------------------


def test_profile_round_trip_and_canonical_form() -> None:
    profile = make_profile()
    body = profile.to_body()
    obj = json.loads(body)
    assert obj["v"] == 1
    assert (
        body == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert ident.parse_profile(body) == profile
    plain = make_profile(
        notice=dataclasses.replace(profile.notice, more_url=None), name="مركز الدعم 支援 सहायता 💜"
    )
    assert "more_url" not in json.loads(plain.to_body())["notice"]
    assert ident.parse_profile(plain.to_body()) == plain


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


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "x" * (ident.MAX_NAME_LENGTH + 1)},
        {"name": 5},
        {"name": "bad \ud800"},
        {"notice": "text"},
        {"safety_check_in": "x" * (ident.MAX_NOTICE_TEXT_LENGTH + 1)},
        {"questions": [Question("a", "b", "c")]},
        {"questions": (Question("a", "b", "c"), Question("a", "d", "e"))},
        {"questions": tuple(Question(f"q{i}", "t", "w") for i in range(ident.MAX_QUESTIONS + 1))},
        {"questions": ("q",)},
        {"hours": None},
        {"hours": {"timezone": "UTC", "weekly": []}},
        {"alternatives": (Alternative("a", "b"),) * (ident.MAX_ALTERNATIVES + 1)},
        {"quick_exit_url": "weather.example"},
        {"quick_exit_url": "https://x\n"},
        {"quick_exit_url": "https://" + "x" * ident.MAX_URL_LENGTH},
        {"issued_at": -1},
        {"issued_at": True},
        {"issued_at": 2**64},
    ],
)
def test_profile_refuses_bad_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        make_profile(**changes)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Notice(None, "", "", ""),  # type: ignore[arg-type]
        lambda: Notice("", "", "", "", more_url="javascript:alert(1)"),
        lambda: Notice("", "", "", "", more_url="https://a b"),
        lambda: Question("", "t", "w"),
        lambda: Question("bad id", "t", "w"),
        lambda: Question("id", "", "w"),
        lambda: OpeningPeriod(7, "09:00", "10:00"),
        lambda: OpeningPeriod(-1, "09:00", "10:00"),
        lambda: OpeningPeriod(True, "09:00", "10:00"),
        lambda: OpeningPeriod(0, "24:00", "10:00"),
        lambda: OpeningPeriod(0, "9:00", "10:00"),
        lambda: OpeningPeriod(0, "09:60", "10:00"),
        lambda: OpeningPeriod(0, "09:00", "24:01"),
        lambda: OpeningPeriod(0, "０９:００", "10:00"),
        lambda: Hours("Europe/Paris ", ()),
        lambda: Hours("x" * (ident.MAX_TIMEZONE_LENGTH + 1), ()),
        lambda: Hours("UTC", [OpeningPeriod(0, "09:00", "10:00")]),
        lambda: Hours("UTC", (OpeningPeriod(0, "09:00", "10:00"),) * (ident.MAX_HOURS_PERIODS + 1)),
        lambda: Alternative("", "x"),
        lambda: Alternative("x", "y" * (ident.MAX_ALTERNATIVE_LENGTH + 1)),
    ],
)
def test_nested_types_refuse_bad_fields(make: Any) -> None:
    with pytest.raises(LocalProtocolError):
        make()


def test_profile_body_size_limit() -> None:
    long = "ж" * ident.MAX_QUESTION_TEXT_LENGTH
    profile = make_profile(
        questions=tuple(Question(f"q{i}", long, long) for i in range(ident.MAX_QUESTIONS))
    )
    with pytest.raises(LocalProtocolError):
        profile.to_body()


def _profile_obj() -> dict[str, Any]:
    return json.loads(make_profile().to_body())  # type: ignore[no-any-return]


def _mutations() -> list[Any]:
    def set_path(path: tuple[Any, ...], value: Any) -> Any:
        def change(obj: dict[str, Any]) -> None:
            target: Any = obj
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return change

    def delete_path(path: tuple[Any, ...]) -> Any:
        def change(obj: dict[str, Any]) -> None:
            target: Any = obj
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]

        return change

    out = [
        set_path(("v",), 2),
        set_path(("v",), "1"),
        set_path(("v",), True),
        set_path(("extra",), 1),
        set_path(("name",), None),
        set_path(("name",), ["x"]),
        set_path(("notice",), []),
        set_path(("notice", "extra"), "x"),
        set_path(("notice", "more_url"), None),
        set_path(("notice", "choices"), 3),
        set_path(("questions",), {}),
        set_path(("questions",), [1]),
        set_path(("questions", 0, "id"), 1),
        set_path(("questions", 0, "extra"), "x"),
        set_path(("questions",), [{"id": "a", "text": "b", "why": "c"}] * 2),
        set_path(
            ("questions",),
            [{"id": f"q{i}", "text": "t", "why": "w"} for i in range(ident.MAX_QUESTIONS + 1)],
        ),
        set_path(("hours", "weekly"), [{"day": 0, "open": "09:00", "close": "10:00"}] * 29),
        set_path(("alternatives",), [{"label": "a", "value": "b"}] * 11),
        set_path(("hours",), "always"),
        set_path(("hours", "weekly"), {}),
        set_path(("hours", "weekly", 0, "day"), "0"),
        set_path(("hours", "weekly", 0, "open"), 900),
        set_path(("hours", "timezone"), None),
        set_path(("alternatives",), None),
        set_path(("alternatives", 0), ["a", "b"]),
        set_path(("alternatives", 0, "value"), ""),
        set_path(("quick_exit_url",), "data:text/html,x"),
        set_path(("issued_at",), "now"),
        set_path(("issued_at",), -5),
    ]
    for key in _profile_obj():
        out.append(delete_path((key,)))
    for key in ("voluntary", "choices", "information", "mandatory_reporting"):
        out.append(delete_path(("notice", key)))
    out.append(delete_path(("hours", "weekly")))
    out.append(delete_path(("questions", 0, "why")))
    return out


@pytest.mark.parametrize("mutate", _mutations())
def test_parse_profile_refuses_bad_objects(mutate: Any) -> None:
    obj = _profile_obj()
    mutate(obj)
    with pytest.raises(MalformedInput):
        ident.parse_profile(json.dumps(obj).encode())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"null",
        b'"profile"',
        b"\xff\xfe{}",
        b'{"v":1,"v":1}',
        b'{"v":NaN}',
        b'{"v":Infinity}',
        b'{"v":1.0}',
        b'{"v":1e3}',
        b'{"v":' + b"9" * 5000 + b"}",
        b"[" * 20000 + b"]" * 20000,
        b'{"name":"\\ud800"}',
        b" " * (ident.MAX_PROFILE_SIZE + 1),
    ],
)
def test_parse_profile_refuses_bad_json(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        ident.parse_profile(raw)


def test_parse_refuses_oversized_and_non_bytes() -> None:
    with pytest.raises(OversizedInput):
        ident.parse_profile(b" " * (ident.MAX_PROFILE_SIZE + 1))
    with pytest.raises(OversizedInput):
        ident.parse_status(b" " * (ident.MAX_STATUS_SIZE + 1))
    with pytest.raises(MalformedInput):
        ident.parse_profile("{}")  # type: ignore[arg-type]


def test_parse_profile_accepts_non_canonical_bytes_it_was_given() -> None:
    # Verifiers parse the exact bytes that were signed; they never re-serialize.
    obj = _profile_obj()
    raw = json.dumps(obj, indent=2).encode()
    assert ident.parse_profile(raw) == make_profile()


# -- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ident.STATUS_STATES)
def test_status_round_trip(state: Any) -> None:
    status = make_status(state=state)
    body = status.to_body()
    assert json.loads(body) == {
        "v": 1,
        "state": state,
        "message": "We are answering.",
        "issued_at": NOW - 10,
        "expires_at": NOW + 600,
    }
    assert ident.parse_status(body) == status


def test_sign_and_verify_status() -> None:
    signed = ident.sign_status(ALICE, make_status())
    assert ident.verify_status(ALICE.public_key, ALICE.program_id, signed, now=NOW) == make_status()
    with pytest.raises(Expired):
        ident.verify_status(ALICE.public_key, ALICE.program_id, signed, now=NOW + 600)
    with pytest.raises(InvalidSignature):
        ident.verify_status(ALICE.public_key, MALLORY.program_id, signed, now=NOW)
    with pytest.raises(LocalProtocolError):
        ident.verify_status(ALICE.public_key, ALICE.program_id, signed, now="now")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"state": "unknown"},
        {"state": None},
        {"message": 3},
        {"message": "m" * (ident.MAX_STATUS_MESSAGE_LENGTH + 1)},
        {"issued_at": -1},
        {"expires_at": 1.5},
        {"issued_at": NOW, "expires_at": NOW - 1},
    ],
)
def test_status_refuses_bad_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        make_status(**changes)


def test_status_body_size_limit() -> None:
    with pytest.raises(LocalProtocolError):
        make_status(message="\x01" * ident.MAX_STATUS_MESSAGE_LENGTH).to_body()


@pytest.mark.parametrize(
    "obj",
    [
        {"v": 1, "state": "open", "message": "", "issued_at": 1},
        {"v": 1, "state": "open", "message": "", "issued_at": 1, "expires_at": 2, "x": 0},
        {"v": 2, "state": "open", "message": "", "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": "OPEN", "message": "", "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": ["open"], "message": "", "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": "open", "message": None, "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": "open", "message": "", "issued_at": 3, "expires_at": 2},
        {"v": 1, "state": "open", "message": "", "issued_at": 1, "expires_at": "2"},
    ],
)
def test_parse_status_refuses_bad_objects(obj: dict[str, Any]) -> None:
    with pytest.raises(MalformedInput):
        ident.parse_status(json.dumps(obj).encode())


# -- properties for the parsers -------------------------------------------------------------

_text = st.text(max_size=40)
_non_empty = st.text(min_size=1, max_size=40)
_url = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), max_size=30
).map(lambda s: "https://" + s)
_time = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_profiles = st.builds(
    Profile,
    name=_non_empty,
    notice=st.builds(Notice, _text, _text, _text, _text, st.none() | _url),
    safety_check_in=_text,
    questions=st.lists(
        st.builds(
            Question, st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True), _non_empty, _text
        ),
        max_size=4,
        unique_by=lambda q: q.id,
    ).map(tuple),
    hours=st.builds(
        Hours,
        st.from_regex(r"[A-Za-z_/+\-]{1,30}", fullmatch=True),
        st.lists(
            st.builds(OpeningPeriod, st.integers(0, 6), _time, _time | st.just("24:00")), max_size=5
        ).map(tuple),
    ),
    alternatives=st.lists(st.builds(Alternative, _non_empty, _non_empty), max_size=3).map(tuple),
    quick_exit_url=_url,
    issued_at=st.integers(0, 2**64 - 1),
)


@settings(max_examples=60, deadline=None)
@given(_profiles)
def test_profile_round_trip_property(profile: Profile) -> None:
    assert ident.parse_profile(profile.to_body()) == profile


@given(
    st.sampled_from(ident.STATUS_STATES),
    st.text(max_size=100),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63),
)
def test_status_round_trip_property(state: Any, message: str, issued: int, extra: int) -> None:
    status = Status(state, message, issued, issued + extra)
    assert ident.parse_status(status.to_body()) == status


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_parsers_raise_only_malformed_input_on_bytes(data: bytes) -> None:
    for parse in (ident.parse_profile, ident.parse_status):
        with contextlib.suppress(MalformedInput):
            parse(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300)
@given(st.data())
def test_parsers_raise_only_malformed_input_on_near_valid_json(data: st.DataObject) -> None:
    for parse, obj in (
        (ident.parse_profile, _profile_obj()),
        (ident.parse_status, json.loads(make_status().to_body())),
    ):
        target: Any = obj
        # walk down a random path and replace one value
        while True:
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            if not keys:
                break
            key = data.draw(st.sampled_from(keys))
            if isinstance(target[key], dict | list) and data.draw(st.booleans()):
                target = target[key]
                continue
            target[key] = data.draw(_json_values)
            break
        with contextlib.suppress(MalformedInput):
            parse(json.dumps(obj).encode())


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
