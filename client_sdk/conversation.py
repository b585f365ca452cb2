"""What the SDK reads around the protocol core's sessions (``e2ee.session``).

Everything cryptographic happens in ``e2ee`` (the clients call ``e2ee.session``
directly); this module only parses the relay-visible envelope fields the SDK needs
before decrypting (which conversation, which slot, which prekey, the ratchet header for
gap tracking), and reads the program's own status record.

Nothing here trusts the parsed fields: the header and the slots are inside the AEAD's
associated data, so they count only once the envelope decrypted; the SDK uses them for
gap tracking only after that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from client_sdk.errors import VerificationFailure
from client_sdk.workflow.status import StatusBody, StatusState
from e2ee import payload as pl
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.envelope import Envelope
from e2ee.primitives import RandomSource
from e2ee.session import ParticipantSession, ProgramSession

S = TypeVar("S", ParticipantSession, ProgramSession)


@dataclass(frozen=True)
class Parsed:
    is_init: bool
    prekey_kind: int
    prekey_id: int
    enc: bytes
    header: tuple[bytes, int, int]


def parse(raw: bytes, *, expect_cid: str, recipient_slot: int) -> Parsed:
    """Parse the envelope; refuse one for another conversation or another recipient."""
    env = Envelope.from_bytes(raw)
    if b64u_encode(env.conversation_id) != expect_cid or env.recipient_slot != recipient_slot:
        raise VerificationFailure("malformed", "envelope addressed elsewhere")
    init = env.init
    return Parsed(
        is_init=init is not None,
        prekey_kind=init.prekey_kind if init is not None else 0,
        prekey_id=init.prekey_id if init is not None else 0,
        enc=init.enc if init is not None else b"",
        header=(env.header.dh, env.header.pn, env.header.n),
    )


def envelope_cid(raw: bytes) -> str:
    return b64u_encode(Envelope.from_bytes(raw).conversation_id)


def open_message(session: S, raw: bytes, random: RandomSource) -> tuple[S, pl.Payload]:
    """Decrypt; sessions are immutable, so a failure leaves the caller's session as it was."""
    received = session.decrypt(raw, random=random)
    return received.session, received.payload


def load_session(raw: bytes) -> ProgramSession:
    session = ProgramSession.from_bytes(raw)
    assert isinstance(session, ProgramSession)  # from_bytes on the subclass checks the role
    return session


def status_body(signed: dict[str, Any]) -> StatusBody:
    """The workflow's view of a status this node signed and stored (no need to verify)."""
    f = json.loads(b64u_decode(signed["body"]).decode("utf-8"))
    return StatusBody(
        StatusState(f["state"]), str(f["message"]), int(f["issued_at"]), int(f["expires_at"])
    )
