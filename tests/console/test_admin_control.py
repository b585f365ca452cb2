"""The admin seam (console/admin): one operation runs on a stopped keystore, and through a
running `quietline program run` over its control socket, with the same result; the socket
is the node's user's only, refuses bad requests, and is removed when the node stops."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
from pathlib import Path
from typing import Any

import pytest
from node_process import PASSPHRASE, run_node, wait_log
from relay_process import free_port

from client_sdk.lock import KeystoreInUse, KeystoreLock
from console.admin import control, runner
from console.errors import ConsoleError, NotAllowed


def test_an_operation_on_a_stopped_keystore(program: Any) -> None:
    info = runner.run(program.keystore, lambda: PASSPHRASE, "node.info")
    assert info["program_id"] == program.program_id
    assert info["running"] is False and info["relay_url"] == program.relay_url
    with pytest.raises(NotAllowed, match="no operation called"):
        runner.run(program.keystore, lambda: PASSPHRASE, "no.such.thing")
    KeystoreLock.acquire(program.keystore).release()  # the runner let go of the lock


async def _raw(path: Path, data: bytes) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return json.loads(line)  # type: ignore[no-any-return]


@pytest.mark.slow
async def test_an_operation_through_the_running_node(program: Any, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "node.log"
    node = await run_node(program.keystore, port, log)
    try:
        await wait_log(log, "console ready at", node)
        path = control.control_path(program.keystore)
        for _ in range(100):  # listening right after "console ready"
            if path.exists():
                break
            await asyncio.sleep(0.05)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(KeystoreInUse):
            KeystoreLock.acquire(program.keystore)

        def no_passphrase() -> str:
            raise AssertionError("the passphrase is not needed while the node runs")

        info = await asyncio.to_thread(runner.run, program.keystore, no_passphrase, "node.info")
        assert info["running"] is True and info["program_id"] == program.program_id
        with pytest.raises(NotAllowed, match="no operation called"):
            await control.request(program.keystore, "no.such.thing")

        assert (await _raw(path, b"not json\n"))["kind"] == "BadRequest"
        assert (await _raw(path, b'["node.info"]\n'))["kind"] == "BadRequest"
        answer = await _raw(path, b'{"op": "node.info", "args": []}\n')
        assert answer == {
            "ok": False,
            "kind": "NotAllowed",
            "error": "The operation's arguments must be a JSON object.",
        }
        assert node.returncode is None  # bad requests never stop the node
    finally:
        if node.returncode is None:
            node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0
    assert not control.control_path(program.keystore).exists()
    with pytest.raises(ConsoleError, match="did not answer"):
        await control.request(program.keystore, "node.info")


def test_a_long_keystore_path_is_reached_through_its_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("a-very-long-folder-name-" * 5)
    deep.mkdir()
    path = control.control_path(deep / "keystore.qlks")
    assert len(str(path)) > 100
    with control._address(path) as address:
        assert address.startswith("/proc/self/fd/") and len(address) <= 100
