from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee.encoding import (
    b64u_decode,
    b64u_encode,
    u8,
    u32,
    u64,
)
from e2ee.errors import LocalProtocolError, MalformedInput


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"\xfb\xff", "-_8"),
        (b"\xfb\xff\xfe", "-__-"),
    ],
)
def test_known_values(raw: bytes, text: str) -> None:
    assert b64u_encode(raw) == text
    assert b64u_decode(text) == raw


@given(st.binary(max_size=200))
def test_round_trip_and_matches_stdlib(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert b64u_decode(text) == data
    assert b64u_encode(bytearray(data)) == b64u_encode(memoryview(data)) == text


@given(st.text(max_size=40))
def test_decode_is_canonical_or_refuses(text: str) -> None:
    try:
        data = b64u_decode(text)
    except MalformedInput:
        return
    assert b64u_encode(data) == text


@pytest.mark.parametrize(
    "bad",
    [
        "Zg==",  # padding
        "Zm8=",  # padding
        "Zm9v\n",  # whitespace
        " Zm9v",
        "Zm 9v",
        "Zm9v+A",  # standard alphabet, not url-safe
        "Zm9v/A",
        "Zm9vY",  # length 4k+1
        "Zh",  # non-zero trailing bits (remainder 2)
        "Zm9",  # non-zero trailing bits (remainder 3)
        "é",
        "Zm9v\x00",
    ],
)
def test_refuses_non_canonical(bad: str) -> None:
    with pytest.raises(MalformedInput):
        b64u_decode(bad)


def test_refuses_wrong_types() -> None:
    with pytest.raises(MalformedInput):
        b64u_decode(b"Zm9v")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        b64u_encode("foo")  # type: ignore[arg-type]


def test_integers() -> None:
    assert u8(0xAB) == b"\xab"
    assert u32(0x01020304) == b"\x01\x02\x03\x04"
    assert u64(1) == bytes(7) + b"\x01"
    assert u64(2**64 - 1) == b"\xff" * 8


@pytest.mark.parametrize(
    ("pack", "value"),
    [(u8, 256), (u8, -1), (u32, 2**32), (u64, 2**64), (u32, True), (u32, 1.0)],
)
def test_integer_out_of_range(pack: object, value: object) -> None:
    with pytest.raises(LocalProtocolError):
        pack(value)  # type: ignore[operator]


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_u64_round_trip(value: int) -> None:
    assert int.from_bytes(u64(value), "big") == value
