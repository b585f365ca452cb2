"""Migration 0005 on real PostgreSQL: after ``quietline relay migrate`` every time column
is 64-bit, and the relay stores, hands back, audits and sweeps times past 2^31 (January
2038); a downgrade that would truncate a time is refused and changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from relay_helpers import (
    IN_PROCESS_ORIGIN,
    UNLIMITED_SOURCES,
    ProgramActor,
    b64,
    enroll_program,
    in_process,
    open_conversation,
    snapshot,
)
from sqlalchemy import create_engine, text

from e2ee import identity
from e2ee.encoding import b64u_decode
from server.models import Base
from server.settings import Settings

pytestmark = [pytest.mark.pg, pytest.mark.slow]

T2040 = 2_208_988_800
"""2040-01-01 00:00 UTC: past 2^31 seconds (2038-01-19), an hour boundary."""
DAY = 86400

TIME_COLUMNS = sorted(
    (t.name, c.name)
    for t in Base.metadata.tables.values()
    for c in t.c
    if c.info["kind"] == "coarse_time"
)
"""Every time column the relay declares (tests/server/test_schema.py: all 64-bit)."""


def relay_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``quietline relay *args`` on ``database_url``, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "quietline", "relay", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def column_types(database_url: str) -> dict[tuple[str, str], str]:
    sync = create_engine(database_url.replace("+asyncpg", "+psycopg"))
    try:
        with sync.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema()"
                )
            )
            found = {(r[0], r[1]): r[2] for r in rows}
    finally:
        sync.dispose()
    return {column: found[column] for column in TIME_COLUMNS}


def test_relay_migrate_makes_every_time_column_bigint_and_back(pg_database: str) -> None:
    migrated = relay_cli(pg_database, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert set(column_types(pg_database).values()) == {"bigint"}

    down = relay_cli(pg_database, "migrate", "downgrade", "0004", "--yes")
    assert down.returncode == 0, down.stderr
    assert "0005" in down.stdout
    assert set(column_types(pg_database).values()) == {"integer"}

    again = relay_cli(pg_database, "migrate")
    assert again.returncode == 0, again.stderr
    assert set(column_types(pg_database).values()) == {"bigint"}

    audit = relay_cli(pg_database, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_downgrade_that_would_truncate_a_time_is_refused(pg_database: str) -> None:
    assert relay_cli(pg_database, "migrate").returncode == 0
    sync = create_engine(pg_database.replace("+asyncpg", "+psycopg"))
    try:
        with sync.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO programs (program_id, identity_key, created_at)"
                    " VALUES (:p, :k, :t)"
                ),
                {"p": b"p" * 16, "k": b"k" * 32, "t": T2040},
            )
        down = relay_cli(pg_database, "migrate", "downgrade", "0004", "--yes")
        assert down.returncode == 2
        assert "refused `migrate downgrade 0004`, and nothing was changed" in down.stderr
        assert "out of range" in down.stderr
        with sync.connect() as conn:  # one transaction: nothing was changed
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
                ("0005",)
            ]
            assert conn.execute(text("SELECT created_at FROM programs")).all() == [(T2040,)]
    finally:
        sync.dispose()
    assert set(column_types(pg_database).values()) == {"bigint"}


async def _authenticate(client: Any, program: ProgramActor) -> dict[str, str]:
    r = await client.post(f"/v1/programs/{program.pid}/challenge")
    challenge = r.json()["challenge"]
    signature = program.keys.sign(
        identity.LABEL_RELAY_AUTH, b64u_decode(challenge) + IN_PROCESS_ORIGIN.encode()
    )
    r = await client.post(
        f"/v1/programs/{program.pid}/session",
        json={"challenge": challenge, "signature": b64(signature)},
    )
    assert r.status_code == 200, r.text
    program.session = r.json()["session_token"]
    return program.auth_headers()


async def test_the_relay_stores_hands_back_audits_and_sweeps_times_past_2038(
    pg_database: str,
) -> None:
    """The relay in process on PostgreSQL (its writer, its reads, its sweeper), its clock
    in 2040: every time it writes is past 2^31, which a 32-bit column cannot hold."""
    migrated = await asyncio.to_thread(relay_cli, pg_database, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    settings = Settings(
        database_url=pg_database, public_origin=IN_PROCESS_ORIGIN, **UNLIMITED_SOURCES
    )
    until_2040 = T2040 - int(time.time())
    async with in_process(settings, pg_database) as relay:  # type: ignore[arg-type]
        c = relay.client
        program = await enroll_program(c, pg_database, relay.origin, prekeys=0)
        # today: a one-time prekey that a program made valid past 2038 (its expiry half an
        # hour before the hour the relay rounds it up to, whatever seconds pass meanwhile)
        kept = program.prekey(8, one_time=True, expires_in=until_2040 + 7 * DAY - 1800)
        r = await c.post(
            f"/v1/programs/{program.pid}/one-time-prekeys",
            json={"prekeys": [kept]},
            headers=program.auth_headers(),
        )
        assert r.status_code == 200, r.text

        relay.relay.clock = lambda: T2040
        h = await _authenticate(c, program)
        r = await c.put(
            f"/v1/programs/{program.pid}/signed-prekey",
            json=program.prekey(1, one_time=False, expires_in=until_2040 + 30 * DAY),
            headers=h,
        )
        assert r.status_code == 200, r.text
        r = await c.put(
            f"/v1/programs/{program.pid}/status",
            json=program.status(expires_in=until_2040 + DAY),
            headers=h,
        )
        assert r.status_code == 200, r.text
        taken = program.prekey(7, one_time=True, expires_in=until_2040 + DAY)
        r = await c.post(
            f"/v1/programs/{program.pid}/one-time-prekeys", json={"prekeys": [taken]}, headers=h
        )
        assert r.status_code == 200, r.text
        bundle = (await c.post(f"/v1/programs/{program.pid}/bundle")).json()
        assert bundle["one_time_prekey"] == taken
        confirmed, _ = await open_conversation(c, program)
        unconfirmed, _ = await open_conversation(c, program, confirm=False)

        rows = snapshot(pg_database)
        assert [r[-1] for r in rows["one_time_prekeys"]] == [T2040 + 7 * DAY]
        assert T2040 + 3600 in [r[-1] for r in rows["program_sessions"]]  # and the first one
        times = {r[0]: r[3:] for r in rows["conversations"]}
        confirm_by = T2040 + settings.unconfirmed_conversation_seconds
        assert times == {confirmed: (T2040, T2040, None), unconfirmed: (T2040, T2040, confirm_by)}
        assert {r[-1] for r in rows["messages"]} == {T2040}
        pending = (await c.get(f"/v1/programs/{program.pid}/messages", headers=h)).json()
        assert {m["conversation_id"] for m in pending["messages"]} == {b64(confirmed)}

        audit = await asyncio.to_thread(relay_cli, pg_database, "audit")
        assert audit.returncode == 0, audit.stdout + audit.stderr

        assert await relay.relay.sweep() == 0
        relay.relay.clock = lambda: confirm_by + 1
        assert await relay.relay.sweep() == 1  # the unconfirmed one, past its minute
        assert [r[0] for r in snapshot(pg_database)["conversations"]] == [confirmed]
        relay.relay.clock = lambda: T2040 + 8 * DAY
        assert await relay.relay.sweep() == 1  # idle past its TTL
        rows = snapshot(pg_database)
        for table in ("conversations", "messages", "one_time_prekeys", "program_sessions"):
            assert rows[table] == [], table
