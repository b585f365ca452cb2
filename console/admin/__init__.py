"""Running a program day to day: every admin operation, one code path for console and CLI.

An operation (a settings change, a staff change, a statistics read...) is an async
function registered under a dotted name with :func:`operation` (:mod:`console.admin.registry`).
It receives an :class:`~console.admin.context.AdminContext` and a JSON-able dict of
arguments and returns something JSON-able. The same function runs

- from the console's admin pages, with the signed-in admin as ``ctx.actor`` and the
  running node as ``ctx.node``;
- from ``quietline program ...`` on a stopped keystore (the CLI opens it, ``ctx.node``
  is ``None``), and
- from ``quietline program ...`` while ``program run`` holds the keystore: the CLI sends
  the operation over the node's control socket (:mod:`console.admin.control`) and the
  running node carries it out, so its state and the keystore never diverge.

Operation modules register themselves when imported: every module of this package
other than the machinery (:data:`MACHINERY`) is one, and :func:`load_operations`
imports them all (the console and the CLI call it). A new family of operations is a new
module here, nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from console.admin.context import AdminContext
from console.admin.registry import OPERATIONS, Operation, call, operation

__all__ = [
    "MACHINERY",
    "OPERATIONS",
    "AdminContext",
    "Operation",
    "call",
    "load_operations",
    "operation",
]

# The modules of this package that are not operations.
MACHINERY = frozenset({"context", "registry", "control", "runner"})


def load_operations() -> None:
    """Import every operation module (registration is a side effect of the import)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in MACHINERY and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
