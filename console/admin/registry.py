"""The registry of admin operations: a dotted name -> an async function.

Security properties: arguments named in ``secret_args`` (a password, a code word) are
never logged or echoed back; an unknown operation and malformed arguments are refused
with :class:`~console.errors.NotAllowed` in plain words; the role check is the
operation's own first line (``ctx.require(Role.ADMIN)``), so the console and the CLI
share it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from console.admin.context import AdminContext
from console.errors import NotAllowed

__all__ = ["OPERATIONS", "Operation", "OperationFn", "call", "operation"]

OperationFn = Callable[[AdminContext, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One registered operation. ``needs_relay``: it talks to the relay (publishing, origins)."""

    name: str
    fn: OperationFn
    secret_args: frozenset[str] = frozenset()
    needs_relay: bool = False
    summary: str = ""

    def __repr__(self) -> str:
        return f"Operation({self.name!r})"


OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str, *, secret_args: tuple[str, ...] = (), needs_relay: bool = False
) -> Callable[[OperationFn], OperationFn]:
    """Register ``fn`` under ``name`` (e.g. ``"staff.add"``); its docstring's first line is
    its summary. Registering one name twice is a programming error."""

    def register(fn: OperationFn) -> OperationFn:
        if name in OPERATIONS:
            raise RuntimeError(f"admin operation {name!r} registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        OPERATIONS[name] = Operation(name, fn, frozenset(secret_args), needs_relay, summary)
        return fn

    return register


async def call(ctx: AdminContext, name: str, args: dict[str, Any] | None = None) -> Any:
    """Run operation ``name`` with ``args`` in ``ctx``; refuses unknown names and non-dicts."""
    op = OPERATIONS.get(name)
    if op is None:
        raise NotAllowed(f"There is no operation called {name!r}.")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise NotAllowed("The operation's arguments must be a JSON object.")
    return await op.fn(ctx, args)
