"""docs/operations.md: every ``quietline`` command it quotes parses with the real command
line, and its relay backup and restore recipes work, run as written against real relay
processes."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy_helpers import INSTALLED, QUIETLINE, ROOT
from relay_helpers import b64, enroll_program, make_envelope
from relay_process import start_relay

from client_sdk.cli import _parser as program_parser
from console.cli import _parser as console_parser
from quietline.cli import CONSOLE_COMMANDS
from quietline.widget_cli import _parser as widget_parser
from server.cli import parser as relay_parser

DOC = ROOT / "docs" / "operations.md"
STATE = "/var/lib/quietline-relay"


def _code() -> Iterator[tuple[str, bool]]:
    """Every line of the fenced blocks (True) and every inline code span (False),
    continuation lines joined."""
    text = DOC.read_text(encoding="utf-8")
    for block in re.findall(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            yield line, True
    prose = re.sub(r"^[ \t]*```[^\n]*\n.*?^[ \t]*```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`\n]+)`", prose):
        yield span, False


def quoted_commands() -> list[tuple[list[str], bool]]:
    """The arguments after ``quietline`` in each line that runs it (after ``sudo -u``,
    variable assignments, or as ``/opt/quietline/bin/quietline``), and whether it is a
    whole command line (a block, or a span with options) or names a command in a
    sentence (``quietline relay migrate``)."""
    commands = []
    for line, block in _code():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, word in enumerate(words):
            if word in ("quietline", INSTALLED):
                rest = words[i + 1 :]
                if rest and rest[0] != "--help":
                    commands.append((rest, block or any(w.startswith("--") for w in rest)))
                break
    return commands


def _parser_for(argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    part, rest = argv[0], argv[1:]
    if part == "relay":
        return relay_parser(), rest
    if part == "program":
        return (console_parser() if rest[0] in CONSOLE_COMMANDS else program_parser()), rest
    if part == "widget":
        return widget_parser(), rest
    raise AssertionError(f"unknown part {part!r}")


def test_every_quoted_command_parses() -> None:
    commands = quoted_commands()
    whole = [argv for argv, full in commands if full]
    assert len(whole) >= 20, commands  # the page lost its commands, or the reader broke
    assert {argv[0] for argv, _ in commands} == {"relay", "program", "widget"}
    for argv, full in commands:
        parser, rest = _parser_for(argv)
        errors = io.StringIO()
        # A command named in a sentence: it exists (its --help answers).
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(rest if full else [*rest, "--help"])
        except SystemExit as exc:
            if full or exc.code != 0:
                raise AssertionError(
                    f"`quietline {shlex.join(argv)}`: {errors.getvalue()}"
                ) from None


def test_a_wrong_command_is_caught() -> None:
    """The check above would catch a quoted command the CLI does not take."""
    parser, rest = _parser_for(["relay", "serve", "--metrics", "9464"])
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(rest)


def test_the_units_run_what_the_page_says() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "(scale-out.md)" in text  # the scale-out half lives there
    for unit in ("quietline-relay.service", "quietline-program.service"):
        assert f"deploy/systemd/{unit}" in text
        assert (ROOT / "deploy" / "systemd" / unit).is_file()


# -- the relay's registrations, backed up and restored as written ------------------------


def _recipe(marker: str) -> list[str]:
    """The shell lines of the block holding ``marker``, for this machine: no sudo (the
    test's user owns the files), this checkout's command."""
    text = DOC.read_text(encoding="utf-8")
    for block in re.findall(r"^```\n(.*?)^```", text, re.S | re.M):
        if marker in block:
            lines = [line for line in block.splitlines() if line.strip()]
            return [line.replace("sudo -u quietline-relay ", "") for line in lines]
    raise AssertionError(f"no block with {marker!r} in docs/operations.md")


def _sh(line: str, state: Path, cwd: Path) -> None:
    line = line.replace(INSTALLED, QUIETLINE).replace(STATE, str(state))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    result = subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (line, result.stderr)


@pytest.mark.slow
async def test_relay_registrations_backup_and_restore(tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command is not installed (Debian: apt-get install sqlite3)")
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    origin = "https://program.example"
    relay = start_relay(old)
    try:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
            program = await enroll_program(c, relay.db_path, relay.url, origins=[origin])
            cid = os.urandom(16)
            envelope = make_envelope(cid, 0, 1, init=True)
            r = await c.post(
                "/v1/conversations", json={"program_id": program.pid, "envelope": b64(envelope)}
            )
            assert r.status_code == 201
            before = (await c.get(f"/v1/programs/{program.pid}")).json()
        (backup,) = _recipe("-readonly")
        _sh(backup, old, tmp_path)
    finally:
        relay.stop()
    dump = (tmp_path / "relay-programs.sql").read_text(encoding="utf-8")
    assert "INSERT INTO programs" in dump and "INSERT INTO program_origins" in dump
    assert "messages" not in dump and "conversations" not in dump  # no ciphertext, no rows of them

    for line in _recipe("< relay-programs.sql"):
        if line.startswith("systemctl"):
            continue
        _sh(line, new, tmp_path)
    restored = start_relay(new)
    try:
        async with httpx.AsyncClient(base_url=restored.url, timeout=30) as c:
            r = await c.get(f"/v1/programs/{program.pid}", headers={"origin": origin})
            assert r.status_code == 200
            assert r.json() == before
            assert r.headers["access-control-allow-origin"] == origin
            r = await c.post(
                "/v1/conversations", json={"program_id": program.pid, "envelope": b64(envelope)}
            )
            assert r.status_code == 201  # the old conversation is not there: it opens anew
    finally:
        restored.stop()
