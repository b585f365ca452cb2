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

Operation modules register themselves when imported; :data:`OPERATION_MODULES` lists
them, and :func:`load_operations` imports them all (the console and the CLI call it).
"""

from __future__ import annotations

import importlib

from console.admin.context import AdminContext
from console.admin.registry import OPERATIONS, Operation, call, operation

__all__ = [
    "OPERATIONS",
    "OPERATION_MODULES",
    "AdminContext",
    "Operation",
    "call",
    "load_operations",
    "operation",
]

# Each module defines its operations with @operation; add a module here to expose it.
OPERATION_MODULES: tuple[str, ...] = ("console.admin.basic",)


def load_operations() -> None:
    """Import every operation module (registration is a side effect of the import)."""
    for name in OPERATION_MODULES:
        importlib.import_module(name)
