"""The editable profile (``--profile FILE``, ``ProgramClient.publish_profile``), checked
key by key before anything is signed, sent or written.

The content is a JSON object with any of the profile keys of docs/protocol.md. Missing
keys get the defaults of :data:`client_sdk.publishing.DEFAULT_PROFILE`; inside
``notice`` and ``hours`` each missing key gets its default too, so a file may change
one notice text and keep the others. ``v`` and ``issued_at`` are set by the node.

Every refusal is a :class:`ProfileError` naming the key as a dotted path
(``notice.voluntary``, ``questions[1].text``, ``hours.weekly[0].open``) and what is
wrong with it. Beyond the protocol's own rules (:mod:`e2ee.profile`, which every
participant applies), the node refuses a time zone the system's zone database does not
know and hours that would leave the program closed at every hour of the week.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from client_sdk.workflow.hours import WeeklyHours
from e2ee import profile as prof
from e2ee.errors import LocalProtocolError, MalformedInput, OversizedInput

RESERVED = {"v": "the protocol version", "issued_at": "the signing time"}
TOP_KEYS = (
    "name",
    "notice",
    "safety_check_in",
    "questions",
    "hours",
    "alternatives",
    "quick_exit_url",
    "language",
)
NOTICE_KEYS = (
    "voluntary",
    "choices",
    "information",
    "mandatory_reporting",
    "more_url",
    "more_text",
)
HOURS_KEYS = ("timezone", "weekly", "closures")


class ProfileError(ValueError):
    """A profile refused: ``key`` is the dotted path, ``problem`` what is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"profile key {key}: {problem}")
        self.key = key
        self.problem = problem


def _unknown(path: str, key: str, allowed: tuple[str, ...]) -> ProfileError:
    where = f"{path}.{key}" if path else key
    if key in RESERVED and not path:
        return ProfileError(where, f"is {RESERVED[key]}, set by the node: remove it")
    guess = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {path + '.' if path else ''}{guess[0]}?)" if guess else ""
    return ProfileError(where, f"unknown key{hint}; known keys: {', '.join(allowed)}")


def _object(value: object, path: str, shape: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(path, f"must be a JSON object {shape}")
    return value


def _check_keys(obj: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in obj:
        if key not in allowed:
            raise _unknown(path, key, allowed)
        if obj[key] is None:
            where = f"{path}.{key}" if path else key
            raise ProfileError(where, "is null: leave the key out instead")


def _problem(message: str, what: str) -> str:
    return message[len(what) + 1 :] if message.startswith(what + " ") else message


_FORMATS = {
    "day": "must be 0 (Monday) to 6 (Sunday)",
    "open": "must be a time HH:MM, 00:00 to 23:59",
    "close": "must be a time HH:MM, 00:00 to 23:59, or 24:00",
    "timezone": "must be an IANA time zone name such as Europe/Paris",
    "date": "must be a date YYYY-MM-DD, e.g. 2026-12-25",
    "id": "must be 1 to 64 letters, digits, _ or -",
    "language": "must be a language code of two or three lowercase letters, such as fr or es",
}


def _field(path: str, baseline: Any, field: str, value: object, what: str) -> None:
    """Check one value by the protocol's rule for it (the dataclass of ``baseline``)."""
    try:
        dataclasses.replace(baseline, **{field: value})
    except LocalProtocolError as exc:
        problem = _problem(str(exc), what)
        if problem == "has a bad format" or field == "day":
            problem = _FORMATS.get(field, problem)
        raise ProfileError(path, problem) from None
    except TypeError:
        raise ProfileError(path, "has the wrong type") from None


def _items(value: object, path: str, limit: int, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    shape = "{" + ", ".join(keys) + "}"
    if not isinstance(value, list):
        raise ProfileError(path, f"must be a JSON array of objects {shape}")
    if len(value) > limit:
        raise ProfileError(path, f"has {len(value)} entries; at most {limit} are allowed")
    out = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        obj = _object(item, where, shape)
        _check_keys(obj, where, keys)
        for key in keys:
            if key not in obj:
                raise ProfileError(f"{where}.{key}", "is missing")
        out.append(obj)
    return out


_QUESTION = prof.Question("q", "q", "")
_PERIOD = prof.OpeningPeriod(0, "00:00", "24:00")
_ALTERNATIVE = prof.Alternative("a", "a")
_HOURS = prof.Hours("UTC", ())
_CLOSURE = prof.Closure("2000-01-01", "")


def _check_notice(notice: dict[str, Any], baseline: prof.Notice) -> None:
    for key, value in notice.items():
        _field(f"notice.{key}", baseline, key, value, f"notice.{key}")


def _check_hours(hours: dict[str, Any], now: int) -> None:
    _field("hours.timezone", _HOURS, "timezone", hours["timezone"], "timezone")
    try:
        ZoneInfo(hours["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(
            "hours.timezone",
            f"{hours['timezone']!r} is not in this system's time zone database "
            "(use an IANA name such as Europe/Paris or America/Chicago)",
        ) from None
    periods = _items(
        hours["weekly"], "hours.weekly", prof.MAX_HOURS_PERIODS, ("day", "open", "close")
    )
    for i, period in enumerate(periods):
        _field(f"hours.weekly[{i}].day", _PERIOD, "day", period["day"], "hours day")
        _field(f"hours.weekly[{i}].open", _PERIOD, "open", period["open"], "opening time")
        _field(f"hours.weekly[{i}].close", _PERIOD, "close", period["close"], "closing time")
    closures = _items(
        hours.get("closures", []), "hours.closures", prof.MAX_CLOSURES, ("date", "label")
    )
    seen: dict[str, int] = {}
    for i, closure in enumerate(closures):
        where = f"hours.closures[{i}]"
        _field(f"{where}.date", _CLOSURE, "date", closure["date"], "closure date")
        _field(f"{where}.label", _CLOSURE, "label", closure["label"], "closure label")
        if closure["date"] in seen:
            first = seen[closure["date"]]
            raise ProfileError(f"{where}.date", f"is already the date of hours.closures[{first}]")
        seen[closure["date"]] = i
    start = datetime.fromtimestamp(now, UTC)
    weekly = {"timezone": hours["timezone"], "weekly": hours["weekly"]}  # closures aside
    if not WeeklyHours.from_profile(weekly).intervals(start, start + timedelta(days=8)):
        raise ProfileError(
            "hours.weekly",
            "has no opening period, so the program would be closed at every hour; list "
            "when it is open, or leave hours out to be open every day",
        )


def complete_content(content: object, defaults: dict[str, Any], now: int) -> dict[str, Any]:
    """The content with every default filled in, every key checked (:class:`ProfileError`)."""
    obj = _object(content, "(the file)", "of profile keys")
    _check_keys(obj, "", TOP_KEYS)
    out = {**defaults, **obj}
    for key, keys in (("notice", NOTICE_KEYS), ("hours", HOURS_KEYS)):
        given = _object(out[key], key, "{" + ", ".join(keys) + "}")
        _check_keys(given, key, keys)
        out[key] = {**defaults[key], **given} if key in obj else given
    base = prof.parse_profile(prof.canonical_json({**defaults, "v": 1, "issued_at": 0}))
    for key in ("name", "safety_check_in", "quick_exit_url", "language"):
        if key in out:
            _field(key, base, key, out[key], key)
    _check_notice(out["notice"], base.notice)
    questions = _items(out["questions"], "questions", prof.MAX_QUESTIONS, ("id", "text", "why"))
    seen: dict[str, int] = {}
    for i, question in enumerate(questions):
        for key in ("id", "text", "why"):
            _field(f"questions[{i}].{key}", _QUESTION, key, question[key], f"question {key}")
        if question["id"] in seen:
            raise ProfileError(
                f"questions[{i}].id", f"is already the id of questions[{seen[question['id']]}]"
            )
        seen[question["id"]] = i
    alternatives = _items(
        out["alternatives"], "alternatives", prof.MAX_ALTERNATIVES, ("label", "value")
    )
    for i, alternative in enumerate(alternatives):
        for key in ("label", "value"):
            what = f"alternative {key}"
            _field(f"alternatives[{i}].{key}", _ALTERNATIVE, key, alternative[key], what)
    _check_hours(out["hours"], now)
    return out


def to_profile(content: dict[str, Any], now: int) -> prof.Profile:
    """The checked, complete content as a :class:`~e2ee.profile.Profile` issued at ``now``."""
    try:
        body = prof.canonical_json({**content, "v": 1, "issued_at": now})
        return prof.parse_profile(body)
    except OversizedInput:
        raise ProfileError(
            "(the whole profile)",
            f"is larger than {prof.MAX_PROFILE_SIZE} bytes once signed; shorten its texts",
        ) from None
    except (MalformedInput, LocalProtocolError) as exc:  # a rule checked nowhere above
        raise ProfileError("(the whole profile)", str(exc)) from None


def parse_file_text(text: str) -> object:
    """The JSON of a profile file; a duplicate key or bad JSON is a :class:`ProfileError`."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ProfileError(key, "appears twice in the same object")
            out[key] = value
        return out

    def no_constant(name: str) -> Any:
        raise ProfileError("(the file)", f"{name} is not a JSON value")

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ProfileError(
            "(the file)", f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
