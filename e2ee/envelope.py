"""The envelope: the only bytes of a conversation the relay ever sees.

Byte layout (docs/protocol.md, "Envelope"; all integers big-endian)::

    offset size field
    0      1    version = 2
    1      1    kind: 1 = init (first message of a conversation), 2 = message
    2      16   conversation_id
    18     1    sender_slot        (0 participant, 1 program, 2..7 invited parties)
    19     1    recipient_slot     (0..7, different from sender_slot)
    -- init only --
    20     1    prekey_kind        (1 signed, 2 one-time)
    21     4    prekey_id u32
    25     32   enc (HPKE encapsulated key)
    -- always --
    20/57  40   ratchet header: dh (32) || pn u32 || n u32
    60/97  rest ciphertext, ENCRYPT's output:
                  12    nonce (random, fresh for every encryption)
                  rest  AES-256-GCM(padded payload), 256*k + 16 bytes, k >= 1

The associated data of the AEAD (:attr:`Envelope.aad`) is every byte before the
ciphertext, hence before the nonce. Each kind has a fixed prefix length, so the encoding
is unique: one envelope has exactly one byte string, and flipping any bit either makes
it unparsable (:class:`~e2ee.errors.MalformedInput`) or changes the AAD, the nonce or
the GCM ciphertext, which the AEAD refuses (GCM authenticates its nonce input: the tag
is masked with the encryption of the nonce block).

Version 2 is the layout with the nonce; version 1 (a constant all-zero nonce, no nonce
field) is refused like any unknown version.

What the relay learns from an envelope: the version, whether it opens a conversation,
the conversation id, the two slots, which prekey was used (init), the sender's current
ratchet public key and counters, 12 random bytes, and the padded length. Never a key it
could use, the plaintext, or the sender's clock.

:meth:`Envelope.from_bytes` raises only :class:`~e2ee.errors.OversizedInput` (more than
:data:`MAX_ENVELOPE_SIZE` bytes) or :class:`~e2ee.errors.MalformedInput`. Constructing an
envelope with bad fields is the caller's mistake: :class:`~e2ee.errors.LocalProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2ee.errors import LocalProtocolError, MalformedInput, OversizedInput
from e2ee.padding import PADDING_BLOCK
from e2ee.primitives import GCM_NONCE_SIZE, GCM_TAG_SIZE, X25519_KEY_SIZE

ENVELOPE_VERSION = 2
"""The envelope layout's own version: 2 since ENCRYPT sends a random nonce."""
KIND_INIT = 1
KIND_MESSAGE = 2
KINDS = (KIND_INIT, KIND_MESSAGE)

PREKEY_KIND_SIGNED = 1
PREKEY_KIND_ONE_TIME = 2
PREKEY_KINDS = (PREKEY_KIND_SIGNED, PREKEY_KIND_ONE_TIME)

PARTICIPANT_SLOT = 0
PROGRAM_SLOT = 1
MAX_SLOT = 7
"""Slots 2..MAX_SLOT are invited parties (e.g. an interpreter)."""

CONVERSATION_ID_SIZE = 16
HEADER_SIZE = 40
ENC_SIZE = X25519_KEY_SIZE
COMMON_PREFIX_SIZE = 20
INIT_FIELDS_SIZE = 1 + 4 + ENC_SIZE
MESSAGE_AAD_SIZE = COMMON_PREFIX_SIZE + HEADER_SIZE
INIT_AAD_SIZE = COMMON_PREFIX_SIZE + INIT_FIELDS_SIZE + HEADER_SIZE
NONCE_SIZE = GCM_NONCE_SIZE
CIPHERTEXT_OVERHEAD = NONCE_SIZE + GCM_TAG_SIZE
"""The ciphertext field is the padded payload plus the nonce in front and the tag behind."""
MIN_CIPHERTEXT_SIZE = PADDING_BLOCK + CIPHERTEXT_OVERHEAD
MAX_ENVELOPE_SIZE = 64 * 1024
"""Envelopes longer than this are refused (:class:`~e2ee.errors.OversizedInput`)."""

_U32_MAX = 0xFFFFFFFF


def _check_u32(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32_MAX:
        raise LocalProtocolError(f"{what} must be a u32")


def _check_bytes(value: object, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise LocalProtocolError(f"{what} must be {size} bytes")


def _check_slot(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SLOT:
        raise LocalProtocolError(f"{what} must be a slot 0..{MAX_SLOT}")


def valid_ciphertext_size(size: int) -> bool:
    """Whether ``size`` is ``12 + 256*k + 16`` (nonce, padded payload, tag) with ``k >= 1``."""
    return size >= MIN_CIPHERTEXT_SIZE and (size - CIPHERTEXT_OVERHEAD) % PADDING_BLOCK == 0


@dataclass(frozen=True, slots=True)
class Header:
    """The Double Ratchet header: sender's ratchet public key, previous chain length, counter."""

    dh: bytes
    pn: int
    n: int

    def __post_init__(self) -> None:
        _check_bytes(self.dh, X25519_KEY_SIZE, "header dh")
        _check_u32(self.pn, "header pn")
        _check_u32(self.n, "header n")

    def to_bytes(self) -> bytes:
        return self.dh + self.pn.to_bytes(4, "big") + self.n.to_bytes(4, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> Header:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedInput("header must be bytes")
        data = bytes(data)
        if len(data) != HEADER_SIZE:
            raise MalformedInput("header must be 40 bytes")
        return cls(
            dh=data[:32],
            pn=int.from_bytes(data[32:36], "big"),
            n=int.from_bytes(data[36:40], "big"),
        )


@dataclass(frozen=True, slots=True)
class InitFields:
    """What an init envelope adds: which prekey the participant used, and HPKE's ``enc``."""

    prekey_kind: int
    prekey_id: int
    enc: bytes

    def __post_init__(self) -> None:
        if self.prekey_kind not in PREKEY_KINDS:
            raise LocalProtocolError("prekey_kind must be 1 (signed) or 2 (one-time)")
        _check_u32(self.prekey_id, "prekey_id")
        _check_bytes(self.enc, ENC_SIZE, "enc")

    def to_bytes(self) -> bytes:
        return bytes([self.prekey_kind]) + self.prekey_id.to_bytes(4, "big") + self.enc


@dataclass(frozen=True, slots=True)
class Envelope:
    """One relay-visible message. ``init`` is present exactly when ``kind`` is init."""

    conversation_id: bytes
    sender_slot: int
    recipient_slot: int
    header: Header
    ciphertext: bytes
    init: InitFields | None = None
    version: int = ENVELOPE_VERSION

    def __post_init__(self) -> None:
        if self.version != ENVELOPE_VERSION:
            raise LocalProtocolError("unsupported envelope version")
        _check_bytes(self.conversation_id, CONVERSATION_ID_SIZE, "conversation_id")
        _check_slot(self.sender_slot, "sender_slot")
        _check_slot(self.recipient_slot, "recipient_slot")
        if self.sender_slot == self.recipient_slot:
            raise LocalProtocolError("sender_slot and recipient_slot must differ")
        if not isinstance(self.header, Header):
            raise LocalProtocolError("header must be a Header")
        if self.init is not None and not isinstance(self.init, InitFields):
            raise LocalProtocolError("init must be InitFields or None")
        if not isinstance(self.ciphertext, bytes) or not valid_ciphertext_size(
            len(self.ciphertext)
        ):
            raise LocalProtocolError("ciphertext must be 12 + 256*k + 16 bytes, k >= 1")
        prefix = MESSAGE_AAD_SIZE if self.init is None else INIT_AAD_SIZE
        if prefix + len(self.ciphertext) > MAX_ENVELOPE_SIZE:
            raise LocalProtocolError("envelope larger than MAX_ENVELOPE_SIZE")

    @property
    def kind(self) -> int:
        return KIND_MESSAGE if self.init is None else KIND_INIT

    @property
    def nonce(self) -> bytes:
        """The AES-256-GCM nonce: the ciphertext's first 12 bytes."""
        return self.ciphertext[:NONCE_SIZE]

    @property
    def aad(self) -> bytes:
        """Every byte before the ciphertext: the AEAD's associated data."""
        return envelope_aad(
            self.conversation_id, self.sender_slot, self.recipient_slot, self.header, self.init
        )

    def to_bytes(self) -> bytes:
        return self.aad + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse strictly; raises only :class:`OversizedInput` or :class:`MalformedInput`."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedInput("envelope must be bytes")
        data = bytes(data)
        if len(data) > MAX_ENVELOPE_SIZE:
            raise OversizedInput("envelope larger than MAX_ENVELOPE_SIZE")
        if len(data) < COMMON_PREFIX_SIZE:
            raise MalformedInput("envelope too short")
        version, kind = data[0], data[1]
        if version != ENVELOPE_VERSION:
            raise MalformedInput("unsupported envelope version")
        if kind not in KINDS:
            raise MalformedInput("unknown envelope kind")
        prefix = INIT_AAD_SIZE if kind == KIND_INIT else MESSAGE_AAD_SIZE
        if not valid_ciphertext_size(len(data) - prefix):
            raise MalformedInput("envelope length does not match its kind")
        init: InitFields | None = None
        offset = COMMON_PREFIX_SIZE
        try:
            if kind == KIND_INIT:
                init = InitFields(
                    prekey_kind=data[offset],
                    prekey_id=int.from_bytes(data[offset + 1 : offset + 5], "big"),
                    enc=data[offset + 5 : offset + INIT_FIELDS_SIZE],
                )
                offset += INIT_FIELDS_SIZE
            return cls(
                conversation_id=data[2:18],
                sender_slot=data[18],
                recipient_slot=data[19],
                header=Header.from_bytes(data[offset : offset + HEADER_SIZE]),
                ciphertext=data[prefix:],
                init=init,
            )
        except LocalProtocolError as exc:
            raise MalformedInput(str(exc)) from None


def envelope_aad(
    conversation_id: bytes,
    sender_slot: int,
    recipient_slot: int,
    header: Header,
    init: InitFields | None = None,
) -> bytes:
    """The envelope's bytes before the ciphertext (what :attr:`Envelope.aad` returns)."""
    _check_bytes(conversation_id, CONVERSATION_ID_SIZE, "conversation_id")
    _check_slot(sender_slot, "sender_slot")
    _check_slot(recipient_slot, "recipient_slot")
    kind = KIND_MESSAGE if init is None else KIND_INIT
    init_bytes = b"" if init is None else init.to_bytes()
    return (
        bytes([ENVELOPE_VERSION, kind])
        + conversation_id
        + bytes([sender_slot, recipient_slot])
        + init_bytes
        + header.to_bytes()
    )
