"""The handshake: HPKE to a program prekey seeds a Double Ratchet (docs/protocol.md).

Participant (Alice), from a bundle already verified against the pinned identity key::

    conversation_id = random(16)
    prekey = one_time_prekey if present else signed_prekey
    info = "quietline/v1/handshake" || program_id || conversation_id
           || u8(prekey_kind) || u32(prekey_id)
    enc, ctx = SetupBaseS(prekey.public_key, info)       # ikm_e = random(32)
    SK = ctx.Export("quietline/v1/ratchet-root", 32)
    state = RatchetInitAlice(SK, prekey.public_key)       # ratchet secret = random(32)

Program (Bob), from the init envelope's fields and the prekey secret::

    SK = SetupBaseR(enc, prekey_secret, info).Export("quietline/v1/ratchet-root", 32)
    state = RatchetInitBob(SK, (prekey_secret, prekey_public))

Randomness is consumed in exactly that order (16, 32, 32 bytes), which the vectors pin.

Security: ``info`` binds the protocol version (in its label), the program, the
conversation and the prekey, so an ``enc`` replayed into another conversation or
against another prekey yields an unrelated SK and the first message fails to decrypt.
The HPKE context is used only for its exporter. The program must delete a one-time
prekey secret right after its first successful use (the caller holds it); a wrong
``enc`` (including a low-order point) is reported as :class:`~e2ee.errors.DecryptionError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2ee import hpke
from e2ee.envelope import (
    CONVERSATION_ID_SIZE,
    PREKEY_KIND_ONE_TIME,
    PREKEY_KIND_SIGNED,
    PREKEY_KINDS,
    InitFields,
)
from e2ee.errors import DecryptionError, InvalidKey, LocalProtocolError
from e2ee.identity import PROGRAM_ID_SIZE, VerifiedBundle
from e2ee.primitives import RandomSource, x25519_public
from e2ee.ratchet import RatchetState, init_alice, init_bob

HANDSHAKE_INFO_LABEL = b"quietline/v1/handshake"
RATCHET_ROOT_LABEL = b"quietline/v1/ratchet-root"
ROOT_KEY_SIZE = 32
IKM_E_SIZE = hpke.N_SK


def handshake_info(
    program_id: bytes, conversation_id: bytes, prekey_kind: int, prekey_id: int
) -> bytes:
    """The HPKE ``info`` of a conversation's handshake."""
    if not isinstance(program_id, bytes) or len(program_id) != PROGRAM_ID_SIZE:
        raise LocalProtocolError("program_id must be 16 bytes")
    if not isinstance(conversation_id, bytes) or len(conversation_id) != CONVERSATION_ID_SIZE:
        raise LocalProtocolError("conversation_id must be 16 bytes")
    if type(prekey_kind) is not int or prekey_kind not in PREKEY_KINDS:
        raise LocalProtocolError("prekey_kind must be 1 (signed) or 2 (one-time)")
    if type(prekey_id) is not int or not 0 <= prekey_id <= 0xFFFFFFFF:
        raise LocalProtocolError("prekey_id must be a u32")
    return (
        HANDSHAKE_INFO_LABEL
        + program_id
        + conversation_id
        + bytes([prekey_kind])
        + prekey_id.to_bytes(4, "big")
    )


@dataclass(frozen=True)
class Initiated:
    """The participant's side after the handshake: what the init envelope carries."""

    conversation_id: bytes
    init: InitFields
    ratchet: RatchetState

    def __repr__(self) -> str:
        return f"Initiated(prekey_kind={self.init.prekey_kind}, ratchet=<hidden>)"


def initiate(bundle: VerifiedBundle, *, random: RandomSource) -> Initiated:
    """Run the participant's handshake against a verified bundle."""
    if not isinstance(bundle, VerifiedBundle):
        raise LocalProtocolError(
            "initiate needs a VerifiedBundle (see e2ee.identity.verify_bundle)"
        )
    conversation_id = random(CONVERSATION_ID_SIZE)
    if bundle.one_time_prekey is not None:
        prekey, prekey_kind = bundle.one_time_prekey, PREKEY_KIND_ONE_TIME
    else:
        prekey, prekey_kind = bundle.signed_prekey, PREKEY_KIND_SIGNED
    info = handshake_info(bundle.program_id, conversation_id, prekey_kind, prekey.prekey_id)
    enc, context = hpke.setup_base_sender(prekey.public_key, info, ikm_e=random(IKM_E_SIZE))
    sk = context.export(RATCHET_ROOT_LABEL, ROOT_KEY_SIZE)
    state = init_alice(sk, prekey.public_key, random)
    init = InitFields(prekey_kind=prekey_kind, prekey_id=prekey.prekey_id, enc=enc)
    return Initiated(conversation_id=conversation_id, init=init, ratchet=state)


def respond(
    program_id: bytes, conversation_id: bytes, init: InitFields, prekey_secret: bytes
) -> RatchetState:
    """Run the program's side: Bob's ratchet state for this conversation."""
    if not isinstance(prekey_secret, bytes) or len(prekey_secret) != hpke.N_SK:
        raise LocalProtocolError("prekey secret must be 32 bytes")
    info = handshake_info(program_id, conversation_id, init.prekey_kind, init.prekey_id)
    try:
        context = hpke.setup_base_recipient(init.enc, prekey_secret, info)
        prekey_public = x25519_public(prekey_secret)
    except InvalidKey:
        raise DecryptionError() from None
    sk = context.export(RATCHET_ROOT_LABEL, ROOT_KEY_SIZE)
    return init_bob(sk, prekey_secret, prekey_public)
