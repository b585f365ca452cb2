"""The group-commit writer and its checkpointer thread, on real SQLite files."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from relay_helpers import enroll_program, open_conversation, sqlite_url
from sqlalchemy.engine import Engine

from server.checkpointer import BACKSTOP_PAGES, Checkpointer
from server.db import create_writer_engine


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


def _writer(path: Path) -> Engine:
    return create_writer_engine(sqlite_url(path), autocheckpoint=BACKSTOP_PAGES)


def test_the_writer_connection_leaves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    engine = create_writer_engine(sqlite_url(tmp_path / "r.db"), autocheckpoint=BACKSTOP_PAGES)
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


def test_a_nudge_checkpoints_the_wal_on_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    writer = _writer(path)
    checkpointer = Checkpointer(create_writer_engine(sqlite_url(path)), interval=0.001)
    try:
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
    finally:
        checkpointer.stop()
        writer.dispose()
    assert not any(t.name == "quietline-checkpointer" for t in threading.enumerate())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 600
    finally:
        conn.close()


def test_after_a_checkpoint_the_wal_starts_over_instead_of_growing(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    writer = _writer(path)
    checkpointer = Checkpointer(create_writer_engine(sqlite_url(path)), interval=0.001)
    checkpointer.start()
    try:
        _fill(writer, 200)
        size = (tmp_path / "r.db-wal").stat().st_size
        for _ in range(5):
            runs = checkpointer.runs
            checkpointer.nudge()
            _wait(lambda runs=runs: checkpointer.runs > runs)
            _fill(writer, 200)
        # Six times as many pages went through the WAL; it holds about one fill's worth.
        assert (tmp_path / "r.db-wal").stat().st_size < 2 * size
    finally:
        checkpointer.stop()
        writer.dispose()


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
