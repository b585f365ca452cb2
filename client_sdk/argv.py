"""Command lines whose values may begin with "-".

Program ids, identity keys and enrollment tokens are base64url, and one in 64 of them
begins with "-". Written as ``--identity-key -Xy...`` (the way the docs show it),
argparse takes such a value for an unknown option and refuses the command with
"expected one argument". :func:`glue_values` joins each of the named options with the
word after it (``--identity-key=-Xy...``), which argparse reads as the value it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def glue_values(argv: Sequence[str], options: Iterable[str]) -> list[str]:
    """``argv`` with every ``OPTION VALUE`` of ``options`` written ``OPTION=VALUE``.

    Everything after a bare ``--`` is left as it is; an option last on the line is too
    (argparse then says its value is missing)."""
    names = frozenset(options)
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            out += words[i:]
            break
        if word in names and i + 1 < len(words):
            out.append(f"{word}={words[i + 1]}")
            i += 2
        else:
            out.append(word)
            i += 1
    return out
