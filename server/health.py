"""``GET /v1/health`` (liveness) and ``GET /v1/health/ready`` (readiness).

Liveness says only that the process answers. Readiness says the database answers: each
check opens a new connection (never one of the relay's pooled ones, which keep working
on a file that was deleted or made unreadable under them) and reads the schema
revision. For SQLite the file is opened read-write without being created, so a
database whose file or directory is gone is not ready, and no empty file appears.

Neither answer carries data: no counts, no times, no version, no reason beyond "the
database does not answer" (the operator reads the relay's log, which names only the
exception's type).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.errors import ApiError

log = logging.getLogger("quietline.relay")

READY_TIMEOUT_SECONDS = 5.0
LIVE = "/v1/health"
READY = "/v1/health/ready"


def probe_url(database_url: str) -> str:
    """The URL a readiness check connects with: for SQLite, the same file in URI form
    with ``mode=rw`` (fails instead of creating a missing file)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return database_url
    path = quote(url.database, safe="/")
    return url.set(database=f"file:{path}", query={"mode": "rw", "uri": "true"}).render_as_string(
        hide_password=False
    )


class Readiness:
    """Checks that a fresh connection to the database reads its schema revision."""

    def __init__(self, database_url: str) -> None:
        self._url = probe_url(database_url)
        self._engine: AsyncEngine | None = None

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(self._url, poolclass=NullPool)
        return self._engine

    async def _query(self) -> None:
        async with self._get_engine().connect() as conn:
            await conn.execute(text("SELECT version_num FROM alembic_version"))

    async def check(self) -> bool:
        try:
            await asyncio.wait_for(self._query(), READY_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("readiness check failed: %s", type(exc).__name__)
            return False
        return True

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()


async def live(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    readiness: Readiness = request.app.state.readiness
    if await readiness.check():
        return JSONResponse({"status": "ready"})
    error = ApiError("unavailable", "The database does not answer.")
    request.app.state.metrics.refused(error.code)
    return JSONResponse(error.as_json(), status_code=error.status)


ROUTES = [Route(LIVE, live, methods=["GET"]), Route(READY, ready, methods=["GET"])]
