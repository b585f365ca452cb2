"""Saved replies: the program's canned messages, sealed in the keystore.

A saved reply has a group ("Greetings", "Safety planning"), a title shown in the list
and a text that the console inserts in the composer for the support worker to edit; it
is never sent by itself. Records: ``console/reply/<id>`` (JSON), sealed like every
record of the keystore. The caller saves the keystore after a change.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass

from client_sdk.keystore import Keystore
from console.errors import NotAllowed, NotFound
from e2ee.encoding import b64u_encode
from e2ee.primitives import RandomSource, system_random

__all__ = ["SavedReplies", "SavedReply"]

PREFIX = "console/reply/"
MAX_GROUP = 64
MAX_TITLE = 100
MAX_TEXT = 4000


@dataclass(frozen=True)
class SavedReply:
    id: str
    group: str
    title: str
    text: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _clean(value: str, what: str, limit: int, *, multiline: bool = False) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    allowed = {"\n"} if multiline else set()
    if not text or len(text) > limit:
        raise NotAllowed(f"The {what} must be 1 to {limit} characters.")
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise NotAllowed(f"The {what} has a control character in it.")
    return text


class SavedReplies:
    """The saved replies in one open keystore."""

    def __init__(self, keystore: Keystore, *, random: RandomSource = system_random) -> None:
        self._ks = keystore
        self._random = random

    def list(self) -> list[SavedReply]:
        """Every saved reply, by group then title."""
        out = []
        for name in self._ks.names(PREFIX):
            raw = self._ks.get(name)
            if raw is not None:
                data = json.loads(raw.decode("utf-8"))
                out.append(SavedReply(data["id"], data["group"], data["title"], data["text"]))
        return sorted(out, key=lambda r: (r.group.casefold(), r.title.casefold(), r.id))

    def get(self, reply_id: str) -> SavedReply | None:
        raw = self._ks.get(f"{PREFIX}{reply_id}") if reply_id else None
        if raw is None:
            return None
        data = json.loads(raw.decode("utf-8"))
        return SavedReply(data["id"], data["group"], data["title"], data["text"])

    def add(self, group: str, title: str, text: str) -> SavedReply:
        reply = SavedReply(
            id=b64u_encode(self._random(9)),
            group=_clean(group, "group", MAX_GROUP),
            title=_clean(title, "title", MAX_TITLE),
            text=_clean(text, "text", MAX_TEXT, multiline=True),
        )
        data = json.dumps(reply.to_json(), sort_keys=True, ensure_ascii=False)
        self._ks.put(f"{PREFIX}{reply.id}", data.encode("utf-8"))
        return reply

    def edit(
        self,
        reply_id: str,
        *,
        group: str | None = None,
        title: str | None = None,
        text: str | None = None,
    ) -> SavedReply:
        """Change the group, title or text of a saved reply (what is not given stays)."""
        old = self.get(reply_id)
        if old is None:
            raise NotFound("There is no such saved reply.")
        reply = SavedReply(
            id=old.id,
            group=old.group if group is None else _clean(group, "group", MAX_GROUP),
            title=old.title if title is None else _clean(title, "title", MAX_TITLE),
            text=old.text if text is None else _clean(text, "text", MAX_TEXT, multiline=True),
        )
        data = json.dumps(reply.to_json(), sort_keys=True, ensure_ascii=False)
        self._ks.put(f"{PREFIX}{reply.id}", data.encode("utf-8"))
        return reply

    def remove(self, reply_id: str) -> None:
        if self.get(reply_id) is None:
            raise NotFound("There is no such saved reply.")
        self._ks.delete(f"{PREFIX}{reply_id}")
