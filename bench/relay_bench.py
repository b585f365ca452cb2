"""Relay vs a bare WebSocket echo, same uvicorn settings, same frames, in one run.

Both servers are real uvicorn processes on 127.0.0.1 (the relay on a real SQLite file,
through ``quietline relay serve``), driven by the same client code. Both run on uvicorn's
"auto" loop: uvloop, which the relay depends on, so the echo gets it too; this client
runs on asyncio's own loop. The echo then often goes as fast as this client can drive
it (compare the CPU figures printed per block), while the relay is bound by its own
single core. N conversations
(default 100) each run a closed loop: the participant sends a ~1 KB envelope in a
``send`` frame; the server answers ``sent`` and delivers the envelope to the program
node's socket, which acks in batches every few milliseconds (as a program node does);
the next send starts when the previous one was delivered. Latency is send -> delivery.

- relay: parses and checks the envelope, commits it (group commit), pushes it, and
  deletes it on ack. The program socket asks for batched pushes, as the SDK's program
  node does (docs/api.md): the messages of one commit come in one ``messages`` frame;
- echo: a bare Starlette endpoint that forwards each frame as it is (``sent`` back,
  the frame itself to the program socket) and ignores acks: no parsing, no storage.

The sockets of both stay open for ROUNDS rounds (default 7); each round is a block of
MESSAGES per conversation (default 50) on the echo, then the same on the relay, so the
two blocks of a round see the same machine load (this machine is shared and noisy).
Throughput and p99 ratios are taken per round; the RESULT is their median over rounds.
Every round is printed.

Each block also records the CPU time the server process and this client spent per
message (from /proc and ``time.process_time``): it shows where the time went when the
two servers' throughputs differ, and it varies less with the machine's load.

A plain round-trip echo on one socket (frame out, same frame back) is printed too, for
reference. Then each server gets 1,000 idle connections (the relay's authenticated,
one per conversation) and the growth of its RSS is divided by 1,000.

Last line (each ratio is relay / echo):
``RESULT throughput_ratio=<x> p99_ratio=<x> memory_ratio=<x>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from e2ee import identity  # noqa: E402
from e2ee.encoding import b64u_decode, b64u_encode  # noqa: E402
from e2ee.envelope import Envelope, Header, InitFields  # noqa: E402

UVICORN_SETTINGS: dict[str, Any] = {
    "access_log": False,
    "proxy_headers": False,
    "server_header": False,
    "date_header": False,
    "ws_per_message_deflate": False,
    "log_level": "warning",
    "lifespan": "on",
}
ENVELOPE_BLOCKS = 4  # 60 + 12 + 4*256 + 16 = 1,112 bytes


# -- the echo baseline (run as a child process) ----------------------------------------------


def run_echo_server(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    program: dict[str, asyncio.Queue[str]] = {}

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            return

    async def program_socket(ws: WebSocket) -> None:
        """The program's side: one writer task, acks read and dropped."""
        await ws.accept()
        outbox: asyncio.Queue[str] = asyncio.Queue()
        program["outbox"] = outbox

        async def push() -> None:
            while True:
                await ws.send_text(await outbox.get())

        pusher = asyncio.create_task(push())
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            return
        finally:
            pusher.cancel()

    async def participant_socket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                frame = await ws.receive_text()
                await ws.send_text('{"type":"sent"}')
                program["outbox"].put_nowait(frame)
        except WebSocketDisconnect:
            return

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", echo),
            WebSocketRoute("/program", program_socket),
            WebSocketRoute("/participant", participant_socket),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, **UVICORN_SETTINGS)


# -- helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def envelope(cid: bytes, sender: int, recipient: int, n: int, init: bool = False) -> str:
    return b64u_encode(
        Envelope(
            conversation_id=cid,
            sender_slot=sender,
            recipient_slot=recipient,
            header=Header(dh=os.urandom(32), pn=0, n=n),
            ciphertext=os.urandom(12 + 256 * ENVELOPE_BLOCKS + 16),
            init=InitFields(prekey_kind=1, prekey_id=1, enc=os.urandom(32)) if init else None,
        ).to_bytes()
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def ws_connect(url: str) -> Any:
    return await websockets.connect(url, compression=None, max_size=2**22, open_timeout=60)


# -- the echo workload ------------------------------------------------------------------------


async def echo_loop(url: str, conversations: int, messages: int) -> tuple[float, list[float]]:
    sockets = [await ws_connect(url) for _ in range(conversations)]
    payload = json.dumps({"type": "send", "envelopes": [envelope(os.urandom(16), 0, 1, 0)]})
    latencies: list[float] = []

    async def one(ws: Any) -> None:
        for _ in range(messages):
            t0 = time.perf_counter()
            await ws.send(payload)
            await ws.recv()
            latencies.append(time.perf_counter() - t0)

    for ws in sockets:  # warm up
        await ws.send(payload)
        await ws.recv()
    start = time.perf_counter()
    await asyncio.gather(*[one(ws) for ws in sockets])
    elapsed = time.perf_counter() - start
    for ws in sockets:
        await ws.close()
    return conversations * messages / elapsed, latencies


async def echo_memory(url: str, pid: int, count: int) -> float:
    """Idle sockets on the bare server (each has exchanged one frame, like an auth)."""
    warm = [await ws_connect(url) for _ in range(10)]
    await asyncio.sleep(0.5)
    before = rss_kb(pid)
    conns = []
    for _ in range(count):
        ws = await ws_connect(url)
        await ws.send("x")
        await ws.recv()
        conns.append(ws)
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    for ws in conns + warm:
        await ws.close()
    return (after - before) / count


# -- the relay workload -----------------------------------------------------------------------


class RelayClient:
    def __init__(self, origin: str, enrollment_token: str) -> None:
        self.origin = origin
        self.ws_url = origin.replace("http", "ws") + "/v1/ws"
        self.token = enrollment_token
        self.keys = identity.IdentityKeyPair.generate()
        self.pid = b64u_encode(self.keys.program_id)
        self.session = ""

    async def setup(self, http: httpx.AsyncClient) -> None:
        import hashlib

        sig = self.keys.sign(identity.LABEL_ENROLL, hashlib.sha256(self.token.encode()).digest())
        r = await http.post(
            "/v1/programs",
            json={
                "enrollment_token": self.token,
                "identity_key": b64u_encode(self.keys.public_key),
                "signature": b64u_encode(sig),
            },
        )
        r.raise_for_status()
        ch = b64u_decode(
            (await http.post(f"/v1/programs/{self.pid}/challenge")).json()["challenge"]
        )
        sig = self.keys.sign(identity.LABEL_RELAY_AUTH, ch + self.origin.encode())
        r = await http.post(
            f"/v1/programs/{self.pid}/session",
            json={"challenge": b64u_encode(ch), "signature": b64u_encode(sig)},
        )
        r.raise_for_status()
        self.session = r.json()["session_token"]

    async def open(self, http: httpx.AsyncClient) -> tuple[bytes, str]:
        for attempt in range(3):
            cid = os.urandom(16)  # a fresh id on retry: the lost answer may have committed
            try:
                r = await http.post(
                    "/v1/conversations",
                    json={"program_id": self.pid, "envelope": envelope(cid, 0, 1, 0, True)},
                )
            except httpx.TransportError:  # a keep-alive connection closed under us
                if attempt == 2:
                    raise
                continue
            r.raise_for_status()
            return cid, r.json()["token"]
        raise AssertionError("unreachable")

    async def auth(self, token: str, batch: bool = False) -> Any:
        ws = await ws_connect(self.ws_url)
        await ws.send(json.dumps({"type": "auth", "token": token, "batch": batch}))
        first = json.loads(await ws.recv())
        assert first == {"type": "ready"}, first
        return ws


class ClosedLoop:
    """The closed loop described in the module docstring, the same for both servers.

    The sockets stay open between blocks, so blocks of the two servers can alternate
    and each pair sees the same machine load. Acks not yet sent when a block ends are
    sent in the next one (or at close)."""

    def __init__(
        self, program: Any, participants: list[Any], cids: list[bytes], server_pid: int
    ) -> None:
        self.server_pid = server_pid
        self.server_cpu: list[float] = []  # per block: the server's CPU µs per message
        self.client_cpu: list[float] = []  # per block: this process's CPU µs per message
        self.program = program
        self.pairs = list(zip(cids, participants, strict=True))
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.to_ack: list[str] = []
        self.sent = 0  # per conversation: the next envelope counter

    async def _program_reader(self) -> None:
        async for raw in self.program:
            frame = json.loads(raw)
            for event in frame["messages"] if frame.get("type") == "messages" else [frame]:
                if event.get("type") not in ("message", "send"):
                    continue
                if "id" in event:
                    self.to_ack.append(event["id"])
                fut = self.waiters.pop(event["conversation_id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(time.perf_counter())

    async def _flush_acks(self) -> None:
        while self.to_ack:
            ids = self.to_ack[:1000]
            del self.to_ack[: len(ids)]
            await self.program.send(json.dumps({"type": "ack", "ids": ids}))

    async def _acker(self) -> None:
        """Like a program node: ack what arrived, a few milliseconds at a time."""
        while True:
            await asyncio.sleep(0.005)
            await self._flush_acks()

    def _frames(self, cid: bytes, count: int) -> list[str]:
        key = b64u_encode(cid)
        return [
            json.dumps(
                {
                    "type": "send",
                    "request_id": n,
                    "conversation_id": key,
                    "envelopes": [envelope(cid, 0, 1, n + 1)],
                }
            )
            for n in range(self.sent, self.sent + count)
        ]

    async def _one(self, cid: bytes, ws: Any, frames: list[str], latencies: list[float]) -> None:
        key = b64u_encode(cid)
        loop = asyncio.get_running_loop()

        async def drain() -> None:  # "sent" answers; only an error needs a look
            async for raw in ws:
                if '"error"' in raw:
                    raise RuntimeError(raw)

        drainer = asyncio.create_task(drain())
        try:
            for frame in frames:
                fut: asyncio.Future[float] = loop.create_future()
                self.waiters[key] = fut
                t0 = time.perf_counter()
                await ws.send(frame)
                latencies.append(await asyncio.wait_for(fut, 30) - t0)
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer

    async def block(self, messages: int) -> tuple[float, list[float]]:
        """``messages`` per conversation, all conversations at once: (msg/s, latencies)."""
        work = [self._frames(cid, messages) for cid, _ws in self.pairs]  # made before the clock
        self.sent += messages
        reader = asyncio.create_task(self._program_reader())
        acks = asyncio.create_task(self._acker())
        latencies: list[float] = []
        try:
            server0, client0 = cpu_seconds(self.server_pid), time.process_time()
            start = time.perf_counter()
            await asyncio.gather(
                *[
                    self._one(cid, ws, f, latencies)
                    for (cid, ws), f in zip(self.pairs, work, strict=True)
                ]
            )
            elapsed = time.perf_counter() - start
            count = len(self.pairs) * messages
            self.server_cpu.append((cpu_seconds(self.server_pid) - server0) / count * 1e6)
            self.client_cpu.append((time.process_time() - client0) / count * 1e6)
        finally:
            for task in (reader, acks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return len(self.pairs) * messages / elapsed, latencies

    async def close(self) -> None:
        await self._flush_acks()
        for _cid, ws in self.pairs:
            await ws.close()
        await self.program.close()


async def relay_conversations(
    client: RelayClient, conversations: int, server_pid: int
) -> ClosedLoop:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=client.origin, limits=limits, timeout=60) as http:
        convs = await asyncio.gather(*[client.open(http) for _ in range(conversations)])
    # the participants come back with their tokens (as the widget does at once): only
    # then are their conversations' inits the program's (docs/api.md, unconfirmed)
    participants = [await client.auth(token) for _, token in convs]
    program = await client.auth(client.session, batch=True)  # as the SDK's program node
    # the init messages of the new conversations are pending: take and ack them first
    ids = []
    while len(ids) < conversations:
        frame = json.loads(await program.recv())
        for event in frame["messages"] if frame.get("type") == "messages" else [frame]:
            if event.get("type") == "message":
                ids.append(event["id"])
    await program.send(json.dumps({"type": "ack", "ids": ids}))
    return ClosedLoop(program, participants, [c for c, _ in convs], server_pid)


async def echo_conversations(base: str, conversations: int, server_pid: int) -> ClosedLoop:
    program = await ws_connect(base + "/program")
    participants = [await ws_connect(base + "/participant") for _ in range(conversations)]
    return ClosedLoop(
        program, participants, [os.urandom(16) for _ in range(conversations)], server_pid
    )


async def relay_memory(client: RelayClient, pid: int, count: int) -> float:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=client.origin, limits=limits, timeout=60) as http:
        convs = await asyncio.gather(*[client.open(http) for _ in range(count + 10)])
    warm = [await client.auth(token) for _, token in convs[:10]]
    await asyncio.sleep(0.5)
    before = rss_kb(pid)
    conns = [await client.auth(token) for _, token in convs[10:]]
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    for ws in conns + warm:
        await ws.close()
    return (after - before) / count


# -- main ---------------------------------------------------------------------------------------


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=fh, cwd=ROOT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def main_async(args: argparse.Namespace, work: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    env["PYTHONPATH"] = str(ROOT)
    big = str(10**9)
    for name in (
        "CONVERSATIONS_PER_PROGRAM",
        "SENDS_PER_CONVERSATION",
        "CONNECTIONS_PER_TOKEN",
        "BUNDLES_PER_PROGRAM",
        "CONVERSATIONS_PER_SOURCE",
        "SENDS_PER_SOURCE",
        "BUNDLES_PER_SOURCE",
    ):
        env[f"QUIETLINE_LIMIT_{name}"] = big
    # Every client here is one source (127.0.0.1), with more connections than one address
    # may hold by default; the total cap stays as the open-file limit sets it.
    env["QUIETLINE_MAX_CONNECTIONS_PER_SOURCE"] = big
    for item in args.set:
        key, _, value = item.partition("=")
        env[f"QUIETLINE_{key.upper()}"] = value
    url = f"sqlite+aiosqlite:///{work / 'relay.db'}"
    # the CLI names a database only once a relay created it: create it first
    subprocess.run(
        [sys.executable, "-m", "quietline", "relay", "migrate", "--database-url", url, "--yes"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "quietline",
            "relay",
            "add-program",
            "--json",
            "--database-url",
            url,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    token = json.loads(out.stdout)["enrollment_token"]

    relay_port, echo_port = free_port(), free_port()
    relay = start(
        [
            sys.executable,
            "-m",
            "quietline",
            "relay",
            "serve",
            "--port",
            str(relay_port),
            "--database-url",
            url,
        ],
        env,
        work / "relay.log",
    )
    echo = start(
        [sys.executable, __file__, "--echo-server", str(echo_port)], env, work / "echo.log"
    )
    try:
        origin = f"http://127.0.0.1:{relay_port}"
        wait_ready(origin, relay)
        wait_ready(f"http://127.0.0.1:{echo_port}", echo)
        client = RelayClient(origin, token)
        async with httpx.AsyncClient(base_url=origin, timeout=60) as http:
            await client.setup(http)

        echo_base = f"ws://127.0.0.1:{echo_port}"
        echo_url = echo_base + "/ws"
        plain_tput, plain_lat = await echo_loop(echo_url, args.conversations, args.messages)
        echo_loop_ = await echo_conversations(echo_base, args.conversations, echo.pid)
        relay_loop_ = await relay_conversations(client, args.conversations, relay.pid)
        await echo_loop_.block(5)  # warm up both
        await relay_loop_.block(5)
        rounds: list[Round] = []
        for _ in range(args.rounds):
            rounds.append(
                Round(
                    *await echo_loop_.block(args.messages), *await relay_loop_.block(args.messages)
                )
            )
        await echo_loop_.close()
        await relay_loop_.close()
        echo_mem = await echo_memory(echo_url, echo.pid, args.connections)
        relay_mem = await relay_memory(client, relay.pid, args.connections)
    finally:
        stop(relay)
        stop(echo)

    def line(name: str, tput: float, lat: list[float], mem: float) -> str:
        return (
            f"{name:6s} msg/s={tput:8.0f}  p50={percentile(lat, 50) * 1000:7.2f} ms  "
            f"p99={percentile(lat, 99) * 1000:7.2f} ms  rss/conn={mem:6.1f} KiB"
        )

    print(
        f"{args.conversations} conversations x {args.messages} messages of "
        f"{60 + 12 + 256 * ENVELOPE_BLOCKS + 16} bytes; {args.connections} idle connections"
    )
    print(line("plain", plain_tput, plain_lat, echo_mem) + "  (round trip on one socket)")
    print(f"medians over {len(rounds)} rounds:")
    echo_lat = [x for r in rounds for x in r.echo_latencies]
    relay_lat = [x for r in rounds for x in r.relay_latencies]
    echo_tput = statistics.median(r.echo_tput for r in rounds)
    relay_tput = statistics.median(r.relay_tput for r in rounds)
    print(line("echo", echo_tput, echo_lat, echo_mem) + "  (same frames, forwarded)")
    print(line("relay", relay_tput, relay_lat, relay_mem))
    print("per round (echo block, then relay block):")
    for i, r in enumerate(rounds, 1):
        e99 = percentile(r.echo_latencies, 99) * 1000
        r99 = percentile(r.relay_latencies, 99) * 1000
        print(
            f"  {i:2d}: echo {r.echo_tput:7.0f} msg/s p99 {e99:6.2f} ms"
            f" | relay {r.relay_tput:7.0f} msg/s p99 {r99:6.2f} ms"
            f" | ratios {r.throughput_ratio:.2f} {r.p99_ratio:.2f}"
            f" | CPU µs/msg echo {echo_loop_.server_cpu[i]:.0f}"
            f" relay {relay_loop_.server_cpu[i]:.0f}"
        )
    rounds_cpu = slice(1, None)  # the first block of each was the warm-up
    print(
        "CPU per message (median of the blocks): "
        f"echo server {statistics.median(echo_loop_.server_cpu[rounds_cpu]):.0f} µs, "
        f"relay {statistics.median(relay_loop_.server_cpu[rounds_cpu]):.0f} µs; "
        f"this client {statistics.median(echo_loop_.client_cpu[rounds_cpu]):.0f} µs "
        f"(echo blocks), {statistics.median(relay_loop_.client_cpu[rounds_cpu]):.0f} µs "
        "(relay blocks)"
    )
    tr = statistics.median(r.throughput_ratio for r in rounds)
    pr = statistics.median(r.p99_ratio for r in rounds)
    mr = relay_mem / echo_mem if echo_mem > 0 else float("inf")
    print(f"RESULT throughput_ratio={tr:.2f} p99_ratio={pr:.2f} memory_ratio={mr:.2f}")


@dataclass(frozen=True)
class Round:
    """One echo block and the relay block right after it, under the same load."""

    echo_tput: float
    echo_latencies: list[float]
    relay_tput: float
    relay_latencies: list[float]

    @property
    def throughput_ratio(self) -> float:
        return self.relay_tput / self.echo_tput

    @property
    def p99_ratio(self) -> float:
        return percentile(self.relay_latencies, 99) / percentile(self.echo_latencies, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50, help="per conversation and block")
    parser.add_argument("--rounds", type=int, default=7, help="echo/relay block pairs")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--show-logs", action="store_true", help="print the relay's log")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a relay setting, e.g. commit_interval_ms=1 (see server/settings.py)",
    )
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        run_echo_server(args.echo_server)
        return
    work = Path(tempfile.mkdtemp(prefix="quietline-bench-"))
    try:
        asyncio.run(main_async(args, work))
        if args.show_logs:
            print((work / "relay.log").read_text(), end="")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
