"""Helpers for the abuse tests: a relay process with a real open-file limit, raw sockets
from several loopback sources, a WebSocket client that never reads, and the relay's
memory and open files from /proc."""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from relay_process import ROOT, RelayProcess, _wait_ready, free_port


def start_relay_limited(tmp: Path, *, nofile: int | None = None, **extra_env: str) -> RelayProcess:
    """``quietline relay serve`` as tests/support/relay_process.py starts it, with its
    open-file limit set to ``nofile`` (soft and hard) before it runs."""
    port = free_port()
    db_path, log_path = tmp / "relay.db", tmp / "relay.log"
    database_url = f"sqlite+aiosqlite:///{db_path}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    env.update(PYTHONUNBUFFERED="1", QUIETLINE_DATABASE_URL=database_url, **extra_env)
    preexec: Callable[[], None] | None = None
    if nofile is not None:
        limit = nofile

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    command = [sys.executable, "-m", "quietline", "relay", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--database-url", database_url]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            preexec_fn=preexec,
        )
    relay = RelayProcess(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        db_path=db_path,
        log_path=log_path,
        process=process,
        extra_env=dict(extra_env),
    )
    _wait_ready(relay.url, process, log_path)
    return relay


def rss_bytes(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert match is not None
    return int(match.group(1)) * 1024


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect_from(source: str, port: int) -> socket.socket:
    """A TCP connection to the relay from ``source`` (any 127.x.y.z: loopback)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def refused(sockets: list[socket.socket], wait: float) -> list[socket.socket]:
    """The sockets the relay answered and closed within ``wait`` seconds (a refusal
    comes at once; an admitted connection says nothing until it sends a request)."""
    sel = selectors.DefaultSelector()
    for s in sockets:
        sel.register(s, selectors.EVENT_READ)
    out: list[socket.socket] = []
    deadline = time.monotonic() + wait
    try:
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                sel.unregister(s)
                out.append(s)
    finally:
        sel.close()
    return out


def closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closed ``s`` (read to EOF), or None if it did not."""
    start = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


class RawWebSocket:
    """A WebSocket client over a plain socket that reads only when told to: the socket's
    receive buffer is small, so a relay writing to it soon finds it full."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = connect_from(source, port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /v1/ws HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nupgrade: websocket\r\n"
                f"connection: Upgrade\r\nsec-websocket-key: {key}\r\n"
                "sec-websocket-version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        self.sock.settimeout(10)
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = bytes([0x81, 0x80 | n])
        elif n < 65536:
            head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_json(self, obj: object) -> None:
        self.send_text(json.dumps(obj))

    def read_until_closed(self, timeout: float) -> tuple[list[str], int | None]:
        """Every text frame until the relay's close frame (or EOF), and the close code."""
        self.sock.settimeout(timeout)
        data = b""
        code = None
        try:
            while code is None:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
                code = _frames(data)[1]
        except (TimeoutError, ConnectionResetError):
            pass
        return _frames(data)

    def close(self) -> None:
        self.sock.close()


def _frames(data: bytes) -> tuple[list[str], int | None]:
    """The complete text frames in ``data`` (from the relay: unmasked) and the close code."""
    texts: list[str] = []
    code = None
    i = 0
    while i + 2 <= len(data):
        opcode, n, start = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if n == 126:
            n, start = int.from_bytes(data[start : start + 2], "big"), start + 2
        elif n == 127:
            n, start = int.from_bytes(data[start : start + 8], "big"), start + 8
        if start + n > len(data):
            break
        payload, i = data[start : start + n], start + n
        if opcode == 1:
            texts.append(payload.decode())
        elif opcode == 8 and len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
    return texts, code
