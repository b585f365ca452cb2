"""The program's public documents: the profile and the status, as canonical JSON.

What a participant is shown before typing (name, rights and confidentiality notice,
safety check-in, optional questions, hours, alternatives, quick exit) and whether the
program is answering now. Signing and verifying these documents is
:mod:`e2ee.identity`'s job (labels ``profile`` and ``status``); this module only says
what a valid document is, so it depends on nothing but the error tree.

Bodies are UTF-8 JSON produced by :func:`canonical_json` (docs/protocol.md, Profile and
status). Parsing is strict: no duplicate keys, floats or NaN anywhere in the body; no
``null`` for an optional key, no lone surrogates in a text, enums checked, lengths and
counts bounded by the ``MAX_*`` constants. A status has exact keys. A profile must have
every key its version requires and every key this version knows is checked, but keys
it does not know are ignored (forward compatibility: a newer program's optional keys do
not stop an older verifier); a change older verifiers must not ignore raises ``v``,
which they refuse. Unknown keys are inside the signed body like the rest, so only the
identity key's holder can add one; they are held to the JSON rules above and to what
the widget's parser reads (nesting, safe integers), so both verifiers agree. A
:class:`Profile` is still made of known fields only. Any bad input raises
:class:`~e2ee.errors.MalformedInput` (or its subclass
:class:`~e2ee.errors.OversizedInput`), never anything else, so a hostile relay that
serves a crafted body can only make verification fail. Constructing a document with bad
fields is the caller's mistake and raises :class:`~e2ee.errors.LocalProtocolError`.

Parsers take the exact bytes whose signature was verified; they never re-serialize.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date as _date
from typing import Any, Literal, cast

from e2ee import PROTOCOL_VERSION
from e2ee.errors import LocalProtocolError, MalformedInput, OversizedInput

__all__ = [
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
    "MAX_STATUS_MESSAGE_LENGTH",
    "MAX_STATUS_SIZE",
    "MAX_TIMESTAMP",
    "MAX_TIMEZONE_LENGTH",
    "MAX_URL_LENGTH",
    "PROFILE_VERSION",
    "STATUS_STATES",
    "STATUS_VERSION",
    "Alternative",
    "Closure",
    "Hours",
    "Notice",
    "OpeningPeriod",
    "Profile",
    "Question",
    "Status",
    "StatusState",
    "canonical_json",
    "parse_profile",
    "parse_status",
]

# -- limits -------------------------------------------------------------------------------

MAX_PROFILE_SIZE = 32 * 1024
MAX_STATUS_SIZE = 4 * 1024
MAX_NAME_LENGTH = 200
MAX_NOTICE_TEXT_LENGTH = 4000
MAX_MORE_TEXT_LENGTH = 12000
MAX_URL_LENGTH = 2048
MAX_QUESTIONS = 20
MAX_QUESTION_ID_LENGTH = 64
MAX_QUESTION_TEXT_LENGTH = 1000
MAX_HOURS_PERIODS = 28
MAX_CLOSURES = 64
MAX_CLOSURE_LABEL_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64
MAX_ALTERNATIVES = 10
MAX_ALTERNATIVE_LENGTH = 500
MAX_STATUS_MESSAGE_LENGTH = 1000
MAX_TIMESTAMP = 2**53 - 1
"""Signed times are integers in [0, 2**53 - 1] (JavaScript's safe integers, as payload ``ts``)."""

PROFILE_VERSION = PROTOCOL_VERSION
STATUS_VERSION = PROTOCOL_VERSION

StatusState = Literal["open", "closed", "busy", "outage"]
STATUS_STATES: tuple[StatusState, ...] = ("open", "closed", "busy", "outage")

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
    """The strict JSON-object parser of the profile, the status and every payload."""
    if not isinstance(data, bytes | bytearray | memoryview):
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
_LANGUAGE = re.compile(r"[a-z]{2,3}")


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


URL_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
r"""Unicode general categories refused anywhere in a URL: controls, format characters
(zero-width, BOM, bidi overrides) and every kind of space or separator. The widget
applies the same rule (``/[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u``)."""


def _url(value: object, what: str) -> str:
    text = _text(value, what, MAX_URL_LENGTH)
    if not text.startswith(("https://", "http://")) or any(
        unicodedata.category(c) in URL_REFUSED_CATEGORIES for c in text
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
    more_text: str | None = None
    """The program's longer text on how it handles information, shown inside the widget
    (so that a quick exit covers it too) when the participant asks for more."""

    def __post_init__(self) -> None:
        for name in ("voluntary", "choices", "information", "mandatory_reporting"):
            _text(getattr(self, name), f"notice.{name}", MAX_NOTICE_TEXT_LENGTH)
        if self.more_url is not None:
            _url(self.more_url, "notice.more_url")
        if self.more_text is not None:
            _text(self.more_text, "notice.more_text", MAX_MORE_TEXT_LENGTH, non_empty=True)

    def to_json(self) -> dict[str, str]:
        out = {
            "voluntary": self.voluntary,
            "choices": self.choices,
            "information": self.information,
            "mandatory_reporting": self.mandatory_reporting,
        }
        if self.more_url is not None:
            out["more_url"] = self.more_url
        if self.more_text is not None:
            out["more_text"] = self.more_text
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


_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


@dataclass(frozen=True)
class Closure:
    """A whole day closed (a holiday, a one-off closure): the calendar ``date``
    (``YYYY-MM-DD``) in the hours' time zone, and a ``label`` shown to participants
    (may be empty)."""

    date: str
    label: str = ""

    def __post_init__(self) -> None:
        _pattern(self.date, "closure date", _DATE, 10)
        try:
            _date.fromisoformat(self.date)
        except ValueError:
            raise LocalProtocolError("closure date is not a calendar date") from None
        _text(self.label, "closure label", MAX_CLOSURE_LABEL_LENGTH)

    def to_json(self) -> dict[str, str]:
        return {"date": self.date, "label": self.label}


@dataclass(frozen=True)
class Hours:
    """Weekly hours in an IANA time zone (the name is checked for shape, not looked up),
    and whole days closed (``closures``, optional: left out of the JSON when empty, so a
    profile without them signs exactly as before)."""

    timezone: str
    weekly: tuple[OpeningPeriod, ...]
    closures: tuple[Closure, ...] = ()

    def __post_init__(self) -> None:
        _pattern(self.timezone, "timezone", _TIMEZONE, MAX_TIMEZONE_LENGTH)
        _tuple_of(self.weekly, OpeningPeriod, "opening periods", MAX_HOURS_PERIODS)
        _tuple_of(self.closures, Closure, "closures", MAX_CLOSURES)
        if len({c.date for c in self.closures}) != len(self.closures):
            raise LocalProtocolError("closure dates must be unique")

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "timezone": self.timezone,
            "weekly": [p.to_json() for p in self.weekly],
        }
        if self.closures:
            out["closures"] = [c.to_json() for c in self.closures]
        return out


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
    language: str | None = None
    """The language the program writes its texts in, a BCP 47 primary language subtag
    (``fr``, ``es``): the widget speaks it when the page around it names none it has."""

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
        if self.language is not None:
            _pattern(self.language, "language", _LANGUAGE, 8)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
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
        if self.language is not None:
            out["language"] = self.language
        return out

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


MAX_JSON_DEPTH = 64
"""Nesting the widget's parser accepts (widget/protocol/json.js); a profile's unknown keys
are held to it here too, so both verifiers accept and refuse the same bodies."""


def _portable(value: object, depth: int = 0) -> None:
    """Refuse what the widget's parser refuses though Python's would not: nesting deeper
    than :data:`MAX_JSON_DEPTH` and integers outside JavaScript's safe range."""
    if depth > MAX_JSON_DEPTH:
        raise MalformedInput("JSON nested too deeply")
    if isinstance(value, dict):
        for item in value.values():
            _portable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _portable(item, depth + 1)
    elif type(value) is int and abs(value) > MAX_TIMESTAMP:
        raise MalformedInput("integer out of range")


def _known(
    value: object, what: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A profile object's known keys: every required one present, unknown ones dropped
    (they were verified with the rest of the body; this version has no use for them)."""
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    if not required <= set(value):
        raise MalformedInput(f"{what} has missing keys")
    return {k: v for k, v in value.items() if k in required or k in optional}


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
    """Parse a profile body (after its signature verified); MalformedInput on anything bad.

    The version is checked first (a newer version is refused whatever its keys); keys
    this version does not know are ignored at every level (docs/protocol.md)."""
    raw = _parse_json_object(data, MAX_PROFILE_SIZE)
    _portable(raw)
    if "v" not in raw:
        raise MalformedInput("profile has missing keys")
    _check_version(raw, PROFILE_VERSION)
    obj = _known(
        raw,
        "profile",
        {
            "v", "name", "notice", "safety_check_in", "questions", "hours",
            "alternatives", "quick_exit_url", "issued_at",
        },
        frozenset({"language"}),
    )  # fmt: skip
    try:
        notice = _known(
            obj["notice"],
            "notice",
            {"voluntary", "choices", "information", "mandatory_reporting"},
            frozenset({"more_url", "more_text"}),
        )
        for key in ("more_url", "more_text"):
            if key in notice and not isinstance(notice[key], str):
                raise MalformedInput(f"notice.{key} must be a string when present")
        if "language" in obj and not isinstance(obj["language"], str):
            raise MalformedInput("language must be a string when present")
        hours = _known(obj["hours"], "hours", {"timezone", "weekly"}, frozenset({"closures"}))
        return Profile(
            name=obj["name"],
            notice=Notice(**notice),
            safety_check_in=obj["safety_check_in"],
            questions=tuple(
                Question(**_known(q, "question", {"id", "text", "why"}))
                for q in _list(obj["questions"], "questions", MAX_QUESTIONS)
            ),
            hours=Hours(
                timezone=hours["timezone"],
                weekly=tuple(
                    OpeningPeriod(**_known(p, "opening period", {"day", "open", "close"}))
                    for p in _list(hours["weekly"], "opening periods", MAX_HOURS_PERIODS)
                ),
                closures=tuple(
                    Closure(**_known(c, "closure", {"date", "label"}))
                    for c in _list(hours.get("closures", []), "closures", MAX_CLOSURES)
                ),
            ),
            alternatives=tuple(
                Alternative(**_known(a, "alternative", {"label", "value"}))
                for a in _list(obj["alternatives"], "alternatives", MAX_ALTERNATIVES)
            ),
            quick_exit_url=obj["quick_exit_url"],
            issued_at=obj["issued_at"],
            language=obj.get("language"),
        )
    except LocalProtocolError as exc:
        raise MalformedInput(str(exc)) from None


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
