"""The shift rules as the program's own settings, sealed in the keystore.

The guide's rules at the end of a shift and for quiet conversations are numbers a
program chooses: the last-minutes buffer (no new conversation in the last N minutes of
a shift), the hand-off of open conversations when a shift ends, the inactivity warning
and close times, the console's idle sign-out, and the most conversations one person
holds at once. They are kept in one record (``console/rules``, JSON) and applied

- at start: :func:`console.staffing.build_workflow` builds the workflow with them, and
  the web app takes its idle sign-out from them (:meth:`ShiftRules.idle`);
- at once on a running node: the admin operation ``rules.set`` stores them and
  :meth:`console.node.ConsoleNode.admin_changed` replaces the workflow's settings and
  the web sessions' idle time.

A program that never set them gets the workflow's defaults (and the console's own idle
sign-out setting).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from client_sdk import store
from client_sdk import workflow as wf
from client_sdk.keystore import Keystore
from console.errors import NotAllowed

__all__ = ["FIELDS", "RULES", "ShiftRules", "load", "save", "stored"]

RULES = "console/rules"

# name -> (plain words, least, most); every rule is a whole number (minutes or count),
# except ``handoff`` (yes/no).
FIELDS: dict[str, tuple[str, int, int]] = {
    "last_minutes": ("the last minutes of a shift with no new conversation", 0, 240),
    "warn_minutes": ("minutes of participant silence before the inactivity notice", 1, 240),
    "close_minutes": ("further minutes of silence before the conversation closes", 1, 240),
    "idle_minutes": ("minutes idle before the console signs someone out", 1, 24 * 60),
    "max_conversations": ("conversations one person holds at once", 1, 20),
}


@dataclass(frozen=True)
class ShiftRules:
    """The shift rules; the defaults are the workflow's (the guide's 30 minutes)."""

    last_minutes: int = 30
    handoff: bool = True
    warn_minutes: int = 10
    close_minutes: int = 5
    idle_minutes: int = 30
    max_conversations: int = 3

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShiftRules:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def changed(self, changes: dict[str, Any]) -> ShiftRules:
        """These rules with ``changes`` applied; refuses an unknown or bad value and says which."""
        values = self.to_json()
        for name, value in changes.items():
            if name == "handoff":
                if not isinstance(value, bool):
                    raise NotAllowed("handoff is yes or no (true or false).")
                values[name] = value
                continue
            if name not in FIELDS:
                raise NotAllowed(f"There is no shift rule called {name!r}.")
            words, least, most = FIELDS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                raise NotAllowed(f"{name} ({words}) must be a whole number from {least} to {most}.")
            values[name] = value
        return ShiftRules(**values)

    def workflow_settings(self, base: wf.WorkflowSettings | None = None) -> wf.WorkflowSettings:
        """``base`` (default: the workflow's defaults) with these rules."""
        return dataclasses.replace(
            base or wf.WorkflowSettings(),
            shift_end_buffer=timedelta(minutes=self.last_minutes),
            inactivity_warning_after=timedelta(minutes=self.warn_minutes),
            inactivity_close_after=timedelta(minutes=self.close_minutes),
            max_active_per_staff=self.max_conversations,
            auto_handoff_at_shift_end=self.handoff,
        )

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.idle_minutes)


def stored(keystore: Keystore) -> ShiftRules | None:
    """The rules the program set, or None when it never did."""
    data = store.get_json(keystore, RULES)
    return ShiftRules.from_json(data) if isinstance(data, dict) else None


def load(keystore: Keystore) -> ShiftRules:
    """The rules in force: the program's, else the defaults."""
    return stored(keystore) or ShiftRules()


def save(keystore: Keystore, rules: ShiftRules) -> None:
    """Store ``rules`` (the caller saves the keystore)."""
    store.put_json(keystore, RULES, rules.to_json())
