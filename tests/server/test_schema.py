"""Columns declare their kinds; migrations match the models; OpenAPI matches the routes."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from relay_helpers import sqlite_url
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from starlette.routing import Route, WebSocketRoute

from server import migrate
from server.app import create_app
from server.models import KINDS, Base, kind
from server.openapi import document
from server.settings import Settings


def undeclared(metadata: MetaData) -> list[str]:
    return [
        f"{t.name}.{c.name}"
        for t in metadata.tables.values()
        for c in t.c
        if c.info.get("kind") not in KINDS
    ]


def test_every_column_declares_a_known_kind() -> None:
    assert undeclared(Base.metadata) == []
    for table in Base.metadata.tables.values():
        for col in table.c:
            info = col.info
            if info["kind"] == "coarse_time":
                assert info["resolution"] in (60, 3600)
                if info["resolution"] < 3600:
                    assert info["why"], f"{table.name}.{col.name} must say why it is finer"
            if info["kind"] in ("opaque_id", "token_hash", "public_key", "signature"):
                assert info["size"] > 0


def test_the_check_catches_a_column_without_kind_or_with_an_unknown_one() -> None:
    md = MetaData()
    Table(
        "t",
        md,
        Column("a", Integer, primary_key=True),
        Column("ip", Integer, info={"kind": "text"}),
    )
    assert undeclared(md) == ["t.a", "t.ip"]
    with pytest.raises(ValueError, match="unknown column kind"):
        kind("plaintext")


def test_no_column_can_hold_free_text() -> None:
    """Only enums and web origins are strings; everything else is bytes or an integer."""
    for table in Base.metadata.tables.values():
        for col in table.c:
            if col.type.python_type is str:
                assert col.info["kind"] in ("enum", "web_origin"), f"{table.name}.{col.name}"


def test_times_and_counters_are_64_bit_on_both_databases() -> None:
    """Migrations 0004 and 0005: a Unix time passes 2^31 in January 2038, and a counter
    may pass it sooner; PostgreSQL's ``INTEGER`` is 32 bits, SQLite's up to 64."""
    wide = [
        f"{t.name}.{c.name}"
        for t in Base.metadata.tables.values()
        for c in t.c
        if c.info["kind"] in ("coarse_time", "counter")
    ]
    assert len(wide) == 10  # eight times, two counters
    for table in Base.metadata.tables.values():
        for col in table.c:
            if f"{table.name}.{col.name}" in wide:
                assert col.type.compile(dialect=postgresql.dialect()) == "BIGINT", col
                assert col.type.compile(dialect=sqlite.dialect()) == "INTEGER", col


def test_migrate_up_down_up_and_models_match(tmp_path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    sync = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with sync.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        with sync.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == []
    finally:
        sync.dispose()


def test_openapi_lists_exactly_the_routes() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db"))
    actual = set()
    for route in app.routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    actual.add((method.lower(), route.path))
        elif isinstance(route, WebSocketRoute):
            actual.add(("get", route.path))
    documented = {(m, p) for p, ops in document()["paths"].items() for m in ops}
    assert actual == documented


async def test_openapi_is_served(relay) -> None:
    r = await relay.client.get("/v1/openapi.json")
    assert r.json() == document()


@pytest.mark.pg
def test_counters_are_64_bit_on_postgresql(pg_database: str) -> None:
    """Migration 0004: ``messages.seq`` (and its sequence) and a one-time prekey's id (the
    protocol's u32) pass 2^31 on PostgreSQL, whose INTEGER is 32 bits; a message stored
    before the upgrade is kept; the models match the migrated schema there too."""
    from server import messages, storage

    sync = create_engine(pg_database.replace("+asyncpg", "+psycopg"))
    kinds = text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE (table_name, column_name) IN"
        " (('messages', 'seq'), ('one_time_prekeys', 'prekey_id'))"
    )
    sequence = text(
        "SELECT data_type::text FROM pg_sequences WHERE sequencename = 'messages_seq_seq'"
    )
    pid, cid = b"p" * 16, b"c" * 16
    try:
        migrate.upgrade(pg_database, "0003")
        with sync.begin() as conn:
            assert {r[2] for r in conn.execute(kinds)} == {"integer"}
            assert conn.execute(sequence).scalar_one() == "integer"
            conn.execute(
                text(
                    "INSERT INTO programs (program_id, identity_key, created_at) VALUES (:p, :k, 0)"
                ),
                {"p": pid, "k": b"k" * 32},
            )
            storage.create_conversation(conn, cid, pid, b"t" * 32, b"before", 0)
        migrate.upgrade(pg_database)
        with sync.begin() as conn:
            assert {r[2] for r in conn.execute(kinds)} == {"bigint"}
            assert conn.execute(sequence).scalar_one() == "bigint"
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            conn.execute(text("SELECT setval('messages_seq_seq', 3000000000)"))
            storage.add_one_time_prekeys(
                conn,
                pid,
                [
                    {
                        "prekey_id": 2**32 - 1,
                        "body": b"b" * 44,
                        "signature": b"s" * 64,
                        "expires_at": 0,
                    }
                ],
                10,
            )
            conn.execute(
                text(
                    "INSERT INTO messages (message_id, conversation_id, recipient_slot, envelope,"
                    " created_at) VALUES (:m, :c, 1, 'after', 0)"
                ),
                {"m": b"m" * 16, "c": cid},
            )
        with sync.connect() as conn:
            rows = messages.pending(conn, storage.Principal(program_id=pid), 10)
            assert [(r.envelope, r.seq > 2**31) for r in rows] == [
                (b"before", False),
                (b"after", True),
            ]
            assert (
                messages.pending(conn, storage.Principal(program_id=pid), 10, rows[0].seq)[0].seq
                == rows[1].seq
            )
            taken = storage.take_one_time_prekey(conn, pid, 0)
            assert taken is not None and taken[2] == 0
    finally:
        sync.dispose()
