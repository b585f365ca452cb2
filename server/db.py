"""Engine and sessions. SQLite gets its safety pragmas on every connection.

``secure_delete=ON`` makes SQLite overwrite deleted content with zeros, so a deleted
envelope is gone from the file, not just unlinked; WAL frames that still hold it are
removed by the checkpoint (``checkpoint()``), which the sweeper runs.

``temp_store=MEMORY`` keeps SQLite's temporary files in memory. Without it, a statement
that changes more than 64 KiB of pages already on disk (an ack deleting a few dozen
envelopes) spills its statement journal, the old content of those pages, ciphertext
included, into an unlinked file in ``/var/tmp``: a copy outside the database and WAL
that no checkpoint or ``secure_delete`` reaches, and a file opened, written and
removed per such statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
)
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, synchronous: str = "NORMAL") -> AsyncEngine:
    """An async engine; for SQLite, every new connection gets the pragmas above.

    ``synchronous=NORMAL`` in WAL mode: a commit survives the process being killed (the
    relay's promise for acknowledged sends); only an OS crash or power cut can lose the
    last commits. ``FULL`` (setting ``sqlite_synchronous``) also covers those, at the
    price of one fsync per group commit.
    """
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {SYNCHRONOUS}")
    # A few reading connections are plenty (each is a thread with its own page cache).
    engine = create_async_engine(url, pool_size=4, max_overflow=4)
    if is_sqlite(url):
        pragmas = (*SQLITE_PRAGMAS, f"PRAGMA synchronous={synchronous}")

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        event.listen(engine.sync_engine, "connect", on_connect)
    return engine


def create_writer_engine(
    url: str, *, synchronous: str = "NORMAL", autocheckpoint: int | None = None
) -> Engine:
    """The writer's synchronous engine on the same database (driver swapped for its sync
    twin). For SQLite every transaction is ``BEGIN IMMEDIATE``: the writer takes the write
    lock before its first read, so a batch never fails half-way on a lock upgrade.
    ``autocheckpoint`` sets SQLite's ``wal_autocheckpoint`` (pages) on its connections;
    the relay raises it for the writer, whose checkpoints a thread runs instead
    (:mod:`server.checkpointer`)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {SYNCHRONOUS}")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    sync_driver = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}.get(backend)
    if sync_driver is None:
        raise ValueError(f"no synchronous driver known for {backend}")
    engine = create_sync_engine(parsed.set(drivername=sync_driver), pool_size=1, max_overflow=0)
    if backend == "sqlite":
        pragmas: tuple[str, ...] = (*SQLITE_PRAGMAS, f"PRAGMA synchronous={synchronous}")
        if autocheckpoint is not None:
            pragmas += (f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}",)

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        def on_begin(conn: Any) -> None:
            # Straight on the driver's connection: SQLAlchemy's statement machinery
            # costs more than the BEGIN itself, once per group commit.
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
    return engine


async def checkpoint(engine: AsyncEngine) -> None:
    """Fold the WAL into the database file and truncate it (SQLite only)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
