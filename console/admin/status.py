"""The live status by hand: force ``outage`` or ``closed`` with a message, and clear it.

- ``status.show``: the state a participant sees now, its message, and the override.
- ``status.set {state: outage|closed, message}``: kept in the keystore (it survives a
  restart of the node) and, when the node runs, re-signed and published at once; when
  the node is stopped it is signed and published through one relay connection.
- ``status.clear``: back to the automatic rule (posted hours, who is on shift).

Security property: the status is signed with the identity key like every status, so
the relay cannot forge or keep it past its expiry; the message is public.
"""

from __future__ import annotations

from typing import Any

from client_sdk import publishing, store
from client_sdk import workflow as wf
from client_sdk.errors import SDKError
from client_sdk.transport import RelayHTTP
from console import staffing, status_override
from console.accounts import Role
from console.admin._relay import with_relay
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import NotAllowed
from e2ee.identity import MAX_STATUS_MESSAGE_LENGTH, sign_status

__all__: list[str] = []


def _keeper(ctx: AdminContext) -> wf.StatusKeeper:
    if ctx.node is not None and ctx.node.workflow.status is not None:
        return ctx.node.workflow.status
    keeper = wf.StatusKeeper()
    staffing.configure_status(keeper, ctx.keystore)
    return keeper


def _describe(ctx: AdminContext) -> dict[str, Any]:
    keeper = _keeper(ctx)
    override = status_override.load(ctx.keystore)
    current = keeper.current
    if ctx.node is not None:
        state, message = keeper.desired(
            ctx.now(), at_capacity=ctx.node.workflow.at_capacity(ctx.now())
        )
    else:
        state, message = keeper.desired(ctx.now())
    return {
        "state": (current.state.value if current is not None else state.value),
        "message": (current.message if current is not None else message),
        "expires_at": current.expires_at if current is not None else None,
        "rule_state": state.value,  # what the rule says now (published at the next tick)
        "override": override,
        "running": ctx.node is not None,
    }


async def _apply(ctx: AdminContext, override: dict[str, Any] | None) -> None:
    if ctx.node is not None:
        state = None if override is None else override["state"]
        message = None if override is None else override["message"]
        status_override.save(ctx.keystore, override)  # kept first: a failed publish is retried
        await ctx.save()
        try:
            await ctx.node.program.set_status(state, message)  # re-signed at once
        except (SDKError, OSError):
            ctx.changed()
            raise NotAllowed(
                "The status is kept, but the relay did not answer: the node publishes it "
                "as soon as the relay answers again."
            ) from None
        ctx.changed()
        return
    status_override.save(ctx.keystore, override)
    keeper = wf.StatusKeeper()
    staffing.configure_status(keeper, ctx.keystore)
    body = keeper.due(ctx.now())
    assert body is not None  # nothing published in this keeper: always due
    signed = sign_status(publishing.load_identity(ctx.keystore), body.to_status())

    async def put(http: RelayHTTP, program_id: str, token: str) -> None:
        await http.put_status(program_id, token, signed.to_json())

    await with_relay(ctx, put)
    store.put_json(ctx.keystore, store.PUBLISHED_STATUS, signed.to_json())
    await ctx.save()


@operation("status.show")
async def status_show(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """The status a participant sees now, and the override an admin set (if any)."""
    ctx.require(Role.ADMIN)
    return _describe(ctx)


@operation("status.set", needs_relay=True)
async def status_set(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Force outage or closed, with a message, until cleared."""
    ctx.require(Role.ADMIN)
    state = args.get("state")
    if state not in status_override.FORCEABLE:
        raise NotAllowed(f"The state must be outage or closed, not {state!r}.")
    message = args.get("message")
    if message is not None and not isinstance(message, str):
        raise NotAllowed("The message must be text.")
    message = (message or "").strip() or None
    if message is not None and len(message) > MAX_STATUS_MESSAGE_LENGTH:
        raise NotAllowed(
            f"The message is {len(message)} characters; at most {MAX_STATUS_MESSAGE_LENGTH}."
        )
    try:
        wf.StatusKeeper().set_override(wf.StatusState(state), message)
    except wf.InvalidSetting as exc:
        raise NotAllowed(f"The message is refused: {exc}.") from None
    await _apply(ctx, {"state": state, "message": message})
    return _describe(ctx)


@operation("status.clear", needs_relay=True)
async def status_clear(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Back to the automatic rule (posted hours, who is on shift)."""
    ctx.require(Role.ADMIN)
    await _apply(ctx, None)
    return _describe(ctx)
