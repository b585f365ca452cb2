"""The running node's control socket: the CLI's way to change a node that is running.

While ``quietline program run`` holds a keystore (its lock, :mod:`client_sdk.lock`),
nobody else may open the keystore. So the node listens on a Unix socket beside it,
``<keystore>.control``, and the CLI sends admin operations there
(:mod:`console.admin.runner` chooses). One request per connection: one JSON line
``{"op": NAME, "args": {...}}``, answered by one JSON line ``{"ok": true, "result": ...}``
or ``{"ok": false, "kind": "NotAllowed", "error": "plain words"}``.

Security properties:

- Only the node's own user can connect: the socket file is mode 0600 (made under a
  0077 umask, so there is no window), and on Linux the peer's uid (``SO_PEERCRED``) must
  equal the node's. That user can already read the node's memory, so the socket grants
  nothing new; it acts with the operator's (admin) rights.
- A request is at most :data:`MAX_REQUEST` bytes and must arrive within
  :data:`READ_TIMEOUT` seconds; anything else is refused without running.
- Errors name the kind and plain words only; an unexpected error answers "the node
  could not do this" and logs the exception's type, never arguments (they may hold a
  password or a code word).
- A socket file left by a crash is removed at start: the node holds the keystore's lock,
  so no other node can be listening on it.

Long paths: a Unix socket address is limited to about 100 bytes, so when
``<keystore>.control`` is longer, both sides reach it through ``/proc/self/fd`` of
the folder (Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.admin.context import AdminContext
from console.admin.registry import call
from console.errors import ConsoleError, SetupError

if TYPE_CHECKING:
    from console.node import ConsoleNode

__all__ = ["MAX_REQUEST", "READ_TIMEOUT", "ControlUnavailable", "control_path", "request", "serve"]

log = logging.getLogger("console.control")

MAX_REQUEST = 1 << 20
READ_TIMEOUT = 10.0
ANSWER_TIMEOUT = 120.0
_SUN_PATH_MAX = 100


class ControlUnavailable(ConsoleError):
    default = (
        "The running program node did not answer on its control socket. "
        "Is `quietline program run` still starting, or was it stopped?"
    )


def control_path(keystore: str | os.PathLike[str]) -> Path:
    """The control socket of ``keystore``: the same name with ``.control`` appended."""
    path = Path(keystore).absolute()
    return path.with_name(path.name + ".control")


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """An address for ``path`` short enough for ``sun_path`` (via the folder's fd if needed)."""
    if len(os.fsencode(str(path))) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        short = f"/proc/self/fd/{fd}/{path.name}"
        if len(short) > _SUN_PATH_MAX or not Path(f"/proc/self/fd/{fd}").exists():
            raise SetupError(f"The path of {path} is too long for a control socket.")
        yield short
    finally:
        os.close(fd)


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    opt = getattr(socket, "SO_PEERCRED", None)
    if sock is None or opt is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


def _answer(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n"


async def _handle(
    node: ConsoleNode, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        uid = _peer_uid(writer)
        if uid is not None and uid != os.getuid():
            writer.write(_answer({"ok": False, "kind": "Forbidden", "error": "Not this user."}))
            return
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            body = json.loads(line)
        except (TimeoutError, ValueError, asyncio.LimitOverrunError):
            writer.write(_answer({"ok": False, "kind": "BadRequest", "error": "Bad request."}))
            return
        if not isinstance(body, dict) or not isinstance(body.get("op"), str):
            writer.write(_answer({"ok": False, "kind": "BadRequest", "error": "Bad request."}))
            return
        ctx = AdminContext.for_node(node, None)
        try:
            result = await call(ctx, body["op"], body.get("args"))
        except ConsoleError as exc:
            answer = {"ok": False, "kind": type(exc).__name__, "error": exc.message}
        except Exception as exc:  # the node keeps running; the CLI gets plain words
            log.warning("control operation failed: %s", type(exc).__name__)
            answer = {"ok": False, "kind": "Failed", "error": "The node could not do this."}
        else:
            answer = {"ok": True, "result": result}
        writer.write(_answer(answer))
    finally:
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve(node: ConsoleNode, keystore: str | os.PathLike[str]) -> AsyncIterator[Path]:
    """Listen on ``<keystore>.control`` for as long as the block runs (the node holds the lock)."""
    path = control_path(keystore)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a crash: we hold the keystore's lock
    old = os.umask(0o077)
    try:
        with _address(path) as address:
            server = await asyncio.start_unix_server(
                lambda r, w: _handle(node, r, w), path=address, limit=MAX_REQUEST
            )
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    try:
        yield path
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def request(
    keystore: str | os.PathLike[str],
    op: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = ANSWER_TIMEOUT,
    on_error: Callable[[str, str], Exception] | None = None,
) -> Any:
    """Send ``op`` to the node running on ``keystore``; its result, or its error raised.

    An error answer is raised as the matching :mod:`console.errors` class (``on_error``
    may build another), with the node's plain words."""
    path = control_path(keystore)
    try:
        with _address(path) as address:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(address, limit=MAX_REQUEST), READ_TIMEOUT
            )
    except (OSError, TimeoutError):
        raise ControlUnavailable() from None
    try:
        writer.write(_answer({"op": op, "args": args or {}}))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError, asyncio.LimitOverrunError):
        raise ControlUnavailable() from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    try:
        answer = json.loads(line)
    except ValueError:
        raise ControlUnavailable() from None
    if answer.get("ok"):
        return answer.get("result")
    kind, message = str(answer.get("kind")), str(answer.get("error"))
    if on_error is not None:
        raise on_error(kind, message)
    from console import errors

    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, ConsoleError):
        raise cls(message)
    raise ConsoleError(message)
