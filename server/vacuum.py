"""PostgreSQL: VACUUM of the message table after closes and sweeps.

A DELETE in PostgreSQL only marks a row dead: its bytes (an envelope) stay in the
table's page until VACUUM reclaims the space, and even then they are not overwritten
until a new row lands there (docs/scale-out.md has the measurements). VACUUM is what
the relay can do: it makes the space reusable at once, so the busy message table
overwrites dead envelopes within seconds, and it drops the index entries that point to
them. ``VACUUM`` takes no lock that blocks reads or writes.

Runs that come together share one: a caller waits for a VACUUM that *started after*
it asked (one already running may have started before its DELETE committed).

PostgreSQL's write-ahead log (``pg_wal``) also holds every envelope inserted, until its
segment is recycled. On the sweeper's schedule the relay asks PostgreSQL to move to a
new segment and checkpoint, twice (:meth:`Vacuum.rotate_wal`), which empties the old
segments of what was deleted before (measured: docs/scale-out.md). That needs the
``pg_checkpoint`` role and EXECUTE on ``pg_switch_wal()``; without them the relay says
so once in its log and leaves it to PostgreSQL's own checkpoints (every
``checkpoint_timeout``, 5 minutes by default, with segments reused past ``min_wal_size``).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("quietline.relay")
TABLES = ("messages", "members", "conversations")


class Vacuum:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._running: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None
        self.runs = 0
        self.may_rotate = True

    async def run(self) -> None:
        """Return once a VACUUM that started after this call finished (errors logged by
        type: the sweeper's next run tries again)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._running is None:
                self._running = asyncio.create_task(self._loop())
        await asyncio.shield(self._next)

    async def _loop(self) -> None:
        try:
            while self._next is not None:
                waiting, self._next = self._next, None
                try:
                    await self._vacuum()
                except Exception as exc:
                    log.warning("vacuum failed: %s", type(exc).__name__)
                waiting.set_result(None)
        finally:
            self._running = None

    async def rotate_wal(self) -> bool:
        """Switch WAL segments and checkpoint, twice; False when not allowed (said once)."""
        if not self.may_rotate:
            return False
        try:
            async with self._engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for _ in range(2):
                    await auto.execute(text("SELECT pg_switch_wal()"))
                    await auto.execute(text("CHECKPOINT"))
        except Exception as exc:
            self.may_rotate = False
            log.warning(
                "cannot rotate PostgreSQL's WAL (%s): grant the relay's role pg_checkpoint "
                "and EXECUTE on pg_switch_wal() (docs/scale-out.md)",
                type(exc).__name__,
            )
            return False
        return True

    async def _vacuum(self) -> None:
        async with self._engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in TABLES:
                await auto.execute(text(f"VACUUM {table}"))
        self.runs += 1
