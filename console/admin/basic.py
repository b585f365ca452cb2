"""The operations every program has: what this node is.

- ``node.info``: the program's name, id and identity fingerprint, the relay's URL,
  and whether the node is running.
"""

from __future__ import annotations

from typing import Any

from client_sdk import publishing, store
from console.accounts import Role
from console.admin.context import AdminContext
from console.admin.registry import operation
from e2ee.encoding import b64u_encode
from e2ee.identity import fingerprint


@operation("node.info")
async def node_info(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """What this node is: program name, id, fingerprint, relay, running or not."""
    ctx.require(Role.SUPERVISOR)
    identity = publishing.load_identity(ctx.keystore)
    program = store.get_json(ctx.keystore, store.PROGRAM) or {}
    content = store.get_json(ctx.keystore, store.PROFILE_CONTENT) or {}
    return {
        "name": content.get("name"),
        "program_id": b64u_encode(identity.program_id),
        "fingerprint": fingerprint(identity.public_key),
        "relay_url": program.get("relay_url"),
        "running": ctx.node is not None,
    }
