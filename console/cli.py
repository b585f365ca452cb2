"""``quietline program run | staff ... | replies ...``: the service and its staff, from a shell.

- ``run --keystore PATH [--host 127.0.0.1] [--port 8100] [--tls-cert F --tls-key F]
  [--relay URL] [--default-shift-minutes N ...]``: the program node with the console
  (:mod:`console.service`); the other :class:`ConsoleSettings` are flags too
  (:data:`SETTING_FLAGS`), each left to its default unless given.
- ``staff``, ``rota``, ``rules``, ``replies``, ``codewords``: staff accounts, their
  rota, the shift rules, saved replies and code words (:mod:`console.cli_staff`), through
  the admin operations.
- ``profile``, ``origins``, ``status``: what participants see, the websites allowed to
  show the chat, a forced status (:mod:`console.cli_settings`).
- ``stats [--from D --to D | --days N] [--csv FILE | --json]``, ``stats threshold [N]``,
  ``stats answers QUESTION_ID [ANSWER ...]``: usage figures (:mod:`console.cli_stats`).

Secrets are never arguments (arguments show in process lists): the keystore passphrase
comes from ``QUIETLINE_PASSPHRASE`` or a prompt, a staff password from
``QUIETLINE_STAFF_PASSWORD`` (for scripts and tests) or a prompt, asked twice, and a
code word from ``QUIETLINE_CODE_WORD`` or a prompt, asked twice.
Commands built on :mod:`console.admin`
(see :func:`admin`) work either way: on a stopped keystore
they open it; while ``program run`` runs they ask the running node over its control
socket (no passphrase needed: the socket is the node's own user's only).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from client_sdk.cli import PASSPHRASE_ENV
from client_sdk.errors import KeystoreError, SDKError
from client_sdk.keystore_cli import read_passphrase_file
from client_sdk.lock import KeystoreLock
from console import cli_settings, cli_stats
from console.errors import ConsoleError
from console.settings import ConsoleSettings, flag, range_text

__all__ = ["COMMANDS", "SETTING_FLAGS", "main", "run_settings"]

STAFF_PASSWORD_ENV = "QUIETLINE_STAFF_PASSWORD"  # noqa: S105 - the variable's name
CODE_WORD_ENV = "QUIETLINE_CODE_WORD"
COMMANDS = {
    "run", "staff", "rota", "rules", "replies", "codewords", "stats", *cli_settings.COMMANDS,
}  # fmt: skip


# `program run` flags for ConsoleSettings fields (--password-workers for password_workers):
# what each sets; the help adds the allowed values and the default, both from settings.py.
SETTING_FLAGS = {
    "default_shift_minutes": "minutes a shift lasts when no end is chosen and no rota slot runs",
    "max_shift_minutes": "the longest shift one can go on, in minutes",
    "subscriber_queue": "updates one browser may have waiting before it is dropped",
    "signin_attempts": "failed sign-ins per name in the window (per computer: 4 times it)",
    "signin_window_seconds": "the window sign-in attempts are counted in, in seconds",
    "password_workers": "password checks run at once (Argon2id: 64 MiB each by default)",
    "password_waiting": "password checks that may wait; more are answered busy",
}


class CliError(Exception):
    """A refusal to print (plain words) before exiting with status 1."""


def _secret(env: str, prompt: str, *, confirm: bool) -> str:
    value = os.environ.get(env)
    if value:
        return value
    try:
        first = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass("Repeat it: ") != first:
            raise CliError("the two entries differ")
    except (EOFError, KeyboardInterrupt):
        raise CliError(f"nothing entered (or set {env})") from None
    if not first:
        raise CliError("an empty value is not allowed")
    return first


_passphrase_file: list[Path] = []  # --passphrase-file, when given


def _passphrase() -> str:
    if _passphrase_file:
        return read_passphrase_file(_passphrase_file[0])
    return _secret(PASSPHRASE_ENV, "Keystore passphrase", confirm=False)


def _add_keystore(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--keystore", required=True, type=Path)
    cmd.add_argument(
        "--passphrase-file",
        type=Path,
        help="read the keystore passphrase from this file (mode 600, yours)",
    )


def admin(args: argparse.Namespace, op: str, op_args: dict[str, object] | None = None) -> object:
    """Run admin operation ``op`` on ``args.keystore`` (stopped, or through the running node)."""
    if not Path(args.keystore).is_file():  # before a lock file is made or a passphrase asked
        raise CliError(f"there is no keystore at {args.keystore}")
    from console.admin import runner

    return runner.run(args.keystore, _passphrase, op, dict(op_args or {}))


def _run(args: argparse.Namespace) -> int:
    from console import service  # uvicorn and the web pages only when serving

    settings = run_settings(args)
    # before the passphrase is asked: another node on this keystore, missing web pages
    # (the node takes the lock for good when it opens the keystore)
    KeystoreLock.acquire(args.keystore).release()
    service.load_app_factory()
    service.run(args.keystore, _passphrase(), settings, relay_url=args.relay)
    return 0


def _add_setting_flags(run: argparse.ArgumentParser) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(ConsoleSettings)}
    for field, text in SETTING_FLAGS.items():
        help_text = f"{text}; {range_text(field)} (default {defaults[field]})"
        run.add_argument(flag(field), type=int, metavar="N", help=help_text)


def run_settings(args: argparse.Namespace) -> ConsoleSettings:
    """The settings ``program run`` was given (a :class:`SetupError` names a bad flag);
    a flag not given keeps :class:`ConsoleSettings`' default."""
    given = {f: getattr(args, f) for f in SETTING_FLAGS if getattr(args, f) is not None}
    return ConsoleSettings(
        host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key, **given
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quietline program")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the program node with the staff console")
    _add_keystore(run)
    run.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    run.add_argument("--port", default=8100, type=int, help="default 8100")
    run.add_argument("--tls-cert", type=Path, help="PEM certificate (needed off loopback)")
    run.add_argument("--tls-key", type=Path, help="PEM private key (needed off loopback)")
    run.add_argument("--relay", help="the relay's URL (default: the one `init` used)")
    _add_setting_flags(run)

    from console import cli_staff

    cli_staff.add_parsers(sub)
    cli_settings.add_parsers(sub)
    cli_stats.add_parsers(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    _passphrase_file[:] = [args.passphrase_file] if args.passphrase_file else []
    try:
        if args.command == "run":
            return _run(args)
        from console import cli_staff

        if args.command in cli_staff.COMMANDS:
            return cli_staff.handle(args)
        if args.command in cli_settings.COMMANDS:
            return cli_settings.handle(args, admin)
        if args.command == "stats":
            return cli_stats.handle(args)
        raise CliError(f"unknown command {args.command!r}")
    except (CliError, ConsoleError, KeystoreError, SDKError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConsoleError) else str(exc)
        print(f"quietline program {args.command}: {message}", file=sys.stderr)
        return 1
