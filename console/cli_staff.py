"""``quietline program staff | rota | rules | replies | codewords``: running the line's
people and words from a shell, through the admin operations (:mod:`console.admin`).

Each command runs the same operation as the console's admin pages, on a stopped
keystore (the passphrase is asked) or through ``program run``'s control socket while
it runs (no passphrase: the change takes effect at once).

- ``staff add NAME --role ROLE``, ``staff list [--json]``, ``staff disable|enable NAME``,
  ``staff passwd NAME``, ``staff role NAME --role ROLE``.
- ``rota show [NAME] [--json]``, ``rota set NAME --day mon --from 09:00 --to 17:00``,
  ``rota clear NAME [--day mon]``, ``rota except NAME --date 2026-12-24 [--off]
  [--from HH:MM --to HH:MM]``, ``rota unexcept NAME --date D``.
- ``rules show [--json]``, ``rules set [--last-minutes N] [--warn-minutes N]
  [--close-minutes N] [--idle-minutes N] [--max-conversations N] [--handoff yes|no]``.
- ``replies add --group G --title T (--text TEXT | --text-file F)``, ``replies list
  [--json]``, ``replies edit ID [--group G] [--title T] [--text T | --text-file F]``,
  ``replies remove ID``.
- ``codewords add ALIAS``, ``codewords rotate ALIAS``, ``codewords list [--json]``,
  ``codewords remove ALIAS``.

Secrets are never arguments (arguments show in process lists): a staff password comes
from ``QUIETLINE_STAFF_PASSWORD`` or a prompt (asked twice), a code word from
``QUIETLINE_CODE_WORD`` or a prompt (asked twice); they travel to the operation as its
secret arguments and are never printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from console import cli as base
from console.accounts import Role

__all__ = ["COMMANDS", "add_parsers", "handle"]

COMMANDS = {"staff", "rota", "rules", "replies", "codewords"}


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def _rows(args: argparse.Namespace, operation: str) -> list[dict[str, Any]]:
    """A listing operation's rows to print as lines; with ``--json`` the listing is
    printed as JSON instead and there is nothing more to print."""
    rows = base.admin(args, operation)
    assert isinstance(rows, list)
    if args.json:
        _print_json(rows)
        return []
    return rows


def _one(args: argparse.Namespace, operation: str, op_args: dict[str, Any]) -> dict[str, Any]:
    """An operation that answers with one record (an account, an entry, a reply)."""
    row = base.admin(args, operation, op_args)
    assert isinstance(row, dict)
    return row


def _staff(args: argparse.Namespace) -> int:
    if args.action == "list":
        for row in _rows(args, "staff.list"):
            state = " (disabled)" if row["disabled"] else " (on shift)" if row["on_shift"] else ""
            print(f"{row['name']}\t{row['role']}{state}")
        return 0
    if args.action == "add":
        password = base._secret(base.STAFF_PASSWORD_ENV, f"Password for {args.name}", confirm=True)
        row = _one(args, "staff.add", {"name": args.name, "role": args.role, "password": password})
        print(f"added {row['name']} ({row['role']})")
    elif args.action == "passwd":
        password = base._secret(
            base.STAFF_PASSWORD_ENV, f"New password for {args.name}", confirm=True
        )
        row = _one(args, "staff.passwd", {"name": args.name, "password": password})
        print(f"changed the password of {row['name']}")
    elif args.action == "role":
        row = _one(args, "staff.role", {"name": args.name, "role": args.role})
        print(f"{row['name']} is now {row['role']}")
    else:
        row = _one(args, f"staff.{args.action}", {"name": args.name})
        print(f"{args.action}d {row['name']}")
    return 0


def _slots(entry: dict[str, Any]) -> str:
    weekly = (
        ", ".join(f"{s['day']} {s['from']}-{s['to']}" for s in entry["weekly"]) or "no weekly slots"
    )
    out = [weekly]
    for e in entry["exceptions"]:
        parts = ["off"] if e["off"] else []
        parts += [f"{s['from']}-{s['to']}" for s in e["slots"]]
        out.append(f"{e['date']}: {' and '.join(parts)}")
    return "; ".join(out)


def _rota(args: argparse.Namespace) -> int:
    if args.action == "show":
        shown = base.admin(args, "rota.show", {"name": args.name} if args.name else {})
        assert isinstance(shown, dict)
        if args.json:
            _print_json(shown)
            return 0
        print(f"times in {shown['timezone']}")
        for entry in shown["staff"]:
            due = " (due on shift now)" if entry["due"] else ""
            print(f"{entry['name']}\t{_slots(entry)}{due}")
        return 0
    op_args: dict[str, Any] = {"name": args.name}
    if args.action == "set":
        op_args.update(day=args.day, **{"from": args.start, "to": args.end})
    elif args.action == "clear":
        op_args["day"] = args.day
    elif args.action == "except":
        op_args.update(date=args.date, off=args.off, **{"from": args.start, "to": args.end})
    else:
        op_args["date"] = args.date
    entry = _one(args, f"rota.{args.action}", op_args)
    print(f"{entry['name']}\t{_slots(entry)}")
    return 0


RULE_OPTIONS = (
    "last_minutes",
    "warn_minutes",
    "close_minutes",
    "idle_minutes",
    "max_conversations",
)


def _rules(args: argparse.Namespace) -> int:
    if args.action == "show":
        shown = base.admin(args, "rules.show")
    else:
        changes: dict[str, Any] = {
            name: getattr(args, name) for name in RULE_OPTIONS if getattr(args, name) is not None
        }
        if args.handoff is not None:
            changes["handoff"] = args.handoff == "yes"
        if not changes:
            raise base.CliError("say which rule to change, e.g. --last-minutes 30")
        shown = base.admin(args, "rules.set", changes)
    assert isinstance(shown, dict)
    if getattr(args, "json", False):
        _print_json(shown)
    else:
        for name, value in shown.items():
            print(f"{name}\t{'yes' if value is True else 'no' if value is False else value}")
    return 0


def _text_of(args: argparse.Namespace) -> str | None:
    if args.text is not None:
        return str(args.text)
    if args.text_file is not None:
        return Path(args.text_file).read_text(encoding="utf-8")
    return None


def _replies(args: argparse.Namespace) -> int:
    if args.action == "list":
        for r in _rows(args, "replies.list"):
            print(f"{r['id']}\t{r['group']}\t{r['title']}")
    elif args.action == "add":
        reply = _one(
            args, "replies.add", {"group": args.group, "title": args.title, "text": _text_of(args)}
        )
        print(reply["id"])
    elif args.action == "edit":
        changes = {"id": args.id, "group": args.group, "title": args.title, "text": _text_of(args)}
        reply = _one(args, "replies.edit", {k: v for k, v in changes.items() if v is not None})
        print(f"changed {reply['id']}")
    else:
        base.admin(args, "replies.remove", {"id": args.id})
        print(f"removed {args.id}")
    return 0


def _codewords(args: argparse.Namespace) -> int:
    if args.action == "list":
        for row in _rows(args, "codewords.list"):
            due = " (time to change it)" if row["rotation_due"] else ""
            print(f"{row['alias']}\tset on {row['set_on']}{due}")
    elif args.action in ("add", "rotate"):
        new = "New code word" if args.action == "rotate" else "Code word"
        word = base._secret(base.CODE_WORD_ENV, f"{new} for {args.alias}", confirm=True)
        row = _one(args, f"codewords.{args.action}", {"alias": args.alias, "word": word})
        print(f"set the code word of {row['alias']}")
    else:
        row = _one(args, "codewords.remove", {"alias": args.alias})
        print(f"removed the code word of {row['alias']}")
    return 0


def _group(sub: Any, name: str, help_text: str) -> Any:
    """A command (``staff``, ``rota``...) whose actions are subcommands."""
    group: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    return group.add_subparsers(dest="action", required=True)


def _action(
    actions: Any, name: str, help_text: str, *positional: str, json: bool = False
) -> argparse.ArgumentParser:
    """One action of a command: its positional arguments, and ``--json`` if it shows
    something a script may read."""
    cmd: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    for argument in positional:
        cmd.add_argument(argument)
    if json:
        cmd.add_argument("--json", action="store_true")
    return cmd


def _times(cmd: argparse.ArgumentParser, *, required: bool, to_help: str = "HH:MM") -> None:
    cmd.add_argument("--from", dest="start", required=required, help="HH:MM")
    cmd.add_argument("--to", dest="end", required=required, help=to_help)


def add_parsers(sub: Any) -> None:
    """The ``staff``, ``rota``, ``rules``, ``replies`` and ``codewords`` commands."""
    roles = [r.value for r in Role]

    staff = _group(sub, "staff", "staff accounts of the console")
    _action(staff, "list", "list the accounts", json=True)
    for action, text in (
        ("add", "add an account (password prompted, or QUIETLINE_STAFF_PASSWORD)"),
        ("disable", "stop an account from signing in (signed out, work handed off)"),
        ("enable", "let a disabled account sign in again"),
        ("passwd", "set a new password (prompted, or QUIETLINE_STAFF_PASSWORD)"),
        ("role", "change an account's role"),
    ):
        cmd = _action(staff, action, text, "name")
        if action in ("add", "role"):
            cmd.add_argument("--role", required=True, choices=roles)

    rota = _group(sub, "rota", "each staff member's weekly rota, with exceptions")
    show = _action(rota, "show", "show the rota (everyone, or one person)")
    show.add_argument("name", nargs="?")
    show.add_argument("--json", action="store_true")
    add = _action(rota, "set", "add a weekly slot (times in the program's time zone)", "name")
    add.add_argument("--day", required=True, help="mon, tue, wed, thu, fri, sat or sun")
    _times(add, required=True, to_help="HH:MM (at or before --from: overnight)")
    clear = _action(rota, "clear", "remove the weekly slots (of one day, or all)", "name")
    clear.add_argument("--day")
    exc = _action(rota, "except", "a date off, or an extra or changed slot on a date", "name")
    exc.add_argument("--date", required=True, help="YYYY-MM-DD")
    exc.add_argument(
        "--off", action="store_true", help="the weekly slots of that date do not apply"
    )
    _times(exc, required=False)
    unexc = _action(rota, "unexcept", "remove the exception of a date", "name")
    unexc.add_argument("--date", required=True)

    rules = _group(sub, "rules", "the shift rules (last minutes, hand-off, inactivity, idle)")
    _action(rules, "show", "the shift rules in force", json=True)
    rset = _action(rules, "set", "change shift rules (the running node applies them at once)")
    for name, words in (
        ("last_minutes", "no new conversation in the last N minutes of a shift (default 30)"),
        ("warn_minutes", "participant silence before the inactivity notice (default 10)"),
        ("close_minutes", "further silence before the conversation closes (default 5)"),
        ("idle_minutes", "console idle time before sign-out (default 30)"),
        ("max_conversations", "conversations one person holds at once (default 3)"),
    ):
        rset.add_argument("--" + name.replace("_", "-"), dest=name, type=int, help=words)
    rset.add_argument("--handoff", choices=["yes", "no"], help="hand conversations on at shift end")
    rset.add_argument("--json", action="store_true")

    replies = _group(sub, "replies", "saved replies staff can insert")
    radd = _action(replies, "add", "add a saved reply")
    radd.add_argument("--group", required=True)
    radd.add_argument("--title", required=True)
    redit = _action(replies, "edit", "change a saved reply (by its id)", "id")
    redit.add_argument("--group")
    redit.add_argument("--title")
    for cmd, required in ((radd, True), (redit, False)):
        source = cmd.add_mutually_exclusive_group(required=required)
        source.add_argument("--text")
        source.add_argument("--text-file", type=Path)
    _action(replies, "remove", "remove a saved reply by its id", "id")
    _action(replies, "list", "list the saved replies", json=True)

    words = _group(sub, "codewords", "code words staff can check")
    for action, text in (
        ("add", "add a code word (prompted, or QUIETLINE_CODE_WORD)"),
        ("rotate", "set a new word for a code word (prompted, or QUIETLINE_CODE_WORD)"),
        ("remove", "remove a code word"),
    ):
        cmd = _action(words, action, text)
        cmd.add_argument("alias", help="the name staff ask by, e.g. main")
    _action(words, "list", "list the code words' names, dates and rotation", json=True)

    for actions in (staff, rota, rules, replies, words):
        for cmd in actions.choices.values():
            base._add_keystore(cmd)


def handle(args: argparse.Namespace) -> int:
    """Run one of this module's commands (errors are raised for ``console.cli.main``)."""
    return {
        "staff": _staff,
        "rota": _rota,
        "rules": _rules,
        "replies": _replies,
        "codewords": _codewords,
    }[args.command](args)
