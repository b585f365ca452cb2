"""``quietline program profile | origins | status``: the program's settings from a shell.

- ``profile show [--json]``: the published profile (``--json``: the content, ready to
  edit and give back to ``profile set``); ``profile set FILE``: check (every refusal
  names the key as a dotted path), re-sign and publish it; ``profile history``: the
  kept versions; ``profile restore VERSION``: publish a kept version again.
- ``origins list [--json] | add ORIGIN | remove ORIGIN``: the websites allowed to show
  the chat (the relay's CORS allow-list for this program).
- ``status show [--json] | set --state outage|closed [--message TEXT] | clear``: force
  the status by hand until cleared.

Each command is one admin operation (:mod:`console.admin`), run on the stopped keystore
(passphrase asked) or, while ``program run`` runs, by the running node through its
control socket (no passphrase), exactly as the console's admin pages run it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from client_sdk import publishing
from client_sdk.profile_content import ProfileError

__all__ = ["COMMANDS", "add_parsers", "handle"]

COMMANDS = {"profile", "origins", "status"}


def _keystore_args(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--keystore", required=True, type=Path)
    cmd.add_argument(
        "--passphrase-file",
        type=Path,
        help="read the keystore passphrase from this file (mode 600, yours)",
    )


def add_parsers(sub: Any) -> None:
    """The ``profile``, ``origins`` and ``status`` commands under ``quietline program``."""
    profile = sub.add_parser("profile", help="what participants see before a chat")
    p_sub = profile.add_subparsers(dest="action", required=True)
    show = p_sub.add_parser("show", help="print the published profile")
    show.add_argument("--json", action="store_true", help="the content, to edit and set")
    put = p_sub.add_parser("set", help="check, re-sign and publish a profile file")
    put.add_argument("file", type=Path)
    p_sub.add_parser("history", help="the kept versions, newest first")
    restore = p_sub.add_parser("restore", help="publish a kept version again")
    restore.add_argument("version", type=int)
    for cmd in (show, put, p_sub.choices["history"], restore):
        _keystore_args(cmd)

    origins = sub.add_parser("origins", help="the websites allowed to show the chat")
    o_sub = origins.add_subparsers(dest="action", required=True)
    listing = o_sub.add_parser("list", help="list them")
    listing.add_argument("--json", action="store_true")
    add = o_sub.add_parser("add", help="allow one more, e.g. https://www.example.org")
    add.add_argument("origin")
    remove = o_sub.add_parser("remove", help="stop one")
    remove.add_argument("origin")
    for cmd in (listing, add, remove):
        _keystore_args(cmd)

    status = sub.add_parser("status", help="force outage or closed with a message, or clear")
    s_sub = status.add_subparsers(dest="action", required=True)
    s_show = s_sub.add_parser("show", help="what participants see now")
    s_show.add_argument("--json", action="store_true")
    s_set = s_sub.add_parser("set", help="force outage or closed until cleared")
    s_set.add_argument("--state", required=True, help="outage or closed")
    s_set.add_argument("--message", help="what participants read (alternatives are added)")
    s_clear = s_sub.add_parser("clear", help="back to the posted hours and who is on shift")
    for cmd in (s_show, s_set, s_clear):
        _keystore_args(cmd)


def _when(ts: object) -> str:
    if not isinstance(ts, int):
        return "at program init"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_profile(content: dict[str, Any]) -> None:
    print(f"name: {content['name']}")
    for key, text in content["notice"].items():
        print(f"notice.{key}: {text}")
    print(f"safety_check_in: {content['safety_check_in']}")
    for i, q in enumerate(content["questions"]):
        print(f"questions[{i}]: {q['text']} (why: {q['why']})")
    hours = content["hours"]
    print(f"hours: time zone {hours['timezone']}")
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    for period in hours["weekly"]:
        print(f"  {days[period['day']]} {period['open']} to {period['close']}")
    for closure in hours.get("closures", []):
        label = f" ({closure['label']})" if closure["label"] else ""
        print(f"  closed all day on {closure['date']}{label}")
    for a in content["alternatives"]:
        print(f"alternative: {a['label']}: {a['value']}")
    print(f"quick_exit_url: {content['quick_exit_url']}")


def _profile(args: argparse.Namespace, admin: Any) -> int:
    if args.action == "show":
        shown = admin(args, "profile.show")
        if args.json:
            print(json.dumps(shown["content"], ensure_ascii=False, indent=2))
        else:
            print(f"version {shown['version']}, saved {_when(shown['saved_at'])}")
            _print_profile(shown["content"])
    elif args.action == "set":
        try:
            content = publishing.read_profile_file(args.file)
        except ProfileError as exc:
            raise ValueError(f"{args.file}: the profile key {exc.key}: {exc.problem}") from None
        except OSError as exc:
            raise ValueError(f"{args.file}: {exc.strerror or exc}") from None
        saved = admin(args, "profile.set", {"content": content})
        print(f"published the profile as version {saved['version']}")
    elif args.action == "history":
        for entry in admin(args, "profile.history"):
            print(f"{entry['version']}\t{_when(entry['saved_at'])}\t{entry['note']}")
    else:
        saved = admin(args, "profile.restore", {"version": args.version})
        print(f"published version {saved['restored']} again, as version {saved['version']}")
    return 0


def _origins(args: argparse.Namespace, admin: Any) -> int:
    if args.action == "list":
        origins = admin(args, "origins.list")
        if args.json:
            print(json.dumps(origins))
        elif not origins:
            print("no website is allowed yet (quietline program origins add ORIGIN)")
        for origin in [] if args.json else origins:
            print(origin)
    else:
        origins = admin(args, f"origins.{args.action}", {"origin": args.origin})
        done = "allowed" if args.action == "add" else "removed"
        print(f"{done} {args.origin}; allowed now: {', '.join(origins) or 'none'}")
    return 0


def _status(args: argparse.Namespace, admin: Any) -> int:
    if args.action == "set":
        shown = admin(args, "status.set", {"state": args.state, "message": args.message})
    elif args.action == "clear":
        shown = admin(args, "status.clear")
    else:
        shown = admin(args, "status.show")
    if getattr(args, "json", False):
        print(json.dumps(shown, ensure_ascii=False))
        return 0
    print(f"{shown['state']}: {shown['message']}")
    override = shown["override"]
    if override:
        print(f"set by hand: {override['state']} (until `quietline program status clear`)")
    else:
        print("automatic: follows the posted hours and who is on shift")
    return 0


def handle(args: argparse.Namespace, admin: Any) -> int:
    """Run one ``profile``/``origins``/``status`` command; ``admin`` runs the operation."""
    if args.command == "profile":
        return _profile(args, admin)
    if args.command == "origins":
        return _origins(args, admin)
    return _status(args, admin)
