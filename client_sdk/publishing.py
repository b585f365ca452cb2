"""The program's public face on the relay: enrollment, authentication and its bundle.

Everything published is signed with the identity key (labels from docs/protocol.md),
so a relay that edits or substitutes any of it is caught by the participant, who
checks it against the pinned key. Secrets never leave the keystore: a prekey's X25519
secret is stored (sealed) before its public half is published, and a one-time prekey
secret is deleted right after its one use.

Timing choices (named settings in :class:`PublishSettings`): the signed prekey lives a
week and its secret is kept for a grace period after expiry for handshakes in flight;
one-time prekeys are replenished to ``one_time_batch`` when the relay reports fewer than
``one_time_low_water``; the status lives ``status_ttl`` seconds and is re-signed when
less than ``status_margin`` is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client_sdk import store
from client_sdk.errors import VerificationFailure
from client_sdk.keystore import Keystore
from client_sdk.transport import RelayHTTP
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import (
    LABEL_ENROLL,
    LABEL_RELAY_AUTH,
    IdentityKeyPair,
    PrekeyBody,
    Profile,
    SignedObject,
    Status,
    StatusState,
    parse_profile,
    sign_prekey,
    sign_profile,
    sign_status,
)
from e2ee.primitives import RandomSource, sha256, x25519_generate

DAY = 86400


@dataclass(frozen=True)
class PublishSettings:
    signed_prekey_lifetime: int = 7 * DAY
    signed_prekey_grace: int = 2 * DAY
    signed_prekey_renew_before: int = 1 * DAY
    one_time_lifetime: int = 30 * DAY
    one_time_batch: int = 100
    one_time_low_water: int = 25
    status_ttl: int = 3600
    status_margin: int = 900


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
    "safety_check_in": "Before we start: is the device you are using safe? Could someone "
                       "be monitoring it? If it is not safe, you can leave at once with "
                       "the exit button and reach us another way.",
    "questions": [],
    "hours": {"timezone": "UTC", "weekly": [
        {"day": d, "open": "00:00", "close": "23:59"} for d in range(7)
    ]},
    "alternatives": [],
    "quick_exit_url": "https://www.wikipedia.org/",
}


def load_identity(ks: Keystore) -> IdentityKeyPair:
    seed = ks.get(store.IDENTITY)
    if seed is None:
        raise VerificationFailure("malformed", "keystore holds no identity key")
    return IdentityKeyPair.from_seed(seed)


def profile_from_content(content: dict[str, Any], now: int) -> Profile:
    """A :class:`Profile` from editable content (``v`` and ``issued_at`` are set here)."""
    obj = dict(DEFAULT_PROFILE)
    obj.update(content)
    obj["v"] = 1
    obj["issued_at"] = now
    return parse_profile(json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def read_profile_file(path: Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("a profile file must hold a JSON object")
    return data


def enrollment_signature(identity: IdentityKeyPair, enrollment_token: str) -> bytes:
    """Label ``enroll`` over ``SHA-256(enrollment_token as UTF-8)``."""
    return identity.sign(LABEL_ENROLL, sha256(enrollment_token.encode("utf-8")))


async def enroll(http: RelayHTTP, identity: IdentityKeyPair, enrollment_token: str) -> str:
    """Register the identity key; refuse a relay that answers another program id."""
    program_id = await http.enroll(
        enrollment_token, b64u_encode(identity.public_key),
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


def new_signed_prekey(
    ks: Keystore, identity: IdentityKeyPair, now: int, random: RandomSource,
    settings: PublishSettings,
) -> SignedObject:
    prekey_id = store.next_prekey_id(ks)
    secret, public = x25519_generate(random)
    expires_at = now + settings.signed_prekey_lifetime
    store.put_json(ks, f"{store.SIGNED_PREKEY}{prekey_id}", {
        "secret": b64u_encode(secret), "expires_at": expires_at, "current": True,
    })
    for name in ks.names(store.SIGNED_PREKEY):
        if name != f"{store.SIGNED_PREKEY}{prekey_id}":
            record = store.get_json(ks, name)
            if record.get("current"):
                record["current"] = False
                store.put_json(ks, name, record)
    return sign_prekey(identity, PrekeyBody(prekey_id, public, expires_at), one_time=False)


def current_signed_prekey_expiry(ks: Keystore) -> int | None:
    for name in ks.names(store.SIGNED_PREKEY):
        record = store.get_json(ks, name)
        if record.get("current"):
            return int(record["expires_at"])
    return None


def drop_expired_signed_prekeys(ks: Keystore, now: int, settings: PublishSettings) -> int:
    """Delete signed-prekey secrets past expiry plus grace; returns how many."""
    dropped = 0
    for name in ks.names(store.SIGNED_PREKEY):
        record = store.get_json(ks, name)
        grace_end = int(record["expires_at"]) + settings.signed_prekey_grace
        if not record.get("current") and now > grace_end:
            ks.delete(name)
            dropped += 1
    return dropped


def new_one_time_prekeys(
    ks: Keystore, identity: IdentityKeyPair, count: int, now: int, random: RandomSource,
    settings: PublishSettings,
) -> list[SignedObject]:
    out = []
    expires_at = now + settings.one_time_lifetime
    for _ in range(count):
        prekey_id = store.next_prekey_id(ks)
        secret, public = x25519_generate(random)
        ks.put(f"{store.ONE_TIME_PREKEY}{prekey_id}", secret)
        out.append(sign_prekey(identity, PrekeyBody(prekey_id, public, expires_at), one_time=True))
    return out


def prekey_secret(ks: Keystore, kind: int, prekey_id: int) -> bytes | None:
    """The secret of prekey ``prekey_id`` (kind 1 signed, 2 one-time), or None."""
    if kind == 1:
        record = store.get_json(ks, f"{store.SIGNED_PREKEY}{prekey_id}")
        return None if record is None else b64u_decode(record["secret"])
    if kind == 2:
        return ks.get(f"{store.ONE_TIME_PREKEY}{prekey_id}")
    return None


def make_status(state: StatusState, message: str, now: int, settings: PublishSettings) -> Status:
    return Status(state=state, message=message, issued_at=now, expires_at=now + settings.status_ttl)


def signed_profile(identity: IdentityKeyPair, profile: Profile) -> SignedObject:
    return sign_profile(identity, profile)


def signed_status(identity: IdentityKeyPair, status: Status) -> SignedObject:
    return sign_status(identity, status)
