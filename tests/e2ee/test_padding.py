"""ISO/IEC 7816-4 padding: exact lengths, strict unpadding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.errors import MalformedInput
from e2ee.padding import PADDING_BLOCK, pad, padded_length, unpad


@pytest.mark.parametrize(
    ("length", "expected"), [(0, 256), (1, 256), (255, 256), (256, 512), (511, 512), (512, 768)]
)
def test_padded_length(length: int, expected: int) -> None:
    data = bytes([0x41]) * length
    padded = pad(data)
    assert len(padded) == expected == padded_length(length)
    assert padded[length] == 0x80
    assert padded[length + 1 :] == bytes(expected - length - 1)


def test_trailing_zeros_and_markers_in_data_survive() -> None:
    for data in (b"\x00", b"\x80", b"a\x80\x00\x00", b"\x00" * 300, b"\x80" * 256):
        assert unpad(pad(data)) == data


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_round_trip(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) % PADDING_BLOCK == 0
    assert unpad(padded) == data


@pytest.mark.parametrize(
    "bad",
    [
        b"",  # empty
        b"\x80" + bytes(254),  # not a multiple of 256
        bytes(256),  # no marker at all
        b"a" * 255 + b"\x01",  # last non-zero byte is not the marker
        b"a" * 256,  # no padding
        b"\x80" + bytes(511),  # padding run of 512 bytes: longer than one block
        b"a" + b"\x80" + bytes(510),  # 511-byte run, one block would have sufficed
    ],
)
def test_unpad_refuses(bad: bytes) -> None:
    with pytest.raises(MalformedInput):
        unpad(bad)


@settings(deadline=None)
@given(st.binary(max_size=1100))
def test_unpad_arbitrary_bytes_only_malformed(data: bytes) -> None:
    try:
        out = unpad(data)
    except MalformedInput:
        return
    assert pad(out) == data
