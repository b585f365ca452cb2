"""Sessions: the high-level, sans-I/O API of one end of one conversation.

API::

    # participant (slot 0): from a bundle verified against the pinned identity key
    session, init_envelope = start_conversation(bundle, first_payload, random=random)

    # program (slot 1): from the init envelope and its prekey secrets
    session, first_payload = accept_conversation(
        init_envelope, prekey_secret_for, program_id=program_id, random=random)
    #   prekey_secret_for(prekey_kind, prekey_id) -> secret bytes, or None if unknown.
    #   After success, delete a one-time prekey's secret (kind 2): it is used once.

    # both ends, any number of times, in any order
    session, envelope = session.encrypt(payload, random=random)
    session, payload, skipped = session.decrypt(envelope, random=random)
    data = session.to_bytes(); session = Session.from_bytes(data)

Sessions are immutable: every call returns a new session and the caller keeps it, so a
call that raises leaves the caller's old session valid and unchanged (nothing is
half-written). A session encrypts once: calling :meth:`Session.encrypt` again on the
same session (or on one decrypted from it before a new ratchet step) is a
:class:`~e2ee.errors.LocalProtocolError`, never a second message under the same message
key. A session restored from bytes cannot know what it sent before it was saved: its
next message reuses a message key, under a fresh random nonce, so the relay learns
nothing and the peer refuses it as a replay. :meth:`Session.decrypt` raises:

- :class:`~e2ee.errors.OversizedInput` / :class:`~e2ee.errors.MalformedInput`: the bytes
  are not an envelope, or (from an authenticated peer) the payload does not parse;
- :class:`~e2ee.errors.DecryptionError`: anything else, including an envelope of another
  conversation or slot, a tampered byte, a wrong key; its subclasses
  :class:`~e2ee.errors.ReplayedMessage` and :class:`~e2ee.errors.TooManySkipped` say
  "already received" and "too far ahead".

``skipped`` lists the messages (:class:`~e2ee.ratchet.MessageId`) the peer sent before
this one that have not arrived yet: possibly missing, possibly only late.

Serialised session, version 1: ``u8 version | u8 role (0 initiator, 1 responder) |
16 conversation_id | u8 local_slot | u8 remote_slot | ratchet state`` (see
:mod:`e2ee.ratchet`). It holds secret keys: store it encrypted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, NamedTuple, Self, TypeVar, cast

from e2ee import handshake
from e2ee.envelope import (
    CONVERSATION_ID_SIZE,
    KIND_INIT,
    MAX_SLOT,
    PARTICIPANT_SLOT,
    PROGRAM_SLOT,
    Envelope,
    Header,
    envelope_aad,
)
from e2ee.errors import DecryptionError, LocalProtocolError, MalformedInput
from e2ee.identity import PROGRAM_ID_SIZE, VerifiedBundle
from e2ee.padding import pad, unpad
from e2ee.payload import Payload, decode_payload, encode_payload
from e2ee.primitives import RandomSource, constant_time_equal
from e2ee.ratchet import (
    MAX_SKIP,
    MAX_STORED_SKIPPED,
    MessageId,
    RatchetState,
)
from e2ee.ratchet import decrypt as ratchet_decrypt
from e2ee.ratchet import encrypt as ratchet_encrypt

SESSION_VERSION = 1
ROLE_INITIATOR = 0
ROLE_RESPONDER = 1

PrekeySecretFor = Callable[[int, int], bytes | None]
"""``(prekey_kind, prekey_id) -> prekey secret``, or None when the program has no such key."""


SessionT = TypeVar("SessionT", bound="Session")


class Received(NamedTuple, Generic[SessionT]):
    """What :meth:`Session.decrypt` returns; unpacks as ``session, payload, skipped``."""

    session: SessionT
    payload: Payload
    skipped: tuple[MessageId, ...]

    def __repr__(self) -> str:
        return f"Received(payload={self.payload!r}, skipped={len(self.skipped)})"


@dataclass(frozen=True, eq=False)
class Session:
    """One end of a conversation: its id, both slots, and the Double Ratchet state.

    ``repr`` hides the ratchet; ``==`` is constant-time over :meth:`to_bytes`; sessions
    are not hashable.
    """

    ROLE: ClassVar[int] = -1
    conversation_id: bytes
    local_slot: int
    remote_slot: int
    ratchet: RatchetState = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.conversation_id, bytes) or len(self.conversation_id) != (
            CONVERSATION_ID_SIZE
        ):
            raise LocalProtocolError("conversation_id must be 16 bytes")
        for slot in (self.local_slot, self.remote_slot):
            if type(slot) is not int or not 0 <= slot <= MAX_SLOT:
                raise LocalProtocolError(f"slots are 0..{MAX_SLOT}")
        if self.local_slot == self.remote_slot:
            raise LocalProtocolError("local and remote slots must differ")
        if not isinstance(self.ratchet, RatchetState):
            raise LocalProtocolError("ratchet must be a RatchetState")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Session):
            return NotImplemented
        return constant_time_equal(self.to_bytes(), other.to_bytes())

    def encrypt(self, payload: Payload, *, random: RandomSource) -> tuple[Self, bytes]:
        """Encrypt one payload; returns the new session and the envelope's bytes.

        ``random`` gives the message's 12-byte AES-GCM nonce. Raises
        :class:`~e2ee.errors.LocalProtocolError` if this session already encrypted.
        """
        plaintext = pad(encode_payload(payload))

        def aad_for_header(header: Header) -> bytes:
            return envelope_aad(self.conversation_id, self.local_slot, self.remote_slot, header)

        out = ratchet_encrypt(self.ratchet, plaintext, aad_for_header, random)
        envelope = Envelope(
            conversation_id=self.conversation_id,
            sender_slot=self.local_slot,
            recipient_slot=self.remote_slot,
            header=out.header,
            ciphertext=out.ciphertext,
        )
        return dataclasses.replace(self, ratchet=out.state), envelope.to_bytes()

    def decrypt(
        self,
        envelope_bytes: bytes,
        *,
        random: RandomSource,
        max_skip: int = MAX_SKIP,
        max_stored_skipped: int = MAX_STORED_SKIPPED,
    ) -> Received[Self]:
        """Authenticate and decrypt one envelope of this conversation from the peer."""
        envelope = Envelope.from_bytes(envelope_bytes)
        if (
            not constant_time_equal(envelope.conversation_id, self.conversation_id)
            or envelope.sender_slot != self.remote_slot
            or envelope.recipient_slot != self.local_slot
            or (envelope.kind == KIND_INIT and self.ROLE != ROLE_RESPONDER)
        ):
            raise DecryptionError()
        out = ratchet_decrypt(
            self.ratchet,
            envelope.header,
            envelope.ciphertext,
            envelope.aad,
            random,
            max_skip=max_skip,
            max_stored_skipped=max_stored_skipped,
        )
        payload = decode_payload(unpad(out.plaintext))
        return Received(dataclasses.replace(self, ratchet=out.state), payload, out.skipped)

    def to_bytes(self) -> bytes:
        return (
            bytes([SESSION_VERSION, self.ROLE])
            + self.conversation_id
            + bytes([self.local_slot, self.remote_slot])
            + self.ratchet.to_bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse strictly: a :class:`ParticipantSession` or :class:`ProgramSession`.

        Called on a subclass, the stored role must match it. Anything else raises
        :class:`~e2ee.errors.MalformedInput`.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedInput("serialized session must be bytes")
        data = bytes(data)
        prefix = 2 + CONVERSATION_ID_SIZE + 2
        if len(data) < prefix or data[0] != SESSION_VERSION:
            raise MalformedInput("not a version 1 session")
        subclass = _ROLES.get(data[1])
        if subclass is None or (cls is not Session and subclass is not cls):
            raise MalformedInput("wrong session role")
        ratchet = RatchetState.from_bytes(data[prefix:])
        try:
            session = subclass(
                conversation_id=data[2:18],
                local_slot=data[18],
                remote_slot=data[19],
                ratchet=ratchet,
            )
        except LocalProtocolError as exc:
            raise MalformedInput(str(exc)) from None
        return cast(Self, session)  # subclass is cls, or cls is Session


@dataclass(frozen=True, eq=False)
class ParticipantSession(Session):
    """The initiator's session (slot 0), made by :func:`start_conversation`."""

    ROLE: ClassVar[int] = ROLE_INITIATOR


@dataclass(frozen=True, eq=False)
class ProgramSession(Session):
    """The responder's session (the program, slot 1), made by :func:`accept_conversation`."""

    ROLE: ClassVar[int] = ROLE_RESPONDER


_ROLES: dict[int, type[Session]] = {
    ROLE_INITIATOR: ParticipantSession,
    ROLE_RESPONDER: ProgramSession,
}


def start_conversation(
    bundle: VerifiedBundle,
    first_payload: Payload,
    *,
    random: RandomSource,
    recipient_slot: int = PROGRAM_SLOT,
) -> tuple[ParticipantSession, bytes]:
    """Open a conversation to the bundle's program: the session and the init envelope.

    ``random`` gives the conversation id (16 bytes), HPKE's ``ikm_e`` (32), the first
    ratchet secret (32) and the first message's nonce (12), in that order.
    """
    started = handshake.initiate(bundle, random=random)
    conversation_id, init = started.conversation_id, started.init

    def aad_for_header(header: Header) -> bytes:
        return envelope_aad(conversation_id, PARTICIPANT_SLOT, recipient_slot, header, init)

    plaintext = pad(encode_payload(first_payload))
    out = ratchet_encrypt(started.ratchet, plaintext, aad_for_header, random)
    envelope = Envelope(
        conversation_id=conversation_id,
        sender_slot=PARTICIPANT_SLOT,
        recipient_slot=recipient_slot,
        header=out.header,
        ciphertext=out.ciphertext,
        init=init,
    )
    session = ParticipantSession(
        conversation_id=conversation_id,
        local_slot=PARTICIPANT_SLOT,
        remote_slot=recipient_slot,
        ratchet=out.state,
    )
    return session, envelope.to_bytes()


def accept_conversation(
    envelope_bytes: bytes,
    prekey_secret_for: PrekeySecretFor,
    *,
    program_id: bytes,
    random: RandomSource,
    local_slot: int = PROGRAM_SLOT,
) -> tuple[ProgramSession, Payload]:
    """Answer an init envelope: the program's session and the first payload.

    Raises like :meth:`Session.decrypt`; an unknown prekey, an envelope that is not an
    init from the participant to ``local_slot``, or a wrong ``enc`` is a
    :class:`~e2ee.errors.DecryptionError`. Nothing is kept on failure: delete a one-time
    prekey only after this returns.
    """
    if not isinstance(program_id, bytes) or len(program_id) != PROGRAM_ID_SIZE:
        raise LocalProtocolError("program_id must be 16 bytes")
    envelope = Envelope.from_bytes(envelope_bytes)
    init = envelope.init
    if (
        init is None
        or envelope.sender_slot != PARTICIPANT_SLOT
        or envelope.recipient_slot != local_slot
    ):
        raise DecryptionError()
    prekey_secret = prekey_secret_for(init.prekey_kind, init.prekey_id)
    if prekey_secret is None:
        raise DecryptionError()
    state = handshake.respond(program_id, envelope.conversation_id, init, prekey_secret)
    session = ProgramSession(
        conversation_id=envelope.conversation_id,
        local_slot=local_slot,
        remote_slot=PARTICIPANT_SLOT,
        ratchet=state,
    )
    session, payload, _ = session.decrypt(envelope_bytes, random=random)
    return session, payload
