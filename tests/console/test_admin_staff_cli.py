"""Every `quietline program staff | rota | rules | replies | codewords` command, with good
and bad input, as real processes: on a stopped keystore, and while `quietline program
run` runs on it (then through its control socket, with no passphrase at all: the
command would fail if it asked for one). Secrets come from the environment only and
never show in the output."""

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
from relay_process import free_port

from client_sdk.keystore import Keystore
from console.accounts import StaffAccounts
from console.admin import control

ROOT = Path(__file__).resolve().parents[2]
NOOR_PASSWORD = "noor's password 1"
WORD = "lighthouse at dawn"
NEW_WORD = "harbour in winter"
ARABIC = "مرحبا، نحن هنا.\nWe are here."
# About 50 real `quietline` processes one after another (each ~1 s to start, more under
# coverage on a loaded machine): the default 300 s per test is too tight for them.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def quietline(
    keystore: Path, running: bool, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, QUIETLINE_PASSPHRASE="" if running else PASSPHRASE, **env)
    return subprocess.run(
        [sys.executable, "-m", "quietline", "program", *args, "--keystore", str(keystore)],
        capture_output=True, text=True, env=full, cwd=ROOT, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def scenario(keystore: Path, running: bool, tmp: Path) -> None:
    def ok(*args: str, says: str = "", **env: str) -> str:
        done = quietline(keystore, running, *args, **env)
        assert done.returncode == 0, (args, done.stderr)
        assert says in done.stdout, (args, done.stdout)
        for secret in (NOOR_PASSWORD, WORD, NEW_WORD):
            assert secret not in done.stdout + done.stderr
        return done.stdout

    def refused(*args: str, says: str, code: int = 1, **env: str) -> None:
        done = quietline(keystore, running, *args, **env)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert says in done.stderr, (args, done.stderr)

    pw = {"QUIETLINE_STAFF_PASSWORD": NOOR_PASSWORD}
    # staff
    ok("staff", "add", "Noor", "--role", "worker", says="added Noor (worker)", **pw)
    refused("staff", "add", "Lee", "--role", "worker", says="at least 10 characters",
            QUIETLINE_STAFF_PASSWORD="short")  # fmt: skip
    refused(
        "staff",
        "add",
        "noor",
        "--role",
        "admin",
        says="already an account named",
        QUIETLINE_STAFF_PASSWORD=NOOR_PASSWORD,
    )
    refused("staff", "add", "Lee", "--role", "worker", says="QUIETLINE_STAFF_PASSWORD")
    refused("staff", "add", "Lee", "--role", "boss", says="invalid choice", code=2, **pw)
    ok("staff", "role", "Noor", "--role", "supervisor", says="Noor is now supervisor")
    refused("staff", "role", "Ada", "--role", "worker", says="only admin")
    ok("staff", "disable", "Noor", says="disabled Noor")
    rows = {r["name"]: r for r in json.loads(ok("staff", "list", "--json"))}
    assert rows["Noor"]["disabled"] is True and rows["Noor"]["role"] == "supervisor"
    assert "Noor\tsupervisor (disabled)" in ok("staff", "list")
    ok("staff", "enable", "Noor", says="enabled Noor")
    ok("staff", "passwd", "Noor", says="changed the password of Noor",
       QUIETLINE_STAFF_PASSWORD="a new password 2")  # fmt: skip
    refused("staff", "disable", "Nobody", says="no staff account named Nobody")
    refused(
        "staff",
        "passwd",
        "Nobody",
        says="no staff account named",
        QUIETLINE_STAFF_PASSWORD=NOOR_PASSWORD,
    )

    # rota
    ok("rota", "set", "Sam", "--day", "mon", "--from", "09:00", "--to", "17:00",
       says="mon 09:00-17:00")  # fmt: skip
    ok("rota", "set", "Sam", "--day", "fri", "--from", "22:00", "--to", "06:00",
       says="fri 22:00-06:00")  # fmt: skip
    refused("rota", "set", "Sam", "--day", "funday", "--from", "09:00", "--to", "17:00",
            says="The day must be one of mon")  # fmt: skip
    refused("rota", "set", "Sam", "--day", "mon", "--from", "9am", "--to", "17:00",
            says="HH:MM")  # fmt: skip
    refused("rota", "set", "Sam", "--day", "mon", "--from", "09:00", "--to", "17:00",
            says="already in the rota")  # fmt: skip
    refused("rota", "set", "Nobody", "--day", "mon", "--from", "09:00", "--to", "17:00",
            says="no staff account named")  # fmt: skip
    ok("rota", "except", "Sam", "--date", "2026-12-24", "--off", says="2026-12-24: off")
    ok("rota", "except", "Sam", "--date", "2026-12-31", "--from", "10:00", "--to", "14:00",
       says="2026-12-31: 10:00-14:00")  # fmt: skip
    refused("rota", "except", "Sam", "--date", "24/12", "--off", says="YYYY-MM-DD")
    refused("rota", "except", "Sam", "--date", "2026-12-25", says="Say the date is off")
    refused("rota", "except", "Sam", "--date", "2026-12-25", "--from", "10:00",
            says="both the start and the end")  # fmt: skip
    ok("rota", "unexcept", "Sam", "--date", "2026-12-24")
    refused("rota", "unexcept", "Sam", "--date", "2026-12-24", says="no exception on")
    ok("rota", "clear", "Sam", "--day", "mon", says="fri 22:00-06:00")
    refused("rota", "clear", "Sam", "--day", "someday", says="The day must be")
    shown = json.loads(ok("rota", "show", "--json"))
    sam = next(e for e in shown["staff"] if e["name"] == "Sam")
    assert shown["timezone"] == "UTC"
    assert sam["weekly"] == [{"day": "fri", "from": "22:00", "to": "06:00"}]
    assert [e["date"] for e in sam["exceptions"]] == ["2026-12-31"]
    assert "Sam\tfri 22:00-06:00" in ok("rota", "show", "Sam")
    refused("rota", "show", "Nobody", says="no staff account named")

    # the shift rules
    assert json.loads(ok("rules", "show", "--json"))["last_minutes"] == 30
    ok("rules", "set", "--last-minutes", "20", "--handoff", "no", "--idle-minutes", "45",
       says="last_minutes\t20")  # fmt: skip
    rules = json.loads(ok("rules", "show", "--json"))
    assert rules["last_minutes"] == 20 and rules["handoff"] is False and rules["idle_minutes"] == 45
    refused("rules", "set", "--last-minutes", "999", says="from 0 to 240")
    refused("rules", "set", "--max-conversations", "0", says="max_conversations")
    refused("rules", "set", says="say which rule to change")
    refused("rules", "set", "--warn-minutes", "ten", says="invalid int value", code=2)

    # saved replies
    text_file = tmp / "reply.txt"
    text_file.write_text(ARABIC, encoding="utf-8")
    reply_id = ok("replies", "add", "--group", "Greetings", "--title", "Hello",
                  "--text-file", str(text_file)).strip()  # fmt: skip
    ok("replies", "add", "--group", "Closing", "--title", "Bye", "--text", "Take care.")
    refused("replies", "add", "--group", "  ", "--title", "x", "--text", "y", says="group")
    refused("replies", "add", "--group", "G", "--title", "x", "--text", "a\x07b",
            says="control character")  # fmt: skip
    ok("replies", "edit", reply_id, "--title", "Hello again", says=f"changed {reply_id}")
    refused("replies", "edit", "nope", "--title", "x", says="no such saved reply")
    listed = json.loads(ok("replies", "list", "--json"))
    assert [r["title"] for r in listed] == ["Bye", "Hello again"]
    assert listed[1]["text"] == ARABIC and listed[1]["group"] == "Greetings"
    ok("replies", "remove", reply_id, says=f"removed {reply_id}")
    refused("replies", "remove", reply_id, says="no such saved reply")

    # code words
    ok("codewords", "add", "Main", says="set the code word of main", QUIETLINE_CODE_WORD=WORD)
    refused("codewords", "add", "spare", says="at least 4 characters", QUIETLINE_CODE_WORD="abc")
    refused("codewords", "add", "main", says="rotate it instead", QUIETLINE_CODE_WORD=WORD)
    refused("codewords", "add", "spare", says="QUIETLINE_CODE_WORD")
    ok("codewords", "rotate", "MAIN", says="set the code word of main",
       QUIETLINE_CODE_WORD=NEW_WORD)  # fmt: skip
    refused("codewords", "rotate", "nope", says="no code word named nope",
            QUIETLINE_CODE_WORD=NEW_WORD)  # fmt: skip
    rows_cw = json.loads(ok("codewords", "list", "--json"))
    assert [r["alias"] for r in rows_cw] == ["main"] and rows_cw[0]["rotation_due"] is False
    assert "main\tset on " in ok("codewords", "list")
    ok("codewords", "remove", "MAIN", says="removed the code word of main")
    refused("codewords", "remove", "main", says="no code word named main")


def check_keystore(keystore: Path) -> None:
    with Keystore.open(keystore, PASSPHRASE) as opened:
        accounts = StaffAccounts(opened)
        assert accounts.verify("Noor", "a new password 2") is not None
        assert opened.get("codeword/main") is None
        for name in opened.names(""):
            raw = opened.get(name) or b""
            for secret in (NOOR_PASSWORD, "a new password 2", WORD, NEW_WORD):
                assert secret.encode() not in raw


def test_a_missing_keystore_is_named_before_anything_is_asked(tmp_path: Path) -> None:
    missing = tmp_path / "missing.qlks"
    done = quietline(missing, False, "staff", "list")
    assert done.returncode == 1 and f"there is no keystore at {missing}" in done.stderr
    assert "passphrase" not in done.stderr.lower()
    assert list(tmp_path.iterdir()) == []  # not even a lock file


def test_every_command_on_a_stopped_keystore(program: Any, tmp_path: Path) -> None:
    scenario(program.keystore, False, tmp_path)
    check_keystore(program.keystore)


async def test_every_command_while_the_node_runs(program: Any, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "node.log"
    node = await run_node(program.keystore, port, log)
    try:
        await wait_log(log, "console ready at", node)
        for _ in range(100):  # listening right after "console ready"
            if control.control_path(program.keystore).exists():
                break
            await asyncio.sleep(0.05)
        await asyncio.to_thread(scenario, program.keystore, True, tmp_path)
        assert node.returncode is None
    finally:
        if node.returncode is None:
            node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0
    check_keystore(program.keystore)
    for secret in (NOOR_PASSWORD, WORD, NEW_WORD):
        assert secret not in log.read_text(errors="replace")
