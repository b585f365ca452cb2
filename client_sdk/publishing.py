"""The program's public face on the relay: enrollment, authentication and its bundle.

Everything published is signed with the identity key (labels from docs/protocol.md),
so a relay that edits or substitutes any of it is caught by the participant, who
checks it against the pinned key. Secrets never leave the keystore: a prekey's X25519
secret is stored (sealed) before its public half is published, and a one-time prekey
secret is deleted right after its one use.

When to rotate, replenish and re-sign is decided by the workflow's pure rules
(:mod:`client_sdk.workflow.prekeys`, :class:`~client_sdk.workflow.status.StatusKeeper`);
this module carries the decisions out. Prekey ids are never reused.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from client_sdk import profile_content, store
from client_sdk.errors import VerificationFailure
from client_sdk.keystore import Keystore
from client_sdk.transport import RelayHTTP
from client_sdk.workflow.notices import CannedNotices
from client_sdk.workflow.prekeys import PrekeyPolicy, PrekeyRecord, make_prekey, next_prekey_ids
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import (
    LABEL_ENROLL,
    LABEL_RELAY_AUTH,
    IdentityKeyPair,
    Profile,
    SignedObject,
)
from e2ee.primitives import RandomSource, sha256

DEFAULT_PROFILE: dict[str, Any] = {
    "name": "Support line",
    "notice": {
        "voluntary": "Talking with us is voluntary. You can stop at any time.",
        "choices": "You decide what to share. You can skip any question.",
        "information": "What you write is end-to-end encrypted. Only our staff can read "
        "it, and we delete the conversation when it ends.",
        "mandatory_reporting": "If you tell us a child or vulnerable adult is being hurt, "
        "the law may require us to report it. We will tell you "
        "before we do.",
    },
    "safety_check_in": CannedNotices.safety_check_in,
    "questions": [],
    "hours": {
        "timezone": "UTC",
        "weekly": [{"day": d, "open": "00:00", "close": "23:59"} for d in range(7)],
    },
    "alternatives": [],
    "quick_exit_url": "https://www.wikipedia.org/",
}


def load_identity(ks: Keystore) -> IdentityKeyPair:
    seed = ks.get(store.IDENTITY)
    if seed is None:
        raise VerificationFailure("malformed", "keystore holds no identity key")
    return IdentityKeyPair.from_seed(seed)


def profile_from_content(content: dict[str, Any], now: int) -> Profile:
    """A :class:`Profile` from editable content (``v`` and ``issued_at`` are set here).

    Missing keys, and missing keys inside ``notice`` and ``hours``, get the defaults of
    :data:`DEFAULT_PROFILE`; anything refused is a
    :class:`~client_sdk.profile_content.ProfileError` naming the key."""
    return profile_content.to_profile(
        profile_content.complete_content(content, DEFAULT_PROFILE, now), now
    )


def read_profile_file(path: Path) -> dict[str, Any]:
    """The JSON object of a profile file (:class:`ProfileError` when it is not one)."""
    data = profile_content.parse_file_text(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise profile_content.ProfileError("(the file)", "must hold a JSON object")
    return data


def enrollment_signature(identity: IdentityKeyPair, enrollment_token: str) -> bytes:
    """Label ``enroll`` over ``SHA-256(enrollment_token as UTF-8)``."""
    return identity.sign(LABEL_ENROLL, sha256(enrollment_token.encode("utf-8")))


async def enroll(http: RelayHTTP, identity: IdentityKeyPair, enrollment_token: str) -> str:
    """Register the identity key; refuse a relay that answers another program id."""
    program_id = await http.enroll(
        enrollment_token,
        b64u_encode(identity.public_key),
        b64u_encode(enrollment_signature(identity, enrollment_token)),
    )
    if program_id != b64u_encode(identity.program_id):
        raise VerificationFailure("published_mismatch", "relay answered another program id")
    return program_id


async def authenticate(http: RelayHTTP, identity: IdentityKeyPair, origin: str) -> tuple[str, int]:
    """Sign a fresh challenge (label ``relay-auth``, body ``challenge || origin``)."""
    program_id = b64u_encode(identity.program_id)
    challenge_text = await http.challenge(program_id)
    try:
        challenge = b64u_decode(challenge_text)
    except QuietlineError:
        raise VerificationFailure("malformed", "relay sent a malformed challenge") from None
    if len(challenge) != 32:
        raise VerificationFailure("malformed", "relay sent a challenge of the wrong size")
    signature = identity.sign(LABEL_RELAY_AUTH, challenge + origin.encode("utf-8"))
    return await http.session(program_id, challenge_text, b64u_encode(signature))


def _take_ids(ks: Keystore, count: int) -> list[int]:
    """Fresh prekey ids; the highest ever issued is kept so no id is ever reused."""
    raw = ks.get(store.LAST_PREKEY_ID)
    ids = next_prekey_ids(-1 if raw is None else int(raw.decode("ascii")), count)
    if ids:
        ks.put(store.LAST_PREKEY_ID, str(ids[-1]).encode("ascii"))
    return ids


def prekey_records(ks: Keystore, *, one_time: bool) -> list[PrekeyRecord]:
    prefix = store.ONE_TIME_PREKEY if one_time else store.SIGNED_PREKEY
    out = []
    for name in ks.names(prefix):
        raw = ks.get(name)
        if raw is not None:
            out.append(PrekeyRecord.from_bytes(raw))
    return out


def _record_name(one_time: bool, prekey_id: int) -> str:
    return f"{store.ONE_TIME_PREKEY if one_time else store.SIGNED_PREKEY}{prekey_id}"


def new_prekeys(
    ks: Keystore,
    identity: IdentityKeyPair,
    count: int,
    moment: datetime,
    random: RandomSource,
    policy: PrekeyPolicy,
    *,
    one_time: bool,
) -> list[SignedObject]:
    """Make ``count`` prekeys; their secrets are put in the keystore (save before publishing)."""
    out = []
    for prekey_id in _take_ids(ks, count):
        made = make_prekey(
            identity, prekey_id, moment, one_time=one_time, policy=policy, random=random
        )
        ks.put(_record_name(one_time, prekey_id), made.record.to_bytes())
        out.append(made.signed)
    return out


def delete_prekeys(ks: Keystore, ids: tuple[int, ...], *, one_time: bool) -> None:
    for prekey_id in ids:
        ks.delete(_record_name(one_time, prekey_id))


def prekey_secret(ks: Keystore, kind: int, prekey_id: int) -> bytes | None:
    """The secret of prekey ``prekey_id`` (kind 1 signed, 2 one-time), or None."""
    if kind not in (1, 2):
        return None
    raw = ks.get(_record_name(kind == 2, prekey_id))
    return None if raw is None else PrekeyRecord.from_bytes(raw).secret
