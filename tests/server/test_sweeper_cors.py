"""TTLs enforced by the sweeper; CORS only for registered origins."""

from __future__ import annotations

import time

from relay_helpers import b64, enroll_program, make_envelope, open_conversation, snapshot


async def test_sweeper_deletes_abandoned_rows(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=1)
    h = program.auth_headers()
    await open_conversation(c, program)  # never answered: deleted after the waiting TTL
    active, _token = await open_conversation(c, program)
    r = await c.post(
        f"/v1/conversations/{b64(active)}/messages",
        json={"envelopes": [b64(make_envelope(active, 1, 0))]},
        headers=h,
    )
    assert r.status_code == 201
    s = relay.relay.settings
    start = time.time()

    relay.relay.clock = lambda: start + (s.waiting_conversation_ttl_hours + 1) * 3600
    assert await relay.relay.sweep() == 1  # the stale waiting one
    assert [row[0] for row in snapshot(relay.db)["conversations"]] == [active]

    relay.relay.clock = lambda: start + (s.idle_conversation_ttl_hours + 1) * 3600
    # the session expired too by then; the sweep still runs
    assert await relay.relay.sweep() == 1
    rows = snapshot(relay.db)
    assert rows["conversations"] == [] and rows["messages"] == [] and rows["members"] == []
    assert rows["program_sessions"] == []


async def test_sweeper_deletes_undelivered_messages_and_expired_prekeys(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    h = program.auth_headers()
    r = await c.post(
        f"/v1/programs/{program.pid}/one-time-prekeys",
        json={"prekeys": [program.prekey(1, one_time=True, expires_in=60)]},
        headers=h,
    )
    assert r.status_code == 200
    cid, _ = await open_conversation(c, program)
    s = relay.relay.settings
    start = time.time()
    relay.relay.clock = lambda: start + 2 * 3600
    await relay.relay.sweep()
    assert snapshot(relay.db)["one_time_prekeys"] == []
    assert len(snapshot(relay.db)["messages"]) == 1
    # keep the conversation alive but let the message outlive its TTL
    relay.relay.settings = s.replace(
        idle_conversation_ttl_hours=10**6, waiting_conversation_ttl_hours=10**6
    )
    relay.relay.clock = lambda: start + (s.message_ttl_hours + 1) * 3600
    await relay.relay.sweep()
    rows = snapshot(relay.db)
    assert rows["messages"] == [] and [row[0] for row in rows["conversations"]] == [cid]


async def test_cors_only_for_registered_origins(relay) -> None:
    c = relay.client
    program = await enroll_program(
        c, relay.db, relay.origin, prekeys=1, origins=["https://help.example"]
    )
    other = await enroll_program(c, relay.db, relay.origin, prekeys=1)
    url = f"/v1/programs/{program.pid}/bundle"
    pre = {"origin": "https://help.example", "access-control-request-method": "POST"}
    r = await c.options(url, headers=pre)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://help.example"
    r = await c.options(url, headers={**pre, "origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_origin"
    r = await c.options(f"/v1/programs/{other.pid}/bundle", headers=pre)
    assert r.status_code == 403  # registered by another program only
    r = await c.get(f"/v1/programs/{program.pid}", headers={"origin": "https://help.example"})
    assert r.headers["access-control-allow-origin"] == "https://help.example"
    r = await c.get(f"/v1/programs/{program.pid}", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    # the program changes its list
    r = await c.put(
        f"/v1/programs/{program.pid}/origins",
        json={"origins": ["https://new.example"]},
        headers=program.auth_headers(),
    )
    assert r.status_code == 200
    r = await c.options(url, headers=pre)
    assert r.status_code == 403
