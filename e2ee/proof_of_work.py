"""The proof of work a relay under pressure asks of anonymous requests (docs/api.md,
"Proof of work"): the one check the relay and its clients must agree on.

The relay hands out an opaque ``puzzle``; a ``solution`` is :data:`SOLUTION_SIZE` bytes
such that ``SHA-256(puzzle || solution)`` begins with ``difficulty`` zero bits (about
``2**difficulty`` hashes to find, one to check). The request then carries

=====================  ================================================
header                 value
=====================  ================================================
``Quietline-Proof``    ``b64u(puzzle) "." b64u(solution)``
=====================  ================================================

Only the puzzle and a counter are hashed: the work says nothing about who did it. What
the puzzle holds (its expiry, its program, its tag) is the relay's own business
(``server.pow``); the widget does the same work in JavaScript with WebCrypto.
"""

from __future__ import annotations

import hashlib

__all__ = ["HEADER", "SOLUTION_SIZE", "leading_zero_bits", "solve", "solves"]

HEADER = "Quietline-Proof"
SOLUTION_SIZE = 8


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` begins with (all of them for all-zero bytes)."""
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def solves(puzzle: bytes, solution: bytes, difficulty: int) -> bool:
    """Whether ``SHA-256(puzzle || solution)`` begins with ``difficulty`` zero bits."""
    return leading_zero_bits(hashlib.sha256(puzzle + solution).digest()) >= difficulty


def solve(puzzle: bytes, difficulty: int) -> bytes:
    """The first big-endian counter of :data:`SOLUTION_SIZE` bytes that solves
    ``puzzle`` at ``difficulty`` bits (the puzzle's hash state is computed once)."""
    base = hashlib.sha256(puzzle)
    n = 0
    while True:
        solution = n.to_bytes(SOLUTION_SIZE, "big")
        h = base.copy()
        h.update(solution)
        if leading_zero_bits(h.digest()) >= difficulty:
            return solution
        n += 1
