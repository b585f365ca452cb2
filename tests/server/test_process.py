"""Against a real relay process: concurrency, kill -9, forensic traces, audit."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys

import httpx
import pytest
import websockets
from relay_helpers import (
    ROOT,
    b64,
    enroll_program,
    make_envelope,
    open_conversation,
    sqlite_url,
)

from e2ee.encoding import b64u_decode

# SQLite only: every test here is about one relay process on its SQLite file (kill -9
# and restart of that process, the bytes of its database file and WAL, its log, the
# SQLite audit, its interpreter's memory map); tests/server/test_scale_out.py covers
# the pair on PostgreSQL.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only("one process on its SQLite file")]


@pytest.fixture
def roomy_relay(tmp_path):
    """A relay where one source may fetch 100 bundles at once with no proof of work
    (this test is about handing each prekey out once, not about the abuse limits)."""
    from relay_process import start_relay

    relay = start_relay(
        tmp_path,
        QUIETLINE_LIMIT_BUNDLES_PER_SOURCE="1000",
        QUIETLINE_POW_PRESSURE_FRACTION="1.0",
        QUIETLINE_POW_PREKEYS_PER_MINUTE="1000",
    )
    try:
        yield relay
    finally:
        relay.stop()


async def test_concurrent_bundle_fetches_hand_out_each_prekey_once(roomy_relay) -> None:
    relay_process = roomy_relay
    origin = relay_process.url
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=origin, limits=limits, timeout=30) as c:
        program = await enroll_program(c, relay_process.db_path, origin, prekeys=40)
        url = f"/v1/programs/{program.pid}/bundle"
        answers = await asyncio.gather(*[c.post(url) for _ in range(100)])
        assert all(r.status_code == 200 for r in answers)
        handed = [r.json()["one_time_prekey"] for r in answers]
        bodies = [h["body"] for h in handed if h is not None]
        assert len(bodies) == 40 and len(set(bodies)) == 40
        assert handed.count(None) == 60
        r = await c.get(
            f"/v1/programs/{program.pid}/one-time-prekeys/count", headers=program.auth_headers()
        )
        assert r.json() == {"count": 0}


async def test_kill_9_during_sends_loses_no_acknowledged_message(relay_process) -> None:
    origin = relay_process.url
    async with httpx.AsyncClient(base_url=origin, timeout=30) as c:
        program = await enroll_program(c, relay_process.db_path, origin, prekeys=0)
        conversations = [await open_conversation(c, program) for _ in range(10)]
        first = (
            await c.get(f"/v1/programs/{program.pid}/messages", headers=program.auth_headers())
        ).json()
        await c.post(
            "/v1/acks",
            json={"message_ids": [m["id"] for m in first["messages"]]},
            headers=program.auth_headers(),
        )

    acked: dict[str, str] = {}
    enough = asyncio.Event()

    async def sender(cid: bytes, token: str) -> None:
        async with httpx.AsyncClient(base_url=origin, timeout=10) as c:
            h = {"authorization": f"Bearer {token}"}
            n = 0
            while True:
                env = b64(make_envelope(cid, 0, 1, n=n))
                n += 1
                try:
                    r = await c.post(
                        f"/v1/conversations/{b64(cid)}/messages",
                        json={"envelopes": [env]},
                        headers=h,
                    )
                except httpx.TransportError:
                    return
                if r.status_code != 201:
                    return
                acked[r.json()["message_ids"][0]] = env
                if len(acked) >= 300:
                    enough.set()

    tasks = [asyncio.create_task(sender(cid, token)) for cid, token in conversations]
    await asyncio.wait_for(enough.wait(), 60)
    relay_process.kill9()  # while the senders are still sending
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    snapshot = dict(acked)
    relay_process.restart()

    received: list[tuple[str, str]] = []
    async with httpx.AsyncClient(base_url=origin, timeout=30) as c:
        h = program.auth_headers()  # the session survived the crash
        while True:
            page = (await c.get(f"/v1/programs/{program.pid}/messages", headers=h)).json()[
                "messages"
            ]
            if not page:
                break
            received += [(m["id"], m["envelope"]) for m in page]
            r = await c.post("/v1/acks", json={"message_ids": [m["id"] for m in page]}, headers=h)
            assert r.json() == {"acked": len(page)}
    ids = [i for i, _ in received]
    assert len(ids) == len(set(ids)), "a message was delivered twice"
    got = dict(received)
    for message_id, env in snapshot.items():
        assert got.get(message_id) == env, "an acknowledged message was lost or changed"


def _chunks(data: bytes, size: int = 16) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


def _files(db) -> bytes:
    out = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = db.parent / (db.name + suffix)
        if path.exists():
            out += path.read_bytes()
    return out


async def test_after_close_and_checkpoint_no_ciphertext_remains(relay_process) -> None:
    origin = relay_process.url
    sent: list[bytes] = []
    async with httpx.AsyncClient(base_url=origin, timeout=30) as c:
        program = await enroll_program(c, relay_process.db_path, origin, prekeys=0)
        h = program.auth_headers()
        cid, token = await open_conversation(c, program)
        ph = {"authorization": f"Bearer {token}"}
        for i in range(20):
            a = make_envelope(cid, 0, 1, n=i + 1, blocks=1 + i % 3)
            b = make_envelope(cid, 1, 0, n=i)
            sent += [a, b]
            assert (
                await c.post(
                    f"/v1/conversations/{b64(cid)}/messages",
                    json={"envelopes": [b64(a)]},
                    headers=ph,
                )
            ).status_code == 201
            assert (
                await c.post(
                    f"/v1/conversations/{b64(cid)}/messages",
                    json={"envelopes": [b64(b)]},
                    headers=h,
                )
            ).status_code == 201
        # the participant reads and acks half; the rest is still pending at close
        got = (await c.get(f"/v1/conversations/{b64(cid)}/messages", headers=ph)).json()["messages"]
        await c.post("/v1/acks", json={"message_ids": [m["id"] for m in got[:10]]}, headers=ph)
        chunks = [ch for env in sent for ch in _chunks(env[60:])]
        assert any(ch in _files(relay_process.db_path) for ch in chunks)  # they were stored
        assert (await c.post(f"/v1/conversations/{b64(cid)}/close", headers=ph)).status_code == 200
        conn = sqlite3.connect(relay_process.db_path)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
        finally:
            conn.close()
    data = _files(relay_process.db_path)
    leaked = [ch for ch in chunks if ch in data]
    assert leaked == [], f"{len(leaked)} ciphertext chunks remain"
    assert b64u_decode(b64(cid)) not in data  # not even the conversation id


async def test_no_address_or_user_agent_is_kept(relay_process) -> None:
    origin = relay_process.url
    xff, ua = "198.51.100.231", "ProbeAgent/7.3-qlzx"
    headers = {
        "x-forwarded-for": xff,
        "user-agent": ua,
        "x-real-ip": xff,
        "referer": "https://ref.qlzx.example/",
    }
    async with httpx.AsyncClient(base_url=origin, headers=headers, timeout=30) as c:
        program = await enroll_program(c, relay_process.db_path, origin, prekeys=3)
        await c.post(f"/v1/programs/{program.pid}/bundle")
        cid, token = await open_conversation(c, program)
        ws_url = origin.replace("http", "ws") + "/v1/ws"
        ws_headers = {"x-forwarded-for": xff, "referer": "https://ref.qlzx.example/"}
        async with (
            websockets.connect(
                ws_url, additional_headers=ws_headers, user_agent_header=ua, compression=None
            ) as pws,
            websockets.connect(
                ws_url, additional_headers=ws_headers, user_agent_header=ua, compression=None
            ) as uws,
        ):
            await pws.send(json.dumps({"type": "auth", "token": program.session}))
            await uws.send(json.dumps({"type": "auth", "token": token}))
            for ws in (pws, uws):
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
            await pws.send(
                json.dumps(
                    {
                        "type": "send",
                        "request_id": 1,
                        "conversation_id": b64(cid),
                        "envelopes": [b64(make_envelope(cid, 1, 0))],
                    }
                )
            )
            msg = None
            while msg is None or msg.get("type") != "message":
                msg = json.loads(await asyncio.wait_for(uws.recv(), 10))
            await uws.send(json.dumps({"type": "ack", "ids": [msg["id"]]}))
            await uws.send("garbage")  # an error path too
            await asyncio.wait_for(uws.recv(), 10)
        r = await c.get("/v1/nothing/here")
        assert r.status_code == 404
        await c.post(f"/v1/conversations/{b64(cid)}/close", headers=program.auth_headers())
    relay_process.stop()
    blob = _files(relay_process.db_path) + relay_process.log_path.read_bytes()
    for needle in (xff, ua, "qlzx", "ProbeAgent"):
        assert needle.encode() not in blob, needle
    assert b"WebSocket /v1/ws" not in blob  # uvicorn's per-connection lines carry the address


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    env["QUIETLINE_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "quietline", "relay", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


async def test_audit_passes_on_a_busy_database_and_fails_on_a_planted_value(relay_process) -> None:
    origin = relay_process.url
    url = sqlite_url(relay_process.db_path)
    async with httpx.AsyncClient(base_url=origin, timeout=30) as c:
        program = await enroll_program(
            c, relay_process.db_path, origin, prekeys=10, origins=["https://help.example"]
        )
        convs = [await open_conversation(c, program) for _ in range(5)]
        stop = asyncio.Event()

        async def load(cid: bytes, token: str) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                await c.post(
                    f"/v1/conversations/{b64(cid)}/messages",
                    json={"envelopes": [b64(make_envelope(cid, 0, 1, n=n))]},
                    headers={"authorization": f"Bearer {token}"},
                )

        tasks = [asyncio.create_task(load(cid, token)) for cid, token in convs]
        try:
            result = await asyncio.to_thread(_cli, "audit", "--json", url=url)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["rows"]["messages"] > 0

    export = await asyncio.to_thread(_cli, "export", url=url)
    assert export.returncode == 0
    dumped = json.loads(export.stdout)
    assert dumped["tables"]["messages"]["kinds"]["envelope"] == "ciphertext"
    relay_process.stop()

    # plant a readable value: a well-formed envelope whose "ciphertext" is a sentence
    cid = convs[0][0]
    plain = b"Meet me at the shelter on Elm Street at five, he is watching my phone. " * 4
    fake = make_envelope(cid, 0, 1)[:60] + (plain + b"\x00" * 284)[:284]
    conn = sqlite3.connect(relay_process.db_path)
    try:
        conn.execute(
            "INSERT INTO messages"
            " (message_id, conversation_id, recipient_slot, envelope, created_at)"
            " VALUES (?, ?, 1, ?, ?)",
            (
                os.urandom(16),
                cid,
                fake,
                conn.execute("SELECT created_at FROM messages").fetchone()[0],
            ),
        )
        conn.commit()
    finally:
        conn.close()
    result = await asyncio.to_thread(_cli, "audit", url=url)
    assert result.returncode == 1
    assert "does not look random" in result.stdout

    conn = sqlite3.connect(relay_process.db_path)
    try:
        conn.execute("DELETE FROM messages WHERE envelope = ?", (fake,))
        conn.execute("ALTER TABLE conversations ADD COLUMN client_ip TEXT")
        conn.commit()
    finally:
        conn.close()
    result = await asyncio.to_thread(_cli, "audit", "--json", url=url)
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    assert {
        "table": "conversations",
        "column": "client_ip",
        "problem": "column not known to the audit",
    } in findings


def test_add_program_prints_a_token_and_stores_only_its_hash(tmp_path) -> None:
    url = sqlite_url(tmp_path / "fresh.db")
    assert _cli("migrate", url=url).returncode == 0
    result = _cli("add-program", "--json", url=url)
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)["enrollment_token"]
    assert len(b64u_decode(token)) == 32
    assert token.encode() not in (tmp_path / "fresh.db").read_bytes()
    human = _cli("add-program", url=url)
    assert human.returncode == 0 and "shown once" in human.stdout
    assert _cli("audit", url=url).returncode == 0
    assert _cli("migrate", "downgrade", "base", "--yes", url=url).returncode == 0
    assert _cli("migrate", url=url).returncode == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_relay_serves_on_uvloop(relay_process) -> None:
    """uvloop is a dependency, and uvicorn's loop="auto" must pick it: asyncio's own loop
    costs the relay about a fifth more CPU per message (bench/relay_bench.py)."""
    from pathlib import Path

    maps = Path(f"/proc/{relay_process.process.pid}/maps").read_text()
    assert "uvloop" in maps
