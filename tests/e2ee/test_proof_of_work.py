"""The proof-of-work check the relay and its clients share (e2ee/proof_of_work.py)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee.proof_of_work import HEADER, SOLUTION_SIZE, leading_zero_bits, solve, solves

# (puzzle, difficulty, the first solution, its SHA-256 with the puzzle)
VECTORS = [
    (bytes(32), 12, "00000000000000ce", "000c522ab358df6ce77b3bc5e5e99588"),
    (b"quietline", 16, "00000000000201b6", "000093759fab871f5f18b249f2171187"),
]


def test_the_wire_names() -> None:
    assert HEADER == "Quietline-Proof"
    assert SOLUTION_SIZE == 8


@pytest.mark.parametrize(
    ("digest", "bits"),
    [
        (b"", 0),
        (b"\x80", 0),
        (b"\xff\x00", 0),
        (b"\x40", 1),
        (b"\x01", 7),
        (b"\x00", 8),
        (b"\x00\xff", 8),
        (b"\x00\x01", 15),
        (b"\x00\x00\x10", 19),
        (bytes(32), 256),
    ],
)
def test_leading_zero_bits(digest: bytes, bits: int) -> None:
    assert leading_zero_bits(digest) == bits


@given(st.binary(max_size=40))
def test_leading_zero_bits_counts_what_the_integer_leaves_out(digest: bytes) -> None:
    assert leading_zero_bits(digest) == 8 * len(digest) - int.from_bytes(digest).bit_length()


@pytest.mark.parametrize(("puzzle", "difficulty", "solution", "digest"), VECTORS)
def test_solve_finds_the_first_counter(
    puzzle: bytes, difficulty: int, solution: str, digest: str
) -> None:
    found = solve(puzzle, difficulty)
    assert found.hex() == solution and len(found) == SOLUTION_SIZE
    assert hashlib.sha256(puzzle + found).hexdigest().startswith(digest)
    assert solves(puzzle, found, difficulty)


def test_no_smaller_counter_solves() -> None:
    puzzle, difficulty, solution, _ = VECTORS[0]
    first = int(solution, 16)
    assert not any(
        solves(puzzle, n.to_bytes(SOLUTION_SIZE, "big"), difficulty) for n in range(first)
    )


def test_solves_refuses_too_few_zero_bits() -> None:
    puzzle, difficulty, solution, _ = VECTORS[0]
    found = bytes.fromhex(solution)
    bits = leading_zero_bits(hashlib.sha256(puzzle + found).digest())
    assert solves(puzzle, found, bits)
    assert not solves(puzzle, found, bits + 1)
    assert not solves(b"another puzzle", found, difficulty)  # bound to its puzzle


def test_difficulty_zero_takes_the_zero_counter() -> None:
    assert solve(b"any", 0) == bytes(SOLUTION_SIZE)
    assert solves(b"any", b"", 0)
