"""Shared by every test package: tests/support (the real relay process,
``relay_process``) goes on ``sys.path`` so that tests/server, tests/client_sdk and
tests/widget import one copy of it. The session's PostgreSQL and Redis servers (tests
marked ``pg``, tests/support/services.py) are fixtures here too, and so is Debian's
Chromium for the browser tests (``browser``, module-scoped, tests/support/chromium.py).

The relay integration tests run twice (docs/scale-out.md, "What the tests run on both"):
every test that uses a fixture depending on ``relay_backend`` (tests/server's
``relay_process``, tests/client_sdk's ``relay``) is parametrized here with ``sqlite`` (one
relay process on a SQLite file) and ``pg`` (two relay processes on PostgreSQL + Redis
behind a round-robin balancer, marked ``pg`` and ``slow``). A test that only makes sense
on one SQLite relay (it opens the relay's file, reads its log, kills its one process)
says so with ``@pytest.mark.sqlite_only("why")``, on the test or its module."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "relay_backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        return  # relay_backend answers "sqlite" unparametrized
    metafunc.parametrize(
        "relay_backend",
        ["sqlite", pytest.param("pg", marks=[pytest.mark.pg, pytest.mark.slow])],
        indirect=True,
        scope="module",
    )


@pytest.fixture(scope="module")
def relay_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``pg``: what the relay fixtures start (pytest_generate_tests)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def relay_pair_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., object]]:
    """Two relays on a database of the session's PostgreSQL and its Redis, behind a
    round-robin balancer (tests/support/relay_pair.py), shared by every ``pg`` test that
    asks for the same settings: starting a pair costs seconds, and each test enrolls its
    own program, as on the module's SQLite relay. Stopped at the end of the session."""
    from relay_pair import start_pair

    pairs: dict[tuple[tuple[str, str], ...], object] = {}

    def start(**extra_env: str) -> object:
        key = tuple(sorted(extra_env.items()))
        if key not in pairs:
            postgres = request.getfixturevalue("postgres")
            redis = request.getfixturevalue("redis_server")
            database = postgres.create_database(f"relay{next(_databases)}")
            pairs[key] = start_pair(
                tmp_path_factory.mktemp("pair"), database, redis.url, "round_robin", **extra_env
            )
        return pairs[key]

    try:
        yield start
    finally:
        for pair in pairs.values():
            pair.stop()  # type: ignore[attr-defined]


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
def failover_pair(tmp_path: Path, pg_database: str, redis_server: object) -> Iterator[object]:
    """Two relays on a new database and the session's Redis, behind a balancer that sends
    every connection to relay a while it lives, then to b (tests/support/relay_pair.py)."""
    from relay_pair import start_pair
    from relay_process import FUNCTIONAL_LIMITS

    pair = start_pair(tmp_path, pg_database, redis_server.url, **FUNCTIONAL_LIMITS)  # type: ignore[attr-defined]
    try:
        yield pair
    finally:
        pair.stop()


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
