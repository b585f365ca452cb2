"""`quietline program run` takes every console setting as a flag (console/cli.py,
``SETTING_FLAGS``): a bad value is refused in one line naming the flag before the
passphrase is asked, and the values given reach the running node (shown over HTTP and
the console's WebSocket, as a browser sees them); a flag not given keeps
ConsoleSettings' default."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_process import run_node, wait_log
from relay_process import free_port
from websockets.asyncio.client import connect as ws_connect

from console import cli
from console.errors import SetupError
from console.settings import ConsoleSettings

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0


def _settings(*flags: str) -> ConsoleSettings:
    return cli.run_settings(cli._parser().parse_args(["run", "--keystore", "k.qlks", *flags]))


def test_flags_build_the_settings_and_the_rest_keep_their_defaults() -> None:
    assert _settings() == ConsoleSettings()
    given = _settings(
        "--default-shift-minutes", "45", "--max-shift-minutes", "90",
        "--subscriber-queue", "50", "--signin-attempts", "2", "--signin-window-seconds", "60",
        "--password-workers", "1", "--password-waiting", "0",
    )  # fmt: skip
    assert given == ConsoleSettings(
        default_shift_minutes=45, max_shift_minutes=90, subscriber_queue=50,
        signin_attempts=2, signin_window_seconds=60, password_workers=1, password_waiting=0,
    )  # fmt: skip
    assert _settings("--password-workers", "4") == ConsoleSettings(password_workers=4)


def test_every_setting_but_the_idle_sign_out_has_a_flag() -> None:
    """A new ConsoleSettings field must get a flag (or be a stored rule, as idle sign-out)."""
    flagged = {"host", "port", "tls_cert", "tls_key", *cli.SETTING_FLAGS}
    assert {f.name for f in fields(ConsoleSettings)} - flagged == {"idle_signout_minutes"}
    shown = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(shown):
        cli._parser().parse_args(["run", "--help"])
    run_help = " ".join(shown.getvalue().split())
    assert "--password-workers N password checks run at once" in run_help
    assert "1 to 16 (default 2)" in run_help and "at least 10 (default 1000)" in run_help


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--password-workers", "17"], "--password-workers must be 1 to 16."),
        (["--password-waiting", "-1"], "--password-waiting must be 0 to 1000."),
        (["--subscriber-queue", "9"], "--subscriber-queue must be at least 10."),
        (["--signin-attempts", "0"], "--signin-attempts must be at least 1."),
        (["--signin-window-seconds", "0"], "--signin-window-seconds must be at least 1."),
        (["--default-shift-minutes", "0"], "--default-shift-minutes must be 1 to 1440."),
        (["--max-shift-minutes", "1441"], "--max-shift-minutes must be 1 to 1440."),
        (["--port", "70000"], "The port must be 0 to 65535."),
        (
            ["--max-shift-minutes", "120"],
            "--default-shift-minutes (480) must be at most --max-shift-minutes (120).",
        ),
    ],
)
def test_a_bad_value_names_its_flag(flags: list[str], message: str) -> None:
    with pytest.raises(SetupError) as refused:
        _settings(*flags)
    assert refused.value.message == message


def _run_refused(keystore: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``program run`` with no passphrase anywhere: no variable, no terminal (its own
    session), nothing on stdin. Asking for one would fail with a passphrase message."""
    env = {k: v for k, v in os.environ.items() if k != "QUIETLINE_PASSPHRASE"}
    return subprocess.run(
        [sys.executable, "-m", "quietline", "program", "run", "--keystore", str(keystore),
         "--port", str(free_port()), *flags],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


@pytest.mark.slow
def test_run_refuses_a_bad_flag_before_the_passphrase(program: Any) -> None:
    refused = _run_refused(program.keystore, "--password-workers", "17")
    assert refused.returncode == 1
    assert refused.stderr == "quietline program run: --password-workers must be 1 to 16.\n"
    assert refused.stdout == ""
    shifts = _run_refused(program.keystore, "--default-shift-minutes", "600",
                          "--max-shift-minutes", "300")  # fmt: skip
    assert shifts.returncode == 1
    assert shifts.stderr == (
        "quietline program run: --default-shift-minutes (600) must be at most "
        "--max-shift-minutes (300).\n"
    )
    # the check that this would show a passphrase prompt's failure, were it reached
    asked = _run_refused(program.keystore, "--password-workers", "16")
    assert asked.returncode == 1 and "QUIETLINE_PASSPHRASE" in asked.stderr
    not_a_number = _run_refused(program.keystore, "--password-waiting", "lots")
    assert not_a_number.returncode == 2
    assert "argument --password-waiting: invalid int value: 'lots'" in not_a_number.stderr


async def _signin(http: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await http.get("/signin")
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"token": token.group(1), "name": name, "password": password}
    return await http.post("/signin", data=data)


async def _frames_until(ws: Any, wanted: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Read frames until each predicate in ``wanted`` has matched one; the matches."""
    found: dict[str, dict[str, Any]] = {}

    async def scan() -> None:
        while len(found) < len(wanted):
            frame = json.loads(await ws.recv())
            for key, predicate in wanted.items():
                if key not in found and predicate(frame):
                    found[key] = frame

    await asyncio.wait_for(scan(), TIMEOUT)
    return found


@pytest.mark.slow
async def test_the_flags_reach_the_running_node(program: Any, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "node.log"
    console = f"http://127.0.0.1:{port}"
    node = await run_node(
        program.keystore, port, log,
        "--signin-attempts", "2", "--default-shift-minutes", "45", "--max-shift-minutes", "90",
        "--password-workers", "1", "--password-waiting", "0",
    )  # fmt: skip
    try:
        await wait_log(log, "console ready at", node)
        async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as http:
            # --signin-attempts 2: after two wrong passwords for Ali, the third try is
            # refused even with the right one (the default, 5, would let it in)
            for _ in range(2):
                wrong = await _signin(http, "Ali", "not ali's password")
                assert wrong.status_code == 400 and "not right" in wrong.text
            throttled = await _signin(http, "Ali", "ali's password 2")
            assert throttled.status_code == 429 and "Too many tries" in throttled.text

            assert (await _signin(http, "Sam", "sam's password 1")).status_code == 303
            page = await http.get("/")
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert page.status_code == 200 and csrf is not None
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())

        headers = {"Origin": console, "Cookie": cookie}
        async with ws_connect(
            console.replace("http", "ws") + "/ws", additional_headers=headers
        ) as ws:
            await ws.send(json.dumps({"op": "hello", "csrf": csrf.group(1)}))
            await _frames_until(ws, {"snapshot": lambda f: f.get("type") == "snapshot"})
            # --default-shift-minutes 45: going on shift with no end (and no rota) is 45 min
            before = int(time.time() * 1000)
            await ws.send(json.dumps({"op": "go_on_shift", "req": 1}))
            got = await _frames_until(ws, {
                "result": lambda f: f.get("req") == 1,
                "snapshot": lambda f: f.get("type") == "snapshot" and f["me"]["on_shift"],
            })  # fmt: skip
            after = int(time.time() * 1000)
            assert got["result"]["ok"], got["result"]
            ends = got["snapshot"]["me"]["shift_ends_at_ms"]
            assert before + 45 * 60_000 - 1000 <= ends <= after + 45 * 60_000 + 1000
            # --max-shift-minutes 90: a shift to end in two hours is refused
            two_hours = int(time.time() * 1000) + 120 * 60_000
            await ws.send(json.dumps({"op": "go_on_shift", "req": 2, "until_ms": two_hours}))
            refused = (await _frames_until(ws, {"r": lambda f: f.get("req") == 2}))["r"]
            assert not refused["ok"] and refused["reason"] == "not_allowed"
            assert refused["error"] == "A shift is at most 90 minutes."

        node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), TIMEOUT) == 0
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
