"""Group commit: one task owns every write and commits many of them at once.

Callers ``await writer.submit(op)``; the answer arrives only after the transaction
holding ``op`` committed, so a send acknowledged to a client is on disk.

A batch runs in one transaction, in order. The hot ops (:class:`Coalesced`: sends and
acks) that sit between two other ops are run together: one SELECT to authorize all of
them, one INSERT for every new row, one DELETE for every acked row, whatever the batch
size. An op refuses by raising (or, for coalesced ops, returning) an
:class:`~server.errors.ApiError` before it writes anything, so a refusal needs no
rollback. Any other failure rolls the batch back and every op is re-run alone in its
own transaction, so one broken op never takes the others with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from typing import Any

from sqlalchemy.engine import Connection, Engine

from server.checkpointer import Checkpointer
from server.errors import ApiError
from server.metrics import SizeHistogram

log = logging.getLogger("quietline.relay")

Op = Callable[[Connection], Any]
Callback = Callable[[Any], None]
"""Called with an op's result (or the exception that refused it) once its batch committed."""


class WriterStopped(Exception):
    """The writer is not running (shutting down)."""


class Coalesced:
    """An op that runs together with the other ops of its class in the same segment.

    Subclasses implement ``run_many(conn, ops, memo) -> list[result or ApiError]``.
    ``memo`` is a dict the writer keeps from batch to batch for them (see
    :class:`Writer`): what they read there must be what they would read from the
    database, and what they change there must be what they write to it.

    The ops of one segment do not depend on each other, so their classes may run in any
    order: by ``rank`` (lowest first), then by the first op of each class in the batch.
    Deletes rank before inserts (acks before sends): the pages a delete frees (zeroed,
    as ``secure_delete`` has it) are then refilled by the inserts in the same
    transaction and go to the WAL once, instead of once zeroed and again refilled by
    the next commit (measured: 30% fewer WAL writes per group commit of sends and
    acks, 2-3 µs less per message).
    """

    rank = 0

    @classmethod
    def run_many(cls, conn: Connection, ops: list[Any], memo: dict[str, Any]) -> list[Any]:
        raise NotImplementedError


class Writer:
    """Owns the only writing connection; runs each batch in one go.

    By default the batch runs on the event loop itself: an embedded SQLite batch is
    a millisecond or two of work, and handing it to a thread costs more (the GIL moves
    between threads for every statement). ``in_thread=True`` runs batches on one
    dedicated thread instead, for engines whose commits wait on I/O (``synchronous=FULL``,
    a database server).

    With a ``checkpointer`` (SQLite), each commit nudges it: the WAL is folded into the
    database file on the checkpointer's thread, never inside a batch (see
    :mod:`server.checkpointer`). It starts and stops with the writer.

    On SQLite, coalesced ops keep a memo of rows between batches (the conversations that
    sends go to: one SELECT per batch saved). It can be trusted because this writer is
    the only one: an embedded database file has one relay process, and every write goes
    through here. The memo is emptied before any other op runs (which may close or sweep
    conversations) and after any failure (whose rollback may undo what a coalesced op
    wrote down). With a database server other processes may write too, so each batch
    gets an empty memo there.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float,
        max_batch: int,
        in_thread: bool = False,
        checkpointer: Checkpointer | None = None,
        batch_sizes: SizeHistogram | None = None,
    ) -> None:
        self._engine = engine
        self._batch_sizes = batch_sizes
        self.checkpointer = checkpointer
        self._in_thread = in_thread
        self._interval = interval
        self._max_batch = max_batch
        # Queued ops, and the future the task waits on while there are none: a deque and
        # a future cost a third of what asyncio.Queue's bookkeeping does per op.
        self._queue: deque[tuple[Any, Callback]] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quietline-writer")
        self._stopping = False
        self._conn: Connection | None = None
        self._memo_kept = engine.dialect.name == "sqlite"
        self._memo: dict[str, Any] = {}
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.start()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="quietline-writer")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._put((_noop, _ignore))  # wakes the task to see it stop
            await self._task
            self._task = None
        if self._in_thread:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._dispose)
        else:
            self._dispose()
        self._thread.shutdown(wait=True)
        if self.checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.checkpointer.stop)

    async def submit(self, op: Op | Coalesced) -> Any:
        return await self.submit_nowait(op)

    def submit_nowait(self, op: Op | Coalesced) -> asyncio.Future[Any]:
        """Queue ``op``; the future settles once its batch committed (or refused it)."""
        if self._stopping or self._task is None or self._loop is None:
            raise WriterStopped
        # The loop the writer started on (asking asyncio for the running loop costs a
        # getpid() system call, on every op).
        future: asyncio.Future[Any] = self._loop.create_future()
        self._put((op, functools.partial(_settle, future)))
        return future

    def submit_with(self, op: Op | Coalesced, callback: Callback) -> None:
        """Queue ``op``; ``callback`` gets its result (or the exception that refused it)
        right after its batch committed, on the writer's task. For the hot path: no
        future, no callback scheduled per op. A callback that raises is logged by type
        and never stops the writer."""
        if self._stopping or self._task is None:
            raise WriterStopped
        self._put((op, callback))

    def _put(self, item: tuple[Any, Callback]) -> None:
        self._queue.append(item)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            while not queue:
                self._wake = loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
            if self._interval > 0 and len(queue) == 1 and not self._stopping:
                await asyncio.sleep(self._interval)
            batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch))]
            self.batches += 1
            self.ops += len(batch)
            if self._batch_sizes is not None:
                self._batch_sizes.observe(len(batch))
            ops = [op for op, _ in batch]
            if self._in_thread:
                results = await loop.run_in_executor(self._thread, self._commit, ops)
            else:
                results = self._commit(ops)
            if self.checkpointer is not None:
                self.checkpointer.nudge()
            for (_op, callback), result in zip(batch, results, strict=True):
                _call(callback, result)
            if self._stopping and not queue:
                return

    def _connection(self) -> Connection:
        """The writer keeps its one connection checked out between batches (no pool
        checkout, reset and return per batch); a failed batch drops it."""
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        self._memo.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _dispose(self) -> None:
        self._drop_connection()
        self._engine.dispose()

    def _commit(self, ops: list[Any]) -> list[Any]:
        try:
            conn = self._connection()
            with conn.begin():
                return self._run_batch(conn, ops)
        except Exception:  # re-run each op alone to isolate the failure
            self._drop_connection()
            return [self._alone(op) for op in ops]

    def _alone(self, op: Any) -> Any:
        try:
            conn = self._connection()
            with conn.begin():
                return self._run_batch(conn, [op])[0]
        except Exception as exc:  # handed to the caller
            self._drop_connection()
            log.error("write failed: %s", type(exc).__name__)
            return exc

    def _run_batch(self, conn: Connection, ops: list[Any]) -> list[Any]:
        results: list[Any] = [None] * len(ops)
        segment: list[int] = []
        if not self._memo_kept:
            self._memo.clear()

        def flush() -> None:
            groups: dict[type[Coalesced], list[int]] = {}
            for i in segment:
                groups.setdefault(type(ops[i]), []).append(i)
            for cls in sorted(groups, key=attrgetter("rank")):  # stable: ties keep their order
                indices = groups[cls]
                out = cls.run_many(conn, [ops[i] for i in indices], self._memo)
                for i, result in zip(indices, out, strict=True):
                    results[i] = result
            segment.clear()

        for i, op in enumerate(ops):
            if isinstance(op, Coalesced):
                segment.append(i)
                continue
            flush()
            self._memo.clear()  # this op may change what the memo holds
            try:
                results[i] = op(conn)
            except ApiError as exc:  # refused before writing anything
                results[i] = exc
        flush()
        return results


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
        future.exception()  # retrieved here, in case the caller has gone away
    else:
        future.set_result(result)


def _call(callback: Callback, result: Any) -> None:
    try:
        callback(result)
    except Exception as exc:  # the caller's failure, never the writer's
        log.error("write callback failed: %s", type(exc).__name__)


def _noop(_conn: Connection) -> None:
    return None


def _ignore(_result: Any) -> None:
    return None
