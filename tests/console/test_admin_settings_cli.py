"""`quietline program profile | origins | status` and `quietline widget check`, as real
processes on a real keystore and a real relay: with the node stopped (the CLI opens the
keystore) and while `quietline program run` runs (through its control socket)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from node_process import PASSPHRASE, run_node, wait_log
from published import served
from relay_process import free_port

from console.admin import control
from e2ee.identity import MAX_STATUS_MESSAGE_LENGTH

ROOT = Path(__file__).resolve().parents[2]


def quietline(*args: str, passphrase: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("QUIETLINE_PASSPHRASE", None)
    if passphrase:
        env["QUIETLINE_PASSPHRASE"] = PASSPHRASE
    return subprocess.run(
        [sys.executable, "-m", "quietline", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _console_shows(console: str | None, name: str, zone: str) -> None:
    """The running console's next page shows the program's name and time zone as now
    published (it reads them per page: nothing is kept from the node's start)."""
    if console is None:
        return
    import httpx

    page = httpx.get(f"{console}/signin", timeout=10).text
    assert f"{name} · staff console" in page and f'data-timezone="{zone}"' in page, page


def _profile_commands(
    program: Any, tmp: Path, *, running: bool, console: str | None = None
) -> None:
    ks = ("--keystore", str(program.keystore))
    tag = "while running" if running else "stopped"
    shown = json.loads(ok(quietline("program", "profile", "show", "--json", *ks)))
    assert shown["name"] == "Harbour Support Line" and "notice" in shown
    assert "Harbour Support Line" in ok(quietline("program", "profile", "show", *ks))

    shown["name"] = f"Harbour Line ({tag})"
    shown["notice"]["voluntary"] = f"You can stop whenever you like ({tag})."
    shown["questions"] = [{"id": "age", "text": "How old are you?", "why": "To find help."}]
    shown["hours"] = {
        "timezone": "Europe/Paris",
        "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
    }
    good = write(tmp / f"good-{running}.json", shown)
    assert "published the profile as version" in ok(
        quietline("program", "profile", "set", str(good), *ks)
    )
    profile, _ = served(program.relay_url, program.program_id, program.identity_key)
    assert profile.name == f"Harbour Line ({tag})"
    assert profile.notice.voluntary == f"You can stop whenever you like ({tag})."
    assert [q.id for q in profile.questions] == ["age"]
    assert profile.hours.timezone == "Europe/Paris"
    _console_shows(console, f"Harbour Line ({tag})", "Europe/Paris")

    bad_json = write(tmp / "bad.json", "{not json")
    refused(quietline("program", "profile", "set", str(bad_json), *ks), "not valid JSON")
    refused(quietline("program", "profile", "set", str(tmp / "none.json"), *ks), "none.json")
    unknown = write(tmp / "unknown.json", {"notice": {"voluntry": "x"}})
    refused(
        quietline("program", "profile", "set", str(unknown), *ks),
        "notice.voluntry",
        "did you mean notice.voluntary",
    )
    bad_hours = write(tmp / "hours.json", {"hours": {"timezone": "Mars/Base", "weekly": []}})
    refused(quietline("program", "profile", "set", str(bad_hours), *ks), "hours.timezone")
    bad_period = write(
        tmp / "period.json",
        {"hours": {"timezone": "UTC", "weekly": [{"day": 0, "open": "9am", "close": "17:00"}]}},
    )
    refused(quietline("program", "profile", "set", str(bad_period), *ks), "hours.weekly[0].open")
    # nothing refused was published
    profile, _ = served(program.relay_url, program.program_id, program.identity_key)
    assert profile.name == f"Harbour Line ({tag})"

    history = ok(quietline("program", "profile", "history", *ks)).splitlines()
    assert history[0].split("\t")[2] == "changed" and history[-1].startswith("1\t")
    restored = ok(quietline("program", "profile", "restore", "1", *ks))
    assert "published version 1 again" in restored
    profile, _ = served(program.relay_url, program.program_id, program.identity_key)
    assert profile.name == "Harbour Support Line" and profile.questions == ()
    _console_shows(console, "Harbour Support Line", "UTC")
    refused(quietline("program", "profile", "restore", "99", *ks), "no kept version 99")
    assert quietline("program", "profile", "restore", "one", *ks).returncode == 2


def _origins_commands(program: Any, *, running: bool) -> None:
    ks = ("--keystore", str(program.keystore))
    site = "https://help.example.org" if running else "https://www.example.org"
    out = ok(quietline("program", "origins", "add", site, *ks))
    assert f"allowed {site}" in out
    assert site in json.loads(ok(quietline("program", "origins", "list", "--json", *ks)))
    # the relay admits that origin now (CORS), and not another
    import httpx

    url = f"{program.relay_url}/v1/programs/{program.program_id}"
    answer = httpx.get(url, headers={"Origin": site}, timeout=10)
    assert answer.headers.get("access-control-allow-origin") == site
    other = httpx.get(url, headers={"Origin": "https://evil.example"}, timeout=10)
    assert "access-control-allow-origin" not in other.headers
    refused(quietline("program", "origins", "add", site, *ks), "already allowed")
    refused(quietline("program", "origins", "add", "ftp://files.example.org", *ks), "not an origin")
    refused(quietline("program", "origins", "add", "http://www.example.org", *ks), "https")
    refused(quietline("program", "origins", "add", "https://x.example.org/chat", *ks), "no path")
    refused(quietline("program", "origins", "add", "https://x.example.org:99999", *ks), "port")
    ok(quietline("program", "origins", "add", "http://127.0.0.1:8081", *ks))  # loopback: http
    refused(quietline("program", "origins", "remove", "https://nowhere.example", *ks), "not in")
    ok(quietline("program", "origins", "remove", "http://127.0.0.1:8081", *ks))
    assert "127.0.0.1" not in ok(quietline("program", "origins", "list", *ks))


def _status_commands(program: Any, *, running: bool) -> None:
    ks = ("--keystore", str(program.keystore))
    out = ok(
        quietline(
            "program",
            "status",
            "set",
            "--state",
            "outage",
            "--message",
            "Our chat is down for maintenance.",
            *ks,
        )
    )
    assert out.startswith("outage: Our chat is down for maintenance.")
    _, status = served(program.relay_url, program.program_id, program.identity_key)
    assert status.state == "outage" and status.message.startswith("Our chat is down")
    refused(quietline("program", "status", "set", "--state", "open", *ks), "outage or closed")
    refused(
        quietline(
            "program",
            "status",
            "set",
            "--state",
            "closed",
            "--message",
            "x" * (MAX_STATUS_MESSAGE_LENGTH + 1),
            *ks,
        ),
        "at most",
    )
    shown = json.loads(ok(quietline("program", "status", "show", "--json", *ks)))
    assert shown["override"]["state"] == "outage" and shown["running"] is running
    ok(quietline("program", "status", "clear", *ks))
    _, status = served(program.relay_url, program.program_id, program.identity_key)
    assert status.state != "outage"
    assert json.loads(ok(quietline("program", "status", "show", "--json", *ks)))["override"] is None


@pytest.mark.slow
def test_settings_commands_with_the_node_stopped(program: Any, tmp_path: Path) -> None:
    _profile_commands(program, tmp_path, running=False)
    _origins_commands(program, running=False)
    _status_commands(program, running=False)
    # no passphrase (no terminal, none in the environment) on a stopped keystore: refused
    env_less = quietline(
        "program", "status", "clear", "--keystore", str(program.keystore), passphrase=False
    )
    assert env_less.returncode == 1


@pytest.mark.slow
async def test_settings_commands_while_the_node_runs(program: Any, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "node.log"
    node = await run_node(program.keystore, port, log)
    try:
        await wait_log(log, "console ready at", node)
        path = control.control_path(program.keystore)
        for _ in range(100):
            if path.exists():
                break
            await asyncio.sleep(0.05)
        console = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(_console_shows, console, "Harbour Support Line", "UTC")
        await asyncio.to_thread(_profile_commands, program, tmp_path, running=True, console=console)
        await asyncio.to_thread(_origins_commands, program, running=True)
        await asyncio.to_thread(_status_commands, program, running=True)
        # an outage set while running survives a restart of the node
        ks = ("--keystore", str(program.keystore))
        ok(
            quietline(
                "program",
                "status",
                "set",
                "--state",
                "closed",
                "--message",
                "Closed for the holiday.",
                *ks,
                passphrase=False,
            ),
        )
        node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0
        node = await run_node(program.keystore, port, log)
        await wait_log(log, "console ready at", node)
        for _ in range(100):
            if path.exists():
                break
            await asyncio.sleep(0.05)
        shown = json.loads(
            await asyncio.to_thread(
                ok, quietline("program", "status", "show", "--json", *ks, passphrase=False)
            )
        )
        assert shown["running"] is True and shown["rule_state"] == "closed"
        assert shown["message"].startswith("Closed for the holiday.")
    finally:
        if node.returncode is None:
            node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0
