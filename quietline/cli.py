"""`quietline relay ...`, `quietline program ...`, `quietline widget ...`.

Each part's CLI is imported only when asked for, so running the relay never loads
key-holding code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: quietline {relay,program,widget} ...

  relay     run and operate the relay (serve, migrate, add-program, audit, export)
  program   the program node (init, ...)
  widget    the participant widget (snippet, serve, path)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE, end="")
        return 0 if args else 2
    part, rest = args[0], args[1:]
    if part == "relay":
        from server.cli import main as relay_main

        return relay_main(rest)
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
