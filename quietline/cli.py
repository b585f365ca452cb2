"""`quietline relay ...`, `quietline program ...`, `quietline widget ...`, `quietline demo`.

Each part's CLI is imported only when asked for, so running the relay never loads
key-holding code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: quietline {demo,relay,program,widget} ...

  demo      a whole demo on this machine: relay, program, console and widget page
  relay     run and operate the relay (serve, migrate, add-program, audit, export)
  program   the program node (init, info, run, staff, replies, codewords, backup, ...)
  widget    the participant widget (snippet, serve, path, check)
"""

PROGRAM_USAGE = """usage: quietline program
       {init,info,run,staff,rota,rules,replies,codewords,profile,origins,status,stats,
        backup,restore,passphrase} ...

  init      create the keystore, enroll with the relay and publish the bundle
  info      print the program id, identity key and fingerprint
  run       run the program node with the staff console (127.0.0.1:8100)
  staff     staff accounts: add, list, disable, enable, passwd, role
  rota      each staff member's weekly rota: show, set, clear, except, unexcept
  rules     the shift rules (last minutes, hand-off, inactivity, idle): show, set
  replies   saved replies: add, list, edit, remove
  codewords code words staff can check: add, list, rotate, remove
  profile   what participants see: show, set FILE, history, restore VERSION
  origins   the websites allowed to show the chat: list, add, remove
  status    force outage or closed with a message: show, set, clear
  stats     usage figures, small counts hidden: show, threshold, answers (--csv, --json)
  backup    write a backup that is safe to restore (no conversations, no prekey secrets)
  restore   make a new keystore from a backup (no open conversations, fresh prekeys)
  passphrase  change the keystore's passphrase
"""

# `program` commands of the console (console/cli.py); the rest are the SDK's.
CONSOLE_COMMANDS = {
    "run", "staff", "rota", "rules", "replies", "codewords", "profile", "origins", "status",
    "stats",
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE, end="")
        return 0 if args else 2
    part, rest = args[0], args[1:]
    if part == "relay":
        from server.cli import main as relay_main

        return relay_main(rest)
    if part == "program" and rest in ([], ["-h"], ["--help"]):
        print(PROGRAM_USAGE, end="")
        return 0 if rest else 2
    if part == "program" and rest[:1] and rest[0] in CONSOLE_COMMANDS:
        from console.cli import main as console_main

        return console_main(rest)
    if part == "demo":
        from console.demo import main as demo_main

        return demo_main(rest)
    if part == "program":
        from client_sdk.cli import main as program_main

        return program_main(rest)
    if part == "widget":
        from quietline.widget_cli import main as widget_main

        return widget_main(rest)
    print(f"quietline: unknown command {part!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
