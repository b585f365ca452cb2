"""The group-commit writer and its checkpointer thread, on real SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_helpers import (
    b64,
    enroll_program,
    in_process,
    make_envelope,
    make_settings,
    open_conversation,
    sqlite_url,
)
from sqlalchemy.engine import Engine

from server import messages
from server.checkpointer import BACKSTOP_PAGES, Checkpointer
from server.db import create_writer_engine
from server.errors import ApiError
from server.settings import Settings
from server.storage import Principal
from server.writer import WriterStopped
from server.ws import Inflight


def _wait(predicate, timeout: float = 10.0) -> None:
    """Wait for ``predicate`` (the checkpointer runs on its own thread), never for long."""
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        done.wait(0.005)


def _fill(engine: Engine, pages: int) -> None:
    """Commit ``pages`` rows of about a page each through a writer engine that leaves
    checkpoints alone (below BACKSTOP_PAGES). The engine keeps its connection open, as
    the relay's writer does: SQLite folds the WAL by itself when the last one closes."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (b BLOB)")
    for _ in range(pages // 10):
        with engine.begin() as conn:
            for _ in range(10):
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (os.urandom(4000),))


def _query(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Run one statement on its own connection (committed, foreign keys on): its rows."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _writer(path: Path) -> Engine:
    return create_writer_engine(sqlite_url(path), autocheckpoint=BACKSTOP_PAGES)


def test_the_writer_connection_leaves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    engine = _writer(tmp_path / "r.db")
    try:
        with engine.connect() as conn:
            value = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        engine.dispose()
    assert (value, mode) == (BACKSTOP_PAGES, "wal")
    # Without the option, SQLite's own default stays (other writers, the CLI).
    engine = create_writer_engine(sqlite_url(tmp_path / "r.db"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        engine.dispose()


@contextlib.contextmanager
def _checkpointing(path: Path, interval: float = 0.001) -> Iterator[tuple[Engine, Checkpointer]]:
    """A writer engine and a checkpointer (not started) on ``path``, both closed after."""
    writer = _writer(path)
    checkpointer = Checkpointer(create_writer_engine(sqlite_url(path)), interval=interval)
    try:
        yield writer, checkpointer
    finally:
        checkpointer.stop()
        writer.dispose()


def test_a_nudge_checkpoints_the_wal_on_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with _checkpointing(path) as (writer, checkpointer):
        _fill(writer, 300)
        # Committed, but only in the WAL: the database file has not grown.
        assert path.stat().st_size < 100 * 4096
        checkpointer.start()
        checkpointer.nudge()
        _wait(lambda: checkpointer.runs >= 1)
        assert path.stat().st_size >= 300 * 4000
        # The thread sleeps until the next nudge: no checkpoint without commits.
        runs = checkpointer.runs
        _fill(writer, 300)
        assert checkpointer.runs == runs and path.stat().st_size < 600 * 4000
        checkpointer.nudge()
        _wait(lambda: checkpointer.runs == runs + 1)
        assert path.stat().st_size >= 600 * 4000
    assert not any(t.name == "quietline-checkpointer" for t in threading.enumerate())
    assert _query(path, "SELECT count(*) FROM t") == [(600,)]


def test_after_a_checkpoint_the_wal_starts_over_instead_of_growing(tmp_path: Path) -> None:
    with _checkpointing(tmp_path / "r.db") as (writer, checkpointer):
        checkpointer.start()
        _fill(writer, 200)
        size = (tmp_path / "r.db-wal").stat().st_size
        for _ in range(5):
            runs = checkpointer.runs
            checkpointer.nudge()
            _wait(lambda runs=runs: checkpointer.runs > runs)
            _fill(writer, 200)
        # Six times as many pages went through the WAL; it holds about one fill's worth.
        assert (tmp_path / "r.db-wal").stat().st_size < 2 * size


def test_nudges_within_the_interval_wait_for_one_checkpoint_after_it(tmp_path: Path) -> None:
    with _checkpointing(tmp_path / "r.db", interval=0.5) as (writer, checkpointer):
        checkpointer.start()
        _fill(writer, 20)
        checkpointer.nudge()
        _wait(lambda: checkpointer.runs == 1)
        first = time.monotonic()
        # Commits go on right after: their nudges make one checkpoint, not one each, and
        # only once the interval since the first has passed.
        for _ in range(5):
            _fill(writer, 10)
            checkpointer.nudge()
        _wait(lambda: checkpointer.runs == 2)
        # The first run ended before `first` was taken (up to the poll's 5 ms later).
        assert time.monotonic() - first >= 0.5 - 0.05
        _fill(writer, 10)  # committed after the second run began: a third one comes
        checkpointer.nudge()
        _wait(lambda: checkpointer.runs == 3)
    assert _query(tmp_path / "r.db", "SELECT count(*) FROM t") == [(80,)]


async def test_the_relay_gives_its_checkpointer_the_interval_setting(db_path: Path) -> None:
    async with in_process(make_settings(db_path, checkpoint_interval_ms=123), db_path) as r:
        checkpointer = r.relay.writer.checkpointer
        assert checkpointer is not None and checkpointer.interval == 0.123
    assert Checkpointer.__init__.__kwdefaults__ == {
        "interval": Settings().checkpoint_interval_ms / 1000
    }


def test_a_failed_checkpoint_is_logged_by_type_and_tried_again(tmp_path: Path, caplog) -> None:
    missing = tmp_path / "no-such-directory" / "r.db"
    checkpointer = Checkpointer(create_writer_engine(sqlite_url(missing)), interval=0.001)
    checkpointer.start()
    try:
        with caplog.at_level(logging.ERROR, logger="quietline.relay"):
            checkpointer.nudge()
            _wait(lambda: "checkpoint failed" in caplog.text)
            missing.parent.mkdir()
            writer = _writer(missing)
            _fill(writer, 20)
            checkpointer.nudge()
            _wait(lambda: checkpointer.runs == 1)
            writer.dispose()
    finally:
        checkpointer.stop()
    failures = [r.getMessage() for r in caplog.records if "checkpoint failed" in r.getMessage()]
    assert failures and all(m == "checkpoint failed: OperationalError" for m in failures)
    assert str(tmp_path) not in caplog.text


def test_stop_without_start_and_twice(tmp_path: Path) -> None:
    Checkpointer(create_writer_engine(sqlite_url(tmp_path / "r.db"))).stop()
    checkpointer = Checkpointer(create_writer_engine(sqlite_url(tmp_path / "r.db")))
    checkpointer.start()
    checkpointer.stop()
    checkpointer.stop()


async def test_the_relay_checkpoints_after_its_commits(relay) -> None:
    program = await enroll_program(relay.client, relay.db, relay.origin)
    checkpointer = relay.relay.writer.checkpointer
    assert checkpointer is not None
    await open_conversation(relay.client, program)
    _wait(lambda: checkpointer.runs >= 1)


async def test_sends_and_acks_of_one_batch_run_as_multi_row_statements_in_chunks(
    db_path, monkeypatch
) -> None:
    """Many sends committed together (one INSERT per chunk of rows), acks with more ids
    than a chunk, duplicates, ids of others and unknown ids: each op gets its own answer.
    (A long commit interval makes sure the concurrent sends share a batch.)"""
    monkeypatch.setattr(messages, "_IN_CHUNK", 3)
    async with in_process(make_settings(db_path, commit_interval_ms=50), db_path) as relay:
        await _multi_row_statements(relay)


async def _multi_row_statements(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin)
    h = program.auth_headers()
    convs = [await open_conversation(c, program) for _ in range(4)]

    async def send(cid: bytes, token: str, n: int) -> list[str]:
        r = await c.post(
            f"/v1/conversations/{b64(cid)}/messages",
            json={"envelopes": [b64(make_envelope(cid, 0, 1, n=n))]},
            headers={"authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        return list(r.json()["message_ids"])

    before = relay.relay.writer.batches
    sent = await asyncio.gather(*[send(cid, t, n) for cid, t in convs for n in (1, 2)])
    assert relay.relay.writer.batches - before < len(sent)  # some went in one batch
    pending = (await c.get(f"/v1/programs/{program.pid}/messages", headers=h)).json()["messages"]
    assert len(pending) == 4 + 8 and {m["id"] for m in pending} >= {i for s in sent for i in s}

    # A participant cannot ack the program's messages, whatever the chunking.
    _cid, token = convs[0]
    r = await c.post(
        "/v1/acks",
        json={"message_ids": [m["id"] for m in pending]},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.json() == {"acked": 0}
    ids = [m["id"] for m in pending]
    unknown = b64(os.urandom(16))
    r = await c.post("/v1/acks", json={"message_ids": ids[:5] + ids[:2] + [unknown]}, headers=h)
    assert r.json() == {"acked": 5}
    r = await c.post("/v1/acks", json={"message_ids": ids}, headers=h)
    assert r.json() == {"acked": 7}
    assert _query(relay.db, "SELECT count(*) FROM messages") == [(0,)]


def test_marks_are_positional_on_sqlite_and_named_elsewhere() -> None:
    from types import SimpleNamespace

    for dialect, sql, params in (
        ("sqlite", "IN (?, ?) AND x = ?", [b"a", b"b", 7]),
        ("postgresql", "IN (:p0, :p1) AND x = :p2", {"p0": b"a", "p1": b"b", "p2": 7}),
    ):
        marks = messages._Marks(SimpleNamespace(dialect=SimpleNamespace(name=dialect)))
        built = f"IN ({marks.add([b'a', b'b'])}) AND x = {marks.add((7,))}"
        assert (built, marks.params()) == (sql, params)
    # rows for a multi-row VALUES, after other marks
    for dialect, sql, params in (
        ("sqlite", "x = ? VALUES (?, ?), (?, ?)", [0, 1, b"a", 2, b"b"]),
        (
            "postgresql",
            "x = :p0 VALUES (:p1, :p2), (:p3, :p4)",
            {"p0": 0, "p1": 1, "p2": b"a", "p3": 2, "p4": b"b"},
        ),
    ):
        marks = messages._Marks(SimpleNamespace(dialect=SimpleNamespace(name=dialect)))
        built = f"x = {marks.add((0,))} VALUES {marks.add_rows([(1, b'a'), (2, b'b')])}"
        assert (built, marks.params()) == (sql, params)


async def test_a_callback_gets_its_result_after_the_commit_and_a_failing_one_stays_its_own(
    relay, caplog
) -> None:
    writer = relay.relay.writer
    got: list[object] = []

    def fails(_result: object) -> None:
        raise ValueError("a message that must not be logged")

    def refused(_conn: object) -> None:
        raise ApiError("malformed_field", "refused")

    with caplog.at_level(logging.ERROR, logger="quietline.relay"):
        writer.submit_with(lambda _conn: 41, fails)
        writer.submit_with(lambda _conn: 42, got.append)
        writer.submit_with(refused, got.append)
        assert await writer.submit(lambda _conn: 43) == 43  # the writer went on
        await writer.stop()
    assert got[0] == 42 and isinstance(got[1], ApiError) and got[1].code == "malformed_field"
    # One failure, the callback's own (stopping the writer adds none).
    assert caplog.text.count("write callback failed") == 1
    assert "write callback failed: ValueError" in caplog.text
    assert "must not be logged" not in caplog.text
    with pytest.raises(WriterStopped):
        writer.submit_with(lambda _conn: 44, got.append)


async def test_inflight_lets_the_reader_on_only_below_the_limit() -> None:
    inflight = Inflight()
    for _ in range(3):
        inflight.add()
    waiting = asyncio.ensure_future(inflight.below(3))
    await asyncio.sleep(0)
    assert not waiting.done()
    inflight.done()
    await asyncio.wait_for(waiting, 5)
    assert inflight.count == 2
    await asyncio.wait_for(inflight.below(3), 5)  # already below: no wait
    inflight.done()  # nobody waiting: nothing to wake
    assert inflight.count == 1


def _sqlite_temp_files() -> list[str]:
    """Files SQLite made for itself that this process holds open (unlinked at once, they
    show only here); SQLite names each ``etilqs_`` and a random suffix."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if "etilqs_" in target:
                found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc")
async def test_a_batch_of_many_envelopes_writes_no_temporary_file(db_path) -> None:
    """A batch acks dozens of stored envelopes and stores dozens of new ones in one
    multi-row INSERT, into the pages the ack freed: more than 64 KiB of pages already on
    disk, changed by one statement. Its statement journal (the pages' old content, which
    can be ciphertext) must stay in memory, not go to an unlinked file in /var/tmp that
    nothing ever zeroes. The check runs inside that batch's transaction, while such a
    file is open. (It fails without ``temp_store=MEMORY``.)"""
    async with in_process(make_settings(db_path), db_path) as relay:
        program = await enroll_program(relay.client, relay.db, relay.origin)
        cid, _token = await open_conversation(relay.client, program)
        r, writer = relay.relay, relay.relay.writer
        participant = Principal(conversation_id=cid, slot=0)
        node = Principal(program_id=program.keys.program_id)

        def sends(first: int) -> list[asyncio.Future[object]]:
            return [
                writer.submit_nowait(
                    r.prepare_send(
                        participant,
                        cid,
                        {"envelopes": [b64(make_envelope(cid, 0, 1, n=n, blocks=4))]},
                    )
                )
                for n in range(first, first + 60)
            ]

        await asyncio.gather(*sends(1))
        events, _ = await r.pending(node)
        acked = writer.submit_nowait(r.prepare_ack(node, {"ids": [e["id"] for e in events]}, "ids"))
        stored = sends(61)  # in the same batch as the ack, into the pages it frees
        during = writer.submit_nowait(lambda _conn: _sqlite_temp_files())  # and this
        assert await acked == 61
        assert all(isinstance(s, messages.Sent) for s in await asyncio.gather(*stored))
        assert await during == []


async def test_the_writer_remembers_conversations_until_another_op_or_a_failure(db_path) -> None:
    """On SQLite, a send batch reads only the conversations the writer's memo lacks; any
    other op (here a close) empties the memo first, so a send checked before the close
    is refused after it; and a batch that fails empties it too. The failure is made by
    deleting a conversation behind the writer's back (nothing the relay does): the memo
    still has it, the INSERT breaks its foreign key, the batch rolls back, and the send
    run again alone reads the database afresh and is refused, with nothing stored."""
    async with in_process(make_settings(db_path), db_path) as relay:
        program = await enroll_program(relay.client, relay.db, relay.origin)
        (a, _), (b, _) = [await open_conversation(relay.client, program) for _ in range(2)]
        r, writer = relay.relay, relay.relay.writer
        statements: list[str] = []
        driver = writer._connection().connection.dbapi_connection
        driver.set_trace_callback(statements.append)

        def send(cid: bytes, n: int) -> messages.SendOp:
            body = {"envelopes": [b64(make_envelope(cid, 0, 1, n=n))]}
            return r.prepare_send(Principal(conversation_id=cid, slot=0), cid, body)

        def reads() -> int:
            return sum("FROM conversations WHERE conversation_id IN" in s for s in statements)

        for n in (1, 2, 3):
            assert isinstance(await writer.submit(send(a, n)), messages.Sent)
        assert reads() == 1
        late = send(a, 4)  # checked while the conversation is open
        await r.close(Principal(program_id=program.keys.program_id), a)
        mark = len(statements)
        with pytest.raises(ApiError) as refused:
            await writer.submit(late)
        assert refused.value.code == "unknown_conversation" and reads() == 2
        assert "ROLLBACK" not in statements[mark:]  # read afresh, not caught by the key

        assert isinstance(await writer.submit(send(b, 1)), messages.Sent)
        _query(relay.db, "DELETE FROM conversations WHERE conversation_id = ?", b)
        mark = len(statements)
        with pytest.raises(ApiError) as refused:
            await writer.submit(send(b, 2))
        assert refused.value.code == "unknown_conversation"
        tried = statements[mark:]
        assert any(s.startswith("INSERT INTO messages") for s in tried)  # the memo's word
        assert "ROLLBACK" in tried  # broke the batch, which ran again alone...
        assert sum("FROM conversations WHERE" in s for s in tried) == 1  # ...read afresh
        assert _query(relay.db, "SELECT count(*) FROM messages WHERE conversation_id = ?", b) == [
            (0,)
        ]


def test_a_batch_gets_an_empty_memo_when_the_database_is_a_server() -> None:
    """With a database server other processes may write too: nothing is kept."""
    from types import SimpleNamespace

    from server.writer import Coalesced, Writer

    seen: list[dict[str, object]] = []

    class Remember(Coalesced):
        @classmethod
        def run_many(cls, conn, ops, memo):  # type: ignore[no-untyped-def]
            seen.append(dict(memo))
            memo["kept"] = True
            return [None] * len(ops)

    for dialect, second in (("postgresql", {}), ("sqlite", {"kept": True})):
        seen.clear()
        engine = SimpleNamespace(dialect=SimpleNamespace(name=dialect))
        writer = Writer(engine, interval=0, max_batch=10)  # type: ignore[arg-type]
        writer._run_batch(None, [Remember()])  # type: ignore[arg-type]
        writer._run_batch(None, [Remember()])  # type: ignore[arg-type]
        assert seen == [{}, second]


async def test_a_batch_deletes_what_its_acks_free_before_it_inserts_its_sends(db_path) -> None:
    """Within a segment the acks run first, whatever the order they came in: their
    DELETE precedes the sends' INSERT in the transaction, so the pages it frees are
    refilled by the INSERT (written to the WAL once per commit, not twice). Each op still
    gets its own answer, in its own place."""
    async with in_process(make_settings(db_path), db_path) as relay:
        program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
        convs = [await open_conversation(relay.client, program) for _ in range(40)]
        r, writer = relay.relay, relay.relay.writer
        node = Principal(program_id=program.keys.program_id)
        pending, _ = await r.pending(node)
        statements: list[str] = []
        writer._connection().connection.dbapi_connection.set_trace_callback(statements.append)

        def sends(n: int) -> list[messages.SendOp]:
            return [
                r.prepare_send(who, cid, {"envelopes": [b64(make_envelope(cid, 0, 1, n=n))]})
                for cid, _token in convs
                for who in [Principal(conversation_id=cid, slot=0)]
            ]

        ids = [e["id"] for e in pending]
        for n in (1, 2, 3):
            ops: list[object] = [*sends(n), r.prepare_ack(node, {"ids": ids}, "ids")]
            mark = len(statements)
            results = writer._commit(ops)
            done = statements[mark:]
            first = next(i for i, s in enumerate(done) if s.startswith(("DELETE", "INSERT")))
            assert done[first].startswith("DELETE FROM messages")
            assert any(s.startswith("INSERT INTO messages") for s in done[first:])
            assert results[-1] == len(ids)  # the ack's count, in the ack's place
            assert all(isinstance(x, messages.Sent) for x in results[:-1])
            ids = [b64(i) for x in results[:-1] for i in x.message_ids]
        assert _query(relay.db, "SELECT count(*) FROM messages") == [(len(convs),)]
