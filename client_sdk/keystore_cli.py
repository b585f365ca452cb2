"""``quietline program backup | restore | passphrase``, and passphrase files.

``quietline program backup --keystore PATH --out FILE`` writes a backup that is safe to
restore (:mod:`client_sdk.vault.backup`): the identity, staff accounts, saved replies,
settings and code words; never open conversations, prekey secrets or replay tags.
``quietline program restore --backup FILE --keystore NEW`` makes a new keystore from it,
with no open conversation; the node publishes fresh prekeys when it starts.
``quietline program passphrase --keystore PATH`` changes the keystore's passphrase.

Passphrases come from an environment variable, a file (``--passphrase-file`` and its
siblings: for running unattended) or a prompt, never from an argument (arguments show
in process lists). A passphrase file must be a regular file owned by the user running
the command and readable by nobody else (mode 0600 or 0400): anything else is refused
with the reason, before the file is read. One exception: a systemd credential (a file
directly in ``$CREDENTIALS_DIRECTORY``), which systemd gives the service's user alone,
either as its owner (on ramfs) or, where it must fall back to tmpfs, as root's file with
an ACL entry for that user: the group bits then show the ACL's mask, so such a file may
be root's and group-readable, never writable or readable by others.

A new passphrase (of a backup, a restored keystore, a change) must pass the keystore's
strength rule (:func:`client_sdk.keystore.check_passphrase_strength`); the files made
meet the Argon2id floor (:mod:`client_sdk.keystore`).
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
from pathlib import Path

from client_sdk.keystore import (
    MIN_PASSPHRASE_LENGTH,
    Keystore,
    WeakPassphrase,
    check_passphrase_strength,
)
from client_sdk.lock import KeystoreLock

PASSPHRASE_ENV = "QUIETLINE_PASSPHRASE"  # noqa: S105 - variable names, not secrets
BACKUP_PASSPHRASE_ENV = "QUIETLINE_BACKUP_PASSPHRASE"  # noqa: S105
NEW_PASSPHRASE_ENV = "QUIETLINE_NEW_PASSPHRASE"  # noqa: S105
MAX_PASSPHRASE_FILE = 4096


class PassphraseFileError(ValueError):
    """The passphrase file is refused (its owner, its mode, its kind, its content)."""


def read_passphrase_file(path: Path) -> str:
    """The first line of ``path``; refused unless only its owner (this user) can read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise PassphraseFileError(
            f"cannot open the passphrase file {path}: {exc.strerror}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PassphraseFileError(f"the passphrase file {path} is not a regular file")
        credential = _is_credential(path)
        if info.st_uid != os.geteuid() and not (credential and info.st_uid == 0):
            raise PassphraseFileError(f"the passphrase file {path} belongs to another user")
        if info.st_mode & (0o037 if credential else 0o077):
            raise PassphraseFileError(
                f"the passphrase file {path} can be read by others "
                f"(mode {stat.S_IMODE(info.st_mode):o}): run `chmod 600 {path}`"
            )
        data = os.read(fd, MAX_PASSPHRASE_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_PASSPHRASE_FILE:
        raise PassphraseFileError(f"the passphrase file {path} is too long")
    try:
        line = data.decode("utf-8").splitlines()[0] if data.strip() else ""
    except UnicodeDecodeError:
        raise PassphraseFileError(f"the passphrase file {path} is not UTF-8 text") from None
    if not line:
        raise PassphraseFileError(f"the passphrase file {path} is empty")
    return line


def _is_credential(path: Path) -> bool:
    """Whether ``path`` is a file directly in systemd's credentials folder for this
    service (``$CREDENTIALS_DIRECTORY``)."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder or not os.path.isabs(folder):
        return False
    return os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(folder)


PROMPT_ATTEMPTS = 3


def get_passphrase(env: str, file: Path | None, prompt: str, *, confirm: bool) -> str:
    """From ``file`` if given, else the variable ``env``, else a prompt. ``confirm``: a
    new passphrase, asked twice and held to the strength rule
    (:func:`~client_sdk.keystore.check_passphrase_strength`): a weak one from a file or
    the variable is refused with the reason, one typed at the prompt is asked again."""
    value = read_passphrase_file(file) if file is not None else os.environ.get(env, "")
    if value:
        if confirm:
            try:
                check_passphrase_strength(value)
            except WeakPassphrase as exc:
                where = str(file) if file is not None else env
                raise SystemExit(f"quietline program: {where}: {exc}") from None
        return value
    hint = f" (at least {MIN_PASSPHRASE_LENGTH} characters, e.g. a few words)" if confirm else ""
    for attempt in range(1, PROMPT_ATTEMPTS + 1):
        try:
            first = getpass.getpass(f"{prompt}{hint}: ")
            if not first:
                raise SystemExit("quietline program: an empty passphrase is not allowed")
            if confirm:
                try:
                    check_passphrase_strength(first)
                except WeakPassphrase as exc:
                    if attempt == PROMPT_ATTEMPTS:
                        raise SystemExit(f"quietline program: {exc}") from None
                    print(f"quietline program: {exc}. Try again.", file=sys.stderr)
                    continue
                if getpass.getpass("Repeat the passphrase: ") != first:
                    raise SystemExit("quietline program: the passphrases differ")
        except (EOFError, KeyboardInterrupt):
            raise SystemExit(f"quietline program: no passphrase (set {env})") from None
        return first
    raise AssertionError("unreachable")  # pragma: no cover


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser("backup", help="write a backup that is safe to restore")
    backup.add_argument("--keystore", required=True, type=Path)
    backup.add_argument("--out", required=True, type=Path, help="the backup file to create")
    backup.add_argument("--backup-passphrase-file", type=Path)
    restore = sub.add_parser("restore", help="make a new keystore from a backup")
    restore.add_argument("--backup", required=True, type=Path)
    restore.add_argument("--keystore", required=True, type=Path, help="the new keystore")
    restore.add_argument("--backup-passphrase-file", type=Path)
    change = sub.add_parser("passphrase", help="change the keystore's passphrase")
    change.add_argument("--keystore", required=True, type=Path)
    change.add_argument("--new-passphrase-file", type=Path)
    for cmd in (backup, restore, change):
        cmd.add_argument(
            "--passphrase-file",
            type=Path,
            help="read the keystore passphrase from this file (mode 600, yours)",
        )


def run(args: argparse.Namespace) -> str:
    """Carry out ``backup``, ``restore`` or ``passphrase``; what to tell the user."""
    if args.command == "backup":
        return _backup(args)
    if args.command == "restore":
        return _restore(args)
    return _change(args)


def _backup(args: argparse.Namespace) -> str:
    with KeystoreLock.acquire(args.keystore):
        passphrase = get_passphrase(
            PASSPHRASE_ENV, args.passphrase_file, "Keystore passphrase", confirm=False
        )
        with Keystore.open(args.keystore, passphrase) as ks:
            secret = get_passphrase(
                BACKUP_PASSPHRASE_ENV,
                args.backup_passphrase_file,
                "Passphrase for the backup",
                confirm=True,
            )
            conversations = len(ks.conversations())
            left_out = ks.write_backup(args.out, secret)
            kept = len(ks.names()) - len(left_out)
    return (
        f"Backup written to {args.out}: {kept} records (identity, staff accounts, saved "
        f"replies, settings, code words).\nNot in it, on purpose: {conversations} open "
        "conversation(s), prekey secrets and replay tags. A restore starts with no open "
        "conversation and fresh prekeys."
    )


def _restore(args: argparse.Namespace) -> str:
    secret = get_passphrase(
        BACKUP_PASSPHRASE_ENV,
        args.backup_passphrase_file,
        "Passphrase of the backup",
        confirm=False,
    )
    passphrase = get_passphrase(
        PASSPHRASE_ENV, args.passphrase_file, "Passphrase for the new keystore", confirm=True
    )
    with KeystoreLock.acquire(args.keystore):
        ks = Keystore.restore_backup(args.backup, secret, args.keystore, passphrase)
        count = len(ks.names())
        ks.close()
    return (
        f"Keystore {args.keystore} restored from {args.backup}: {count} records.\n"
        "It has no open conversation: conversations open at the time of the backup "
        "cannot be continued. Fresh prekeys are published when the node starts "
        "(`quietline program run`)."
    )


def _change(args: argparse.Namespace) -> str:
    with KeystoreLock.acquire(args.keystore):
        passphrase = get_passphrase(
            PASSPHRASE_ENV, args.passphrase_file, "Current keystore passphrase", confirm=False
        )
        with Keystore.open(args.keystore, passphrase) as ks:
            new = get_passphrase(
                NEW_PASSPHRASE_ENV, args.new_passphrase_file, "New passphrase", confirm=True
            )
            ks.change_passphrase(new)
    return (
        f"The passphrase of {args.keystore} is changed. Copies of the keystore made "
        "before still open with the old one."
    )
