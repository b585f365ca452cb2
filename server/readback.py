"""Reading back the messages another relay process announced (server.fanout).

A notification through Redis carries a message id, never the envelope: the relay that
holds the recipient's socket reads the row back from the shared database. That read
runs once per batch of notifications, all the time, so on PostgreSQL it keeps one
connection of the pool checked out and runs one prepared statement straight on the
driver (asyncpg), as a single statement outside any transaction: no pool checkout,
``BEGIN`` and ``ROLLBACK`` round trips and no SQLAlchemy statement machinery per read.
(Measured with bench/scale_bench.py: those were two thirds of the read's cost, and the
read a third of the receiving relay's.) Anywhere else, or with another driver, it reads
through SQLAlchemy (:func:`server.messages.by_id`).

A row that was acked or closed meanwhile is simply not found (nothing is pushed); the
rows of one read come in the order they were stored. The connection is dropped on any
failure and made again on the next read.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server import messages
from server.messages import StoredMessage

BY_ID = (
    "SELECT message_id, conversation_id, envelope, seq FROM messages"
    " WHERE message_id = ANY($1::bytea[]) ORDER BY seq"
)


class ReadBack:
    """``await read(ids)``: the rows still waiting among ``ids``, oldest first. Reads
    must not overlap (the broker's listener runs them one at a time)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._direct = engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"
        self._conn: AsyncConnection | None = None
        self._statement: Any = None
        self.reads = 0

    async def read(self, ids: list[bytes]) -> list[StoredMessage]:
        self.reads += 1
        if not self._direct:
            async with self._engine.connect() as conn:
                return await conn.run_sync(messages.by_id, ids)
        try:
            statement = self._statement or await self._prepare()
            rows = await statement.fetch(ids)
        except Exception:
            await self.close()
            raise
        return [StoredMessage(r[0], r[1], r[2], r[3]) for r in rows]

    async def _prepare(self) -> Any:
        self._conn = await self._engine.connect()
        raw = await self._conn.get_raw_connection()
        self._statement = await raw.driver_connection.prepare(BY_ID)  # type: ignore[union-attr]
        return self._statement

    async def close(self) -> None:
        """Give the connection back (invalidated: its prepared statement goes with it)."""
        conn, self._conn, self._statement = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
