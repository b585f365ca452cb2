"""The abuse limits have no minute edge: a burst straddling a minute's turn gets no
more through than a burst inside one (token buckets and decaying counts, fixed clock)."""

from __future__ import annotations

import pytest

from server.errors import ApiError
from server.limits import Decaying, KeyedHasher, RateLimiter
from server.pow import Pressure
from server.settings import Settings


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def burst(limiter: RateLimiter, count: int, limit: int) -> int:
    allowed = 0
    for _ in range(count):
        try:
            limiter.hit("bundle", b"source-a", limit)
            allowed += 1
        except ApiError as exc:
            assert exc.code == "rate_limited"
    return allowed


def test_a_burst_around_a_minute_turn_gets_the_limit_not_twice() -> None:
    clock = Clock(59.9)
    limiter = RateLimiter(KeyedHasher(b"k" * 32), clock)
    assert burst(limiter, 10, 10) == 10
    clock.now = 60.1  # a fixed minute window would start again from zero here
    assert burst(limiter, 10, 10) == 0


def test_the_bucket_refills_at_the_limit_per_minute() -> None:
    clock = Clock(1000.0)
    limiter = RateLimiter(KeyedHasher(b"k" * 32), clock)
    assert burst(limiter, 30, 30) == 30
    clock.now += 2.0  # 30 a minute: one back every two seconds
    assert burst(limiter, 5, 30) == 1
    clock.now += 60.0
    assert burst(limiter, 40, 30) == 30


def test_keys_are_separate_and_full_buckets_are_dropped() -> None:
    clock = Clock(0.0)
    limiter = RateLimiter(KeyedHasher(b"k" * 32), clock)
    limiter.hit("bundle", b"a", 1)
    limiter.hit("bundle", b"b", 1)
    with pytest.raises(ApiError):
        limiter.hit("bundle", b"a", 1)
    clock.now = 200.0
    limiter.hit("bundle", b"c", 1)  # a minute after the last purge: a and b are full again
    assert len(limiter._used) == 1


def test_a_decaying_count_reads_as_events_in_the_last_minute() -> None:
    clock = Clock(59.0)
    counts = Decaying(clock)
    for _ in range(30):
        counts.add(b"p")
    clock.now = 61.0  # no reset at the minute's turn
    assert 28.9 < counts.get(b"p") <= 30
    clock.now += 600.0
    assert counts.get(b"p") < 0.01


def test_pressure_straddling_a_minute_still_asks_for_work_and_signals_once() -> None:
    settings = Settings(pow_prekeys_per_minute=30)
    clock = Clock(59.5)
    pressure = Pressure(settings, clock)
    signals = 0
    for i in range(31):
        clock.now = 59.5 + i * 0.03  # 31 prekeys in a second across the minute's turn
        signals += pressure.handed_prekey(b"p" * 16)
    assert signals == 1
    assert pressure.difficulty(b"p" * 16, allowance=240) == settings.pow_difficulty
    clock.now += 3600.0
    assert pressure.difficulty(b"p" * 16, allowance=240) == 0
