"""Staff accounts: a name, a role, an Argon2id password hash, sealed in the keystore.

Security properties:

- Passwords are kept only as Argon2id hashes (``argon2-cffi``), inside the keystore's
  sealed records (``console/staff/<staff_id>``), never in a file of their own, never
  logged, never in a ``repr``.
- :meth:`StaffAccounts.verify` takes the same time for an unknown name as for a known
  one (it verifies against a dummy hash), and says only "yes, this account" or "no":
  never whether the name or the password was wrong, never that an account is disabled.
- A ``staff_id`` is 128 random bits (base64url), opaque: it says nothing of the name.

Roles: ``worker`` (a support worker), ``supervisor``, ``admin`` (every supervisor right,
plus the program's settings). In the workflow a worker is ``Role.STAFF``, supervisors
and admins are ``Role.SUPERVISOR``.

Changes are made in the keystore in memory: the caller saves it (the CLI with
``Keystore.save``, the running node with ``ProgramClient.save``).
"""

from __future__ import annotations

import hmac
import json
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from client_sdk.keystore import Keystore
from client_sdk.workflow import Role as WorkflowRole
from console.errors import Conflict, NotAllowed, NotFound
from e2ee.encoding import b64u_encode
from e2ee.primitives import RandomSource, system_random

__all__ = ["Account", "Role", "StaffAccounts", "check_name", "check_password"]

PREFIX = "console/staff/"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_NAME = 64


class Role(StrEnum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def supervises(self) -> bool:
        """Supervisors and admins: see every conversation, take over, end and block."""
        return self is not Role.WORKER

    @property
    def workflow_role(self) -> WorkflowRole:
        return WorkflowRole.SUPERVISOR if self.supervises else WorkflowRole.STAFF


@dataclass(frozen=True)
class Account:
    """One staff member's account (no password hash in it)."""

    staff_id: str
    name: str
    role: Role
    disabled: bool = False


def check_name(name: str) -> str:
    """The name as stored (NFC, trimmed); raises :class:`NotAllowed` when unusable."""
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean or len(clean) > MAX_NAME or any(unicodedata.category(c)[0] == "C" for c in clean):
        raise NotAllowed(f"A name is 1 to {MAX_NAME} letters, with no control characters.")
    return clean


def check_password(password: str) -> str:
    """The password as hashed (NFC); raises :class:`NotAllowed` when too short or long."""
    clean = unicodedata.normalize("NFC", password)
    if not MIN_PASSWORD <= len(clean) <= MAX_PASSWORD:
        raise NotAllowed(f"A password has at least {MIN_PASSWORD} characters.")
    return clean


def _key(name: str) -> str:
    return check_name(name).casefold()


class StaffAccounts:
    """The staff accounts in one open keystore."""

    def __init__(
        self,
        keystore: Keystore,
        *,
        hasher: PasswordHasher | None = None,
        random: RandomSource = system_random,
    ) -> None:
        self._ks = keystore
        self._hasher = hasher or PasswordHasher()
        self._random = random
        self._dummy: str | None = None

    def __repr__(self) -> str:
        return f"StaffAccounts({len(self._records())} accounts)"

    # -- records ---------------------------------------------------------------------

    def _records(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name in self._ks.names(PREFIX):
            raw = self._ks.get(name)
            if raw is not None:
                record = json.loads(raw.decode("utf-8"))
                out[str(record["staff_id"])] = record
        return out

    def _put(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self._ks.put(f"{PREFIX}{record['staff_id']}", data.encode("utf-8"))

    @staticmethod
    def _account(record: dict[str, Any]) -> Account:
        return Account(
            staff_id=str(record["staff_id"]),
            name=str(record["name"]),
            role=Role(record["role"]),
            disabled=bool(record.get("disabled", False)),
        )

    def _record(self, staff_id: str) -> dict[str, Any]:
        record = self._records().get(staff_id)
        if record is None:
            raise NotFound("There is no such staff account.")
        return record

    def _by_name(self, name: str) -> dict[str, Any] | None:
        key = _key(name)
        return next((r for r in self._records().values() if _key(r["name"]) == key), None)

    # -- queries ---------------------------------------------------------------------

    def get(self, staff_id: str) -> Account | None:
        record = self._records().get(staff_id)
        return None if record is None else self._account(record)

    def find(self, name: str) -> Account | None:
        """The account of ``name`` (case does not matter), or None."""
        try:
            record = self._by_name(name)
        except NotAllowed:
            return None
        return None if record is None else self._account(record)

    def list(self) -> list[Account]:
        """Every account, by name."""
        accounts = [self._account(r) for r in self._records().values()]
        return sorted(accounts, key=lambda a: (a.name.casefold(), a.staff_id))

    def verify(self, name: str, password: str) -> Account | None:
        """The account when ``password`` is its password and it is not disabled; else None.

        An unknown name costs one Argon2id verification too (against a dummy hash), so
        the time taken does not tell which names exist. Slow on purpose, and all of it
        on the caller's thread: a running node uses :meth:`lookup`, :meth:`check` and
        :meth:`make_hash` in its password pool (:mod:`console.passwords`) and
        :meth:`conclude` and :meth:`replace_hash` on its loop instead.
        """
        record = self.lookup(name)
        account = self.conclude(record, self.check(record, password))
        if account is not None and record is not None and self.needs_rehash(record):
            self.replace_hash(account.staff_id, str(record["hash"]), self.make_hash(password))
        return account

    def lookup(self, name: str) -> dict[str, Any] | None:
        """The stored record of ``name``, or None (reads the keystore: on its owner's loop)."""
        try:
            return self._by_name(name)
        except NotAllowed:
            return None

    def check(self, record: dict[str, Any] | None, password: str) -> bool:
        """One Argon2id verification, against the record's hash or a dummy one. Touches no
        keystore: safe to run in a thread while the node keeps working."""
        stored = str(record["hash"]) if record is not None else self._dummy_hash()
        try:
            return bool(self._hasher.verify(stored, unicodedata.normalize("NFC", password)))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def conclude(self, record: dict[str, Any] | None, ok: bool) -> Account | None:
        """The account after :meth:`check`: None unless right and enabled. Hashes nothing."""
        if not ok or record is None or record.get("disabled"):
            return None
        return self._account(record)

    def needs_rehash(self, record: dict[str, Any]) -> bool:
        """The record's hash was made with other parameters than the hasher's (cheap)."""
        return bool(self._hasher.check_needs_rehash(str(record["hash"])))

    def make_hash(self, password: str) -> str:
        """An Argon2id hash of ``password`` (NFC). Touches no keystore: safe in a thread.
        Checks nothing: :func:`check_password` is for new passwords."""
        return self._hasher.hash(unicodedata.normalize("NFC", password))

    def replace_hash(self, staff_id: str, old: str, new: str) -> bool:
        """Store ``new`` (a rehash of the same password) unless the hash changed meanwhile
        (a password reset while the rehash ran wins). True when stored."""
        record = self._records().get(staff_id)
        if record is None or not hmac.compare_digest(str(record["hash"]), old):
            return False
        record["hash"] = new
        self._put(record)
        return True

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash(b64u_encode(self._random(16)))
        return self._dummy

    # -- changes ---------------------------------------------------------------------

    def add(self, name: str, role: Role | str, password: str) -> Account:
        """A new account; the name must be free (case does not matter). Hashes here."""
        self.check_free(name)
        return self.add_hashed(name, role, self.make_hash(check_password(password)))

    def check_free(self, name: str) -> str:
        """The clean name when no account has it yet; else :class:`Conflict`."""
        clean = check_name(name)
        if self._by_name(clean) is not None:
            raise Conflict(f"There is already an account named {clean}.")
        return clean

    def add_hashed(self, name: str, role: Role | str, password_hash: str) -> Account:
        """A new account with a hash made by :meth:`make_hash` (a running node makes it
        off its loop); the name must still be free."""
        clean = self.check_free(name)
        record = {
            "v": 1,
            "staff_id": b64u_encode(self._random(16)),
            "name": clean,
            "role": Role(role).value,
            "disabled": False,
            "hash": password_hash,
        }
        self._put(record)
        return self._account(record)

    def set_role(self, staff_id: str, role: Role | str) -> Account:
        record = self._record(staff_id)
        record["role"] = Role(role).value
        self._put(record)
        return self._account(record)

    def set_password(self, staff_id: str, password: str) -> Account:
        """A new password (checked and hashed here)."""
        self._record(staff_id)
        return self.set_password_hash(staff_id, self.make_hash(check_password(password)))

    def set_password_hash(self, staff_id: str, password_hash: str) -> Account:
        """A new password, as a hash made by :meth:`make_hash`."""
        record = self._record(staff_id)
        record["hash"] = password_hash
        self._put(record)
        return self._account(record)

    def disable(self, staff_id: str) -> Account:
        """The account can no longer sign in (its record stays, for the names in logs)."""
        record = self._record(staff_id)
        record["disabled"] = True
        self._put(record)
        return self._account(record)

    def enable(self, staff_id: str) -> Account:
        record = self._record(staff_id)
        record["disabled"] = False
        self._put(record)
        return self._account(record)
