"""Prekey rotation: pure decisions about which prekeys to make, publish and delete.

docs/protocol.md: the signed prekey rotates on a schedule (weekly by default) and its
secret is kept for a grace period after expiry, for handshakes already in flight; a
one-time prekey secret is deleted after one use (by the session code), and the batch on
the relay is topped up when the relay reports few left.

Security property: a prekey secret lives no longer than ``expires_at + grace``; after
that, an init envelope a relay kept back can no longer be opened by anyone, the program
included (forward secrecy for conversations never answered).

The program node stores one :class:`PrekeyRecord` per prekey in the keystore
(:meth:`PrekeyRecord.to_bytes`, sealed there) and, on a timer (e.g. every
:meth:`~client_sdk.workflow.engine.Workflow.tick`):

1. ``plan = plan_signed_prekeys(records, now)``; if ``plan.generate``, it calls
   :func:`make_prekey` (``one_time=False``) with the next id, stores the record,
   publishes ``signed`` (``PUT .../signed-prekey``); it deletes ``plan.delete``;
2. asks the relay for its one-time count and, for
   ``one_time_prekeys_to_generate(count)`` new ones, calls :func:`make_prekey`
   (``one_time=True``), stores them and uploads the signed objects;
3. deletes :func:`expired_one_time_prekeys` (handed out but never used).

Prekey ids are never reused (the relay refuses a reused id): :func:`next_prekey_ids`
counts up from the highest id ever issued, which the node keeps in the keystore.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from client_sdk.workflow.clock import utc
from client_sdk.workflow.errors import InvalidSetting
from e2ee.identity import IdentityKeyPair, PrekeyBody, SignedObject, sign_prekey
from e2ee.primitives import RandomSource, system_random, x25519_generate

__all__ = [
    "GeneratedPrekey",
    "PrekeyPolicy",
    "PrekeyRecord",
    "SignedPrekeyPlan",
    "expired_one_time_prekeys",
    "make_prekey",
    "next_prekey_ids",
    "one_time_prekeys_to_generate",
    "plan_signed_prekeys",
]

MAX_PREKEY_ID = 2**32 - 1


@dataclass(frozen=True)
class PrekeyPolicy:
    """Rotation schedule and batch sizes.

    ``signed_lifetime`` must exceed ``rotate_every`` so the published signed prekey
    never lapses between rotations; ``grace`` should cover how long the relay keeps an
    unanswered init envelope.
    """

    rotate_every: timedelta = timedelta(days=7)
    signed_lifetime: timedelta = timedelta(days=8)
    grace: timedelta = timedelta(days=7)
    one_time_lifetime: timedelta = timedelta(days=30)
    one_time_target: int = 100
    one_time_low_water: int = 20
    max_batch: int = 200
    draining_target: int = 200
    """While the relay reports the pool draining (``prekeys_draining``), keep this many
    one-time prekeys on the relay, topping up whenever below it (not only below the low
    water), at most ``max_batch`` per maintenance."""
    draining_maintain_every: timedelta = timedelta(seconds=20)
    """...and run maintenance this often (instead of every few minutes)..."""
    draining_for: timedelta = timedelta(minutes=10)
    """...for this long after the relay last said so."""

    def __post_init__(self) -> None:
        if self.rotate_every <= timedelta(0) or self.grace < timedelta(0):
            raise InvalidSetting("rotate_every must be positive and grace not negative")
        if self.signed_lifetime <= self.rotate_every:
            raise InvalidSetting("signed_lifetime must be longer than rotate_every")
        if self.one_time_lifetime <= timedelta(0):
            raise InvalidSetting("one_time_lifetime must be positive")
        if not 0 <= self.one_time_low_water <= self.one_time_target:
            raise InvalidSetting("one_time_low_water must be between 0 and one_time_target")
        if self.max_batch < 1:
            raise InvalidSetting("max_batch must be at least 1")
        if self.draining_target < self.one_time_target:
            raise InvalidSetting("draining_target must be at least one_time_target")
        if self.draining_maintain_every <= timedelta(0) or self.draining_for < timedelta(0):
            raise InvalidSetting("draining_maintain_every must be positive")


DEFAULT_POLICY = PrekeyPolicy()

_RECORD = struct.Struct(">BBIQQ32s32s")
_RECORD_VERSION = 1


@dataclass(frozen=True)
class PrekeyRecord:
    """A prekey the program holds: its secret, public key, id and times (Unix seconds)."""

    prekey_id: int
    one_time: bool
    secret: bytes
    public_key: bytes
    created_at: int
    expires_at: int

    def __post_init__(self) -> None:
        if not 0 <= self.prekey_id <= MAX_PREKEY_ID:
            raise InvalidSetting("prekey_id out of range")
        if len(self.secret) != 32 or len(self.public_key) != 32:
            raise InvalidSetting("prekey keys are 32 bytes")

    def __repr__(self) -> str:
        kind = "one-time" if self.one_time else "signed"
        return (
            f"PrekeyRecord({kind} {self.prekey_id}, secret=<hidden>, "
            f"created_at={self.created_at}, expires_at={self.expires_at})"
        )

    @property
    def body(self) -> PrekeyBody:
        return PrekeyBody(self.prekey_id, self.public_key, self.expires_at)

    def to_bytes(self) -> bytes:
        """86 bytes: version, kind, id, created_at, expires_at, secret, public key."""
        return _RECORD.pack(
            _RECORD_VERSION, 2 if self.one_time else 1, self.prekey_id,
            self.created_at, self.expires_at, self.secret, self.public_key,
        )  # fmt: skip

    @classmethod
    def from_bytes(cls, data: bytes) -> PrekeyRecord:
        if len(data) != _RECORD.size:
            raise InvalidSetting("a prekey record is 86 bytes")
        version, kind, pid, created, expires, secret, public = _RECORD.unpack(data)
        if version != _RECORD_VERSION or kind not in (1, 2):
            raise InvalidSetting("unsupported prekey record")
        return cls(pid, kind == 2, secret, public, created, expires)


@dataclass(frozen=True)
class GeneratedPrekey:
    """A new prekey: the record to store and the signed object to publish."""

    record: PrekeyRecord
    signed: SignedObject

    def __repr__(self) -> str:
        return f"GeneratedPrekey({self.record!r})"


@dataclass(frozen=True)
class SignedPrekeyPlan:
    """``generate``: make a new signed prekey now; ``publish``: the id that should be on
    the relay (``None`` when a new one must be made first); ``delete``: ids whose
    secrets are past their grace period."""

    generate: bool
    publish: int | None
    delete: tuple[int, ...]


def _seconds(moment: datetime) -> int:
    return int(utc(moment).timestamp())


def plan_signed_prekeys(
    records: Sequence[PrekeyRecord], moment: datetime, policy: PrekeyPolicy = DEFAULT_POLICY
) -> SignedPrekeyPlan:
    """Decide the signed prekey's rotation at ``moment``."""
    now = _seconds(moment)
    signed = [r for r in records if not r.one_time]
    valid = [r for r in signed if r.expires_at > now]
    newest = max(valid, key=lambda r: (r.created_at, r.prekey_id)) if valid else None
    rotate = int(policy.rotate_every.total_seconds())
    generate = newest is None or now >= newest.created_at + rotate
    grace = int(policy.grace.total_seconds())  # never negative, so ``newest`` is never here
    delete = tuple(sorted(r.prekey_id for r in signed if now >= r.expires_at + grace))
    return SignedPrekeyPlan(
        generate=generate,
        publish=None if generate or newest is None else newest.prekey_id,
        delete=delete,
    )


def one_time_prekeys_to_generate(
    relay_count: int, policy: PrekeyPolicy = DEFAULT_POLICY, *, draining: bool = False
) -> int:
    """How many one-time prekeys to make when the relay reports ``relay_count`` left.

    Normally only below the low water, up to the target. While the pool is being
    drained (``draining``), up to ``draining_target`` whenever below it: a script that
    takes prekeys faster than the relay's threshold meets a bigger pool, refilled more
    often, and pays a proof of work for each prekey it takes."""
    if relay_count < 0:
        raise InvalidSetting("relay_count must not be negative")
    if draining:
        return min(policy.max_batch, max(0, policy.draining_target - relay_count))
    if relay_count >= policy.one_time_low_water and relay_count > 0:
        return 0
    return min(policy.max_batch, max(0, policy.one_time_target - relay_count))


def expired_one_time_prekeys(
    records: Sequence[PrekeyRecord], moment: datetime, policy: PrekeyPolicy = DEFAULT_POLICY
) -> tuple[int, ...]:
    """Ids of one-time prekeys never used and past ``expires_at + grace``: delete them."""
    now = _seconds(moment)
    grace = int(policy.grace.total_seconds())
    return tuple(sorted(r.prekey_id for r in records if r.one_time and now >= r.expires_at + grace))


def next_prekey_ids(last_issued: int, count: int) -> list[int]:
    """``count`` fresh ids after ``last_issued`` (-1 when none was ever issued)."""
    if count < 0 or last_issued < -1:
        raise InvalidSetting("count and last_issued out of range")
    if last_issued + count > MAX_PREKEY_ID:
        raise InvalidSetting("prekey ids are exhausted (u32)")
    return list(range(last_issued + 1, last_issued + 1 + count))


def make_prekey(
    identity: IdentityKeyPair,
    prekey_id: int,
    moment: datetime,
    *,
    one_time: bool,
    policy: PrekeyPolicy = DEFAULT_POLICY,
    random: RandomSource = system_random,
) -> GeneratedPrekey:
    """A fresh X25519 prekey, its record and its signature (label by kind)."""
    now = _seconds(moment)
    lifetime = policy.one_time_lifetime if one_time else policy.signed_lifetime
    secret, public = x25519_generate(random)
    record = PrekeyRecord(
        prekey_id=prekey_id,
        one_time=one_time,
        secret=secret,
        public_key=public,
        created_at=now,
        expires_at=now + int(lifetime.total_seconds()),
    )
    return GeneratedPrekey(record, sign_prekey(identity, record.body, one_time=one_time))
