"""Alembic, configured in code so it works from the installed package.

The scripts live in the top-level ``migrations/`` folder (next to ``server/``); the
environment variable ``QUIETLINE_MIGRATIONS`` may point elsewhere.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


def migrations_dir() -> Path:
    override = os.environ.get("QUIETLINE_MIGRATIONS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: its schema revision (None: no relay created it) and tables."""

    revision: str | None
    tables: tuple[str, ...]


def _state(conn: Connection) -> SchemaState:
    tables = tuple(sorted(t for t in inspect(conn).get_table_names() if t != "alembic_version"))
    return SchemaState(MigrationContext.configure(conn).get_current_revision(), tables)


async def _read_state(database_url: str) -> SchemaState:
    # A plain engine: the relay's SQLite pragmas (WAL mode) would change a file that may
    # not be the relay's.
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_state)
    finally:
        await engine.dispose()


def schema_state(database_url: str) -> SchemaState:
    """Read the schema revision and the tables (the database must exist: SQLite would
    create a missing file)."""
    return asyncio.run(_read_state(database_url))


UNSAID = "what it added, with the data in it"
"""What a downgrade is said to delete for a revision that has no ``DOWNGRADE_DELETES``."""


def revisions_between(current: str, target: str) -> list[tuple[str, str, str]]:
    """The revisions a downgrade from ``current`` to ``target`` undoes, newest first, as
    ``(revision, its first docstring line, what undoing it deletes)``: the migration's
    ``DOWNGRADE_DELETES``, empty when it deletes nothing (:data:`UNSAID` if it does not
    say)."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    lower = None if target == "base" else target
    out = []
    for script in scripts.iterate_revisions(current, lower or "base"):
        if script.revision == lower:
            continue
        first_line = (script.doc or "").strip().split("\n")[0]
        deletes = getattr(script.module, "DOWNGRADE_DELETES", UNSAID)
        out.append((script.revision, first_line, deletes))
    return out
