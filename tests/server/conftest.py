"""Fixtures for the relay tests (helpers live in relay_helpers.py)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay_helpers import InProcess, in_process, make_settings, sqlite_url
from relay_process import start_relay

from server import migrate


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "relay.db"
    migrate.upgrade(sqlite_url(path))
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_template: Path) -> Path:
    path = tmp_path / "relay.db"
    shutil.copyfile(migrated_template, path)
    return path


@pytest.fixture
async def relay(db_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(make_settings(db_path), db_path) as r:
        yield r


@pytest.fixture
def relay_pair(relay_pair_factory: Callable[..., Any]) -> Any:
    """Two relays on PostgreSQL + Redis behind a round-robin balancer, with the relay's
    default limits, shared by the session's ``pg`` relay tests (each enrolls its own
    program)."""
    return relay_pair_factory()


@pytest.fixture
def relay_process(
    relay_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Any]:
    """A real relay process on a SQLite file in ``tmp_path``; or (``pg``, tests/conftest.py)
    the module's :func:`relay_pair`, with the same ``url``, ``database_url``,
    ``add_program`` and ``cli``. Tests that open the SQLite file or the log, or stop the
    process, are marked ``sqlite_only``."""
    if relay_backend == "pg":
        yield request.getfixturevalue("relay_pair")
        return
    relay = start_relay(tmp_path)
    try:
        yield relay
    finally:
        relay.stop()
