"""A real relay process for the tests, shared by tests/server, tests/client_sdk and
tests/widget (tests/conftest.py puts this folder on ``sys.path``).

:func:`start_relay` runs ``python -m quietline relay serve`` on a free port of
127.0.0.1 with a SQLite file in a tmp dir and its output appended to a log file there,
polls ``/v1/openapi.json`` every 0.1 s until it answers or a deadline passes, and raises
with the log if the process exits or the deadline passes. Every process is stopped by
PID (:func:`stop_process`: SIGTERM, then SIGKILL after 10 s). Only loopback is used.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
POLL_INTERVAL = 0.1


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
# Below the kernel's ephemeral range: a port handed out here is never also given to an
# outgoing connection or a ``bind(0)`` between now and the moment a server binds it (a
# port from ``bind(0)`` can be, and a browser's connection took one in CI). Each process
# starts at its own offset so that two test runs side by side rarely try the same port.
_PORTS = range(max(1024, _EPHEMERAL[0] - 12000), _EPHEMERAL[0])
_next_port = [_PORTS.start + (os.getpid() * 7919) % len(_PORTS)]


def free_port() -> int:
    """A loopback port nobody listens on or uses, outside the ephemeral range."""
    for _ in range(len(_PORTS)):
        port = _next_port[0]
        _next_port[0] = port + 1 if port + 1 < _PORTS.stop else _PORTS.start
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, wait 10 s, then SIGKILL; returns once the process is reaped."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class RelayProcess:
    """A running relay: its URL, its database, its log and its process."""

    url: str
    database_url: str
    db_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``python -m quietline *args`` against this relay's database; never raises on
        a non-zero exit (the caller checks ``returncode``)."""
        full_env = dict(os.environ, QUIETLINE_DATABASE_URL=self.database_url, **(env or {}))
        return subprocess.run(
            [sys.executable, "-m", "quietline", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )

    def add_program(self) -> str:
        """A new enrollment token (``relay add-program --json``)."""
        result = self.cli("relay", "add-program", "--json", "--database-url", self.database_url)
        assert result.returncode == 0, result.stderr
        return str(json.loads(result.stdout)["enrollment_token"])

    def stop(self) -> None:
        stop_process(self.process)

    def kill9(self) -> None:
        """SIGKILL, as a crash: no shutdown runs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop the process (if it still runs) and start a new one on the same port and
        database, with the same extra environment."""
        self.stop()
        self.process = _spawn(self.database_url, self.log_path, self.port, self.extra_env)
        _wait_ready(self.url, self.process, self.log_path)


# Suites that are not about abuse (the SDK, the console, the widget) send everything
# from one address, 127.0.0.1, and many conversations a minute to one long-lived relay:
# the per-source and per-program limits and the proof-of-work trigger are lifted for
# them here. tests/server/test_abuse_*.py and the proof tests keep the defaults or set
# their own.
FUNCTIONAL_LIMITS: dict[str, str] = {
    "QUIETLINE_LIMIT_BUNDLES_PER_SOURCE": "100000",
    "QUIETLINE_LIMIT_CONVERSATIONS_PER_SOURCE": "100000",
    "QUIETLINE_LIMIT_SENDS_PER_SOURCE": "1000000",
    "QUIETLINE_LIMIT_BUNDLES_PER_PROGRAM": "100000",
    "QUIETLINE_LIMIT_CONVERSATIONS_PER_PROGRAM": "100000",
    "QUIETLINE_POW_PREKEYS_PER_MINUTE": "100000",
}


def _spawn(
    database_url: str, log_path: Path, port: int, extra_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    # Settings come from the command line and extra_env only, never from the shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    env.update(PYTHONUNBUFFERED="1", QUIETLINE_DATABASE_URL=database_url, **extra_env)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quietline",
                "relay",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--database-url",
                database_url,
                # several relays behind one balancer share the origin clients reach
                *(
                    ["--public-origin", extra_env["QUIETLINE_PUBLIC_ORIGIN"]]
                    if "QUIETLINE_PUBLIC_ORIGIN" in extra_env
                    else []
                ),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError("relay exited: " + log_path.read_text(errors="replace"))
        try:
            if httpx.get(url + "/v1/openapi.json", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(
                "relay did not answer in time: " + log_path.read_text(errors="replace")
            )
        time.sleep(POLL_INTERVAL)


def start_relay(
    tmp: Path, port: int | None = None, database_url: str | None = None, **extra_env: str
) -> RelayProcess:
    """A ready relay on 127.0.0.1 (``port`` or a free one) with ``tmp/relay.db`` (or
    ``database_url``: PostgreSQL, tests/support/services.py) and ``tmp/relay.log``;
    ``extra_env`` adds ``QUIETLINE_*`` settings to its environment (such as
    ``QUIETLINE_BROKER_URL``)."""
    port = port or free_port()
    db_path = tmp / "relay.db"
    log_path = tmp / "relay.log"
    database_url = database_url or f"sqlite+aiosqlite:///{db_path}"
    process = _spawn(database_url, log_path, port, extra_env)
    relay = RelayProcess(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        db_path=db_path,
        log_path=log_path,
        process=process,
        extra_env=dict(extra_env),
    )
    _wait_ready(relay.url, process, log_path)
    return relay
