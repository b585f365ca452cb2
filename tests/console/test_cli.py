"""`quietline program staff | replies | codewords | run` as real processes, on a real keystore
(the full set of staff, rota, rules, replies and code-word commands, stopped and running:
tests/console/test_admin_staff_cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from client_sdk.keystore import Keystore
from console.accounts import StaffAccounts

PASSPHRASE = "correct horse battery staple (test only)"
ROOT = Path(__file__).resolve().parents[2]

HOLD_NODE = """
import asyncio, sys
from console.node import ConsoleNode
from console.settings import ConsoleSettings

async def main() -> None:
    node = await ConsoleNode.open(sys.argv[1], sys.argv[2], ConsoleSettings(), auto_tick=False)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await node.aclose()

asyncio.run(main())
"""


def quietline(
    *args: str, password: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE, **env)
    if password is not None:
        full["QUIETLINE_STAFF_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "quietline", *args],
        capture_output=True, text=True, env=full, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


def test_staff_commands(program: Any) -> None:
    ks = str(program.keystore)
    added = quietline("program", "staff", "add", "Noor", "--role", "worker", "--keystore", ks,
                      password="noor's password 1")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "noor's password" not in added.stdout + added.stderr
    short = quietline("program", "staff", "add", "Lee", "--role", "worker", "--keystore", ks,
                      password="short")  # fmt: skip
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    twice = quietline("program", "staff", "add", "noor", "--role", "admin", "--keystore", ks,
                      password="noor's password 1")  # fmt: skip
    assert twice.returncode == 1 and "already an account named" in twice.stderr
    # no password in the environment and no terminal: refused, never taken from argv
    prompt = quietline("program", "staff", "add", "Lee", "--role", "worker", "--keystore", ks)
    assert prompt.returncode == 1 and "QUIETLINE_STAFF_PASSWORD" in prompt.stderr
    assert quietline("program", "staff", "role", "Noor", "--role", "supervisor",
                     "--keystore", ks).returncode == 0  # fmt: skip
    assert quietline("program", "staff", "disable", "Noor", "--keystore", ks).returncode == 0
    listed = quietline("program", "staff", "list", "--json", "--keystore", ks)
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["Noor"]["role"] == "supervisor" and rows["Noor"]["disabled"] is True
    assert set(rows["Noor"]) >= {"name", "role", "disabled", "on_shift", "staff_id"}
    assert rows["Sam"]["role"] == "worker" and not rows["Sam"]["disabled"]
    assert quietline("program", "staff", "enable", "Noor", "--keystore", ks).returncode == 0
    changed = quietline("program", "staff", "passwd", "Noor", "--keystore", ks,
                        password="a new password 2")  # fmt: skip
    assert changed.returncode == 0
    with Keystore.open(program.keystore, PASSPHRASE) as opened:
        accounts = StaffAccounts(opened)
        assert accounts.verify("Noor", "a new password 2") is not None
        assert accounts.verify("Noor", "noor's password 1") is None
    missing = quietline("program", "staff", "disable", "Nobody", "--keystore", ks)
    assert missing.returncode == 1 and "no staff account named" in missing.stderr


def test_replies_commands(program: Any, tmp_path: Path) -> None:
    ks = str(program.keystore)
    text_file = tmp_path / "reply.txt"
    text_file.write_text("مرحبا، نحن هنا.\nWe are here.", encoding="utf-8")
    first = quietline("program", "replies", "add", "--group", "Greetings", "--title", "Hello",
                      "--text-file", str(text_file), "--keystore", ks)  # fmt: skip
    assert first.returncode == 0, first.stderr
    reply_id = first.stdout.strip()
    second = quietline("program", "replies", "add", "--group", "Closing", "--title", "Bye",
                       "--text", "Take care.", "--keystore", ks)  # fmt: skip
    assert second.returncode == 0
    listed = json.loads(quietline("program", "replies", "list", "--json", "--keystore", ks).stdout)
    assert [r["title"] for r in listed] == ["Bye", "Hello"]
    assert listed[1]["text"] == "مرحبا، نحن هنا.\nWe are here."
    assert quietline("program", "replies", "remove", reply_id, "--keystore", ks).returncode == 0
    again = quietline("program", "replies", "remove", reply_id, "--keystore", ks)
    assert again.returncode == 1 and "no such saved reply" in again.stderr


def test_run_refuses_a_public_host_without_tls(program: Any) -> None:
    refused = quietline("program", "run", "--keystore", str(program.keystore), "--host", "0.0.0.0")
    assert refused.returncode == 1
    assert "without TLS" in refused.stderr and "--tls-cert" in refused.stderr


def test_a_second_node_is_refused_and_staff_edits_need_its_control_socket(program: Any) -> None:
    """A node that holds the keystore without a control socket (not `program run`):
    a second node is refused at once, and a staff command says the node did not answer
    on its control socket (it never opens the keystore behind the node's back)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_NODE, str(program.keystore), PASSPHRASE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"ready"
        started = time.monotonic()
        second = quietline("program", "run", "--keystore", str(program.keystore), "--port", "0")
        assert second.returncode == 1
        assert "in use by another program node" in second.stderr
        staff = quietline("program", "staff", "list", "--keystore", str(program.keystore))
        assert staff.returncode == 1 and "control socket" in staff.stderr
        assert time.monotonic() - started < 20  # at once: no waiting on the lock
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)


def test_code_word_commands(program: Any) -> None:
    ks = str(program.keystore)
    word = "lighthouse at dawn"
    added = quietline(
        "program", "codewords", "add", "Main", "--keystore", ks, QUIETLINE_CODE_WORD=word
    )
    assert added.returncode == 0, added.stderr
    assert "lighthouse" not in added.stdout + added.stderr
    short = quietline(
        "program", "codewords", "add", "spare", "--keystore", ks, QUIETLINE_CODE_WORD="abc"
    )
    assert short.returncode == 1 and "at least 4 characters" in short.stderr
    listed = quietline("program", "codewords", "list", "--json", "--keystore", ks)
    rows = json.loads(listed.stdout)
    assert [r["alias"] for r in rows] == ["main"] and not rows[0]["rotation_due"]
    with Keystore.open(program.keystore, PASSPHRASE) as opened:
        record = opened.get("codeword/main")
        assert record is not None and b"$argon2id$" in record and b"lighthouse" not in record
    gone = quietline("program", "codewords", "remove", "MAIN", "--keystore", ks)
    assert gone.returncode == 0
    again = quietline("program", "codewords", "remove", "main", "--keystore", ks)
    assert again.returncode == 1 and "no code word named" in again.stderr
