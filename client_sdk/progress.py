"""What the participant is told while waiting and chatting, end to end encrypted.

The node tells each participant, inside their ratchet session (never to the relay in the
clear): their place in the queue (``queue``, sent when it changes), that a support worker
joined and the name that worker chose to show (``joined``: the staff member's
``display_name``, a first name or an alias), how many of their messages the program has
received (``delivered``), and that a worker is writing (``typing``). docs/threat-model.md
says what the relay learns from when these messages are sent.

The bookkeeping is :class:`ParticipantProgress` (no I/O: actions and events in, payloads
out); :func:`after_actions`, :func:`after_events` and :func:`send_typing` are the node's
hooks, called by ``ProgramClient`` after it ran workflow actions and after it showed
received events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from client_sdk import events as ev
from client_sdk import workflow as wf
from client_sdk.errors import SDKError
from e2ee import payload as pl

if TYPE_CHECKING:
    from client_sdk.node.actions import NodeActions as ProgramClient

__all__ = [
    "TYPING_MIN_INTERVAL_MS",
    "ParticipantProgress",
    "after_actions",
    "after_events",
    "send_typing",
]

TYPING_MIN_INTERVAL_MS = 3000
"""At most one "is typing" per conversation in this time (fewer messages, less to time)."""


@dataclass
class ParticipantProgress:
    """Which queue position and delivered count each participant was last told."""

    positions: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    typing_at: dict[str, int] = field(default_factory=dict)

    def updates_after(
        self, workflow: wf.Workflow, actions: Iterable[wf.Action], now_ms: int
    ) -> list[tuple[str, pl.Payload]]:
        """``joined`` for each new assignment, then ``queue`` for every changed place."""
        out: list[tuple[str, pl.Payload]] = []
        for action in actions:
            if isinstance(action, wf.Assigned):
                try:
                    name = workflow.staff(action.staff_id).display_name.strip()
                except wf.WorkflowError:
                    name = ""
                if name:
                    out.append((action.conversation_id, pl.Joined(name[:64], now_ms)))
        waiting = workflow.waiting()
        for cid in [c for c in self.positions if c not in waiting]:
            del self.positions[cid]
        for place, cid in enumerate(waiting, start=1):
            if self.positions.get(cid) != place:
                self.positions[cid] = place
                out.append((cid, pl.Queue(min(place, pl.MAX_QUEUE_POSITION), now_ms)))
        return out

    def delivered_after(self, events: Iterable[Any], now_ms: int) -> list[tuple[str, pl.Payload]]:
        """One ``delivered`` per conversation that received text messages."""
        changed: list[str] = []
        for event in events:
            if isinstance(event, ev.Message):
                cid = event.conversation_id
                self.received[cid] = self.received.get(cid, 0) + 1
                if cid not in changed:
                    changed.append(cid)
            elif isinstance(event, ev.ConversationClosedEvent):
                self.forget(event.conversation_id)
        return [(cid, pl.Delivered(self.received[cid], now_ms)) for cid in changed
                if cid in self.received]  # fmt: skip

    def typing_allowed(self, cid: str, active: bool, now_ms: int) -> bool:
        if not active:
            self.typing_at.pop(cid, None)
            return True
        last = self.typing_at.get(cid)
        if last is not None and now_ms - last < TYPING_MIN_INTERVAL_MS:
            return False
        self.typing_at[cid] = now_ms
        return True

    def forget(self, cid: str) -> None:
        self.positions.pop(cid, None)
        self.received.pop(cid, None)
        self.typing_at.pop(cid, None)


def _progress(client: ProgramClient) -> ParticipantProgress:
    state = getattr(client, "_participant_progress", None)
    if state is None:
        state = ParticipantProgress()
        client._participant_progress = state  # type: ignore[attr-defined]
    return state


async def _send_all(client: ProgramClient, updates: list[tuple[str, pl.Payload]]) -> None:
    for cid, payload in updates:
        c = client._conversations.get(cid)
        if c is None or c.participant_left:
            continue
        try:
            await client._send_payload(cid, payload)
        except SDKError:
            # Best effort: a lost update is sent again when it next changes.
            if isinstance(payload, pl.Queue):
                _progress(client).positions.pop(cid, None)


async def after_actions(client: ProgramClient, actions: Iterable[wf.Action]) -> None:
    """Hook: after the node ran workflow actions (tell joins and queue places)."""
    updates = _progress(client).updates_after(client.workflow, list(actions), client._now_ms())
    await _send_all(client, updates)


async def after_events(client: ProgramClient, events: Iterable[Any]) -> None:
    """Hook: after the node showed received events (tell what was delivered)."""
    await _send_all(client, _progress(client).delivered_after(events, client._now_ms()))


async def send_typing(client: ProgramClient, conversation_id: str, active: bool = True) -> bool:
    """Tell the participant a support worker is (or stopped) writing; rate-limited.
    Returns whether a message was sent."""
    if not _progress(client).typing_allowed(conversation_id, active, client._now_ms()):
        return False
    await _send_all(client, [(conversation_id, pl.Typing(active, client._now_ms()))])
    return True
