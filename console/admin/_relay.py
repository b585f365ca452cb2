"""Talking to the relay for a settings operation: through the running node, or, when the
node is stopped, through one authenticated connection made from the keystore.

Security property: the stopped-node path signs the relay's challenge with the identity
key held in the opened keystore (label ``relay-auth``, as the node does) and uses the
session token for this one operation only; nothing is written to the keystore before
the relay accepted the signed object, so a refused or unreachable relay leaves the
program exactly as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from client_sdk import publishing, store
from client_sdk.errors import SDKError
from client_sdk.transport import RelayHTTP, relay_origin
from console.admin.context import AdminContext
from console.errors import NotAllowed, SetupError
from e2ee.encoding import b64u_encode

__all__ = ["RelayRefused", "with_relay"]


class RelayRefused(NotAllowed):
    """The relay refused or could not be reached: nothing was changed."""


async def with_relay(
    ctx: AdminContext, work: Callable[[RelayHTTP, str, str], Awaitable[Any]]
) -> Any:
    """Run ``work(http, program_id, token)`` with a fresh session on the program's relay
    (the node is stopped). Relay failures become :class:`RelayRefused` in plain words."""
    program = store.get_json(ctx.keystore, store.PROGRAM) or {}
    url = program.get("relay_url")
    if not url:
        raise SetupError("This keystore names no relay: run `program init` first.")
    identity = publishing.load_identity(ctx.keystore)
    http = RelayHTTP(str(url))
    try:
        token, _ = await publishing.authenticate(http, identity, relay_origin(str(url)))
        return await work(http, b64u_encode(identity.program_id), token)
    except (SDKError, OSError) as exc:
        raise RelayRefused(
            f"The relay at {url} refused or did not answer ({exc}). Nothing was changed."
        ) from None
    finally:
        await http.aclose()


async def via_node(call: Awaitable[Any]) -> Any:
    """Await a running node's relay call; relay failures in plain words."""
    try:
        return await call
    except (SDKError, OSError) as exc:
        raise RelayRefused(
            f"The relay refused or did not answer ({exc}). Nothing was changed."
        ) from None
