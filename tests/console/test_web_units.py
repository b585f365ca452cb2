"""Sessions and sign-in throttling of the console (pure units, ManualClock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from client_sdk.workflow.clock import ManualClock
from console.web.sessions import SessionStore
from console.web.throttle import SignInLimits, SignInThrottle

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_session_ids_and_tokens_are_long_random_and_hidden() -> None:
    store = SessionStore(ManualClock(START), timedelta(minutes=30))
    a, b = store.create("s1"), store.create("s1")
    assert a.sid != b.sid and a.csrf != b.csrf
    assert len(a.sid) >= 43 and len(a.csrf) >= 43  # 32 random bytes, base64url
    assert a.sid not in repr(a) and a.csrf not in repr(a) and a.sid not in repr(store)


def test_session_ends_after_idle_time_and_activity_keeps_it() -> None:
    clock = ManualClock(START)
    store = SessionStore(clock, timedelta(minutes=30))
    session = store.create("s1")
    clock.advance(minutes=29)
    assert store.get(session.sid) is session
    store.touch(session)
    clock.advance(minutes=29)
    assert store.get(session.sid) is session
    clock.advance(minutes=1)
    assert store.get(session.sid) is None
    assert session.ended.is_set() and session.end_reason == "idle"
    assert len(store) == 0


def test_sweep_ends_idle_sessions_and_end_for_staff_ends_all_of_one_account() -> None:
    clock = ManualClock(START)
    store = SessionStore(clock, timedelta(minutes=5))
    old = store.create("s1")
    clock.advance(minutes=4)
    fresh, other = store.create("s1"), store.create("s2")
    clock.advance(minutes=1)
    store.sweep()
    assert old.ended.is_set() and not fresh.ended.is_set()
    store.end_for_staff("s1", "disabled")
    assert fresh.end_reason == "disabled" and not other.ended.is_set()
    assert store.get(fresh.sid) is None and store.get(other.sid) is other


def test_unknown_or_forged_session_ids_find_nothing() -> None:
    store = SessionStore(ManualClock(START), timedelta(minutes=30))
    session = store.create("s1")
    assert store.get(None) is None and store.get("") is None
    assert store.get(session.sid[:-1] + ("A" if session.sid[-1] != "A" else "B")) is None


def test_csrf_check_is_exact() -> None:
    session = SessionStore(ManualClock(START), timedelta(minutes=30)).create("s1")
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(session.csrf[:-1])
    assert not session.csrf_ok(None) and not session.csrf_ok(123) and not session.csrf_ok("")


def test_idle_time_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SessionStore(ManualClock(START), timedelta(0))


def test_ended_event_wakes_a_waiting_socket() -> None:
    async def scenario() -> str | None:
        store = SessionStore(ManualClock(START), timedelta(minutes=30))
        session = store.create("s1")
        waiter = asyncio.create_task(session.ended.wait())
        await asyncio.sleep(0)
        store.end(session, "signed_out")
        await asyncio.wait_for(waiter, 1)
        return session.end_reason

    assert asyncio.run(scenario()) == "signed_out"


def test_throttle_per_name_case_folded_then_window_passes() -> None:
    clock = ManualClock(START)
    throttle = SignInThrottle(clock, SignInLimits(per_name=3, per_client=100))
    for i in range(3):
        assert throttle.wait_minutes("Sam", f"10.0.0.{i}") == 0
        throttle.failed("Sam" if i % 2 else "sam", f"10.0.0.{i}")
    assert throttle.wait_minutes("SAM", "10.9.9.9") == 15
    assert throttle.wait_minutes("Alex", "10.9.9.9") == 0
    clock.advance(minutes=14, seconds=30)
    assert throttle.wait_minutes("sam", "x") == 1
    clock.advance(seconds=30)
    assert throttle.wait_minutes("sam", "x") == 0


def test_throttle_per_client_across_names_and_success_clears_only_the_name() -> None:
    clock = ManualClock(START)
    throttle = SignInThrottle(clock, SignInLimits(per_name=5, per_client=4))
    for i in range(4):
        throttle.failed(f"name{i}", "127.0.0.1")
    assert throttle.wait_minutes("someone-new", "127.0.0.1") == 15
    assert throttle.wait_minutes("someone-new", "127.0.0.2") == 0
    throttle.failed("sam", "127.0.0.2")
    throttle.succeeded("sam")
    assert throttle.wait_minutes("name0", "127.0.0.1") == 15  # the client's count stays


def test_throttle_keeps_no_readable_address_or_name() -> None:
    throttle = SignInThrottle(ManualClock(START))
    throttle.failed("Sam Example", "192.0.2.44")
    kept = repr(throttle) + repr(throttle._failures)
    assert "192.0.2.44" not in kept and "Sam" not in kept
    assert all(len(key) == 17 for key in throttle._failures)


def test_limits_are_checked_at_once() -> None:
    with pytest.raises(ValueError):
        SignInLimits(per_name=0)
    with pytest.raises(ValueError):
        SignInLimits(window=timedelta(0))
