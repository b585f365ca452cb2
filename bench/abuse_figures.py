"""The relay under abuse, in figures (issue 15): real relay processes on 127.0.0.1.

1. Floods. The relay runs with ``--trusted-proxy 127.0.0.1`` (setting
   ``trusted_proxy``) and the attacker's requests carry ``X-Forwarded-For``, so one
   loopback client stands for one source or for 100 (10.0.0.1 .. 10.0.0.100). Each flood
   is ``--concurrency`` loops of bundle fetches and conversation openings without
   proofs, for ``--seconds``; meanwhile real participants (the SDK's ParticipantClient,
   from 127.0.0.1 itself, solving the relay's puzzle when asked) connect one after the
   other. The baseline is the same participants with no flood, in the same run: the
   ratio is the participants' median connect time under the flood / without it.
2. Memory: the program's WebSocket never reads while about 14 MB of envelopes are
   pushed to it; the relay's RSS growth (it closes the socket with 4008 once its queue
   is full).
3. Connections: a relay with a 1,024 open-file limit, 300 connections from one source
   and 1,330 from seven more; how many are held (the cap) and how many refused at once.

Last line: ``RESULT one_source_rps=<x> one_source_ratio=<x> many_sources_rps=<x>
many_sources_ratio=<x> participants_ok=<n>/<n> nonreading_rss_mib=<x> held=<n> cap=<n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("", "tests/support", "tests/server"):
    sys.path.insert(0, str(ROOT / sub))

import httpx  # noqa: E402
from abuse_helpers import (  # noqa: E402
    RawWebSocket,
    connect_from,
    open_files,
    refused,
    rss_bytes,
    start_relay_limited,
)
from relay_helpers import b64, enroll_program, make_envelope, open_conversation  # noqa: E402

from client_sdk.participant import ParticipantClient  # noqa: E402


async def attack(
    client: httpx.AsyncClient, pid: str, sources: list[str], until: float, codes: Counter[int]
) -> None:
    n = 0
    while time.monotonic() < until:
        headers = {"x-forwarded-for": sources[n % len(sources)]}
        n += 1
        r = await client.post(f"/v1/programs/{pid}/bundle", headers=headers)
        codes[r.status_code] += 1
        env = b64(make_envelope(os.urandom(16), 0, 1, init=True))
        r = await client.post(
            "/v1/conversations", json={"program_id": pid, "envelope": env}, headers=headers
        )
        codes[r.status_code] += 1


PARTICIPANTS = 6
"""Real participants per phase: all come from 127.0.0.1, one source, whose own limit is
20 conversations a minute (a shelter's line: a dozen at once); each phase has a fresh
relay, so the phases do not add up against it."""


async def participants(url: str, pid: str, key: str, until: float) -> tuple[list[float], int]:
    """Up to PARTICIPANTS real participants, spread until ``until``: connect times and
    failures."""
    times: list[float] = []
    failed = 0
    gap = max(0.0, until - time.monotonic()) / PARTICIPANTS
    for _ in range(PARTICIPANTS):
        if time.monotonic() >= until:
            break
        next_start = time.monotonic() + gap
        start = time.monotonic()
        try:
            p = await asyncio.wait_for(ParticipantClient.connect(url, pid, key), 60)
        except Exception as exc:  # a failure is a figure here
            failed += 1
            print(f"  participant failed: {type(exc).__name__}: {exc}")
            continue
        times.append(time.monotonic() - start)
        await p.aclose()
        await asyncio.sleep(max(0.0, next_start - time.monotonic()))
    return times, failed


async def flood(
    url: str, pid: str, key: str, sources: list[str], args: argparse.Namespace
) -> tuple[float, list[float], int, Counter[int]]:
    codes: Counter[int] = Counter()
    until = time.monotonic() + args.seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        start = time.monotonic()
        loops = [attack(client, pid, sources, until, codes) for _ in range(args.concurrency)]
        flooding = asyncio.gather(*loops)
        await asyncio.sleep(0.3)  # under way
        times, failed = await participants(url, pid, key, until)
        await flooding
        rate = sum(codes.values()) / (time.monotonic() - start)
    return rate, times, failed, codes


async def phase(work: Path, sources: list[str], args: argparse.Namespace) -> tuple:
    """A fresh relay and program; participants alone (no ``sources``) or during a flood."""
    work.mkdir()
    relay = start_relay_limited(work, QUIETLINE_TRUSTED_PROXY="127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=200)
        pid, key = program.pid, b64(program.keys.public_key)
        if not sources:
            times, failed = await participants(relay.url, pid, key, time.monotonic() + 3)
            return 0.0, times, failed, Counter()
        return await flood(relay.url, pid, key, sources, args)
    finally:
        relay.stop()


async def floods(work: Path, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    _, base, base_failed, _ = await phase(work / "baseline", [], args)
    baseline = statistics.median(base)
    print(f"no flood: {len(base)} participants, median connect {baseline * 1000:.0f} ms")
    ok, total = len(base), len(base) + base_failed
    for name, sources in (
        ("one_source", ["10.0.0.1"]),
        ("many_sources", [f"10.0.0.{i}" for i in range(1, 101)]),
    ):
        rate, times, failed, codes = await phase(work / name, sources, args)
        median = statistics.median(times) if times else float("inf")
        print(
            f"{name.replace('_', ' ')}: {rate:.0f} attack requests/s {dict(codes)};"
            f" {len(times)} participants got through, {failed} failed, median connect"
            f" {median * 1000:.0f} ms (x{median / baseline:.2f} the baseline)"
        )
        out[f"{name}_rps"] = rate
        out[f"{name}_ratio"] = median / baseline
        ok += len(times)
        total += len(times) + failed
    out["ok"], out["total"] = ok, total
    return out


async def nonreading(work: Path) -> tuple[float, int | None]:
    relay = start_relay_limited(work, QUIETLINE_LIMIT_CONVERSATIONS_PER_PROGRAM="1000")
    try:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
            reader = RawWebSocket(relay.port)  # the program's socket, never read
            reader.send_json({"type": "auth", "token": program.session, "batch": True})
            await asyncio.sleep(0.5)
            before = peak = rss_bytes(relay.process.pid)
            for _ in range(10):
                cid, token = await open_conversation(c, program)
                h = {"authorization": f"Bearer {token}"}
                for n in range(16):
                    env = b64(make_envelope(cid, 0, 1, blocks=250, n=n))
                    await c.post(
                        f"/v1/conversations/{b64(cid)}/messages",
                        json={"envelopes": [env]},
                        headers=h,
                    )
                peak = max(peak, rss_bytes(relay.process.pid))
            reader.send_json({"type": "ack", "ids": [b64(os.urandom(16))]})
            await asyncio.sleep(0.5)
            _, code = reader.read_until_closed(10.0)
            reader.close()
        growth = (peak - before) / 2**20
        print(
            f"non-reading socket: RSS {before / 2**20:.1f} MiB -> peak {peak / 2**20:.1f}"
            f" MiB (+{growth:.1f} MiB), closed with {code}"
        )
        return growth, code
    finally:
        relay.stop()


def connections(work: Path) -> tuple[int, int]:
    relay = start_relay_limited(work, nofile=1024, QUIETLINE_HEADER_TIMEOUT_SECONDS="60")
    held_sockets = []
    try:
        log_text = relay.log_path.read_text()
        found = re.search(r"at most (\d+) connections", log_text)
        cap = int(found.group(1)) if found else -1
        one = [connect_from("127.0.0.1", relay.port) for _ in range(300)]
        answered_one = refused(one, 3.0)
        many = [connect_from(f"127.0.0.{i}", relay.port) for i in range(2, 9) for _ in range(190)]
        answered_many = refused(many, 3.0)
        held = len(one) + len(many) - len(answered_one) - len(answered_many)
        held_sockets = one + many
        files = open_files(relay.process.pid)
        print(
            f"connections: {len(one) + len(many)} opened, {held} held (cap {cap}; one source"
            f" held {len(one) - len(answered_one)} of 300),"
            f" {len(answered_one) + len(answered_many)} refused at once;"
            f" relay open files {files} of 1024"
        )
        return held, cap
    finally:
        for s in held_sockets:
            s.close()
        relay.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per flood")
    parser.add_argument("--concurrency", type=int, default=16, help="attacker loops")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for sub in ("floods", "memory", "connections"):
            (work / sub).mkdir()
        f = asyncio.run(floods(work / "floods", args))
        growth, code = asyncio.run(nonreading(work / "memory"))
        held, cap = connections(work / "connections")
    print(
        f"RESULT one_source_rps={f['one_source_rps']:.0f}"
        f" one_source_ratio={f['one_source_ratio']:.2f}"
        f" many_sources_rps={f['many_sources_rps']:.0f}"
        f" many_sources_ratio={f['many_sources_ratio']:.2f}"
        f" participants_ok={int(f['ok'])}/{int(f['total'])}"
        f" nonreading_rss_mib={growth:.1f} nonreading_close={code} held={held} cap={cap}"
    )


if __name__ == "__main__":
    main()
