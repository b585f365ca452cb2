"""A clone runs alone: no tracked file names a path outside the checkout.

The strings searched for are built at run time so that this file does not match itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_OUTSIDE = [
    "/" + "work/",
    ".." + "/shared",
    "shared" + "/vectors",
    "shared" + "/reference",
    "parents[3]" + ' / "shared"',
]


def _tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_names_a_path_outside_the_checkout() -> None:
    offenders = []
    for path in _tracked():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for needle in _OUTSIDE:
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_third_party_vectors_are_in_the_repository() -> None:
    third = ROOT / "tests" / "vectors" / "third_party"
    for name in (
        "SOURCES.md",
        "hpke-rfc9180-x25519.json",
        "wycheproof/x25519_test.json",
        "wycheproof/ed25519_test.json",
        "wycheproof/aes_gcm_test.json",
        "wycheproof/hkdf_sha256_test.json",
    ):
        assert (third / name).is_file(), name
