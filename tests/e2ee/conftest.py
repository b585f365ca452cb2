"""Fixtures shared by the protocol-core tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from third_party_vectors import THIRD_PARTY


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The third-party vectors kept in the repository (``tests/vectors/third_party``)."""
    assert THIRD_PARTY.is_dir(), f"missing vectors folder {THIRD_PARTY}"
    return THIRD_PARTY
