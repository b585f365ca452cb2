"""Envelope and header wire format: layout, strict parsing, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.envelope import (
    HEADER_SIZE,
    INIT_AAD_SIZE,
    KIND_INIT,
    KIND_MESSAGE,
    MAX_ENVELOPE_SIZE,
    MESSAGE_AAD_SIZE,
    Envelope,
    Header,
    InitFields,
    envelope_aad,
    valid_ciphertext_size,
)
from e2ee.errors import LocalProtocolError, MalformedInput, OversizedInput

CID = bytes(range(16))
DH = bytes(range(100, 132))
ENC = bytes(range(200, 232))
NONCE = bytes(range(50, 62))


def message(ciphertext_blocks: int = 1) -> Envelope:
    return Envelope(
        conversation_id=CID,
        sender_slot=0,
        recipient_slot=1,
        header=Header(dh=DH, pn=7, n=0x01020304),
        ciphertext=NONCE + b"\xaa" * (256 * ciphertext_blocks + 16),
    )


def init() -> Envelope:
    return Envelope(
        conversation_id=CID,
        sender_slot=0,
        recipient_slot=1,
        header=Header(dh=DH, pn=0, n=0),
        ciphertext=NONCE + b"\xbb" * 272,
        init=InitFields(prekey_kind=2, prekey_id=0xDEADBEEF, enc=ENC),
    )


def test_message_layout() -> None:
    env = message()
    data = env.to_bytes()
    assert env.kind == KIND_MESSAGE
    assert data[:2] == b"\x02\x02"
    assert data[2:18] == CID
    assert data[18:20] == b"\x00\x01"
    assert data[20:52] == DH
    assert data[52:56] == (7).to_bytes(4, "big")
    assert data[56:60] == bytes([1, 2, 3, 4])
    assert data[60:] == env.ciphertext
    assert data[60:72] == env.nonce == NONCE
    assert env.aad == data[:MESSAGE_AAD_SIZE] == data[:60]
    assert Envelope.from_bytes(data) == env


def test_init_layout() -> None:
    env = init()
    data = env.to_bytes()
    assert env.kind == KIND_INIT
    assert data[:2] == b"\x02\x01"
    assert data[20] == 2
    assert data[21:25] == bytes.fromhex("deadbeef")
    assert data[25:57] == ENC
    assert data[57:97] == env.header.to_bytes()
    assert data[97:109] == env.nonce == NONCE
    assert env.aad == data[:INIT_AAD_SIZE] == data[:97]
    assert Envelope.from_bytes(data) == env
    assert envelope_aad(CID, 0, 1, env.header, env.init) == env.aad


def test_header_round_trip_and_size() -> None:
    header = Header(dh=DH, pn=0xFFFFFFFF, n=0)
    assert len(header.to_bytes()) == HEADER_SIZE
    assert Header.from_bytes(header.to_bytes()) == header
    with pytest.raises(MalformedInput):
        Header.from_bytes(header.to_bytes()[:-1])
    with pytest.raises(MalformedInput):
        Header.from_bytes("not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [284, 540, 12 + 256 * 10 + 16])
def test_valid_ciphertext_sizes(size: int) -> None:
    assert valid_ciphertext_size(size)


@pytest.mark.parametrize("size", [0, 16, 28, 256, 272, 283, 285, 524, 528])
def test_invalid_ciphertext_sizes(size: int) -> None:
    assert not valid_ciphertext_size(size)


def test_largest_envelope_fits_and_one_more_block_is_oversized() -> None:
    blocks = (MAX_ENVELOPE_SIZE - MESSAGE_AAD_SIZE - 12 - 16) // 256
    env = message(blocks)
    assert len(env.to_bytes()) <= MAX_ENVELOPE_SIZE
    assert Envelope.from_bytes(env.to_bytes()) == env
    too_big = env.to_bytes() + b"\x00" * 256
    with pytest.raises(OversizedInput):
        Envelope.from_bytes(too_big)
    with pytest.raises(LocalProtocolError):
        message(blocks + 1)


def _mutate(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1 :]


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x01\x02",
        _mutate(message().to_bytes(), 0, 1),  # version 1: the constant nonce, no nonce field
        _mutate(message().to_bytes(), 0, 3),  # version
        _mutate(message().to_bytes(), 0, 0),
        _mutate(message().to_bytes(), 1, 3),  # kind
        _mutate(message().to_bytes(), 1, 0),
        _mutate(message().to_bytes(), 1, 1),  # a message's length read as init
        _mutate(init().to_bytes(), 1, 2),  # an init's length read as message
        _mutate(message().to_bytes(), 18, 8),  # sender slot out of range
        _mutate(message().to_bytes(), 19, 0),  # sender == recipient
        _mutate(init().to_bytes(), 20, 0),  # prekey kind
        _mutate(init().to_bytes(), 20, 3),
        message().to_bytes()[:-1],  # ciphertext length
        message().to_bytes() + b"\x00",
        message().to_bytes()[:-256],  # ciphertext of 28 bytes: no block
        message().to_bytes()[:-12],  # a version 1 length: no nonce
        "text",
    ],
)
def test_from_bytes_refuses(bad: bytes) -> None:
    with pytest.raises(MalformedInput):
        Envelope.from_bytes(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"conversation_id": b"short"},
        {"sender_slot": -1},
        {"sender_slot": True},
        {"recipient_slot": 0},
        {"ciphertext": b"\x00" * 100},
        {"header": b"\x00" * 40},
        {"init": "x"},
        {"version": 1},
    ],
)
def test_constructor_refuses(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "conversation_id": CID,
        "sender_slot": 0,
        "recipient_slot": 1,
        "header": Header(dh=DH, pn=0, n=0),
        "ciphertext": b"\x00" * 284,
    }
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError):
        Envelope(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"dh": b"\x00" * 31}, {"pn": -1}, {"n": 1 << 32}, {"n": 1.0}],
)
def test_header_constructor_refuses(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"dh": DH, "pn": 0, "n": 0}
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError):
        Header(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"prekey_kind": 0}, {"prekey_id": -1}, {"enc": b"\x00"}],
)
def test_init_fields_constructor_refuses(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"prekey_kind": 1, "prekey_id": 0, "enc": ENC}
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError):
        InitFields(**fields)  # type: ignore[arg-type]


def test_envelope_aad_refuses_bad_fields() -> None:
    with pytest.raises(LocalProtocolError):
        envelope_aad(CID, 9, 1, Header(dh=DH, pn=0, n=0))


envelopes = st.builds(
    Envelope,
    conversation_id=st.binary(min_size=16, max_size=16),
    sender_slot=st.just(1),
    recipient_slot=st.integers(0, 0) | st.integers(2, 7),
    header=st.builds(
        Header,
        dh=st.binary(min_size=32, max_size=32),
        pn=st.integers(0, 2**32 - 1),
        n=st.integers(0, 2**32 - 1),
    ),
    ciphertext=st.integers(1, 4).flatmap(
        lambda k: st.binary(min_size=12 + 256 * k + 16, max_size=12 + 256 * k + 16)
    ),
    init=st.none()
    | st.builds(
        InitFields,
        prekey_kind=st.sampled_from([1, 2]),
        prekey_id=st.integers(0, 2**32 - 1),
        enc=st.binary(min_size=32, max_size=32),
    ),
)


@settings(deadline=None)
@given(envelopes)
def test_round_trip(env: Envelope) -> None:
    data = env.to_bytes()
    assert Envelope.from_bytes(data) == env
    assert data[: len(env.aad)] == env.aad


@settings(deadline=None)
@given(st.binary(max_size=1200))
def test_parser_on_arbitrary_bytes(data: bytes) -> None:
    try:
        env = Envelope.from_bytes(data)
    except MalformedInput:
        return
    assert env.to_bytes() == data


@settings(deadline=None)
@given(envelopes, st.data())
def test_parser_on_mutated_envelopes(env: Envelope, data: st.DataObject) -> None:
    raw = bytearray(env.to_bytes())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            parsed = Envelope.from_bytes(candidate)
        except MalformedInput:
            continue
        assert parsed.to_bytes() == candidate
