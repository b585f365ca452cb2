"""The typed payloads carried inside the ciphertext (docs/protocol.md, "Payloads").

A payload is one UTF-8 JSON object with a type ``t``, encoded canonically
(``sort_keys``, no spaces, ``ensure_ascii=False``), at most :data:`MAX_PLAINTEXT_SIZE`
bytes before padding. ``ts`` (sender's clock, Unix milliseconds) exists only here,
inside the ciphertext.

==================== ===============================================================
``t``                fields (class)
==================== ===============================================================
text                 body, ts (:class:`Text`)
notice               kind (one of :data:`NOTICE_KINDS`), body, ts (:class:`Notice`)
system               event, ts (:class:`System`)
code_word_request    alias, ts (:class:`CodeWordRequest`)
code_word_answer     alias, word, ts (:class:`CodeWordAnswer`)
duress               ts (:class:`Duress`)
answers              answers (question id -> string), ts (:class:`Answers`)
invite               slot, role, identity_key (b64u), prekey, invite (signed objects), ts
consent              slot, accept (bool), ts (:class:`Consent`)
close                reason, ts (:class:`Close`)
queue                position (1 = next), ts (:class:`Queue`)
joined               name (the support worker's first name or alias), ts (:class:`Joined`)
typing               active (bool), ts (:class:`Typing`)
delivered            count (text messages received so far), ts (:class:`Delivered`)
==================== ===============================================================

``queue``, ``joined``, ``typing`` and ``delivered`` tell the participant what is happening
(docs/threat-model.md says what their timing shows the relay).

``repr`` of a payload shows its type and the sizes of its fields, never their contents
(a transcript must not leak into logs or tracebacks); :class:`CodeWordAnswer` compares
in constant time.

Every payload class checks its fields when constructed (a bad value is the caller's
mistake, :class:`~e2ee.errors.LocalProtocolError`). :func:`decode_payload` is strict: exact
key set, JSON types (no floats, no booleans for integers), enums, UTF-8 byte lengths of
strings (the same number in every language), no duplicate keys, no lone surrogates; it
raises only :class:`~e2ee.errors.MalformedInput` or :class:`~e2ee.errors.OversizedInput`.
A payload decodes only from the bytes the sender authenticated, so a malformed one
means a faulty (not a forged) peer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.envelope import MAX_SLOT, PROGRAM_SLOT
from e2ee.errors import LocalProtocolError, MalformedInput
from e2ee.identity import SignedObject
from e2ee.primitives import ED25519_PUBLIC_KEY_SIZE, constant_time_equal
from e2ee.profile import _parse_json_object

MAX_PLAINTEXT_SIZE = 16 * 1024
"""Largest encoded payload, in bytes, before padding."""

MAX_TIMESTAMP_MS = 2**53 - 1
"""``ts`` is an integer in [0, 2**53 - 1] so JavaScript reads it exactly."""

MAX_LABEL_SIZE = 64
"""UTF-8 bytes of short identifiers: system event, role, code-word alias, question id."""

MAX_CODE_WORD_SIZE = 256
MAX_REASON_SIZE = 1000
MAX_ANSWER_SIZE = 1000
MAX_ANSWERS = 20
MAX_QUEUE_POSITION = 100_000
MAX_DELIVERED_COUNT = 2**31 - 1

NOTICE_KINDS = frozenset(
    {
        "rights",
        "safety_check_in",
        "inactivity",
        "closing",
        "shift_change",
        "transfer",
        "code_word_request",
        "custom",
    }
)

FIRST_INVITED_SLOT = PROGRAM_SLOT + 1

QUESTION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""An :class:`Answers` key: a profile question id (e2ee.profile, docs/protocol.md)."""


# -- field checks (raise LocalProtocolError; the decoder turns them into MalformedInput) --


def _check_ts(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TIMESTAMP_MS:
        raise LocalProtocolError("ts must be an integer in [0, 2**53 - 1] (Unix milliseconds)")


def _check_str(value: object, what: str, limit: int | None = None) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} is not valid Unicode text") from None
    if limit is not None and size > limit:
        raise LocalProtocolError(f"{what} longer than {limit} UTF-8 bytes")


def _check_label(value: object, what: str) -> None:
    _check_str(value, what, MAX_LABEL_SIZE)
    assert isinstance(value, str)
    if not value:
        raise LocalProtocolError(f"{what} must not be empty")


def _check_question_id(value: object) -> None:
    if not isinstance(value, str) or not QUESTION_ID_PATTERN.fullmatch(value):
        raise LocalProtocolError("question id must match [A-Za-z0-9_-]{1,64}")


def _size(value: object) -> str:
    if isinstance(value, str):
        return f"<{len(value)} chars>"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return f"<{len(value)} items>"
    return "<hidden>"


def _hidden_repr(payload: Any) -> str:
    """``Type(field=<size>, ...)``: the shape of a payload, never its contents."""
    shown = ", ".join(f"{f.name}={_size(getattr(payload, f.name))}" for f in fields(payload))
    return f"{type(payload).__name__}({shown})"


def _check_invited_slot(value: object) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not FIRST_INVITED_SLOT <= value <= MAX_SLOT
    ):
        raise LocalProtocolError(f"slot must be an invited party's slot {FIRST_INVITED_SLOT}..7")


# -- payload types --------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A chat message."""

    T: ClassVar[str] = "text"
    __repr__ = _hidden_repr
    body: str
    ts: int

    def __post_init__(self) -> None:
        _check_str(self.body, "body")
        _check_ts(self.ts)


@dataclass(frozen=True)
class Notice:
    """A canned notice (rights, safety check-in, inactivity warning, ...)."""

    T: ClassVar[str] = "notice"
    __repr__ = _hidden_repr
    kind: str
    body: str
    ts: int

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in NOTICE_KINDS:
            raise LocalProtocolError("unknown notice kind")
        _check_str(self.body, "body")
        _check_ts(self.ts)


@dataclass(frozen=True)
class System:
    """A system event (joined, transferred, typing, ...): a short identifier."""

    T: ClassVar[str] = "system"
    __repr__ = _hidden_repr
    event: str
    ts: int

    def __post_init__(self) -> None:
        _check_label(self.event, "event")
        _check_ts(self.ts)


@dataclass(frozen=True)
class CodeWordRequest:
    """The program asks a returning participant for the code word of ``alias``."""

    T: ClassVar[str] = "code_word_request"
    __repr__ = _hidden_repr
    alias: str
    ts: int

    def __post_init__(self) -> None:
        _check_label(self.alias, "alias")
        _check_ts(self.ts)


@dataclass(frozen=True, eq=False)
class CodeWordAnswer:
    """The participant's answer. The code word is a secret: ``repr`` hides it and ``==``
    runs in constant time (over the canonical encoding); not hashable."""

    T: ClassVar[str] = "code_word_answer"
    __repr__ = _hidden_repr
    alias: str
    word: str
    ts: int

    def __post_init__(self) -> None:
        _check_label(self.alias, "alias")
        _check_str(self.word, "word", MAX_CODE_WORD_SIZE)
        _check_ts(self.ts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CodeWordAnswer):
            return NotImplemented
        return constant_time_equal(encode_payload(self), encode_payload(other))


@dataclass(frozen=True)
class Duress:
    """The participant signals danger without saying so on screen."""

    T: ClassVar[str] = "duress"
    __repr__ = _hidden_repr
    ts: int

    def __post_init__(self) -> None:
        _check_ts(self.ts)


@dataclass(frozen=True)
class Answers:
    """Answers to the profile's optional questions (question id -> answer)."""

    T: ClassVar[str] = "answers"
    __repr__ = _hidden_repr
    answers: Mapping[str, str]
    ts: int

    def __post_init__(self) -> None:
        if not isinstance(self.answers, Mapping):
            raise LocalProtocolError("answers must be a mapping")
        if len(self.answers) > MAX_ANSWERS:
            raise LocalProtocolError(f"more than {MAX_ANSWERS} answers")
        for key, value in self.answers.items():
            _check_question_id(key)
            _check_str(value, "answer", MAX_ANSWER_SIZE)
        frozen = MappingProxyType(dict(sorted(self.answers.items())))
        object.__setattr__(self, "answers", frozen)
        _check_ts(self.ts)

    def __hash__(self) -> int:
        return hash((tuple(self.answers.items()), self.ts))


@dataclass(frozen=True)
class Invite:
    """The program invites a third party (e.g. an interpreter) into ``slot``.

    ``identity_key`` and the signed ``prekey`` are the newcomer's; ``invite`` is the
    program's signed invitation. The participant's client verifies both before asking
    the participant, and never encrypts to the newcomer without a :class:`Consent`.
    """

    T: ClassVar[str] = "invite"
    __repr__ = _hidden_repr
    slot: int
    role: str
    identity_key: bytes
    prekey: SignedObject
    invite: SignedObject
    ts: int

    def __post_init__(self) -> None:
        _check_invited_slot(self.slot)
        _check_label(self.role, "role")
        if not isinstance(self.identity_key, bytes) or len(self.identity_key) != (
            ED25519_PUBLIC_KEY_SIZE
        ):
            raise LocalProtocolError("identity_key must be 32 bytes")
        if not isinstance(self.prekey, SignedObject) or not isinstance(self.invite, SignedObject):
            raise LocalProtocolError("prekey and invite must be SignedObject")
        _check_ts(self.ts)


@dataclass(frozen=True)
class Consent:
    """The participant's answer to an :class:`Invite` for ``slot``."""

    T: ClassVar[str] = "consent"
    __repr__ = _hidden_repr
    slot: int
    accept: bool
    ts: int

    def __post_init__(self) -> None:
        _check_invited_slot(self.slot)
        if not isinstance(self.accept, bool):
            raise LocalProtocolError("accept must be a boolean")
        _check_ts(self.ts)


@dataclass(frozen=True)
class Close:
    """The conversation ends; both sides delete their session."""

    T: ClassVar[str] = "close"
    __repr__ = _hidden_repr
    reason: str
    ts: int

    def __post_init__(self) -> None:
        _check_str(self.reason, "reason", MAX_REASON_SIZE)
        _check_ts(self.ts)


def _check_int(value: object, what: str, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise LocalProtocolError(f"{what} must be an integer in [{low}, {high}]")


@dataclass(frozen=True)
class Queue:
    """The participant's place in the queue (program to participant); 1 is next."""

    T: ClassVar[str] = "queue"
    __repr__ = _hidden_repr
    position: int
    ts: int

    def __post_init__(self) -> None:
        _check_int(self.position, "position", 1, MAX_QUEUE_POSITION)
        _check_ts(self.ts)


@dataclass(frozen=True)
class Joined:
    """A support worker took the conversation; ``name`` is the one they chose to show."""

    T: ClassVar[str] = "joined"
    __repr__ = _hidden_repr
    name: str
    ts: int

    def __post_init__(self) -> None:
        _check_label(self.name, "name")
        _check_ts(self.ts)


@dataclass(frozen=True)
class Typing:
    """The sender started (``active``) or stopped writing."""

    T: ClassVar[str] = "typing"
    __repr__ = _hidden_repr
    active: bool
    ts: int

    def __post_init__(self) -> None:
        if not isinstance(self.active, bool):
            raise LocalProtocolError("active must be a boolean")
        _check_ts(self.ts)


@dataclass(frozen=True)
class Delivered:
    """The sender has received the first ``count`` text messages of the other side."""

    T: ClassVar[str] = "delivered"
    __repr__ = _hidden_repr
    count: int
    ts: int

    def __post_init__(self) -> None:
        _check_int(self.count, "count", 0, MAX_DELIVERED_COUNT)
        _check_ts(self.ts)


Payload = (
    Text
    | Notice
    | System
    | CodeWordRequest
    | CodeWordAnswer
    | Duress
    | Answers
    | Invite
    | Consent
    | Close
    | Queue
    | Joined
    | Typing
    | Delivered
)

PAYLOAD_TYPES: Mapping[str, type[Payload]] = MappingProxyType(
    {
        cls.T: cls
        for cls in (
            Text,
            Notice,
            System,
            CodeWordRequest,
            CodeWordAnswer,
            Duress,
            Answers,
            Invite,
            Consent,
            Close,
            Queue,
            Joined,
            Typing,
            Delivered,
        )
    }
)


# -- encoding -----------------------------------------------------------------------------


def _to_json_value(value: object) -> object:
    if isinstance(value, SignedObject):
        return value.to_json()
    if isinstance(value, bytes):
        return b64u_encode(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def encode_payload(payload: Payload) -> bytes:
    """Canonical UTF-8 JSON; :class:`LocalProtocolError` if over :data:`MAX_PLAINTEXT_SIZE`."""
    if type(payload) not in PAYLOAD_TYPES.values():
        raise LocalProtocolError("not a payload")
    obj: dict[str, object] = {"t": payload.T}
    for field in fields(payload):
        obj[field.name] = _to_json_value(getattr(payload, field.name))
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > MAX_PLAINTEXT_SIZE:
        raise LocalProtocolError("payload larger than MAX_PLAINTEXT_SIZE")
    return data


# -- decoding -----------------------------------------------------------------------------


def _from_json_value(cls: type[Payload], name: str, value: object) -> object:
    if cls is Invite and name == "identity_key":
        return b64u_decode(value)  # type: ignore[arg-type]  # non-str: MalformedInput
    if cls is Invite and name in ("prekey", "invite"):
        return SignedObject.from_json(value)
    if cls is Answers and name == "answers" and not isinstance(value, dict):
        raise MalformedInput("answers must be an object")
    return value


def decode_payload(data: bytes) -> Payload:
    """Parse and validate; raises only :class:`MalformedInput` / :class:`OversizedInput`."""
    obj = _parse_json_object(data, MAX_PLAINTEXT_SIZE)  # the profile's strict parser
    kind = obj.get("t")
    cls = PAYLOAD_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MalformedInput("unknown payload type")
    names = [field.name for field in fields(cls)]
    if set(obj) != {"t", *names}:
        raise MalformedInput(f"{kind} payload must have exactly the keys t, {', '.join(names)}")
    try:
        values: dict[str, Any] = {name: _from_json_value(cls, name, obj[name]) for name in names}
        return cls(**values)
    except LocalProtocolError as exc:
        raise MalformedInput(str(exc)) from None
