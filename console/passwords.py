"""Argon2id work for a running node: off the event loop, a few at a time.

Hashing or verifying a staff password costs Argon2id's time (about half a second) and
memory (``memory_cost``: 64 MiB with the library's defaults). Done on the node's event
loop, it would stop every conversation, push and staff request for that long.

Security properties:

- Every hash and verification runs in this pool's own threads, never on the event loop:
  while one runs, participants' messages, browsers' updates and other staff requests
  are served. The keystore is not thread-safe, so the callers read and write it on the
  loop and give the pool only pure functions (``StaffAccounts.check``, ``make_hash``).
- At most ``workers`` run at once, so the memory they take is at most
  ``workers * memory_cost``; at most ``waiting`` more wait their turn. Beyond that a
  request is refused at once with :class:`Busy` (plain words, the same whatever the name
  or password), so a burst of sign-in attempts can neither exhaust memory nor queue
  without end. Sign-in throttling (:mod:`console.web.throttle`) still applies before.
- The comparison itself is Argon2's (constant time); nothing here sees a hash or a
  password other than to pass it on, and nothing is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from console.errors import ConsoleError

__all__ = ["Busy", "PasswordWork"]

T = TypeVar("T")

DEFAULT_WORKERS = 2
DEFAULT_WAITING = 32


class Busy(ConsoleError):
    default = "The console is busy checking passwords. Wait a minute, then try again."


class PasswordWork:
    """A bounded pool for Argon2id: ``await work.run(fn, *args)``."""

    def __init__(self, *, workers: int = DEFAULT_WORKERS, waiting: int = DEFAULT_WAITING) -> None:
        if workers < 1 or waiting < 0:
            raise ValueError("password work needs at least one worker and no negative queue")
        self.workers = workers
        self.waiting = waiting
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._pending = 0

    @property
    def pending(self) -> int:
        """Hashes running or waiting now."""
        return self._pending

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in the pool; :class:`Busy` at once when the queue is full."""
        if self._pending >= self.workers + self.waiting:
            raise Busy()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1

    def close(self) -> None:
        """Stop taking work; what waits is dropped, what runs finishes in its thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"PasswordWork(workers={self.workers}, waiting={self.waiting})"
