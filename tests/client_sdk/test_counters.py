"""Gap and order tracking over authenticated ratchet headers."""

from __future__ import annotations

from client_sdk.counters import CounterTracker, FailedIds, Observation

A = b"\x01" * 32
B = b"\x02" * 32


def test_in_order_has_no_gap() -> None:
    t = CounterTracker()
    assert [t.observe(A, 0, n) for n in range(3)] == [Observation(0, False)] * 3


def test_skip_in_chain_is_reported_and_the_late_one_is_flagged() -> None:
    t = CounterTracker()
    t.observe(A, 0, 0)
    assert t.observe(A, 0, 3) == Observation(2, False)
    assert t.observe(A, 0, 1) == Observation(0, True)


def test_new_chain_reports_what_the_previous_chain_lost() -> None:
    t = CounterTracker()
    t.observe(A, 0, 0)
    # the sender wrote 3 messages in chain A (pn=3) but we saw only n=0
    assert t.observe(B, 3, 0) == Observation(2, False)
    assert t.observe(A, 0, 2) == Observation(0, True)


def test_first_message_of_a_new_chain_skipped() -> None:
    t = CounterTracker()
    t.observe(A, 0, 0)
    assert t.observe(B, 1, 1) == Observation(1, False)


def test_round_trips_through_json() -> None:
    t = CounterTracker()
    t.observe(A, 0, 0)
    t.observe(A, 0, 2)
    again = CounterTracker.from_json(t.to_json())
    assert again.observe(A, 0, 1) == Observation(0, True)
    assert again.observe(A, 0, 3) == Observation(0, False)


def test_failed_ids_are_bounded_oldest_out() -> None:
    failed = FailedIds(limit=3)
    for n in range(5):
        failed.add(f"m{n}")
    assert len(failed) == 3
    assert "m0" not in failed and "m1" not in failed
    assert all(f"m{n}" in failed for n in (2, 3, 4))
    failed.add("m2")  # known already: stays, nothing else goes
    assert len(failed) == 3 and "m3" in failed
