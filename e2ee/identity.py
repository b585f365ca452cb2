"""The program's identity: Ed25519 keys, signed prekeys, the signed profile and status.

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

Profile and status bodies are UTF-8 JSON produced by :func:`canonical_json`; parsing is
strict (exact keys, types, enums, lengths bounded by the ``MAX_*`` constants) and any
bad input raises :class:`~e2ee.errors.MalformedInput`, never anything else.

What an attacker who controls the relay can do: hand out an old but unexpired object,
withhold a one-time prekey, or withhold the status. It cannot substitute a key, edit a
profile, or pass off one kind of signed object as another: :func:`verify_bundle` checks
the identity key against the pinned one in constant time and every signature and expiry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

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

# -- labels and identifiers -------------------------------------------------------------

LABEL_SIGNED_PREKEY = "signed-prekey"
LABEL_ONE_TIME_PREKEY = "one-time-prekey"
LABEL_PROFILE = "profile"
LABEL_STATUS = "status"
LABEL_INVITE = "invite"
LABEL_ENROLL = "enroll"
LABEL_RELAY_AUTH = "relay-auth"
LABELS = frozenset(
    {
        LABEL_SIGNED_PREKEY,
        LABEL_ONE_TIME_PREKEY,
        LABEL_PROFILE,
        LABEL_STATUS,
        LABEL_INVITE,
        LABEL_ENROLL,
        LABEL_RELAY_AUTH,
    }
)

SIGNATURE_PREFIX = b"quietline-sig"
PROGRAM_ID_SIZE = 16
FINGERPRINT_SIZE = 20
_PROGRAM_ID_DOMAIN = b"quietline/v1/program-id"
_FINGERPRINT_DOMAIN = b"quietline/v1/fingerprint"

# -- limits -------------------------------------------------------------------------------

MAX_SIGNED_BODY_SIZE = 32 * 1024
MAX_PROFILE_SIZE = 32 * 1024
MAX_STATUS_SIZE = 4 * 1024
MAX_NAME_LENGTH = 200
MAX_NOTICE_TEXT_LENGTH = 4000
MAX_URL_LENGTH = 2048
MAX_QUESTIONS = 20
MAX_QUESTION_ID_LENGTH = 64
MAX_QUESTION_TEXT_LENGTH = 1000
MAX_HOURS_PERIODS = 28
MAX_TIMEZONE_LENGTH = 64
MAX_ALTERNATIVES = 10
MAX_ALTERNATIVE_LENGTH = 500
MAX_STATUS_MESSAGE_LENGTH = 1000
MAX_TIMESTAMP = (1 << 64) - 1

PROFILE_VERSION = PROTOCOL_VERSION
STATUS_VERSION = PROTOCOL_VERSION
PREKEY_BODY_SIZE = 4 + X25519_KEY_SIZE + 8

StatusState = Literal["open", "closed", "busy", "outage"]
STATUS_STATES: tuple[StatusState, ...] = ("open", "closed", "busy", "outage")


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
    """A signed or one-time prekey: id, X25519 public key and expiry (44 bytes)."""

    prekey_id: int
    public_key: bytes
    expires_at: int

    def __post_init__(self) -> None:
        _check_uint(self.prekey_id, 32, "prekey_id")
        _check_uint(self.expires_at, 64, "expires_at")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != X25519_KEY_SIZE:
            raise LocalProtocolError("prekey public key must be 32 bytes")

    def to_bytes(self) -> bytes:
        return u32(self.prekey_id) + self.public_key + u64(self.expires_at)

    @classmethod
    def from_bytes(cls, data: bytes) -> PrekeyBody:
        if not isinstance(data, bytes | bytearray) or len(data) != PREKEY_BODY_SIZE:
            raise MalformedInput("a prekey body is 44 bytes")
        data = bytes(data)
        return cls(
            prekey_id=int.from_bytes(data[0:4], "big"),
            public_key=data[4:36],
            expires_at=int.from_bytes(data[36:44], "big"),
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


# -- canonical JSON -----------------------------------------------------------------------


def canonical_json(obj: object) -> bytes:
    """``json.dumps(sort_keys, compact, ensure_ascii=False)`` as UTF-8: the signed form."""
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # includes UnicodeEncodeError (lone surrogates)
        raise LocalProtocolError("value cannot be encoded as canonical JSON") from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedInput("duplicate key in JSON object")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise MalformedInput(f"{name} is not allowed")


def _reject_float(text: str) -> Any:
    raise MalformedInput("numbers must be integers")


def _parse_json_object(data: bytes, limit: int) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray):
        raise MalformedInput("body must be bytes")
    if len(data) > limit:
        raise OversizedInput("body larger than its limit")
    try:
        text = bytes(data).decode("utf-8")
        obj = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_reject_float,
        )
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, int limit
        raise MalformedInput("body is not valid UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise MalformedInput("body must be a JSON object")
    return obj


# -- field validation (LocalProtocolError; parsers turn it into MalformedInput) ------------

_TIME_OF_DAY = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_TIMEZONE = re.compile(r"[A-Za-z0-9_+\-/]+")
_QUESTION_ID = re.compile(r"[A-Za-z0-9_\-]+")


def _text(value: object, what: str, max_length: int, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a string")
    if len(value) > max_length:
        raise LocalProtocolError(f"{what} longer than {max_length} characters")
    if non_empty and not value:
        raise LocalProtocolError(f"{what} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} is not valid Unicode text") from None
    return value


def _pattern(value: object, what: str, pattern: re.Pattern[str], max_length: int) -> str:
    text = _text(value, what, max_length, non_empty=True)
    if not pattern.fullmatch(text):
        raise LocalProtocolError(f"{what} has a bad format")
    return text


def _url(value: object, what: str) -> str:
    text = _text(value, what, MAX_URL_LENGTH)
    if not text.startswith(("https://", "http://")) or any(
        c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text
    ):
        raise LocalProtocolError(f"{what} must be an http(s) URL")
    return text


def _timestamp(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_TIMESTAMP:
        raise LocalProtocolError(f"{what} must be Unix seconds")
    return value


def _tuple_of(value: object, kind: type, what: str, max_items: int) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, kind) for v in value):
        raise LocalProtocolError(f"{what} must be a tuple of {kind.__name__}")
    if len(value) > max_items:
        raise LocalProtocolError(f"more than {max_items} {what}")


# -- profile --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """Rights and confidentiality in plain language, shown before the participant types."""

    voluntary: str
    choices: str
    information: str
    mandatory_reporting: str
    more_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("voluntary", "choices", "information", "mandatory_reporting"):
            _text(getattr(self, name), f"notice.{name}", MAX_NOTICE_TEXT_LENGTH)
        if self.more_url is not None:
            _url(self.more_url, "notice.more_url")

    def to_json(self) -> dict[str, str]:
        out = {
            "voluntary": self.voluntary,
            "choices": self.choices,
            "information": self.information,
            "mandatory_reporting": self.mandatory_reporting,
        }
        if self.more_url is not None:
            out["more_url"] = self.more_url
        return out


@dataclass(frozen=True)
class Question:
    """An optional question; ``why`` says why the program asks it."""

    id: str
    text: str
    why: str

    def __post_init__(self) -> None:
        _pattern(self.id, "question id", _QUESTION_ID, MAX_QUESTION_ID_LENGTH)
        _text(self.text, "question text", MAX_QUESTION_TEXT_LENGTH, non_empty=True)
        _text(self.why, "question why", MAX_QUESTION_TEXT_LENGTH)

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text, "why": self.why}


@dataclass(frozen=True)
class OpeningPeriod:
    """One weekly opening period; ``day`` 0 is Monday, times are ``HH:MM`` local time."""

    day: int
    open: str
    close: str

    def __post_init__(self) -> None:
        if type(self.day) is not int or not 0 <= self.day <= 6:
            raise LocalProtocolError("hours day must be 0 (Monday) to 6")
        _pattern(self.open, "opening time", _TIME_OF_DAY, 5)
        if self.close != "24:00":
            _pattern(self.close, "closing time", _TIME_OF_DAY, 5)

    def to_json(self) -> dict[str, object]:
        return {"day": self.day, "open": self.open, "close": self.close}


@dataclass(frozen=True)
class Hours:
    """Weekly hours in an IANA time zone (the name is checked for shape, not looked up)."""

    timezone: str
    weekly: tuple[OpeningPeriod, ...]

    def __post_init__(self) -> None:
        _pattern(self.timezone, "timezone", _TIMEZONE, MAX_TIMEZONE_LENGTH)
        _tuple_of(self.weekly, OpeningPeriod, "opening periods", MAX_HOURS_PERIODS)

    def to_json(self) -> dict[str, object]:
        return {"timezone": self.timezone, "weekly": [p.to_json() for p in self.weekly]}


@dataclass(frozen=True)
class Alternative:
    """Another way to reach the program (a phone number, a text line, an address)."""

    label: str
    value: str

    def __post_init__(self) -> None:
        _text(self.label, "alternative label", MAX_ALTERNATIVE_LENGTH, non_empty=True)
        _text(self.value, "alternative value", MAX_ALTERNATIVE_LENGTH, non_empty=True)

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "value": self.value}


@dataclass(frozen=True)
class Profile:
    """The program profile participants see, signed under ``profile``."""

    name: str
    notice: Notice
    safety_check_in: str
    questions: tuple[Question, ...]
    hours: Hours
    alternatives: tuple[Alternative, ...]
    quick_exit_url: str
    issued_at: int

    def __post_init__(self) -> None:
        _text(self.name, "name", MAX_NAME_LENGTH, non_empty=True)
        if not isinstance(self.notice, Notice):
            raise LocalProtocolError("notice must be a Notice")
        _text(self.safety_check_in, "safety_check_in", MAX_NOTICE_TEXT_LENGTH)
        _tuple_of(self.questions, Question, "questions", MAX_QUESTIONS)
        if len({q.id for q in self.questions}) != len(self.questions):
            raise LocalProtocolError("question ids must be unique")
        if not isinstance(self.hours, Hours):
            raise LocalProtocolError("hours must be Hours")
        _tuple_of(self.alternatives, Alternative, "alternatives", MAX_ALTERNATIVES)
        _url(self.quick_exit_url, "quick_exit_url")
        _timestamp(self.issued_at, "issued_at")

    def to_json(self) -> dict[str, object]:
        return {
            "v": PROFILE_VERSION,
            "name": self.name,
            "notice": self.notice.to_json(),
            "safety_check_in": self.safety_check_in,
            "questions": [q.to_json() for q in self.questions],
            "hours": self.hours.to_json(),
            "alternatives": [a.to_json() for a in self.alternatives],
            "quick_exit_url": self.quick_exit_url,
            "issued_at": self.issued_at,
        }

    def to_body(self) -> bytes:
        body = canonical_json(self.to_json())
        if len(body) > MAX_PROFILE_SIZE:
            raise LocalProtocolError("profile larger than MAX_PROFILE_SIZE")
        return body


def _object(
    value: object, what: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    keys = set(value)
    if not required <= keys or not keys <= required | optional:
        raise MalformedInput(f"{what} has missing or unknown keys")
    return cast(dict[str, Any], value)


def _list(value: object, what: str, max_items: int) -> Sequence[Any]:
    if not isinstance(value, list):
        raise MalformedInput(f"{what} must be a JSON array")
    if len(value) > max_items:
        raise MalformedInput(f"more than {max_items} {what}")
    return value


def _check_version(obj: Mapping[str, Any], version: int) -> None:
    if type(obj["v"]) is not int or obj["v"] != version:
        raise MalformedInput("unsupported version")


def parse_profile(data: bytes) -> Profile:
    """Parse a profile body (after its signature verified); MalformedInput on anything bad."""
    obj = _object(
        _parse_json_object(data, MAX_PROFILE_SIZE),
        "profile",
        {
            "v", "name", "notice", "safety_check_in", "questions", "hours",
            "alternatives", "quick_exit_url", "issued_at",
        },
    )  # fmt: skip
    _check_version(obj, PROFILE_VERSION)
    try:
        notice = _object(
            obj["notice"],
            "notice",
            {"voluntary", "choices", "information", "mandatory_reporting"},
            frozenset({"more_url"}),
        )
        if "more_url" in notice and not isinstance(notice["more_url"], str):
            raise MalformedInput("notice.more_url must be a string when present")
        hours = _object(obj["hours"], "hours", {"timezone", "weekly"})
        return Profile(
            name=obj["name"],
            notice=Notice(**notice),
            safety_check_in=obj["safety_check_in"],
            questions=tuple(
                Question(**_object(q, "question", {"id", "text", "why"}))
                for q in _list(obj["questions"], "questions", MAX_QUESTIONS)
            ),
            hours=Hours(
                timezone=hours["timezone"],
                weekly=tuple(
                    OpeningPeriod(**_object(p, "opening period", {"day", "open", "close"}))
                    for p in _list(hours["weekly"], "opening periods", MAX_HOURS_PERIODS)
                ),
            ),
            alternatives=tuple(
                Alternative(**_object(a, "alternative", {"label", "value"}))
                for a in _list(obj["alternatives"], "alternatives", MAX_ALTERNATIVES)
            ),
            quick_exit_url=obj["quick_exit_url"],
            issued_at=obj["issued_at"],
        )
    except LocalProtocolError as exc:
        raise MalformedInput(str(exc)) from None


def sign_profile(identity: IdentityKeyPair, profile: Profile) -> SignedObject:
    body = profile.to_body()
    return SignedObject(body, identity.sign(LABEL_PROFILE, body))


def verify_profile(identity_key: bytes, program_id: bytes, signed: SignedObject) -> Profile:
    """Verify the signature over the received bytes, then parse them."""
    return parse_profile(_verified_body(identity_key, LABEL_PROFILE, program_id, signed))


# -- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """A short-lived, signed statement of whether the program is answering now."""

    state: StatusState
    message: str
    issued_at: int
    expires_at: int

    def __post_init__(self) -> None:
        if self.state not in STATUS_STATES:
            raise LocalProtocolError("status state must be open, closed, busy or outage")
        _text(self.message, "status message", MAX_STATUS_MESSAGE_LENGTH)
        _timestamp(self.issued_at, "issued_at")
        _timestamp(self.expires_at, "expires_at")
        if self.expires_at < self.issued_at:
            raise LocalProtocolError("status expires before it was issued")

    def to_json(self) -> dict[str, object]:
        return {
            "v": STATUS_VERSION,
            "state": self.state,
            "message": self.message,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    def to_body(self) -> bytes:
        body = canonical_json(self.to_json())
        if len(body) > MAX_STATUS_SIZE:
            raise LocalProtocolError("status larger than MAX_STATUS_SIZE")
        return body


def parse_status(data: bytes) -> Status:
    """Parse a status body (after its signature verified); MalformedInput on anything bad."""
    obj = _object(
        _parse_json_object(data, MAX_STATUS_SIZE),
        "status",
        {"v", "state", "message", "issued_at", "expires_at"},
    )
    _check_version(obj, STATUS_VERSION)
    state = obj["state"]
    if not isinstance(state, str) or state not in STATUS_STATES:
        raise MalformedInput("status state must be open, closed, busy or outage")
    try:
        return Status(
            state=state,
            message=obj["message"],
            issued_at=obj["issued_at"],
            expires_at=obj["expires_at"],
        )
    except LocalProtocolError as exc:
        raise MalformedInput(str(exc)) from None


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
    bundle = _object(obj, "bundle", _BUNDLE_KEYS)
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
