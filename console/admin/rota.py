"""Each staff member's weekly rota with exceptions, and the shift rules.

- ``rota.show`` ``{name?}``: each enabled account's weekly slots and exceptions, the
  program's time zone, the slot running now and whether the person is "due on shift"
  (in a slot, not on shift; only known while the node runs).
- ``rota.set`` ``{name, day, from, to}``: add a weekly slot (``day`` mon..sun, times
  HH:MM in the program's time zone; ``to`` at or before ``from`` runs overnight).
- ``rota.clear`` ``{name, day?}``: remove the weekly slots of a day, or all of them.
- ``rota.except`` ``{name, date, off?, from?, to?}``: the date off, and/or an extra slot
  on it (both: a changed slot). ``rota.unexcept`` ``{name, date}`` removes it.
- ``rules.show``; ``rules.set`` ``{last_minutes?, handoff?, warn_minutes?,
  close_minutes?, idle_minutes?, max_conversations?}`` (console/rules.py): applied by
  the running node at once.

How the rota drives shifts is in :mod:`console.rota`.
"""

from __future__ import annotations

from typing import Any

from console import rota, rules
from console.accounts import Account, Role, StaffAccounts
from console.admin._args import flag, opt_text, text
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import NotAllowed, NotFound


def _accounts(ctx: AdminContext) -> StaffAccounts:
    return ctx.node.accounts if ctx.node is not None else StaffAccounts(ctx.keystore)


def _find(ctx: AdminContext, args: dict[str, Any]) -> Account:
    name = text(args, "name", "staff member's name")
    account = _accounts(ctx).find(name)
    if account is None:
        raise NotFound(f"There is no staff account named {name}.")
    return account


def _entry(ctx: AdminContext, account: Account) -> dict[str, Any]:
    book = rota.Rota(ctx.keystore)
    zone = rota.program_zone(ctx.keystore)
    now = ctx.now()
    slot = book.current(account.staff_id, now, zone)
    on_shift = None
    if ctx.node is not None:
        member = ctx.node._member(account.staff_id)
        on_shift = member is not None and member.on_shift(now)
    entry = book.of(account.staff_id)
    return {
        "name": account.name,
        "weekly": [dict(s, day=rota.DAYS[s["day"]]) for s in entry["weekly"]],
        "exceptions": entry["exceptions"],
        "slot_now": None
        if slot is None
        else {
            "from": slot[0].astimezone(zone).isoformat(),
            "to": slot[1].astimezone(zone).isoformat(),
        },
        "on_shift": on_shift,
        "due": slot is not None and on_shift is False,
    }


async def _done(ctx: AdminContext, account: Account) -> dict[str, Any]:
    await ctx.save()
    ctx.changed()
    return _entry(ctx, account)


@operation("rota.show")
async def rota_show(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Each staff member's weekly rota and exceptions, and who is due on shift now."""
    ctx.require(Role.ADMIN)
    if args.get("name") is not None:
        people = [_find(ctx, args)]
    else:
        people = [a for a in _accounts(ctx).list() if not a.disabled]
    return {
        "timezone": rota.program_zone(ctx.keystore).key,
        "staff": [_entry(ctx, a) for a in people],
    }


@operation("rota.set")
async def rota_set(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Add a weekly slot to a staff member's rota."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    rota.Rota(ctx.keystore).add_slot(
        account.staff_id, args.get("day"), args.get("from"), args.get("to")
    )
    return await _done(ctx, account)


@operation("rota.clear")
async def rota_clear(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a staff member's weekly slots of one day, or all of them."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    rota.Rota(ctx.keystore).clear(account.staff_id, args.get("day"))
    return await _done(ctx, account)


@operation("rota.except")
async def rota_except(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """A date off, or an extra or changed slot on a date."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    rota.Rota(ctx.keystore).set_exception(
        account.staff_id,
        text(args, "date"),
        off=flag(args, "off"),
        start=opt_text(args, "from"),
        end=opt_text(args, "to"),
    )
    return await _done(ctx, account)


@operation("rota.unexcept")
async def rota_unexcept(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove the exception of a date."""
    ctx.require(Role.ADMIN)
    account = _find(ctx, args)
    rota.Rota(ctx.keystore).clear_exception(account.staff_id, text(args, "date"))
    return await _done(ctx, account)


def _rules_json(found: rules.ShiftRules) -> dict[str, Any]:
    return found.to_json()


@operation("rules.show")
async def rules_show(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """The shift rules in force."""
    ctx.require(Role.ADMIN)
    return _rules_json(rules.load(ctx.keystore))


@operation("rules.set")
async def rules_set(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Change shift rules; the running node applies them at once."""
    ctx.require(Role.ADMIN)
    if not args:
        raise NotAllowed("Say which rule to change, e.g. last_minutes.")
    changed = rules.load(ctx.keystore).changed(args)
    rules.save(ctx.keystore, changed)
    await ctx.save()
    ctx.changed()
    return _rules_json(changed)
