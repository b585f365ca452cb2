"""``/metrics`` (server.metrics): off by default, on its own loopback port when asked for,
counters that follow a scripted conversation on a real relay process, and nothing in it
that names a program, a conversation, a client or an address."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from relay_helpers import b64, enroll_program, make_envelope, make_settings, sqlite_url
from relay_process import RelayProcess, free_port, start_relay

from e2ee.encoding import b64u_decode
from server import metrics, migrate, pow
from server.app import create_app
from server.errors import CODES
from server.settings import Settings

WAIT = 20.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, Samples]:
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def wait_for(
    url: str, name: str, expected: float, *, within: float | None = None, **labels: str
) -> Samples:
    """Scrape until ``name`` reaches ``expected`` (what the relay does after answering,
    such as an ack's count, lands a moment later)."""
    deadline = time.monotonic() + (WAIT if within is None else within)
    while True:
        _text, samples = scrape(url)
        if value(samples, name, **labels) == expected:
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} is {value(samples, name, **labels)}")
        time.sleep(0.05)


def listening(pid: int) -> list[tuple[str, int]]:
    """The (address, port) of every TCP socket the process ``pid`` listens on."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # LISTEN
                    address, port = local.split(":")
                    if len(address) == 8:
                        host = socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
                    else:
                        host = "::" if set(address) == {"0"} else address
                    found.append((host, int(port, 16)))
    return found


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[tuple[RelayProcess, str]]:
    port = free_port()
    relay = start_relay(
        tmp_path,
        QUIETLINE_METRICS_PORT=str(port),
        QUIETLINE_LIMIT_BUNDLES_PER_SOURCE="1000",
    )
    try:
        yield relay, f"http://127.0.0.1:{port}/metrics"
    finally:
        relay.stop()


# -- off by default --------------------------------------------------------------------


@pytest.mark.slow
# SQLite only: it reads the one process's listening sockets and log.
@pytest.mark.sqlite_only("reads the one process's sockets and log")
def test_metrics_are_off_by_default(relay_process: RelayProcess) -> None:
    assert listening(relay_process.process.pid) == [("127.0.0.1", relay_process.port)]
    for path in ("/metrics", "/v1/metrics"):
        response = httpx.get(relay_process.url + path)
        assert response.status_code == 404
        assert "quietline_" not in response.text
    assert "metrics on" not in relay_process.log_path.read_text()
    assert Settings().metrics_port == 0


# -- counters that move ------------------------------------------------------------------


@pytest.mark.slow
async def test_counters_follow_a_scripted_conversation(metered) -> None:
    relay, url = metered
    _text, before = scrape(url)
    assert value(before, "quietline_messages_stored_total") == 0
    assert value(before, "quietline_open_sockets") == 0
    async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
        program = await enroll_program(c, relay.db_path, relay.url)
        cid = os.urandom(16)
        init = make_envelope(cid, 0, 1, init=True)
        r = await c.post(
            "/v1/conversations", json={"program_id": program.pid, "envelope": b64(init)}
        )
        assert r.status_code == 201
        token = r.json()["token"]
        member = {"authorization": f"Bearer {token}"}
        sends = [make_envelope(cid, 0, 1, n=i) for i in (1, 2)]
        for envelope in sends:
            r = await c.post(
                f"/v1/conversations/{b64(cid)}/messages",
                json={"envelopes": [b64(envelope)]},
                headers=member,
            )
            assert r.status_code == 201, r.text
        _text, s = scrape(url)
        assert value(s, "quietline_messages_stored_total") == 3
        assert value(s, "quietline_conversations_total", event="opened") == 1
        assert value(s, "quietline_waiting_messages") == 3
        assert value(s, "quietline_waiting_bytes") == len(init) + sum(map(len, sends))

        # The program node takes them over its WebSocket and acks them there.
        ws_url = relay.url.replace("http", "ws", 1) + "/v1/ws"
        async with websockets.connect(ws_url, compression=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": program.session}))
            ids: list[str] = []
            while len(ids) < 3:
                frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                if frame["type"] == "message":
                    ids.append(frame["id"])
            _text, s = scrape(url)
            assert value(s, "quietline_open_sockets") == 1
            await ws.send(json.dumps({"type": "ack", "ids": ids}))
            s = await asyncio.to_thread(wait_for, url, "quietline_messages_delivered_total", 3)
            assert value(s, "quietline_waiting_messages") == 0
            assert value(s, "quietline_waiting_bytes") == 0
            await ws.send("not json")  # refused over the socket, counted by its code
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert frame["code"] == "malformed_json"
        await asyncio.to_thread(wait_for, url, "quietline_open_sockets", 0)

        # A reply that is never read, deleted with the conversation the participant closes.
        r = await c.post(
            f"/v1/conversations/{b64(cid)}/messages",
            json={"envelopes": [b64(make_envelope(cid, 1, 0))]},
            headers=program.auth_headers(),
        )
        assert r.status_code == 201, r.text
        r = await c.post(f"/v1/conversations/{b64(cid)}/close", headers=member)
        assert r.status_code == 200, r.text

        # Refusals, by code: a body that is not JSON, a path that does not exist.
        r = await c.post("/v1/acks", content=b"{", headers=program.auth_headers())
        assert r.status_code == 400
        assert (await c.get("/v1/nothing-here")).status_code == 404
        preflight = {"origin": "https://elsewhere.example", "access-control-request-method": "POST"}
        assert (await c.options("/v1/conversations", headers=preflight)).status_code == 403

        # A puzzle handed out, solved, and its proof accepted.
        r = await c.post(f"/v1/programs/{program.pid}/puzzle")
        puzzle = r.json()
        raw = b64u_decode(puzzle["puzzle"])
        proof = puzzle["puzzle"] + "." + b64(pow.solve(raw, puzzle["difficulty"]))
        r = await c.post(f"/v1/programs/{program.pid}/bundle", headers={"quietline-proof": proof})
        assert r.status_code == 200, r.text

    _text, s = scrape(url)
    assert value(s, "quietline_messages_stored_total") == 4
    assert value(s, "quietline_messages_delivered_total") == 3
    assert value(s, "quietline_messages_deleted_total", reason="conversation_closed") == 1
    assert value(s, "quietline_messages_deleted_total", reason="expired") == 0
    assert value(s, "quietline_conversations_total", event="closed") == 1
    assert value(s, "quietline_refusals_total", code="malformed_json") == 2
    assert value(s, "quietline_refusals_total", code="not_found") == 1
    assert value(s, "quietline_refusals_total", code="forbidden_origin") == 1
    assert value(s, "quietline_refusals_total", code="rate_limited") == 0
    assert value(s, "quietline_pow_puzzles_issued_total") == 1
    assert value(s, "quietline_pow_proofs_accepted_total") == 1
    batches = value(s, "quietline_writer_batch_size_count")
    assert batches >= 10  # enrollment, session, prekeys, profile, status, sends, acks, ...
    assert value(s, "quietline_writer_batch_size_sum") >= batches
    assert value(s, "quietline_writer_batch_size_bucket", le="+Inf") == batches
    assert value(s, "quietline_open_connections") >= 0


@pytest.mark.slow
def test_sweep_results_are_counted(tmp_path: Path) -> None:
    """A conversation whose participant never came back is dropped by the sweeper."""
    port = free_port()
    relay = start_relay(
        tmp_path,
        QUIETLINE_METRICS_PORT=str(port),
        QUIETLINE_SWEEP_INTERVAL_SECONDS="0.2",
        QUIETLINE_UNCONFIRMED_CONVERSATION_SECONDS="1",
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:

        async def script() -> None:
            async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
                program = await enroll_program(c, relay.db_path, relay.url, prekeys=0)
                cid = os.urandom(16)
                r = await c.post(
                    "/v1/conversations",
                    json={
                        "program_id": program.pid,
                        "envelope": b64(make_envelope(cid, 0, 1, init=True)),
                    },
                )
                assert r.status_code == 201

        asyncio.run(script())
        # an unconfirmed conversation is kept until the minute after its deadline (the relay
        # stores minutes, never precise times): up to two minutes
        s = wait_for(url, "quietline_conversations_total", 1, within=150, event="swept")
        assert value(s, "quietline_messages_deleted_total", reason="conversation_closed") == 1
        assert value(s, "quietline_sweeps_total") >= 1
        assert value(s, "quietline_sweep_failures_total") == 0
    finally:
        relay.stop()


@pytest.mark.slow
def test_connections_refused_at_the_cap_are_counted(tmp_path: Path) -> None:
    port = free_port()
    relay = start_relay(
        tmp_path, QUIETLINE_METRICS_PORT=str(port), QUIETLINE_MAX_CONNECTIONS_PER_SOURCE="2"
    )
    url = f"http://127.0.0.1:{port}/metrics"
    held = [socket.create_connection(("127.0.0.1", relay.port)) for _ in range(2)]
    try:
        s = wait_for(url, "quietline_open_connections", 2)
        with socket.create_connection(("127.0.0.1", relay.port)) as third:
            third.settimeout(WAIT)
            assert third.recv(100).startswith(b"HTTP/1.1 429")
        s = wait_for(url, "quietline_connections_refused_total", 1, cap="source")
        assert value(s, "quietline_connections_refused_total", cap="total") == 0
    finally:
        for sock in held:
            sock.close()
        relay.stop()


# -- what it must not show ---------------------------------------------------------------

ALLOWED_LABELS: dict[str, set[str]] = {
    "reason": {"conversation_closed", "expired"},
    "event": {"opened", "closed", "swept"},
    "cap": {"total", "source"},
    "code": set(CODES),
    "le": {*map(str, metrics.BATCH_BUCKETS), "+Inf"},
}


@pytest.mark.slow
async def test_nothing_identifying_and_only_on_its_own_loopback_port(metered) -> None:
    relay, url = metered
    async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
        program = await enroll_program(c, relay.db_path, relay.url)
        cid = os.urandom(16)
        r = await c.post(
            "/v1/conversations",
            json={"program_id": program.pid, "envelope": b64(make_envelope(cid, 0, 1, init=True))},
        )
        token = r.json()["token"]
        r = await c.post(
            f"/v1/conversations/{b64(cid)}/close", headers={"authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200
        for path in ("/metrics", "/v1/metrics", "/metrics/"):
            response = await c.get(path)
            assert response.status_code == 404
            assert "quietline_" not in response.text

    text, samples = scrape(url)
    for (name, labels), _value in samples.items():
        assert name.startswith("quietline_"), name
        for key, label in labels:
            assert label in ALLOWED_LABELS[key], (name, key, label)
    for secret in (program.pid, b64(cid), token, program.session, "127.0.0.1"):
        assert secret not in text
    assert "_created" not in text  # no time of any kind
    # Its own port, on loopback only, and that port answers /metrics and nothing else.
    metrics_port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert sorted(listening(relay.process.pid)) == sorted(
        [("127.0.0.1", relay.port), ("127.0.0.1", metrics_port)]
    )
    assert httpx.get(url.replace("/metrics", "/v1/health")).status_code == 404
    assert httpx.head(url).status_code == 200


# -- in process ----------------------------------------------------------------------------


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    apps = []
    for name in ("a", "b"):
        db = tmp_path / f"{name}.db"
        migrate.upgrade(sqlite_url(db))
        apps.append(create_app(make_settings(db)))
    first, second = (app.state.metrics for app in apps)
    assert first.registry is not second.registry
    first.messages_stored += 5
    assert b"quietline_messages_stored_total 5.0" in first.exposition()
    assert b"quietline_messages_stored_total 0.0" in second.exposition()


def test_size_histogram_buckets() -> None:
    histogram = metrics.SizeHistogram((1, 4, 16))
    for size in (1, 2, 4, 5, 100):
        histogram.observe(size)
    assert histogram.buckets() == [("1", 1), ("4", 3), ("16", 4), ("+Inf", 5)]
    assert (histogram.total, histogram.observations) == (112, 5)


def test_metrics_settings_are_checked() -> None:
    assert Settings(metrics_port=9100).metrics_host == "127.0.0.1"
    with pytest.raises(ValueError, match="metrics_port"):
        Settings(metrics_port=70000)
    with pytest.raises(ValueError, match="metrics_host"):
        Settings(metrics_port=9100, metrics_host="metrics.example")
    env = {"QUIETLINE_METRICS_PORT": "9100", "QUIETLINE_METRICS_HOST": "::1"}
    assert Settings.from_env(environ=env).metrics_port == 9100


@pytest.mark.slow
def test_a_metrics_port_in_use_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from relay_helpers import ROOT

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env: dict[str, Any] = {
            k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "quietline",
                "relay",
                "serve",
                "--data-dir",
                str(tmp_path),
                "--port",
                str(free_port()),
                "--metrics-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert f"cannot listen for metrics on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
