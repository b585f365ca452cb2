"""Gap and order tracking over Double Ratchet headers (pure, no I/O).

The ratchet accepts messages out of order (skipped keys) and refuses replays, but it
does not tell the application that something is missing. This tracker does, from the
authenticated header of each message that decrypted (never from an unauthenticated
one, so the relay cannot make us report a gap that is not there):

- a message whose counter ``n`` jumps past the next expected one in its chain, or a
  new chain whose ``pn`` says the previous chain had more messages than we saw, means
  ``count`` messages *may* be missing (the relay dropped or delays them);
- a message that fills such a hole arrived late (reordered or delayed).

State is a small JSON-friendly dict so it can be stored with the session.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_TRACKED_CHAINS = 8
MAX_TRACKED_HOLES = 2000
MAX_FAILED_IDS = 10_000


class FailedIds:
    """Ids of pushed messages that failed verification (not acked, so the relay pushes
    them again after a reconnect): each is reported once. Bounded, oldest first out, so
    a relay that floods bad messages cannot grow the client's memory without end; one
    forgotten and pushed again is reported again."""

    def __init__(self, limit: int = MAX_FAILED_IDS) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, message_id: str) -> None:
        self._ids[message_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)


@dataclass(frozen=True)
class Observation:
    missing: int
    """How many messages may have been dropped before this one (0 if none)."""
    late: bool
    """This message fills a hole: it arrived after one its sender wrote later."""


@dataclass
class CounterTracker:
    current: str | None = None
    next_n: dict[str, int] = field(default_factory=dict)
    holes: dict[str, list[int]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def observe(self, dh: bytes, pn: int, n: int) -> Observation:
        """Record a message that decrypted with header ``(dh, pn, n)``."""
        chain = dh.hex()
        if chain in self.next_n:
            return self._in_chain(chain, n)
        missing = 0
        if self.current is not None:
            expected = self.next_n.get(self.current, 0)
            if pn > expected:
                missing += pn - expected
                self._add_holes(self.current, range(expected, pn))
                self.next_n[self.current] = pn
        self.current = chain
        self.next_n[chain] = 0
        self.order.append(chain)
        while len(self.order) > MAX_TRACKED_CHAINS:
            old = self.order.pop(0)
            self.next_n.pop(old, None)
            self.holes.pop(old, None)
        obs = self._in_chain(chain, n)
        return Observation(missing + obs.missing, obs.late)

    def _in_chain(self, chain: str, n: int) -> Observation:
        expected = self.next_n[chain]
        if n >= expected:
            self._add_holes(chain, range(expected, n))
            self.next_n[chain] = n + 1
            return Observation(n - expected, False)
        holes = self.holes.get(chain, [])
        if n in holes:
            holes.remove(n)
        return Observation(0, True)

    def _add_holes(self, chain: str, numbers: range) -> None:
        if not numbers:
            return
        holes = self.holes.setdefault(chain, [])
        holes.extend(numbers[:MAX_TRACKED_HOLES])
        del holes[:-MAX_TRACKED_HOLES]

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "next_n": self.next_n,
            "holes": self.holes,
            "order": self.order,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CounterTracker:
        return cls(
            current=data.get("current"),
            next_n={str(k): int(v) for k, v in dict(data.get("next_n", {})).items()},
            holes={str(k): [int(x) for x in v] for k, v in dict(data.get("holes", {})).items()},
            order=[str(x) for x in data.get("order", [])],
        )
