"""`quietline program run` as a real process in tests: start it, wait for a log line."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

PASSPHRASE = "correct horse battery staple (test only)"
ROOT = Path(__file__).resolve().parents[2]


async def wait_log(log: Path, text: str, process: Any, timeout: float = 60.0) -> None:
    """Wait until ``text`` is in ``log``; fail at once if the process exited."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if process.returncode is not None:
            raise AssertionError(f"the node exited: {log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log: {log.read_text()}")
        await asyncio.sleep(0.1)


async def run_node(keystore: Path, port: int, log: Path, *flags: str) -> asyncio.subprocess.Process:
    """``quietline program run`` on ``keystore`` (console on ``port``, more ``flags``),
    output to ``log``."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "quietline", "program", "run",
            "--keystore", str(keystore), "--port", str(port), *flags,
            stdout=out, stderr=out, cwd=ROOT,
            env=dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE),
        )  # fmt: skip
