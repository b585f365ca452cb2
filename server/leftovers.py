"""Leftover envelopes on disk: the audit's look at the SQLite files themselves.

A message row stores its conversation id, then (at most a byte later) its envelope,
whose own bytes 2..18 are that id again, after the envelope's version and kind. That
pair (an id, then within a few bytes the envelope prefix naming the same id) is what a
stored envelope leaves in a page, whether the page is live, on the free list, or an old
copy in the WAL; random ciphertext matches it with a chance of about 2^-128. Every such
pair whose conversation no longer exists is a leftover: bytes of a closed or deleted
conversation still on disk. ``secure_delete`` zeroes deleted rows and free pages in the
database file and the close's TRUNCATE checkpoint empties the WAL, so a healthy relay
has none.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from e2ee.envelope import ENVELOPE_VERSION, KINDS

ID_SIZE = 16
_GAPS = (0, 1)
"""Bytes between a row's conversation id and its envelope: the recipient slot's value
(none for 0 and 1, which SQLite stores in the record header, one byte for 2..7)."""
_PREFIX = re.compile(
    b"(?=" + re.escape(bytes([ENVELOPE_VERSION])) + b"[" + bytes(KINDS) + b"](?s:(.{16})))"
)
"""The envelope prefix (version, kind, conversation id), matched at every offset (a
lookahead: a match inside another, as after a record's slot byte, is found too)."""


def envelope_ids(data: bytes) -> set[bytes]:
    """The conversation ids of every stored envelope found in ``data``: a message row's
    conversation id, then its recipient slot (no byte for slots 0 and 1, one byte
    otherwise), then an envelope naming the same id with two different slots 0..7."""
    found: set[bytes] = set()
    for match in _PREFIX.finditer(data):
        cid = match.group(1)
        start = match.start()
        slots = data[start + 18 : start + 20]
        if len(slots) < 2 or slots[0] > 7 or slots[1] > 7 or slots[0] == slots[1]:
            continue
        if any(
            data[start - ID_SIZE - gap : start - gap] == cid for gap in _GAPS if start >= 16 + gap
        ):
            found.add(cid)
    return found


def files_of(database: str) -> list[Path]:
    """The database file and its WAL (when there is one)."""
    main = Path(database)
    return [p for p in (main, Path(database + "-wal")) if p.exists()]


def scan(database: str, live: Collection[bytes]) -> dict[str, int]:
    """For each file of the database, how many conversations that are not ``live`` still
    have envelope bytes in it (0 everywhere on a healthy relay)."""
    out: dict[str, int] = {}
    for path in files_of(database):
        ids = envelope_ids(path.read_bytes())
        out[path.name] = len(ids - set(live))
    return out
