"""Group commit: one task owns every write and commits many of them at once.

Callers ``await writer.submit(op)``; the answer arrives only after the transaction
holding ``op`` committed, so a send acknowledged to a client is on disk. Ops are run in
order inside one transaction per batch. If anything in a batch fails, the batch is
rolled back and every op is re-run alone in its own transaction, so one refused or
broken op never takes the others with it, and a refused op leaves nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
Op = Callable[[AsyncConnection], Awaitable[Any]]

log = logging.getLogger("quietline.relay")


class WriterStopped(Exception):
    """The writer is not running (shutting down)."""


class Writer:
    def __init__(self, engine: AsyncEngine, *, interval: float, max_batch: int) -> None:
        self._engine = engine
        self._interval = interval
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Op, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quietline-writer")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._queue.put_nowait((_noop, asyncio.get_running_loop().create_future()))
            await self._task
            self._task = None

    async def submit(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._stopping or self._task is None:
            raise WriterStopped
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._interval > 0 and self._queue.empty() and not self._stopping:
                await asyncio.sleep(self._interval)
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._commit(batch)
            if self._stopping and self._queue.empty():
                return

    async def _commit(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        self.batches += 1
        self.ops += len(batch)
        results: list[Any] = []
        try:
            async with self._engine.begin() as conn:
                for op, _future in batch:
                    results.append(await op(conn))
        except Exception:
            await self._one_by_one(batch)
            return
        for (_op, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        for op, future in batch:
            try:
                async with self._engine.begin() as conn:
                    result = await op(conn)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # mark retrieved if the caller has gone away
            else:
                if not future.done():
                    future.set_result(result)


async def _noop(_conn: AsyncConnection) -> None:
    return None


@contextlib.asynccontextmanager
async def running(writer: Writer) -> Any:
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()
