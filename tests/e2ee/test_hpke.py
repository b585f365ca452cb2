"""HPKE against RFC 9180's vectors, the independent pyhpke package, and properties."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhpke import AEADId, CipherSuite, KDFId, KEMId
from third_party_vectors import HPKE_RFC9180

from e2ee import hpke
from e2ee.errors import DecryptionError, InvalidKey, LocalProtocolError, SequenceOverflow

# Read at import time because the vectors parametrize the tests.
_ALL = json.loads(HPKE_RFC9180.read_text(encoding="utf-8"))
_SUITE = [
    v
    for v in _ALL
    if v["mode"] == 0 and v["kem_id"] == 0x20 and v["kdf_id"] == 1 and v["aead_id"] == 2
]
assert len(_SUITE) == 1
VECTOR: dict[str, Any] = _SUITE[0]


def h(name: str) -> bytes:
    return bytes.fromhex(VECTOR[name])


def _pyhpke_suite() -> Any:
    return CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)


# -- RFC 9180 Appendix A vectors -------------------------------------------------------


def test_vector_is_the_suite() -> None:
    assert VECTOR["kem_id"] == hpke.KEM_ID
    assert VECTOR["kdf_id"] == hpke.KDF_ID
    assert VECTOR["aead_id"] == hpke.AEAD_ID
    assert len(VECTOR["encryptions"]) == 257
    assert len(VECTOR["exports"]) == 3


def test_derive_key_pair() -> None:
    assert hpke.derive_key_pair(h("ikmR")) == (h("skRm"), h("pkRm"))
    assert hpke.derive_key_pair(h("ikmE")) == (h("skEm"), h("pkEm"))


def test_encap_decap() -> None:
    shared_secret, enc = hpke.encap(h("pkRm"), ikm_e=h("ikmE"))
    assert enc == h("enc")
    assert shared_secret == h("shared_secret")
    assert hpke.decap(h("enc"), h("skRm")) == h("shared_secret")


def test_key_schedule() -> None:
    ks = hpke.key_schedule(h("shared_secret"), h("info"))
    assert ks.key_schedule_context == h("key_schedule_context")
    assert ks.secret == h("secret")
    assert ks.key == h("key")
    assert ks.base_nonce == h("base_nonce")
    assert ks.exporter_secret == h("exporter_secret")
    for hidden in ("secret", "key", "base_nonce", "exporter_secret"):
        assert VECTOR[hidden] not in repr(ks)
        assert repr(getattr(ks, hidden)) not in repr(ks)


def test_all_encryptions_both_sides() -> None:
    enc, sender = hpke.setup_base_sender(h("pkRm"), h("info"), ikm_e=h("ikmE"))
    assert enc == h("enc")
    recipient = hpke.setup_base_recipient(enc, h("skRm"), h("info"))
    for seq, e in enumerate(VECTOR["encryptions"]):
        aad, pt, ct = (bytes.fromhex(e[k]) for k in ("aad", "pt", "ct"))
        expected_nonce = bytes(
            a ^ b for a, b in zip(h("base_nonce"), seq.to_bytes(12, "big"), strict=True)
        )
        assert expected_nonce.hex() == e["nonce"]
        assert sender.seq == seq == recipient.seq
        assert sender.seal(aad, pt) == ct
        assert recipient.open(aad, ct) == pt
    assert sender.seq == recipient.seq == 257


@pytest.mark.parametrize("index", range(3))
def test_exports(index: int) -> None:
    export = VECTOR["exports"][index]
    _, sender = hpke.setup_base_sender(h("pkRm"), h("info"), ikm_e=h("ikmE"))
    recipient = hpke.setup_base_recipient(h("enc"), h("skRm"), h("info"))
    context = bytes.fromhex(export["exporter_context"])
    expected = bytes.fromhex(export["exported_value"])
    assert sender.export(context, export["L"]) == expected
    assert recipient.export(context, export["L"]) == expected


# -- errors --------------------------------------------------------------------------

_LOW_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


@pytest.mark.parametrize("point", _LOW_ORDER)
def test_low_order_pk_r_is_refused(point: bytes) -> None:
    with pytest.raises(InvalidKey):
        hpke.setup_base_sender(point, b"info")


@pytest.mark.parametrize("point", _LOW_ORDER)
def test_low_order_enc_is_refused(point: bytes) -> None:
    with pytest.raises(InvalidKey):
        hpke.setup_base_recipient(point, h("skRm"), b"info")


@pytest.mark.parametrize("size", [0, 31, 33])
def test_wrong_length_keys(size: int) -> None:
    with pytest.raises(InvalidKey):
        hpke.setup_base_sender(bytes(size), b"")
    with pytest.raises(InvalidKey):
        hpke.setup_base_recipient(bytes(size), h("skRm"), b"")
    with pytest.raises(InvalidKey):
        hpke.setup_base_recipient(h("enc"), bytes(size), b"")


def test_non_bytes_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        hpke.setup_base_sender(h("pkRm"), "info")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        hpke.setup_base_sender(VECTOR["pkRm"], b"")
    with pytest.raises(LocalProtocolError):
        hpke.setup_base_recipient(h("enc"), h("skRm"), None)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        hpke.derive_key_pair(VECTOR["ikmR"])  # type: ignore[arg-type]
    _, sender = hpke.setup_base_sender(h("pkRm"), b"")
    with pytest.raises(LocalProtocolError):
        sender.seal(b"", "text")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        sender.export("ctx", 32)  # type: ignore[arg-type]
    assert sender.seq == 0


def test_short_ikm_refused() -> None:
    with pytest.raises(LocalProtocolError):
        hpke.derive_key_pair(bytes(31))


@pytest.mark.parametrize("length", [-1, 255 * 32 + 1, 1 << 16])
def test_export_length_out_of_range(length: int) -> None:
    _, sender = hpke.setup_base_sender(h("pkRm"), b"")
    with pytest.raises(LocalProtocolError):
        sender.export(b"", length)


def test_export_maximum_and_empty_lengths() -> None:
    _, sender = hpke.setup_base_sender(h("pkRm"), b"")
    assert len(sender.export(b"x", 255 * 32)) == 255 * 32
    assert sender.export(b"x", 0) == b""


def test_open_failure_is_silent_and_keeps_seq() -> None:
    enc, sender = hpke.setup_base_sender(h("pkRm"), b"info")
    recipient = hpke.setup_base_recipient(enc, h("skRm"), b"info")
    ct = sender.seal(b"aad", b"hello")
    bad = [
        (b"aad", ct[:-1] + bytes([ct[-1] ^ 1])),
        (b"aad", bytes([ct[0] ^ 0x80]) + ct[1:]),
        (b"aaD", ct),
        (b"aad", ct[:15]),
        (b"aad", b""),
    ]
    for aad, bad_ct in bad:
        with pytest.raises(DecryptionError) as info:
            recipient.open(aad, bad_ct)
        assert str(info.value) == "decryption failed"
        assert recipient.seq == 0
    assert recipient.open(b"aad", ct) == b"hello"
    # a replay of the same ciphertext uses the next nonce and fails
    with pytest.raises(DecryptionError):
        recipient.open(b"aad", ct)
    assert recipient.seq == 1


def test_wrong_info_or_key_fails() -> None:
    enc, sender = hpke.setup_base_sender(h("pkRm"), b"info")
    ct = sender.seal(b"", b"hello")
    with pytest.raises(DecryptionError):
        hpke.setup_base_recipient(enc, h("skRm"), b"other").open(b"", ct)
    with pytest.raises(DecryptionError):
        hpke.setup_base_recipient(enc, h("skEm"), b"info").open(b"", ct)


def test_sequence_overflow() -> None:
    ks = hpke.key_schedule(h("shared_secret"), h("info"))
    sender = hpke.SenderContext(ks, seq=hpke.MAX_SEQ - 1)
    recipient = hpke.RecipientContext(ks, seq=hpke.MAX_SEQ - 1)
    ct = sender.seal(b"", b"last")
    assert recipient.open(b"", ct) == b"last"
    assert sender.seq == recipient.seq == hpke.MAX_SEQ
    with pytest.raises(SequenceOverflow):
        sender.seal(b"", b"one too many")
    with pytest.raises(SequenceOverflow):
        recipient.open(b"", ct)
    assert sender.seq == recipient.seq == hpke.MAX_SEQ
    # export still works after the nonces are used up
    assert sender.export(b"", 32) == recipient.export(b"", 32)


@pytest.mark.parametrize("seq", [-1, hpke.MAX_SEQ + 1])
def test_context_seq_out_of_range(seq: int) -> None:
    ks = hpke.key_schedule(h("shared_secret"), h("info"))
    with pytest.raises(LocalProtocolError):
        hpke.SenderContext(ks, seq=seq)


def test_repr_hides_key_material() -> None:
    enc, sender = hpke.setup_base_sender(h("pkRm"), h("info"), ikm_e=h("ikmE"))
    recipient = hpke.setup_base_recipient(enc, h("skRm"), h("info"))
    for ctx in (sender, recipient):
        text = repr(ctx)
        assert "seq=0" in text
        for name in ("key", "base_nonce", "exporter_secret", "secret", "shared_secret"):
            assert VECTOR[name] not in text
            assert repr(h(name)) not in text
    assert not hasattr(sender, "__dict__")


def test_random_source_is_used() -> None:
    calls: list[int] = []

    def fixed(n: int) -> bytes:
        calls.append(n)
        return h("ikmE")[:n]

    enc, _ = hpke.setup_base_sender(h("pkRm"), h("info"), random=fixed)
    assert enc == h("enc")
    assert calls == [32]


def test_fresh_ephemeral_each_time() -> None:
    enc1, _ = hpke.setup_base_sender(h("pkRm"), b"")
    enc2, _ = hpke.setup_base_sender(h("pkRm"), b"")
    assert enc1 != enc2


# -- cross-check with pyhpke (an independent implementation on pyca/cryptography) ------


def _messages(rng: random.Random, count: int) -> list[tuple[bytes, bytes]]:
    return [
        (rng.randbytes(rng.randrange(0, 40)), rng.randbytes(rng.randrange(0, 600)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_pyhpke_sender_to_our_recipient(seed: int) -> None:
    rng = random.Random(seed)
    suite = _pyhpke_suite()
    sk_r, pk_r = hpke.derive_key_pair(rng.randbytes(32))
    info = rng.randbytes(rng.randrange(0, 64))
    enc, theirs = suite.create_sender_context(suite.kem.deserialize_public_key(pk_r), info)
    ours = hpke.setup_base_recipient(enc, sk_r, info)
    for aad, pt in _messages(rng, 12):
        assert ours.open(aad, theirs.seal(pt, aad)) == pt
    for length in (0, 1, 32, 77):
        ctx = rng.randbytes(10)
        assert ours.export(ctx, length) == theirs.export(ctx, length)


@pytest.mark.parametrize("seed", range(5))
def test_our_sender_to_pyhpke_recipient(seed: int) -> None:
    rng = random.Random(1000 + seed)
    suite = _pyhpke_suite()
    pair = suite.kem.derive_key_pair(rng.randbytes(32))
    pk_r = pair.public_key.to_public_bytes()
    sk_r = pair.private_key.to_private_bytes()
    assert (
        hpke.derive_key_pair(bytes(32))[1]
        == suite.kem.derive_key_pair(bytes(32)).public_key.to_public_bytes()
    )
    info = rng.randbytes(rng.randrange(0, 64))
    enc, ours = hpke.setup_base_sender(pk_r, info, random=rng.randbytes)
    theirs = suite.create_recipient_context(enc, suite.kem.deserialize_private_key(sk_r), info)
    for aad, pt in _messages(rng, 12):
        assert theirs.open(ours.seal(aad, pt), aad) == pt
    for length in (0, 1, 32, 77):
        ctx = rng.randbytes(10)
        assert ours.export(ctx, length) == theirs.export(ctx, length)


# -- properties ----------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    ikm_r=st.binary(min_size=32, max_size=64),
    ikm_e=st.binary(min_size=32, max_size=32),
    info=st.binary(max_size=100),
    messages=st.lists(st.tuples(st.binary(max_size=50), st.binary(max_size=300)), max_size=5),
)
def test_round_trip_property(
    ikm_r: bytes, ikm_e: bytes, info: bytes, messages: list[tuple[bytes, bytes]]
) -> None:
    sk_r, pk_r = hpke.derive_key_pair(ikm_r)
    enc, sender = hpke.setup_base_sender(pk_r, info, ikm_e=ikm_e)
    recipient = hpke.setup_base_recipient(enc, sk_r, info)
    for aad, pt in messages:
        ct = sender.seal(aad, pt)
        assert len(ct) == len(pt) + 16
        assert recipient.open(aad, ct) == pt
    assert sender.export(info, 32) == recipient.export(info, 32)


def test_key_schedule_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hpke.constant_time_equal

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hpke, "constant_time_equal", spy)
    ks = hpke.key_schedule(h("shared_secret"), h("info"))
    assert ks == hpke.key_schedule(h("shared_secret"), h("info"))
    assert ks != hpke.key_schedule(h("shared_secret"), h("info") + b"!")
    assert ks != "schedule"
    assert len(calls) == 2 and ks.exporter_secret in calls[0][0]
    with pytest.raises(TypeError):
        hash(ks)
