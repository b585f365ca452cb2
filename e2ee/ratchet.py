"""The Double Ratchet (Signal specification, revision 1, 2016-11-20), sans-I/O.

Instantiation (docs/protocol.md, "Double Ratchet"):

- ``GENERATE_DH()``: 32 bytes from the caller's ``random`` as the X25519 secret.
- ``KDF_RK(rk, dh_out) = HKDF-SHA256(salt=rk, ikm=dh_out, info="quietline/v1/kdf-rk", L=64)``,
  first half the new root key, second half the new chain key.
- ``KDF_CK(ck)``: ``message_key = HMAC-SHA256(ck, 0x01)``, ``chain_key = HMAC-SHA256(ck, 0x02)``.
- ``ENCRYPT(mk, pt, aad)``: ``nonce || AES-256-GCM(key=mk, nonce, pt, aad)`` where
  ``nonce`` is 12 fresh bytes from the caller's ``random`` (:data:`NONCE_SIZE`), and mk
  the 32-byte message key of ``KDF_CK``. The specification lets the nonce be "chosen
  randomly and transmitted" (section 3.1); we do so because a message key can be used
  twice after all: a state restored from a backup or a snapshot encrypts again with the
  keys it already used. With a random nonce that costs nothing (two GCM encryptions
  under one key and two independent nonces are GCM's normal use, and the peer refuses
  the second as a replay); with a constant nonce the relay would get ``pt1 XOR pt2``.
  The nonce needs no place in the AAD: it is GCM's nonce input, which GCM's tag
  already binds (docs/protocol.md, "Why the nonce is authenticated"). The caller's
  ``aad`` must contain the header bytes (the envelope's AAD does: every byte before the
  nonce).

State invariants (:class:`RatchetState`, immutable; every transition returns a new one):

- ``dhs_public == X25519(dhs_secret, 9)``; ``dhr`` is None only for Bob before his first
  message arrives, and then ``send_chain_key`` and ``recv_chain_key`` are None too.
- ``skipped`` holds at most ``max_stored_skipped`` keys, oldest first, each (dh, n) once;
  a message key leaves the state as soon as it is used or evicted.
- ``previous_dhr`` remembers the last :data:`PREVIOUS_RATCHET_KEYS` receiving ratchet
  public keys (public values only) so that a message from an old chain whose key is
  gone is recognised as a replay instead of triggering a DH step.
- ``send_guard`` (a :data:`SendGuard`, never serialised or compared) stands for one
  position of the sending chain: :func:`encrypt` spends it, and every state at that
  position (the state itself, ``_replace`` copies, states :func:`decrypt` returns
  without a DH step) shares it, so a second encryption from any of them is a
  :class:`~e2ee.errors.LocalProtocolError` instead of a second message under the same
  message key (which the peer would refuse as a replay). A state parsed by
  :meth:`RatchetState.from_bytes` gets a fresh guard: a restored copy is the case the
  random nonce makes harmless.

Security properties: forward secrecy and post-compromise security of the Double Ratchet.
:func:`decrypt` computes on a copy and returns a new state only when the AEAD tag
verifies; any failure raises :class:`~e2ee.errors.DecryptionError` (or its subclasses
:class:`~e2ee.errors.ReplayedMessage` and :class:`~e2ee.errors.TooManySkipped`) and the
caller keeps its old state. Errors never say which check failed beyond those two cases.
``repr`` of a state shows counters only.

Choices the specification leaves open (none changes a byte on the wire):

- a message counter is at most ``2**32 - 2`` (the header's ``n`` is a u32 and the state
  stores ``n + 1``); the sender refuses to go further
  (:class:`~e2ee.errors.LocalProtocolError`) and the receiver refuses such a header;
- a header whose ratchet key has low order (all-zero X25519 output) is a
  :class:`~e2ee.errors.DecryptionError`, like any other forgery;
- a header naming an old receiving chain whose key for that counter is gone is a
  :class:`~e2ee.errors.ReplayedMessage` (the specification would attempt a DH step that
  can only fail); so is a counter below the current chain's next one;
- Bob cannot send before his first message arrives (he has no sending chain yet).

Serialised state (:meth:`RatchetState.to_bytes`), version 1, big-endian::

    u8 version=1 | u8 flags (bit0 dhr, bit1 send_chain_key, bit2 recv_chain_key)
    32 dhs_secret | 32 dhs_public | [32 dhr] | 32 root_key | [32 send_chain_key]
    [32 recv_chain_key] | u32 ns | u32 nr | u32 pn
    u32 count | count * (32 dh | u32 n | 32 message_key)
    u8 count | count * 32 previous_dhr

The random nonce changed nothing in the state or its serialised form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from e2ee.envelope import Header
from e2ee.errors import (
    DecryptionError,
    InvalidKey,
    LocalProtocolError,
    MalformedInput,
    ReplayedMessage,
    TooManySkipped,
)
from e2ee.primitives import (
    GCM_NONCE_SIZE,
    GCM_TAG_SIZE,
    RandomSource,
    aes256gcm_decrypt,
    aes256gcm_encrypt,
    constant_time_equal,
    hmac_sha256,
    x25519,
    x25519_generate,
    x25519_public,
)

MAX_SKIP = 1000
"""Largest gap skipped in one receiving chain by one message."""

MAX_STORED_SKIPPED = 2000
"""Most skipped message keys kept; the oldest is dropped first."""

PREVIOUS_RATCHET_KEYS = 32
"""How many old receiving ratchet public keys are remembered for replay detection."""

STATE_VERSION = 1
KEY_SIZE = 32
COUNTER_LIMIT = 0xFFFFFFFF
"""No message uses this counter (u32 on the wire), so ``n + 1`` always fits a u32."""

KDF_RK_INFO = b"quietline/v1/kdf-rk"
NONCE_SIZE = GCM_NONCE_SIZE
"""ENCRYPT's AES-256-GCM nonce: 12 fresh random bytes, sent in front of the GCM output."""
ENCRYPTED_OVERHEAD = NONCE_SIZE + GCM_TAG_SIZE
"""ENCRYPT's output is this much longer than its plaintext (nonce and tag)."""
_ALREADY_SENT = "this state already encrypted a message: encrypt from the state that call returned"
_CK_MESSAGE = b"\x01"
_CK_CHAIN = b"\x02"

_FLAG_DHR = 1
_FLAG_CKS = 2
_FLAG_CKR = 4


# -- the three KDFs of the specification -----------------------------------------------


# HKDF-SHA256 (RFC 5869) written out for outputs of two blocks, the only lengths used here;
# tests/e2ee/test_ratchet.py checks it against e2ee.primitives.hkdf. It runs twice per
# message, so the generic loop's overhead shows in bench/crypto_bench.py.


def _hkdf_two_blocks(salt: bytes, ikm: bytes, info: bytes) -> bytes:
    prk = hmac_sha256(salt, ikm)
    t1 = hmac_sha256(prk, info + b"\x01")
    return t1 + hmac_sha256(prk, t1 + info + b"\x02")


def kdf_rk(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """``KDF_RK``: (new root key, new chain key)."""
    out = _hkdf_two_blocks(root_key, dh_out, KDF_RK_INFO)
    return out[:KEY_SIZE], out[KEY_SIZE:]


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """``KDF_CK``: (next chain key, message key)."""
    return hmac_sha256(chain_key, _CK_CHAIN), hmac_sha256(chain_key, _CK_MESSAGE)


# -- state ---------------------------------------------------------------------------


class MessageId(NamedTuple):
    """A message's place: the sender's ratchet public key and its counter in that chain."""

    dh: bytes
    n: int


@dataclass(frozen=True, slots=True, eq=False)
class SkippedKey:
    """A stored message key; equality is constant-time, ``repr`` hides the key."""

    dh: bytes
    n: int
    message_key: bytes

    def __repr__(self) -> str:
        return f"SkippedKey(n={self.n}, message_key=<hidden>)"

    def _bytes(self) -> bytes:
        return self.dh + self.n.to_bytes(4, "big") + self.message_key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkippedKey):
            return NotImplemented
        return constant_time_equal(self._bytes(), other._bytes())


SendGuard = bytearray
"""One position of a sending chain: ``bytearray(b"\\x01")`` until the one encryption
allowed from it spends it with ``pop()``, a single C call, atomic under the GIL, so of
two threads encrypting from one state exactly one succeeds. A plain bytearray rather
than a class of ours because every message makes one and a bytearray is not tracked by
the garbage collector (bench/crypto_bench.py saw the difference)."""


def new_send_guard() -> SendGuard:
    """A fresh, unspent :data:`SendGuard`."""
    return bytearray(b"\x01")


class _RatchetFields(NamedTuple):
    dhs_secret: bytes
    dhs_public: bytes
    dhr: bytes | None
    root_key: bytes
    send_chain_key: bytes | None
    recv_chain_key: bytes | None
    ns: int = 0
    nr: int = 0
    pn: int = 0
    skipped: tuple[SkippedKey, ...] = ()
    previous_dhr: tuple[bytes, ...] = ()
    send_guard: SendGuard | None = None


class RatchetState(_RatchetFields):
    """The Double Ratchet state of one party (the specification's ``state``).

    Immutable: a named tuple (the cheapest immutable record to build, which matters since
    every message makes a new one; change fields with ``_replace``). ``repr`` shows
    counters only; ``==`` is constant-time over :meth:`to_bytes`; states are neither
    ordered nor hashable, so no other comparison of their secrets exists.
    """

    __slots__ = ()

    def __new__(
        cls,
        dhs_secret: bytes,
        dhs_public: bytes,
        dhr: bytes | None,
        root_key: bytes,
        send_chain_key: bytes | None,
        recv_chain_key: bytes | None,
        ns: int = 0,
        nr: int = 0,
        pn: int = 0,
        skipped: tuple[SkippedKey, ...] = (),
        previous_dhr: tuple[bytes, ...] = (),
        send_guard: SendGuard | None = None,
    ) -> RatchetState:
        """Without ``send_guard``, the state gets a fresh one (a new sending position)."""
        return tuple.__new__(
            cls,
            (
                dhs_secret,
                dhs_public,
                dhr,
                root_key,
                send_chain_key,
                recv_chain_key,
                ns,
                nr,
                pn,
                skipped,
                previous_dhr,
                bytearray(b"\x01") if send_guard is None else send_guard,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"RatchetState(ns={self.ns}, nr={self.nr}, pn={self.pn}, "
            f"skipped={len(self.skipped)}, keys=<hidden>)"
        )

    # A plain tuple is never equal and never ordered: returning NotImplemented would let
    # tuple's own comparison of the secrets run instead.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, RatchetState):
            return constant_time_equal(self.to_bytes(), other.to_bytes())
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __lt__(self, other: object) -> bool:
        raise TypeError("ratchet states are not ordered")

    __le__ = __gt__ = __ge__ = __lt__
    __hash__ = None  # type: ignore[assignment]

    def to_bytes(self) -> bytes:
        flags = (
            (_FLAG_DHR if self.dhr is not None else 0)
            | (_FLAG_CKS if self.send_chain_key is not None else 0)
            | (_FLAG_CKR if self.recv_chain_key is not None else 0)
        )
        parts = [bytes([STATE_VERSION, flags]), self.dhs_secret, self.dhs_public]
        if self.dhr is not None:
            parts.append(self.dhr)
        parts.append(self.root_key)
        if self.send_chain_key is not None:
            parts.append(self.send_chain_key)
        if self.recv_chain_key is not None:
            parts.append(self.recv_chain_key)
        for counter in (self.ns, self.nr, self.pn, len(self.skipped)):
            parts.append(counter.to_bytes(4, "big"))
        for key in self.skipped:
            parts += [key.dh, key.n.to_bytes(4, "big"), key.message_key]
        parts.append(bytes([len(self.previous_dhr)]))
        parts += self.previous_dhr
        return b"".join(parts)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, max_stored_skipped: int = MAX_STORED_SKIPPED
    ) -> RatchetState:
        """Parse strictly; anything else than :meth:`to_bytes` output is MalformedInput.

        The bounds hold here too: more than ``max_stored_skipped`` skipped keys (pass the
        bound :func:`decrypt` was given, if not the default) or more than
        :data:`PREVIOUS_RATCHET_KEYS` previous ratchet keys is MalformedInput.
        """
        reader = _Reader(data)
        if reader.u8() != STATE_VERSION:
            raise MalformedInput("unsupported ratchet state version")
        flags = reader.u8()
        if flags & ~(_FLAG_DHR | _FLAG_CKS | _FLAG_CKR):
            raise MalformedInput("unknown ratchet state flags")
        dhs_secret = reader.take(KEY_SIZE)
        dhs_public = reader.take(KEY_SIZE)
        dhr = reader.take(KEY_SIZE) if flags & _FLAG_DHR else None
        root_key = reader.take(KEY_SIZE)
        send_chain_key = reader.take(KEY_SIZE) if flags & _FLAG_CKS else None
        recv_chain_key = reader.take(KEY_SIZE) if flags & _FLAG_CKR else None
        ns, nr, pn, count = reader.u32(), reader.u32(), reader.u32(), reader.u32()
        if count > max_stored_skipped:
            raise MalformedInput("more skipped keys than the bound")
        if count * (KEY_SIZE + 4 + KEY_SIZE) > reader.remaining:
            raise MalformedInput("ratchet state truncated")
        skipped = tuple(
            SkippedKey(reader.take(KEY_SIZE), reader.u32(), reader.take(KEY_SIZE))
            for _ in range(count)
        )
        previous_count = reader.u8()
        if previous_count > PREVIOUS_RATCHET_KEYS:
            raise MalformedInput("more previous ratchet keys than the bound")
        previous_dhr = tuple(reader.take(KEY_SIZE) for _ in range(previous_count))
        reader.end()
        if len({(k.dh, k.n) for k in skipped}) != len(skipped):
            raise MalformedInput("duplicate skipped key in ratchet state")
        if dhr is None and (send_chain_key is not None or recv_chain_key is not None):
            raise MalformedInput("chain keys without a remote ratchet key")
        try:
            derived = x25519_public(dhs_secret)
        except InvalidKey:  # pragma: no cover - any 32 bytes are a valid X25519 secret
            raise MalformedInput("bad ratchet secret") from None
        if not constant_time_equal(derived, dhs_public):
            raise MalformedInput("ratchet key pair does not match")
        return cls(
            dhs_secret=dhs_secret,
            dhs_public=dhs_public,
            dhr=dhr,
            root_key=root_key,
            send_chain_key=send_chain_key,
            recv_chain_key=recv_chain_key,
            ns=ns,
            nr=nr,
            pn=pn,
            skipped=skipped,
            previous_dhr=previous_dhr,
        )


class _Reader:
    """Sequential reads from bytes; running out is MalformedInput."""

    __slots__ = ("_data", "_offset")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedInput("serialized state must be bytes")
        self._data = bytes(data)
        self._offset = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, size: int) -> bytes:
        if self.remaining < size:
            raise MalformedInput("serialized state truncated")
        out = self._data[self._offset : self._offset + size]
        self._offset += size
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def end(self) -> None:
        if self.remaining:
            raise MalformedInput("trailing bytes after serialized state")


# -- initialisation ---------------------------------------------------------------------


def _check_key(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != KEY_SIZE:
        raise LocalProtocolError(f"{what} must be {KEY_SIZE} bytes")
    return value


def init_alice(sk: bytes, bob_public: bytes, random: RandomSource) -> RatchetState:
    """``RatchetInitAlice``: a fresh ratchet key pair and a sending chain towards Bob."""
    sk = _check_key(sk, "shared secret")
    bob_public = _check_key(bob_public, "Bob's ratchet public key")
    dhs_secret, dhs_public = x25519_generate(random)
    root_key, send_chain_key = kdf_rk(sk, x25519(dhs_secret, bob_public))
    return RatchetState(
        dhs_secret=dhs_secret,
        dhs_public=dhs_public,
        dhr=bob_public,
        root_key=root_key,
        send_chain_key=send_chain_key,
        recv_chain_key=None,
    )


def init_bob(sk: bytes, bob_secret: bytes, bob_public: bytes) -> RatchetState:
    """``RatchetInitBob``: Bob's prekey pair is his first ratchet key pair."""
    sk = _check_key(sk, "shared secret")
    bob_secret = _check_key(bob_secret, "Bob's ratchet secret")
    if not constant_time_equal(x25519_public(bob_secret), _check_key(bob_public, "public")):
        raise LocalProtocolError("Bob's ratchet key pair does not match")
    return RatchetState(
        dhs_secret=bob_secret,
        dhs_public=bob_public,
        dhr=None,
        root_key=sk,
        send_chain_key=None,
        recv_chain_key=None,
    )


# -- encryption ----------------------------------------------------------------------


class Encrypted(NamedTuple):
    state: RatchetState
    header: Header
    ciphertext: bytes


def encrypt(
    state: RatchetState,
    plaintext: bytes,
    aad_for_header: Callable[[Header], bytes],
    random: RandomSource,
) -> Encrypted:
    """``RatchetEncrypt``. ``aad_for_header(header)`` must return AAD containing the header.

    ``random`` gives the 12-byte nonce (the only randomness sending uses). The returned
    ``ciphertext`` is ENCRYPT's output, ``nonce || GCM ciphertext || tag``.
    ``plaintext`` must be bytes (or a bytes-like buffer); anything else is the caller's
    mistake (:class:`~e2ee.errors.LocalProtocolError`), never silently converted.

    Keep the returned state: ``state`` (and any state sharing its sending position, see
    ``send_guard``) refuses a second encryption with :class:`~e2ee.errors.LocalProtocolError`.
    A copy restored from bytes does not know it was used; its next message reuses the
    message key but under a fresh random nonce, so nothing leaks, and the peer refuses it
    as a replay.
    """
    if type(plaintext) is not bytes:
        if not isinstance(plaintext, bytes | bytearray | memoryview):
            raise LocalProtocolError("plaintext must be bytes")
        plaintext = bytes(plaintext)
    chain_key = state.send_chain_key
    if chain_key is None:
        raise LocalProtocolError("no sending chain yet: Bob sends after his first message")
    ns = state.ns
    if ns >= COUNTER_LIMIT:
        raise LocalProtocolError("sending chain exhausted")
    guard = state.send_guard
    if not guard:  # None, or spent (empty)
        raise LocalProtocolError(_ALREADY_SENT)
    header = Header(state.dhs_public, state.pn, ns)
    aad = aad_for_header(header)
    nonce = random(NONCE_SIZE)
    if type(nonce) is not bytes or len(nonce) != NONCE_SIZE:
        raise LocalProtocolError("random must return the bytes asked for")
    try:
        guard.pop()
    except IndexError:  # another thread encrypted from this state meanwhile
        raise LocalProtocolError(_ALREADY_SENT) from None
    # KDF_CK written out (see kdf_ck); ENCRYPT(mk, plaintext, aad) with the fresh nonce.
    message_key = hmac_sha256(chain_key, _CK_MESSAGE)
    ciphertext = nonce + aes256gcm_encrypt(message_key, nonce, plaintext, aad)
    new_state = RatchetState(
        state.dhs_secret,
        state.dhs_public,
        state.dhr,
        state.root_key,
        hmac_sha256(chain_key, _CK_CHAIN),
        state.recv_chain_key,
        ns + 1,
        state.nr,
        state.pn,
        state.skipped,
        state.previous_dhr,
    )
    return Encrypted(new_state, header, ciphertext)


# -- decryption ----------------------------------------------------------------------


class Decrypted(NamedTuple):
    """A verified message and the state to keep from now on.

    ``skipped``: messages that should have arrived before this one and did not (yet);
    their keys are now stored. ``late``: this message was one of those. ``discarded``:
    stored keys dropped by the bound; those messages can never be read. ``repr`` hides
    the plaintext.
    """

    state: RatchetState
    plaintext: bytes
    skipped: tuple[MessageId, ...] = ()
    late: bool = False
    discarded: tuple[MessageId, ...] = ()

    def __repr__(self) -> str:
        return f"Decrypted(skipped={len(self.skipped)}, late={self.late}, plaintext=<hidden>)"


def _open(message_key: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """DECRYPT(mk, nonce || ciphertext, aad); a wrong nonce fails like any forgery."""
    ciphertext = bytes(ciphertext)  # ``bytes()`` of a ``bytes`` object is that object
    if len(ciphertext) < ENCRYPTED_OVERHEAD:
        raise DecryptionError()
    return aes256gcm_decrypt(
        message_key, ciphertext[:NONCE_SIZE], ciphertext[NONCE_SIZE:], bytes(aad)
    )


def decrypt(
    state: RatchetState,
    header: Header,
    ciphertext: bytes,
    aad: bytes,
    random: RandomSource,
    *,
    max_skip: int = MAX_SKIP,
    max_stored_skipped: int = MAX_STORED_SKIPPED,
) -> Decrypted:
    """``RatchetDecrypt`` on a copy: returns the new state only if the tag verifies.

    ``aad`` must contain ``header``'s bytes. ``random`` supplies the new ratchet key pair
    when the message starts a new chain (a DH ratchet step).
    """
    n = header.n
    # 1. A key stored for a skipped message.
    if state.skipped:
        for index, key in enumerate(state.skipped):
            if key.n == n and constant_time_equal(key.dh, header.dh):
                plaintext = _open(key.message_key, ciphertext, aad)
                remaining = state.skipped[:index] + state.skipped[index + 1 :]
                return Decrypted(state._replace(skipped=remaining), plaintext, late=True)

    if n >= COUNTER_LIMIT:
        raise DecryptionError()
    current_chain = state.dhr is not None and constant_time_equal(header.dh, state.dhr)
    if current_chain:
        recv_chain_key = state.recv_chain_key
        if recv_chain_key is None:
            raise DecryptionError()  # Alice's initial dhr (Bob's prekey) never sends
        nr = state.nr
        if n < nr:
            raise ReplayedMessage()
        if n == nr:
            # The common case, the next message of the current chain: KDF_CK written out.
            plaintext = _open(hmac_sha256(recv_chain_key, _CK_MESSAGE), ciphertext, aad)
            new_state = RatchetState(
                state.dhs_secret,
                state.dhs_public,
                state.dhr,
                state.root_key,
                state.send_chain_key,
                hmac_sha256(recv_chain_key, _CK_CHAIN),
                state.ns,
                nr + 1,
                state.pn,
                state.skipped,
                state.previous_dhr,
                state.send_guard,  # the same sending position
            )
            return Decrypted(new_state, plaintext)
    elif any(constant_time_equal(header.dh, k) for k in state.previous_dhr):
        raise ReplayedMessage()
    return _decrypt_with_skips(
        state, header, ciphertext, aad, random, current_chain, max_skip, max_stored_skipped
    )


def _decrypt_with_skips(
    state: RatchetState,
    header: Header,
    ciphertext: bytes,
    aad: bytes,
    random: RandomSource,
    current_chain: bool,
    max_skip: int,
    max_stored_skipped: int,
) -> Decrypted:
    """The rest of ``RatchetDecrypt``: skipped keys to store and/or a DH ratchet step."""
    skipped = list(state.skipped)
    new_ids: list[MessageId] = []
    dhs_secret, dhs_public = state.dhs_secret, state.dhs_public
    dhr, root_key = state.dhr, state.root_key
    send_chain_key, recv_chain_key = state.send_chain_key, state.recv_chain_key
    ns, nr, pn = state.ns, state.nr, state.pn
    previous_dhr = state.previous_dhr

    if not current_chain:
        # 2. A new chain: skip the rest of the current one, then a DH ratchet step.
        if recv_chain_key is not None and dhr is not None:
            if header.pn > nr + max_skip:
                raise TooManySkipped()
            while nr < header.pn:
                recv_chain_key, message_key = kdf_ck(recv_chain_key)
                skipped.append(SkippedKey(dhr, nr, message_key))
                new_ids.append(MessageId(dhr, nr))
                nr += 1
            previous_dhr = (dhr, *previous_dhr)[:PREVIOUS_RATCHET_KEYS]
        pn, ns, nr = ns, 0, 0
        dhr = header.dh
        new_secret, new_public = x25519_generate(random)
        try:
            root_key, recv_chain_key = kdf_rk(root_key, x25519(dhs_secret, dhr))
            root_key, send_chain_key = kdf_rk(root_key, x25519(new_secret, dhr))
        except InvalidKey:
            raise DecryptionError() from None  # a low-order ratchet key: refuse, say nothing
        dhs_secret, dhs_public = new_secret, new_public

    # 3. Skip to this message's counter in the (now) current chain.
    assert recv_chain_key is not None and dhr is not None
    if header.n > nr + max_skip:
        raise TooManySkipped()
    while nr < header.n:
        recv_chain_key, message_key = kdf_ck(recv_chain_key)
        skipped.append(SkippedKey(dhr, nr, message_key))
        new_ids.append(MessageId(dhr, nr))
        nr += 1
    recv_chain_key, message_key = kdf_ck(recv_chain_key)
    plaintext = _open(message_key, ciphertext, aad)

    overflow = max(0, len(skipped) - max_stored_skipped)
    discarded = tuple(MessageId(k.dh, k.n) for k in skipped[:overflow])
    new_state = RatchetState(
        dhs_secret=dhs_secret,
        dhs_public=dhs_public,
        dhr=dhr,
        root_key=root_key,
        send_chain_key=send_chain_key,
        recv_chain_key=recv_chain_key,
        ns=ns,
        nr=nr + 1,
        pn=pn,
        skipped=tuple(skipped[overflow:]),
        previous_dhr=previous_dhr,
        # a DH step starts a new sending chain; without one the position is unchanged
        send_guard=state.send_guard if current_chain else None,
    )
    return Decrypted(new_state, plaintext, tuple(new_ids), False, discarded)
