"""Fixtures shared by the protocol-core tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

_SHARED_VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"


def load_vectors(name: str) -> Any:
    """Load a JSON vector file from ``shared/vectors`` beside the checkout."""
    with open(_SHARED_VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The ``shared/vectors`` folder that sits beside the repository checkout."""
    assert _SHARED_VECTORS.is_dir(), f"missing vectors folder {_SHARED_VECTORS}"
    return _SHARED_VECTORS
