"""Fixtures for the relay tests (helpers live in relay_helpers.py)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay_helpers import InProcess, in_process, make_settings, sqlite_url
from relay_process import RelayProcess, start_relay

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
def relay_process(tmp_path: Path) -> Iterator[RelayProcess]:
    relay = start_relay(tmp_path)
    try:
        yield relay
    finally:
        relay.stop()
