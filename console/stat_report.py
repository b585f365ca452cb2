"""A period's statistics as people see them: small counts suppressed, as JSON or CSV.

Security property: this is the only way counts leave the node (console page, CLI, CSV),
and every count from 1 to ``threshold - 1`` leaves it as ``"fewer than N"`` with no
number (``count`` is ``None``). Zero stays zero: nothing happened is no one's secret.
When a metric would hide exactly one count, its smallest other count is hidden too
(:data:`HIDDEN`), so the hidden one cannot be worked out by subtracting from a total.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from console.statistics import (
    HOURS,
    METRICS,
    WEEKDAYS,
    Statistics,
    questions,
)

__all__ = ["cell", "report", "to_csv"]


HIDDEN = "not shown (it would tell a small count)"


def cell(raw: int, threshold: int) -> dict[str, Any]:
    """One count as shown: the number, or ``None`` and "fewer than N"."""
    if 0 < raw < threshold:
        return {"count": None, "text": f"fewer than {threshold}", "suppressed": True}
    return {"count": raw, "text": str(raw), "suppressed": False}


def _metric(
    name: str, title: str, buckets: list[tuple[str, str]], totals: dict[tuple[str, str], int],
    threshold: int,
) -> dict[str, Any]:  # fmt: skip
    rows = [
        {"bucket": b, "label": label, **cell(totals.get((name, b), 0), threshold)}
        for b, label in buckets
    ]
    _complement(rows)
    return {"metric": name, "title": title, "rows": rows}


def _complement(rows: list[dict[str, Any]]) -> None:
    """One small count hidden alone could be worked out from the total (the figures of a
    metric add up to the conversations of the period, or close): then the smallest other
    count of the metric is hidden too."""
    if sum(r["suppressed"] for r in rows) != 1:
        return
    others = [r for r in rows if not r["suppressed"] and r["count"]]
    if others:
        smallest = min(others, key=lambda r: r["count"])
        smallest.update(count=None, text=HIDDEN, suppressed=True)


def report(stats: Statistics, first: date, last: date) -> dict[str, Any]:
    """Every metric over the days ``first`` to ``last``, small counts suppressed."""
    settings = stats.settings()
    threshold = settings.threshold
    totals = stats.totals(first, last)
    arrived = sum(v for (m, _b), v in totals.items() if m == "arrived")
    metrics: list[dict[str, Any]] = [
        {
            "metric": "conversations",
            "title": "Conversations",
            "rows": [
                {"bucket": "all", "label": "conversations that started", **cell(arrived, threshold)}
            ],
        }
    ]
    week = [(f"{d}/{h}", f"{WEEKDAYS[d]} {h}:00") for d in range(7) for h in HOURS]
    hour_of_week = _metric(
        "arrived", "Conversations by hour of the week they started", week, totals, threshold
    )
    hour_of_week["kind"] = "week"
    metrics.append(hour_of_week)
    for name, (title, fixed) in METRICS.items():
        if name != "arrived":
            metrics.append(_metric(name, title, list(fixed), totals, threshold))
    asked = questions(stats.keystore)
    seen = {m.removeprefix("answers/") for (m, _b) in totals if m.startswith("answers/")}
    for qid in [*asked, *sorted(seen - set(asked))]:
        listed = settings.answers.get(qid)
        if listed:
            buckets = [(c, c) for c in listed] + [("other", "another answer")]
        else:
            buckets = [("answered", "answered")]
        known = {b for b, _ in buckets}
        buckets += sorted((b, b) for (m, b) in totals if m == f"answers/{qid}" and b not in known)
        title = f"Answers: {asked.get(qid, qid)}"
        metrics.append(_metric(f"answers/{qid}", title, buckets, totals, threshold))
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": (last - first).days + 1,
        "timezone": stats.day_zone().key,
        "threshold": threshold,
        "metrics": metrics,
    }


def _safe(text: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(data: dict[str, Any]) -> str:
    """The report as CSV: one row per counted thing; suppressed counts say so in words."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["from", "to", "metric", "title", "bucket", "label", "count"])
    for metric in data["metrics"]:
        for row in metric["rows"]:
            writer.writerow(
                [
                    data["from"], data["to"], metric["metric"], _safe(metric["title"]),
                    _safe(row["bucket"]), _safe(row["label"]), row["text"],
                ]
            )  # fmt: skip
    return out.getvalue()
