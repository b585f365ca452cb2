"""`quietline program run` as a real process against a real relay: it serves the console,
a second `run` on the same keystore is refused at once, the log says connected /
relay unreachable and retrying / reconnected (and nothing of the conversations), and
SIGTERM stops it cleanly, releasing the keystore."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_process import run_node, wait_log
from relay_process import free_port

from client_sdk import ParticipantClient
from client_sdk.lock import KeystoreLock


@pytest.mark.slow
async def test_program_run(program: Any, relay: Any, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "node.log"
    node = await run_node(program.keystore, port, log)
    try:
        await wait_log(log, "console ready at", node)
        assert "connected to the relay" in log.read_text()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            signin = await http.get("/signin")
            assert signin.status_code == 200 and "server" not in signin.headers

        # a second node on the same keystore: refused at once, the first keeps running
        second_log = tmp_path / "second.log"
        second = await run_node(program.keystore, free_port(), second_log)
        assert await asyncio.wait_for(second.wait(), 30) == 1
        assert "in use by another program node" in second_log.read_text()
        assert node.returncode is None

        async with await ParticipantClient.connect(
            program.relay_url, program.program_id, program.identity_key
        ) as participant:
            await participant.send("a canary that must never reach a log 7d1e")

            relay.stop()
            await wait_log(log, "relay unreachable; retrying", node)
            relay.restart()
            await wait_log(log, "reconnected to the relay", node)

        node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0
        text = log.read_text()
        assert "stopping" in text
        assert "canary" not in text and "127.0.0.1:" not in text.replace(f"127.0.0.1:{port}", "")
        KeystoreLock.acquire(program.keystore).release()  # the lock went with the node
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()


@pytest.mark.slow
async def test_program_run_waits_for_an_unreachable_relay(
    program: Any, relay: Any, tmp_path: Path
) -> None:
    relay.stop()
    port, log = free_port(), tmp_path / "node.log"
    node = await run_node(program.keystore, port, log)
    try:
        await wait_log(log, "relay unreachable; retrying in", node)
        relay.restart()
        await wait_log(log, "console ready at", node)
        assert "connected to the relay" in log.read_text()
        node.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(node.wait(), 30) == 0
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()


@pytest.mark.slow
async def test_program_run_stops_while_the_relay_is_unreachable(
    program: Any, relay: Any, tmp_path: Path
) -> None:
    relay.stop()
    log = tmp_path / "node.log"
    node = await run_node(program.keystore, free_port(), log)
    try:
        await wait_log(log, "relay unreachable; retrying in", node)
        node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0
        assert "stopping" in log.read_text()
        KeystoreLock.acquire(program.keystore).release()
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
        relay.restart()
