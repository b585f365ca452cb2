"""Forgetting on close, against a real relay process: once a close is answered, neither
relay.db nor relay.db-wal holds a byte of the conversation's envelopes, with traffic
going on in other conversations; a crash leaves nothing once the relay serves again;
the audit reads both files and fails on a leftover."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from abuse_helpers import start_relay_limited
from relay_helpers import b64, enroll_program, make_envelope, open_conversation

from server import leftovers

pytestmark = pytest.mark.slow


def chunks(data: bytes, size: int = 16) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


def files(db: Path) -> bytes:
    out = b""
    for suffix in ("", "-wal"):
        path = db.parent / (db.name + suffix)
        if path.exists():
            out += path.read_bytes()
    return out


async def test_a_close_is_answered_only_once_its_envelopes_are_gone_from_disk(tmp_path) -> None:
    relay = start_relay_limited(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
            h = program.auth_headers()
            busy_cid, busy_token = await open_conversation(c, program)
            stop = asyncio.Event()

            async def traffic() -> None:  # another conversation keeps the writer busy
                n = 0
                bh = {"authorization": f"Bearer {busy_token}"}
                while not stop.is_set():
                    env = make_envelope(busy_cid, 0, 1, n=n, blocks=2)
                    await c.post(
                        f"/v1/conversations/{b64(busy_cid)}/messages",
                        json={"envelopes": [b64(env)]},
                        headers=bh,
                    )
                    n += 1

            background = asyncio.create_task(traffic())
            for _ in range(3):
                cid, token = await open_conversation(c, program)
                ph = {"authorization": f"Bearer {token}"}
                sent: list[bytes] = []
                for i in range(26):
                    a = make_envelope(cid, 0, 1, n=i + 1, blocks=1 + i % 4)
                    b = make_envelope(cid, 1, 0, n=i)
                    sent += [a, b]
                    url = f"/v1/conversations/{b64(cid)}/messages"
                    assert (
                        await c.post(url, json={"envelopes": [b64(a)]}, headers=ph)
                    ).status_code == 201
                    assert (
                        await c.post(url, json={"envelopes": [b64(b)]}, headers=h)
                    ).status_code == 201
                got = (await c.get(f"/v1/conversations/{b64(cid)}/messages", headers=ph)).json()
                ids = [m["id"] for m in got["messages"][:13]]
                await c.post("/v1/acks", json={"message_ids": ids}, headers=ph)
                # every piece of every envelope past its routing fields (version, kind,
                # conversation id, slots): the conversation id alone may stay as a divider
                # key in an index's interior page (docs/threat-model.md)
                pieces = [p for env in sent for p in chunks(env[20:])]
                assert any(p in files(relay.db_path) for p in pieces)  # they were stored
                r = await c.post(f"/v1/conversations/{b64(cid)}/close", headers=ph)
                assert r.status_code == 200
                data = files(relay.db_path)  # at once: no checkpoint of our own
                leaked = [p for p in pieces if p in data]
                assert leaked == [], f"{len(leaked)} pieces of closed envelopes on disk"
            stop.set()
            await background
        result = relay.cli("relay", "audit")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "relay.db-wal" in result.stdout or "relay.db" in result.stdout
    finally:
        relay.stop()


PLANT = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    db, cid, env, kill = sys.argv[1], *map(bytes.fromhex, sys.argv[2:4]), sys.argv[4]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    pid = conn.execute("SELECT program_id FROM programs").fetchone()[0]
    conn.execute(
        "INSERT INTO conversations (conversation_id, program_id, state, created_at, active_at)"
        " VALUES (?, ?, 'waiting', 0, 0)", (cid, pid))
    conn.execute(
        "INSERT INTO messages (message_id, conversation_id, recipient_slot, envelope, created_at)"
        " VALUES (?, ?, 1, ?, 0)", (os.urandom(16), cid, env))
    conn.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
    conn.execute("DELETE FROM conversations WHERE conversation_id = ?", (cid,))
    if kill == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # a crash right after the close committed
    print("planted", flush=True)
    sys.stdin.read()  # keep the WAL open until the test is done with it
    """
)


def plant(db: Path, cid: bytes, env: bytes, kill: bool) -> subprocess.Popen[str]:
    """Write then delete a conversation as a close does (``secure_delete`` on), without a
    checkpoint: its envelope stays in the WAL's older frames."""
    return subprocess.Popen(
        [sys.executable, "-c", PLANT, str(db), cid.hex(), env.hex(), "kill" if kill else "keep"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_the_audit_reads_the_wal_and_a_crash_is_forgotten_before_serving(tmp_path) -> None:
    relay = start_relay_limited(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
            await enroll_program(c, relay.db_path, relay.url, prekeys=0)
        relay.stop()
        cid = os.urandom(16)
        env = make_envelope(cid, 0, 1, init=True, blocks=3)
        # a closed conversation left in the WAL: the audit says so
        keeper = plant(relay.db_path, cid, env, kill=False)
        try:
            assert keeper.stdout is not None and keeper.stdout.readline().strip() == "planted"
            assert cid in files(relay.db_path)
            result = relay.cli("relay", "audit", "--json")
            assert result.returncode == 1, result.stdout
            assert "relay.db-wal" in result.stdout and "left on disk" in result.stdout
        finally:
            keeper.communicate("")
        # the same after a crash; the next start forgets before it serves
        cid = os.urandom(16)
        env = make_envelope(cid, 0, 1, init=True, blocks=3)
        crashed = plant(relay.db_path, cid, env, kill=True)
        crashed.communicate()
        assert crashed.returncode == -signal.SIGKILL
        assert cid in Path(str(relay.db_path) + "-wal").read_bytes()
        relay.restart()
        assert set(leftovers.scan(str(relay.db_path), set()).values()) <= {0}
        result = relay.cli("relay", "audit")
        assert result.returncode == 0, result.stdout
    finally:
        relay.stop()


def test_leftover_pattern_needs_the_row_and_the_envelope_to_agree() -> None:
    cid = os.urandom(16)
    env = make_envelope(cid, 0, 1)
    row = os.urandom(16) + cid + b"\x01" + env
    assert leftovers.envelope_ids(os.urandom(4000) + row + os.urandom(4000)) == {cid}
    assert leftovers.envelope_ids(os.urandom(16) + os.urandom(16) + b"\x01" + env) == set()
    assert leftovers.envelope_ids(bytes(100_000)) == set()
