"""The audit reports each kind of value that breaks its column's declaration."""

from __future__ import annotations

import os
import sqlite3

from relay_helpers import make_settings

from e2ee.identity import PrekeyBody
from server.audit import run_audit

NOW = 1_800_000_000  # a fixed clock: the audit's TTL checks are about this instant
HOUR = 3600


async def test_a_clean_database_passes(db_path) -> None:
    report = await run_audit(make_settings(db_path), now=NOW)
    assert report["ok"] and report["findings"] == []


async def test_each_broken_declaration_is_a_finding(db_path) -> None:
    pid = os.urandom(16)
    prekey_body = PrekeyBody(prekey_id=1, public_key=os.urandom(32), expires_at=NOW).to_bytes()
    conn = sqlite3.connect(db_path)
    try:
        conn.execute(
            "INSERT INTO programs (program_id, identity_key, signed_prekey_signature, created_at)"
            " VALUES (?, ?, ?, ?)",
            (pid, os.urandom(31), os.urandom(64), NOW - NOW % HOUR + 7),
        )
        conn.execute(
            "INSERT INTO program_origins (program_id, origin) VALUES (?, ?)",
            (pid, "https://help.example/path"),
        )
        conn.execute(
            "INSERT INTO enrollment_tokens (token_hash, state, created_at) VALUES (?, ?, ?)",
            (os.urandom(32), "maybe", NOW - NOW % HOUR),
        )
        conn.execute(
            "INSERT INTO program_sessions (token_hash, program_id, expires_at) VALUES (?, ?, ?)",
            (os.urandom(32), pid, NOW - NOW % HOUR - 24 * HOUR),
        )
        conn.execute(
            "INSERT INTO one_time_prekeys (program_id, prekey_id, body, signature, expires_at)"
            " VALUES (?, 1, ?, ?, ?)",
            (pid, prekey_body, os.urandom(64), NOW - NOW % HOUR + 24 * HOUR),
        )
        conn.execute("CREATE TABLE visitors (address TEXT)")
        conn.commit()
    finally:
        conn.close()
    report = await run_audit(make_settings(db_path), now=NOW)
    found = {(f["table"], f["column"], f["problem"]) for f in report["findings"]}
    assert found == {
        ("visitors", "*", "table not known to the audit"),
        ("programs", "identity_key", "length 31, expected 32"),
        ("programs", "created_at", "finer than 3600 seconds"),
        ("programs", "signed_prekey_signature", "signature without a body or a program"),
        ("program_origins", "origin", "not a web origin"),
        ("one_time_prekeys", "signature", "signature does not verify under the program's key"),
        ("enrollment_tokens", "state", "value outside the declared enum"),
        ("program_sessions", "*", "a row past its TTL is still stored"),
    }
    assert not report["ok"]
