"""Code words: Argon2id hashes, normalisation, attempts and lockout, rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from client_sdk.keystore import DEFAULT_ARGON2
from client_sdk.workflow.codewords import (
    CheckOutcome,
    CodeWordBook,
    CodeWordPolicy,
    CodeWordRecord,
    normalize_code_word,
)
from client_sdk.workflow.errors import InvalidSetting, InvalidTime

FAST = CodeWordPolicy(time_cost=1, memory_cost=8, parallelism=1)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def book(**changes: object) -> CodeWordBook:
    policy = CodeWordPolicy(**{**FAST.__dict__, **changes})
    return CodeWordBook(policy)


def test_set_and_verify() -> None:
    b = book()
    record = b.set("Blue Heron", "lighthouse at dawn", T0)
    assert record.alias == "blue heron"
    assert record.hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert record.set_at == T0
    check = b.check("c1", "blue heron", "lighthouse at dawn", T0)
    assert check.verified and check.outcome is CheckOutcome.VERIFIED
    assert not check.rotation_due


def test_normalisation() -> None:
    assert normalize_code_word("  Lighthouse\t AT\n dawn ") == "lighthouse at dawn"
    assert normalize_code_word("ＬＩＧＨＴ") == "light"  # full-width (NFKC)
    assert normalize_code_word("Straße") == "strasse"  # casefold
    assert normalize_code_word("cafe\u0301") == normalize_code_word("caf\u00e9")
    b = book()
    b.set("blue heron", "Café Straße", T0)
    assert b.check("c1", " BLUE   heron", "  CAFE\u0301 STRASSE ", T0).verified


def test_the_answer_is_never_kept_or_shown() -> None:
    b = book()
    record = b.set("alias", "secret words here", T0)
    check = b.check("c1", "alias", "wrong words here", T0)
    for text in (repr(record), repr(check), repr(b), str(check.__dict__)):
        assert "secret words" not in text and "wrong words" not in text
    assert "hidden" in repr(record)
    assert record.hash not in repr(record)
    stored = record.to_bytes()
    assert b"secret words" not in stored
    assert CodeWordRecord.from_bytes(stored) == record


def test_wrong_answers_until_the_conversation_is_locked() -> None:
    b = book(max_attempts_per_conversation=3, max_attempts_per_alias=10)
    b.set("alias", "right answer", T0)
    results = [b.check("c1", "alias", f"guess {i}", T0) for i in range(3)]
    assert [r.outcome for r in results] == [CheckOutcome.WRONG] * 3
    assert [r.attempts_left for r in results] == [2, 1, 0]
    locked = b.check("c1", "alias", "right answer", T0)
    assert locked.outcome is CheckOutcome.LOCKED and not locked.verified
    # another conversation may still try (the alias has room)
    assert b.check("c2", "alias", "right answer", T0).verified


def test_unknown_alias_counts_as_an_attempt() -> None:
    b = book(max_attempts_per_conversation=2)
    first = b.check("c1", "nobody", "anything", T0)
    assert first.outcome is CheckOutcome.UNKNOWN_ALIAS and first.attempts_left == 1
    b.check("c1", "someone", "anything", T0)
    assert b.check("c1", "nobody", "anything", T0).outcome is CheckOutcome.LOCKED


def test_alias_lockout_across_conversations_and_its_end() -> None:
    b = book(max_attempts_per_conversation=3, max_attempts_per_alias=4,
             lockout=timedelta(hours=1))  # fmt: skip
    b.set("alias", "right answer", T0)
    for i in range(4):
        b.check(f"c{i}", "alias", "wrong", T0 + timedelta(minutes=i))
    last_failure = T0 + timedelta(minutes=3)
    locked = b.check("fresh", "alias", "right answer", T0 + timedelta(minutes=10))
    assert locked.outcome is CheckOutcome.LOCKED
    assert locked.locked_until == last_failure + timedelta(hours=1)
    still = b.check("fresh", "alias", "right answer", last_failure + timedelta(minutes=59))
    assert still.outcome is CheckOutcome.LOCKED
    after = b.check("fresh", "alias", "right answer", last_failure + timedelta(hours=1))
    assert after.verified


def test_setting_a_new_word_lifts_the_alias_lockout() -> None:
    b = book(max_attempts_per_conversation=5, max_attempts_per_alias=2)
    b.set("alias", "right answer", T0)
    b.check("c1", "alias", "wrong", T0)
    b.check("c2", "alias", "wrong", T0)
    assert b.check("c3", "alias", "right answer", T0).outcome is CheckOutcome.LOCKED
    b.set("alias", "a new answer", T0)
    assert b.check("c3", "alias", "a new answer", T0).verified


def test_success_clears_the_alias_count() -> None:
    b = book(max_attempts_per_conversation=5, max_attempts_per_alias=3)
    b.set("alias", "right answer", T0)
    b.check("c1", "alias", "wrong", T0)
    b.check("c1", "alias", "wrong", T0)
    assert b.check("c1", "alias", "right answer", T0).verified
    assert b.check("c2", "alias", "wrong", T0).attempts_left == 2


def test_closed_conversation_counter_is_forgotten() -> None:
    b = book(max_attempts_per_conversation=1, max_attempts_per_alias=10)
    b.set("alias", "right answer", T0)
    b.check("c1", "alias", "wrong", T0)
    assert b.check("c1", "alias", "right answer", T0).outcome is CheckOutcome.LOCKED
    b.forget_conversation("c1")
    assert b.check("c1", "alias", "right answer", T0).verified


def test_rotation_is_flagged() -> None:
    b = book(rotate_after=timedelta(days=90))
    b.set("old", "first word", T0)
    b.set("new", "second word", T0 + timedelta(days=60))
    at = T0 + timedelta(days=90)
    assert [r.alias for r in b.rotation_due(at)] == ["old"]
    assert b.check("c1", "old", "first word", at).rotation_due
    assert not b.check("c1", "new", "second word", at).rotation_due
    b.set("old", "a fresh word", at)
    assert b.rotation_due(at) == []
    assert not b.check("c2", "old", "first word", at).verified


def test_records_reload_and_remove() -> None:
    b = book()
    r1 = b.set("one", "word one", T0)
    r2 = b.set("two", "word two", T0)
    again = CodeWordBook(FAST, tuple(CodeWordRecord.from_bytes(r.to_bytes()) for r in (r1, r2)))
    assert again.records() == [r1, r2]
    assert again.check("c", "two", "word two", T0).verified
    again.remove("one")
    assert again.get("one") is None
    assert again.get("TWO") == r2


def test_bad_input() -> None:
    b = book(min_length=4)
    with pytest.raises(InvalidSetting):
        b.set("alias", "abc", T0)
    with pytest.raises(InvalidSetting):
        b.set("alias", "x" * 257, T0)
    with pytest.raises(InvalidSetting):
        b.set("   ", "long enough", T0)
    with pytest.raises(InvalidSetting):
        b.set("a" * 65, "long enough", T0)
    with pytest.raises(InvalidTime):
        b.set("alias", "long enough", datetime(2026, 1, 5))
    with pytest.raises(InvalidSetting):
        b.set("ali\ud800s", "long enough", T0)
    with pytest.raises(InvalidSetting):
        b.set("alias", "long \udfffenough", T0)
    assert b.records() == []
    for bad in (
        b"",
        b"{}",
        b'{"v":1}',
        b'{"v":2,"alias":"a","hash":"$argon2id$","set_at":1}',
        b'{"v":1,"alias":"a","hash":"$argon2id$","set_at":true}',
        b"\xff",
        b'{"v":1,"alias":"a","hash":"plain","set_at":1}',
    ):
        with pytest.raises(InvalidSetting):
            CodeWordRecord.from_bytes(bad)
    for policy in (
        {"max_attempts_per_alias": 0},
        {"lockout": timedelta(0)},
        {"min_length": 0},
        {"memory_cost": 4},
    ):
        with pytest.raises(InvalidSetting):
            book(**policy)


def test_default_policy_is_sized_like_the_keystore() -> None:
    policy = CodeWordPolicy()
    keystore = DEFAULT_ARGON2
    assert (policy.time_cost, policy.memory_cost, policy.parallelism) == (
        keystore.time_cost,
        keystore.memory_cost,
        keystore.parallelism,
    )
    assert policy.max_attempts_per_conversation == 3
