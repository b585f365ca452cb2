"""Shared by every test package: tests/support (the real relay process,
``relay_process``) goes on ``sys.path`` so that tests/server, tests/client_sdk and
tests/widget import one copy of it. The session's PostgreSQL and Redis servers (tests
marked ``pg``, tests/support/services.py) are fixtures here too, and so is Debian's
Chromium for the browser tests (``browser``, module-scoped, tests/support/chromium.py)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

_SUPPORT = str(Path(__file__).resolve().parent / "support")
if _SUPPORT not in sys.path:
    sys.path.insert(0, _SUPPORT)


# -- PostgreSQL and Redis (tests marked ``pg``) -----------------------------------------

_databases = itertools.count(1)


def _service(tmp_path_factory: pytest.TempPathFactory, kind: str) -> Iterator[object]:
    """A ``postgres`` or ``redis`` server (tests/support/services.py), stopped after."""
    import services

    missing = services.available()
    if missing:
        pytest.fail(missing)
    start = {"postgres": services.start_postgres, "redis": services.start_redis}[kind]
    server = start(tmp_path_factory.mktemp(kind))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One PostgreSQL server for the session (tests/support/services.py); each test
    module takes a database of its own from it (``pg_database``)."""
    yield from _service(tmp_path_factory, "postgres")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One Redis server for the session, without persistence."""
    yield from _service(tmp_path_factory, "redis")


@pytest.fixture
def pg_database(postgres: object) -> str:
    """A new empty database on the session's PostgreSQL: its URL."""
    return postgres.create_database(f"relay{next(_databases)}")  # type: ignore[attr-defined]


# -- Chromium (tests marked ``browser``) --------------------------------------------------


@pytest.fixture(scope="module")
def playwright_sync() -> Iterator[Playwright]:
    """Playwright's sync API for one test module (stopped before the next module, so
    that async tests elsewhere keep their event loop: tests/widget/conftest.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_sync: Playwright) -> Iterator[Browser]:
    """Debian's Chromium for one test module (tests/support/chromium.py)."""
    import chromium

    b = chromium.launch(playwright_sync)
    try:
        yield b
    finally:
        b.close()
