"""Code words: list (alias, date set, rotation due), add, rotate, remove.

- ``codewords.list``: each alias, the date its word was set, whether it is due to be
  changed (older than the policy's rotation time).
- ``codewords.add`` ``{alias, word}``: a new alias (refused if it exists: rotate it).
- ``codewords.rotate`` ``{alias, word}``: a new word for an existing alias; its date
  starts again.
- ``codewords.remove`` ``{alias}``.

Security properties: ``word`` is a secret argument, never logged or echoed (answers
name the alias only); only an Argon2id hash is stored (``codeword/<alias>``, sealed in
the keystore, :class:`client_sdk.workflow.CodeWordBook`). A running node uses the change
at once: the next check compares against the new word.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from client_sdk import store
from client_sdk import workflow as wf
from client_sdk.workflow.codewords import alias_key
from console.accounts import Role
from console.admin._args import text
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import Conflict, NotAllowed, NotFound


def _book(ctx: AdminContext) -> wf.CodeWordBook:
    if ctx.node is not None:
        return ctx.node.workflow.codewords
    book = wf.CodeWordBook()
    for name in ctx.keystore.names(store.CODE_WORD):
        raw = ctx.keystore.get(name)
        if raw is not None:
            book.add_record(wf.CodeWordRecord.from_bytes(raw))
    return book


def _alias(args: dict[str, Any]) -> str:
    try:
        return alias_key(text(args, "alias", "code word's name (alias)"))
    except wf.WorkflowError as exc:
        raise NotAllowed(f"That name cannot be used: {exc}.") from None


def _row(record: wf.CodeWordRecord, book: wf.CodeWordBook, now: datetime) -> dict[str, Any]:
    return {
        "alias": record.alias,
        "set_on": record.set_at.date().isoformat(),
        "rotation_due": record.rotation_due(now, book.policy.rotate_after),
    }


async def _set(ctx: AdminContext, args: dict[str, Any], *, exists: bool) -> dict[str, Any]:
    ctx.require(Role.ADMIN)
    alias = _alias(args)
    word = args.get("word")
    if not isinstance(word, str) or not word:
        raise NotAllowed("Give the code word.")
    book = _book(ctx)
    if exists and book.get(alias) is None:
        raise NotFound(f"There is no code word named {alias}.")
    if not exists and book.get(alias) is not None:
        raise Conflict(f"There is already a code word named {alias}: rotate it instead.")
    try:
        record = book.set(alias, word, ctx.now())
    except wf.WorkflowError as exc:
        raise NotAllowed(f"That code word cannot be used: {exc}.") from None
    ctx.keystore.put(f"{store.CODE_WORD}{record.alias}", record.to_bytes())
    await ctx.save()
    ctx.changed()
    return _row(record, book, ctx.now())


@operation("codewords.list")
async def codewords_list(ctx: AdminContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Each code word's name, the date it was set, and whether it is time to change it."""
    ctx.require(Role.ADMIN)
    book = _book(ctx)
    return [_row(r, book, ctx.now()) for r in book.records()]


@operation("codewords.add", secret_args=("word",))
async def codewords_add(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Add a code word under a new name."""
    return await _set(ctx, args, exists=False)


@operation("codewords.rotate", secret_args=("word",))
async def codewords_rotate(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a new word for an existing name (its date starts again)."""
    return await _set(ctx, args, exists=True)


@operation("codewords.remove")
async def codewords_remove(ctx: AdminContext, args: dict[str, Any]) -> dict[str, str]:
    """Remove a code word."""
    ctx.require(Role.ADMIN)
    alias = _alias(args)
    book = _book(ctx)
    if book.get(alias) is None:
        raise NotFound(f"There is no code word named {alias}.")
    book.remove(alias)
    ctx.keystore.delete(f"{store.CODE_WORD}{alias}")
    await ctx.save()
    ctx.changed()
    return {"alias": alias}
