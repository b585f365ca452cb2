"""The relay's fast checks agree with the e2ee reference on every input.

``server.wire.decode_b64u`` and ``server.wire.parse_envelope`` validate straight from
text and bytes (for speed on the hot path); ``e2ee.encoding.b64u_decode`` and
``e2ee.envelope.Envelope.from_bytes`` define what is valid. Here both run on the same
many inputs (valid ones, and mutations of them, from a fixed seed) and must accept the
same ones with the same result, and refuse the same ones.
"""

from __future__ import annotations

import random

import pytest

from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.envelope import MAX_ENVELOPE_SIZE, Envelope, Header, InitFields
from e2ee.errors import MalformedInput, OversizedInput
from server.errors import ApiError
from server.wire import decode_b64u, parse_envelope

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\n\u00e9"


def _texts(rnd: random.Random, count: int, sizes: tuple[int, int] = (0, 12)) -> list[str]:
    out = []
    for _ in range(count):
        size = rnd.randint(*sizes)
        if rnd.random() < 0.5:
            text = b64u_encode(rnd.randbytes(size))
            if text and rnd.random() < 0.7:
                i = rnd.randrange(len(text))
                text = text[:i] + rnd.choice(ALPHABET) + text[i + 1 :]
            if rnd.random() < 0.2:
                text += rnd.choice(ALPHABET)
        else:
            text = "".join(rnd.choice(ALPHABET) for _ in range(size))
        out.append(text)
    return out


def _agree(texts: list[str]) -> int:
    """Check that decode_b64u judges each text as the reference does; how many it took."""
    accepted = 0
    for text in texts:
        try:
            expected: bytes | None = b64u_decode(text)
        except MalformedInput:
            expected = None
        try:
            got: bytes | None = decode_b64u(text, "x")
        except ApiError as exc:
            assert exc.code == "bad_base64"
            got = None
        assert got == expected, text
        accepted += expected is not None
    return accepted


def test_decode_b64u_agrees_with_the_reference() -> None:
    accepted = _agree(_texts(random.Random(20261128), 20_000))
    assert 1_000 < accepted < 19_000  # both kinds were exercised


def test_decode_b64u_agrees_with_the_reference_on_long_texts() -> None:
    """Texts of envelope size take the SIMD decoder (from server.wire._FAST_MIN chars
    on): every mutation of them is judged as the reference judges it."""
    from server.wire import _FAST_MIN

    texts = _texts(random.Random(112826), 4_000, sizes=(_FAST_MIN * 3 // 4 - 3, 1200))
    assert sum(len(text) >= _FAST_MIN for text in texts) > 3_000
    assert 500 < _agree(texts) < 3_500
    # Each character the SIMD decoder would take but base64url does not, anywhere.
    text = b64u_encode(bytes(range(256)) * 2)
    for bad in "+/= \n.\u00e9":
        for i in (0, 1, len(text) // 2, len(text) - 2, len(text) - 1):
            with pytest.raises(ApiError):
                decode_b64u(text[:i] + bad + text[i + 1 :], "x")


def _envelope(rnd: random.Random) -> bytes:
    init = rnd.random() < 0.5
    return Envelope(
        conversation_id=rnd.randbytes(16),
        sender_slot=rnd.randint(0, 3),
        recipient_slot=4,
        header=Header(dh=rnd.randbytes(32), pn=rnd.randint(0, 9), n=rnd.randint(0, 9)),
        ciphertext=rnd.randbytes(12 + 256 * rnd.randint(1, 3) + 16),
        init=InitFields(prekey_kind=1, prekey_id=5, enc=rnd.randbytes(32)) if init else None,
    ).to_bytes()


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    r = rnd.random()
    if r < 0.6:
        for _ in range(rnd.randint(1, 3)):
            i = rnd.choice([0, 1, 18, 19, 20, rnd.randrange(len(b))])
            b[i] = rnd.choice([0, 1, 2, 3, 7, 8, 255, rnd.randrange(256)])
    elif r < 0.8:
        if rnd.random() < 0.5:
            del b[rnd.randrange(len(b) + 1) :]
        else:
            b += rnd.randbytes(rnd.choice([1, 16, 37, 40, 256]))
    return bytes(b)


def test_parse_envelope_agrees_with_the_reference() -> None:
    rnd = random.Random(1128)
    accepted = 0
    for _ in range(20_000):
        data = _mutate(rnd, _envelope(rnd))
        try:
            env = Envelope.from_bytes(data)
            expected = (env.kind, env.conversation_id, env.sender_slot, env.recipient_slot)
        except (MalformedInput, OversizedInput):
            expected = None
        text = b64u_encode(data)
        try:
            parsed = parse_envelope(text, 65536)
            got = (parsed.kind, parsed.conversation_id, parsed.sender_slot, parsed.recipient_slot)
            assert parsed.raw == data and parsed.text == text
        except ApiError as exc:
            assert exc.code == "malformed_envelope"
            got = None
        assert got == expected, data[:24].hex()
        accepted += expected is not None
    assert 2_000 < accepted < 18_000


@pytest.mark.parametrize("limit", [1024, 2 * MAX_ENVELOPE_SIZE])
def test_parse_envelope_refuses_oversized(limit: int) -> None:
    rnd = random.Random(7)
    env = Envelope(
        conversation_id=rnd.randbytes(16),
        sender_slot=0,
        recipient_slot=1,
        header=Header(dh=rnd.randbytes(32), pn=0, n=0),
        ciphertext=rnd.randbytes(12 + 256 * 255 + 16),
    ).to_bytes()
    big = env + rnd.randbytes(MAX_ENVELOPE_SIZE + 256 - len(env))
    with pytest.raises(ApiError) as caught:
        parse_envelope(b64u_encode(big), limit)
    assert caught.value.code == "oversized"
