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

Forgetting: deleted rows are zeroed by ``secure_delete`` in the database file, but the
WAL still holds the frames that wrote them. A close asks :meth:`Checkpointer.truncate`
before it is answered: this thread then runs ``PRAGMA wal_checkpoint(TRUNCATE)``, which
copies every frame into the database file (the zeroed pages over the old ones) and cuts
the WAL to nothing, so neither file holds any byte of the closed conversation's
envelopes. Closes that come together share one truncation (one that started after each
of them committed). The sweeper's and shutdown's ``TRUNCATE`` checkpoints
(:func:`server.db.checkpoint`) do the same for what TTLs delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

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
        self.truncations = 0
        self._lock = threading.Lock()
        self._truncate_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] = []

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="quietline-checkpointer", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """Called after a commit: a checkpoint is due soon. Cheap when one is already due."""
        if not self._wake.is_set():
            self._wake.set()

    def truncate(self) -> asyncio.Future[bool]:
        """A future that turns True once a ``TRUNCATE`` checkpoint that started after this
        call has emptied the WAL (False if it could not within TRUNCATE_PATIENCE)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with self._lock:
            self._truncate_waiters.append((loop, future))
        self._wake.set()
        return future

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
                with self._lock:
                    waiters, self._truncate_waiters = self._truncate_waiters, []
                try:
                    if conn is None:
                        conn = self._engine.raw_connection()
                    if waiters:
                        done = _truncate(conn)
                        self.truncations += 1
                        _resolve(waiters, done)
                        waiters = []
                        continue  # another close may be waiting: no pause
                    cursor = conn.cursor()
                    try:
                        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        cursor.fetchall()
                    finally:
                        cursor.close()
                    self.runs += 1
                except Exception as exc:  # the writer's backstop takes over; try again later
                    log.error("checkpoint failed: %s", type(exc).__name__)
                    _resolve(waiters, False)
                    if conn is not None:
                        conn.invalidate()
                        conn = None
                if self._stopping.wait(self.interval):
                    return
        finally:
            with self._lock:
                waiters, self._truncate_waiters = self._truncate_waiters, []
            _resolve(waiters, False)
            if conn is not None:
                conn.close()


TRUNCATE_PATIENCE = 5.0
"""How long the thread keeps trying a TRUNCATE checkpoint that readers or the writer hold
up (each try already waits up to the connection's busy timeout)."""


def _truncate(conn: Any) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` until it reports the WAL emptied."""
    deadline = time.monotonic() + TRUNCATE_PATIENCE
    while True:
        cursor = conn.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = cursor.fetchall()[0][0]
        finally:
            cursor.close()
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _resolve(
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]], ok: bool
) -> None:
    for loop, future in waiters:

        def settle(f: asyncio.Future[bool] = future) -> None:
            if not f.done():
                f.set_result(ok)

        with contextlib.suppress(RuntimeError):  # the loop closed first (shutting down)
            loop.call_soon_threadsafe(settle)
