"""Where the third-party test vectors live: inside the checkout, in
``tests/vectors/third_party`` (sources, commits and licenses in its SOURCES.md).

Nothing in the project reads a path outside its checkout: a fresh clone runs its own
tests."""

from __future__ import annotations

from pathlib import Path

THIRD_PARTY = Path(__file__).resolve().parents[1] / "vectors" / "third_party"
HPKE_RFC9180 = THIRD_PARTY / "hpke-rfc9180-x25519.json"
WYCHEPROOF = THIRD_PARTY / "wycheproof"
