"""Staff accounts: list, add, change role, reset password, disable, enable.

- ``staff.list``: every account (name, role, disabled; on shift when the node runs).
- ``staff.add`` ``{name, role, password}``, ``staff.role`` ``{name, role}``,
  ``staff.passwd`` ``{name, password}``, ``staff.disable`` ``{name}``,
  ``staff.enable`` ``{name}``.

Security properties: ``password`` is a secret argument (never logged, never in an
answer); it is kept only as an Argon2id hash (:mod:`console.accounts`), made off the
running node's event loop in its bounded password pool (:mod:`console.passwords`). A
password reset on a running node signs the person out of every browser (whoever used
the old password keeps no session). Disabling an account on a running node goes through
the node's own path (:meth:`console.actions.ConsoleActions.disable_account`): the person
is signed out in every browser at once and their conversations are handed to
colleagues. Nobody can disable their own account, and the last enabled admin can be
neither disabled nor made a support worker or supervisor (the program would have
nobody to run it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from console.accounts import Account, Role, StaffAccounts, check_password
from console.admin._args import text
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import NotAllowed, NotFound

ROLE_WORDS = {"worker": "support worker", "supervisor": "supervisor", "admin": "admin"}


def _accounts(ctx: AdminContext) -> StaffAccounts:
    return ctx.node.accounts if ctx.node is not None else StaffAccounts(ctx.keystore)


async def _hash(ctx: AdminContext, accounts: StaffAccounts, password: object) -> str:
    """The Argon2id hash of a new password: in the running node's password pool (never
    on its event loop, bounded), or in a thread for the CLI on a stopped keystore."""
    if not isinstance(password, str):
        raise NotAllowed("Give a password.")
    clean = check_password(password)
    if ctx.node is not None:
        return await ctx.node.passwords.run(accounts.make_hash, clean)
    return await asyncio.to_thread(accounts.make_hash, clean)


def _role(args: dict[str, Any]) -> Role:
    value = args.get("role")
    try:
        return Role(str(value))
    except ValueError:
        raise NotAllowed("The role must be worker, supervisor or admin.") from None


def _find(ctx: AdminContext, args: dict[str, Any]) -> Account:
    name = text(args, "name", "staff member's name")
    account = _accounts(ctx).find(name)
    if account is None:
        raise NotFound(f"There is no staff account named {name}.")
    return account


def _keep_an_admin(ctx: AdminContext, account: Account) -> None:
    admins = [a for a in _accounts(ctx).list() if a.role is Role.ADMIN and not a.disabled]
    if account.role is Role.ADMIN and [a.staff_id for a in admins] == [account.staff_id]:
        raise NotAllowed(f"{account.name} is the only admin: make someone else admin first.")


def _row(ctx: AdminContext, account: Account) -> dict[str, Any]:
    row: dict[str, Any] = {
        "staff_id": account.staff_id,
        "name": account.name,
        "role": account.role.value,
        "role_words": ROLE_WORDS[account.role.value],
        "disabled": account.disabled,
        "on_shift": False,
    }
    if ctx.node is not None and not account.disabled:
        member = ctx.node._member(account.staff_id)
        row["on_shift"] = member is not None and member.on_shift(ctx.now())
    return row


@operation("staff.list")
async def staff_list(ctx: AdminContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every staff account: name, role, disabled, on shift."""
    ctx.require(Role.ADMIN)
    return [_row(ctx, a) for a in _accounts(ctx).list()]


@operation("staff.add", secret_args=("password",))
async def staff_add(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Add a staff account with a role and a first password."""
    ctx.require(Role.ADMIN)
    name = text(args, "name", "staff member's name")
    role = _role(args)
    accounts = _accounts(ctx)
    accounts.check_free(name)  # before the slow part
    account = accounts.add_hashed(name, role, await _hash(ctx, accounts, args.get("password")))
    await ctx.save()
    ctx.changed()
    return _row(ctx, account)


@operation("staff.role")
async def staff_role(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Change a staff member's role."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    role = _role(args)
    if role is not Role.ADMIN:
        _keep_an_admin(ctx, account)
    changed = _accounts(ctx).set_role(account.staff_id, role)
    await ctx.save()
    ctx.changed()
    return _row(ctx, changed)


@operation("staff.passwd", secret_args=("password",))
async def staff_passwd(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a new password for a staff member."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    accounts = _accounts(ctx)
    accounts.set_password_hash(account.staff_id, await _hash(ctx, accounts, args.get("password")))
    await ctx.save()
    if ctx.node is not None:  # whoever used the old password is signed out
        ctx.node.end_sessions(account.staff_id)
    return _row(ctx, account)


@operation("staff.disable")
async def staff_disable(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Stop an account from signing in (signed out everywhere, work handed off)."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    if ctx.actor is not None and ctx.actor.staff_id == account.staff_id:
        raise NotAllowed("You cannot disable your own account.")
    if account.disabled:
        return _row(ctx, account)
    _keep_an_admin(ctx, account)
    if ctx.node is not None:
        await ctx.node.disable_account(ctx.actor, account.staff_id)
    else:
        _accounts(ctx).disable(account.staff_id)
        await ctx.save()
    found = _accounts(ctx).get(account.staff_id)
    assert found is not None
    return _row(ctx, found)


@operation("staff.enable")
async def staff_enable(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Let a disabled account sign in again."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    changed = _accounts(ctx).enable(account.staff_id)
    await ctx.save()
    ctx.changed()
    return _row(ctx, changed)
