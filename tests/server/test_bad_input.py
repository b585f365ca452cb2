"""Each bad input gets a 4xx with a stable code, and nothing is written."""

from __future__ import annotations

import os

import pytest
from relay_helpers import (
    ROOT,
    ProgramActor,
    b64,
    enroll_program,
    error_code,
    in_process,
    make_envelope,
    make_settings,
    new_enrollment_token,
    open_conversation,
    snapshot,
)

from e2ee import identity
from e2ee.encoding import b64u_decode
from server.errors import CODES, STATUS
from server.limits import Challenges


async def test_enrollment_refusals_write_nothing(relay) -> None:
    c = relay.client
    program = ProgramActor()
    token = await new_enrollment_token(relay.db)
    good = program.enrollment(token)
    before = snapshot(relay.db)
    cases = [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "malformed_json"),
        (b"[" * 50_000, "malformed_json"),  # nested past the parser's recursion limit
        ({**good, "enrollment_token": 5}, "malformed_field"),
        ({k: v for k, v in good.items() if k != "identity_key"}, "malformed_field"),
        ({**good, "identity_key": good["identity_key"] + "="}, "bad_base64"),
        ({**good, "identity_key": "a*b"}, "bad_base64"),
        ({**good, "identity_key": b64(os.urandom(31))}, "bad_key_length"),
        ({**good, "signature": b64(os.urandom(63))}, "bad_key_length"),
        ({**good, "signature": b64(os.urandom(64))}, "bad_signature"),
        ({**program.enrollment("not-a-token")}, "bad_token"),
        ({**good, "origins": ["https://ok.example/path"]}, "malformed_field"),
        ({**good, "origins": "https://ok.example"}, "malformed_field"),
    ]
    for body, code in cases:
        if isinstance(body, bytes):
            r = await c.post(
                "/v1/programs", content=body, headers={"content-type": "application/json"}
            )
        else:
            r = await c.post("/v1/programs", json=body)
        assert error_code(r) == code, (body, r.text)
    # another key's signature over the right token
    other = ProgramActor().enrollment(token)
    r = await c.post("/v1/programs", json={**good, "signature": other["signature"]})
    assert error_code(r) == "bad_signature"
    assert snapshot(relay.db) == before
    # the token still works once, and only once
    assert (await c.post("/v1/programs", json=good)).status_code == 201
    assert error_code(await c.post("/v1/programs", json=good)) == "enrollment_used"
    token2 = await new_enrollment_token(relay.db)
    assert error_code(await c.post("/v1/programs", json=program.enrollment(token2))) == "conflict"


async def test_challenge_and_session_refusals(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    assert (
        error_code(await c.post(f"/v1/programs/{b64(os.urandom(16))}/challenge"))
        == "unknown_program"
    )
    assert error_code(await c.post("/v1/programs/a*b/challenge")) == "bad_base64"
    assert (
        error_code(await c.post(f"/v1/programs/{b64(os.urandom(8))}/challenge"))
        == "malformed_field"
    )

    async def fresh() -> bytes:
        r = await c.post(f"/v1/programs/{program.pid}/challenge")
        assert r.json()["expires_in"] > 0
        return b64u_decode(r.json()["challenge"])

    def signed(ch: bytes, origin: str = relay.origin) -> dict[str, str]:
        sig = program.keys.sign(identity.LABEL_RELAY_AUTH, ch + origin.encode())
        return {"challenge": b64(ch), "signature": b64(sig)}

    url = f"/v1/programs/{program.pid}/session"
    before = snapshot(relay.db)
    assert error_code(await c.post(url, json=signed(os.urandom(32)))) == "bad_challenge"
    assert (
        error_code(await c.post(url, json=signed(await fresh(), "http://other.test")))
        == "bad_signature"
    )
    ch = await fresh()
    wrong_label = program.keys.sign(identity.LABEL_ENROLL, ch + relay.origin.encode())
    assert (
        error_code(await c.post(url, json={"challenge": b64(ch), "signature": b64(wrong_label)}))
        == "bad_signature"
    )
    assert (
        error_code(
            await c.post(
                url, json={"challenge": b64(os.urandom(31)), "signature": b64(os.urandom(64))}
            )
        )
        == "bad_key_length"
    )
    assert snapshot(relay.db) == before
    ch = await fresh()
    assert (await c.post(url, json=signed(ch))).status_code == 200
    assert error_code(await c.post(url, json=signed(ch))) == "bad_challenge"  # replayed
    # another program's challenge
    other = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    r = await c.post(f"/v1/programs/{other.pid}/challenge")
    assert (
        error_code(await c.post(url, json=signed(b64u_decode(r.json()["challenge"]))))
        == "bad_challenge"
    )


def test_expired_challenge_is_refused() -> None:
    now = [1000.0]
    challenges = Challenges(ttl=60, clock=lambda: now[0])
    pid = os.urandom(16)
    ch = challenges.issue(pid)
    now[0] += 61
    with pytest.raises(Exception, match="expired"):
        challenges.redeem(pid, ch)


async def test_program_route_authorization(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    other = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    _cid, token = await open_conversation(c, program)
    url = f"/v1/programs/{program.pid}/queue"
    assert error_code(await c.get(url)) == "bad_token"
    assert error_code(await c.get(url, headers={"authorization": "Bearer nope"})) == "bad_token"
    assert error_code(await c.get(url, headers={"authorization": f"Bearer {token}"})) == "bad_token"
    assert error_code(await c.get(url, headers=other.auth_headers())) == "bad_token"
    assert (
        error_code(await c.get(url, headers={"authorization": f"Basic {program.session}"}))
        == "bad_token"
    )


async def test_publish_refusals_write_nothing(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=2)
    h = program.auth_headers()
    base = f"/v1/programs/{program.pid}"
    before = snapshot(relay.db)
    one_time_as_signed = program.prekey(9, one_time=True)

    def far_prekey(expires_at: int, *, one_time: bool) -> dict[str, str]:
        """Signed, but expiring past the protocol's 2**53 - 1 (so built by hand: e2ee
        refuses to make one)."""
        raw = (11).to_bytes(4, "big") + os.urandom(32) + expires_at.to_bytes(8, "big")
        label = identity.LABEL_ONE_TIME_PREKEY if one_time else identity.LABEL_SIGNED_PREKEY
        return identity.SignedObject(raw, program.keys.sign(label, raw)).to_json()

    cases = [
        ("put", "/signed-prekey", one_time_as_signed, "bad_signature"),
        ("put", "/signed-prekey", program.prekey(9, one_time=False, expires_in=-5), "expired"),
        (
            "put",
            "/signed-prekey",
            program.signed(identity.LABEL_SIGNED_PREKEY, os.urandom(45)),
            "oversized",
        ),
        (
            "put",
            "/signed-prekey",
            program.signed(identity.LABEL_SIGNED_PREKEY, os.urandom(40)),
            "malformed_field",
        ),
        ("put", "/signed-prekey", {"body": "AAAA"}, "malformed_field"),
        ("put", "/signed-prekey", far_prekey(2**53, one_time=False), "malformed_field"),
        ("put", "/signed-prekey", ["x"], "malformed_json"),
        ("put", "/profile", program.signed(identity.LABEL_STATUS, b'{"v":1}'), "bad_signature"),
        (
            "put",
            "/profile",
            program.signed(identity.LABEL_PROFILE, b"not json at all"),
            "malformed_field",
        ),
        ("put", "/profile", program.signed(identity.LABEL_PROFILE, b"x" * 40000), "oversized"),
        ("put", "/status", program.status(expires_in=-10), "expired"),
        ("put", "/status", program.signed(identity.LABEL_STATUS, b'{"v":1}'), "malformed_field"),
        ("put", "/origins", {"origins": ["ftp://x.example"]}, "malformed_field"),
        (
            "put",
            "/origins",
            {"origins": [f"https://a{i}.example" for i in range(9)]},
            "malformed_field",
        ),
        ("post", "/one-time-prekeys", {"prekeys": []}, "malformed_field"),
        (
            "post",
            "/one-time-prekeys",
            {"prekeys": [program.prekey(7, one_time=True), program.prekey(7, one_time=True)]},
            "prekey_id_reused",
        ),
        (
            "post",
            "/one-time-prekeys",
            {"prekeys": [program.prekey(100, one_time=True)]},
            "prekey_id_reused",
        ),
        (
            "post",
            "/one-time-prekeys",
            {"prekeys": [program.prekey(8, one_time=True), program.prekey(9, one_time=False)]},
            "bad_signature",
        ),
        (
            "post",
            "/one-time-prekeys",
            {"prekeys": [program.prekey(8, one_time=True, expires_in=-1)]},
            "expired",
        ),
        (
            "post",
            "/one-time-prekeys",
            {"prekeys": [far_prekey(2**64 - 1, one_time=True)]},
            "malformed_field",
        ),
        (
            "post",
            "/one-time-prekeys",
            {"prekeys": [program.prekey(i, one_time=True) for i in range(201)]},
            "oversized",
        ),
    ]
    for method, path, body, code in cases:
        r = await c.request(method.upper(), base + path, json=body, headers=h)
        assert error_code(r) == code, (path, code, r.text)
    assert snapshot(relay.db) == before
    r = await c.get(base + "/one-time-prekeys/count", headers=h)
    assert r.json() == {"count": 2}


async def test_conversation_refusals_write_nothing(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    cid, token = await open_conversation(c, program)
    other_cid, other_token = await open_conversation(c, program)
    ph = {"authorization": f"Bearer {token}"}
    h = program.auth_headers()
    cid_b = b64(cid)
    before = snapshot(relay.db)

    def create(env: object, pid: str = program.pid) -> tuple[str, dict]:
        return "/v1/conversations", {"program_id": pid, "envelope": env}

    new = os.urandom(16)
    cases = [
        (
            *create(b64(make_envelope(new, 0, 1, init=True)), b64(os.urandom(16))),
            {},
            "unknown_program",
        ),
        (*create(b64(make_envelope(new, 0, 1, init=True)), "xx*"), {}, "bad_base64"),
        (*create("%%%"), {}, "bad_base64"),
        (*create(b64(b"\x01\x01" + os.urandom(100))), {}, "malformed_envelope"),
        (*create(b64(make_envelope(new, 0, 1, init=True))[:-3]), {}, "bad_base64"),
        (*create(b64(os.urandom(70000))), {}, "oversized"),
        (*create(b64(make_envelope(new, 0, 1))), {}, "wrong_slot"),
        (*create(b64(make_envelope(new, 1, 0, init=True))), {}, "wrong_slot"),
        (*create(b64(make_envelope(cid, 0, 1, init=True))), {}, "conflict"),
        (*create(None), {}, "malformed_field"),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 0, 1))] * 8},
            ph,
            "too_many_recipients",
        ),
        (f"/v1/conversations/{cid_b}/messages", {"envelopes": []}, ph, "malformed_field"),
        (f"/v1/conversations/{cid_b}/messages", {"envelopes": "x"}, ph, "malformed_field"),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(other_cid, 0, 1))]},
            ph,
            "malformed_envelope",
        ),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 1, 0))]},
            ph,
            "wrong_slot",
        ),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 0, 3))]},
            ph,
            "wrong_slot",
        ),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 0, 1))] * 2},
            ph,
            "wrong_slot",
        ),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 0, 1))]},
            {"authorization": f"Bearer {other_token}"},
            "bad_token",
        ),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 0, 1))]},
            {},
            "bad_token",
        ),
        (
            f"/v1/conversations/{cid_b}/messages",
            {"envelopes": [b64(make_envelope(cid, 0, 1, blocks=260))]},
            ph,
            "oversized",
        ),
        (
            f"/v1/conversations/{b64(new)}/messages",
            {"envelopes": [b64(make_envelope(new, 1, 0))]},
            h,
            "unknown_conversation",
        ),
        (f"/v1/conversations/{b64(new)}/close", None, h, "unknown_conversation"),
        (
            f"/v1/conversations/{cid_b}/close",
            None,
            {"authorization": f"Bearer {other_token}"},
            "bad_token",
        ),
        (f"/v1/conversations/{cid_b}/members", {"slot": 1}, h, "wrong_slot"),
        (f"/v1/conversations/{cid_b}/members", {"slot": 2}, ph, "bad_token"),
        ("/v1/acks", {"message_ids": ["*"]}, ph, "bad_base64"),
        ("/v1/acks", {"message_ids": [b64(os.urandom(5))]}, ph, "malformed_field"),
        ("/v1/acks", {"message_ids": 3}, ph, "malformed_field"),
        ("/v1/acks", {"message_ids": [b64(os.urandom(16))] * 1001}, ph, "oversized"),
    ]
    for path, body, headers, code in cases:
        r = await c.post(path, json=body, headers=headers)
        assert error_code(r) == code, (path, code, r.text)
    r = await c.post("/v1/acks", content=b"x" * (1024 * 1024 + 1), headers=ph)
    assert error_code(r) == "oversized"
    assert snapshot(relay.db) == before
    # another side's message is not acked by a participant
    pending = (await c.get(f"/v1/programs/{program.pid}/messages", headers=h)).json()["messages"]
    r = await c.post("/v1/acks", json={"message_ids": [pending[0]["id"]]}, headers=ph)
    assert r.json() == {"acked": 0}


async def test_past_the_free_allowance_a_conversation_needs_a_proof_of_work(db_path) -> None:
    from server import pow

    settings = make_settings(db_path, limit_conversations_per_program=2, pow_pressure_fraction=1.0)
    async with in_process(settings, db_path) as relay:
        program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
        await open_conversation(relay.client, program)
        await open_conversation(relay.client, program)
        body = {
            "program_id": program.pid,
            "envelope": b64(make_envelope(os.urandom(16), 0, 1, init=True)),
        }
        r = await relay.client.post("/v1/conversations", json=body)
        assert r.status_code == 428 and error_code(r) == "proof_required"
        r = await relay.client.post(f"/v1/programs/{program.pid}/puzzle")
        puzzle = r.json()
        assert puzzle["difficulty"] == settings.pow_difficulty_max
        raw = b64u_decode(puzzle["puzzle"])
        proof = puzzle["puzzle"] + "." + b64(pow.solve(raw, puzzle["difficulty"]))
        headers = {"quietline-proof": proof}
        r = await relay.client.post("/v1/conversations", json=body, headers=headers)
        assert r.status_code == 201, r.text
        body["envelope"] = b64(make_envelope(os.urandom(16), 0, 1, init=True))
        r = await relay.client.post("/v1/conversations", json=body, headers=headers)
        assert error_code(r) == "bad_proof"  # each proof is used once
        bad = puzzle["puzzle"] + "." + b64(bytes(8))
        r = await relay.client.post(
            "/v1/conversations", json=body, headers={"quietline-proof": bad}
        )
        assert error_code(r) == "bad_proof"


def test_every_code_is_documented_and_only_the_relays_own_trouble_is_5xx() -> None:
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for code in CODES:
        assert f"`{code}`" in doc, code
    assert {code for code in CODES if STATUS[code] >= 500} == {"unavailable", "internal"}


async def test_init_envelope_in_an_ordinary_send_is_refused(relay) -> None:
    c = relay.client
    program = await enroll_program(c, relay.db, relay.origin, prekeys=0)
    cid, token = await open_conversation(c, program)
    before = snapshot(relay.db)
    url = f"/v1/conversations/{b64(cid)}/messages"
    ph = {"authorization": f"Bearer {token}"}
    for env, headers in [
        (make_envelope(cid, 0, 1, init=True), ph),  # a second init to the program
        (make_envelope(cid, 1, 0, init=True), program.auth_headers()),  # from the program
    ]:
        r = await c.post(url, json={"envelopes": [b64(env)]}, headers=headers)
        assert error_code(r) == "wrong_kind", r.text
    assert snapshot(relay.db) == before


# -- against a real relay process: what used to be a 5xx -------------------------------


def _raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One HTTP/1.1 POST over a plain socket (httpx would refuse to encode the body)."""
    import socket

    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode() + b"content-type: application/json\r\n\r\n" + body)
        data = b""
        while True:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                lines = data[:head_end].lower().split(b"\r\n")
                length = next(
                    int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length")
                )
                if len(data) >= head_end + 4 + length:
                    break
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data[head_end + 4 :]


@pytest.mark.slow
# SQLite only: it talks raw HTTP to the relay's own port and reads that process's log.
@pytest.mark.sqlite_only("reads the one relay's log")
async def test_lone_surrogates_and_a_client_leaving_mid_body_are_4xx(relay_process) -> None:
    import json
    import socket

    import httpx

    port = relay_process.port
    token = relay_process.add_program()
    program = ProgramActor()
    good = program.enrollment(token)
    # a lone surrogate in the enrollment token: JSON carries it as an escape
    body = json.dumps({**good, "enrollment_token": "\ud800abc"}).encode()
    status, answer = _raw_post(port, "/v1/programs", body, {})
    assert status == 400 and json.loads(answer)["error"]["code"] == "malformed_field"
    # a lone surrogate in an origin
    body = json.dumps({**good, "origins": ["https://a\ud800.example"]}).encode()
    status, answer = _raw_post(port, "/v1/programs", body, {})
    assert status == 400 and json.loads(answer)["error"]["code"] == "malformed_field"
    body = json.dumps({**good, "origins": ["https://é.example"]}).encode()
    status, answer = _raw_post(port, "/v1/programs", body, {})
    assert status == 400 and json.loads(answer)["error"]["code"] == "malformed_field"
    # a WebSocket auth frame holding one
    import websockets

    async with websockets.connect(relay_process.url.replace("http", "ws") + "/v1/ws") as ws:
        await ws.send('{"type":"auth","token":"\\ud800"}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # a client that sends half its body, then goes away
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"POST /v1/programs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 1000\r\n\r\n{"enrollment_token": '
            )
    # the enrollment token was not used up by any of this, and the relay still serves
    async with httpx.AsyncClient(base_url=relay_process.url, timeout=10) as c:
        r = await c.post("/v1/programs", json=good)
        assert r.status_code == 201, r.text
    relay_process.stop()
    log = relay_process.log_path.read_text(errors="replace")
    assert "ERROR" not in log and "Traceback" not in log, log
