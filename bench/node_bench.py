"""The program node's cost per received-and-answered message, by size of its keystore.

    python bench/node_bench.py [--messages 100] [--conversations 200] [--history 200]

Three processes: the relay (SQLite in a temporary directory), the program node
(``--node``, started by this script, twice) and this script driving the participants.

1. One open conversation: a participant sends ``--messages`` messages one after the
   other, the node answers each; the node's CPU time per message (received and
   answered) is measured in the node process.
2. ``--conversations`` open conversations, each ``--history`` messages long: the
   conversations are opened through the relay by real participants; their history is
   then written into the keystore while the node is stopped (the same transcript
   records the node writes, sealed under each conversation's key, 100 bytes of text
   each; the ratchet sessions are the real ones). The node is started again on that
   keystore and the same exchange is measured in one of the conversations.

``scale_ratio`` = CPU per message in 2 / in 1 (target <= 1.3).
``store_ratio`` = the store's time per message (sealing the records it changes, and
its saves: one SQLite transaction each, WAL mode, ``synchronous=FULL``, and the
witness), over a bare SQLite ``INSERT`` + ``COMMIT`` of the same sealed bytes into a
table of its own (same journal mode and sync level), run in the node process right
after each save, so both meet the same disk at the same moment (target <= 2.0). The
bare inserts' CPU time is taken out of the node's.
Both phases' saves count. The last line is ``RESULT scale_ratio=<x> store_ratio=<y>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sdk_bench import PASSPHRASE, Node, enroll, start_relay, stop  # noqa: E402

# -- the program node process --------------------------------------------------------------


class StoreTimer:
    """Time spent in the keystore's sealing and saving, and right after each save, a bare
    SQLite insert + commit of the same sealed bytes (same disk, same moment)."""

    def __init__(self, directory: Path) -> None:
        self.spent = 0.0
        self.bare_spent = 0.0
        self.bare_cpu = 0.0  # not the node's work: taken out of its CPU time
        self.saves = 0
        self._blobs: list[bytes] = []
        self._bare = sqlite3.connect(directory / "bare.sqlite", isolation_level=None)
        self._bare.execute("PRAGMA journal_mode = WAL")
        self._bare.execute("PRAGMA synchronous = FULL")
        self._bare.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")

    def install(self) -> None:
        from client_sdk.vault import db, store

        timer = self

        def timed(fn: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    timer.spent += time.perf_counter() - t0

            return wrapper

        for name in ("_put_part", "_put_record"):
            setattr(store.Keystore, name, timed(getattr(store.Keystore, name)))
        real_save = timed(store.Keystore.save)

        def save(self: Any) -> None:
            real_save(self)
            timer.saves += 1
            timer.run_bare()

        store.Keystore.save = save  # type: ignore[method-assign]
        real_write = db.Database.write

        def write(self: Any, header: dict[str, bytes], changes: Any) -> None:
            changes = list(changes)
            timer._blobs += list(header.values()) + [v for _, _, v in changes if v is not None]
            real_write(self, header, changes)

        db.Database.write = write  # type: ignore[method-assign]

    def run_bare(self) -> None:
        blobs, self._blobs = self._blobs, []
        c0, t0 = time.process_time(), time.perf_counter()
        self._bare.execute("BEGIN")
        for blob in blobs:
            self._bare.execute("INSERT INTO t (v) VALUES (?)", (blob,))
        self._bare.execute("COMMIT")
        self.bare_spent += time.perf_counter() - t0
        self.bare_cpu += time.process_time() - c0


async def node(relay_url: str, keystore: str) -> None:
    from client_sdk import ProgramClient, events
    from client_sdk.workflow import SystemClock, Workflow, WorkflowSettings

    timer = StoreTimer(Path(keystore).parent)
    timer.install()
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
            mark = {
                "cpu": time.process_time() - timer.bare_cpu,
                "store": timer.spent,
                "bare": timer.bare_spent,
                "saves": timer.saves,
            }
            print(json.dumps(dict(mark, **counts)), flush=True)
        elif line == "STOP":
            break
    await program.aclose()
    server.cancel()


# -- the participants and the phases -------------------------------------------------------


async def start_node(relay_url: str, keystore: Path) -> Node:
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
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 600)).strip() == b"READY"
    return Node(proc)


async def stop_node(node_: Node) -> None:
    proc = node_.proc
    if proc.stdin is not None:
        proc.stdin.write(b"STOP\n")
        await proc.stdin.drain()
    try:
        await asyncio.wait_for(proc.wait(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def exchange(client: Any, count: int, tag: str) -> None:
    from client_sdk import events

    stream = client.events()
    for i in range(count):
        text = f"{tag} {i} " + "x" * 60
        await client.send(text)
        async for event in stream:
            if isinstance(event, events.Message) and event.text == "echo: " + text:
                break


async def measure(node_: Node, client: Any, messages: int) -> dict[str, float]:
    before = await node_.ask("MARK")
    await exchange(client, messages, "bench")
    after = await node_.ask("MARK")
    # every answer reached the participant (the node counts its last one a moment later)
    assert after["sent"] - before["sent"] >= messages - 1
    return {
        "cpu": (after["cpu"] - before["cpu"]) / messages,
        "store": (after["store"] - before["store"]) / messages,
        "bare": (after["bare"] - before["bare"]) / messages,
        "saves": (after["saves"] - before["saves"]) / messages,
    }


def write_history(keystore: Path, history: int) -> None:
    """Each open conversation's transcript grown to ``history`` entries (node stopped)."""
    from client_sdk import store
    from client_sdk.keystore import Keystore

    with Keystore.open(keystore, PASSPHRASE) as ks:
        for cid in ks.conversations():
            for i in range(len(ks.transcript(cid)), history):
                who = "participant" if i % 2 == 0 else "program"
                entry = {"from": who, "t": "text", "ts": 1_700_000_000_000 + i, "body": "h" * 100}
                store.append_transcript(ks, cid, entry)
            ks.save()


async def drive(
    relay_url: str, enrolled: dict[str, str], keystore: Path, args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float]]:
    from client_sdk import ParticipantClient

    clients: list[Any] = []

    async def open_one(gate: asyncio.Semaphore) -> None:
        async with gate:
            client = await ParticipantClient.connect(
                relay_url, enrolled["program_id"], enrolled["identity_key"]
            )
            clients.append(client)
            await exchange(client, 1, "warm-up")

    try:
        node_ = await start_node(relay_url, keystore)
        try:
            await open_one(asyncio.Semaphore(1))
            await exchange(clients[0], 5, "warm-up")
            one = await measure(node_, clients[0], args.messages)
            t0 = time.monotonic()
            gate = asyncio.Semaphore(20)
            await asyncio.gather(*(open_one(gate) for _ in range(args.conversations)))
            print(f"{len(clients)} conversations open in {time.monotonic() - t0:.0f} s", flush=True)
        finally:
            await stop_node(node_)
        t0 = time.monotonic()
        write_history(keystore, args.history)
        print(f"history of {args.history} written in {time.monotonic() - t0:.0f} s", flush=True)
        node_ = await start_node(relay_url, keystore)
        try:
            await exchange(clients[0], 5, "warm-up")
            many = await measure(node_, clients[0], args.messages)
        finally:
            await stop_node(node_)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
    return one, many


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--history", type=int, default=200)
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
            one, many = asyncio.run(drive(url, enrolled, keystore, args))
        finally:
            stop(relay)
    for label, m in (("1 conversation", one), (f"{args.conversations} conversations", many)):
        print(
            f"{label}: node CPU {m['cpu'] * 1e3:.2f} ms per message; store "
            f"{m['store'] * 1e3:.2f} ms, bare SQLite {m['bare'] * 1e3:.2f} ms "
            f"({m['saves']:.1f} saves)"
        )
    scale = many["cpu"] / one["cpu"]
    store_ratio = (one["store"] + many["store"]) / (one["bare"] + many["bare"])
    print(f"RESULT scale_ratio={scale:.2f} store_ratio={store_ratio:.2f}")


if __name__ == "__main__":
    main()
