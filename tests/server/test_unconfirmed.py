"""A conversation whose participant never comes back with its token (a script's junk
init): not waiting in the queue, not handed to the program, and dropped minutes later by
the sweeper, even after a restart (the relay keeps a minute in its row, not in memory)."""

from __future__ import annotations

import time

from relay_helpers import (
    b64,
    enroll_program,
    in_process,
    make_settings,
    open_conversation,
    snapshot,
)


async def test_a_junk_conversation_outlives_no_restart(db_path) -> None:
    settings = make_settings(db_path)
    async with in_process(settings, db_path) as relay:
        program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
        junk, _ = await open_conversation(relay.client, program, confirm=False)
        real, _ = await open_conversation(relay.client, program)
    start = time.time()
    (row,) = [r for r in snapshot(db_path)["conversations"] if r[0] == junk]
    assert row[-1] % 60 == 0  # a minute, not a precise time

    # a new process: nothing of the first one's memory is left
    async with in_process(settings, db_path) as relay:
        h = program.auth_headers()
        q = (await relay.client.get(f"/v1/programs/{program.pid}/queue", headers=h)).json()
        assert q["waiting"] == [b64(real)]
        pending = await relay.client.get(f"/v1/programs/{program.pid}/messages", headers=h)
        assert [m["conversation_id"] for m in pending.json()["messages"]] == [b64(real)]

        relay.relay.clock = lambda: start + 60  # within the five minutes: kept
        assert await relay.relay.sweep() == 0
        relay.relay.clock = lambda: start + settings.unconfirmed_conversation_seconds + 61
        assert await relay.relay.sweep() == 1  # minutes, not the 12-hour TTL
        ids = [r[0] for r in snapshot(db_path)["conversations"]]
        assert ids == [real]
