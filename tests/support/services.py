"""PostgreSQL and Redis for the tests, from Debian's packages (``scripts/test`` installs
them when missing): each started on a free loopback port in a temporary folder, and
stopped by PID.

PostgreSQL refuses to run as root: when the tests run as root, ``initdb`` and
``postgres`` run as the ``postgres`` user the Debian package creates (Popen's ``user``),
in a folder handed to it. Its Unix socket stays in that folder too. Redis runs with no
persistence (``--save '' --appendonly no``), as the relay expects of it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay_process import free_port, stop_process

START_TIMEOUT = 30.0


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL program from Debian's versioned folder (the newest), else PATH."""
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        for version in sorted(base.iterdir(), key=lambda p: p.name, reverse=True):
            candidate = version / "bin" / name
            if candidate.exists():
                return str(candidate)
    return shutil.which(name)


def available() -> str | None:
    """Why PostgreSQL + Redis cannot run here, or None when they can."""
    if postgres_bin("initdb") is None or postgres_bin("postgres") is None:
        return "PostgreSQL is not installed (scripts/test installs it)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (scripts/test installs it)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs the postgres user (Debian's package makes it)"
    return None


def _as_owner() -> dict[str, Any]:
    """Popen's arguments that run PostgreSQL as ``postgres`` when we are root (the
    process is then PostgreSQL itself, so stopping it by PID reaches it)."""
    if os.geteuid() == 0:
        return {"user": "postgres", "group": "postgres", "extra_groups": []}
    return {}


def _wait_port(port: int, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError("service exited: " + log.read_text(errors="replace"))
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError("service did not listen in time: " + log.read_text())
        time.sleep(0.05)


@dataclass
class Postgres:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = postgres_bin("psql") or "psql"
        out = subprocess.run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        # SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for every client to leave).
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stop_process(self.process)


def start_postgres(folder: Path, *settings: str) -> Postgres:
    """initdb in ``folder`` (trust on loopback: a throwaway cluster), then postgres on a
    free port of 127.0.0.1 with its socket in ``folder``. ``settings`` (``name=value``)
    replace the tests' ``fsync=off`` (the benchmark keeps PostgreSQL's durable defaults)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        folder.chmod(0o700)
        # every parent must let the postgres user through
        for parent in folder.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
    initdb = postgres_bin("initdb")
    assert initdb is not None
    subprocess.run(
        [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
        **_as_owner(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    port = free_port()
    log = folder / "postgres.log"
    postgres = postgres_bin("postgres")
    assert postgres is not None
    cmd = [postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1"]
    cmd += ["-k", str(folder), "-c", "max_connections=200"]
    for setting in settings or ("fsync=off",):
        cmd += ["-c", setting]
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **_as_owner())
    _wait_port(port, process, log)
    pg = Postgres(port, folder, process)
    deadline = time.monotonic() + START_TIMEOUT
    while True:  # listening is not yet accepting queries (startup recovery)
        try:
            pg.psql("SELECT 1")
            return pg
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                pg.stop()
                raise
            time.sleep(0.1)


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.process)

    def restart(self) -> None:
        """Stop it and start a new one on the same port (everything in it is gone)."""
        self.stop()
        self.process = _spawn_redis(self.port, self.log)
        _wait_port(self.port, self.process, self.log)


def _spawn_redis(port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    cmd += ["--save", "", "--appendonly", "no", "--dir", str(log.parent)]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def start_redis(folder: Path) -> Redis:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "redis.log"
    process = _spawn_redis(port, log)
    _wait_port(port, process, log)
    return Redis(port, process, log)
