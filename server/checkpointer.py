"""WAL checkpoints on a thread of their own, never on the event loop.

In WAL mode every commit appends pages to the WAL, and a checkpoint copies them back
into the database file. SQLite's default runs that checkpoint inside the commit that
crossed 1,000 pages: on the relay's writer, which runs on the event loop, that is a
stall of milliseconds every few dozen group commits, which every connection waits out
(it showed as the relay's tail latency in bench/relay_bench.py).

Here the writer's connection leaves checkpoints to a :class:`Checkpointer`: a thread
with its own connection that runs ``PRAGMA wal_checkpoint(PASSIVE)`` shortly after
commits happened. SQLite does the copying without Python's GIL, on another core, and a
passive checkpoint never blocks the writer (nor waits for it). When it has caught up,
the writer's next transaction starts the WAL from its beginning again, so the file stays
small. The writer still checkpoints by itself past ``BACKSTOP_PAGES``: only if this
thread fell far behind or failed.

This changes nothing about forgetting: deleted rows are zeroed by ``secure_delete``, and
the sweeper's and shutdown's ``TRUNCATE`` checkpoints (:func:`server.db.checkpoint`)
still empty the WAL.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

log = logging.getLogger("quietline.relay")

BACKSTOP_PAGES = 8000
"""The writer connection's own ``wal_autocheckpoint`` (pages of 4 KiB: 32 MiB of WAL)."""


class Checkpointer:
    """Runs a passive checkpoint at most every ``interval`` seconds while commits come
    (setting ``checkpoint_interval_ms``)."""

    def __init__(self, engine: Engine, *, interval: float = 0.25) -> None:
        self._engine = engine
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="quietline-checkpointer", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """Called after a commit: a checkpoint is due soon. Cheap when one is already due."""
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        """Stop the thread (blocks for at most one checkpoint) and close its connection."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._engine.dispose()

    def _run(self) -> None:
        conn = None
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    if conn is None:
                        conn = self._engine.raw_connection()
                    cursor = conn.cursor()
                    try:
                        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        cursor.fetchall()
                    finally:
                        cursor.close()
                    self.runs += 1
                except Exception as exc:  # the writer's backstop takes over; try again later
                    log.error("checkpoint failed: %s", type(exc).__name__)
                    if conn is not None:
                        conn.invalidate()
                        conn = None
                if self._stopping.wait(self.interval):
                    return
        finally:
            if conn is not None:
                conn.close()
