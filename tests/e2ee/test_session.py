"""Sessions: start/accept, every bit of an envelope, replays, serialisation, misuse."""

from __future__ import annotations

import random as stdlib_random
from collections.abc import Callable

import pytest
from e2ee_samples import make_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.encoding import b64u_encode
from e2ee.envelope import MAX_ENVELOPE_SIZE, Envelope, Header
from e2ee.errors import (
    DecryptionError,
    LocalProtocolError,
    MalformedInput,
    OversizedInput,
    QuietlineError,
    ReplayedMessage,
    TooManySkipped,
)
from e2ee.identity import (
    IdentityKeyPair,
    PrekeyBody,
    VerifiedBundle,
    sign_prekey,
    sign_profile,
    verify_bundle,
)
from e2ee.padding import pad, unpad
from e2ee.payload import Close, Duress, Payload, Text, decode_payload, encode_payload
from e2ee.primitives import aes256gcm_encrypt, hmac_sha256, x25519_generate
from e2ee.ratchet import MessageId
from e2ee.ratchet import encrypt as ratchet_encrypt
from e2ee.session import (
    ParticipantSession,
    ProgramSession,
    Session,
    accept_conversation,
    start_conversation,
)

NOW = 1_764_000_000
IDENTITY = IdentityKeyPair.from_seed(bytes(range(32)))
PROFILE = make_profile()  # tests/support/e2ee_samples.py


def seeded(seed: int) -> Callable[[int], bytes]:
    return stdlib_random.Random(seed).randbytes


class Program:
    """The program's keys, as a program node would hold them."""

    def __init__(self, *, one_time: bool = True) -> None:
        rnd = seeded(7)
        self.secrets: dict[tuple[int, int], bytes] = {}
        spk_secret, spk_public = x25519_generate(rnd)
        otk_secret, otk_public = x25519_generate(rnd)
        self.secrets[(1, 1)] = spk_secret
        spk = PrekeyBody(prekey_id=1, public_key=spk_public, expires_at=NOW + 3600)
        otk = PrekeyBody(prekey_id=2, public_key=otk_public, expires_at=NOW + 3600)
        if one_time:
            self.secrets[(2, 2)] = otk_secret
        self.bundle_json = {
            "program_id": b64u_encode(IDENTITY.program_id),
            "identity_key": b64u_encode(IDENTITY.public_key),
            "signed_prekey": sign_prekey(IDENTITY, spk, one_time=False).to_json(),
            "one_time_prekey": sign_prekey(IDENTITY, otk, one_time=True).to_json()
            if one_time
            else None,
            "profile": sign_profile(IDENTITY, PROFILE).to_json(),
            "status": None,
        }

    def bundle(self) -> VerifiedBundle:
        return verify_bundle(self.bundle_json, IDENTITY.public_key, now=NOW)

    def secret_for(self, kind: int, prekey_id: int) -> bytes | None:
        return self.secrets.get((kind, prekey_id))

    def accept(self, envelope: bytes, rnd: Callable[[int], bytes]) -> tuple[ProgramSession, object]:
        return accept_conversation(
            envelope, self.secret_for, program_id=IDENTITY.program_id, random=rnd
        )


def opened(
    seed: int = 1,
) -> tuple[ParticipantSession, ProgramSession, bytes, Callable[[int], bytes]]:
    rnd = seeded(seed)
    program = Program()
    participant, init = start_conversation(program.bundle(), Text(body="hello", ts=1), random=rnd)
    worker, first = program.accept(init, rnd)
    assert first == Text(body="hello", ts=1)
    return participant, worker, init, rnd


def test_conversation_both_ways() -> None:
    participant, worker, init, rnd = opened()
    assert participant.conversation_id == worker.conversation_id
    assert (participant.local_slot, participant.remote_slot) == (0, 1)
    assert (worker.local_slot, worker.remote_slot) == (1, 0)
    assert Envelope.from_bytes(init).init is not None
    for i in range(5):
        worker, env = worker.encrypt(Text(body=f"w{i}", ts=i), random=rnd)
        participant, payload, skipped = participant.decrypt(env, random=rnd)
        assert payload == Text(body=f"w{i}", ts=i) and skipped == ()
        participant, env = participant.encrypt(Text(body=f"p{i}", ts=i), random=rnd)
        worker, payload, skipped = worker.decrypt(env, random=rnd)
        assert payload == Text(body=f"p{i}", ts=i)
    assert len(env) == 60 + 12 + 256 + 16  # a nonce, then one padded block and the tag


def test_signed_prekey_when_no_one_time_prekey() -> None:
    rnd = seeded(3)
    program = Program(one_time=False)
    _participant, init = start_conversation(program.bundle(), Duress(ts=5), random=rnd)
    env = Envelope.from_bytes(init)
    assert env.init is not None and (env.init.prekey_kind, env.init.prekey_id) == (1, 1)
    _, payload = program.accept(init, rnd)
    assert payload == Duress(ts=5)


def test_skipped_counters_are_reported() -> None:
    participant, worker, _, rnd = opened()
    envs = []
    for i in range(3):
        participant, env = participant.encrypt(Text(body=str(i), ts=i), random=rnd)
        envs.append(env)
    worker, payload, skipped = worker.decrypt(envs[2], random=rnd)
    dh = Envelope.from_bytes(envs[2]).header.dh
    assert skipped == (MessageId(dh, 1), MessageId(dh, 2))  # counter 0 was the init
    worker, payload, skipped = worker.decrypt(envs[0], random=rnd)
    assert payload == Text(body="0", ts=0) and skipped == ()


def test_replays_are_refused() -> None:
    participant, worker, init, rnd = opened()
    participant, env = participant.encrypt(Text(body="x", ts=1), random=rnd)
    worker2, _, _ = worker.decrypt(env, random=rnd)
    with pytest.raises(ReplayedMessage):
        worker2.decrypt(env, random=rnd)
    with pytest.raises(ReplayedMessage):  # the init again, into the live session
        worker2.decrypt(init, random=rnd)


def test_oversized_envelope() -> None:
    _participant, worker, _, rnd = opened()
    with pytest.raises(OversizedInput):
        worker.decrypt(b"\x01\x02" + bytes(MAX_ENVELOPE_SIZE), random=rnd)


def test_too_many_skipped() -> None:
    participant, worker, _, rnd = opened()
    for i in range(5):
        participant, env = participant.encrypt(Text(body=str(i), ts=i), random=rnd)
    with pytest.raises(TooManySkipped):
        worker.decrypt(env, random=rnd, max_skip=3)


def test_wrong_conversation_slot_or_direction() -> None:
    participant, worker, init, rnd = opened()
    other, _, _, _ = opened(2)
    other, foreign = other.encrypt(Text(body="x", ts=1), random=rnd)
    with pytest.raises(DecryptionError):
        worker.decrypt(foreign, random=rnd)
    participant, own = participant.encrypt(Text(body="x", ts=1), random=rnd)
    with pytest.raises(DecryptionError):  # its own message reflected back
        participant.decrypt(own, random=rnd)
    with pytest.raises(DecryptionError):  # a participant never receives an init
        participant.decrypt(init, random=rnd)


def test_accept_refuses() -> None:
    participant, _, init, rnd = opened()
    participant, message = participant.encrypt(Text(body="x", ts=1), random=rnd)
    program = Program()
    with pytest.raises(DecryptionError):  # not an init
        program.accept(message, rnd)
    with pytest.raises(DecryptionError):  # unknown prekey
        accept_conversation(
            init, lambda kind, pid: None, program_id=IDENTITY.program_id, random=rnd
        )
    with pytest.raises(DecryptionError):  # another program's id in the info
        accept_conversation(init, program.secret_for, program_id=bytes(16), random=rnd)
    with pytest.raises(DecryptionError):  # addressed to another slot
        accept_conversation(
            init, program.secret_for, program_id=IDENTITY.program_id, random=rnd, local_slot=2
        )
    with pytest.raises(LocalProtocolError):
        accept_conversation(init, program.secret_for, program_id=b"short", random=rnd)


def test_malformed_payload_from_an_authenticated_peer() -> None:
    participant, worker, _, rnd = opened()
    before = worker.to_bytes()
    bad_plaintexts = [
        b"\x00" * 256,
        pad(b"not json"),
        pad(b'{"t":"nope"}'),
        pad(b'{"t":"notice","kind":[],"body":"x","ts":1}'),
        pad(b'{"t":"notice","kind":{"a":1},"body":"x","ts":1}'),
        pad(b'{"t":"answers","answers":{"not an id":"x"},"ts":1}'),
    ]
    state = participant.ratchet
    for plaintext in bad_plaintexts:

        def aad(header: Header, p: ParticipantSession = participant) -> bytes:
            return Envelope(p.conversation_id, 0, 1, header, b"\x00" * 284).aad

        out = ratchet_encrypt(state, plaintext, aad, rnd)
        state = out.state
        env = Envelope(participant.conversation_id, 0, 1, out.header, out.ciphertext).to_bytes()
        with pytest.raises(MalformedInput):
            worker.decrypt(env, random=rnd)
    assert worker.to_bytes() == before


def test_serialisation() -> None:
    participant, worker, _, rnd = opened()
    for session, cls in ((participant, ParticipantSession), (worker, ProgramSession)):
        data = session.to_bytes()
        assert data[0] == 1
        restored = Session.from_bytes(data)
        assert type(restored) is cls and restored == session
        assert cls.from_bytes(data) == session
    with pytest.raises(MalformedInput):
        ProgramSession.from_bytes(participant.to_bytes())
    bad = [
        b"",
        b"\x02" + worker.to_bytes()[1:],
        worker.to_bytes()[:1] + b"\x05" + worker.to_bytes()[2:],
        worker.to_bytes()[:18] + b"\x01\x01" + worker.to_bytes()[20:],
        worker.to_bytes()[:-1],
    ]
    for data in bad:
        with pytest.raises(MalformedInput):
            Session.from_bytes(data)
    with pytest.raises(MalformedInput):
        Session.from_bytes("x")  # type: ignore[arg-type]
    # a restored session keeps talking
    worker = ProgramSession.from_bytes(worker.to_bytes())
    worker, env = worker.encrypt(Close(reason="bye", ts=9), random=rnd)
    assert ParticipantSession.from_bytes(participant.to_bytes()).decrypt(
        env, random=rnd
    ).payload == Close(reason="bye", ts=9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"conversation_id": b"x"},
        {"local_slot": 9},
        {"remote_slot": 0},
        {"ratchet": b""},
        {"local_slot": True},
    ],
)
def test_session_constructor_refuses(kwargs: dict[str, object]) -> None:
    participant, _, _, _ = opened()
    fields: dict[str, object] = {
        "conversation_id": participant.conversation_id,
        "local_slot": 0,
        "remote_slot": 1,
        "ratchet": participant.ratchet,
    }
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError):
        ParticipantSession(**fields)  # type: ignore[arg-type]


def test_repr_hides_ratchet() -> None:
    participant, _, _, _ = opened()
    assert "ratchet" not in repr(participant) and participant.ratchet.root_key.hex() not in repr(
        participant
    )


# -- every single bit ------------------------------------------------------------------------


def _flips(data: bytes) -> list[bytes]:
    return [
        data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :]
        for i in range(len(data))
        for b in range(8)
    ]


def test_every_bit_of_an_init_envelope() -> None:
    rnd = seeded(11)
    program = Program()
    _, init = start_conversation(program.bundle(), Text(body="hi", ts=1), random=rnd)
    assert len(init) == 97 + 284
    for flipped in _flips(init):
        with pytest.raises((DecryptionError, MalformedInput)):
            program.accept(flipped, rnd)
    _session, payload = program.accept(init, rnd)  # the original still works
    assert payload == Text(body="hi", ts=1)


@pytest.mark.parametrize("dh_step", [False, True])
def test_every_bit_of_a_message_envelope(dh_step: bool) -> None:
    participant, worker, _, rnd = opened(5)
    if dh_step:  # the message under test starts a new chain on the receiving side
        worker, env = worker.encrypt(Text(body="w", ts=1), random=rnd)
        participant, _, _ = participant.decrypt(env, random=rnd)
    participant, env = participant.encrypt(Text(body="under test", ts=2), random=rnd)
    assert len(env) == 60 + 284
    before = worker.to_bytes()
    for flipped in _flips(env):
        with pytest.raises((DecryptionError, MalformedInput)):
            worker.decrypt(flipped, random=rnd)
        assert worker.to_bytes() == before
    assert worker.decrypt(env, random=rnd).payload == Text(body="under test", ts=2)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_decrypt_arbitrary_bytes_only_typed_errors(data: bytes) -> None:
    participant, worker, _, rnd = SHARED
    for session in (participant, worker):
        with pytest.raises((DecryptionError, MalformedInput)):
            session.decrypt(data, random=rnd)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_decrypt_mutated_envelopes_only_typed_errors(data: st.DataObject) -> None:
    _participant, worker, _, rnd = SHARED
    raw = bytearray(SHARED_ENVELOPE)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))] if data.draw(st.booleans()) else raw
    if bytes(raw) == SHARED_ENVELOPE:
        return
    with pytest.raises(QuietlineError) as info:
        worker.decrypt(bytes(raw), random=rnd)
    assert isinstance(info.value, DecryptionError | MalformedInput)


SHARED = opened(99)
SHARED_ENVELOPE = SHARED[0].encrypt(Text(body="shared", ts=3), random=SHARED[3])[1]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_session_parser_on_arbitrary_bytes(data: bytes) -> None:
    try:
        Session.from_bytes(data)
    except MalformedInput:
        return


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_session_parser_on_mutations(data: st.DataObject) -> None:
    raw = bytearray(SHARED[1].to_bytes())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        parsed = Session.from_bytes(bytes(raw))
    except MalformedInput:
        return
    assert parsed.to_bytes() == bytes(raw)


# -- review fixes: plaintext out of reprs, constant-time equality ----------------------------


def test_received_repr_hides_the_plaintext() -> None:
    participant, worker, _, rnd = opened()
    worker, env = worker.encrypt(Text(body="the address is 12 Elm St", ts=7), random=rnd)
    received = participant.decrypt(env, random=rnd)
    text = repr(received)
    assert "Elm" not in text and "12" not in text and "ratchet" not in text
    assert text == "Received(payload=Text(body=<24 chars>, ts=<hidden>), skipped=0)"


def test_session_equality_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import e2ee.session

    participant, worker, _, _ = opened()
    calls: list[tuple[bytes, bytes]] = []
    real = e2ee.session.constant_time_equal

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(e2ee.session, "constant_time_equal", spy)
    assert worker == ProgramSession.from_bytes(worker.to_bytes())
    assert calls == [(worker.to_bytes(), worker.to_bytes())]
    later, _ = worker.encrypt(Text(body="x", ts=1), random=seeded(1))
    assert later != worker and worker != participant and worker != "session"
    with pytest.raises(TypeError):
        hash(worker)


# -- issue 18: one encryption per session, and no key+nonce reuse after a restore -----------


def test_a_second_encryption_from_one_session_is_refused() -> None:
    participant, worker, _, rnd = opened()
    later, env = worker.encrypt(Text(body="first", ts=1), random=rnd)
    with pytest.raises(LocalProtocolError, match="already encrypted"):
        worker.encrypt(Text(body="second", ts=2), random=rnd)
    later, env2 = later.encrypt(Text(body="second", ts=2), random=rnd)
    for envelope, expected in ((env, Text(body="first", ts=1)), (env2, Text(body="second", ts=2))):
        participant, payload, _ = participant.decrypt(envelope, random=rnd)
        assert payload == expected


def test_the_init_consumes_its_nonce_after_the_handshake_randomness() -> None:
    rnd = seeded(21)
    drawn: list[int] = []

    def counting(n: int) -> bytes:
        drawn.append(n)
        return rnd(n)

    _, init = start_conversation(Program().bundle(), Text(body="hi", ts=1), random=counting)
    assert drawn == [16, 32, 32, 12]
    replay = seeded(21)
    replay(16 + 32 + 32)
    assert Envelope.from_bytes(init).nonce == replay(12)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def test_restored_session_never_reuses_a_key_and_nonce() -> None:
    """Two messages sent from one saved state must not give the relay ``pt1 XOR pt2``.

    The program node saves its session, sends ``pt1``, then a backup or a snapshot brings
    the saved session back and it sends ``pt2``: both messages use the same message key
    (the same chain, the same counter). Before issue 18, ENCRYPT used the constant nonce
    ``bytes(12)``, so both were AES-CTR under one key stream ``S``:
    ``ct1 = pt1 XOR S`` and ``ct2 = pt2 XOR S``, hence ``ct1 XOR ct2 == pt1 XOR pt2`` and
    the relay, which holds both envelopes, reads one message from the other (and GCM's
    authentication key leaks too). This test checks that relation on the old construction
    (AES-256-GCM under the same message key with the zero nonce), then checks that the
    two envelopes really sent share the message key and that their ciphertexts do NOT
    satisfy it. On the code before issue 18 the last checks fail: its envelopes are the
    old construction's ciphertexts.
    """
    participant, worker, _, rnd = opened(31)
    saved = worker.to_bytes()
    pt1 = pad(encode_payload(Text(body="She is at 14 Birch Road, flat 2", ts=1)))
    pt2 = pad(encode_payload(Text(body="Call the shelter before 9 tonight", ts=2)))
    assert len(pt1) == len(pt2) == 256

    # The sender's message key for the next message, and the old ENCRYPT's outputs.
    chain_key = worker.ratchet.send_chain_key
    assert chain_key is not None
    message_key = hmac_sha256(chain_key, b"\x01")
    sent1 = Envelope.from_bytes(worker.encrypt(decode(pt1), random=rnd)[1])
    restored = ProgramSession.from_bytes(saved)
    sent2 = Envelope.from_bytes(restored.encrypt(decode(pt2), random=rnd)[1])
    assert sent1.header == sent2.header  # one chain, one counter: one message key
    old1 = aes256gcm_encrypt(message_key, bytes(12), pt1, sent1.aad)
    old2 = aes256gcm_encrypt(message_key, bytes(12), pt2, sent2.aad)
    assert _xor(old1[:-16], old2[:-16]) == _xor(pt1, pt2)  # what the old code leaked

    # What the relay holds: wherever it aligns the two ciphertexts, no XOR gives pt1 XOR pt2.
    ct1, ct2 = sent1.ciphertext, sent2.ciphertext
    for offset in range(len(ct1) - 256 + 1):
        window = slice(offset, offset + 256)
        assert _xor(ct1[window], ct2[window]) != _xor(pt1, pt2)
    # The new envelopes: a fresh nonce each, sent in front of the GCM output.
    assert sent1.nonce != sent2.nonce
    assert aes256gcm_encrypt(message_key, sent1.nonce, pt1, sent1.aad) == sent1.ciphertext[12:]
    # The peer reads the first and refuses the second: at worst refused, never leaked.
    participant, payload, _ = participant.decrypt(sent1.to_bytes(), random=rnd)
    assert payload == decode(pt1)
    with pytest.raises(ReplayedMessage):
        participant.decrypt(sent2.to_bytes(), random=rnd)


def decode(padded: bytes) -> Payload:
    return decode_payload(unpad(padded))
