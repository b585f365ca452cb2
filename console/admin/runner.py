"""How the CLI runs an admin operation: on the stopped keystore, or through the running node.

:func:`run` takes the keystore's lock. When it is free, the CLI opens the keystore with
the passphrase (asked only then), runs the operation with ``ctx.node = None``, saves
and closes. When ``program run`` holds it (:class:`~client_sdk.lock.KeystoreInUse`),
the operation goes to the node's control socket (:mod:`console.admin.control`) and
no passphrase is asked: the node carries it out on its own state, so a staff change,
a new profile or an outage status takes effect at once and nothing is overwritten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client_sdk.keystore import Keystore
from client_sdk.lock import KeystoreInUse, KeystoreLock
from console.admin import control, load_operations
from console.admin.context import AdminContext
from console.admin.registry import call

__all__ = ["run"]


def run(
    keystore: Path, passphrase: Callable[[], str], op: str, args: dict[str, Any] | None = None
) -> Any:
    """Run ``op`` for the CLI; its JSON-able result. Errors are :mod:`console.errors`."""
    load_operations()
    try:
        lock = KeystoreLock.acquire(keystore)
    except KeystoreInUse:
        return asyncio.run(control.request(keystore, op, args))
    try:
        ks = Keystore.open(keystore, passphrase())
        try:
            result = asyncio.run(call(AdminContext(ks), op, args))
            if ks.dirty:
                ks.save()
            return result
        finally:
            ks.close()
    finally:
        lock.release()
