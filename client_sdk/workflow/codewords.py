"""Code words for ongoing support, without accounts.

The guide: verify a returning participant with a code word at the start and, if
needed, again during the conversation; change it regularly; do not rely on accounts.

The program keeps, per *alias* (a name the participant chose, e.g. "blue heron"), an
Argon2id hash of the code word (argon2-cffi ``PasswordHasher``: the PHC string stores
salt and parameters with the hash) and the date it was set. Records are meant to live
in the keystore (:meth:`CodeWordRecord.to_bytes`), sealed like every other secret.

- **Never shown, never stored**: :meth:`CodeWordBook.check` takes the participant's
  answer, verifies it and drops it; the result says only verified / wrong / locked /
  unknown alias. No answer is kept, logged or put in a ``repr``.
- **Normalisation** (both when setting and checking): Unicode NFKC, then ``casefold``,
  then leading/trailing whitespace removed and inner runs of whitespace made one space.
  So "Blue  Heron " and "blue heron" match, and full-width or composed characters match
  their plain forms.
- **Attempts are limited** (:class:`CodeWordPolicy`): after
  ``max_attempts_per_conversation`` failures a conversation may not try again (any
  alias); after ``max_attempts_per_alias`` failures across conversations the alias is
  locked for ``lockout``. A success clears the alias's count. Counts live in memory:
  they are a brake on guessing during a session, the Argon2id cost is the other.
- **Rotation**: a word set more than ``rotate_after`` ago is flagged
  (:meth:`CodeWordBook.rotation_due`, and ``rotation_due`` on each check).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from client_sdk.workflow.clock import utc
from client_sdk.workflow.errors import InvalidSetting
from e2ee import payload as _payload

__all__ = [
    "CheckOutcome",
    "CodeWordBook",
    "CodeWordCheck",
    "CodeWordPolicy",
    "CodeWordRecord",
    "alias_key",
    "normalize_code_word",
]

MAX_ALIAS_BYTES = _payload.MAX_LABEL_SIZE
"""An alias travels in a ``code_word_request`` payload: at most 64 UTF-8 bytes."""

MAX_WORD_BYTES = _payload.MAX_CODE_WORD_SIZE
"""A code word travels in a ``code_word_answer`` payload: at most 256 UTF-8 bytes."""


def normalize_code_word(text: str) -> str:
    """NFKC, casefold, trim and collapse whitespace (used for aliases and words)."""
    if not isinstance(text, str):
        raise InvalidSetting("a code word or alias must be text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSetting("a code word or alias must be valid Unicode text") from None
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def alias_key(alias: str) -> str:
    """The normalised alias, as a ``code_word_request`` payload can carry it."""
    key = normalize_code_word(alias)
    if not key or len(key.encode("utf-8")) > MAX_ALIAS_BYTES:
        raise InvalidSetting(f"an alias must be 1 to {MAX_ALIAS_BYTES} UTF-8 bytes")
    return key


@dataclass(frozen=True)
class CodeWordPolicy:
    max_attempts_per_conversation: int = 3
    max_attempts_per_alias: int = 5
    lockout: timedelta = timedelta(hours=24)
    rotate_after: timedelta = timedelta(days=90)
    min_length: int = 4
    time_cost: int = 3
    memory_cost: int = 64 * 1024
    parallelism: int = 4  # argon2-cffi's RFC_9106_LOW_MEMORY profile, like the keystore

    def __post_init__(self) -> None:
        if self.max_attempts_per_conversation < 1 or self.max_attempts_per_alias < 1:
            raise InvalidSetting("attempt limits must be at least 1")
        if self.lockout <= timedelta(0) or self.rotate_after <= timedelta(0):
            raise InvalidSetting("lockout and rotate_after must be positive")
        if self.min_length < 1:
            raise InvalidSetting("min_length must be at least 1")
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_cost < 8 * self.parallelism:
            raise InvalidSetting("Argon2 parameters out of range")

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_cost, parallelism=self.parallelism
        )


@dataclass(frozen=True)
class CodeWordRecord:
    """An alias, the Argon2id hash of its code word and when it was set."""

    alias: str
    hash: str
    set_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "set_at", utc(self.set_at))
        if not self.hash.startswith("$argon2id$"):
            raise InvalidSetting("a code word hash must be an Argon2id PHC string")

    def __repr__(self) -> str:
        return f"CodeWordRecord(alias={self.alias!r}, hash=<hidden>, set_at={self.set_at})"

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "alias": self.alias,
                "hash": self.hash,
                "set_at": int(self.set_at.timestamp()),
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> CodeWordRecord:
        try:
            obj = json.loads(data.decode("utf-8"))
            if obj.get("v") != 1:
                raise InvalidSetting("unsupported code word record")
            alias, hash_, set_at = obj["alias"], obj["hash"], obj["set_at"]
            if not isinstance(alias, str) or not isinstance(hash_, str):
                raise InvalidSetting("malformed code word record")
            if not isinstance(set_at, int) or isinstance(set_at, bool):
                raise InvalidSetting("malformed code word record")
            return cls(alias, hash_, datetime.fromtimestamp(set_at, UTC))
        except (
            UnicodeDecodeError,
            ValueError,
            KeyError,
            AttributeError,
            TypeError,
            OverflowError,
            OSError,
        ):
            raise InvalidSetting("malformed code word record") from None

    def rotation_due(self, moment: datetime, rotate_after: timedelta) -> bool:
        return utc(moment) - self.set_at >= rotate_after


class CheckOutcome(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    UNKNOWN_ALIAS = "unknown_alias"


@dataclass(frozen=True)
class CodeWordCheck:
    """What staff see after a check: never the answer."""

    conversation_id: str
    alias: str
    outcome: CheckOutcome
    attempts_left: int
    locked_until: datetime | None = None
    rotation_due: bool = False

    @property
    def verified(self) -> bool:
        return self.outcome is CheckOutcome.VERIFIED


class CodeWordBook:
    """Code-word records and attempt counters. No clock: every call takes ``now``."""

    def __init__(
        self, policy: CodeWordPolicy | None = None, records: tuple[CodeWordRecord, ...] = ()
    ) -> None:
        self.policy = policy or CodeWordPolicy()
        self._hasher = self.policy.hasher()
        self._records: dict[str, CodeWordRecord] = {}
        self._conversation_failures: dict[str, int] = {}
        self._alias_failures: dict[str, tuple[int, datetime]] = {}  # count, last failure
        for record in records:
            self.add_record(record)

    def __repr__(self) -> str:
        return f"CodeWordBook({len(self._records)} aliases)"

    # -- records -------------------------------------------------------------------

    def set(self, alias: str, word: str, moment: datetime) -> CodeWordRecord:
        """Set (or change) the code word of ``alias``; returns the record to store."""
        key = alias_key(alias)
        norm = normalize_code_word(word)
        if len(norm) < self.policy.min_length or len(norm.encode("utf-8")) > MAX_WORD_BYTES:
            raise InvalidSetting(
                f"a code word must have at least {self.policy.min_length} characters"
                f" and at most {MAX_WORD_BYTES} UTF-8 bytes"
            )
        record = CodeWordRecord(key, self._hasher.hash(norm), utc(moment))
        self._records[key] = record
        self._alias_failures.pop(key, None)
        return record

    def add_record(self, record: CodeWordRecord) -> None:
        """Load a stored record (e.g. from the keystore)."""
        self._records[alias_key(record.alias)] = record

    def remove(self, alias: str) -> None:
        key = alias_key(alias)
        self._records.pop(key, None)
        self._alias_failures.pop(key, None)

    def get(self, alias: str) -> CodeWordRecord | None:
        return self._records.get(alias_key(alias))

    def records(self) -> list[CodeWordRecord]:
        return [self._records[k] for k in sorted(self._records)]

    def rotation_due(self, moment: datetime) -> list[CodeWordRecord]:
        """Records whose word was set more than ``rotate_after`` ago."""
        return [r for r in self.records() if r.rotation_due(moment, self.policy.rotate_after)]

    # -- checks --------------------------------------------------------------------

    def _alias_locked_until(self, key: str, now: datetime) -> datetime | None:
        entry = self._alias_failures.get(key)
        if entry is None:
            return None
        count, last = entry
        if now - last >= self.policy.lockout:
            del self._alias_failures[key]
            return None
        if count >= self.policy.max_attempts_per_alias:
            return last + self.policy.lockout
        return None

    def _attempts_left(self, conversation_id: str, key: str) -> int:
        conv_left = self.policy.max_attempts_per_conversation - self._conversation_failures.get(
            conversation_id, 0
        )
        entry = self._alias_failures.get(key)
        alias_left = self.policy.max_attempts_per_alias - (entry[0] if entry else 0)
        return max(0, min(conv_left, alias_left))

    def check(
        self, conversation_id: str, alias: str, answer: str, moment: datetime
    ) -> CodeWordCheck:
        """Verify ``answer`` for ``alias`` in ``conversation_id``; the answer is dropped."""
        now = utc(moment)
        key = alias_key(alias)
        locked_until = self._alias_locked_until(key, now)
        conv_failures = self._conversation_failures.get(conversation_id, 0)
        if locked_until is not None or conv_failures >= self.policy.max_attempts_per_conversation:
            return CodeWordCheck(conversation_id, key, CheckOutcome.LOCKED, 0, locked_until)
        record = self._records.get(key)
        ok = False
        if record is not None:
            try:
                ok = self._hasher.verify(record.hash, normalize_code_word(answer))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
        del answer
        if ok and record is not None:
            self._alias_failures.pop(key, None)
            return CodeWordCheck(
                conversation_id,
                key,
                CheckOutcome.VERIFIED,
                self._attempts_left(conversation_id, key),
                rotation_due=record.rotation_due(now, self.policy.rotate_after),
            )
        self._conversation_failures[conversation_id] = conv_failures + 1
        if record is not None:
            count = self._alias_failures.get(key, (0, now))[0]
            self._alias_failures[key] = (count + 1, now)
        left = self._attempts_left(conversation_id, key)
        outcome = CheckOutcome.WRONG if record is not None else CheckOutcome.UNKNOWN_ALIAS
        return CodeWordCheck(
            conversation_id, key, outcome, left, self._alias_locked_until(key, now)
        )

    def forget_conversation(self, conversation_id: str) -> None:
        """Drop a closed conversation's counter (the alias's count stays)."""
        self._conversation_failures.pop(conversation_id, None)
