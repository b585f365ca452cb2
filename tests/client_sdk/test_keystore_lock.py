"""One process per keystore: a second node on the same keystore is refused at once.

Two real processes: a child connects a ``ProgramClient`` and holds it; this test's own
connect on the same keystore must raise ``KeystoreInUse`` without waiting (and before
the passphrase is tried), and succeed once the child is killed (the OS frees the lock
of a crashed holder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from client_sdk import KeystoreInUse, ProgramClient
from client_sdk.lock import KeystoreLock, lock_path

PASSPHRASE = "correct horse battery staple (test only)"
ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import asyncio, sys
from client_sdk import ProgramClient

async def main() -> None:
    client = await ProgramClient.connect(sys.argv[1], sys.argv[2], sys.argv[3], auto_tick=False)
    print("connected", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
    await client.aclose()

asyncio.run(main())
"""


def test_lock_is_exclusive_in_one_process_and_released(tmp_path: Path) -> None:
    keystore = tmp_path / "k.qlks"
    first = KeystoreLock.acquire(keystore)
    assert lock_path(keystore).exists()
    assert (lock_path(keystore).stat().st_mode & 0o777) == 0o600
    with pytest.raises(KeystoreInUse, match="in use by another program node"):
        KeystoreLock.acquire(keystore)
    first.release()
    first.release()  # idempotent
    with KeystoreLock.acquire(keystore) as again:
        assert again.held
    assert not again.held


@pytest.mark.slow
async def test_a_second_node_on_one_keystore_is_refused_at_once(
    shared_program: Any, relay: Any
) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, relay.url, str(shared_program.keystore), PASSPHRASE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == b"connected", holder.stderr.read() if holder.stderr else b""
        started = time.monotonic()
        with pytest.raises(KeystoreInUse):
            # a wrong passphrase: the lock is checked first, so it is never tried
            await ProgramClient.connect(
                relay.url, shared_program.keystore, "wrong", auto_tick=False
            )
        assert time.monotonic() - started < 0.5  # at once: no Argon2id, no network
        holder.kill()  # a crash: the OS frees the lock
        holder.wait(timeout=10)
        client = await ProgramClient.connect(
            relay.url, shared_program.keystore, PASSPHRASE, auto_tick=False
        )
        await client.aclose()
        KeystoreLock.acquire(shared_program.keystore).release()  # released by aclose
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)  # reaps it and closes its pipes
