"""Proof of work for anonymous requests to a program under pressure.

A program is **under pressure** when, in the last minute (counts that decay with a
one-minute time constant, not fixed windows), the anonymous requests it took for free
(bundle fetches, conversations opened) reached ``pow_pressure_fraction`` of its
per-minute allowance, or when its one-time prekeys are handed out faster than
``pow_prekeys_per_minute``. Then a bundle fetch or a conversation opened for it must
carry a proof (header ``Quietline-Proof``); without one it is refused with 428
``proof_required``, which costs the program's allowance nothing. Without pressure no
puzzle is asked.

A puzzle is ``POST /v1/programs/{pid}/puzzle``: 32 bytes the relay makes without
keeping them (a random part, the program, the expiry and the difficulty, under an HMAC
tag keyed per process). The client finds an 8-byte ``solution`` such that
``SHA-256(puzzle || solution)`` starts with ``difficulty`` zero bits (about
``2**difficulty`` hashes; :mod:`e2ee.proof_of_work`, the check both sides share) and
sends ``Quietline-Proof: <puzzle>.<solution>`` (base64url). The relay checks the tag,
the program, the expiry and the zero bits, and remembers the puzzle's random part until
it expires so that each proof is used once.
A proven request does not count toward the program's allowance (it was paid for); it
still counts toward its source's.

The difficulty is ``pow_difficulty`` bits under pressure, ``pow_difficulty_max`` once
the free allowance is spent, as many requests were refused for want of a proof in the
minute, or prekeys go twice as fast as the threshold: SHA-256 is in
WebCrypto, and 16 bits take a phone a second or two in the widget.
"""

from __future__ import annotations

import hmac
import secrets
import struct
import time
from collections.abc import Callable

from e2ee.encoding import b64u_encode
from e2ee.proof_of_work import SOLUTION_SIZE, solves
from e2ee.proof_of_work import solve as solve  # for tests: the relay only checks
from server.errors import ApiError
from server.limits import Decaying
from server.settings import Settings
from server.wire import decode_b64u

PUZZLE_SIZE = 32
_RANDOM = 10


class Pressure:
    """Per program: free anonymous requests, requests refused for want of a proof, and
    one-time prekeys handed out, each as a count decaying with a one-minute time constant
    (:class:`server.limits.Decaying`: "how many in the last minute", with no minute edge
    where it drops to zero). Program ids are public; the counts are in memory only."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._free = Decaying(clock)
        self._refused = Decaying(clock)
        self._prekeys = Decaying(clock)

    def difficulty(self, program_id: bytes, allowance: int) -> int:
        """Zero bits a request for this program must prove now (0: no puzzle)."""
        s = self.settings
        # a count that decays is a little under n just after n events: round it
        free = self._free.get(program_id) + 0.5
        prekeys = self._prekeys.get(program_id) + 0.5
        refused = self._refused.get(program_id) + 0.5
        if free >= allowance or refused >= allowance or prekeys >= 2 * s.pow_prekeys_per_minute:
            return s.pow_difficulty_max
        if free >= allowance * s.pow_pressure_fraction or prekeys >= s.pow_prekeys_per_minute:
            return s.pow_difficulty
        return 0

    def refused(self, program_id: bytes) -> None:
        """A request refused for want of a proof: a flood this strong raises the work."""
        self._refused.add(program_id)

    def took_free(self, program_id: bytes) -> None:
        self._free.add(program_id)

    def handed_prekey(self, program_id: bytes) -> bool:
        """Count a one-time prekey handed out; True when the count crosses
        ``pow_prekeys_per_minute`` from below (tell the program once per such rise)."""
        before, after = self._prekeys.add(program_id)
        threshold = self.settings.pow_prekeys_per_minute - 0.5  # rounded, as difficulty
        return before < threshold <= after


class Puzzles:
    """Issues puzzles without storing them; redeems each proof once."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = settings.pow_puzzle_ttl_seconds
        self._clock = clock
        self._used: dict[bytes, float] = {}

    def __repr__(self) -> str:
        return "Puzzles(<hidden>)"

    def _tag(self, program_id: bytes, body: bytes) -> bytes:
        return hmac.new(self._key, program_id + body, "sha256").digest()[:16]

    def issue(self, program_id: bytes, difficulty: int) -> bytes:
        expires = int(self._clock() + self._ttl)
        body = secrets.token_bytes(_RANDOM) + struct.pack(">IB", expires, difficulty)
        body += bytes(PUZZLE_SIZE - 16 - len(body))
        return body + self._tag(program_id, body)

    def redeem(self, program_id: bytes, proof: str, *, shared: bool = False) -> int:
        """Check ``<puzzle>.<solution>`` for this program; returns its difficulty.

        ``shared``: several relay processes (server.fanout), which cannot check each
        other's tags nor see each other's used proofs: both are left to the caller,
        which redeems the puzzle's ticket in Redis."""
        puzzle_text, _, solution_text = proof.partition(".")
        puzzle = decode_b64u(puzzle_text, "Quietline-Proof")
        solution = decode_b64u(solution_text, "Quietline-Proof")
        if len(puzzle) != PUZZLE_SIZE or len(solution) != SOLUTION_SIZE:
            raise ApiError("bad_proof", "The proof of work is not a puzzle and its solution.")
        body, tag = puzzle[:16], puzzle[16:]
        if not shared and not hmac.compare_digest(tag, self._tag(program_id, body)):
            raise ApiError("bad_proof", "The puzzle was not made by this relay for this program.")
        expires, difficulty = struct.unpack(">IB", body[_RANDOM : _RANDOM + 5])
        now = self._clock()
        if expires < now:
            raise ApiError("bad_proof", "The puzzle expired; ask for a new one.")
        if not solves(puzzle, solution, difficulty):
            raise ApiError("bad_proof", "The solution does not solve the puzzle.")
        if shared:
            return int(difficulty)
        key = body[:_RANDOM]
        if key in self._used:
            raise ApiError("bad_proof", "This proof was already used.")
        if len(self._used) > 100_000:
            self._used = {k: t for k, t in self._used.items() if t >= now}
        self._used[key] = expires
        return int(difficulty)

    def answer(self, program_id: bytes, difficulty: int) -> dict[str, object]:
        return {
            "puzzle": b64u_encode(self.issue(program_id, difficulty)),
            "difficulty": difficulty,
            "expires_in": self._ttl,
        }
