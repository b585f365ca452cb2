"""The relay on PostgreSQL with Redis between two processes (docs/scale-out.md): every
relay command on a PostgreSQL URL, a close that reaches the other relay's sockets, the
VACUUM after it, and storage quotas that count what the other relay stored and acked.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from relay_helpers import b64, enroll_program, make_envelope, open_conversation
from relay_pair import RelayPair, start_pair
from relay_process import FUNCTIONAL_LIMITS
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.pg, pytest.mark.slow]


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, postgres: Any, redis_server: Any
) -> Iterator[RelayPair]:
    """One pair for the module (each test enrolls its own program)."""
    p = start_pair(
        tmp_path_factory.mktemp("pair"),
        postgres.create_database("scale_out_server"),
        redis_server.url,
        QUIETLINE_QUOTA_MESSAGES_PER_CONVERSATION="3",
        QUIETLINE_QUOTA_REFRESH_SECONDS="0.2",
        **FUNCTIONAL_LIMITS,
    )
    try:
        yield p
    finally:
        p.stop()


async def _ws(url: str, token: str) -> Any:
    ws = await connect(url.replace("http", "ws") + "/v1/ws", open_timeout=10)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
    return ws


async def _next(ws: Any, kind: str) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame  # type: ignore[no-any-return]

    return await asyncio.wait_for(scan(), 15)


def _send_body(cid: bytes, n: int) -> dict[str, Any]:
    return {"envelopes": [b64(make_envelope(cid, 0, 1, n=n))]}


class Box:
    """A socket's queue, as a broker sees it: keeps what it is handed."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    def put_nowait(self, event: dict[str, Any]) -> None:
        self.got.append(event)


PUSH = {
    "type": "message",
    "id": b64(bytes(16)),
    "conversation_id": b64(bytes(16)),
    "envelope": b64(b"ciphertext"),
}
"""A message push in the shape the relay makes (server.relay.message_event)."""


async def _until(done: Any, what: str, timeout: float = 10) -> None:
    """Wait until ``done()`` is true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _vacuum_count(pair: RelayPair, postgres: Any) -> int:
    database = pair.a.database_url.rsplit("/", 1)[1]
    out = postgres.psql(
        "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'messages'", database
    )
    return int(out.strip() or 0)


async def test_every_command_and_a_close_across_two_relays(pair: RelayPair, postgres: Any) -> None:
    """First in the module: its database holds no message yet (the audit counts rows)."""
    a, b = pair.a, pair.b
    # migrate again: nothing to do, no error
    result = a.cli("relay", "migrate", "--database-url", a.database_url)
    assert result.returncode == 0, result.stderr
    token = a.add_program()
    pair.balancer.targets = [a.port, b.port]
    async with (
        httpx.AsyncClient(base_url=pair.balancer.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        program = await enroll_program(on_a, Path(), pair.balancer.url, prekeys=2, token=token)
        cid, member = await open_conversation(on_b, program)
        participant = await _ws(b.url, member)
        try:
            await _conversation_across(pair, postgres, program, cid, member, participant)
        finally:
            await participant.close()

    audit = a.cli("relay", "audit", "--json", "--database-url", a.database_url)
    report = json.loads(audit.stdout)
    assert audit.returncode == 0 and report["rows"]["messages"] == 0


async def _conversation_across(
    pair: RelayPair, postgres: Any, program: Any, cid: bytes, member: str, participant: Any
) -> None:
    a, b = pair.a, pair.b
    async with (
        httpx.AsyncClient(base_url=pair.balancer.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        auth = {"Authorization": f"Bearer {member}"}
        r = await on_b.post(f"/v1/conversations/{b64(cid)}/messages", json=_send_body(cid, 1))
        assert r.status_code == 401  # no token, no send
        r = await on_b.post(
            f"/v1/conversations/{b64(cid)}/messages", json=_send_body(cid, 1), headers=auth
        )
        assert r.status_code == 201, r.text
        # the program reads on relay a what was stored through relay b
        r = await on_a.get(f"/v1/programs/{program.pid}/messages", headers=program.auth_headers())
        assert r.status_code == 200, r.text
        assert len(r.json()["messages"]) == 2  # the init and the send
        for relay in (on_a, on_b):  # both read their schema revision from PostgreSQL
            r = await relay.get("/v1/health/ready")
            assert r.status_code == 200 and r.json() == {"status": "ready"}, r.text

        audit = a.cli("relay", "audit", "--json", "--database-url", a.database_url)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        report = json.loads(audit.stdout)
        assert report["ok"] and report["rows"]["messages"] == 2 and report["files"] == {}
        export = a.cli("relay", "export", "--database-url", a.database_url)
        assert export.returncode == 0, export.stderr
        assert len(json.loads(export.stdout)["tables"]["messages"]["rows"]) == 2

        vacuums = _vacuum_count(pair, postgres)
        # the program closes through relay a; the participant's socket is on relay b
        r = await on_a.post(f"/v1/conversations/{b64(cid)}/close", headers=program.auth_headers())
        assert r.is_success, r.text
        closed = await _next(participant, "closed")
        assert closed["conversation_id"] == b64(cid)
        # relay b forgot the conversation: its token is refused at once
        r = await on_b.post(
            f"/v1/conversations/{b64(cid)}/messages", json=_send_body(cid, 2), headers=auth
        )
        assert r.status_code in (401, 410), r.text
        # the close was answered after a VACUUM of the message table
        deadline = time.monotonic() + 10
        while _vacuum_count(pair, postgres) <= vacuums:  # statistics lag a moment
            assert time.monotonic() < deadline, "no VACUUM after the close"
            await asyncio.sleep(0.1)


async def test_quota_counts_what_the_other_relay_acked(pair: RelayPair) -> None:
    a, b = pair.a, pair.b
    token = a.add_program()
    pair.balancer.targets = [a.port, b.port]
    async with (
        httpx.AsyncClient(base_url=pair.balancer.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        program = await enroll_program(on_a, Path(), pair.balancer.url, prekeys=2, token=token)
        cid, member = await open_conversation(on_a, program, confirm=False)
        auth = {"Authorization": f"Bearer {member}"}
        url = f"/v1/conversations/{b64(cid)}/messages"
        for n in (1, 2):  # with the init: 3 waiting, the quota
            r = await on_a.post(url, json=_send_body(cid, n), headers=auth)
            assert r.status_code == 201, r.text
        r = await on_a.post(url, json=_send_body(cid, 3), headers=auth)
        assert r.status_code == 429 and r.json()["error"]["code"] == "quota_exceeded", r.text
        # relay b counts them too, from the shared database
        deadline = time.monotonic() + 10
        while True:
            r = await on_b.post(url, json=_send_body(cid, 3), headers=auth)
            if r.status_code == 429:
                break
            assert r.status_code == 201, r.text  # b had not read the totals yet: 4 waiting
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # the program acks everything through relay b: relay a takes sends again
        r = await on_b.get(f"/v1/programs/{program.pid}/messages", headers=program.auth_headers())
        ids = [m["id"] for m in r.json()["messages"]]
        r = await on_b.post("/v1/acks", json={"message_ids": ids}, headers=program.auth_headers())
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        while True:
            r = await on_a.post(url, json=_send_body(cid, 4), headers=auth)
            if r.status_code == 201:
                break
            assert r.status_code == 429, r.text
            assert time.monotonic() < deadline, "relay a never saw the acks made on b"
            await asyncio.sleep(0.1)


async def test_challenges_and_puzzles_redeemed_by_the_other_relay(pair: RelayPair) -> None:
    """Behind a balancer, the session may go to another relay than its challenge, and a
    proof of work to another relay than its puzzle: each is redeemed once, anywhere."""
    from e2ee import identity
    from e2ee.encoding import b64u_decode
    from server.pow import solve

    a, b = pair.a, pair.b
    token = a.add_program()
    pair.balancer.targets = [a.port, b.port]
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        program = await enroll_program(on_a, Path(), pair.balancer.url, prekeys=2, token=token)
        origin = pair.balancer.url.encode()
        r = await on_a.post(f"/v1/programs/{program.pid}/challenge")
        challenge = r.json()["challenge"]
        sig = program.keys.sign(identity.LABEL_RELAY_AUTH, b64u_decode(challenge) + origin)
        body = {"challenge": challenge, "signature": b64(sig)}
        r = await on_b.post(f"/v1/programs/{program.pid}/session", json=body)
        assert r.status_code == 200, r.text
        for relay in (on_a, on_b):  # used: refused everywhere
            r = await relay.post(f"/v1/programs/{program.pid}/session", json=body)
            assert r.status_code == 401 or r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "bad_challenge"

        r = await on_a.post(f"/v1/programs/{program.pid}/puzzle")
        assert r.status_code == 200, r.text
        puzzle = r.json()["puzzle"]
        solution = solve(b64u_decode(puzzle), r.json()["difficulty"])
        proof = {"Quietline-Proof": f"{puzzle}.{b64(solution)}"}
        r = await on_b.post(f"/v1/programs/{program.pid}/bundle", headers=proof)
        assert r.status_code == 200, r.text
        for relay in (on_a, on_b):
            r = await relay.post(f"/v1/programs/{program.pid}/bundle", headers=proof)
            assert r.json()["error"]["code"] == "bad_proof", r.text


def test_a_relay_without_its_redis_does_not_start(tmp_path: Path, pg_database: str) -> None:
    from relay_process import free_port, start_relay

    nothing = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    with pytest.raises(RuntimeError, match="relay exited"):
        start_relay(tmp_path, None, pg_database, QUIETLINE_BROKER_URL=nothing)
    log = (tmp_path / "relay.log").read_text()
    assert "Traceback" not in log
    assert f"the broker {nothing} cannot be reached: ConnectionError" in log


async def test_a_dropped_subscription_makes_clients_catch_up(redis_server: Any) -> None:
    """Redis drops the relay's subscription (``CLIENT KILL ID``) while Redis and
    the other relays stay up: what was published meanwhile never reaches this relay, so
    it must close its sockets once subscribed again (``on_resync``), however the client
    library reconnected."""
    import redis.asyncio

    from server.fanout import RedisBroker

    # named, so that only its own connections are killed (not other tests' relays')
    broker = RedisBroker(redis_server.url + "?client_name=dropped-subscription")
    resynced = asyncio.Event()
    broker.on_resync = resynced.set
    await broker.start()
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        clients = await admin.client_list(_type="pubsub")
        ours = [c["id"] for c in clients if c.get("name") == "dropped-subscription"]
        assert len(ours) == 1, clients
        await admin.execute_command("CLIENT", "KILL", "ID", ours[0])
        await asyncio.wait_for(resynced.wait(), 15)
        # and it hears the others again
        box = Box()
        broker.subscribe(b"p" + bytes(16), box)
        other = RedisBroker(redis_server.url)
        await other.start()
        try:
            deadline = time.monotonic() + 15
            while not box.got:
                other.publish(b"p" + bytes(16), {"type": "prekeys_draining"})
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        finally:
            await other.stop()
        assert box.got[0] == {"type": "prekeys_draining"}
    finally:
        await admin.aclose()
        await broker.stop()


async def test_a_participant_back_on_the_other_relay_is_waiting_on_both(pair: RelayPair) -> None:
    """A conversation opened through relay a is unconfirmed until its participant uses the
    token; when that happens on relay b, the shared database records it (so no relay keeps
    it out of the queue or sweeps it) and relay a is told, so its memory agrees."""
    a, b = pair.a, pair.b
    token = a.add_program()
    pair.balancer.targets = [a.port, b.port]
    async with httpx.AsyncClient(base_url=pair.balancer.url, timeout=30) as on_a:
        program = await enroll_program(on_a, Path(), pair.balancer.url, prekeys=2, token=token)
        cid, member = await open_conversation(on_a, program, confirm=False)
        queue = f"/v1/programs/{program.pid}/queue"
        r = await on_a.get(queue, headers=program.auth_headers())
        assert b64(cid) not in r.json()["waiting"]  # nobody came back yet
        participant = await _ws(b.url, member)  # the token's first use, on relay b
        try:
            deadline = time.monotonic() + 10
            while True:
                r = await on_a.get(queue, headers=program.auth_headers())
                if b64(cid) in r.json()["waiting"]:
                    break
                assert time.monotonic() < deadline, "relay a never heard the participant came"
                await asyncio.sleep(0.1)
        finally:
            await participant.close()


def test_the_sweeper_vacuums_and_rotates_the_wal_when_allowed(
    tmp_path: Path, postgres: Any
) -> None:
    """A privileged role: VACUUM, then pg_switch_wal() and CHECKPOINT twice, each sweep.
    A role without pg_checkpoint: VACUUM still, and one warning that says what to grant."""
    from relay_process import start_relay

    def checkpoints() -> int:
        try:  # PostgreSQL 17 and later
            return int(postgres.psql("SELECT num_requested FROM pg_stat_checkpointer").strip())
        except subprocess.CalledProcessError:  # up to 16 (Debian 12 has 15)
            return int(postgres.psql("SELECT checkpoints_req FROM pg_stat_bgwriter").strip())

    url = postgres.create_database("sweeper_rotates")
    (tmp_path / "super").mkdir()
    (tmp_path / "plain").mkdir()
    before = checkpoints()
    relay = start_relay(tmp_path / "super", None, url, QUIETLINE_SWEEP_INTERVAL_SECONDS="0.5")
    try:
        deadline = time.monotonic() + 20
        while checkpoints() < before + 4:  # two sweeps' worth
            assert time.monotonic() < deadline, "no CHECKPOINT from the sweeper"
            time.sleep(0.2)
    finally:
        relay.stop()

    postgres.psql("CREATE ROLE plain LOGIN")
    postgres.psql("ALTER DATABASE sweeper_rotates OWNER TO plain")
    postgres.psql("ALTER TABLE messages OWNER TO plain", "sweeper_rotates")
    for table in ("members", "conversations", "alembic_version"):
        postgres.psql(f"ALTER TABLE {table} OWNER TO plain", "sweeper_rotates")
    postgres.psql("GRANT ALL ON ALL TABLES IN SCHEMA public TO plain", "sweeper_rotates")
    postgres.psql("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO plain", "sweeper_rotates")
    plain_url = url.replace("postgres@", "plain@")
    relay = start_relay(tmp_path / "plain", None, plain_url, QUIETLINE_SWEEP_INTERVAL_SECONDS="0.5")
    try:
        deadline = time.monotonic() + 20
        while "cannot rotate PostgreSQL's WAL" not in relay.log_path.read_text():
            assert time.monotonic() < deadline, "no word about the missing grants"
            time.sleep(0.2)
        count = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'messages'"
        while int(postgres.psql(count, "sweeper_rotates").strip() or 0) < 1:
            # the server's statistics lag up to a second behind the VACUUM
            assert time.monotonic() < deadline, "no VACUUM without the grants"
            time.sleep(0.2)
    finally:
        relay.stop()
    log = relay.log_path.read_text()
    assert log.count("cannot rotate PostgreSQL's WAL") == 1  # said once
    assert "pg_checkpoint" in log and "sweep failed" not in log


async def test_message_notifications_reach_only_the_relays_holding_the_channel(
    redis_server: Any,
) -> None:
    """A message notification goes to its recipient's own Redis channel, which only a
    process holding a socket on it subscribes to (once, confirmed before the socket reads
    what waits); every other event still reaches every process."""
    import redis.asyncio

    from server.fanout import MESSAGES_PREFIX, RedisBroker

    channel = b"p" + bytes(range(16))
    name = MESSAGES_PREFIX + b64(channel)

    holder, other = RedisBroker(redis_server.url), RedisBroker(redis_server.url)
    await holder.start()
    await other.start()
    admin = redis.asyncio.Redis.from_url(redis_server.url)

    async def subscribers() -> int:
        return int((await admin.pubsub_numsub(name))[0][1])

    try:
        assert await subscribers() == 0
        first, second = Box(), Box()
        holder.subscribe(channel, first)
        holder.subscribe(channel, second)  # the process subscribes once
        await asyncio.wait_for(holder.listening(channel), 10)
        assert await subscribers() == 1
        # a message for the channel does not reach the process without a socket on it:
        # the event after it (on the shared channel, same publisher) arrives, it did not
        holder.publish(channel, {"type": "message", "id": b64(bytes(16))})
        holder.publish(channel, {"type": "prekeys_draining"})
        deadline = time.monotonic() + 10
        while other.received < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert other.received == 1
        holder.unsubscribe(channel, first)
        await asyncio.sleep(0.2)
        assert await subscribers() == 1  # the second socket still holds it
        holder.unsubscribe(channel, second)
        while await subscribers():
            assert time.monotonic() < deadline + 10
            await asyncio.sleep(0.05)
        # subscribed, left and subscribed again at once: answered in turn
        holder.subscribe(channel, first)
        holder.unsubscribe(channel, first)
        holder.subscribe(channel, first)
        await asyncio.wait_for(holder.listening(channel), 10)
        assert await subscribers() == 1
    finally:
        await admin.aclose()
        await holder.stop()
        await other.stop()


async def test_remembered_sends_go_to_redis_as_one_command_per_pipeline(
    redis_server: Any,
) -> None:
    """``set_later`` (the recent sends of server/shared_sends.py): each key gets its value
    and its own expiry, and the SETs queued together reach Redis as one script call per
    ``SETS_PER_SCRIPT`` keys, not one command each."""
    import redis.asyncio

    from server.fanout import SETS_PER_SCRIPT, RedisBroker

    broker = RedisBroker(redis_server.url)
    await broker.start()
    admin = redis.asyncio.Redis.from_url(redis_server.url)

    async def evals() -> int:
        stats = await admin.info("commandstats")
        return int(stats.get("cmdstat_eval", {}).get("calls", 0))

    try:
        count = SETS_PER_SCRIPT + 44
        before = await evals()
        names = [f"quietline:test-set:{i}" for i in range(count)]
        futures = [broker.set_later(name, f"ids-{i}", 60_000 + i) for i, name in enumerate(names)]
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert await evals() - before == 2
        assert await admin.mget(names) == [f"ids-{i}".encode() for i in range(count)]
        for i in (0, count - 1):
            assert 60_000 + i - 5_000 < await admin.pttl(names[i]) <= 60_000 + i
        await admin.delete(*names)
    finally:
        await admin.aclose()
        await broker.stop()


async def test_a_hanging_redis_delays_an_answer_by_the_patience_at_most(
    redis_server: Any,
) -> None:
    """A send is answered once Redis has its SET, or after ``SET_PATIENCE_SECONDS`` if
    Redis hangs (here: paused for writes) rather than refusing; the SET lands later."""
    import redis.asyncio

    from server.fanout import SET_PATIENCE_SECONDS, RedisBroker

    broker = RedisBroker(redis_server.url)
    await broker.start()
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    name = "quietline:test-set:paused"
    try:
        pause_ms = int((SET_PATIENCE_SECONDS + 3) * 1000)
        await admin.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
        started = time.monotonic()
        first = broker.set_later(name, "first", 60_000)
        second = broker.set_later(name + "2", "second", 60_000)
        assert first is not None and second is not None
        await asyncio.wait_for(asyncio.gather(first, second), SET_PATIENCE_SECONDS + 2)
        waited = time.monotonic() - started
        assert SET_PATIENCE_SECONDS - 0.1 <= waited < SET_PATIENCE_SECONDS + 2
        assert await admin.get(name) is None  # still held up in the paused pipeline
        await admin.execute_command("CLIENT", "UNPAUSE")
        deadline = time.monotonic() + 10
        while await admin.get(name) != b"first":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await admin.delete(name, name + "2")
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await broker.stop()


async def test_a_malformed_push_from_redis_reaches_no_socket(redis_server: Any) -> None:
    """A push on a recipient's channel goes to its sockets only as the relay makes one
    (type, id, conversation id and envelope, as text); anything else is dropped."""
    import redis.asyncio

    from server.fanout import MESSAGES_PREFIX, RedisBroker

    channel = b"p" + bytes(range(1, 17))
    key = b64(channel)
    box = Box()
    holder = RedisBroker(redis_server.url)
    await holder.start()
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    bad = [
        {"type": "message", "id": b64(bytes(16))},  # no envelope
        dict(PUSH, envelope=5),  # not text
        dict(PUSH, sent_at=1),  # more than a push holds
    ]
    try:
        holder.subscribe(channel, box)
        await asyncio.wait_for(holder.listening(channel), 10)
        for event in [*bad, PUSH]:
            payload = json.dumps({"i": b64(b"elsewhere"), "e": [[key, event]]})
            await admin.publish(MESSAGES_PREFIX + key, payload)
        await _until(lambda: holder.received == 4, "the payloads did not arrive")
        assert box.got == [PUSH]
    finally:
        await admin.aclose()
        await holder.stop()


async def test_a_crowd_that_takes_every_shared_redis_connection_drops_no_push(
    redis_server: Any,
) -> None:
    """Ticket requests and send lookups share a pool of Redis connections; pushes have a
    client of their own. With the shared pool exhausted, a ticket fails (that request is
    answered ``unavailable``), but a push still goes out and no socket is restarted."""
    from server.fanout import RedisBroker

    # a pool of two: the subscription holds one, the test takes the other
    broker = RedisBroker(redis_server.url + "?max_connections=2")
    restarted = asyncio.Event()
    broker.on_resync = restarted.set
    other = RedisBroker(redis_server.url)
    channel = b"p" + bytes(range(2, 18))
    box = Box()
    await broker.start()
    await other.start()
    pool = broker._redis.connection_pool
    held = await pool.get_connection()
    try:
        other.subscribe(channel, box)
        await asyncio.wait_for(other.listening(channel), 10)
        with pytest.raises(Exception, match=r"(?i)too many connections"):
            await broker.put_ticket("puzzle", b"a crowd", 60)
        broker.publish(channel, dict(PUSH))
        await _until(lambda: box.got, "the push did not go out")
        assert box.got == [PUSH]
        assert not restarted.is_set() and broker.sent >= 1
    finally:
        await pool.release(held)
        await broker.stop()
        await other.stop()
