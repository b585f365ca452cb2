"""Saved replies: the program's own library, in any language and script, in groups.

- ``replies.list``: every saved reply (id, group, title, text), by group then title.
- ``replies.add`` ``{group, title, text}``, ``replies.edit`` ``{id, group?, title?,
  text?}``, ``replies.remove`` ``{id}``.

Text is kept as written (Unicode NFC; any script; new lines kept); the console shows it
with ``dir="auto"`` so right-to-left text reads right. Staff see a change the next time
their shift screen connects (a reload, or the live link reconnecting).
"""

from __future__ import annotations

from typing import Any

from console.accounts import Role
from console.admin._args import opt_text, text
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.replies import SavedReplies


def _replies(ctx: AdminContext) -> SavedReplies:
    return ctx.node.replies if ctx.node is not None else SavedReplies(ctx.keystore)


@operation("replies.list")
async def replies_list(ctx: AdminContext, args: dict[str, Any]) -> list[dict[str, str]]:
    """Every saved reply, by group then title."""
    ctx.require(Role.ADMIN)
    return [r.to_json() for r in _replies(ctx).list()]


@operation("replies.add")
async def replies_add(ctx: AdminContext, args: dict[str, Any]) -> dict[str, str]:
    """Add a saved reply to a group."""
    ctx.require(Role.ADMIN)
    reply = _replies(ctx).add(text(args, "group"), text(args, "title"), text(args, "text"))
    await ctx.save()
    ctx.changed()
    return reply.to_json()


@operation("replies.edit")
async def replies_edit(ctx: AdminContext, args: dict[str, Any]) -> dict[str, str]:
    """Change a saved reply's group, title or text."""
    ctx.require(Role.ADMIN)
    reply = _replies(ctx).edit(
        text(args, "id", "saved reply's id"),
        group=opt_text(args, "group"),
        title=opt_text(args, "title"),
        text=opt_text(args, "text"),
    )
    await ctx.save()
    ctx.changed()
    return reply.to_json()


@operation("replies.remove")
async def replies_remove(ctx: AdminContext, args: dict[str, Any]) -> dict[str, str]:
    """Remove a saved reply."""
    ctx.require(Role.ADMIN)
    reply_id = text(args, "id", "saved reply's id")
    _replies(ctx).remove(reply_id)
    await ctx.save()
    ctx.changed()
    return {"id": reply_id}
