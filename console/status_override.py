"""The status an admin forced (``outage`` or ``closed``, with a message), kept sealed in
the keystore so it survives a restart of the node until an admin clears it.

:func:`apply` hands it to the workflow's :class:`~client_sdk.workflow.StatusKeeper`
(called whenever the node configures its status, :func:`console.staffing.configure_status`).
"""

from __future__ import annotations

from typing import Any

from client_sdk import store
from client_sdk import workflow as wf
from client_sdk.keystore import Keystore

__all__ = ["FORCEABLE", "KEY", "apply", "load", "save"]

KEY = "console/status-override"
FORCEABLE = ("outage", "closed")


def load(keystore: Keystore) -> dict[str, Any] | None:
    """``{"state": ..., "message": ...}`` or ``None`` when the automatic rule applies."""
    raw = store.get_json(keystore, KEY)
    if not isinstance(raw, dict) or raw.get("state") not in FORCEABLE:
        return None
    return {"state": raw["state"], "message": raw.get("message") or None}


def save(keystore: Keystore, override: dict[str, Any] | None) -> None:
    if override is None:
        keystore.delete(KEY)
    else:
        store.put_json(keystore, KEY, override)


def apply(keeper: wf.StatusKeeper, keystore: Keystore) -> None:
    """Give ``keeper`` the stored override (or none)."""
    override = load(keystore)
    if override is None:
        keeper.set_override(None)
    else:
        keeper.set_override(wf.StatusState(override["state"]), override["message"])
