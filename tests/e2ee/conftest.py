"""Fixtures shared by the protocol-core tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/e2ee/conftest.py -> parents[2] is the checkout, parents[3] the folder that holds
# both the checkout and shared/ (locally /work/main and /work/shared).
_SHARED_VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The ``shared/vectors`` folder that sits beside the repository checkout."""
    assert _SHARED_VECTORS.is_dir(), f"missing vectors folder {_SHARED_VECTORS}"
    return _SHARED_VECTORS
