"""Statistics operations: read a period (suppressed), export it as CSV, the settings.

- ``stats.show``: ``{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`` or ``{"days": N}``
  (the last N days, today included, in the program's time zone; default 7): every
  metric with small counts as "fewer than N" (:mod:`console.stat_report`).
- ``stats.csv``: the same period as CSV text (``{"filename", "csv"}``).
- ``stats.settings``: with no argument, the settings; ``{"threshold": N}`` and/or
  ``{"answers": {question id: [answer, ...]}}`` change them (admin only).

Reading is for supervisors and admins. The raw counts never leave this module: every
answer goes through :func:`console.stat_report.report`.
"""

from __future__ import annotations

from typing import Any

from console.accounts import Role
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import NotAllowed
from console.stat_report import report, to_csv
from console.statistics import (
    Statistics,
    StatSettings,
    check_choices,
    check_threshold,
    period,
    questions,
)


def _stats(ctx: AdminContext) -> Statistics:
    if ctx.node is not None:
        return ctx.node.statistics.stats
    return Statistics(ctx.keystore)


def _only(args: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise NotAllowed(f"{extra[0]}: not something this operation takes.")


def _report(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    _only(args, {"from", "to", "days"})
    stats = _stats(ctx)
    first, last = period(args, stats.day(ctx.now()))
    return report(stats, first, last)


@operation("stats.show")
async def stats_show(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """A period's statistics, small counts shown as "fewer than N"."""
    ctx.require(Role.SUPERVISOR)
    return _report(ctx, args)


@operation("stats.csv")
async def stats_csv(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """A period's statistics as CSV text (small counts in words)."""
    ctx.require(Role.SUPERVISOR)
    data = _report(ctx, args)
    return {"filename": f"statistics-{data['from']}-to-{data['to']}.csv", "csv": to_csv(data)}


@operation("stats.settings")
async def stats_settings(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """The statistics settings: the small-count threshold and the counted answers."""
    _only(args, {"threshold", "answers"})
    stats = _stats(ctx)
    current = stats.settings()
    if not args:
        ctx.require(Role.SUPERVISOR)
        return {**current.to_json(), "questions": questions(stats.keystore)}
    ctx.require(Role.ADMIN)
    threshold = current.threshold
    if "threshold" in args:
        threshold = check_threshold(args["threshold"])
    answers = dict(current.answers)
    if "answers" in args:
        given = args["answers"]
        if not isinstance(given, dict):
            raise NotAllowed("answers: give an object of question id -> list of answers.")
        known = questions(stats.keystore)
        for qid, choices in given.items():
            checked = check_choices(qid, choices, known)
            if checked:
                answers[qid] = checked
            else:
                answers.pop(qid, None)
    new = StatSettings(threshold, answers)
    stats.set_settings(new)
    await ctx.save()
    return {**new.to_json(), "questions": questions(stats.keystore)}
