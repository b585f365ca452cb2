"""The outbox: sends that failed because the relay was unavailable.

A message is encrypted (and its ratchet state committed) before it leaves; if the relay
cannot be reached then, its envelopes are kept here and sent again, in the order they
were written, when the relay is back (the client reconnects) or, for the program node,
when it starts again. They go again byte for byte, so a relay that did take the first
try (its answer was lost) answers the repeat with the first message ids and stores
nothing twice (docs/api.md, "Sending again is safe"); the recipient's ratchet refuses a
second copy in any case.

While anything is queued, later sends queue behind it, so a conversation's messages
never overtake each other. A queued send the relay refuses (the conversation was
closed meanwhile) is dropped: it can never be delivered. For the same reason the node
drops a conversation's queued sends when it closes (:meth:`Outbox.drop`), so nothing
filed under a closed conversation's id stays in the keystore.

:meth:`Outbox.send` says what happened: :data:`DELIVERED` or :data:`QUEUED`.

Where the queue lives is the caller's: the program node keeps it in its keystore,
sealed like everything else, so it survives a restart of the node; a participant
(:class:`client_sdk.participant.ParticipantClient`) keeps nothing on disk, so its queue
is :class:`MemoryRecords`, in the process's memory only, and is lost if that process
ends before the relay is back (the participant's keys are lost with it anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from client_sdk.errors import RelayError, RelayUnavailable
from client_sdk.store import OUTBOX

log = logging.getLogger("quietline.sdk")

PREFIX = OUTBOX
DELIVERED: Literal["delivered"] = "delivered"
QUEUED: Literal["queued"] = "queued"
Delivery = Literal["delivered", "queued"]
Deliver = Callable[[str, list[str]], Awaitable[None]]


def _unavailable(exc: Exception) -> bool:
    """A failure worth trying again: the relay unreachable or shutting down."""
    if isinstance(exc, RelayUnavailable | OSError):
        return True
    return isinstance(exc, RelayError) and (exc.status >= 500 or exc.code == "rate_limited")


class Records(Protocol):
    """Named records: the part of the keystore the outbox uses."""

    def names(self, prefix: str = "") -> list[str]: ...
    def get(self, name: str) -> bytes | None: ...
    def put(self, name: str, value: bytes) -> None: ...
    def delete(self, name: str) -> None: ...


class MemoryRecords:
    """Records in this process's memory only: nothing is written anywhere."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryRecords({len(self._items)} records)"

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self._items if n.startswith(prefix))

    def get(self, name: str) -> bytes | None:
        return self._items.get(name)

    def put(self, name: str, value: bytes) -> None:
        self._items[name] = value

    def delete(self, name: str) -> None:
        self._items.pop(name, None)


async def no_commit() -> None:
    """The commit of :class:`MemoryRecords`: there is nothing to save."""


class Outbox:
    def __init__(
        self, ks: Records, commit: Callable[[], Awaitable[None]], deliver: Deliver
    ) -> None:
        self._ks = ks
        self._commit = commit
        self._deliver = deliver
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[int] | None = None
        names = sorted(ks.names(PREFIX))
        self._next = int(names[-1][len(PREFIX) :]) + 1 if names else 0

    def __len__(self) -> int:
        return len(self._ks.names(PREFIX))

    async def send(self, conversation_id: str, envelopes: list[str]) -> Delivery:
        """Deliver now, or keep for later when the relay is unavailable."""
        async with self._lock:
            if not self._ks.names(PREFIX):
                try:
                    await self._deliver(conversation_id, envelopes)
                    return DELIVERED
                except (RelayUnavailable, RelayError, OSError) as exc:
                    if not _unavailable(exc):
                        raise
            name = f"{PREFIX}{self._next:012d}"
            self._next += 1
            self._ks.put(
                name, json.dumps({"cid": conversation_id, "envelopes": envelopes}).encode()
            )
            await self._commit()
        self.kick()
        return QUEUED

    def drop(self, conversation_id: str) -> int:
        """Forget the queued sends of a closed conversation (saved with the next commit;
        the relay would refuse them); returns how many."""
        dropped = 0
        for name in self._ks.names(PREFIX):
            raw = self._ks.get(name)
            if raw is not None and json.loads(raw).get("cid") == conversation_id:
                self._ks.delete(name)
                dropped += 1
        return dropped

    def kick(self) -> None:
        """Try the queue again soon (the relay may be back)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.flush())

    async def flush(self) -> int:
        """Send what is queued, in order, until done or the relay is unavailable again;
        returns how many sends went out."""
        sent = 0
        async with self._lock:
            for name in sorted(self._ks.names(PREFIX)):
                raw = self._ks.get(name)
                if raw is None:
                    continue
                item = json.loads(raw)
                try:
                    await self._deliver(item["cid"], list(item["envelopes"]))
                    sent += 1
                except (RelayUnavailable, RelayError, OSError) as exc:
                    if _unavailable(exc):
                        break
                    log.warning("a queued send was refused: %s", getattr(exc, "code", "?"))
                self._ks.delete(name)
                await self._commit()
        return sent

    async def aclose(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
