"""A conversation's timeline as staff see it, and its short label.

Entries are JSON-able dicts (the contract's ``Entry``)::

    {"seq", "kind": "message|notice|marker|event", "from": "participant|staff|program",
     "staff_name", "text", "notice_kind", "marker", "at_ms"}

Timelines live in memory while the conversation is open. After a restart they are
rebuilt from the SDK's transcript, which the keystore seals (messages and notices;
staff names, markers and events of before the restart are not in it). Code words are
never in either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

__all__ = ["Timeline", "label_for"]

Entry = dict[str, Any]


def label_for(conversation_id: str, taken: Iterable[str] = ()) -> str:
    """A short, stable, human-friendly name: "Conversation 7F3A".

    Made from a hash of the opaque id; if another open conversation has the same label
    already, a longer one is used, so two conversations never share a name on screen
    (a reply must never go to the wrong person).
    """
    digest = hashlib.sha256(conversation_id.encode("utf-8")).hexdigest().upper()
    used = set(taken)
    for size in (4, 6, 8, 64):
        label = f"Conversation {digest[:size]}"
        if label not in used:
            return label
    return f"Conversation {digest}"  # pragma: no cover - a SHA-256 collision


class Timeline:
    """The entries of one open conversation, numbered from 1."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(
        self,
        kind: str,
        sender: str,
        text: str,
        at_ms: int,
        *,
        staff_name: str | None = None,
        notice_kind: str | None = None,
        marker: str | None = None,
    ) -> Entry:
        entry: Entry = {
            "seq": len(self.entries) + 1,
            "kind": kind,
            "from": sender,
            "staff_name": staff_name,
            "text": text,
            "notice_kind": notice_kind,
            "marker": marker,
            "at_ms": at_ms,
        }
        self.entries.append(entry)
        return entry

    @classmethod
    def from_transcript(cls, transcript: list[dict[str, Any]]) -> Timeline:
        """Rebuild from the SDK's transcript (``ProgramClient.transcript``)."""
        timeline = cls()
        for item in transcript:
            kind, at = str(item.get("t", "")), int(item.get("ts", 0))
            if item.get("from") == "participant":
                if kind == "text":
                    timeline.add("message", "participant", str(item.get("body", "")), at)
                elif kind == "answers":
                    timeline.add(
                        "notice", "participant", answers_text(item.get("answers", {})), at,
                        notice_kind="answers",
                    )  # fmt: skip
                elif kind == "duress":
                    timeline.add("event", "participant", DURESS_TEXT, at)
                elif kind == "close":
                    timeline.add("event", "participant", LEFT_TEXT, at)
            elif kind == "text":
                timeline.add("message", "staff", str(item.get("body", "")), at)
            elif kind == "notice":
                timeline.add(
                    "notice", "program", str(item.get("body", "")), at,
                    notice_kind=str(item.get("kind", "")) or None,
                )  # fmt: skip
        return timeline

    def last_notice_text(self, transcript: list[dict[str, Any]], kind: str) -> str | None:
        """The body of the newest notice of ``kind`` the program sent, in ``transcript``."""
        for item in reversed(transcript):
            if (item.get("from"), item.get("t"), item.get("kind")) == ("program", "notice", kind):
                return str(item.get("body", ""))
        return None


DURESS_TEXT = "The participant pressed the duress button: someone may be with them."
LEFT_TEXT = "The participant left the conversation."


def answers_text(answers: Any) -> str:
    """The participant's answers to the profile's questions, one per line."""
    if not isinstance(answers, dict):
        return ""
    return "\n".join(f"{k}: {v}" for k, v in answers.items())
