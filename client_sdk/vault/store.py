"""``Keystore`` (format 2): records sealed one by one, a key per conversation.

Security properties:

- Without the passphrase the file shows its Argon2id parameters and salt, a random
  store id, and for each record only its table and its padded bucket (256 bytes, then
  powers of two; :mod:`client_sdk.vault.sealing`). Names are keyed tags. The ``records``
  table holds the keystore's own records (identity, prekeys, replay tags, staff
  accounts, saved replies, settings, code words, conversation keys); the ``parts``
  table holds the conversations' records (session, metadata, one row per transcript
  entry). What stays visible, unavoidably: the number of rows in each table (so the
  number of transcript entries summed over every open conversation, plus two per
  conversation) and the bucket of each, and that rows come and go.
- Each conversation's records are sealed under that conversation's own random key,
  wrapped (sealed as a record) under the store key. :meth:`Keystore.forget_conversation`
  destroys the key first: the next save deletes it, checkpoints so the key's pages are
  zeroed in the file and the WAL truncated (:mod:`client_sdk.vault.db`), then deletes the
  conversation's records. A copy of the file taken after the close, or records left in
  free disk blocks, cannot be opened even with the passphrase.
- Cost of a change is the size of that change: :meth:`Keystore.save` writes only the
  records changed since the last save, in one SQLite transaction (atomic, durable), and
  a transcript grows by one row per message (:meth:`Keystore.append_transcript`).
- Policy (:mod:`client_sdk.keystore`): a keystore or backup is made, and a passphrase
  changed, only at or above :data:`~client_sdk.keystore.ARGON2_FLOOR` and with a
  passphrase :func:`~client_sdk.keystore.check_passphrase_strength` accepts; a keystore
  found under the floor is re-sealed at the default when it opens
  (:func:`~client_sdk.keystore.weak_argon2_for_tests` aside).
- Rollback: every save increments a sealed generation counter and writes it to the
  witness file (:mod:`client_sdk.vault.witness`). :attr:`Keystore.stale` says the file
  is older than its witness; the node then discards its sessions and prekey secrets.

API compatible with format 1 for records: ``get``, ``put``, ``delete``, ``names``, ``in``,
``save`` (changes are in memory until then), ``dirty``, ``change_passphrase``,
``write_backup`` / ``restore_backup`` (safe backups, :mod:`client_sdk.vault.backup`).
Names ``conversation/<id>/session|meta|transcript`` go to that conversation's records;
``transcript`` reads and writes as a JSON list (one row per entry underneath).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from client_sdk.keystore import (
    DEFAULT_ARGON2,
    MAX_NAME_SIZE,
    MAX_VALUE_SIZE,
    Argon2Params,
    CorruptKeystore,
    KeystoreError,
    KeystoreNotFound,
    WrongPassphrase,
    allowed,
    check_floor,
    check_passphrase_strength,
)
from client_sdk.vault import db as sqlite_db
from client_sdk.vault import sealing, witness
from client_sdk.vault.sealing import AAD_CHECK, AAD_PART, AAD_RECORD, StoreKeys
from e2ee.errors import DecryptionError
from e2ee.primitives import RandomSource, system_random

PURPOSE_KEYSTORE = 1
PURPOSE_BACKUP = 2
_FORMAT = b"quietline keystore 2"
_SALT_SIZE = 16
_KEY = "\x00key/"  # + cid: a conversation's key (internal names start with NUL)
_SHRED = "\x00shred/"  # + cid: a destroyed conversation whose records remain to delete
_CONVERSATION = "conversation/"
_PARTS = ("session", "meta", "workflow")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name.startswith("\x00"):
        raise KeystoreError("a record name must be a non-empty string")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        raise KeystoreError("a record name must be valid Unicode") from None
    if len(raw) > MAX_NAME_SIZE:
        raise KeystoreError(f"a record name is limited to {MAX_NAME_SIZE} bytes")


def _split(name: str) -> tuple[str, str] | None:
    """``(cid, part)`` for a conversation record's name, else None."""
    if not name.startswith(_CONVERSATION):
        return None
    rest = name[len(_CONVERSATION) :]
    cid, _, part = rest.rpartition("/")
    if not cid or part not in (*_PARTS, "transcript"):
        return None
    return cid, part


def _entry_name(cid: str, index: int) -> str:
    return f"{_CONVERSATION}{cid}/transcript/{index}"


@dataclass
class _Conversation:
    key: bytes
    parts: set[str] = field(default_factory=set)
    count: int = 0

    def __repr__(self) -> str:
        return f"_Conversation(<key hidden>, {sorted(self.parts)}, {self.count})"

    def names(self, cid: str) -> list[str]:
        out = [f"{_CONVERSATION}{cid}/{p}" for p in _PARTS]
        return out + [_entry_name(cid, i) for i in range(self.count)]


class Keystore:
    """An open keystore (format 2). Build one with :meth:`create` or :meth:`open`."""

    def __init__(
        self,
        path: Path,
        database: sqlite_db.Database,
        header: dict[str, bytes],
        keys: StoreKeys,
        random: RandomSource,
    ) -> None:
        self._path = Path(path)
        self._db: sqlite_db.Database | None = database
        self._header = header
        self._store_id = header["store_id"]
        self._purpose = header["purpose"][0]
        t, m, p = struct.unpack(">III", header["kdf"])
        self._params = Argon2Params(t, m, p)
        self._keys = keys
        self._random = random
        self._records: dict[str, bytes] = {}  # name -> sealed
        self._convs: dict[str, _Conversation] = {}
        self._pending: dict[bytes, tuple[str, str, bytes | None]] = {}  # tag -> table, cid
        self._shredded: list[str] = []
        self._dirty = False
        self._wrote = False
        try:
            self.generation = sealing.open_counter(
                keys.generation_key, self._store_id, header["generation"]
            )
        except DecryptionError:
            raise CorruptKeystore("the keystore's generation does not authenticate") from None
        self.witnessed = witness.read(self._path, keys.generation_key, self._store_id)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        params: Argon2Params = DEFAULT_ARGON2,
        random: RandomSource = system_random,
        purpose: int = PURPOSE_KEYSTORE,
    ) -> Keystore:
        """Create an empty keystore file at ``path`` (which must not exist) and return it.

        ``params`` must meet the Argon2id floor and ``passphrase`` the strength rule
        (:class:`~client_sdk.keystore.WeakPassphrase` says why not), before any file is
        made."""
        params.check()
        check_floor(params)
        check_passphrase_strength(passphrase)
        return cls._create(Path(path), passphrase, params, random, purpose)

    @classmethod
    def _create(
        cls,
        path: Path,
        passphrase: str | bytes,
        params: Argon2Params,
        random: RandomSource,
        purpose: int = PURPOSE_KEYSTORE,
    ) -> Keystore:
        """:meth:`create` without the policy: for a passphrase chosen before it (the
        conversion of a format 1 file keeps its passphrase)."""
        params.check()
        salt = random(_SALT_SIZE)
        keys = sealing.derive(passphrase, salt, params)
        database = sqlite_db.Database.create(Path(path))
        header = cls._new_header(keys, purpose, params, salt, random(witness.STORE_ID_SIZE), random)
        database.write(header, [])
        return cls(Path(path), database, header, keys, random)

    @staticmethod
    def _new_header(
        keys: StoreKeys,
        purpose: int,
        params: Argon2Params,
        salt: bytes,
        store_id: bytes,
        random: RandomSource,
        generation: int = 0,
    ) -> dict[str, bytes]:
        check = store_id + AAD_CHECK + bytes([purpose])
        return {
            "format": _FORMAT,
            "purpose": bytes([purpose]),
            "kdf": struct.pack(">III", params.time_cost, params.memory_cost, params.parallelism),
            "salt": salt,
            "store_id": store_id,
            "check": sealing.seal(keys.record_key, check, "check", b"", random),
            "generation": sealing.seal_counter(keys.generation_key, store_id, generation, random),
        }

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        random: RandomSource = system_random,
        purpose: int = PURPOSE_KEYSTORE,
    ) -> Keystore:
        """Open a keystore; a file of format 1 is converted first (same passphrase).

        A keystore made under the Argon2id floor (by an older version) is re-sealed at
        :data:`~client_sdk.keystore.DEFAULT_ARGON2` under the same passphrase, and saved,
        before this returns. Backups (``purpose``) are only read."""
        path = Path(path)
        sealing.passphrase_bytes(passphrase)
        try:
            with path.open("rb") as f:
                magic = f.read(16)
        except FileNotFoundError:
            raise KeystoreNotFound(f"no keystore at {path}") from None
        if magic.startswith(b"QLKS") and purpose == PURPOSE_KEYSTORE:
            from client_sdk.vault.migrate import migrate_v1

            migrate_v1(path, passphrase, random)
        elif magic != sqlite_db.SQLITE_MAGIC:
            raise CorruptKeystore("not a keystore file, or truncated")
        database = sqlite_db.Database.open(path)
        try:
            ks = cls._unlock(path, database, passphrase, random, purpose)
        except BaseException:
            database.close()
            raise
        if purpose == PURPOSE_KEYSTORE and not allowed(ks.params):
            try:
                ks._rekey(passphrase, DEFAULT_ARGON2)
            except BaseException:
                ks.close()
                raise
        return ks

    @classmethod
    def _unlock(
        cls,
        path: Path,
        database: sqlite_db.Database,
        passphrase: str | bytes,
        random: RandomSource,
        purpose: int,
    ) -> Keystore:
        header = database.header()
        needed = ("format", "purpose", "kdf", "salt", "store_id", "check", "generation")
        if header.get("format") != _FORMAT or any(k not in header for k in needed):
            raise CorruptKeystore("not a keystore file, or damaged")
        if len(header["kdf"]) != 12 or len(header["purpose"]) != 1:
            raise CorruptKeystore("the keystore's header is damaged")
        if header["purpose"][0] != purpose:
            what = "a backup" if header["purpose"][0] == PURPOSE_BACKUP else "not a backup"
            raise CorruptKeystore(f"this file is {what}")
        params = Argon2Params(*struct.unpack(">III", header["kdf"]))
        try:
            params.check()
        except KeystoreError:
            raise CorruptKeystore("keystore asks for Argon2 parameters out of range") from None
        keys = sealing.derive(passphrase, header["salt"], params)
        check = header["store_id"] + AAD_CHECK + header["purpose"]
        try:
            sealing.open_sealed(keys.record_key, check, "check", header["check"])
        except CorruptKeystore:
            raise WrongPassphrase() from None
        ks = cls(path, database, header, keys, random)
        ks._load()
        return ks

    def _load(self) -> None:
        database = self._live()
        aad = self._store_id + AAD_RECORD
        for tag, sealed in database.rows(sqlite_db.RECORDS):
            name, _ = sealing.open_sealed(self._keys.record_key, aad, None, sealed)
            if self._keys.tag(name) != tag or name in self._records:
                raise CorruptKeystore("a keystore record is filed under the wrong name")
            self._records[name] = sealed
        for name in [n for n in self._records if n.startswith(_KEY)]:
            cid = name[len(_KEY) :]
            conv = _Conversation(key=self._open_record(name))
            for part in _PARTS:
                if database.has(sqlite_db.PARTS, self._keys.tag(f"{_CONVERSATION}{cid}/{part}")):
                    conv.parts.add(part)
            while database.has(sqlite_db.PARTS, self._keys.tag(_entry_name(cid, conv.count))):
                conv.count += 1
            self._convs[cid] = conv
        if any(n.startswith(_SHRED) for n in self._records) and not self.stale:
            self._purge_shredded()  # a save stopped between the key and the records

    # -- records --------------------------------------------------------------------

    def _live(self) -> sqlite_db.Database:
        if self._db is None:
            raise KeystoreError("the keystore is closed")
        return self._db

    def _open_record(self, name: str) -> bytes:
        aad = self._store_id + AAD_RECORD
        return sealing.open_sealed(self._keys.record_key, aad, name, self._records[name])[1]

    def _put_record(self, name: str, value: bytes) -> None:
        aad = self._store_id + AAD_RECORD
        sealed = sealing.seal(self._keys.record_key, aad, name, value, self._random)
        self._records[name] = sealed
        self._pending[self._keys.tag(name)] = (sqlite_db.RECORDS, "", sealed)
        self._dirty = True

    def _delete_record(self, name: str) -> None:
        if self._records.pop(name, None) is not None:
            self._pending[self._keys.tag(name)] = (sqlite_db.RECORDS, "", None)
            self._dirty = True

    def _conversation(self, cid: str) -> _Conversation:
        conv = self._convs.get(cid)
        if conv is None:
            conv = _Conversation(key=self._random(sealing.KEY_SIZE))
            self._put_record(f"{_KEY}{cid}", conv.key)
            self._convs[cid] = conv
        return conv

    def _put_part(self, cid: str, name: str, value: bytes) -> None:
        conv = self._conversation(cid)
        aad = self._store_id + AAD_PART
        sealed = sealing.seal(conv.key, aad, name, value, self._random)
        self._pending[self._keys.tag(name)] = (sqlite_db.PARTS, cid, sealed)
        self._dirty = True

    def _get_part(self, cid: str, name: str) -> bytes | None:
        conv = self._convs[cid]
        tag = self._keys.tag(name)
        pending = self._pending.get(tag)
        sealed = pending[2] if pending is not None else self._live().get(sqlite_db.PARTS, tag)
        if sealed is None:
            return None
        return sealing.open_sealed(conv.key, self._store_id + AAD_PART, name, sealed)[1]

    def _delete_part(self, cid: str, name: str) -> None:
        self._pending[self._keys.tag(name)] = (sqlite_db.PARTS, cid, None)
        self._dirty = True

    def get(self, name: str) -> bytes | None:
        """The value stored under ``name``, or ``None``."""
        _check_name(name)
        self._live()
        split = _split(name)
        if split is None:
            return self._open_record(name) if name in self._records else None
        cid, part = split
        conv = self._convs.get(cid)
        if conv is None:
            return None
        if part == "transcript":
            if not conv.count:
                return None
            entries = [json.loads(raw) for raw in self.transcript(cid)]
            return json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode()
        return self._get_part(cid, name) if part in conv.parts else None

    def put(self, name: str, value: bytes) -> None:
        """Store ``value`` under ``name`` (in memory until :meth:`save`)."""
        _check_name(name)
        self._live()
        if not isinstance(value, bytes | bytearray):
            raise KeystoreError("a record value must be bytes")
        if len(value) > MAX_VALUE_SIZE:
            raise KeystoreError(f"a record value is limited to {MAX_VALUE_SIZE} bytes")
        split = _split(name)
        if split is None:
            self._put_record(name, bytes(value))
            return
        cid, part = split
        if part == "transcript":
            entries = json.loads(bytes(value).decode("utf-8"))
            self._truncate_transcript(cid, 0)
            for entry in entries:
                self.append_transcript(
                    cid, json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()
                )
            return
        self._put_part(cid, name, bytes(value))
        self._convs[cid].parts.add(part)

    def delete(self, name: str) -> None:
        """Forget ``name`` (in memory until :meth:`save`); absent names are ignored.

        A conversation's key stays until :meth:`forget_conversation`."""
        _check_name(name)
        self._live()
        split = _split(name)
        if split is None:
            self._delete_record(name)
            return
        cid, part = split
        conv = self._convs.get(cid)
        if conv is None:
            return
        if part == "transcript":
            self._truncate_transcript(cid, 0)
        elif part in conv.parts:
            conv.parts.discard(part)
            self._delete_part(cid, name)

    def names(self, prefix: str = "") -> list[str]:
        """Record names starting with ``prefix``, sorted."""
        self._live()
        out = [n for n in self._records if not n.startswith("\x00")]
        for cid, conv in self._convs.items():
            out += [f"{_CONVERSATION}{cid}/{p}" for p in conv.parts]
            if conv.count:
                out.append(f"{_CONVERSATION}{cid}/transcript")
        return sorted(n for n in out if n.startswith(prefix))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name.startswith("\x00"):
            return False
        split = _split(name)
        if split is None:
            return name in self._records
        conv = self._convs.get(split[0])
        if conv is None:
            return False
        return bool(conv.count) if split[1] == "transcript" else split[1] in conv.parts

    def __len__(self) -> int:
        return len(self.names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    # -- conversations --------------------------------------------------------------

    def conversations(self) -> list[str]:
        """Ids of the conversations that have a key here."""
        self._live()
        return sorted(self._convs)

    def append_transcript(self, cid: str, entry: bytes) -> None:
        """Add one transcript entry (one new row; the earlier ones are not touched)."""
        self._live()
        conv = self._conversation(cid)
        self._put_part(cid, _entry_name(cid, conv.count), entry)
        conv.count += 1

    def transcript(self, cid: str) -> list[bytes]:
        """The conversation's transcript entries, in order."""
        self._live()
        conv = self._convs.get(cid)
        if conv is None:
            return []
        out = []
        for i in range(conv.count):
            raw = self._get_part(cid, _entry_name(cid, i))
            if raw is None:
                raise CorruptKeystore("a transcript entry is missing")
            out.append(raw)
        return out

    def _truncate_transcript(self, cid: str, count: int) -> None:
        conv = self._convs.get(cid)
        if conv is None:
            return
        for i in range(count, conv.count):
            self._delete_part(cid, _entry_name(cid, i))
        conv.count = min(conv.count, count)

    def forget_conversation(self, cid: str) -> None:
        """Destroy the conversation's key, then its records (at the next :meth:`save`)."""
        self._live()
        conv = self._convs.pop(cid, None)
        if conv is None:
            return
        for tag in [t for t, (_, c, _) in self._pending.items() if c == cid]:
            del self._pending[tag]
        self._delete_record(f"{_KEY}{cid}")
        self._put_record(f"{_SHRED}{cid}", struct.pack(">I", conv.count))
        self._shredded.append(cid)

    def _purge_shredded(self) -> None:
        """Delete the records of destroyed conversations (their keys are gone already)."""
        changes: list[tuple[str, bytes, bytes | None]] = []
        for name in [n for n in self._records if n.startswith(_SHRED)]:
            cid = name[len(_SHRED) :]
            (count,) = struct.unpack(">I", self._open_record(name))
            ghost = _Conversation(key=b"", count=count)
            changes += [(sqlite_db.PARTS, self._keys.tag(n), None) for n in ghost.names(cid)]
            changes.append((sqlite_db.RECORDS, self._keys.tag(name), None))
            del self._records[name]
        database = self._live()
        database.write({}, changes)
        database.shred_checkpoint()

    # -- persistence ----------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """The file is older than the newest generation its witness has seen."""
        return self.generation < self.witnessed

    def save(self) -> None:
        """Write the changes since the last save in one transaction, then the witness.

        A destroyed conversation's key goes in that transaction, a checkpoint zeroes its
        pages and truncates the WAL, and only then are its records deleted."""
        database = self._live()
        # a stale file never passes for a fresh one: its generation stays behind
        generation = self.generation if self.stale else max(self.generation, self.witnessed) + 1
        sealed = sealing.seal_counter(
            self._keys.generation_key, self._store_id, generation, self._random
        )
        changes = [(table, tag, value) for tag, (table, _, value) in self._pending.items()]
        database.write({"generation": sealed}, changes)
        self._header["generation"] = sealed
        self._pending.clear()
        self._dirty = False
        self.generation = generation
        if self._shredded:
            self._shredded.clear()
            database.shred_checkpoint()
            self._purge_shredded()
        if not self.stale:
            witness.write(
                self._path,
                self._keys.generation_key,
                self._store_id,
                generation,
                self._random,
                sync=False,
            )
            self.witnessed = generation
            self._wrote = True

    def sealed_generation(self) -> bytes | None:
        """The generation of the last save, sealed to be kept elsewhere (the relay:
        :mod:`client_sdk.vault.witness`); None while the file is stale."""
        if self.stale:
            return None
        return witness.seal(
            self._keys.generation_key, self._store_id, self.generation, self._random
        )

    def observe_generation(self, sealed: bytes) -> int:
        """A generation this store reached, as kept elsewhere (the relay): the newest of
        it and the local witness is what the file must not be older than (:attr:`stale`).
        Returns the generation read; 0 (nothing witnessed) for another store's or
        unauthentic bytes."""
        value = witness.unseal(sealed, self._keys.generation_key, self._store_id)
        self.witnessed = max(self.witnessed, value)
        return value

    def mark_fresh(self) -> None:
        """After the stale state was discarded: the next save goes past the witness (so
        no copy from before the rollback can pass for fresh either)."""
        self.generation = max(self.generation, self.witnessed)
        self._dirty = True

    @property
    def path(self) -> Path:
        return self._path

    @property
    def params(self) -> Argon2Params:
        return self._params

    @property
    def dirty(self) -> bool:
        """True when there are changes not yet written by :meth:`save`."""
        return self._dirty

    def change_passphrase(
        self, new_passphrase: str | bytes, *, params: Argon2Params | None = None
    ) -> None:
        """Re-key every record under keys from ``new_passphrase`` and a new salt; save.

        Unsaved changes are saved first. One transaction: the old passphrase opens the
        file before it and never after (old copies of the file stay under the old one).
        The new passphrase and ``params`` are held to the policy, as in :meth:`create`."""
        params = params or self._params
        params.check()
        check_floor(params)
        check_passphrase_strength(new_passphrase)
        self._rekey(new_passphrase, params)

    def _rekey(self, new_passphrase: str | bytes, params: Argon2Params) -> None:
        """:meth:`change_passphrase` without the policy (re-sealing at the default)."""
        if self._dirty:
            self.save()
        database = self._live()
        params.check()
        salt = self._random(_SALT_SIZE)
        keys = sealing.derive(new_passphrase, salt, params)
        header = self._new_header(
            keys, self._purpose, params, salt, self._store_id, self._random, self.generation
        )
        aad_record = self._store_id + AAD_RECORD
        changes: list[tuple[str, bytes, bytes | None]] = []
        records: dict[str, bytes] = {}
        for name in list(self._records):
            value = self._open_record(name)
            sealed = sealing.seal(keys.record_key, aad_record, name, value, self._random)
            records[name] = sealed
            changes.append((sqlite_db.RECORDS, self._keys.tag(name), None))
            changes.append((sqlite_db.RECORDS, keys.tag(name), sealed))
        for cid, conv in self._convs.items():
            for name in conv.names(cid):
                old = self._live().get(sqlite_db.PARTS, self._keys.tag(name))
                if old is not None:
                    changes.append((sqlite_db.PARTS, self._keys.tag(name), None))
                    changes.append((sqlite_db.PARTS, keys.tag(name), old))
        database.write(header, changes)
        database.shred_checkpoint()
        self._keys, self._header, self._records, self._params = keys, header, records, params
        witness.write(  # re-sealed under the new key; a stale file's keeps the newer value
            self._path,
            keys.generation_key,
            self._store_id,
            max(self.generation, self.witnessed),
            self._random,
            sync=True,
        )

    def write_backup(
        self,
        path: str | os.PathLike[str],
        backup_passphrase: str | bytes,
        *,
        params: Argon2Params | None = None,
    ) -> list[str]:
        """A backup safe to restore (:func:`client_sdk.vault.backup.write_backup`)."""
        from client_sdk.vault.backup import write_backup

        return write_backup(self, Path(path), backup_passphrase, params or self._params)

    @classmethod
    def restore_backup(
        cls,
        backup_path: str | os.PathLike[str],
        backup_passphrase: str | bytes,
        new_path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        params: Argon2Params | None = None,
        random: RandomSource = system_random,
    ) -> Keystore:
        """A new keystore from a backup (:func:`client_sdk.vault.backup.restore_backup`)."""
        from client_sdk.vault.backup import restore_backup

        return restore_backup(
            Path(backup_path), backup_passphrase, Path(new_path), passphrase, params, random
        )

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (checkpointed, WAL truncated); unsaved changes are lost."""
        if self._db is None:
            return
        database, self._db = self._db, None
        database.close()
        if self._wrote and not self.stale:
            witness.write(
                self._path,
                self._keys.generation_key,
                self._store_id,
                self.generation,
                self._random,
                sync=True,
            )
        self._records, self._convs, self._pending = {}, {}, {}

    def __enter__(self) -> Keystore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else f"{len(self._records)} records"
        return f"Keystore({str(self._path)!r}, {state})"


__all__ = ["PURPOSE_BACKUP", "PURPOSE_KEYSTORE", "Keystore"]
