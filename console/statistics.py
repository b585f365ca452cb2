"""Usage statistics with nothing linkable: independent per-day counters, nothing else.

The node keeps only counters. Each is one keystore record (sealed like every record)
named by ``(day, metric, bucket)`` and holding one number, the count::

    statistic/["2026-12-07","ended_by","staff"]  ->  b"3"

- ``day`` is the date in the program's time zone (its posted hours' zone) when the
  event happened: days are the finest time there is. ``arrived`` counts conversations
  by the hour of the day they arrived in (so a period's conversations per hour of the
  week are the sum over its days).
- A counter is incremented when an event happens (a conversation arrives, is answered,
  transferred, ends ...) and never derived from stored conversations. Waiting time and
  length are put in their bucket at that moment, from the conversation's start time
  kept in memory only (:class:`EventCounter`), which goes when the conversation ends.

Security properties:

- Nothing stored names a conversation, a staff member or a participant, and no record
  holds more than one count: there is no row per conversation, so two counters cannot
  be joined to each other or to a conversation (a test inspects every record). Records
  are sealed and filed under keyed tags (:mod:`client_sdk.vault.store`) like every
  keystore record.
- Answers to the optional questions are counted per answer and per question only, each
  alone; the participant's own words are never stored: an answer counts under the
  program's listed wording it matches (:attr:`StatSettings.answers`), else under
  ``other`` (``answered`` when the program lists no wording for that question).
  Answers to question ids the profile does not ask are ignored (a participant cannot
  make new counters), and a conversation's answers count once.
- Small counts never leave the node: :func:`report` turns every count from 1 to
  ``threshold - 1`` into "fewer than N" (console, CLI, CSV alike); see
  docs/statistics.md for what this protects and what it cannot.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from client_sdk import store
from client_sdk.keystore import Keystore
from console.errors import NotAllowed

__all__ = [
    "DEFAULT_THRESHOLD",
    "METRICS",
    "PREFIX",
    "StatSettings",
    "Statistics",
    "length_bucket",
    "program_zone",
    "wait_bucket",
]

PREFIX = "statistic/"
SETTINGS = "settings/statistics"
DEFAULT_THRESHOLD = 5
MIN_THRESHOLD, MAX_THRESHOLD = 2, 100
MAX_DAYS = 366
MAX_ANSWER_CHOICES = 30
MAX_CHOICE_LENGTH = 80

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HOURS = tuple(f"{h:02d}" for h in range(24))
WAIT_BUCKETS = ("<1", "1-5", "5-15", "15-30", "30-60", ">60")
WAIT_EDGES = (1, 5, 15, 30, 60)
LENGTH_BUCKETS = ("<5", "5-15", "15-30", "30-60", "60-120", ">120")
LENGTH_EDGES = (5, 15, 30, 60, 120)


def _minutes(label: str) -> str:
    if label.startswith("<"):
        return f"under {label[1:]} minutes"
    if label.startswith(">"):
        return f"over {label[1:]} minutes"
    return f"{label} minutes"


# metric -> (title, ((bucket, label), ...)); ``answers/<question id>`` metrics are added
# from the profile's questions.
METRICS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "arrived": ("Conversations by hour they started", tuple((h, f"{h}:00") for h in HOURS)),
    "waited": (
        "Time waited before someone answered",
        (*((b, _minutes(b)) for b in WAIT_BUCKETS), ("not_answered", "ended before an answer")),
    ),
    "length": ("Length of conversations", tuple((b, _minutes(b)) for b in LENGTH_BUCKETS)),
    "ended_by": (
        "Who ended conversations",
        (
            ("participant", "the participant"),
            ("staff", "a support worker"),
            ("inactivity", "inactivity"),
            ("closed", "the line was closed when it arrived"),
            ("other", "other (the node could not continue it)"),
        ),
    ),
    "transfers": (
        "Transfers and escalations",
        (("transfer", "transferred to a colleague"), ("escalation", "escalated to a supervisor")),
    ),
    "duress": ("Duress signals", (("signal", "conversations with a duress signal"),)),
    "code_word": (
        "Code word checks",
        (
            ("matches", "the answer matched"),
            ("does_not_match", "the answer did not match"),
            ("locked", "locked after too many tries"),
            ("unknown_alias", "asked for a code word that is not set"),
        ),
    ),
    "verification": (
        "Messages that could not be verified",
        (("failed", "not shown: could not be verified"),),
    ),
}


def wait_bucket(seconds: float) -> str:
    """The waiting-time bucket of ``seconds`` (minutes: <1, 1-5, ..., >60)."""
    return _bucket(seconds / 60, WAIT_EDGES, WAIT_BUCKETS)


def length_bucket(seconds: float) -> str:
    """The length bucket of ``seconds`` (minutes: <5, 5-15, ..., >120)."""
    return _bucket(seconds / 60, LENGTH_EDGES, LENGTH_BUCKETS)


def _bucket(minutes: float, edges: tuple[int, ...], labels: tuple[str, ...]) -> str:
    for edge, label in zip(edges, labels, strict=False):
        if minutes < edge:
            return label
    return labels[-1]


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def program_zone(ks: Keystore) -> ZoneInfo:
    """The time zone of the program's posted hours (UTC when it names none)."""
    content = store.get_json(ks, store.PROFILE_CONTENT) or {}
    with contextlib.suppress(
        AttributeError, KeyError, TypeError, ZoneInfoNotFoundError, ValueError
    ):
        return ZoneInfo(str(content["hours"]["timezone"]))
    return ZoneInfo("UTC")


def questions(ks: Keystore) -> dict[str, str]:
    """The profile's optional questions: id -> text."""
    content = store.get_json(ks, store.PROFILE_CONTENT) or {}
    out: dict[str, str] = {}
    for q in content.get("questions", []) if isinstance(content, dict) else []:
        if isinstance(q, dict) and isinstance(q.get("id"), str):
            out[q["id"]] = str(q.get("text", q["id"]))
    return out


@dataclass(frozen=True)
class StatSettings:
    """``threshold``: counts from 1 to threshold - 1 show as "fewer than N".
    ``answers``: per question id, the answers counted by name (the program's wording);
    any other answer counts as ``other``."""

    threshold: int = DEFAULT_THRESHOLD
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "answers": {k: list(v) for k, v in self.answers.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> StatSettings:
        if not isinstance(data, dict):
            return cls()
        answers = {
            str(k): tuple(str(a) for a in v) for k, v in dict(data.get("answers", {})).items()
        }
        return cls(int(data.get("threshold", DEFAULT_THRESHOLD)), answers)

    def answer_bucket(self, question_id: str, answer: str) -> str:
        """The bucket an answer counts in: the listed wording it matches, else ``other``."""
        choices = self.answers.get(question_id)
        if not choices:
            return "answered"
        wanted = _normal(answer)
        return next((c for c in choices if _normal(c) == wanted), "other")


def check_threshold(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotAllowed(f"threshold: give a whole number from {MIN_THRESHOLD} to {MAX_THRESHOLD}.")
    if not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
        raise NotAllowed(
            f"threshold: {value} is not allowed; give a whole number from {MIN_THRESHOLD} "
            f"to {MAX_THRESHOLD} (counts below it show as 'fewer than' it)."
        )
    return value


def check_choices(question_id: Any, choices: Any, known: Iterable[str]) -> tuple[str, ...]:
    if not isinstance(question_id, str) or question_id not in set(known):
        raise NotAllowed(f"answers: {question_id!r} is not one of the profile's question ids.")
    if not isinstance(choices, list) or len(choices) > MAX_ANSWER_CHOICES:
        raise NotAllowed(f"answers: give a list of at most {MAX_ANSWER_CHOICES} answers.")
    out: list[str] = []
    for choice in choices:
        if not isinstance(choice, str) or not choice.strip():
            raise NotAllowed("answers: each answer is a non-empty text.")
        if len(choice) > MAX_CHOICE_LENGTH:
            raise NotAllowed(f"answers: an answer is at most {MAX_CHOICE_LENGTH} characters.")
        if _normal(choice) in {"other", "answered"} | {_normal(c) for c in out}:
            raise NotAllowed(f"answers: {choice!r} is listed twice or is a reserved word.")
        out.append(" ".join(choice.split()))
    return tuple(out)


def _name(day: date, metric: str, bucket: str) -> str:
    return PREFIX + json.dumps(
        [day.isoformat(), metric, bucket], ensure_ascii=False, separators=(",", ":")
    )


def _parse(name: str) -> tuple[date, str, str] | None:
    try:
        day, metric, bucket = json.loads(name[len(PREFIX) :])
        return date.fromisoformat(day), str(metric), str(bucket)
    except (ValueError, TypeError):
        return None


class Statistics:
    """The counters in a keystore: count an event, add up a period, the settings."""

    def __init__(self, keystore: Keystore) -> None:
        self._ks = keystore

    @property
    def keystore(self) -> Keystore:
        return self._ks

    def day_zone(self) -> ZoneInfo:
        """The program's time zone, which makes the days."""
        return program_zone(self._ks)

    def settings(self) -> StatSettings:
        return StatSettings.from_json(store.get_json(self._ks, SETTINGS))

    def set_settings(self, settings: StatSettings) -> None:
        store.put_json(self._ks, SETTINGS, settings.to_json())

    def day(self, moment: datetime) -> date:
        """``moment``'s date in the program's time zone."""
        return moment.astimezone(self.day_zone()).date()

    def count(self, moment: datetime, metric: str, bucket: str) -> None:
        """Add one to the counter ``(day of moment, metric, bucket)``."""
        name = _name(self.day(moment), metric, bucket)
        raw = self._ks.get(name)
        current = int(raw.decode("ascii")) if raw is not None else 0
        self._ks.put(name, str(current + 1).encode("ascii"))

    def totals(self, first: date, last: date) -> dict[tuple[str, str], int]:
        """Raw sums over the days ``first`` to ``last`` (inside the node only).
        ``arrived`` is summed per weekday and hour: bucket ``"<weekday 0-6>/<hour>"``."""
        out: dict[tuple[str, str], int] = {}
        for name in self._ks.names(PREFIX):
            parsed = _parse(name)
            if parsed is None or not first <= parsed[0] <= last:
                continue
            day, metric, bucket = parsed
            if metric == "arrived":
                bucket = f"{day.weekday()}/{bucket}"
            raw = self._ks.get(name)
            if raw is not None:
                out[(metric, bucket)] = out.get((metric, bucket), 0) + int(raw.decode("ascii"))
        return out


def period(args: dict[str, Any], today: date) -> tuple[date, date]:
    """The days asked for: ``from``/``to`` (ISO dates) or ``days`` (ending today)."""
    days, first, last = args.get("days"), args.get("from"), args.get("to")
    if days is not None:
        if first is not None or last is not None:
            raise NotAllowed("Give either days, or from and to, not both.")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise NotAllowed(f"days: give a whole number from 1 to {MAX_DAYS}.")
        return today - timedelta(days=days - 1), today
    if first is None and last is None:
        return today - timedelta(days=6), today
    parsed = []
    for key, value in (("from", first), ("to", last)):
        if not isinstance(value, str):
            raise NotAllowed(f"{key}: give a date as YYYY-MM-DD (both from and to).")
        try:
            parsed.append(date.fromisoformat(value))
        except ValueError:
            raise NotAllowed(f"{key}: {value!r} is not a date (YYYY-MM-DD).") from None
    start, end = parsed
    if start > end:
        raise NotAllowed("from: the first day comes after the last day.")
    if (end - start).days + 1 > MAX_DAYS:
        raise NotAllowed(f"to: a period is at most {MAX_DAYS} days.")
    return start, end
