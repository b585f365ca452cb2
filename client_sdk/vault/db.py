"""The keystore's SQLite file: schema, pragmas, transactions.

Where deleted bytes could linger, and what this file does about it:

- ``PRAGMA secure_delete = ON``: a deleted or rewritten record's old cell and every
  freed page are overwritten with zeros in the database file.
- ``PRAGMA journal_mode = WAL`` (``synchronous = FULL``): a commit appends the new pages
  to ``<keystore>-wal`` and ``fsync``s it; the old versions stay in the main file until
  a checkpoint copies the new ones over them. :meth:`Database.shred_checkpoint`
  (``wal_checkpoint(TRUNCATE)``) runs after every close of a conversation and when the
  keystore is closed: the pages that held the destroyed key are overwritten in the
  main file and the WAL is truncated to nothing. A WAL that is merely reset would keep
  stale frames, key included, inside the file; a rollback journal would hold the old
  pages in a deleted file. Either way the bytes the file system frees are not
  overwritten by it (nor, on an SSD, by us): that is why a conversation's records are
  sealed under its own key, and only that key (a few dozen bytes in one page) must be
  gone for the records to be unreadable.
- Tables ``WITHOUT ROWID`` keyed by the records' keyed name tags: rows are stored in
  the order of random-looking tags, not in the order they were written.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from client_sdk.keystore import CorruptKeystore, KeystoreExists

SQLITE_MAGIC = b"SQLite format 3\x00"
RECORDS = "records"
PARTS = "parts"

_SCHEMA = (
    "CREATE TABLE header (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE records (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE parts (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID",
)


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA secure_delete = ON")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise CorruptKeystore("the keystore file cannot use its journal")
    conn.execute("PRAGMA synchronous = FULL")


class Database:
    """One connection to a keystore file (used from one thread at a time)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def create(cls, path: Path) -> Database:
        """A new, empty file (mode 0600); refuses to overwrite anything."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeystoreExists(f"refusing to overwrite {path}") from None
        os.close(fd)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _configure(conn)
        with contextlib.closing(conn.cursor()) as cur:
            cur.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                cur.execute(statement)
            cur.execute("COMMIT")
        return cls(conn)

    @classmethod
    def open(cls, path: Path) -> Database:
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            _configure(conn)
            conn.execute("SELECT count(*) FROM header").fetchone()
        except sqlite3.DatabaseError:
            raise CorruptKeystore("not a keystore file, or damaged") from None
        return cls(conn)

    def header(self) -> dict[str, bytes]:
        try:
            return {str(k): bytes(v) for k, v in self._conn.execute("SELECT k, v FROM header")}
        except sqlite3.DatabaseError:
            raise CorruptKeystore("the keystore's header is damaged") from None

    def rows(self, table: str) -> Iterator[tuple[bytes, bytes]]:
        try:
            for tag, sealed in self._conn.execute(f"SELECT tag, sealed FROM {table}"):  # noqa: S608
                yield bytes(tag), bytes(sealed)
        except sqlite3.DatabaseError:
            raise CorruptKeystore("the keystore's records are damaged") from None

    def get(self, table: str, tag: bytes) -> bytes | None:
        row = self._conn.execute(
            f"SELECT sealed FROM {table} WHERE tag = ?",  # noqa: S608
            (tag,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def has(self, table: str, tag: bytes) -> bool:
        query = f"SELECT 1 FROM {table} WHERE tag = ?"  # noqa: S608
        return self._conn.execute(query, (tag,)).fetchone() is not None

    def write(
        self,
        header: dict[str, bytes],
        changes: Iterable[tuple[str, bytes, bytes | None]],
    ) -> None:
        """One transaction: header rows, then ``(table, tag, sealed or None to delete)``."""
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for k, v in header.items():
                cur.execute("INSERT OR REPLACE INTO header (k, v) VALUES (?, ?)", (k, v))
            for table, tag, sealed in changes:
                if sealed is None:
                    cur.execute(f"DELETE FROM {table} WHERE tag = ?", (tag,))  # noqa: S608
                else:
                    cur.execute(
                        f"INSERT OR REPLACE INTO {table} (tag, sealed) VALUES (?, ?)",  # noqa: S608
                        (tag, sealed),
                    )
            cur.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):  # disk full, I/O error, locked
                raise OSError(f"the keystore could not be written: {exc}") from None
            raise
        finally:
            cur.close()

    def shred_checkpoint(self) -> None:
        """Copy the WAL into the main file (zeroed cells included) and truncate the WAL."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.shred_checkpoint()
        self._conn.close()
