"""``quietline program run``: the program node as one long-lived service with the console.

One process per keystore (the keystore's lock, :mod:`client_sdk.lock`): a second
``run`` fails at once with :class:`~client_sdk.lock.KeystoreInUse`. The process
connects to the relay (retrying, with backoff, while the relay is unreachable), keeps
the conversations in a :class:`~console.node.ConsoleNode`, and serves the console
(``console.web.create_app(node, settings)``) with uvicorn on ``settings.host:port``;
any host but loopback needs TLS (:class:`~console.settings.ConsoleSettings` refuses).

The log says what an operator needs, never content and never an address: connected,
relay unreachable and retrying, reconnected, stopping. uvicorn's access log is off
(it would write client addresses), and so is its ``Server`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from client_sdk.errors import RelayUnavailable
from client_sdk.transport import Backoff
from console.admin import control, load_operations
from console.errors import SetupError
from console.node import ConsoleNode
from console.settings import ConsoleSettings

__all__ = ["load_app_factory", "run", "serve"]

log = logging.getLogger("console.service")

WATCH_SECONDS = 1.0
RETRY = Backoff()


def load_app_factory() -> Callable[[ConsoleNode, ConsoleSettings], Any]:
    """``console.web.create_app``, or a :class:`SetupError` saying the pages are missing."""
    if importlib.util.find_spec("console.web") is None:
        raise SetupError(
            "The console's web pages (the console.web package) are not in this "
            "installation, so there is nothing to serve. Install a complete Quietline."
        )
    module = importlib.import_module("console.web")
    factory = getattr(module, "create_app", None)
    if factory is None:
        raise SetupError("console.web has no create_app(node, settings).")
    return factory  # type: ignore[no-any-return]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service stops it, then the node."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def connect(
    keystore: Path, passphrase: str, settings: ConsoleSettings, *, relay_url: str | None
) -> ConsoleNode:
    """Open the node, retrying while the relay is unreachable (other errors are final)."""
    attempt = 0
    while True:
        try:
            node = await ConsoleNode.open(keystore, passphrase, settings, relay_url=relay_url)
        except RelayUnavailable:
            delay = RETRY.delay(attempt)
            log.warning("relay unreachable; retrying in %.0f s", delay)
            await asyncio.sleep(delay)
            attempt += 1
            continue
        log.info("connected to the relay")
        return node


async def _watch(node: ConsoleNode) -> None:
    """Log when the relay's socket goes down and comes back (the SDK reconnects)."""
    up = True
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        now = node.program.connected
        if up and not now:
            log.warning("relay unreachable; retrying")
        elif now and not up:
            log.info("reconnected to the relay")
        up = now


async def serve(
    keystore: Path,
    passphrase: str,
    settings: ConsoleSettings,
    *,
    relay_url: str | None = None,
    started: Callable[[ConsoleNode], Awaitable[None]] | None = None,
) -> None:
    """Run until SIGINT or SIGTERM; then stop the web server, then the node.

    ``started`` is awaited once the console listens (``quietline demo`` uses it)."""
    factory = load_app_factory()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    connecting = asyncio.create_task(connect(keystore, passphrase, settings, relay_url=relay_url))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not connecting.done():  # stopped while the relay was unreachable
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        log.info("stopping")
        return
    node = connecting.result()
    watcher = asyncio.create_task(_watch(node))
    try:
        app = factory(node, settings)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
            access_log=False,
            server_header=False,
            log_level="warning",
            lifespan="auto",
        )
        server = _Server(config)
        server_task = asyncio.create_task(server.serve())
        while not server.started and not server_task.done():
            await asyncio.sleep(0.05)
        if server_task.done():
            server_task.result()
            raise SetupError(f"The console could not listen on {settings.url}.")
        log.info("console ready at %s", settings.url)
        load_operations()
        async with control.serve(node, keystore):
            if started is not None:
                await started(node)
            await asyncio.wait([stopping, server_task], return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping")
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server_task, 10)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await node.aclose()


def run(
    keystore: Path, passphrase: str, settings: ConsoleSettings, *, relay_url: str | None = None
) -> None:
    """``serve`` on a fresh event loop, logging to stderr."""
    # the console's own INFO lines; libraries only warn (httpx's INFO names every URL)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("console").setLevel(logging.INFO)
    asyncio.run(serve(keystore, passphrase, settings, relay_url=relay_url))
