"""One process per keystore: an OS file lock beside the keystore, held for the node's life.

Two program nodes on one keystore would each hold a copy of every ratchet and overwrite
each other's saves: a message key reused, a message lost, every conversation broken.
So :meth:`KeystoreLock.acquire` takes an exclusive, non-blocking ``flock`` on
``<keystore>.lock`` (created beside the keystore, mode 0600, empty; never deleted, so
two processes can never lock two different files of the same name) and raises
:class:`KeystoreInUse` at once when another process, or another client in this
process, holds it. The operating system releases the lock when the holder exits or
crashes, so a stale lock file never blocks a restart.

POSIX only (``fcntl``); the program node runs on Linux or macOS.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from client_sdk.keystore import KeystoreError

__all__ = ["KeystoreInUse", "KeystoreLock", "lock_path"]


class KeystoreInUse(KeystoreError):
    """Another program node (``quietline program run``, or an SDK client) has this
    keystore open. Stop it first: two nodes on one keystore would break every chat."""


def lock_path(keystore: str | os.PathLike[str]) -> Path:
    """The lock file of ``keystore``: the same name with ``.lock`` appended."""
    path = Path(keystore)
    return path.with_name(path.name + ".lock")


class KeystoreLock:
    """An exclusive lock on one keystore; :meth:`release` (or the process's end) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, keystore: str | os.PathLike[str]) -> KeystoreLock:
        """Lock ``keystore`` now, or raise :class:`KeystoreInUse` without waiting."""
        path = lock_path(keystore)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise KeystoreInUse(
                f"the keystore {keystore} is in use by another program node "
                "(`quietline program run` or an SDK client); stop it first"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Free the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> KeystoreLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
