"""One program node serving many concurrent conversations through a local relay.

Measures the program node's CPU time per message (its own process: decrypt, workflow,
keystore saves, acks, JSON, WebSocket) against the raw crypto cost of a message
(``ProgramSession.decrypt`` of a participant message and ``encrypt`` of a reply, the
same protocol core, measured in the same node process during the same run).

    python bench/sdk_bench.py [--conversations 500] [--messages 4]

Three processes: the relay (SQLite in a temporary directory), the program node
(``--node``, started by this script) and this script driving the participants. The
last line is ``RESULT ratio=<program CPU per message / raw crypto per message>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = "bench passphrase, not a secret"

LIMITS = {
    "QUIETLINE_LIMIT_CONVERSATIONS_PER_PROGRAM": "1000000",
    "QUIETLINE_LIMIT_SENDS_PER_CONVERSATION": "1000000",
    "QUIETLINE_LIMIT_CONNECTIONS_PER_TOKEN": "1000000",
    "QUIETLINE_LIMIT_BUNDLES_PER_PROGRAM": "1000000",
    "QUIETLINE_LIMIT_CHALLENGES_PER_PROGRAM": "1000000",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_relay(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    import httpx

    port = free_port()
    db = f"sqlite+aiosqlite:///{tmp / 'relay.db'}"
    log = (tmp / "relay.log").open("wb")
    env = dict(os.environ, **LIMITS, QUIETLINE_DATABASE_URL=db)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quietline",
            "relay",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            db,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("relay exited")
        try:
            if httpx.get(f"{url}/v1/openapi.json", timeout=1).status_code == 200:
                return proc, url, db
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(proc)
    raise SystemExit("relay did not start")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def enroll(url: str, db: str, keystore: Path) -> dict[str, str]:
    env = dict(os.environ, QUIETLINE_DATABASE_URL=db, QUIETLINE_PASSPHRASE=PASSPHRASE)
    out = subprocess.run(
        [sys.executable, "-m", "quietline", "relay", "add-program", "--json", "--database-url", db],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    token = json.loads(out.stdout)["enrollment_token"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "quietline",
            "program",
            "init",
            "--keystore",
            str(keystore),
            "--relay",
            url,
            f"--enrollment-token={token}",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(out.stdout))


# -- the program node process --------------------------------------------------------------


def raw_crypto_per_message(rounds: int = 400) -> float:
    """CPU seconds for one program-side decrypt or encrypt of a typical message."""
    from client_sdk.publishing import profile_from_content
    from client_sdk.workflow.prekeys import make_prekey
    from e2ee import payload as pl
    from e2ee.identity import IdentityKeyPair, VerifiedBundle
    from e2ee.primitives import system_random
    from e2ee.session import accept_conversation, start_conversation

    identity = IdentityKeyPair.generate()
    moment = datetime.now(UTC)
    prekey = make_prekey(identity, 1, moment, one_time=False)
    bundle = VerifiedBundle(
        identity.program_id,
        identity.public_key,
        prekey.record.body,
        None,
        profile_from_content({}, int(moment.timestamp())),
        None,
    )
    ts = int(time.time() * 1000)
    participant, init = start_conversation(bundle, pl.System("start", ts), random=system_random)
    program, _ = accept_conversation(
        init,
        lambda k, i: prekey.record.secret,
        program_id=identity.program_id,
        random=system_random,
    )
    spent = 0.0
    for i in range(rounds):
        participant, envelope = participant.encrypt(
            pl.Text(f"message {i} " + "x" * 40, ts), random=system_random
        )
        t0 = time.process_time()
        program, _, _ = program.decrypt(envelope, random=system_random)
        program, reply = program.encrypt(
            pl.Text(f"echo: message {i} " + "x" * 40, ts), random=system_random
        )
        spent += time.process_time() - t0
        participant, _, _ = participant.decrypt(reply, random=system_random)
    return spent / (2 * rounds)


async def node(relay_url: str, keystore: str) -> None:
    from client_sdk import ProgramClient, events
    from client_sdk.workflow import SystemClock, Workflow, WorkflowSettings

    clock = SystemClock()
    workflow = Workflow(clock=clock, settings=WorkflowSettings(send_safety_check_in=False))
    program = await ProgramClient.connect(
        relay_url, keystore, os.environ["QUIETLINE_PASSPHRASE"], workflow=workflow, auto_tick=False
    )
    counts = {"received": 0, "sent": 0}
    tasks: set[asyncio.Task[None]] = set()

    async def echo(cid: str, text: str) -> None:
        await program.send(cid, "echo: " + text)
        counts["sent"] += 1

    async def serve() -> None:
        async for event in program.events():
            if isinstance(event, events.NewConversation | events.Message):
                counts["received"] += 1
            if isinstance(event, events.Message):
                task = asyncio.create_task(echo(event.conversation_id, event.text))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    server = asyncio.create_task(serve())
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "MARK":
            print(json.dumps({"cpu": time.process_time(), **counts}), flush=True)
        elif line == "RAW":
            print(json.dumps({"raw": raw_crypto_per_message()}), flush=True)
        elif line == "STOP":
            break
    await program.aclose()
    server.cancel()


# -- the participants ----------------------------------------------------------------------


class Node:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return dict(json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 600)))


async def drive(
    relay_url: str, enrolled: dict[str, str], keystore: Path, n: int, messages: int
) -> float:
    from client_sdk import ParticipantClient, events

    env = dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--node",
        "--relay",
        relay_url,
        "--keystore",
        str(keystore),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    node_ = Node(proc)
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 120)).strip() == b"READY"
    gate = asyncio.Semaphore(50)
    clients: list[ParticipantClient] = []

    async def open_one() -> None:
        async with gate:
            clients.append(
                await ParticipantClient.connect(
                    relay_url, enrolled["program_id"], enrolled["identity_key"]
                )
            )

    async def exchange(client: ParticipantClient, count: int, tag: str) -> None:
        stream = client.events()
        for i in range(count):
            text = f"{tag} {i} from {client.conversation_id[:6]} " + "x" * 40
            await client.send(text)
            async for event in stream:
                if isinstance(event, events.Message) and event.text == "echo: " + text:
                    break

    try:
        t0 = time.monotonic()
        await asyncio.gather(*(open_one() for _ in range(n)))
        await asyncio.gather(*(exchange(c, 1, "warm-up") for c in clients))
        print(f"{n} conversations open in {time.monotonic() - t0:.1f} s", flush=True)
        before = await node_.ask("MARK")
        t1 = time.monotonic()
        await asyncio.gather(*(exchange(c, messages, "bench") for c in clients))
        wall = time.monotonic() - t1
        after = await node_.ask("MARK")
        raw = (await node_.ask("RAW"))["raw"]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
        if proc.stdin is not None:
            proc.stdin.write(b"STOP\n")
            await proc.stdin.drain()
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    handled = (after["received"] - before["received"]) + (after["sent"] - before["sent"])
    cpu = after["cpu"] - before["cpu"]
    per_message = cpu / handled
    print(
        f"messages handled by the program node: {handled} in {wall:.1f} s wall "
        f"({handled / wall:.0f}/s)"
    )
    print(f"program node CPU per message: {per_message * 1e6:.0f} us")
    print(f"raw crypto per message (decrypt or encrypt): {raw * 1e6:.0f} us")
    return per_message / raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--node", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--relay", help=argparse.SUPPRESS)
    parser.add_argument("--keystore", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.node:
        asyncio.run(node(args.relay, args.keystore))
        return
    with tempfile.TemporaryDirectory() as tmp:
        relay, url, db = start_relay(Path(tmp))
        try:
            keystore = Path(tmp) / "program.qlks"
            enrolled = enroll(url, db, keystore)
            ratio = asyncio.run(drive(url, enrolled, keystore, args.conversations, args.messages))
        finally:
            stop(relay)
    print(f"RESULT ratio={ratio:.1f}")


if __name__ == "__main__":
    main()
