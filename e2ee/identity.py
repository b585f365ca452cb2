"""The program's identity: Ed25519 keys, labelled signatures, prekeys and bundle checks.

Every signature is Ed25519 over (docs/protocol.md, Signatures)::

    "quietline-sig" || u8(1) || u8(len(label)) || label || program_id (16)
                    || u32(len(body)) || body

so a signature made for one label, one program or one body never verifies for another.
Signed objects travel as ``{"body": b64u, "signature": b64u}``; the verifier checks the
signature over the exact body bytes received and parses the body only after that.

Prekey body, 44 bytes::

    offset size field
    0      4    prekey_id u32
    4      32   X25519 public key
    36     8    expires_at u64 (Unix seconds)

The profile and status documents (their types, canonical JSON and strict parsers) live
in :mod:`e2ee.profile`; this module signs and verifies them under the ``profile`` and
``status`` labels and re-exports every public name of :mod:`e2ee.profile`, so
``from e2ee.identity import Profile`` keeps working. The dependency is one way:
``e2ee.profile`` imports nothing from here.

What an attacker who controls the relay can do: hand out an old but unexpired object,
withhold a one-time prekey, or withhold the status. It cannot substitute a key, edit a
profile, or pass off one kind of signed object as another: :func:`verify_bundle` checks
the identity key against the pinned one in constant time and every signature and expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from e2ee import PROTOCOL_VERSION
from e2ee.encoding import b64u_decode, b64u_encode, u8, u32, u64
from e2ee.errors import (
    Expired,
    InvalidKey,
    LocalProtocolError,
    MalformedInput,
    OversizedInput,
    UntrustedKey,
    VerificationError,
)
from e2ee.primitives import (
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SEED_SIZE,
    ED25519_SIGNATURE_SIZE,
    X25519_KEY_SIZE,
    RandomSource,
    constant_time_equal,
    ed25519_public_from_seed,
    ed25519_sign,
    ed25519_verify,
    sha256,
    system_random,
    x25519,
)
from e2ee.profile import (
    MAX_ALTERNATIVE_LENGTH,
    MAX_ALTERNATIVES,
    MAX_CLOSURE_LABEL_LENGTH,
    MAX_CLOSURES,
    MAX_HOURS_PERIODS,
    MAX_MORE_TEXT_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NOTICE_TEXT_LENGTH,
    MAX_PROFILE_SIZE,
    MAX_QUESTION_ID_LENGTH,
    MAX_QUESTION_TEXT_LENGTH,
    MAX_QUESTIONS,
    MAX_STATUS_MESSAGE_LENGTH,
    MAX_STATUS_SIZE,
    MAX_TIMESTAMP,
    MAX_TIMEZONE_LENGTH,
    MAX_URL_LENGTH,
    PROFILE_VERSION,
    STATUS_STATES,
    STATUS_VERSION,
    Alternative,
    Closure,
    Hours,
    Notice,
    OpeningPeriod,
    Profile,
    Question,
    Status,
    StatusState,
    canonical_json,
    parse_profile,
    parse_status,
)

__all__ = [
    # The names defined here and, re-exported, every public name of e2ee.profile.
    "FINGERPRINT_SIZE",
    "LABELS",
    "LABEL_ENROLL",
    "LABEL_GENERATION",
    "LABEL_INVITE",
    "LABEL_ONE_TIME_PREKEY",
    "LABEL_PROFILE",
    "LABEL_RELAY_AUTH",
    "LABEL_SIGNED_PREKEY",
    "LABEL_STATUS",
    "MAX_ALTERNATIVES",
    "MAX_ALTERNATIVE_LENGTH",
    "MAX_CLOSURES",
    "MAX_CLOSURE_LABEL_LENGTH",
    "MAX_HOURS_PERIODS",
    "MAX_MORE_TEXT_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_NOTICE_TEXT_LENGTH",
    "MAX_PROFILE_SIZE",
    "MAX_QUESTIONS",
    "MAX_QUESTION_ID_LENGTH",
    "MAX_QUESTION_TEXT_LENGTH",
    "MAX_SIGNED_BODY_SIZE",
    "MAX_STATUS_MESSAGE_LENGTH",
    "MAX_STATUS_SIZE",
    "MAX_TIMESTAMP",
    "MAX_TIMEZONE_LENGTH",
    "MAX_URL_LENGTH",
    "PREKEY_BODY_SIZE",
    "PROFILE_VERSION",
    "PROGRAM_ID_SIZE",
    "SIGNATURE_PREFIX",
    "STATUS_STATES",
    "STATUS_VERSION",
    "Alternative",
    "Closure",
    "Hours",
    "IdentityKeyPair",
    "Notice",
    "OpeningPeriod",
    "PrekeyBody",
    "Profile",
    "Question",
    "SignedObject",
    "Status",
    "StatusState",
    "VerifiedBundle",
    "canonical_json",
    "check_x25519_public_key",
    "fingerprint",
    "parse_profile",
    "parse_status",
    "program_id_for",
    "sign_prekey",
    "sign_profile",
    "sign_status",
    "signed_message",
    "verify_bundle",
    "verify_prekey",
    "verify_profile",
    "verify_signature",
    "verify_status",
]

# -- labels and identifiers -------------------------------------------------------------

LABEL_SIGNED_PREKEY = "signed-prekey"
LABEL_ONE_TIME_PREKEY = "one-time-prekey"
LABEL_PROFILE = "profile"
LABEL_STATUS = "status"
LABEL_INVITE = "invite"
LABEL_ENROLL = "enroll"
LABEL_RELAY_AUTH = "relay-auth"
LABEL_GENERATION = "generation"
"""A program node's store generation, sealed so that only the node can read it, kept
on the relay for rollback detection (client_sdk.vault.witness)."""
LABELS = frozenset(
    {
        LABEL_SIGNED_PREKEY,
        LABEL_ONE_TIME_PREKEY,
        LABEL_PROFILE,
        LABEL_STATUS,
        LABEL_INVITE,
        LABEL_ENROLL,
        LABEL_RELAY_AUTH,
        LABEL_GENERATION,
    }
)

SIGNATURE_PREFIX = b"quietline-sig"
PROGRAM_ID_SIZE = 16
FINGERPRINT_SIZE = 20
_PROGRAM_ID_DOMAIN = b"quietline/v1/program-id"
_FINGERPRINT_DOMAIN = b"quietline/v1/fingerprint"

# -- limits -------------------------------------------------------------------------------

MAX_SIGNED_BODY_SIZE = 32 * 1024

PREKEY_BODY_SIZE = 4 + X25519_KEY_SIZE + 8


def _check_key(key: object, size: int, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != size:
        raise InvalidKey(f"{what} must be {size} bytes")
    return bytes(key)


def program_id_for(identity_key: bytes) -> bytes:
    """``SHA-256("quietline/v1/program-id" || identity_key)[0:16]``."""
    key = _check_key(identity_key, ED25519_PUBLIC_KEY_SIZE, "identity key")
    return sha256(_PROGRAM_ID_DOMAIN + key)[:PROGRAM_ID_SIZE]


def fingerprint(identity_key: bytes) -> str:
    """What people compare: 40 upper-case hex digits of
    ``SHA-256("quietline/v1/fingerprint" || identity_key)[0:20]`` in 10 groups of 4."""
    key = _check_key(identity_key, ED25519_PUBLIC_KEY_SIZE, "identity key")
    digits = sha256(_FINGERPRINT_DOMAIN + key)[:FINGERPRINT_SIZE].hex().upper()
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


# -- signatures ---------------------------------------------------------------------------


def signed_message(label: str, program_id: bytes, body: bytes) -> bytes:
    """The exact bytes an Ed25519 signature covers (see the module docstring)."""
    if label not in LABELS:
        raise LocalProtocolError("unknown signature label")
    if not isinstance(program_id, bytes | bytearray) or len(program_id) != PROGRAM_ID_SIZE:
        raise LocalProtocolError("program_id must be 16 bytes")
    if not isinstance(body, bytes | bytearray):
        raise LocalProtocolError("signed body must be bytes")
    raw_label = label.encode("ascii")
    return (
        SIGNATURE_PREFIX
        + u8(PROTOCOL_VERSION)
        + u8(len(raw_label))
        + raw_label
        + bytes(program_id)
        + u32(len(body))
        + bytes(body)
    )


def verify_signature(
    identity_key: bytes, label: str, program_id: bytes, body: bytes, signature: bytes
) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` covers exactly these values."""
    key = _check_key(identity_key, ED25519_PUBLIC_KEY_SIZE, "identity key")
    if not isinstance(program_id, bytes | bytearray) or len(program_id) != PROGRAM_ID_SIZE:
        raise MalformedInput("program_id must be 16 bytes")
    ed25519_verify(key, signed_message(label, program_id, body), signature)


@dataclass(frozen=True)
class IdentityKeyPair:
    """The program's Ed25519 identity. The seed is the secret and never appears in repr."""

    seed: bytes = field(repr=False, compare=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        seed = _check_key(self.seed, ED25519_SEED_SIZE, "Ed25519 seed")
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "public_key", ed25519_public_from_seed(seed))

    @classmethod
    def generate(cls, random: RandomSource = system_random) -> IdentityKeyPair:
        return cls(random(ED25519_SEED_SIZE))

    @classmethod
    def from_seed(cls, seed: bytes) -> IdentityKeyPair:
        return cls(seed)

    @property
    def program_id(self) -> bytes:
        return program_id_for(self.public_key)

    def sign(self, label: str, body: bytes) -> bytes:
        """Sign ``body`` under ``label`` for this identity's own program id."""
        return ed25519_sign(self.seed, signed_message(label, self.program_id, body))


@dataclass(frozen=True)
class SignedObject:
    """A body and the Ed25519 signature over it, as carried in JSON."""

    body: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.body, bytes) or not isinstance(self.signature, bytes):
            raise LocalProtocolError("a signed object holds bytes")

    def to_json(self) -> dict[str, str]:
        return {"body": b64u_encode(self.body), "signature": b64u_encode(self.signature)}

    @classmethod
    def from_json(cls, obj: object) -> SignedObject:
        """Parse ``{"body": b64u, "signature": b64u}``; anything else is MalformedInput."""
        if not isinstance(obj, dict) or set(obj) != {"body", "signature"}:
            raise MalformedInput('a signed object must be {"body", "signature"}')
        body_text, signature_text = obj["body"], obj["signature"]
        if not isinstance(body_text, str) or not isinstance(signature_text, str):
            raise MalformedInput("signed object fields must be strings")
        if len(body_text) > (MAX_SIGNED_BODY_SIZE * 4 + 2) // 3:
            raise OversizedInput("signed body too large")
        body = b64u_decode(body_text)
        signature = b64u_decode(signature_text)
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise MalformedInput("signature must be 64 bytes")
        return cls(body, signature)


def _verified_body(
    identity_key: bytes, label: str, program_id: bytes, signed: SignedObject
) -> bytes:
    if not isinstance(signed, SignedObject):
        raise LocalProtocolError("expected a SignedObject")
    verify_signature(identity_key, label, program_id, signed.body, signed.signature)
    return signed.body


# -- prekeys ------------------------------------------------------------------------------

# Any clamped X25519 scalar maps every low-order point (and only those) to zero, so one
# multiplication by a fixed scalar tells whether a public key has low order.
_LOW_ORDER_PROBE = sha256(b"quietline/v1/low-order-probe")


def check_x25519_public_key(public_key: bytes) -> None:
    """Raise :class:`InvalidKey` for a wrong length or a low-order X25519 point."""
    x25519(_LOW_ORDER_PROBE, _check_key(public_key, X25519_KEY_SIZE, "X25519 public key"))


def _check_now(now: object) -> None:
    if type(now) is not int:
        raise LocalProtocolError("now must be Unix seconds as an int")


def _check_uint(value: object, bits: int, what: str) -> int:
    if type(value) is not int or not 0 <= value < 1 << bits:
        raise LocalProtocolError(f"{what} must be an unsigned {bits}-bit integer")
    return value


@dataclass(frozen=True)
class PrekeyBody:
    """A signed or one-time prekey: id, X25519 public key and expiry (44 bytes). The
    expiry is a u64 on the wire but at most 2**53 - 1, like every protocol time."""

    prekey_id: int
    public_key: bytes
    expires_at: int

    def __post_init__(self) -> None:
        _check_uint(self.prekey_id, 32, "prekey_id")
        if _check_uint(self.expires_at, 64, "expires_at") > MAX_TIMESTAMP:
            raise LocalProtocolError("expires_at must be at most 2**53 - 1 (exact in JavaScript)")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != X25519_KEY_SIZE:
            raise LocalProtocolError("prekey public key must be 32 bytes")

    def to_bytes(self) -> bytes:
        return u32(self.prekey_id) + self.public_key + u64(self.expires_at)

    @classmethod
    def from_bytes(cls, data: bytes) -> PrekeyBody:
        if not isinstance(data, bytes | bytearray) or len(data) != PREKEY_BODY_SIZE:
            raise MalformedInput("a prekey body is 44 bytes")
        data = bytes(data)
        expires_at = int.from_bytes(data[36:44], "big")
        if expires_at > MAX_TIMESTAMP:
            raise MalformedInput("a prekey's expires_at is past 2**53 - 1")
        return cls(
            prekey_id=int.from_bytes(data[0:4], "big"),
            public_key=data[4:36],
            expires_at=expires_at,
        )


def _prekey_label(one_time: bool) -> str:
    return LABEL_ONE_TIME_PREKEY if one_time else LABEL_SIGNED_PREKEY


def sign_prekey(identity: IdentityKeyPair, body: PrekeyBody, *, one_time: bool) -> SignedObject:
    raw = body.to_bytes()
    return SignedObject(raw, identity.sign(_prekey_label(one_time), raw))


def verify_prekey(
    identity_key: bytes, program_id: bytes, signed: SignedObject, *, one_time: bool, now: int
) -> PrekeyBody:
    """Verify, then parse; refuse a low-order key and a prekey at or past ``expires_at``."""
    _check_now(now)
    raw = _verified_body(identity_key, _prekey_label(one_time), program_id, signed)
    body = PrekeyBody.from_bytes(raw)
    check_x25519_public_key(body.public_key)
    if now >= body.expires_at:
        raise Expired("prekey has expired")
    return body


# -- profile and status signatures -------------------------------------------------------------


def sign_profile(identity: IdentityKeyPair, profile: Profile) -> SignedObject:
    body = profile.to_body()
    return SignedObject(body, identity.sign(LABEL_PROFILE, body))


def verify_profile(identity_key: bytes, program_id: bytes, signed: SignedObject) -> Profile:
    """Verify the signature over the received bytes, then parse them."""
    return parse_profile(_verified_body(identity_key, LABEL_PROFILE, program_id, signed))


def sign_status(identity: IdentityKeyPair, status: Status) -> SignedObject:
    body = status.to_body()
    return SignedObject(body, identity.sign(LABEL_STATUS, body))


def verify_status(
    identity_key: bytes, program_id: bytes, signed: SignedObject, *, now: int
) -> Status:
    """Verify, parse, and raise :class:`Expired` at or past ``expires_at``."""
    _check_now(now)
    status = parse_status(_verified_body(identity_key, LABEL_STATUS, program_id, signed))
    if now >= status.expires_at:
        raise Expired("status has expired")
    return status


# -- the bundle a participant fetches ----------------------------------------------------------

_BUNDLE_KEYS = {
    "program_id",
    "identity_key",
    "signed_prekey",
    "one_time_prekey",
    "profile",
    "status",
}


@dataclass(frozen=True)
class VerifiedBundle:
    """Everything in a bundle, after every check passed. ``status`` None means unknown."""

    program_id: bytes
    identity_key: bytes
    signed_prekey: PrekeyBody
    one_time_prekey: PrekeyBody | None
    profile: Profile
    status: Status | None

    @property
    def prekey(self) -> PrekeyBody:
        """The prekey a handshake uses: the one-time prekey if present, else the signed one."""
        return self.one_time_prekey if self.one_time_prekey is not None else self.signed_prekey


def _b64u_field(obj: Mapping[str, Any], name: str, size: int) -> bytes:
    value = b64u_decode(obj[name])
    if len(value) != size:
        raise MalformedInput(f"{name} must be {size} bytes")
    return value


def verify_bundle(obj: dict[str, Any], pinned_identity_key: bytes, *, now: int) -> VerifiedBundle:
    """Check a relay bundle against the pinned identity key; raise on any failure.

    The identity key must equal the pinned key (constant time, :class:`UntrustedKey`),
    ``program_id`` must derive from it, and every signature and expiry must hold. An
    expired status is returned as ``None`` (unknown); a bad status signature is an error.
    """
    _check_now(now)
    pinned = _check_key(pinned_identity_key, ED25519_PUBLIC_KEY_SIZE, "pinned identity key")
    if not isinstance(obj, dict):
        raise MalformedInput("bundle must be a JSON object")
    if set(obj) != _BUNDLE_KEYS:
        raise MalformedInput("bundle has missing or unknown keys")
    bundle: Mapping[str, Any] = obj
    identity_key = _b64u_field(bundle, "identity_key", ED25519_PUBLIC_KEY_SIZE)
    if not constant_time_equal(identity_key, pinned):
        raise UntrustedKey("identity key is not the pinned one")
    program_id = program_id_for(identity_key)
    if not constant_time_equal(_b64u_field(bundle, "program_id", PROGRAM_ID_SIZE), program_id):
        raise VerificationError("program_id does not belong to the identity key")
    signed_prekey = verify_prekey(
        identity_key,
        program_id,
        SignedObject.from_json(bundle["signed_prekey"]),
        one_time=False,
        now=now,
    )
    one_time_prekey = None
    if bundle["one_time_prekey"] is not None:
        one_time_prekey = verify_prekey(
            identity_key,
            program_id,
            SignedObject.from_json(bundle["one_time_prekey"]),
            one_time=True,
            now=now,
        )
    profile = verify_profile(identity_key, program_id, SignedObject.from_json(bundle["profile"]))
    status = None
    if bundle["status"] is not None:
        try:
            status = verify_status(
                identity_key, program_id, SignedObject.from_json(bundle["status"]), now=now
            )
        except Expired:
            status = None
    return VerifiedBundle(
        program_id=program_id,
        identity_key=identity_key,
        signed_prekey=signed_prekey,
        one_time_prekey=one_time_prekey,
        profile=profile,
        status=status,
    )
