"""Proof of work for a relay that asks one (docs/api.md, "Proof of work").

When a program is under pressure the relay refuses an anonymous bundle fetch or
conversation opening with ``proof_required``; the client asks for a puzzle, finds an
8-byte solution whose SHA-256 with the puzzle begins with ``difficulty`` zero bits, and
sends the request again with ``Quietline-Proof: <puzzle>.<solution>``. The work is
SHA-256 only (:mod:`e2ee.proof_of_work`), on a worker thread; nothing about the
participant goes into it.
"""

from __future__ import annotations

from client_sdk.errors import RelayUnavailable
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import MalformedInput
from e2ee.proof_of_work import HEADER, solve

__all__ = ["HEADER", "MAX_DIFFICULTY", "proof_header"]

MAX_DIFFICULTY = 28
"""A puzzle harder than this is refused (a relay asking for hours of work)."""


def proof_header(answer: dict[str, object]) -> str:
    """The header value for a relay's puzzle answer ``{puzzle, difficulty, ..}``."""
    puzzle, difficulty = answer.get("puzzle"), answer.get("difficulty")
    if (
        not isinstance(puzzle, str)
        or not isinstance(difficulty, int)
        or isinstance(difficulty, bool)
    ):
        raise RelayUnavailable("relay answer is not a puzzle")
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise RelayUnavailable("relay asked for an unreasonable proof of work")
    try:
        raw = b64u_decode(puzzle)
    except MalformedInput:
        raise RelayUnavailable("relay answer is not a puzzle") from None
    return puzzle + "." + b64u_encode(solve(raw, difficulty))
