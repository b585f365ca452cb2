"""Two relays on PostgreSQL + Redis vs one relay on SQLite, same load, same run.

The scale-out deployment of docs/scale-out.md against the single process it replaces:

- one: ``quietline relay serve`` on a SQLite file, as bench/relay_bench.py runs it;
- two: two ``quietline relay serve`` processes on one PostgreSQL database (started here
  from Debian's packages, in a temporary folder, with PostgreSQL's durable defaults:
  ``fsync`` and ``synchronous_commit`` on) with Redis pub/sub between them. Every
  conversation has its two sides on different relays. The conversations belong to
  PROGRAMS programs (default 2): the first program's node has its socket on relay A and
  its participants (and the HTTP calls that opened their conversations) on relay B, the
  second's the other way round, and so on, so each relay carries half the load, as a
  balancer spreads sockets. Each message goes participant -> its relay (commit in
  PostgreSQL) -> Redis (the push) -> the other relay -> the node, and each ack goes to
  the node's relay. (``--programs 1`` puts every participant on B and the one node on
  A: B then does the heavy half of every message while A idles.)

The load is bench/relay_bench.py's closed loop (its code is reused): N conversations
(default 100, shared evenly by the programs, the same on both setups), each participant
sends a ~1 KB envelope and waits until the program's socket got it; each program acks
every few milliseconds. Each round is a block of
MESSAGES per conversation on the single relay, then the same on the pair, so both
blocks of a round see the same machine load. Throughput ratio (pair / one) per round;
the RESULT is the median over rounds, with each side's p99 over all rounds.

Each round also reads the CPU time of every process involved (from /proc: the relays,
PostgreSQL's postmaster and backends, Redis, and this load generator) and divides it by
the messages of the block: the single setup's CPU per message (its relay and the load)
and the pair's (relay A, relay B, PostgreSQL, Redis and the load). On a machine whose
cores are all busy, throughput follows those figures; their ratio (single / pair: how
many messages the pair carries per CPU second against one relay) is printed as
``per_cpu_ratio``. Other work on the machine raises every process's CPU per message
alike, so that ratio moves far less with it than the throughput ratio does.

Last line: ``RESULT pg_redis_ratio=<x> pg_p99_ms=<a> sqlite_p99_ms=<b>
single_cpu_us_per_msg=<c> pair_cpu_us_per_msg=<d> per_cpu_ratio=<c/d>`` (the CPU
figures: medians over rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

import httpx  # noqa: E402
import relay_bench as rb  # noqa: E402
import services  # noqa: E402


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live children (PostgreSQL's backends) and the
    children it has reaped (a backend that ended)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid:
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        elif int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Meter:
    """CPU seconds of every process of the benchmark, by name: the relays, PostgreSQL
    (its postmaster and backends), Redis and this load generator (its own process)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def read(self) -> dict[str, float]:
        out = {name: tree_cpu(pid) for name, pid in self.pids.items()}
        out["load"] = time.process_time()
        return out

    @staticmethod
    def per_message(
        before: dict[str, float], after: dict[str, float], count: int
    ) -> dict[str, float]:
        """CPU µs per message of each process between two readings."""
        return {name: (after[name] - before[name]) / count * 1e6 for name in before}


def add_program(url: str, env: dict[str, str]) -> str:
    cmd = [sys.executable, "-m", "quietline", "relay", "add-program", "--json"]
    out = subprocess.run(
        [*cmd, "--database-url", url],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return str(json.loads(out.stdout)["enrollment_token"])


def serve(url: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "quietline", "relay", "serve", "--port", str(port)]
    return rb.start([*cmd, "--database-url", url], env, log)


async def split_conversations(
    on_a: rb.RelayClient, on_b: rb.RelayClient, conversations: int, server_pid: int
) -> rb.ClosedLoop:
    """Conversations opened through relay B, participants on B, the node on A."""
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=on_b.origin, limits=limits, timeout=60) as http:
        convs = await asyncio.gather(*[on_b.open(http) for _ in range(conversations)])
    # the participants come back with their tokens first (as the widget does at once):
    # only then are their conversations' inits the program's (docs/api.md, unconfirmed)
    participants = [await on_b.auth(token) for _, token in convs]
    program = await on_a.auth(on_a.session, batch=True)
    ids: list[str] = []
    while len(ids) < conversations:  # the inits, pending: take and ack them first
        frame = json.loads(await asyncio.wait_for(program.recv(), 60))
        for event in frame["messages"] if frame.get("type") == "messages" else [frame]:
            if event.get("type") == "message":
                ids.append(event["id"])
    await program.send(json.dumps({"type": "ack", "ids": ids}))
    return rb.ClosedLoop(program, participants, [c for c, _ in convs], server_pid)


class Loops:
    """Several closed loops (one per program) run at once as one block: its throughput is
    every conversation's messages over the block's time, its latencies all of theirs."""

    def __init__(self, loops: list[rb.ClosedLoop]) -> None:
        self.loops = loops

    async def block(self, messages: int) -> tuple[float, list[float]]:
        start = time.perf_counter()
        results = await asyncio.gather(*[loop.block(messages) for loop in self.loops])
        elapsed = time.perf_counter() - start
        count = sum(len(loop.pairs) for loop in self.loops) * messages
        return count / elapsed, [x for _, latencies in results for x in latencies]

    async def close(self) -> None:
        for loop in self.loops:
            await loop.close()


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
    env["QUIETLINE_MAX_CONNECTIONS_PER_SOURCE"] = big
    for item in args.set:
        key, _, value = item.partition("=")
        env[f"QUIETLINE_{key.upper()}"] = value

    pg = services.start_postgres(work / "pg", *(args.pg_setting or ["fsync=on"]))
    redis = services.start_redis(work / "redis")
    procs: list[rb.subprocess.Popen[bytes]] = []
    try:
        sqlite_url = f"sqlite+aiosqlite:///{work / 'relay.db'}"
        pg_url = pg.create_database("relay")
        for url in (sqlite_url, pg_url):
            subprocess.run(
                [sys.executable, "-m", "quietline", "relay", "migrate", "--database-url", url],
                env=env,
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
        one_tokens = [add_program(sqlite_url, env) for _ in range(args.programs)]
        pair_tokens = [add_program(pg_url, env) for _ in range(args.programs)]
        one_port, a_port, b_port = rb.free_port(), rb.free_port(), rb.free_port()
        one = serve(sqlite_url, one_port, env, work / "one.log")
        procs.append(one)
        pair_env = dict(env, QUIETLINE_BROKER_URL=redis.url)
        a = serve(pg_url, a_port, pair_env, work / "a.log")
        procs.append(a)
        b = serve(pg_url, b_port, pair_env, work / "b.log")
        procs.append(b)
        for port, proc in ((one_port, one), (a_port, a), (b_port, b)):
            rb.wait_ready(f"http://127.0.0.1:{port}", proc)

        share = args.conversations // args.programs
        one_loops, pair_loops = [], []
        for n, (one_token, pair_token) in enumerate(zip(one_tokens, pair_tokens, strict=True)):
            single = rb.RelayClient(f"http://127.0.0.1:{one_port}", one_token)
            async with httpx.AsyncClient(base_url=single.origin, timeout=60) as http:
                await single.setup(http)
            one_loops.append(await rb.relay_conversations(single, share, one.pid))
            # program n's node on one relay, its participants on the other: even programs
            # have their node on A, odd ones on B
            node_port, other_port = (a_port, b_port) if n % 2 == 0 else (b_port, a_port)
            on_node = rb.RelayClient(f"http://127.0.0.1:{node_port}", pair_token)
            async with httpx.AsyncClient(base_url=on_node.origin, timeout=60) as http:
                await on_node.setup(http)
            on_other = copy.copy(on_node)  # the same program's session, on the other relay
            on_other.origin = f"http://127.0.0.1:{other_port}"
            on_other.ws_url = f"ws://127.0.0.1:{other_port}/v1/ws"
            pair_loops.append(await split_conversations(on_node, on_other, share, a.pid))
        one_loop, pair_loop = Loops(one_loops), Loops(pair_loops)
        await one_loop.block(5)  # warm up both
        await pair_loop.block(5)
        print("warmed up; measuring", file=sys.stderr, flush=True)
        rounds: list[rb.Round] = []
        meter = Meter(
            {"sqlite": one.pid, "A": a.pid, "B": b.pid}
            | {"PostgreSQL": pg.process.pid, "Redis": redis.process.pid}
        )
        cpu: list[tuple[dict[str, float], dict[str, float]]] = []  # per round: µs per message
        count = args.conversations * args.messages
        for _ in range(args.rounds):
            t0 = meter.read()
            one_result = await one_loop.block(args.messages)
            t1 = meter.read()
            pair_result = await pair_loop.block(args.messages)
            t2 = meter.read()
            cpu.append((meter.per_message(t0, t1, count), meter.per_message(t1, t2, count)))
            # Round's fields: (baseline, baseline latencies, measured, its latencies)
            rounds.append(rb.Round(*one_result, *pair_result))
        await one_loop.close()
        await pair_loop.close()
        redis_info = subprocess.run(
            ["redis-cli", "-p", str(redis.port), "dbsize"], capture_output=True, text=True
        ).stdout.strip()
    finally:
        for proc in procs:
            rb.stop(proc)
        redis.stop()
        pg.stop()
        if args.show_logs:
            for name in ("one.log", "a.log", "b.log"):
                print(f"== {name}\n" + (work / name).read_text(), end="")

    one_lat = [x for r in rounds for x in r.echo_latencies]
    pair_lat = [x for r in rounds for x in r.relay_latencies]
    one_tput = statistics.median(r.echo_tput for r in rounds)
    pair_tput = statistics.median(r.relay_tput for r in rounds)
    one_p99 = rb.percentile(one_lat, 99) * 1000
    pair_p99 = rb.percentile(pair_lat, 99) * 1000
    print(
        f"{args.conversations} conversations of {args.programs} programs x {args.messages}"
        " messages of "
        f"{60 + 12 + 256 * rb.ENVELOPE_BLOCKS + 16} bytes, {len(rounds)} rounds; "
        f"PostgreSQL {' '.join(args.pg_setting or ['fsync=on'])}"
    )
    print(
        f"sqlite   (1 relay)          msg/s={one_tput:7.0f}  "
        f"p50={rb.percentile(one_lat, 50) * 1000:6.2f} ms  p99={one_p99:6.2f} ms"
    )
    print(
        f"pg+redis (2 relays, split)  msg/s={pair_tput:7.0f}  "
        f"p50={rb.percentile(pair_lat, 50) * 1000:6.2f} ms  p99={pair_p99:6.2f} ms"
    )
    print("per round (sqlite block, then pg+redis block), and CPU µs per message:")
    single_cpu: list[float] = []
    pair_cpu: list[float] = []
    for i, (r, (one_cpu, two_cpu)) in enumerate(zip(rounds, cpu, strict=True), 1):
        one_parts = {"relay": one_cpu["sqlite"], "load": one_cpu["load"]}
        two_parts = {name: two_cpu[name] for name in ("A", "B", "PostgreSQL", "Redis", "load")}
        single_cpu.append(sum(one_parts.values()))
        pair_cpu.append(sum(two_parts.values()))
        print(
            f"  {i:2d}: sqlite {r.echo_tput:6.0f} msg/s p99 "
            f"{rb.percentile(r.echo_latencies, 99) * 1000:6.2f} ms | pg+redis "
            f"{r.relay_tput:6.0f} msg/s p99 {rb.percentile(r.relay_latencies, 99) * 1000:6.2f}"
            f" ms | ratio {r.throughput_ratio:.2f}\n"
            f"      CPU: single {single_cpu[-1]:4.0f} = "
            + " + ".join(f"{k} {v:.0f}" for k, v in one_parts.items())
            + f" | pair {pair_cpu[-1]:4.0f} = "
            + " + ".join(f"{k} {v:.0f}" for k, v in two_parts.items())
        )
    print(f"keys left in Redis after the run: {redis_info}")
    ratio = statistics.median(r.throughput_ratio for r in rounds)
    one_us, two_us = statistics.median(single_cpu), statistics.median(pair_cpu)
    print(
        f"CPU per message (median of rounds, every process): single {one_us:.0f} µs,"
        f" pair {two_us:.0f} µs; messages per CPU second, pair / single: {one_us / two_us:.2f}"
    )
    print(
        f"RESULT pg_redis_ratio={ratio:.2f} pg_p99_ms={pair_p99:.2f} sqlite_p99_ms={one_p99:.2f}"
        f" single_cpu_us_per_msg={one_us:.0f} pair_cpu_us_per_msg={two_us:.0f}"
        f" per_cpu_ratio={one_us / two_us:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50, help="per conversation and block")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--programs",
        type=int,
        default=2,
        help="programs sharing the conversations; in the pair, even programs' nodes on "
        "relay A with their participants on B, odd ones the other way round",
    )
    parser.add_argument("--show-logs", action="store_true", help="print the relays' logs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a relay setting for all three relays (see server/settings.py)",
    )
    parser.add_argument(
        "--pg-setting",
        action="append",
        metavar="NAME=VALUE",
        help="a PostgreSQL setting (default: fsync=on, PostgreSQL's durable defaults)",
    )
    args = parser.parse_args()
    if args.programs < 1 or args.conversations % args.programs:
        parser.error("--conversations must be a multiple of --programs")
    missing = services.available()
    if missing:
        raise SystemExit(missing)
    work = Path(tempfile.mkdtemp(prefix="quietline-scale-bench-"))
    try:
        asyncio.run(main_async(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
