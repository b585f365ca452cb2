"""The deploy examples' tests use the relay tests' helpers (tests/server)."""

from __future__ import annotations

import sys
from pathlib import Path

_SERVER_TESTS = str(Path(__file__).resolve().parents[1] / "server")
_HERE = str(Path(__file__).resolve().parent)
for folder in (_SERVER_TESTS, _HERE):
    if folder not in sys.path:
        sys.path.insert(0, folder)
