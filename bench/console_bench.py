"""A participant message's latency to a worker's console socket, against a bare SDK node.

    python bench/console_bench.py [--conversations 50] [--staff 5] [--messages 200]

Four processes on 127.0.0.1: the relay (SQLite in a temporary directory); program A,
``quietline program run`` (the ConsoleNode and its web console) with ``--staff``
accounts signed in as simulated browsers (WebSocket clients speaking the console's own
protocol: sign-in form, CSRF token, ``hello``, ``go_on_shift``, ``take_next``); program
B, a bare ``ProgramClient.events()`` consumer (``--bare``, started by this script) that
prints when each message arrives; and this script, driving ``--conversations``
participants to each program.

Each measured message is sent by a participant (the clock starts when ``send`` is
called) and stops when it arrives: for A as an ``entry`` on the socket of the worker
who holds the conversation, for B as a ``Message`` event out of ``events()``. A and B
messages alternate, one at a time, in the same run. Baseline = B.

Prints both medians and p90s, the ratio of the medians, and program A's resident memory
per open conversation (its RSS with the conversations open and talked in, minus its RSS
before the first one, divided by their number). The last line is
``RESULT latency_ratio=<A median / B median> memory_per_conversation_kb=<x>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sdk_bench import LIMITS, PASSPHRASE, free_port, start_relay, stop  # noqa: E402

PROFILE = {
    "hours": {
        "timezone": "UTC",
        "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
    }
}
STAFF_PASSWORD = "bench staff password"  # a throwaway bench account


def enroll(url: str, db: str, keystore: Path) -> dict[str, str]:
    env = dict(os.environ, QUIETLINE_DATABASE_URL=db, QUIETLINE_PASSPHRASE=PASSPHRASE)
    token = subprocess.run(
        [sys.executable, "-m", "quietline", "relay", "add-program", "--json", "--database-url", db],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    profile = keystore.with_suffix(".json")
    profile.write_text(json.dumps(PROFILE), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "quietline", "program", "init", "--keystore", str(keystore),
         "--relay", url, "--enrollment-token=" + json.loads(token.stdout)["enrollment_token"],
         "--profile", str(profile), "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def add_staff(keystore: Path, count: int) -> list[str]:
    from client_sdk.keystore import Keystore
    from console.accounts import StaffAccounts

    names = [f"worker{i}" for i in range(count - 1)] + ["supervisor"]
    with Keystore.open(keystore, PASSPHRASE) as ks:
        accounts = StaffAccounts(ks)
        for name in names:
            accounts.add(name, "supervisor" if name == "supervisor" else "worker", STAFF_PASSWORD)
        ks.save()
    return names


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- program B: the bare consumer ----------------------------------------------------------


async def bare(relay: str, keystore: str) -> None:
    from client_sdk import ProgramClient, events

    async with await ProgramClient.connect(relay, keystore, PASSPHRASE) as program:
        print("ready", flush=True)
        async for event in program.events():
            if isinstance(event, events.Message):
                print(json.dumps({"text": event.text, "t": time.time()}), flush=True)


# -- the simulated browsers ----------------------------------------------------------------


class Browser:
    """One signed-in console tab: the console's sign-in form, then its WebSocket."""

    def __init__(self, console: str, name: str) -> None:
        self.console = console
        self.name = name
        self.arrivals: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.ws: Any = None
        self.req = 0
        self.results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        import httpx
        from websockets.asyncio.client import connect

        async with httpx.AsyncClient(base_url=self.console) as http:
            form = await http.get("/signin")
            token = re.search(r'name="token" value="([^"]+)"', form.text)
            assert token is not None
            data = {"token": token.group(1), "name": self.name, "password": STAFF_PASSWORD}
            done = await http.post("/signin", data=data)
            assert done.status_code == 303, done.text
            page = await http.get("/")
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert csrf is not None
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        self.ws = await connect(
            self.console.replace("http://", "ws://") + "ws",
            additional_headers={"Origin": self.console.rstrip("/"), "Cookie": cookie},
            max_size=None,
        )
        await self.ws.send(json.dumps({"op": "hello", "csrf": csrf.group(1)}))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame.get("type") == "entry" and frame["entry"]["from"] == "participant":
                self.arrivals[frame["entry"]["text"]] = time.time()
                self.arrived.set()
            elif frame.get("type") == "result" and frame.get("req") in self.results:
                self.results.pop(frame["req"]).set_result(frame)

    async def act(self, op: str, **args: Any) -> dict[str, Any]:
        self.req += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.results[self.req] = future
        await self.ws.send(json.dumps({"op": op, "req": self.req, **args}))
        return await asyncio.wait_for(future, 30)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()


# -- the run -----------------------------------------------------------------------------


async def drive(args: argparse.Namespace, tmp: Path) -> tuple[float, float]:
    import httpx

    from client_sdk import ParticipantClient

    relay, url, db = start_relay(tmp)
    procs: list[subprocess.Popen[Any]] = []
    try:
        a_ks, b_ks = tmp / "a.qlks", tmp / "b.qlks"
        a, b = enroll(url, db, a_ks), enroll(url, db, b_ks)
        names = add_staff(a_ks, args.staff)
        port = free_port()
        env = dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE, **LIMITS)
        with (tmp / "console.log").open("wb") as log:
            console = subprocess.Popen(
                [sys.executable, "-m", "quietline", "program", "run", "--keystore", str(a_ks),
                 "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )  # fmt: skip
        procs.append(console)
        deadline = time.monotonic() + 60
        while True:
            if console.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the console did not start: " + (tmp / "console.log").read_text())
            try:
                async with httpx.AsyncClient() as http:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        bare_node = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--bare", url, str(b_ks),
            stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
        )  # fmt: skip
        assert bare_node.stdout is not None
        assert (await bare_node.stdout.readline()).strip() == b"ready"
        b_arrivals: dict[str, float] = {}
        b_arrived = asyncio.Event()

        async def read_bare() -> None:
            assert bare_node.stdout is not None
            while line := await bare_node.stdout.readline():
                item = json.loads(line)
                b_arrivals[item["text"]] = item["t"]
                b_arrived.set()

        bare_reader = asyncio.create_task(read_bare())

        console_url = f"http://127.0.0.1:{port}/"
        browsers = [Browser(console_url, name) for name in names]
        for browser in browsers:
            await browser.open()
            assert (await browser.act("go_on_shift"))["ok"]
        rss_before = rss_kb(console.pid)

        participants: dict[str, list[Any]] = {"a": [], "b": []}
        for side, enrolled in (("a", a), ("b", b)):
            for _ in range(args.conversations):
                p = await ParticipantClient.connect(
                    url, enrolled["program_id"], enrolled["identity_key"]
                )
                participants[side].append(p)
        # the workers take what they can (3 each by default); the supervisor sees all
        held: dict[str, Browser] = {}
        for browser in browsers[:-1]:
            while True:
                taken = await browser.act("take_next")
                if not taken["ok"] or taken.get("conversation_id") is None:
                    break
                held[taken["conversation_id"]] = browser
        a_talk = [p for p in participants["a"] if p.conversation_id in held]
        b_talk = participants["b"][: len(a_talk)]
        assert a_talk, "no conversation was taken"

        async def timed(
            p: Any, text: str, arrivals: dict[str, float], flag: asyncio.Event
        ) -> float:
            start = time.time()
            await p.send(text)
            while text not in arrivals:
                flag.clear()
                await asyncio.wait_for(flag.wait(), 30)
            return arrivals[text] - start

        a_lat: list[float] = []
        b_lat: list[float] = []
        for i in range(args.messages + 10):
            pa, pb = a_talk[i % len(a_talk)], b_talk[i % len(b_talk)]
            browser = held[pa.conversation_id]
            la = await timed(pa, f"a{i}", browser.arrivals, browser.arrived)
            lb = await timed(pb, f"b{i}", b_arrivals, b_arrived)
            if i >= 10:  # the first ten warm both paths up
                a_lat.append(la)
                b_lat.append(lb)
        rss_after = rss_kb(console.pid)
        per_conversation = (rss_after - rss_before) / args.conversations

        def p90(values: list[float]) -> float:
            return 1000 * statistics.quantiles(values, n=10)[8]

        a_med, b_med = statistics.median(a_lat) * 1000, statistics.median(b_lat) * 1000
        print(f"conversations open: {args.conversations} per program; held by workers: {len(held)}")
        print(f"staff browsers: {len(browsers)}; messages measured: {len(a_lat)} per side")
        print(f"console socket (A): median {a_med:.2f} ms, p90 {p90(a_lat):.2f} ms")
        print(f"bare events() (B):  median {b_med:.2f} ms, p90 {p90(b_lat):.2f} ms")
        print(f"program A RSS: {rss_before} kB before, {rss_after} kB after")

        for browser in browsers:
            await browser.close()
        for side in participants.values():
            for p in side:
                await p.aclose()
        bare_reader.cancel()
        bare_node.terminate()
        await bare_node.wait()
        return a_med / b_med, per_conversation
    finally:
        for proc in procs:
            stop(proc)
        stop(relay)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--staff", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--bare", nargs=2, metavar=("RELAY", "KEYSTORE"))
    args = parser.parse_args()
    if args.bare:
        asyncio.run(bare(*args.bare))
        return
    with tempfile.TemporaryDirectory() as tmp:
        ratio, per_conversation = asyncio.run(drive(args, Path(tmp)))
    print(f"RESULT latency_ratio={ratio:.2f} memory_per_conversation_kb={per_conversation:.1f}")


if __name__ == "__main__":
    main()
