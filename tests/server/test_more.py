"""Invited parties, expiry as the clock moves, and no 5xx on arbitrary input."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_helpers import b64, enroll_program, error_code, make_envelope, open_conversation

from server.errors import ApiError


async def test_invited_party_gets_a_slot_token_and_its_own_messages(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    h = program.auth_headers()
    cid, token = await open_conversation(c, program)
    ph = {"authorization": f"Bearer {token}"}
    r = await c.post(f"/v1/conversations/{b64(cid)}/members", json={"slot": 2}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["slot"] == 2
    ih = {"authorization": f"Bearer {r.json()['token']}"}
    r = await c.post(f"/v1/conversations/{b64(cid)}/members", json={"slot": 2}, headers=h)
    assert error_code(r) == "conflict"
    # the participant opens a session to the newcomer and writes to both
    to_program, to_party = make_envelope(cid, 0, 1, n=1), make_envelope(cid, 0, 2, init=True)
    r = await c.post(
        f"/v1/conversations/{b64(cid)}/messages",
        json={"envelopes": [b64(to_program), b64(to_party)]},
        headers=ph,
    )
    assert r.status_code == 201 and len(r.json()["message_ids"]) == 2
    got = (await c.get(f"/v1/conversations/{b64(cid)}/messages", headers=ih)).json()["messages"]
    assert [m["envelope"] for m in got] == [b64(to_party)]
    # the party answers from its own slot, and cannot pose as the participant
    r = await c.post(
        f"/v1/conversations/{b64(cid)}/messages",
        json={"envelopes": [b64(make_envelope(cid, 2, 0))]},
        headers=ih,
    )
    assert r.status_code == 201
    r = await c.post(
        f"/v1/conversations/{b64(cid)}/messages",
        json={"envelopes": [b64(make_envelope(cid, 0, 1))]},
        headers=ih,
    )
    assert error_code(r) == "wrong_slot"
    # closing tells and forgets every member
    assert (await c.post(f"/v1/conversations/{b64(cid)}/close", headers=h)).status_code == 200
    r = await c.get(f"/v1/conversations/{b64(cid)}/messages", headers=ih)
    assert error_code(r) == "bad_token"


async def test_expired_things_are_not_handed_out(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    h = program.auth_headers()
    r = await c.post(
        f"/v1/programs/{program.pid}/one-time-prekeys",
        json={"prekeys": [program.prekey(1, one_time=True, expires_in=30)]},
        headers=h,
    )
    assert r.status_code == 200
    r = await c.put(
        f"/v1/programs/{program.pid}/status", json=program.status(expires_in=30), headers=h
    )
    assert r.status_code == 200
    assert (await c.get(f"/v1/programs/{program.pid}")).json()["status"] is not None
    start = time.time()
    relay.relay.clock = lambda: start + 60
    bundle = (await c.post(f"/v1/programs/{program.pid}/bundle")).json()
    assert bundle["one_time_prekey"] is None  # expired: skipped and deleted
    assert bundle["status"] is None  # an expired status means unknown
    relay.relay.clock = lambda: start + 2 * 3600
    r = await c.get(f"/v1/programs/{program.pid}/queue", headers=h)
    assert error_code(r) == "bad_token"  # the session expired


ENDPOINTS = [
    ("POST", "/v1/programs"),
    ("POST", "/v1/programs/AAAAAAAAAAAAAAAAAAAAAA/session"),
    ("PUT", "/v1/programs/AAAAAAAAAAAAAAAAAAAAAA/profile"),
    ("POST", "/v1/programs/AAAAAAAAAAAAAAAAAAAAAA/one-time-prekeys"),
    ("POST", "/v1/conversations"),
    ("POST", "/v1/conversations/AAAAAAAAAAAAAAAAAAAAAA/messages"),
    ("POST", "/v1/acks"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "enrollment_token": json_values,
            "identity_key": json_values | st.binary(max_size=40).map(b64),
            "signature": json_values | st.binary(max_size=70).map(b64),
            "program_id": json_values | st.binary(max_size=20).map(b64),
            "envelope": json_values | st.binary(max_size=300).map(b64),
            "envelopes": st.lists(json_values | st.binary(max_size=300).map(b64), max_size=9),
            "message_ids": st.lists(json_values | st.binary(max_size=20).map(b64), max_size=5),
            "prekeys": st.lists(json_values, max_size=3),
            "challenge": json_values,
            "body": json_values,
            "origins": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


async def test_arbitrary_input_never_gets_a_5xx(relay) -> None:
    program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
    auth = [{}, program.auth_headers(), {"authorization": "Bearer x"}]
    results: list[tuple[object, ...]] = []

    @settings(
        max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(st.sampled_from(ENDPOINTS), bodies, st.sampled_from(auth))
    def case(endpoint, body, headers) -> None:
        results.append((endpoint, body, headers))  # type: ignore[arg-type]

    case()
    for (method, path), body, headers in results:  # type: ignore[misc]
        r = await relay.client.request(method, path, content=body, headers=headers)
        assert r.status_code < 500, (method, path, body, r.text)
        if r.status_code >= 400:
            assert error_code(r)


async def test_a_member_token_is_hashed_for_its_conversation_once_not_per_send(
    relay, monkeypatch
) -> None:
    """The closed-set and send-limit key of a member's own conversation is made when its
    token is first resolved and kept with its principal; a send to another conversation
    still gets that conversation's own key (and is refused)."""
    program = await enroll_program(relay.client, relay.db, relay.origin)
    cid, token = await open_conversation(relay.client, program)
    r = relay.relay
    who = await r.principal(token)
    assert who.conversation_key == r.closed.key(cid) and await r.principal(token) is who
    assert who.conversation_key.hex() not in repr(who)
    hashed: list[bytes] = []
    key = r.closed.key
    monkeypatch.setattr(r.closed, "key", lambda c: hashed.append(c) or key(c))
    r.prepare_send(who, cid, {"envelopes": [b64(make_envelope(cid, 0, 1, n=1))]})
    assert hashed == []
    other = os.urandom(16)
    with pytest.raises(ApiError) as refused:
        r.prepare_send(who, other, {"envelopes": [b64(make_envelope(other, 0, 1, n=1))]})
    assert refused.value.code == "bad_token" and hashed == [other]


async def test_a_member_principal_made_before_a_close_is_refused_after_it(relay) -> None:
    """A socket authenticated before the close keeps its principal: its sends are checked
    against the closed conversations (by keyed hash) like any other."""
    program = await enroll_program(relay.client, relay.db, relay.origin)
    cid, token = await open_conversation(relay.client, program)
    r = relay.relay
    who = await r.principal(token)
    body = {"envelopes": [b64(make_envelope(cid, 0, 1, n=1))]}
    r.prepare_send(who, cid, body)
    other = os.urandom(16)
    with pytest.raises(ApiError) as refused:  # another conversation: not this member's
        r.prepare_send(who, other, {"envelopes": [b64(make_envelope(other, 0, 1, n=1))]})
    assert refused.value.code == "bad_token"
    await r.close(who, cid)
    with pytest.raises(ApiError) as refused:
        r.prepare_send(who, cid, body)
    assert refused.value.code == "closed_conversation"
