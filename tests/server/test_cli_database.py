"""``quietline relay``: one data location for every command, databases no relay created,
a guarded downgrade, a missing driver, and the health routes (in process and in a real
relay process whose data directory disappears)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from relay_process import free_port, stop_process

RELAY_COMMANDS = (
    ("serve", "--port", "1"),
    ("migrate",),
    ("migrate", "downgrade", "--yes"),
    ("add-program",),
    ("audit",),
    ("export",),
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("QUIETLINE_") and k != "XDG_DATA_HOME"
    }
    env.update(HOME=str(home), **extra)
    return env


def _cli(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "quietline", "relay", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def _tokens(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM enrollment_tokens").fetchone()[0])
    finally:
        conn.close()


def test_every_command_uses_the_default_data_directory_from_any_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    db = home / ".local" / "share" / "quietline" / "relay" / "relay.db"
    created = _cli(tmp_path / "one", env, "migrate")
    assert created.returncode == 0, created.stderr
    assert f"database {db} (from the default data directory)" in created.stderr
    assert db.is_file()
    assert db.parent.stat().st_mode & 0o077 == 0  # the data directory is the owner's only

    elsewhere = tmp_path / "two"
    added = _cli(elsewhere, env, "add-program", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["enrollment_token"]
    assert str(db) in added.stderr
    assert _tokens(db) == 1
    for args in (("audit",), ("export",)):
        result = _cli(elsewhere, env, *args)
        assert result.returncode == 0, result.stderr
        assert str(db) in result.stderr
    assert list(elsewhere.iterdir()) == []  # no stray relay.db in the current folder

    xdg = tmp_path / "xdg"
    moved = _cli(elsewhere, {**env, "XDG_DATA_HOME": str(xdg)}, "migrate")
    assert moved.returncode == 0, moved.stderr
    assert (xdg / "quietline" / "relay" / "relay.db").is_file()


def test_data_dir_flag_beats_the_variable_and_the_url_beats_both(tmp_path: Path) -> None:
    env = _env(tmp_path / "home", QUIETLINE_DATA_DIR=str(tmp_path / "from-env"))
    result = _cli(tmp_path, env, "migrate")
    assert result.returncode == 0, result.stderr
    assert "(from $QUIETLINE_DATA_DIR)" in result.stderr
    assert (tmp_path / "from-env" / "relay.db").is_file()

    result = _cli(tmp_path, env, "migrate", "--data-dir", str(tmp_path / "from-flag"))
    assert result.returncode == 0 and "(from --data-dir)" in result.stderr
    assert (tmp_path / "from-flag" / "relay.db").is_file()

    url = f"sqlite+aiosqlite:///{tmp_path / 'by-url.db'}"
    result = _cli(tmp_path, {**env, "QUIETLINE_DATABASE_URL": url}, "add-program")
    assert result.returncode != 0 and "(from $QUIETLINE_DATABASE_URL)" in result.stderr
    result = _cli(tmp_path, env, "migrate", "--database-url", url)
    assert result.returncode == 0 and "(from --database-url)" in result.stderr
    both = _cli(tmp_path, env, "audit", "--database-url", url, "--data-dir", str(tmp_path))
    assert both.returncode != 0 and "not both" in both.stderr


def test_add_program_refuses_a_database_no_relay_created(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    data = tmp_path / "data"
    for command in ("add-program", "audit", "export"):
        result = _cli(tmp_path, env, command, "--data-dir", str(data))
        assert result.returncode != 0, command
        assert "no relay has created one there" in result.stderr
        assert "quietline relay serve" in result.stderr
        assert "Traceback" not in result.stderr
    assert not data.exists()  # nothing was created

    data.mkdir()
    sqlite3.connect(data / "relay.db").close()  # an SQLite file, but not the relay's
    result = _cli(tmp_path, env, "add-program", "--data-dir", str(data))
    assert result.returncode != 0 and "holds no relay tables" in result.stderr
    assert _cli(tmp_path, env, "migrate", "--data-dir", str(data)).returncode == 0
    result = _cli(tmp_path, env, "add-program", "--data-dir", str(data))
    assert result.returncode == 0 and "shown once" in result.stdout


def test_downgrade_says_what_it_deletes_and_needs_yes(tmp_path: Path) -> None:
    env = _env(tmp_path / "home", QUIETLINE_DATA_DIR=str(tmp_path / "data"))
    assert _cli(tmp_path, env, "migrate").returncode == 0
    assert _cli(tmp_path, env, "add-program").returncode == 0
    db = tmp_path / "data" / "relay.db"

    refused = _cli(tmp_path, env, "migrate", "downgrade")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr and "nothing was changed" in refused.stderr
    for table in ("programs", "conversations", "messages", "enrollment_tokens"):
        assert table in refused.stderr
    assert _tokens(db) == 1  # nothing was deleted

    done = _cli(tmp_path, env, "migrate", "downgrade", "--yes")
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert tables <= {"alembic_version"}


def test_downgrade_to_a_revision_says_what_each_undone_revision_deletes(tmp_path: Path) -> None:
    """Undoing only revisions that widen columns deletes nothing, and says so; undoing one
    that added a table names that table and what it held (each migration's
    ``DOWNGRADE_DELETES``)."""
    env = _env(tmp_path / "home", QUIETLINE_DATA_DIR=str(tmp_path / "data"))
    assert _cli(tmp_path, env, "migrate").returncode == 0

    widening = _cli(tmp_path, env, "migrate", "downgrade", "0003")
    assert widening.returncode == 2 and "nothing was changed" in widening.stderr
    assert "undoes 0005" in widening.stderr and "0004" in widening.stderr
    assert "and deletes nothing;" in widening.stderr

    to_0001 = _cli(tmp_path, env, "migrate", "downgrade", "0001")
    assert to_0001.returncode == 2
    assert "deletes the program_generations table" in to_0001.stderr
    assert "each conversation's confirm_by" in to_0001.stderr

    done = _cli(tmp_path, env, "migrate", "downgrade", "0003", "--yes")
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(tmp_path / "data" / "relay.db")
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    finally:
        conn.close()


def test_every_migration_says_what_undoing_it_deletes() -> None:
    """A new migration must say it (an empty string: nothing); the first one's downgrade
    is the whole schema, which the command describes itself."""
    from alembic.script import ScriptDirectory

    from server.migrate import alembic_config

    scripts = list(ScriptDirectory.from_config(alembic_config("")).walk_revisions())
    assert len(scripts) >= 5
    for script in scripts:
        if script.down_revision is None:
            continue
        assert isinstance(getattr(script.module, "DOWNGRADE_DELETES", None), str), script


@pytest.mark.slow
def test_a_missing_driver_is_one_line_naming_the_package_in_every_command(
    tmp_path: Path,
) -> None:
    if importlib.util.find_spec("asyncpg") is not None:
        pytest.skip("asyncpg is installed here: the test needs a driver that is not")
    env = _env(tmp_path / "home")
    url = "postgresql+asyncpg://relay:not-shown@127.0.0.1:1/relay"
    for args in RELAY_COMMANDS:
        result = _cli(tmp_path, env, *args, "--database-url", url)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert "asyncpg" in lines[0] and "pip install" in lines[0], lines[0]
        assert "not-shown" not in result.stderr
    assert list((tmp_path / "home").glob("**/*")) == []


async def test_health_answers_live_and_ready_with_no_data(relay) -> None:
    live = await relay.client.get("/v1/health")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = await relay.client.get("/v1/health/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert ready.headers["cache-control"] == "no-store"
    doc = (await relay.client.get("/v1/openapi.json")).json()
    assert "503" in doc["paths"]["/v1/health/ready"]["get"]["responses"]


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("relay did not answer: " + log.read_text())


@pytest.mark.slow
def test_readiness_fails_when_the_data_directory_is_gone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    log = tmp_path / "relay.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quietline",
                "relay",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(tmp_path / "home"),
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/v1/health", process, log)
        assert httpx.get(base + "/v1/health").json() == {"status": "ok"}
        assert httpx.get(base + "/v1/health/ready").status_code == 200
        shutil.rmtree(data)
        gone = httpx.get(base + "/v1/health/ready", timeout=10)
        assert gone.status_code == 503
        assert gone.json()["error"]["code"] == "unavailable"
        assert not data.exists()  # the check created nothing
        assert httpx.get(base + "/v1/health").status_code == 200  # still alive
    finally:
        stop_process(process)
    assert "readiness check failed: OperationalError" in log.read_text()
