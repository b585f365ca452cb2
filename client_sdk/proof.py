"""Proof of work for a relay that asks one (docs/api.md, "Proof of work").

When a program is under pressure the relay refuses an anonymous bundle fetch or
conversation opening with ``proof_required``; the client asks for a puzzle, finds an
8-byte solution whose SHA-256 with the puzzle begins with ``difficulty`` zero bits, and
sends the request again with ``Quietline-Proof: <puzzle>.<solution>``. The work is
SHA-256 only, on a worker thread; nothing about the participant goes into it.
"""

from __future__ import annotations

import hashlib

from client_sdk.errors import RelayUnavailable
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import MalformedInput

HEADER = "Quietline-Proof"
MAX_DIFFICULTY = 28
"""A puzzle harder than this is refused (a relay asking for hours of work)."""


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def solve(puzzle: bytes, difficulty: int) -> bytes:
    """The first 8-byte counter that solves ``puzzle`` at ``difficulty`` bits."""
    base = hashlib.sha256(puzzle)
    n = 0
    while True:
        solution = n.to_bytes(8, "big")
        h = base.copy()
        h.update(solution)
        if leading_zero_bits(h.digest()) >= difficulty:
            return solution
        n += 1


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
