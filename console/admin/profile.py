"""The program's profile (what a participant sees before a chat), edited by an admin.

- ``profile.show``: the content as published (every default filled in), its version.
- ``profile.set {content}``: check it by the rules of ``program init`` (every refusal
  names the key as a dotted path), sign it with the identity key and publish it (the
  running node, or one authenticated relay connection when the node is stopped), then
  keep it as a new version. The posted hours and alternatives take effect at once.
- ``profile.history``: the kept versions, newest first (at most :data:`KEEP`).
- ``profile.restore {version}``: publish a kept version again, as a new version.

Security property: nothing is stored before the relay accepted the signed profile, so
a refused profile or an unreachable relay leaves the program as it was; the profile is
public (the relay serves it to anyone), so the history holds nothing secret.
"""

from __future__ import annotations

import contextlib
from typing import Any

from client_sdk import profile_content, publishing, store
from client_sdk import workflow as wf
from client_sdk.errors import SDKError
from client_sdk.transport import RelayHTTP
from console.accounts import Role
from console.admin._relay import via_node, with_relay
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import NotAllowed, NotFound
from e2ee.identity import sign_profile

__all__ = ["HISTORY", "KEEP"]

HISTORY = "console/profile-history"
KEEP = 20


def _complete(content: object, now: int) -> dict[str, Any]:
    try:
        complete = profile_content.complete_content(content, publishing.DEFAULT_PROFILE, now)
        profile_content.to_profile(complete, now)
    except profile_content.ProfileError as exc:
        raise NotAllowed(f"The profile key {exc.key}: {exc.problem}.") from None
    return complete


def _history(ctx: AdminContext) -> list[dict[str, Any]]:
    kept = store.get_json(ctx.keystore, HISTORY)
    if isinstance(kept, list) and kept:
        return kept
    # Before the first change: the profile `program init` published is version 1.
    content = store.get_json(ctx.keystore, store.PROFILE_CONTENT) or {}
    return [
        {
            "version": 1,
            "saved_at": None,
            "note": "as published by program init",
            "content": _complete(content, int(ctx.now().timestamp())),
        }
    ]


async def publish(ctx: AdminContext, content: object, note: str) -> dict[str, Any]:
    """Check, sign and publish ``content``; keep it as a new version. Its history entry."""
    now = int(ctx.now().timestamp())
    complete = _complete(content, now)
    history = _history(ctx)
    if ctx.node is not None:
        await via_node(ctx.node.program.publish_profile(complete))
    else:
        signed = sign_profile(
            publishing.load_identity(ctx.keystore), publishing.profile_from_content(complete, now)
        )

        async def put(http: RelayHTTP, program_id: str, token: str) -> None:
            await http.put_profile(program_id, token, signed.to_json())

        await with_relay(ctx, put)
        store.put_json(ctx.keystore, store.PROFILE_CONTENT, complete)
        store.put_json(ctx.keystore, store.PUBLISHED_PROFILE, signed.to_json())
    entry = {
        "version": history[0]["version"] + 1,
        "saved_at": now,
        "note": note,
        "content": complete,
    }
    store.put_json(ctx.keystore, HISTORY, [entry, *history][:KEEP])
    await ctx.save()
    ctx.changed()
    if ctx.node is not None:
        # the status follows the new hours now (if the relay does not answer, the next
        # tick publishes it: the profile itself is published and kept already)
        with contextlib.suppress(SDKError, OSError, wf.WorkflowError):
            await ctx.node.program.tick()
    return entry


@operation("profile.show")
async def profile_show(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """The profile as published, every default filled in, and its version."""
    ctx.require(Role.ADMIN)
    latest = _history(ctx)[0]
    content = store.get_json(ctx.keystore, store.PROFILE_CONTENT) or {}
    return {
        "version": latest["version"],
        "saved_at": latest["saved_at"],
        "content": _complete(content, int(ctx.now().timestamp())),
        "defaults": publishing.DEFAULT_PROFILE,
    }


@operation("profile.set", needs_relay=True)
async def profile_set(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Check, re-sign and publish a new profile (the previous one is kept)."""
    ctx.require(Role.ADMIN)
    if "content" not in args:
        raise NotAllowed('Give the profile as {"content": {...}}.')
    entry = await publish(ctx, args["content"], "changed")
    return {"version": entry["version"], "saved_at": entry["saved_at"]}


@operation("profile.history")
async def profile_history(ctx: AdminContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """The kept versions of the profile, newest first."""
    ctx.require(Role.ADMIN)
    return _history(ctx)


@operation("profile.restore", needs_relay=True)
async def profile_restore(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Publish a kept version again (as a new version)."""
    ctx.require(Role.ADMIN)
    version = args.get("version")
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotAllowed("The version must be a number from `profile history`.")
    history = _history(ctx)
    kept = next((e for e in history if e["version"] == version), None)
    if kept is None:
        known = ", ".join(str(e["version"]) for e in history)
        raise NotFound(f"There is no kept version {version} (kept: {known}).")
    entry = await publish(ctx, kept["content"], f"restored from version {version}")
    return {"version": entry["version"], "saved_at": entry["saved_at"], "restored": version}
