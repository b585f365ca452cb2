"""The read back of announced messages on PostgreSQL (server/readback.py): one held
connection, one prepared statement; rows in order, gone rows skipped, and a lost
connection made again on the next read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from server import migrate, storage
from server.db import create_engine as create_async_engine
from server.readback import ReadBack

pytestmark = pytest.mark.pg


async def test_reads_in_order_skips_gone_rows_and_reconnects(
    pg_database: str, postgres: Any
) -> None:
    await asyncio.to_thread(migrate.upgrade, pg_database)  # it runs a loop of its own
    sync = create_engine(pg_database.replace("+asyncpg", "+psycopg"))
    pid, cid = b"p" * 16, b"c" * 16
    with sync.begin() as conn:
        conn.execute(
            text("INSERT INTO programs (program_id, identity_key, created_at) VALUES (:p, :k, 0)"),
            {"p": pid, "k": b"k" * 32},
        )
        first = storage.create_conversation(conn, cid, pid, b"t" * 32, b"one", 0)
        for n, body in ((2, b"two"), (3, b"three")):
            conn.execute(
                text(
                    "INSERT INTO messages (message_id, conversation_id, recipient_slot,"
                    " envelope, created_at) VALUES (:m, :c, 1, :e, 0)"
                ),
                {"m": bytes([n]) * 16, "c": cid, "e": body},
            )
    engine = create_async_engine(pg_database)
    readback = ReadBack(engine)
    try:
        ids = [b"\x03" * 16, b"x" * 16, first, b"\x02" * 16]
        assert [r.envelope for r in await readback.read(ids)] == [b"one", b"two", b"three"]
        with sync.begin() as conn:  # acked meanwhile: not read
            conn.execute(text("DELETE FROM messages WHERE message_id = :m"), {"m": first})
        assert [r.envelope for r in await readback.read(ids)] == [b"two", b"three"]
        # the held connection is lost (a restart of PostgreSQL, a proxy's timeout)
        database = pg_database.rsplit("/", 1)[1]
        killed = postgres.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            f" WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            " AND query LIKE 'SELECT message_id%'",
        )
        assert int(killed) == 1
        with pytest.raises(Exception):  # noqa: B017 -- the driver's own, whichever it is
            await readback.read(ids)
        assert [r.envelope for r in await readback.read(ids)] == [b"two", b"three"]
        assert readback.reads == 4
    finally:
        await readback.close()
        await engine.dispose()
        sync.dispose()
