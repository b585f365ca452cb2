"""The relay's ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from server import db, health, metrics, openapi
from server.errors import ApiError
from server.fanout import RedisBroker
from server.http import ROUTES
from server.middleware import RelayMiddleware
from server.relay import Relay
from server.settings import Settings
from server.ws import WebSocketApp

log = logging.getLogger("quietline.relay")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    request.app.state.metrics.refused(exc.code)
    return JSONResponse(exc.as_json(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError("method_not_allowed", "This method is not allowed here.")
        request.app.state.metrics.refused(error.code)
        return JSONResponse(error.as_json(), status_code=405, headers=exc.headers)
    error = ApiError("not_found", "There is nothing at this path.")
    request.app.state.metrics.refused(error.code)
    return JSONResponse(error.as_json(), status_code=404)


_DOCUMENT = openapi.document()


async def openapi_json(_request: Request) -> JSONResponse:
    return JSONResponse(_DOCUMENT)


async def _sweeper(relay: Relay) -> None:
    while True:
        await asyncio.sleep(relay.settings.sweep_interval_seconds)
        try:
            await relay.sweep()
            await db.checkpoint(relay.engine)
            if relay.vacuum is not None:
                await relay.vacuum.run()
                await relay.vacuum.rotate_wal()
        except Exception as exc:
            relay.metrics.sweep_failures += 1
            log.error("sweep failed: %s", type(exc).__name__)
        else:
            relay.metrics.sweeps += 1


async def _quota_refresher(relay: Relay) -> None:
    """Several relay processes: each reads the waiting totals again now and then."""
    while True:
        await asyncio.sleep(relay.settings.quota_refresh_seconds)
        try:
            await relay.refresh_quotas()
        except Exception as exc:
            log.error("quota refresh failed: %s", type(exc).__name__)


def create_app(
    settings: Settings, *, guard: Any = None, metrics_socket: socket.socket | None = None
) -> Starlette:
    """The app; the database must already be migrated (``server.migrate.upgrade``).

    ``guard``: the serving process's ``server.guard.ConnectionGuard``, whose counts the
    metrics show. ``metrics_socket``: a socket listening for ``GET /metrics``
    (:func:`server.metrics.listen`); none, no metrics are served."""
    holder: dict[str, Relay] = {}
    counts = metrics.Metrics()
    counts.guard = guard

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = db.create_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
        broker = RedisBroker(settings.broker_url) if settings.broker_url else None
        relay = Relay(settings, engine, metrics=counts, broker=broker)
        holder["relay"] = relay
        app.state.relay = relay
        app.state.readiness = health.Readiness(settings.database_url)
        await relay.start()
        exporter = None if metrics_socket is None else await metrics.serve(counts, metrics_socket)
        # Everything loaded so far lives as long as the process: keep it out of the
        # cyclic collector's way, so a full collection does not stall the relay.
        gc.freeze()
        tasks = [asyncio.create_task(_sweeper(relay), name="quietline-sweeper")]
        if broker is not None:
            tasks.append(asyncio.create_task(_quota_refresher(relay), name="quietline-quotas"))
        try:
            yield
        finally:
            if exporter is not None:
                exporter.close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await relay.stop()
            with contextlib.suppress(Exception):
                await db.checkpoint(engine)
            await engine.dispose()
            await app.state.readiness.close()

    # In the route table (OpenAPI, tests), but reached from the middleware, not the router.
    sockets = [WebSocketRoute("/v1/ws", WebSocketApp())]
    app = Starlette(
        routes=[
            *ROUTES,
            *health.ROUTES,
            Route("/v1/openapi.json", openapi_json, methods=["GET"]),
            *sockets,
        ],
        middleware=[
            Middleware(
                RelayMiddleware,
                relay_getter=lambda: holder["relay"],
                websockets={route.path: route.app for route in sockets},
            )
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.metrics = counts
    return app
