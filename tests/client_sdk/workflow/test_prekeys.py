"""Prekey rotation decisions and generated prekeys."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from client_sdk.workflow.errors import InvalidSetting
from client_sdk.workflow.prekeys import (
    PrekeyPolicy,
    PrekeyRecord,
    expired_one_time_prekeys,
    make_prekey,
    next_prekey_ids,
    one_time_prekeys_to_generate,
    plan_signed_prekeys,
)
from e2ee import identity
from e2ee.errors import Expired, VerificationError

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
IDENT = identity.IdentityKeyPair.from_seed(bytes(range(32)))
POLICY = PrekeyPolicy()


def rng() -> random.Random:
    return random.Random(7)


def make(pid: int, at: datetime, *, one_time: bool = False) -> PrekeyRecord:
    return make_prekey(IDENT, pid, at, one_time=one_time, random=rng().randbytes).record


def test_first_run_generates() -> None:
    plan = plan_signed_prekeys([], T0)
    assert plan.generate and plan.publish is None and plan.delete == ()


def test_weekly_rotation_and_grace() -> None:
    first = make(1, T0)
    assert first.expires_at - first.created_at == 8 * 86400
    plan = plan_signed_prekeys([first], T0 + 6 * DAY)
    assert not plan.generate and plan.publish == 1 and plan.delete == ()
    plan = plan_signed_prekeys([first], T0 + 7 * DAY)
    assert plan.generate and plan.delete == ()
    second = make(2, T0 + 7 * DAY)
    plan = plan_signed_prekeys([first, second], T0 + 7 * DAY)
    assert not plan.generate and plan.publish == 2 and plan.delete == ()
    # first expires at day 8; its secret stays through the grace period (7 days)
    assert plan_signed_prekeys([first, second], T0 + 14 * DAY).delete == ()
    plan = plan_signed_prekeys([first, second], T0 + 15 * DAY - timedelta(seconds=1))
    assert plan.delete == ()
    plan = plan_signed_prekeys([first, second], T0 + 15 * DAY)
    assert plan.delete == (1,) and plan.generate  # second is a week old too
    third = make(3, T0 + 15 * DAY)
    plan = plan_signed_prekeys([first, second, third], T0 + 15 * DAY)
    assert plan == plan.__class__(generate=False, publish=3, delete=(1,))


def test_node_offline_past_expiry_generates_and_keeps_grace() -> None:
    first = make(1, T0)
    plan = plan_signed_prekeys([first], T0 + 9 * DAY)
    assert plan.generate and plan.publish is None and plan.delete == ()


def test_one_time_replenishment() -> None:
    policy = PrekeyPolicy(one_time_target=100, one_time_low_water=20, max_batch=50)
    assert one_time_prekeys_to_generate(20, policy) == 0
    assert one_time_prekeys_to_generate(100, policy) == 0
    assert one_time_prekeys_to_generate(19, policy) == 50  # capped by the batch
    assert one_time_prekeys_to_generate(0, PrekeyPolicy()) == 100
    assert one_time_prekeys_to_generate(95, PrekeyPolicy(one_time_low_water=0)) == 0
    assert one_time_prekeys_to_generate(0, PrekeyPolicy(one_time_low_water=0)) == 100
    with pytest.raises(InvalidSetting):
        one_time_prekeys_to_generate(-1)


def test_unused_one_time_prekeys_expire() -> None:
    old = make(10, T0, one_time=True)
    new = make(11, T0 + 20 * DAY, one_time=True)
    signed = make(1, T0)
    assert old.expires_at - old.created_at == 30 * 86400
    assert expired_one_time_prekeys([old, new, signed], T0 + 36 * DAY) == ()
    assert expired_one_time_prekeys([old, new, signed], T0 + 37 * DAY) == (10,)


def test_ids_count_up_and_never_wrap() -> None:
    assert next_prekey_ids(-1, 3) == [0, 1, 2]
    assert next_prekey_ids(41, 2) == [42, 43]
    assert next_prekey_ids(2**32 - 2, 1) == [2**32 - 1]
    with pytest.raises(InvalidSetting):
        next_prekey_ids(2**32 - 2, 2)


def test_generated_prekey_verifies_under_its_label() -> None:
    gen = make_prekey(IDENT, 5, T0, one_time=False, random=rng().randbytes)
    now = int(T0.timestamp())
    body = identity.verify_prekey(
        IDENT.public_key, IDENT.program_id, gen.signed, one_time=False, now=now
    )
    assert body == gen.record.body
    with pytest.raises(VerificationError):
        identity.verify_prekey(
            IDENT.public_key, IDENT.program_id, gen.signed, one_time=True, now=now
        )
    with pytest.raises(Expired):
        identity.verify_prekey(
            IDENT.public_key,
            IDENT.program_id,
            gen.signed,
            one_time=False,
            now=gen.record.expires_at,
        )
    ot = make_prekey(IDENT, 6, T0, one_time=True, random=rng().randbytes)
    identity.verify_prekey(IDENT.public_key, IDENT.program_id, ot.signed, one_time=True, now=now)


def test_record_round_trip_and_secret_hidden() -> None:
    record = make(9, T0, one_time=True)
    data = record.to_bytes()
    assert len(data) == 86
    assert PrekeyRecord.from_bytes(data) == record
    assert record.secret.hex() not in repr(record)
    gen = make_prekey(IDENT, 9, T0, one_time=True, random=rng().randbytes)
    assert gen.record.secret.hex() not in repr(gen)
    for bad in (data[:-1], b"\x02" + data[1:], data[:1] + b"\x03" + data[2:]):
        with pytest.raises(InvalidSetting):
            PrekeyRecord.from_bytes(bad)


def test_policy_is_checked() -> None:
    for bad in (
        {"signed_lifetime": timedelta(days=7)},
        {"rotate_every": timedelta(0)},
        {"one_time_low_water": 200},
        {"max_batch": 0},
    ):
        with pytest.raises(InvalidSetting):
            PrekeyPolicy(**bad)


def test_while_draining_the_pool_is_kept_bigger_and_topped_up_above_the_low_water() -> None:
    policy = PrekeyPolicy(one_time_target=100, one_time_low_water=20, draining_target=300)
    assert one_time_prekeys_to_generate(160, policy) == 0
    assert one_time_prekeys_to_generate(160, policy, draining=True) == 140
    assert one_time_prekeys_to_generate(0, policy, draining=True) == policy.max_batch  # bounded
    assert one_time_prekeys_to_generate(300, policy, draining=True) == 0
    with pytest.raises(InvalidSetting):
        PrekeyPolicy(one_time_target=100, draining_target=50)
