"""The keystore's errors and Argon2id parameters, and format 1 (:class:`KeystoreV1`).

``Keystore`` (imported from here as always) is now format 2, a SQLite file of records
sealed and padded one by one, with a key per conversation
(:mod:`client_sdk.vault.store`). Format 1, described below, is still read: a file of
format 1 is converted on its first open (:mod:`client_sdk.vault.migrate`).

Format 1: one file, every secret sealed under a passphrase.

Security property: without the passphrase the file reveals nothing but its format,
its Argon2id parameters and salt, the number of records and their sizes. Record
*names* are hidden too (each record is filed under a keyed hash of its name), so the
file does not say which conversations are open. A changed, swapped, reordered,
removed or truncated record is refused; a crash during :meth:`Keystore.save` never
leaves a half-written file.

Key schedule::

    master      = Argon2id(passphrase, salt, time_cost, memory_cost, parallelism, 32)
    record_key  = HKDF-SHA256(salt="", ikm=master, info="quietline/v1/keystore/record-key", 32)
    name_key    = HKDF-SHA256(salt="", ikm=master, info="quietline/v1/keystore/name-key", 32)
    name_tag(n) = HMAC-SHA256(name_key, UTF-8(n))

The passphrase (``str``) is NFC-normalised and encoded as UTF-8 (``bytes`` are used
as given), so the same words typed on two keyboards open the file.

File layout (big-endian integers)::

    offset size  field
    0      4     magic "QLKS"
    4      1     format version = 1
    5      1     purpose: 1 keystore, 2 backup
    6      1     kdf = 1 (Argon2id, version 0x13)
    7      4     time_cost u32
    11     4     memory_cost u32 (KiB)
    15     4     parallelism u32
    19     16    salt
    -- 35 bytes: the header (bound into every AAD below)
    35     4     record count u32
    ..           per record, sorted by tag:
                   32  name_tag
                   12  nonce
                   4   length of sealed u32
                   ..  sealed = AES-256-GCM(record_key, nonce,
                                 u16(len(name)) || name || value,
                                 aad = header || 0x01 || name_tag)
    ..     12    trailer nonce
    ..     48    trailer = AES-256-GCM(record_key, nonce, SHA-256(header || records),
                                       aad = header || 0x02)
    ..     32    checksum = SHA-256(every byte before it)

The checksum is not a security measure (anyone can recompute it): it tells an
accidentally damaged file (:class:`CorruptKeystore`) from a wrong passphrase
(:class:`WrongPassphrase`), and it is checked before the costly Argon2id run, so a
damaged header can never make us run Argon2id with absurd parameters. Tampering by
someone who recomputes the checksum is caught by AES-256-GCM: a record under another
name tag or another header does not open, and the sealed trailer pins the whole
record set (nothing removed, added or reordered).

Nonces are 96 random bits from the ``random`` source; a record is sealed once per
:meth:`Keystore.put` (not on every save), and the trailer once per save, which keeps
the number of encryptions under one key far below the 2**32 bound of random GCM
nonces. :meth:`Keystore.change_passphrase` draws a new salt, hence new keys.

Persistence: :meth:`Keystore.put` and :meth:`Keystore.delete` change the keystore in
memory only; :meth:`Keystore.save` writes the whole file atomically (temporary file in
the same directory, ``fsync``, ``os.replace``, ``fsync`` of the directory), mode 0600.
Call ``save()`` after every change that must survive a crash (e.g. a ratchet step).
One process at a time: the keystore does not lock the file.

Policy (docs/sdk.md, "Keystore passphrase and Argon2id cost"): a keystore, a backup or
a new passphrase is never made with Argon2id parameters under :data:`ARGON2_FLOOR`
(``time_cost`` 3, ``memory_cost`` 64 MiB: RFC 9106's second recommended option, which
argon2-cffi ships as its ``RFC_9106_LOW_MEMORY`` profile and its default); the default,
:data:`DEFAULT_ARGON2`, is that profile exactly (4 lanes). A file found under the floor
(written by an older version) is re-sealed at the default the first time it opens.
Format 2 (:mod:`client_sdk.vault.store`) applies this policy in its ``create``,
``change_passphrase``, ``write_backup``, ``restore_backup`` and ``open``; a format 1
file is read whatever its parameters and converted at the floor or above. Only tests
may go lower, inside :func:`weak_argon2_for_tests`. A passphrase chosen for a keystore
or a backup must pass :func:`check_passphrase_strength` (at least
:data:`MIN_PASSPHRASE_LENGTH` characters): :class:`WeakPassphrase` says why otherwise.
Limits on what a file may ask for are :data:`MAX_ARGON2`.

Errors::

    KeystoreError            anything wrong with a keystore (also misuse: bad name, closed)
     +-- WrongPassphrase     the passphrase does not open this file
     +-- WeakPassphrase      a new passphrase too short to protect a stolen file
     +-- CorruptKeystore     damaged, truncated, tampered with or not a keystore at all
     +-- KeystoreExists      create() or restore_backup() would overwrite a file
     +-- KeystoreNotFound    open() of a path where there is no file

Input/output failures (a missing directory, a full disk, permissions) propagate as
:class:`OSError`; a failed save leaves the previous file in place.

Secrets never appear in ``repr``, in exception messages or in logs.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import struct
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw

from e2ee.errors import DecryptionError
from e2ee.primitives import (
    GCM_NONCE_SIZE,
    GCM_TAG_SIZE,
    RandomSource,
    aes256gcm_decrypt,
    aes256gcm_encrypt,
    hkdf,
    hmac_sha256,
    sha256,
    system_random,
)

__all__ = [
    "ARGON2_FLOOR",
    "DEFAULT_ARGON2",
    "MAX_ARGON2",
    "MAX_NAME_SIZE",
    "MAX_VALUE_SIZE",
    "MIN_PASSPHRASE_LENGTH",
    "Argon2Params",
    "CorruptKeystore",
    "Keystore",
    "KeystoreError",
    "KeystoreExists",
    "KeystoreNotFound",
    "KeystoreV1",
    "WeakPassphrase",
    "WrongPassphrase",
    "allowed",
    "check_floor",
    "check_passphrase_strength",
    "weak_argon2_for_tests",
]


class KeystoreError(Exception):
    """Root of every keystore error."""


class WrongPassphrase(KeystoreError):
    """The passphrase does not open this keystore."""

    def __init__(self, message: str = "wrong passphrase for this keystore") -> None:
        super().__init__(message)


class WeakPassphrase(KeystoreError):
    """A new passphrase is refused by :func:`check_passphrase_strength`; the message says why."""


class CorruptKeystore(KeystoreError):
    """The file is damaged, truncated, tampered with or not a keystore."""


class KeystoreExists(KeystoreError):
    """Refusing to overwrite an existing file."""


class KeystoreNotFound(KeystoreError):
    """There is no keystore file at this path."""


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters; ``memory_cost`` in KiB, as argon2-cffi names it."""

    time_cost: int
    memory_cost: int
    parallelism: int

    def check(self) -> None:
        """Raise :class:`KeystoreError` unless within ``[minimum, MAX_ARGON2]``."""
        if not (1 <= self.time_cost <= MAX_ARGON2.time_cost):
            raise KeystoreError("Argon2 time_cost out of range")
        if not (1 <= self.parallelism <= MAX_ARGON2.parallelism):
            raise KeystoreError("Argon2 parallelism out of range")
        if not (8 * self.parallelism <= self.memory_cost <= MAX_ARGON2.memory_cost):
            raise KeystoreError("Argon2 memory_cost out of range")

    def meets(self, floor: Argon2Params) -> bool:
        """Whether these parameters cost an attacker at least what ``floor`` does.

        Lanes (``parallelism``) split the same memory and passes across threads: they
        change the defender's wall time, not the attacker's work, so they are not compared.
        """
        return self.time_cost >= floor.time_cost and self.memory_cost >= floor.memory_cost


DEFAULT_ARGON2 = Argon2Params(time_cost=3, memory_cost=64 * 1024, parallelism=4)
"""argon2-cffi's ``RFC_9106_LOW_MEMORY`` profile (its default): 64 MiB, three passes, 4 lanes."""

ARGON2_FLOOR = Argon2Params(time_cost=3, memory_cost=64 * 1024, parallelism=1)
"""The least any keystore or backup is made with (:func:`weak_argon2_for_tests` aside)."""

MIN_PASSPHRASE_LENGTH = 15
"""Characters (Unicode code points after NFC) a new keystore or backup passphrase needs."""

_MIN_DISTINCT_CHARACTERS = 5

_weak_argon2_lock = threading.Lock()
_weak_argon2_depth = 0


@contextlib.contextmanager
def weak_argon2_for_tests() -> Iterator[None]:
    """TESTS ONLY: allow Argon2id parameters under :data:`ARGON2_FLOOR` in this process.

    Inside the block a keystore may be created with Argon2's own minimum (1 pass, 8 KiB)
    and opening such a file does not re-seal it at the default; the suite uses it to stay
    fast. Never use it in a program: a stolen keystore made under it falls to a guessing
    attack in no time. The passphrase rule is not relaxed.
    """
    global _weak_argon2_depth
    with _weak_argon2_lock:
        _weak_argon2_depth += 1
    try:
        yield
    finally:
        with _weak_argon2_lock:
            _weak_argon2_depth -= 1


def allowed(params: Argon2Params) -> bool:
    """Whether a keystore may be made, or left, with ``params``: at or above
    :data:`ARGON2_FLOOR`, or anything inside :func:`weak_argon2_for_tests`."""
    return params.meets(ARGON2_FLOOR) or _weak_argon2_depth > 0


def check_floor(params: Argon2Params) -> None:
    """Raise :class:`KeystoreError` unless :func:`allowed`."""
    if not allowed(params):
        raise KeystoreError(
            f"Argon2id parameters under the floor (time_cost >= {ARGON2_FLOOR.time_cost}, "
            f"memory_cost >= {ARGON2_FLOOR.memory_cost} KiB)"
        )


def check_passphrase_strength(passphrase: str | bytes) -> None:
    """Raise :class:`WeakPassphrase`, with a message a person can act on, unless the
    passphrase has at least :data:`MIN_PASSPHRASE_LENGTH` characters, not nearly all
    the same.

    Length is what resists guessing once the file is stolen; rules about symbols and
    digits do not help people choose well (NIST SP 800-63B), so there are none: a
    sentence or a few unrelated words are the easiest strong passphrases to remember.
    """
    if isinstance(passphrase, bytes):
        try:
            passphrase = passphrase.decode("utf-8")
        except UnicodeDecodeError:
            raise WeakPassphrase("the passphrase must be text (UTF-8)") from None
    if not isinstance(passphrase, str):
        raise WeakPassphrase("the passphrase must be text")
    text = unicodedata.normalize("NFC", passphrase)
    if len(text) < MIN_PASSPHRASE_LENGTH:
        raise WeakPassphrase(
            f"the passphrase has {len(text)} characters; use at least "
            f"{MIN_PASSPHRASE_LENGTH}, for example four or five unrelated words"
        )
    if len(set(text)) < _MIN_DISTINCT_CHARACTERS:
        raise WeakPassphrase(
            "the passphrase repeats a few characters; use words or a sentence instead"
        )


MAX_ARGON2 = Argon2Params(time_cost=64, memory_cost=4 * 1024 * 1024, parallelism=64)
"""The most a keystore file may ask for (4 GiB); anything above is refused as corrupt."""

MAX_NAME_SIZE = 1024
"""Largest record name in UTF-8 bytes."""

MAX_VALUE_SIZE = 64 * 1024 * 1024
"""Largest record value in bytes."""

_MAGIC = b"QLKS"
_FORMAT_VERSION = 1
_PURPOSE_KEYSTORE = 1
_PURPOSE_BACKUP = 2
_KDF_ARGON2ID = 1
_SALT_SIZE = 16
_HEADER = struct.Struct(">4sBBBIII16s")
_HEADER_SIZE = _HEADER.size  # 35
_TAG_SIZE = 32
_CHECKSUM_SIZE = 32
_TRAILER_SIZE = GCM_NONCE_SIZE + 32 + GCM_TAG_SIZE
_AAD_RECORD = b"\x01"
_AAD_TRAILER = b"\x02"
_INFO_RECORD_KEY = b"quietline/v1/keystore/record-key"
_INFO_NAME_KEY = b"quietline/v1/keystore/name-key"
_MIN_FILE_SIZE = _HEADER_SIZE + 4 + _TRAILER_SIZE + _CHECKSUM_SIZE


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if not isinstance(passphrase, bytes) or not passphrase:
        raise KeystoreError("the passphrase must be a non-empty string")
    return passphrase


def _check_name(name: str) -> bytes:
    if not isinstance(name, str) or not name:
        raise KeystoreError("a record name must be a non-empty string")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        raise KeystoreError("a record name must be valid Unicode") from None
    if len(raw) > MAX_NAME_SIZE:
        raise KeystoreError(f"a record name is limited to {MAX_NAME_SIZE} bytes")
    return raw


@dataclass(frozen=True)
class _Keys:
    record_key: bytes
    name_key: bytes

    def __repr__(self) -> str:
        return "_Keys(<hidden>)"


def _derive(passphrase: bytes, salt: bytes, params: Argon2Params) -> _Keys:
    try:
        master = hash_secret_raw(
            passphrase,
            salt,
            params.time_cost,
            params.memory_cost,
            params.parallelism,
            32,
            Type.ID,
            0x13,
        )
    except HashingError:
        raise KeystoreError("Argon2id could not run with these parameters") from None
    return _Keys(
        record_key=hkdf(b"", master, _INFO_RECORD_KEY, 32),
        name_key=hkdf(b"", master, _INFO_NAME_KEY, 32),
    )


def _header(purpose: int, params: Argon2Params, salt: bytes) -> bytes:
    return _HEADER.pack(
        _MAGIC,
        _FORMAT_VERSION,
        purpose,
        _KDF_ARGON2ID,
        params.time_cost,
        params.memory_cost,
        params.parallelism,
        salt,
    )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, *, exclusive: bool, random: RandomSource) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{random(8).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeystoreExists(f"refusing to overwrite {path}") from None
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@dataclass(frozen=True)
class _Parsed:
    header: bytes
    purpose: int
    params: Argon2Params
    salt: bytes
    records: list[tuple[bytes, bytes, bytes]]  # (tag, nonce, sealed)
    records_end: int
    trailer_nonce: bytes
    trailer: bytes


def _parse(data: bytes) -> _Parsed:
    """Check the framing and checksum; never touches the passphrase."""
    if len(data) < _MIN_FILE_SIZE or data[:4] != _MAGIC:
        raise CorruptKeystore("not a keystore file, or truncated")
    if not sha256(data[:-_CHECKSUM_SIZE]) == data[-_CHECKSUM_SIZE:]:
        raise CorruptKeystore("keystore file is damaged or truncated (checksum mismatch)")
    _, version, purpose, kdf, t, m, p, salt = _HEADER.unpack_from(data, 0)
    if version != _FORMAT_VERSION or kdf != _KDF_ARGON2ID:
        raise CorruptKeystore("unsupported keystore format")
    if purpose not in (_PURPOSE_KEYSTORE, _PURPOSE_BACKUP):
        raise CorruptKeystore("unsupported keystore purpose")
    params = Argon2Params(time_cost=t, memory_cost=m, parallelism=p)
    try:
        params.check()
    except KeystoreError:
        raise CorruptKeystore("keystore asks for Argon2 parameters out of range") from None
    body_end = len(data) - _CHECKSUM_SIZE - _TRAILER_SIZE
    pos = _HEADER_SIZE
    (count,) = struct.unpack_from(">I", data, pos)
    pos += 4
    records: list[tuple[bytes, bytes, bytes]] = []
    for _ in range(count):
        if pos + _TAG_SIZE + GCM_NONCE_SIZE + 4 > body_end:
            raise CorruptKeystore("keystore record list is truncated")
        tag = data[pos : pos + _TAG_SIZE]
        nonce = data[pos + _TAG_SIZE : pos + _TAG_SIZE + GCM_NONCE_SIZE]
        (size,) = struct.unpack_from(">I", data, pos + _TAG_SIZE + GCM_NONCE_SIZE)
        pos += _TAG_SIZE + GCM_NONCE_SIZE + 4
        if size < GCM_TAG_SIZE + 2 or pos + size > body_end:
            raise CorruptKeystore("keystore record is truncated")
        records.append((tag, nonce, data[pos : pos + size]))
        pos += size
    if pos != body_end:
        raise CorruptKeystore("keystore has trailing bytes")
    return _Parsed(
        header=data[:_HEADER_SIZE],
        purpose=purpose,
        params=params,
        salt=salt,
        records=records,
        records_end=body_end,
        trailer_nonce=data[body_end : body_end + GCM_NONCE_SIZE],
        trailer=data[body_end + GCM_NONCE_SIZE : body_end + _TRAILER_SIZE],
    )


class KeystoreV1:
    """An open keystore. Build one with :meth:`create`, :meth:`open` or :meth:`restore_backup`.

    In memory the keystore holds the derived keys and each record *sealed*; a value is
    decrypted only when :meth:`get` asks for it.
    """

    def __init__(
        self,
        path: Path,
        *,
        purpose: int,
        params: Argon2Params,
        salt: bytes,
        keys: _Keys,
        random: RandomSource,
    ) -> None:
        self._path = Path(path)
        self._purpose = purpose
        self._params = params
        self._header = _header(purpose, params, salt)
        self._keys: _Keys | None = keys
        self._random = random
        self._sealed: dict[str, tuple[bytes, bytes, bytes]] = {}  # name -> (tag, nonce, ct)
        self._dirty = False

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        params: Argon2Params = DEFAULT_ARGON2,
        random: RandomSource = system_random,
    ) -> KeystoreV1:
        """Create an empty keystore file at ``path`` (which must not exist) and return it."""
        ks = cls._new(Path(path), passphrase, _PURPOSE_KEYSTORE, params, random)
        ks._write(exclusive=True)
        return ks

    @classmethod
    def _new(
        cls,
        path: Path,
        passphrase: str | bytes,
        purpose: int,
        params: Argon2Params,
        random: RandomSource,
    ) -> KeystoreV1:
        """A keystore under a newly chosen passphrase: the floor and the strength rule hold."""
        params.check()
        check_floor(params)
        check_passphrase_strength(passphrase)
        return cls._new_unchecked(path, passphrase, purpose, params, random)

    @classmethod
    def _new_unchecked(
        cls,
        path: Path,
        passphrase: str | bytes,
        purpose: int,
        params: Argon2Params,
        random: RandomSource,
    ) -> KeystoreV1:
        params.check()
        secret = _passphrase_bytes(passphrase)
        salt = random(_SALT_SIZE)
        return cls(
            path,
            purpose=purpose,
            params=params,
            salt=salt,
            keys=_derive(secret, salt, params),
            random=random,
        )

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        random: RandomSource = system_random,
    ) -> KeystoreV1:
        """Open an existing keystore; the whole file is authenticated before it returns.

        Whatever its Argon2id parameters (a format 1 file is only read, to be converted
        by :mod:`client_sdk.vault.migrate`, which applies the floor).
        """
        return cls._load(Path(path), passphrase, _PURPOSE_KEYSTORE, random)

    @classmethod
    def _load(
        cls, path: Path, passphrase: str | bytes, purpose: int, random: RandomSource
    ) -> KeystoreV1:
        secret = _passphrase_bytes(passphrase)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeystoreNotFound(f"no keystore at {path}") from None
        parsed = _parse(data)
        if parsed.purpose != purpose:
            what = "a backup" if parsed.purpose == _PURPOSE_BACKUP else "a keystore, not a backup"
            raise CorruptKeystore(f"this file is {what}")
        keys = _derive(secret, parsed.salt, parsed.params)
        try:
            digest = aes256gcm_decrypt(
                keys.record_key,
                parsed.trailer_nonce,
                parsed.trailer,
                parsed.header + _AAD_TRAILER,
            )
        except DecryptionError:
            raise WrongPassphrase() from None
        if not hmac.compare_digest(sha256(data[: parsed.records_end]), digest):
            raise CorruptKeystore("keystore records do not match its sealed digest")
        ks = cls(
            path,
            purpose=purpose,
            params=parsed.params,
            salt=parsed.salt,
            keys=keys,
            random=random,
        )
        for tag, nonce, sealed in parsed.records:
            name, _ = ks._open_record(tag, nonce, sealed)
            if name in ks._sealed:
                raise CorruptKeystore("keystore holds the same record twice")
            ks._sealed[name] = (tag, nonce, sealed)
        return ks

    # -- records --------------------------------------------------------------------

    def _live_keys(self) -> _Keys:
        if self._keys is None:
            raise KeystoreError("the keystore is closed")
        return self._keys

    def _tag(self, raw_name: bytes) -> bytes:
        return hmac_sha256(self._live_keys().name_key, raw_name)

    def _seal(self, name: str, value: bytes) -> tuple[bytes, bytes, bytes]:
        raw = _check_name(name)
        tag = self._tag(raw)
        nonce = self._random(GCM_NONCE_SIZE)
        plaintext = struct.pack(">H", len(raw)) + raw + value
        sealed = aes256gcm_encrypt(
            self._live_keys().record_key, nonce, plaintext, self._header + _AAD_RECORD + tag
        )
        return tag, nonce, sealed

    def _open_record(self, tag: bytes, nonce: bytes, sealed: bytes) -> tuple[str, bytes]:
        try:
            plaintext = aes256gcm_decrypt(
                self._live_keys().record_key, nonce, sealed, self._header + _AAD_RECORD + tag
            )
        except DecryptionError:
            raise CorruptKeystore("a keystore record does not authenticate") from None
        (size,) = struct.unpack_from(">H", plaintext, 0)
        raw = plaintext[2 : 2 + size]
        if len(raw) != size or not hmac.compare_digest(self._tag(raw), tag):
            raise CorruptKeystore("a keystore record is filed under the wrong name")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptKeystore("a keystore record name is not UTF-8") from None
        return name, plaintext[2 + size :]

    def get(self, name: str) -> bytes | None:
        """The value stored under ``name``, or ``None``."""
        _check_name(name)
        entry = self._sealed.get(name)
        if entry is None:
            self._live_keys()
            return None
        return self._open_record(*entry)[1]

    def put(self, name: str, value: bytes) -> None:
        """Store ``value`` under ``name`` (in memory until :meth:`save`)."""
        if not isinstance(value, bytes | bytearray):
            raise KeystoreError("a record value must be bytes")
        if len(value) > MAX_VALUE_SIZE:
            raise KeystoreError(f"a record value is limited to {MAX_VALUE_SIZE} bytes")
        self._sealed[name] = self._seal(name, bytes(value))
        self._dirty = True

    def delete(self, name: str) -> None:
        """Forget ``name`` (in memory until :meth:`save`); absent names are ignored.

        The record is gone from the file after the next save; old copies a file system
        or a backup may keep are outside the keystore's reach.
        """
        _check_name(name)
        self._live_keys()
        if self._sealed.pop(name, None) is not None:
            self._dirty = True

    def names(self, prefix: str = "") -> list[str]:
        """Record names starting with ``prefix``, sorted."""
        self._live_keys()
        return sorted(n for n in self._sealed if n.startswith(prefix))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._sealed

    def __len__(self) -> int:
        return len(self._sealed)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

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

    # -- persistence ----------------------------------------------------------------

    def _serialize(self) -> bytes:
        keys = self._live_keys()
        entries = sorted(self._sealed.values(), key=lambda e: e[0])
        parts = [self._header, struct.pack(">I", len(entries))]
        for tag, nonce, sealed in entries:
            parts += [tag, nonce, struct.pack(">I", len(sealed)), sealed]
        body = b"".join(parts)
        nonce = self._random(GCM_NONCE_SIZE)
        trailer = aes256gcm_encrypt(
            keys.record_key, nonce, sha256(body), self._header + _AAD_TRAILER
        )
        data = body + nonce + trailer
        return data + sha256(data)

    def _write(self, *, exclusive: bool) -> None:
        _write_atomic(self._path, self._serialize(), exclusive=exclusive, random=self._random)
        self._dirty = False

    def _reseal_into(self, other: KeystoreV1) -> None:
        """Seal every record again under ``other``'s keys (in memory; ``other`` unsaved)."""
        for name in self.names():
            value = self.get(name)
            assert value is not None
            other._sealed[name] = other._seal(name, value)

    def save(self) -> None:
        """Write the keystore atomically: the old file or the new one, never half of either."""
        self._write(exclusive=False)

    def change_passphrase(
        self, new_passphrase: str | bytes, *, params: Argon2Params | None = None
    ) -> None:
        """Re-seal every record under keys from ``new_passphrase`` and a new salt, and save.

        ``params`` (default: unchanged) lets a program raise the Argon2id cost at the
        same time. Unsaved changes are saved too. If the write fails, the file and this
        object keep the old passphrase.
        """
        new = KeystoreV1._new(
            self._path, new_passphrase, self._purpose, params or self._params, self._random
        )
        self._reseal_into(new)
        new._write(exclusive=False)
        self._params, self._header = new._params, new._header
        self._keys = new._keys
        self._sealed = new._sealed
        self._dirty = False

    # -- backups --------------------------------------------------------------------

    def write_backup(
        self,
        path: str | os.PathLike[str],
        backup_passphrase: str | bytes,
        *,
        params: Argon2Params | None = None,
    ) -> None:
        """Write every record, sealed under ``backup_passphrase``, to a new file at ``path``.

        A backup has the keystore's format with purpose 2, so it cannot be opened as a
        keystore by mistake; its own salt means its keys differ from the keystore's.
        """
        backup = KeystoreV1._new(
            Path(path), backup_passphrase, _PURPOSE_BACKUP, params or self._params, self._random
        )
        self._reseal_into(backup)
        backup._write(exclusive=True)
        backup.close()

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
    ) -> KeystoreV1:
        """Open a backup and write its records as a new keystore at ``new_path``.

        ``new_path`` must not exist. Returns the new keystore, open.
        """
        backup = cls._load(Path(backup_path), backup_passphrase, _PURPOSE_BACKUP, random)
        try:
            inherited = backup._params
            if not allowed(inherited):
                inherited = DEFAULT_ARGON2  # a backup an older version made under the floor
            ks = cls._new(
                Path(new_path), passphrase, _PURPOSE_KEYSTORE, params or inherited, random
            )
            backup._reseal_into(ks)
            ks._write(exclusive=True)
        finally:
            backup.close()
        return ks

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Drop the keys and records from this object; unsaved changes are lost."""
        self._keys = None
        self._sealed = {}

    def __enter__(self) -> KeystoreV1:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._keys is None else f"{len(self._sealed)} records"
        return f"KeystoreV1({str(self._path)!r}, {state})"


if TYPE_CHECKING:
    from client_sdk.vault.store import Keystore


def __getattr__(name: str) -> Any:
    """``Keystore`` is format 2, imported on first use (it builds on this module)."""
    if name == "Keystore":
        from client_sdk.vault.store import Keystore

        return Keystore
    raise AttributeError(name)
