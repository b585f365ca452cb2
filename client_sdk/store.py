"""What the program node keeps in its keystore, and under which record names.

Every record is sealed by :mod:`client_sdk.keystore` (AES-256-GCM under an Argon2id
key; names hidden). This module only names the records and encodes them:

====================================  ===============================================
record                                holds
====================================  ===============================================
``identity/seed``                     the Ed25519 identity seed (32 bytes)
``program``                           JSON: relay URL and origin, program id
``prekey/signed/<id>``                a workflow ``PrekeyRecord`` (secret, times)
``prekey/one-time/<id>``              the same; deleted right after its one use
``prekey/last-id``                    the highest prekey id ever issued (decimal)
``published/profile``, ``.../status`` the signed objects last published (JSON)
``profile/content``                   the profile JSON the program edits
``conversation/<cid>/session``        the ratchet session of an open conversation
``conversation/<cid>/meta``           JSON: counters, assignment, times, recent ids
``conversation/<cid>/transcript``     the open conversation's messages, one record per
                                      entry (read and written as a JSON list)
``conversation/<cid>/workflow``       the workflow's row of the open conversation
``workflow/state``                    the workflow's own state (its counter)
``retained/<cid>``                    a closed conversation's transcript, only when
                                      the program turned retention on
``codeword/<alias>``                  a code word's Argon2id hash record (workflow)
``replay/key``                        32 random bytes: this keystore's replay-tag key
``replay/signed/<id>``                the replay tags of the inits accepted under
                                      signed prekey ``<id>`` (32 bytes each)
``outbox/<n>``                        JSON: envelopes of one send the relay could not
                                      take yet (:mod:`client_sdk.outbox`); dropped
                                      when their conversation closes
====================================  ===============================================

Replay tags: an init sent to a signed prekey (no one-time prekey was left) can be
opened for as long as that prekey's secret lives, so the relay could replay it after a
restart of the node. For every such init the node accepts it keeps
``HMAC-SHA256(replay key, enc)`` (``enc`` is unique per handshake) under the prekey's
id, and refuses an init whose tag is already there. The tags say nothing about a
conversation (no id, no time, keyed by a secret that never leaves the keystore); they
are deleted with the prekey's secret when its grace period ends, and are at most
``MAX_REPLAY_TAGS_PER_PREKEY`` per prekey.

The ``conversation/<cid>/*`` records are sealed under the conversation's own key
(:mod:`client_sdk.vault.store`), and the transcript is one record per entry. At close
the key is destroyed, then the records, and the keystore is saved: after that neither
the node nor a copy of its keystore made after the close can decrypt anything the relay
once held for it.

Saving is grouped (:class:`GroupCommit`): changes made in the same turn of the event
loop are written by one :meth:`Keystore.save` (one SQLite transaction holding only what
changed). Ratchet state is always saved
before an envelope leaves (a crash can never make a message key be used twice) and
before a received message is acked (a crash can never lose a message that was acked).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from client_sdk.keystore import Keystore
from e2ee.primitives import RandomSource, constant_time_equal, hmac_sha256

IDENTITY = "identity/seed"
PROGRAM = "program"
LAST_PREKEY_ID = "prekey/last-id"
SIGNED_PREKEY = "prekey/signed/"
ONE_TIME_PREKEY = "prekey/one-time/"
PUBLISHED_PROFILE = "published/profile"
PUBLISHED_STATUS = "published/status"
PUBLISHED_ORIGINS = "published/origins"  # the web origins last registered with the relay
PROFILE_CONTENT = "profile/content"
CONVERSATION = "conversation/"
RETAINED = "retained/"
CODE_WORD = "codeword/"
REPLAY_KEY = "replay/key"
REPLAY_TAGS = "replay/signed/"
WORKFLOW_STATE = "workflow/state"
OUTBOX = "outbox/"
"""The workflow's open conversations and timers (``Workflow.export_state``): queue order,
assignment, urgency, silence timers, so a restart resumes them as they were."""

REPLAY_KEY_SIZE = 32
REPLAY_TAG_SIZE = 32
#: At most this many inits are accepted under one signed prekey (20 000 tags: 640 KB).
#: The prekey's lifetime bounds the set anyway; when it is full the node refuses more
#: inits under that prekey and rotates it at once.
MAX_REPLAY_TAGS_PER_PREKEY = 20_000


def session_name(cid: str) -> str:
    return f"{CONVERSATION}{cid}/session"


def meta_name(cid: str) -> str:
    return f"{CONVERSATION}{cid}/meta"


def workflow_name(cid: str) -> str:
    """The workflow's row of one open conversation (queue place, holder, timers)."""
    return f"{CONVERSATION}{cid}/workflow"


def transcript_name(cid: str) -> str:
    return f"{CONVERSATION}{cid}/transcript"


def get_json(ks: Keystore, name: str) -> Any:
    raw = ks.get(name)
    return None if raw is None else json.loads(raw.decode("utf-8"))


def put_json(ks: Keystore, name: str, value: Any) -> None:
    ks.put(name, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def open_conversations(ks: Keystore) -> list[str]:
    """Ids of the conversations whose session is stored."""
    return [cid for cid in ks.conversations() if session_name(cid) in ks]


def forget_conversation(ks: Keystore, cid: str, *, retain_transcript: bool) -> None:
    """Destroy a closed conversation's key, then its records, at the next save (its
    transcript is copied aside first, under the store key, if retained)."""
    if retain_transcript:
        raw = ks.get(transcript_name(cid))
        if raw is not None:
            ks.put(f"{RETAINED}{cid}", raw)
    ks.forget_conversation(cid)


def append_transcript(ks: Keystore, cid: str, entry: dict[str, Any]) -> None:
    """One more transcript entry: one new record, the earlier ones untouched."""
    ks.append_transcript(
        cid, json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )


def transcript(ks: Keystore, cid: str) -> list[dict[str, Any]]:
    return [json.loads(raw.decode("utf-8")) for raw in ks.transcript(cid)]


STALE_PREFIXES = (
    SIGNED_PREKEY,
    ONE_TIME_PREKEY,
    REPLAY_TAGS,
    REPLAY_KEY,
    WORKFLOW_STATE,
    OUTBOX,
)


def discard_stale(ks: Keystore) -> list[str]:
    """A keystore older than its witness (a rolled-back copy): destroy every
    conversation, prekey secret, replay tag and queued send in it, so nothing of it is
    used again (no message key twice, no init accepted twice); the ids of the
    conversations."""
    closed = ks.conversations()
    for cid in closed:
        ks.forget_conversation(cid)
    for name in ks.names():
        if name.startswith(STALE_PREFIXES):
            ks.delete(name)
    ks.mark_fresh()
    ks.save()
    return closed


def replay_tags_name(prekey_id: int) -> str:
    return f"{REPLAY_TAGS}{prekey_id}"


def replay_tag(ks: Keystore, enc: bytes, random: RandomSource) -> bytes:
    """``HMAC-SHA256(replay key, enc)``; the key is made on first use and kept sealed."""
    key = ks.get(REPLAY_KEY)
    if key is None or len(key) != REPLAY_KEY_SIZE:
        key = random(REPLAY_KEY_SIZE)
        ks.put(REPLAY_KEY, key)
    return hmac_sha256(key, enc)


def replay_tags(ks: Keystore, prekey_id: int) -> list[bytes]:
    raw = ks.get(replay_tags_name(prekey_id)) or b""
    return [raw[i : i + REPLAY_TAG_SIZE] for i in range(0, len(raw), REPLAY_TAG_SIZE)]


def init_seen(ks: Keystore, prekey_id: int, tag: bytes) -> bool:
    """Whether an init with this tag was accepted under ``prekey_id`` (constant time:
    every stored tag is compared, no early exit)."""
    seen = False
    for stored in replay_tags(ks, prekey_id):
        seen |= constant_time_equal(stored, tag)
    return seen


def replay_tag_count(ks: Keystore, prekey_id: int) -> int:
    return len(ks.get(replay_tags_name(prekey_id)) or b"") // REPLAY_TAG_SIZE


def remember_init(ks: Keystore, prekey_id: int, tag: bytes) -> None:
    """Add ``tag`` to ``prekey_id``'s set (saved with the new session, before the ack)."""
    if len(tag) != REPLAY_TAG_SIZE:
        raise ValueError("a replay tag is 32 bytes")
    name = replay_tags_name(prekey_id)
    ks.put(name, (ks.get(name) or b"") + tag)


def forget_replay_tags(ks: Keystore) -> None:
    """Delete the replay tags of every signed prekey whose secret is gone."""
    for name in ks.names(REPLAY_TAGS):
        prekey_id = name[len(REPLAY_TAGS) :]
        if f"{SIGNED_PREKEY}{prekey_id}" not in ks:
            ks.delete(name)


class GroupCommit:
    """Coalesce saves requested in the same event-loop turn into one atomic write."""

    def __init__(self, save: Callable[[], None]) -> None:
        self._save = save
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False
        self.saves = 0

    async def commit(self) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        self._scheduled = False
        waiters, self._waiters = self._waiters, []
        try:
            self._save()
            self.saves += 1
        except Exception as exc:
            for future in waiters:
                if not future.done():
                    future.set_exception(exc)
            return
        for future in waiters:
            if not future.done():
                future.set_result(None)
