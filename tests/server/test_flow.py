"""A whole conversation through the HTTP API, in process."""

from __future__ import annotations

from relay_helpers import b64, enroll_program, make_envelope, open_conversation


async def test_full_conversation_over_http(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin)
    h = program.auth_headers()

    info = (await c.get(f"/v1/programs/{program.pid}")).json()
    assert info["identity_key"] == b64(program.keys.public_key)
    assert set(info) == {"program_id", "identity_key", "profile", "status"}

    r = await c.get(f"/v1/programs/{program.pid}/one-time-prekeys/count", headers=h)
    assert r.json() == {"count": 5}
    bundle = (await c.post(f"/v1/programs/{program.pid}/bundle")).json()
    assert bundle["one_time_prekey"] is not None
    r = await c.get(f"/v1/programs/{program.pid}/one-time-prekeys/count", headers=h)
    assert r.json() == {"count": 4}

    cid, token = await open_conversation(c, program, confirm=False)
    ph = {"authorization": f"Bearer {token}"}
    # not waiting until the participant comes back with its token (a script's junk
    # conversation never does)
    q = (await c.get(f"/v1/programs/{program.pid}/queue", headers=h)).json()
    assert q == {"waiting": [], "active": [], "waiting_count": 0, "active_count": 0}
    await c.get(f"/v1/conversations/{b64(cid)}/messages", headers=ph)
    q = (await c.get(f"/v1/programs/{program.pid}/queue", headers=h)).json()
    assert q == {"waiting": [b64(cid)], "active": [], "waiting_count": 1, "active_count": 0}

    pending = (await c.get(f"/v1/programs/{program.pid}/messages", headers=h)).json()["messages"]
    assert len(pending) == 1 and pending[0]["conversation_id"] == b64(cid)
    r = await c.post("/v1/acks", json={"message_ids": [pending[0]["id"]]}, headers=h)
    assert r.json() == {"acked": 1}

    reply = make_envelope(cid, 1, 0)
    r = await c.post(
        f"/v1/conversations/{b64(cid)}/messages", json={"envelopes": [b64(reply)]}, headers=h
    )
    assert r.status_code == 201, r.text
    q = (await c.get(f"/v1/programs/{program.pid}/queue", headers=h)).json()
    assert q["active"] == [b64(cid)] and q["waiting_count"] == 0

    got = (await c.get(f"/v1/conversations/{b64(cid)}/messages", headers=ph)).json()["messages"]
    assert [m["envelope"] for m in got] == [b64(reply)]
    assert (await c.post("/v1/acks", json={"message_ids": [got[0]["id"]]}, headers=ph)).json() == {
        "acked": 1
    }
    # acking twice deletes nothing more
    assert (await c.post("/v1/acks", json={"message_ids": [got[0]["id"]]}, headers=ph)).json() == {
        "acked": 0
    }

    r = await c.post(f"/v1/conversations/{b64(cid)}/close", headers=ph)
    assert r.status_code == 200
    r = await c.post(
        f"/v1/conversations/{b64(cid)}/messages", json={"envelopes": [b64(reply)]}, headers=h
    )
    assert r.status_code == 410 and r.json()["error"]["code"] == "closed_conversation"
    q = (await c.get(f"/v1/programs/{program.pid}/queue", headers=h)).json()
    assert q["active_count"] == 0


async def test_headers_and_openapi(relay) -> None:
    r = await relay.client.get("/v1/openapi.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "server" not in r.headers
    r = await relay.client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await relay.client.delete("/v1/acks")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
