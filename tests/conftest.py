"""Shared by every test package: tests/support (the real relay process,
``relay_process``) goes on ``sys.path`` so that tests/server, tests/client_sdk and
tests/widget import one copy of it."""

from __future__ import annotations

import sys
from pathlib import Path

_SUPPORT = str(Path(__file__).resolve().parent / "support")
if _SUPPORT not in sys.path:
    sys.path.insert(0, _SUPPORT)
