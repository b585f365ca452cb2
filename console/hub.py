"""Fan-out of live updates to the browsers, bounded per browser.

The node is the single consumer of ``ProgramClient.events()``; it turns each event
into updates and offers each update to the subscriptions whose account may see it.
Every subscription has a bounded queue: a browser that falls ``limit`` updates
behind is dropped (its iterator ends, the web side closes the socket, the browser
reconnects and starts again from a fresh snapshot). So one slow or stalled browser
never grows the node's memory and never delays another.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

from console.accounts import Account

__all__ = ["Hub", "Subscription"]

Update = dict[str, Any]


class Subscription:
    """One browser's stream of updates for one account."""

    def __init__(self, account: Account, limit: int, number: int) -> None:
        self.account = account
        self.number = number
        self.dropped = False
        self._queue: asyncio.Queue[Update | None] = asyncio.Queue(maxsize=limit + 1)
        self._limit = limit
        self._ended = False

    def offer(self, update: Update) -> None:
        """Queue ``update``; past the limit, drop this subscription (and its backlog)."""
        if self._ended:
            return
        if self._queue.qsize() >= self._limit:
            self.dropped = True
            self.end()
            return
        self._queue.put_nowait(update)

    def end(self) -> None:
        """No more updates: the iterator stops after what is queued (or at once if dropped)."""
        if self._ended:
            return
        self._ended = True
        if self.dropped:
            while not self._queue.empty():
                self._queue.get_nowait()
        self._queue.put_nowait(None)

    @property
    def ended(self) -> bool:
        return self._ended

    def __aiter__(self) -> AsyncIterator[Update]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Update]:
        while True:
            update = await self._queue.get()
            if update is None:
                return
            yield update


class Hub:
    """The live subscriptions of the node."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._subs: dict[int, Subscription] = {}
        self._numbers = itertools.count(1)

    def __len__(self) -> int:
        return len(self._subs)

    def add(self, account: Account) -> Subscription:
        sub = Subscription(account, self._limit, next(self._numbers))
        self._subs[sub.number] = sub
        return sub

    def remove(self, sub: Subscription) -> None:
        self._subs.pop(sub.number, None)
        sub.end()

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    def send(self, update: Update, visible: Callable[[Account], bool]) -> None:
        """Offer ``update`` to every subscription whose account ``visible`` accepts."""
        for sub in list(self._subs.values()):
            if sub.ended:
                self._subs.pop(sub.number, None)
            elif visible(sub.account):
                sub.offer(update)

    def end_account(self, staff_id: str, update: Update) -> None:
        """Send ``update`` as the last word to every subscription of one account."""
        for sub in list(self._subs.values()):
            if sub.account.staff_id == staff_id:
                sub.offer(update)
                self.remove(sub)

    def close(self) -> None:
        for sub in list(self._subs.values()):
            self.remove(sub)
