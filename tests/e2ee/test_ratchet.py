"""The Double Ratchet state machine: order, gaps, replays, bounds, serialisation."""

from __future__ import annotations

import contextlib
import random as stdlib_random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee import ratchet
from e2ee.envelope import Header
from e2ee.errors import (
    DecryptionError,
    LocalProtocolError,
    MalformedInput,
    ReplayedMessage,
    TooManySkipped,
)
from e2ee.primitives import aes256gcm_encrypt, hkdf, hmac_sha256, x25519_generate
from e2ee.ratchet import (
    COUNTER_LIMIT,
    MessageId,
    RatchetState,
    decrypt,
    encrypt,
    init_alice,
    init_bob,
)

SK = bytes(range(32))


def seeded(seed: int) -> Callable[[int], bytes]:
    return stdlib_random.Random(seed).randbytes


def aad(header: Header) -> bytes:
    return b"AD" + header.to_bytes()


NONCES = seeded(12)
"""The senders' nonces in these tests: fixed, and no assertion depends on their values."""


def pair(seed: int = 1) -> tuple[RatchetState, RatchetState, Callable[[int], bytes]]:
    rnd = seeded(seed)
    bob_secret, bob_public = x25519_generate(rnd)
    return init_alice(SK, bob_public, rnd), init_bob(SK, bob_secret, bob_public), rnd


Message = tuple[Header, bytes]


def send(state: RatchetState, text: bytes) -> tuple[RatchetState, Message]:
    out = encrypt(state, text, aad, NONCES)
    return out.state, (out.header, out.ciphertext)


def recv(
    state: RatchetState, message: Message, rnd: Callable[[int], bytes], **kw: int
) -> ratchet.Decrypted:
    header, ciphertext = message
    return decrypt(state, header, ciphertext, aad(header), rnd, **kw)


def test_kdfs_match_the_spec_definitions() -> None:
    rk, dh = bytes([1]) * 32, bytes([2]) * 32
    assert ratchet.kdf_rk(rk, dh) == (
        hkdf(rk, dh, b"quietline/v1/kdf-rk", 64)[:32],
        hkdf(rk, dh, b"quietline/v1/kdf-rk", 64)[32:],
    )
    ck = bytes([3]) * 32
    assert ratchet.kdf_ck(ck) == (hmac_sha256(ck, b"\x02"), hmac_sha256(ck, b"\x01"))
    assert ratchet.NONCE_SIZE == 12 and ratchet.ENCRYPTED_OVERHEAD == 28


def test_encrypt_is_a_random_nonce_then_aes256gcm_with_the_message_key() -> None:
    alice, _, _ = pair()
    assert alice.send_chain_key is not None
    message_key = hmac_sha256(alice.send_chain_key, b"\x01")
    drawn: list[bytes] = []

    def random(n: int) -> bytes:
        drawn.append(seeded(5)(n))
        return drawn[-1]

    out = encrypt(alice, b"spec", aad, random)
    [nonce] = drawn
    assert len(nonce) == 12
    assert out.ciphertext == nonce + aes256gcm_encrypt(message_key, nonce, b"spec", aad(out.header))


def test_ping_pong_with_dh_steps() -> None:
    alice, bob, rnd = pair()
    for i in range(6):
        alice, m = send(alice, b"a%d" % i)
        out = recv(bob, m, rnd)
        bob = out.state
        assert out.plaintext == b"a%d" % i and out.skipped == () and not out.late
        bob, m = send(bob, b"b%d" % i)
        out = recv(alice, m, rnd)
        alice = out.state
        assert out.plaintext == b"b%d" % i
    assert alice.dhr == bob.dhs_public  # Alice stepped; Bob learns her new key next
    assert alice.skipped == () and bob.skipped == ()


def test_bob_cannot_send_first() -> None:
    _, bob, _ = pair()
    with pytest.raises(LocalProtocolError):
        encrypt(bob, b"x", aad, NONCES)


def test_out_of_order_within_and_across_chains() -> None:
    alice, bob, rnd = pair()
    sent = []
    for i in range(4):
        alice, m = send(alice, b"%d" % i)
        sent.append(m)
    out = recv(bob, sent[3], rnd)
    bob = out.state
    assert out.skipped == tuple(MessageId(alice.dhs_public, n) for n in range(3))
    assert len(bob.skipped) == 3
    # Bob answers; Alice steps; Alice's next chain reports pn = 4.
    bob, reply = send(bob, b"r")
    alice = recv(alice, reply, rnd).state
    alice, m5 = send(alice, b"new chain")
    out = recv(bob, m5, rnd)
    bob = out.state
    assert out.plaintext == b"new chain" and out.skipped == ()
    for i in (1, 0, 2):
        out = recv(bob, sent[i], rnd)
        assert out.late and out.plaintext == b"%d" % i
        bob = out.state
    assert bob.skipped == ()


def test_skipped_keys_of_the_previous_chain_via_pn() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    alice, lost1 = send(alice, b"1")
    alice, lost2 = send(alice, b"2")
    bob, reply = send(bob, b"r")
    alice = recv(alice, reply, rnd).state
    alice, m = send(alice, b"after")
    out = recv(bob, m, rnd)
    assert out.skipped[:2] == (MessageId(lost1[0].dh, 1), MessageId(lost1[0].dh, 2))
    bob = out.state
    assert recv(bob, lost2, rnd).plaintext == b"2"


def test_replay_in_current_chain() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    with pytest.raises(ReplayedMessage):
        recv(bob, m0, rnd)


def test_replay_of_a_used_skipped_key() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    alice, m1 = send(alice, b"1")
    bob = recv(bob, m1, rnd).state
    bob = recv(bob, m0, rnd).state
    with pytest.raises(ReplayedMessage):
        recv(bob, m0, rnd)


def test_replay_from_an_old_chain() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    bob, r = send(bob, b"r")
    alice = recv(alice, r, rnd).state
    alice, m1 = send(alice, b"1")
    bob = recv(bob, m1, rnd).state
    with pytest.raises(ReplayedMessage):
        recv(bob, m0, rnd)


def test_too_many_skipped_in_current_chain() -> None:
    alice, bob, rnd = pair()
    messages = []
    for i in range(6):
        alice, m = send(alice, b"%d" % i)
        messages.append(m)
    with pytest.raises(TooManySkipped):
        recv(bob, messages[5], rnd, max_skip=4)
    assert recv(bob, messages[4], rnd, max_skip=4).skipped[-1].n == 3


def test_too_many_skipped_in_previous_chain() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    for _ in range(5):
        alice, _m = send(alice, b"lost")
    bob, r = send(bob, b"r")
    alice = recv(alice, r, rnd).state
    alice, m = send(alice, b"new")
    with pytest.raises(TooManySkipped):
        recv(bob, m, rnd, max_skip=4)
    assert recv(bob, m, rnd, max_skip=5).plaintext == b"new"


def test_stored_skipped_bound_drops_oldest() -> None:
    alice, bob, rnd = pair()
    messages = []
    for i in range(8):
        alice, m = send(alice, b"%d" % i)
        messages.append(m)
    out = recv(bob, messages[7], rnd, max_stored_skipped=4)
    assert [k.n for k in out.state.skipped] == [3, 4, 5, 6]
    assert [d.n for d in out.discarded] == [0, 1, 2]
    with pytest.raises(ReplayedMessage):  # its key is gone for good
        recv(out.state, messages[0], rnd)
    assert recv(out.state, messages[3], rnd).plaintext == b"3"


def test_failed_decryption_changes_nothing_and_state_still_works() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    header, ct = m0
    before = bob.to_bytes()
    with pytest.raises(DecryptionError):
        decrypt(bob, header, ct[:-1] + bytes([ct[-1] ^ 1]), aad(header), rnd)
    with pytest.raises(DecryptionError):
        decrypt(bob, header, ct, b"other" + header.to_bytes(), rnd)
    assert bob.to_bytes() == before
    assert recv(bob, m0, rnd).plaintext == b"0"


def test_tampered_late_message_keeps_its_key() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    alice, m1 = send(alice, b"1")
    bob = recv(bob, m1, rnd).state
    header, ct = m0
    with pytest.raises(DecryptionError):
        decrypt(bob, header, bytes([ct[0] ^ 1]) + ct[1:], aad(header), rnd)
    assert recv(bob, m0, rnd).plaintext == b"0"


def test_header_claiming_bobs_prekey_as_current_chain() -> None:
    alice, _bob, rnd = pair()
    assert alice.dhr is not None
    fake = Header(dh=alice.dhr, pn=0, n=0)
    with pytest.raises(DecryptionError):
        decrypt(alice, fake, bytes(272), aad(fake), rnd)


def test_low_order_ratchet_key_is_a_decryption_error() -> None:
    _alice, bob, rnd = pair()
    fake = Header(dh=bytes(32), pn=0, n=0)
    with pytest.raises(DecryptionError):
        decrypt(bob, fake, bytes(272), aad(fake), rnd)


def test_counter_limits() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    assert alice.send_chain_key is not None
    message_key = hmac_sha256(alice.send_chain_key, b"\x01")
    # A genuine message at counter 2**32 - 2 opens; one at 2**32 - 1 (no sender makes it,
    # and n + 1 would not fit the state's u32) is refused though its tag is good.
    for n, accepted in ((COUNTER_LIMIT - 1, True), (COUNTER_LIMIT, False)):
        header = Header(dh=alice.dhs_public, pn=0, n=n)
        nonce = NONCES(12)
        ct = nonce + aes256gcm_encrypt(message_key, nonce, b"last", aad(header))
        at_limit = bob._replace(nr=n)
        if accepted:
            out = decrypt(at_limit, header, ct, aad(header), rnd)
            assert out.plaintext == b"last" and out.state.nr == COUNTER_LIMIT
            assert RatchetState.from_bytes(out.state.to_bytes()) == out.state
        else:
            with pytest.raises(DecryptionError) as refused:
                decrypt(at_limit, header, ct, aad(header), rnd)
            assert type(refused.value) is DecryptionError
    exhausted = alice._replace(ns=COUNTER_LIMIT)
    assert RatchetState.from_bytes(exhausted.to_bytes()).ns == COUNTER_LIMIT
    with pytest.raises(LocalProtocolError):
        encrypt(exhausted, b"x", aad, NONCES)


def test_init_checks() -> None:
    rnd = seeded(3)
    secret, public = x25519_generate(rnd)
    with pytest.raises(LocalProtocolError):
        init_bob(SK, secret, bytes(32))
    with pytest.raises(LocalProtocolError):
        init_alice(SK[:31], public, rnd)
    with pytest.raises(LocalProtocolError):
        init_alice(SK, "x", rnd)  # type: ignore[arg-type]


def test_repr_hides_keys() -> None:
    alice, bob, rnd = pair()
    alice, m = send(alice, b"secret text")
    out = recv(bob, m, rnd)
    for text in (repr(alice), repr(out), repr(out.state)):
        assert alice.root_key.hex() not in text and "secret" not in text
    alice, _m1 = send(alice, b"1")
    alice, m2 = send(alice, b"2")
    late = recv(out.state, m2, rnd).state
    assert "message_key=<hidden>" in repr(late.skipped[0])


def test_serialisation_round_trip_and_resume() -> None:
    alice, bob, rnd = pair()
    alice, _m0 = send(alice, b"0")
    alice, m1 = send(alice, b"1")
    alice, m2 = send(alice, b"2")
    bob = recv(bob, m2, rnd).state
    for state in (alice, bob):
        assert RatchetState.from_bytes(state.to_bytes()) == state
    bob = RatchetState.from_bytes(bob.to_bytes())
    assert recv(bob, m1, rnd).plaintext == b"1"
    _, fresh_bob, _ = pair(9)
    assert RatchetState.from_bytes(fresh_bob.to_bytes()) == fresh_bob


def _serialised_with_old_chain() -> bytes:
    alice, bob, rnd = pair()
    alice, _m0 = send(alice, b"0")
    alice, m1 = send(alice, b"1")
    bob = recv(bob, m1, rnd).state
    bob, r = send(bob, b"r")
    alice = recv(alice, r, rnd).state
    alice, m = send(alice, b"x")
    bob = recv(bob, m, rnd).state
    assert bob.previous_dhr and bob.skipped
    return bob.to_bytes()


def test_strict_state_parser() -> None:
    good = _serialised_with_old_chain()
    RatchetState.from_bytes(good)
    bad = [
        b"",
        b"\x02" + good[1:],  # version
        good[:1] + b"\x08" + good[2:],  # unknown flag
        good[:1] + b"\x06" + good[2:],  # chain keys without dhr: shorter, mismatched
        good + b"\x00",
        good[:-1],
        good[:2] + bytes(32) + good[34:],  # secret does not match public
    ]
    for data in bad:
        with pytest.raises(MalformedInput):
            RatchetState.from_bytes(data)
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes("x")  # type: ignore[arg-type]


def test_parser_refuses_duplicate_skipped_keys_and_inconsistent_flags() -> None:
    alice, bob, rnd = pair()
    messages = []
    for i in range(3):
        alice, m = send(alice, b"%d" % i)
        messages.append(m)
    bob = recv(bob, messages[2], rnd).state
    dup = RatchetState(
        bob.dhs_secret,
        bob.dhs_public,
        bob.dhr,
        bob.root_key,
        bob.send_chain_key,
        bob.recv_chain_key,
        bob.ns,
        bob.nr,
        bob.pn,
        (bob.skipped[0], bob.skipped[0]),
        (),
    )
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes(dup.to_bytes())
    inconsistent = RatchetState(
        bob.dhs_secret, bob.dhs_public, None, bob.root_key, bob.send_chain_key, None
    )
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes(inconsistent.to_bytes())
    lying_count = bytearray(bob.to_bytes())
    lying_count[-(1 + 2 * 68 + 4) : -(1 + 2 * 68)] = (10**6).to_bytes(4, "big")
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes(bytes(lying_count))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_state_parser_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        RatchetState.from_bytes(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_state_parser_on_mutations(data: st.DataObject) -> None:
    raw = bytearray(_serialised_with_old_chain())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        parsed = RatchetState.from_bytes(bytes(raw))
    except MalformedInput:
        return
    assert parsed.to_bytes() == bytes(raw)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.binary(max_size=64)), min_size=1, max_size=30),
    st.integers(0, 2**32),
)
def test_any_exchange_in_order_round_trips(script: list[tuple[bool, bytes]], seed: int) -> None:
    alice, bob, rnd = pair(seed)
    alice, first = send(alice, b"hello")
    bob = recv(bob, first, rnd).state
    for from_alice, text in script:
        if from_alice:
            alice, m = send(alice, text)
            out = recv(bob, m, rnd)
            bob = out.state
        else:
            bob, m = send(bob, text)
            out = recv(alice, m, rnd)
            alice = out.state
        assert out.plaintext == text
        assert RatchetState.from_bytes(alice.to_bytes()) == alice


# -- review fixes: constant-time equality, bounds in the parser, plaintext type -------------


def _spy_constant_time(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    calls: list[tuple[bytes, bytes]] = []
    real = ratchet.constant_time_equal

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ratchet, "constant_time_equal", spy)
    return calls


def test_state_equality_is_constant_time_and_states_are_not_ordered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice, bob, _ = pair()
    copy = RatchetState.from_bytes(alice.to_bytes())
    calls = _spy_constant_time(monkeypatch)
    assert alice == copy and (alice != copy) is False
    assert alice != bob and (alice == bob) is False
    assert calls[0] == (alice.to_bytes(), copy.to_bytes()) and len(calls) == 4
    plain = tuple(alice)
    assert alice != alice.to_bytes() and alice != plain and plain != alice
    assert (alice == plain) is False and (plain == alice) is False and len(calls) == 4
    for compare in (
        lambda: alice < bob,  # type: ignore[operator]
        lambda: alice <= bob,  # type: ignore[operator]
        lambda: alice > bob,  # type: ignore[operator]
        lambda: alice >= bob,  # type: ignore[operator]
        lambda: alice < plain,  # type: ignore[operator]
        lambda: plain > alice,  # type: ignore[operator]
        lambda: hash(alice),
    ):
        with pytest.raises(TypeError):
            compare()


def test_skipped_key_equality_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    key = ratchet.SkippedKey(b"d" * 32, 3, b"k" * 32)
    calls = _spy_constant_time(monkeypatch)
    assert key == ratchet.SkippedKey(b"d" * 32, 3, b"k" * 32)
    assert key != ratchet.SkippedKey(b"d" * 32, 3, b"K" * 32)
    assert key != ratchet.SkippedKey(b"d" * 32, 4, b"k" * 32)
    assert key != (b"d" * 32, 3, b"k" * 32)
    assert len(calls) == 3
    with pytest.raises(TypeError):
        hash(key)


def _with_counts(state: RatchetState, skipped: int, previous: int) -> bytes:
    keys = tuple(ratchet.SkippedKey(b"d" * 32, n, b"k" * 32) for n in range(skipped))
    return state._replace(skipped=keys, previous_dhr=(b"p" * 32,) * previous).to_bytes()


def test_state_parser_enforces_the_bounds() -> None:
    alice, _, _ = pair()
    limit = ratchet.MAX_STORED_SKIPPED
    assert len(RatchetState.from_bytes(_with_counts(alice, limit, 0)).skipped) == limit
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes(_with_counts(alice, limit + 1, 0))
    more = RatchetState.from_bytes(_with_counts(alice, 5, 0), max_stored_skipped=5)
    assert len(more.skipped) == 5
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes(_with_counts(alice, 5, 0), max_stored_skipped=4)
    empty = _with_counts(alice, 0, 0)
    assert empty[-5:] == bytes(5)  # u32 skipped count = 0, u8 previous count = 0
    with pytest.raises(MalformedInput):  # one skipped key announced, none present
        RatchetState.from_bytes(empty[:-5] + (1).to_bytes(4, "big") + b"\x00")
    previous = ratchet.PREVIOUS_RATCHET_KEYS
    assert len(RatchetState.from_bytes(_with_counts(alice, 0, previous)).previous_dhr) == previous
    with pytest.raises(MalformedInput):
        RatchetState.from_bytes(_with_counts(alice, 0, previous + 1))


@pytest.mark.parametrize("plaintext", [5, 0, "text", None, [1, 2], 1.5])
def test_encrypt_refuses_a_plaintext_that_is_not_bytes(plaintext: object) -> None:
    alice, _, _ = pair()
    with pytest.raises(LocalProtocolError):
        encrypt(alice, plaintext, aad, NONCES)  # type: ignore[arg-type]


def test_encrypt_accepts_bytes_like_plaintext() -> None:
    alice, bob, rnd = pair()
    for plaintext in (bytearray(b"ba"), memoryview(b"mv")):
        alice, header, ct = encrypt(alice, plaintext, aad, NONCES)  # type: ignore[arg-type]
        out = decrypt(bob, header, ct, aad(header), rnd)
        assert out.plaintext == bytes(plaintext)
        bob = out.state


# -- issue 18: a random nonce per encryption, and one encryption per state ----------------


def test_a_second_encryption_from_one_state_is_refused() -> None:
    alice, bob, rnd = pair()
    first = encrypt(alice, b"one", aad, NONCES)
    with pytest.raises(LocalProtocolError, match="already encrypted"):
        encrypt(alice, b"two", aad, NONCES)
    with pytest.raises(LocalProtocolError):  # a _replace copy is the same sending position
        encrypt(alice._replace(nr=alice.nr), b"two", aad, NONCES)
    out = decrypt(bob, first.header, first.ciphertext, aad(first.header), rnd)
    assert out.plaintext == b"one"
    assert encrypt(first.state, b"two", aad, NONCES).header.n == 1  # the returned state sends


def test_a_state_decrypted_without_a_dh_step_shares_the_sending_position() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    bob_sent = encrypt(bob, b"r0", aad, NONCES)  # Bob encrypts from `bob` ...
    alice, m1 = send(alice, b"1")
    same_chain = recv(bob, m1, rnd).state  # ... then decrypts from it: no DH step
    assert same_chain.send_chain_key == bob.send_chain_key
    with pytest.raises(LocalProtocolError):
        encrypt(same_chain, b"r0 again", aad, NONCES)
    # A late message opened with a stored key keeps the position too.
    alice, m2 = send(alice, b"2")
    alice, m3 = send(alice, b"3")
    ahead = recv(bob_sent.state, m3, rnd).state
    sent_again = encrypt(ahead, b"r1", aad, NONCES)
    late = recv(ahead, m2, rnd)
    assert late.late and late.plaintext == b"2"
    with pytest.raises(LocalProtocolError):
        encrypt(late.state, b"r1 again", aad, NONCES)
    assert recv(alice, (sent_again.header, sent_again.ciphertext), rnd).plaintext == b"r1"


def test_a_dh_step_starts_a_new_sending_position() -> None:
    alice, bob, rnd = pair()
    alice, m0 = send(alice, b"0")
    bob = recv(bob, m0, rnd).state
    bob_out = encrypt(bob, b"r", aad, NONCES)
    stepped = recv(alice, (bob_out.header, bob_out.ciphertext), rnd).state
    encrypt(alice, b"x", aad, NONCES)  # spends alice's position, not stepped's
    assert encrypt(stepped, b"y", aad, NONCES).header.dh == stepped.dhs_public


def test_a_refused_or_failed_encryption_spends_nothing() -> None:
    alice, bob, rnd = pair()

    def broken(header: Header) -> bytes:
        raise LocalProtocolError("no aad")

    with pytest.raises(LocalProtocolError, match="no aad"):
        encrypt(alice, b"x", broken, NONCES)
    with pytest.raises(LocalProtocolError, match="random"):
        encrypt(alice, b"x", aad, lambda n: bytes(n - 1))
    out = encrypt(alice, b"x", aad, NONCES)
    assert recv(bob, (out.header, out.ciphertext), rnd).plaintext == b"x"


def test_the_nonce_is_authenticated() -> None:
    alice, bob, rnd = pair()
    alice, (header, ct) = send(alice, b"0")
    for index in range(12):  # every bit of the nonce
        for bit in range(8):
            tampered = ct[:index] + bytes([ct[index] ^ (1 << bit)]) + ct[index + 1 :]
            with pytest.raises(DecryptionError) as refused:
                decrypt(bob, header, tampered, aad(header), rnd)
            assert type(refused.value) is DecryptionError
    with pytest.raises(DecryptionError):  # shorter than a nonce and a tag
        decrypt(bob, header, ct[:27], aad(header), rnd)
    assert recv(bob, (header, ct), rnd).plaintext == b"0"


def test_a_restored_state_sends_under_a_fresh_nonce_and_the_peer_refuses_it() -> None:
    """A copy of a state (a backup, a snapshot) encrypts again with its used message key.

    With the old constant nonce, both ciphertexts were the same key stream XOR two
    plaintexts: ``ct1 XOR ct2 == pt1 XOR pt2`` (see tests/e2ee/test_session.py for the
    relation checked in full). With a fresh nonce each, the key streams are unrelated.
    """
    alice, bob, rnd = pair()
    saved = alice.to_bytes()
    pt1, pt2 = b"meet me at the library at 5pm", b"I am at my sister's place now"
    first = encrypt(alice, pt1, aad, NONCES)
    again = encrypt(RatchetState.from_bytes(saved), pt2, aad, NONCES)
    assert first.header == again.header  # the same message key: counter 0 of one chain
    assert first.ciphertext[:12] != again.ciphertext[:12]
    body1, body2 = first.ciphertext[12:-16], again.ciphertext[12:-16]
    xor_ct = bytes(a ^ b for a, b in zip(body1, body2, strict=True))
    assert xor_ct != bytes(a ^ b for a, b in zip(pt1, pt2, strict=True))
    out = decrypt(bob, first.header, first.ciphertext, aad(first.header), rnd)
    assert out.plaintext == pt1
    with pytest.raises(ReplayedMessage):
        decrypt(out.state, again.header, again.ciphertext, aad(again.header), rnd)


def test_send_guard_is_shared_by_copies_and_fresh_after_parsing() -> None:
    alice, _, _ = pair()
    assert alice.send_guard == ratchet.new_send_guard() == b"\x01"
    copy = alice._replace(nr=0)
    assert copy.send_guard is alice.send_guard
    assert RatchetState.from_bytes(alice.to_bytes()).send_guard is not alice.send_guard
    encrypt(alice, b"x", aad, NONCES)
    assert alice.send_guard == b"" and not copy.send_guard  # spent for both
