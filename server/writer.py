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
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.errors import ApiError

T = TypeVar("T")
Op = Callable[[AsyncConnection], Awaitable[Any]]

log = logging.getLogger("quietline.relay")


class WriterStopped(Exception):
    """The writer is not running (shutting down)."""


class Coalesced:
    """An op that runs together with the other ops of its class in the same segment.

    Subclasses implement ``run_many(conn, ops) -> list[result or ApiError]``.
    """

    @classmethod
    async def run_many(cls, conn: AsyncConnection, ops: list[Any]) -> list[Any]:
        raise NotImplementedError


class Writer:
    def __init__(self, engine: AsyncEngine, *, interval: float, max_batch: int) -> None:
        self._engine = engine
        self._interval = interval
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] = asyncio.Queue()
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

    async def submit(self, op: Callable[[AsyncConnection], Awaitable[T]] | Coalesced) -> Any:
        if self._stopping or self._task is None:
            raise WriterStopped
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
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

    async def _commit(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        self.batches += 1
        self.ops += len(batch)
        try:
            async with self._engine.begin() as conn:
                results = await self._run_batch(conn, [op for op, _ in batch])
        except Exception:  # re-run each op alone to isolate the failure
            await self._one_by_one(batch)
            return
        for (_op, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def _run_batch(self, conn: AsyncConnection, ops: list[Any]) -> list[Any]:
        results: list[Any] = [None] * len(ops)
        segment: list[int] = []

        async def flush() -> None:
            groups: dict[type, list[int]] = {}
            for i in segment:
                groups.setdefault(type(ops[i]), []).append(i)
            for cls, indices in groups.items():
                out = await cls.run_many(conn, [ops[i] for i in indices])
                for i, result in zip(indices, out, strict=True):
                    results[i] = result
            segment.clear()

        for i, op in enumerate(ops):
            if isinstance(op, Coalesced):
                segment.append(i)
                continue
            await flush()
            try:
                results[i] = await op(conn)
            except ApiError as exc:  # refused before writing anything
                results[i] = exc
        await flush()
        return results

    async def _one_by_one(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        for op, future in batch:
            try:
                async with self._engine.begin() as conn:
                    (result,) = await self._run_batch(conn, [op])
            except Exception as exc:  # handed to the caller
                result = exc
            _settle(future, result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
        future.exception()  # retrieved here, in case the caller has gone away
    else:
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
