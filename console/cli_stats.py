"""``quietline program stats``: the line's usage figures, from a shell (same ops as the console).

- ``stats [--from D --to D | --days N] [--csv FILE | --json]``: the period's figures
  (default: the last 7 days, today included, in the program's time zone); counts below
  the threshold show as "fewer than N", in the text, the JSON and the CSV alike.
- ``stats threshold [N]``: show or set the small-count threshold (2 to 100).
- ``stats answers QUESTION_ID [ANSWER ...]``: the answers to count by name for one
  optional question (any other answer counts as "another answer"); none: stop listing.

Every command runs :mod:`console.admin` operations (``stats.show``, ``stats.csv``,
``stats.settings``) through :func:`console.cli.admin`: on a stopped keystore, or through
the running ``program run`` (no passphrase asked then).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["add_parsers", "handle"]

ACTIONS = ("show", "threshold", "answers")


class StatsUsage(ValueError):
    """A refusal of the command line itself (plain words; exits with status 1)."""


def add_parsers(sub: Any) -> None:
    """Add ``stats`` to ``quietline program``'s subcommands."""
    cmd = sub.add_parser(
        "stats",
        help="usage figures: show, threshold, answers",
        description="Usage figures with nothing that identifies anyone. "
        "Counts below the threshold show as 'fewer than N'.",
    )
    cmd.add_argument("action", nargs="?", default="show", choices=ACTIONS)
    cmd.add_argument("values", nargs="*", help="threshold: N; answers: QUESTION_ID ANSWER ...")
    cmd.add_argument("--keystore", required=True, type=Path)
    cmd.add_argument(
        "--passphrase-file", type=Path, help="read the keystore passphrase from this file"
    )
    cmd.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="the first day")
    cmd.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="the last day")
    cmd.add_argument("--days", type=int, help="the last N days, today included")
    out = cmd.add_mutually_exclusive_group()
    out.add_argument("--csv", type=Path, metavar="FILE", help="write CSV to FILE (- for stdout)")
    out.add_argument("--json", action="store_true", help="print JSON")


def _period(args: argparse.Namespace) -> dict[str, Any]:
    period: dict[str, Any] = {}
    if args.days is not None:
        period["days"] = args.days
    if args.first is not None:
        period["from"] = args.first
    if args.last is not None:
        period["to"] = args.last
    return period


def _print_report(data: dict[str, Any]) -> None:
    print(
        f"Statistics from {data['from']} to {data['to']} ({data['days']} days, "
        f"time zone {data['timezone']}). Counts below {data['threshold']} show as "
        f"'fewer than {data['threshold']}'."
    )
    for metric in data["metrics"]:
        print(f"\n{metric['title']}")
        rows = metric["rows"]
        if metric.get("kind") == "week":
            rows = [r for r in rows if r["text"] != "0"]
            if not rows:
                print("  none")
        for row in rows:
            print(f"  {row['label']}: {row['text']}")


def _write_csv(path: Path, text: str) -> None:
    if str(path) == "-":
        print(text, end="")
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)


def _admin(args: argparse.Namespace, op: str, op_args: dict[str, Any]) -> dict[str, Any]:
    """Run a stats operation (its answers are JSON objects)."""
    from console.cli import admin

    result = admin(args, op, op_args)
    assert isinstance(result, dict)
    return result


def _show(args: argparse.Namespace) -> int:
    if args.values:
        raise StatsUsage(f"unexpected {args.values[0]!r} (did you mean `stats threshold N`?)")
    if args.csv is not None:
        result = _admin(args, "stats.csv", _period(args))
        _write_csv(args.csv, result["csv"])
        if str(args.csv) != "-":
            print(f"wrote {args.csv}")
        return 0
    data = _admin(args, "stats.show", _period(args))
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print_report(data)
    return 0


def _settings(args: argparse.Namespace) -> int:
    if args.first or args.last or args.days is not None or args.csv is not None:
        raise StatsUsage(f"--from, --to, --days and --csv go with `stats`, not `{args.action}`")
    if args.action == "threshold":
        if len(args.values) > 1:
            raise StatsUsage("give one number: `stats threshold N`")
        if not args.values:
            current = _admin(args, "stats.settings", {})
            print(json.dumps(current) if args.json else f"threshold {current['threshold']}")
            return 0
        try:
            value = int(args.values[0])
        except ValueError:
            raise StatsUsage(f"{args.values[0]!r} is not a whole number") from None
        result = _admin(args, "stats.settings", {"threshold": value})
        n = result["threshold"]
        print(json.dumps(result) if args.json else f"counts below {n} show as 'fewer than {n}'")
        return 0
    if not args.values:
        raise StatsUsage("give the question's id: `stats answers QUESTION_ID [ANSWER ...]`")
    qid, answers = args.values[0], args.values[1:]
    result = _admin(args, "stats.settings", {"answers": {qid: answers}})
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif answers:
        listed = ", ".join(result["answers"][qid])
        print(f"{qid}: counting {listed}, and any other answer as 'another answer'")
    else:
        print(f"{qid}: counting only that it was answered")
    return 0


def handle(args: argparse.Namespace) -> int:
    """Run ``program stats``; refusals are raised (:mod:`console.errors`, :class:`StatsUsage`)."""
    if args.action == "show":
        return _show(args)
    return _settings(args)
