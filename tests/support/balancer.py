"""A TCP load balancer on 127.0.0.1 for the scale-out tests: what HAProxy or a cloud
balancer does in front of several relay processes, reduced to two policies.

- ``failover`` (the default): each new connection goes to the first target that accepts
  it, in order;
- ``round_robin``: each new connection goes to the next target in turn, so a client that
  talks to one URL spreads its connections (a node's socket, a participant's, every
  HTTP request) over every relay, as a proxy without sticky sessions does.

Either way a target that refuses (its relay was killed) is skipped. Bytes are copied
both ways unchanged; when either side closes, so does the other. It runs its own event
loop on a thread, so it serves whichever loop the test's clients use, and it is stopped
by the fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from relay_process import free_port


class Balancer:
    def __init__(self, targets: list[int], mode: str = "failover") -> None:
        if mode not in {"failover", "round_robin"}:
            raise ValueError(f"unknown balancer mode {mode!r}")
        self.targets = targets
        self.mode = mode
        self._turn = 0
        self.port = free_port()
        self.connections: list[int] = []
        """The target port of every connection made, in order."""
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="balancer", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Balancer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("balancer did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    def _order(self) -> list[int]:
        """The targets to try for a new connection, in order."""
        targets = list(self.targets)
        if self.mode == "failover" or not targets:
            return targets
        start = self._turn % len(targets)
        self._turn += 1
        return targets[start:] + targets[:start]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in self._order():
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.connections.append(port)
            await asyncio.gather(
                _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
            )
            return
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
