"""``quietline program run | staff ... | replies ...``: the service and its staff, from a shell.

- ``run --keystore PATH [--host 127.0.0.1] [--port 8100] [--tls-cert F --tls-key F]
  [--relay URL]``: the program node with the console (:mod:`console.service`).
- ``staff add NAME --role worker|supervisor|admin``, ``staff list [--json]``,
  ``staff disable NAME``, ``staff enable NAME``, ``staff passwd NAME``,
  ``staff role NAME --role ROLE``.
- ``replies add --group G --title T (--text TEXT | --text-file F)``,
  ``replies list [--json]``, ``replies remove ID``.
- ``stats [--from D --to D | --days N] [--csv FILE | --json]``, ``stats threshold [N]``,
  ``stats answers QUESTION_ID [ANSWER ...]``: usage figures (:mod:`console.cli_stats`).
- ``codewords add ALIAS``, ``codewords list [--json]``, ``codewords remove ALIAS``: the
  code words staff can check from the console (an Argon2id hash is kept, never the word).

Secrets are never arguments (arguments show in process lists): the keystore passphrase
comes from ``QUIETLINE_PASSPHRASE`` or a prompt, a staff password from
``QUIETLINE_STAFF_PASSWORD`` (for scripts and tests) or a prompt, asked twice, and a
code word from ``QUIETLINE_CODE_WORD`` or a prompt, asked twice.
``staff``, ``replies`` and ``codewords`` take the keystore's lock: while ``program run`` runs on the
keystore they refuse at once (stop it first). Commands built on :mod:`console.admin`
(see :func:`admin`) work either way: on a stopped keystore
they open it; while ``program run`` runs they ask the running node over its control
socket (no passphrase needed: the socket is the node's own user's only).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from client_sdk import store
from client_sdk import workflow as wf
from client_sdk.cli import PASSPHRASE_ENV
from client_sdk.errors import KeystoreError, SDKError
from client_sdk.keystore import Keystore
from client_sdk.keystore_cli import read_passphrase_file
from client_sdk.lock import KeystoreLock
from client_sdk.workflow.codewords import alias_key
from console import cli_stats
from console.accounts import Account, Role, StaffAccounts
from console.errors import ConsoleError
from console.replies import SavedReplies
from console.settings import ConsoleSettings

__all__ = ["COMMANDS", "main"]

STAFF_PASSWORD_ENV = "QUIETLINE_STAFF_PASSWORD"  # noqa: S105 - the variable's name
CODE_WORD_ENV = "QUIETLINE_CODE_WORD"
COMMANDS = {"run", "staff", "replies", "codewords", "stats"}


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


@contextmanager
def _keystore(path: Path) -> Iterator[Keystore]:
    """The keystore, locked against a running node, saved when the block succeeds."""
    with KeystoreLock.acquire(path):
        ks = Keystore.open(path, _passphrase())
        try:
            yield ks
            if ks.dirty:
                ks.save()
        finally:
            ks.close()


def _account(accounts: StaffAccounts, name: str) -> Account:
    account = accounts.find(name)
    if account is None:
        raise CliError(f"there is no staff account named {name!r}")
    return account


def _staff(args: argparse.Namespace) -> int:
    with _keystore(args.keystore) as ks:
        accounts = StaffAccounts(ks)
        if args.action == "list":
            rows = [
                {"name": a.name, "role": a.role.value, "disabled": a.disabled}
                for a in accounts.list()
            ]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False))
            for row in [] if args.json else rows:
                state = " (disabled)" if row["disabled"] else ""
                print(f"{row['name']}\t{row['role']}{state}")
            return 0
        if args.action == "add":
            password = _secret(STAFF_PASSWORD_ENV, f"Password for {args.name}", confirm=True)
            account = accounts.add(args.name, args.role, password)
            print(f"added {account.name} ({account.role.value})")
            return 0
        account = _account(accounts, args.name)
        if args.action == "disable":
            accounts.disable(account.staff_id)
            print(f"disabled {account.name}")
        elif args.action == "enable":
            accounts.enable(account.staff_id)
            print(f"enabled {account.name}")
        elif args.action == "passwd":
            password = _secret(STAFF_PASSWORD_ENV, f"New password for {account.name}", confirm=True)
            accounts.set_password(account.staff_id, password)
            print(f"changed the password of {account.name}")
        else:
            accounts.set_role(account.staff_id, args.role)
            print(f"{account.name} is now {args.role}")
    return 0


def _replies(args: argparse.Namespace) -> int:
    text: str | None = None
    if args.action == "add":
        text = args.text if args.text is not None else args.text_file.read_text(encoding="utf-8")
    with _keystore(args.keystore) as ks:
        replies = SavedReplies(ks)
        if args.action == "list":
            items = [r.to_json() for r in replies.list()]
            if args.json:
                print(json.dumps(items, ensure_ascii=False))
            for r in [] if args.json else items:
                print(f"{r['id']}\t{r['group']}\t{r['title']}")
        elif args.action == "add":
            assert text is not None
            reply = replies.add(args.group, args.title, text)
            print(reply.id)
        else:
            replies.remove(args.id)
            print(f"removed {args.id}")
    return 0


def _codewords(args: argparse.Namespace) -> int:
    with _keystore(args.keystore) as ks:
        book = wf.CodeWordBook()
        for name in ks.names(store.CODE_WORD):
            raw = ks.get(name)
            if raw is not None:
                book.add_record(wf.CodeWordRecord.from_bytes(raw))
        if args.action == "list":
            now = datetime.now(UTC)
            rows = [
                {
                    "alias": r.alias,
                    "set_on": r.set_at.date().isoformat(),
                    "rotation_due": r.rotation_due(now, book.policy.rotate_after),
                }
                for r in book.records()
            ]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False))
            for row in [] if args.json else rows:
                due = " (time to change it)" if row["rotation_due"] else ""
                print(f"{row['alias']}\tset on {row['set_on']}{due}")
        elif args.action == "add":
            word = _secret(CODE_WORD_ENV, f"Code word for {args.alias}", confirm=True)
            try:
                record = book.set(args.alias, word, datetime.now(UTC))
            except wf.WorkflowError as exc:
                raise CliError(str(exc)) from None
            ks.put(f"{store.CODE_WORD}{record.alias}", record.to_bytes())
            print(f"set the code word of {record.alias}")
        else:
            try:
                key = alias_key(args.alias)
            except wf.WorkflowError as exc:
                raise CliError(str(exc)) from None
            if book.get(key) is None:
                raise CliError(f"there is no code word named {args.alias!r}")
            ks.delete(f"{store.CODE_WORD}{key}")
            print(f"removed the code word of {key}")
    return 0


def admin(args: argparse.Namespace, op: str, op_args: dict[str, object] | None = None) -> object:
    """Run admin operation ``op`` on ``args.keystore`` (stopped, or through the running node)."""
    from console.admin import runner

    return runner.run(args.keystore, _passphrase, op, dict(op_args or {}))


def _run(args: argparse.Namespace) -> int:
    from console import service  # uvicorn and the web pages only when serving

    settings = ConsoleSettings(
        host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key
    )
    # before the passphrase is asked: another node on this keystore, missing web pages
    # (the node takes the lock for good when it opens the keystore)
    KeystoreLock.acquire(args.keystore).release()
    service.load_app_factory()
    service.run(args.keystore, _passphrase(), settings, relay_url=args.relay)
    return 0


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

    staff = sub.add_parser("staff", help="staff accounts of the console")
    staff_sub = staff.add_subparsers(dest="action", required=True)
    roles = [r.value for r in Role]
    for action, text in (
        ("add", "add an account (password prompted, or QUIETLINE_STAFF_PASSWORD)"),
        ("list", "list the accounts"),
        ("disable", "stop an account from signing in"),
        ("enable", "let a disabled account sign in again"),
        ("passwd", "set a new password (prompted, or QUIETLINE_STAFF_PASSWORD)"),
        ("role", "change an account's role"),
    ):
        cmd = staff_sub.add_parser(action, help=text)
        _add_keystore(cmd)
        if action == "list":
            cmd.add_argument("--json", action="store_true")
        else:
            cmd.add_argument("name")
        if action in ("add", "role"):
            cmd.add_argument("--role", required=True, choices=roles)

    replies = sub.add_parser("replies", help="saved replies staff can insert")
    replies_sub = replies.add_subparsers(dest="action", required=True)
    add = replies_sub.add_parser("add", help="add a saved reply")
    add.add_argument("--group", required=True)
    add.add_argument("--title", required=True)
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--text")
    source.add_argument("--text-file", type=Path)
    listing = replies_sub.add_parser("list", help="list the saved replies")
    listing.add_argument("--json", action="store_true")
    remove = replies_sub.add_parser("remove", help="remove a saved reply by its id")
    remove.add_argument("id")
    for cmd in (add, listing, remove):
        _add_keystore(cmd)

    words = sub.add_parser("codewords", help="code words staff can check")
    words_sub = words.add_subparsers(dest="action", required=True)
    word_add = words_sub.add_parser(
        "add", help="set a code word (prompted, or QUIETLINE_CODE_WORD)"
    )
    word_add.add_argument("alias", help="the name staff ask by, e.g. main")
    word_list = words_sub.add_parser("list", help="list the code words' names")
    word_list.add_argument("--json", action="store_true")
    word_remove = words_sub.add_parser("remove", help="remove a code word")
    word_remove.add_argument("alias")
    for cmd in (word_add, word_list, word_remove):
        _add_keystore(cmd)
    cli_stats.add_parsers(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    _passphrase_file[:] = [args.passphrase_file] if args.passphrase_file else []
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "staff":
            return _staff(args)
        if args.command == "codewords":
            return _codewords(args)
        if args.command == "stats":
            return cli_stats.handle(args)
        return _replies(args)
    except (CliError, ConsoleError, KeystoreError, SDKError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConsoleError) else str(exc)
        print(f"quietline program {args.command}: {message}", file=sys.stderr)
        return 1
