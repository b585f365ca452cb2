"""tests/vectors/protocol-v1.json: reproduced exactly, consistent, and decryptable.

Three independent checks: (1) the generator rewrites the committed file byte for byte;
(2) every value in the file is recomputed here from the primitives alone, following
docs/protocol.md rather than the e2ee modules; (3) the session API, fed the file's
envelopes and random bytes in the file's delivery order, decrypts every envelope to the
file's payload and ends in the file's ratchet states.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loading import load
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

from e2ee import hpke
from e2ee.encoding import b64u_encode
from e2ee.errors import ReplayedMessage
from e2ee.identity import verify_bundle
from e2ee.payload import decode_payload, encode_payload
from e2ee.primitives import (
    aes256gcm_decrypt,
    ed25519_public_from_seed,
    ed25519_verify,
    hkdf,
    hmac_sha256,
    x25519,
    x25519_public,
)
from e2ee.session import Session, accept_conversation, start_conversation

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS_FILE = VECTORS_DIR / "protocol-v1.json"


@pytest.fixture(scope="module")
def vectors() -> Any:
    with open(VECTORS_FILE, encoding="utf-8") as f:
        return json.load(f)


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def test_generator_reproduces_the_committed_file() -> None:
    generate = load("quietline_vectors_generate", "vectors/generate.py")
    assert generate.render(generate.build()) == VECTORS_FILE.read_text(encoding="utf-8")


def test_size_of_the_conversation(vectors: Any) -> None:
    messages, deliveries = vectors["messages"], vectors["deliveries"]
    assert len(messages) >= 24
    assert {m["from"] for m in messages} == {"participant", "program"}
    assert sum(1 for d in deliveries if d.get("dh_ratchet_step")) >= 6
    assert any(d.get("late") for d in deliveries)
    assert any(d["expected"] == "replayed" for d in deliveries)
    order = [d["message"] for d in deliveries if d["expected"] == "ok"]
    assert sorted(order) == list(range(len(messages))) and order != sorted(order)


def _signed_message(label: str, program_id: bytes, body: bytes) -> bytes:
    raw = label.encode()
    return (
        b"quietline-sig"
        + bytes([1, len(raw)])
        + raw
        + program_id
        + len(body).to_bytes(4, "big")
        + body
    )


def test_identity_and_signatures(vectors: Any) -> None:
    ident = vectors["identity"]
    key = h(ident["identity_key"])
    assert ed25519_public_from_seed(h(ident["seed"])) == key
    program_id = hashlib.sha256(b"quietline/v1/program-id" + key).digest()[:16]
    assert h(ident["program_id"]) == program_id and ident["program_id_b64u"] == b64u_encode(
        program_id
    )
    digits = hashlib.sha256(b"quietline/v1/fingerprint" + key).digest()[:20].hex().upper()
    assert ident["fingerprint_text"] == " ".join(digits[i : i + 4] for i in range(0, 40, 4))
    for name in ("signed_prekey", "one_time_prekey", "profile", "status"):
        item = vectors[name]
        body = h(item["body"])
        assert h(item["signed_message"]) == _signed_message(item["label"], program_id, body)
        ed25519_verify(key, h(item["signed_message"]), h(item["signature"]))
        assert item["json"] == {
            "body": b64u_encode(body),
            "signature": b64u_encode(h(item["signature"])),
        }
        assert vectors["bundle"][name] == item["json"]
    for name in ("signed_prekey", "one_time_prekey"):
        item = vectors[name]
        assert x25519_public(h(item["secret"])) == h(item["public_key"])
        assert h(item["body"]) == (
            item["prekey_id"].to_bytes(4, "big")
            + h(item["public_key"])
            + item["expires_at"].to_bytes(8, "big")
        )
    for name in ("profile", "status"):
        text = vectors[name]["body_text"]
        assert text.encode() == h(vectors[name]["body"])
        assert text == json.dumps(
            json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )


def test_handshake(vectors: Any) -> None:
    hs = vectors["handshake"]
    otk = vectors["one_time_prekey"]
    random = h(hs["random"])
    assert h(hs["conversation_id"]) == random[:16]
    assert h(hs["hpke"]["ikm_e"]) == random[16:48]
    assert h(hs["participant_init"]["dhs_secret"]) == random[48:]
    info = (
        b"quietline/v1/handshake"
        + h(vectors["identity"]["program_id"])
        + random[:16]
        + bytes([2])
        + otk["prekey_id"].to_bytes(4, "big")
    )
    assert h(hs["info"]) == info
    sk_e, pk_e = hpke.derive_key_pair(random[16:48])
    assert (h(hs["hpke"]["sk_e"]), h(hs["hpke"]["enc"])) == (sk_e, pk_e)
    assert h(hs["hpke"]["dh"]) == x25519(sk_e, h(otk["public_key"]))
    assert h(hs["hpke"]["kem_context"]) == pk_e + h(otk["public_key"])
    recipient = hpke.setup_base_recipient(pk_e, h(otk["secret"]), info)
    sk = recipient.export(b"quietline/v1/ratchet-root", 32)
    assert h(hs["hpke"]["exported_sk"]) == sk == h(hs["program_init"]["root_key"])
    # and the independent pyhpke package agrees on the exporter secret
    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
    theirs = suite.create_recipient_context(
        pk_e, suite.kem.deserialize_private_key(h(otk["secret"])), info
    )
    assert theirs.export(b"quietline/v1/ratchet-root", 32) == sk
    alice = hs["participant_init"]
    dh_out = x25519(h(alice["dhs_secret"]), h(otk["public_key"]))
    assert h(alice["dh_out"]) == dh_out
    okm = hkdf(sk, dh_out, b"quietline/v1/kdf-rk", 64)
    assert (h(alice["root_key"]), h(alice["send_chain_key"])) == (okm[:32], okm[32:])


def test_every_message_from_first_principles(vectors: Any) -> None:
    cid = h(vectors["handshake"]["conversation_id"])
    for message in vectors["messages"]:
        ck = h(message["chain_key_before"])
        mk = hmac_sha256(ck, b"\x01")
        assert h(message["message_key"]) == mk
        assert h(message["chain_key_after"]) == hmac_sha256(ck, b"\x02")
        header = message["header_fields"]
        assert h(message["header"]) == h(header["dh"]) + header["pn"].to_bytes(4, "big") + header[
            "n"
        ].to_bytes(4, "big")
        sender, recipient = (0, 1) if message["from"] == "participant" else (1, 0)
        init = b""
        if message["kind"] == "init":
            hs = vectors["handshake"]
            init = bytes([2]) + hs["prekey_id"].to_bytes(4, "big") + h(hs["hpke"]["enc"])
        kind = 1 if init else 2
        aad = bytes([2, kind]) + cid + bytes([sender, recipient]) + init + h(message["header"])
        assert h(message["aad"]) == aad
        padded = h(message["padded"])
        text = message["payload_text"].encode()
        assert (
            padded == text + b"\x80" + bytes(len(padded) - len(text) - 1) and len(padded) % 256 == 0
        )
        nonce = h(message["nonce"])
        ciphertext = h(message["ciphertext"])
        assert len(nonce) == 12 and h(message["random"]) == nonce == ciphertext[:12]
        assert aes256gcm_decrypt(mk, nonce, ciphertext[12:], aad) == padded
        assert h(message["envelope"]) == aad + ciphertext
    nonces = [message["nonce"] for message in vectors["messages"]]
    assert len(set(nonces)) == len(nonces)
    assert vectors["envelope_version"] == 2


def _replaying(data: bytes) -> Callable[[int], bytes]:
    remaining = bytearray(data)

    def random(n: int) -> bytes:
        assert len(remaining) >= n, "the session consumed more randomness than the vectors say"
        out = bytes(remaining[:n])
        del remaining[:n]
        return out

    random.remaining = remaining  # type: ignore[attr-defined]
    return random


def _state(session: Session) -> dict[str, Any]:
    s = session.ratchet
    return {
        "dhs_secret": s.dhs_secret.hex(),
        "dhs_public": s.dhs_public.hex(),
        "dhr": None if s.dhr is None else s.dhr.hex(),
        "root_key": s.root_key.hex(),
        "send_chain_key": None if s.send_chain_key is None else s.send_chain_key.hex(),
        "recv_chain_key": None if s.recv_chain_key is None else s.recv_chain_key.hex(),
        "ns": s.ns,
        "nr": s.nr,
        "pn": s.pn,
        "skipped": [
            {"dh": k.dh.hex(), "n": k.n, "message_key": k.message_key.hex()} for k in s.skipped
        ],
    }


def test_the_session_api_decrypts_every_envelope(vectors: Any) -> None:
    """Replay sends and receipts in the file's order; envelopes and states must match."""
    program_id = h(vectors["identity"]["program_id"])
    otk = vectors["one_time_prekey"]
    messages = vectors["messages"]
    bundle = verify_bundle(
        vectors["bundle"], h(vectors["identity"]["identity_key"]), now=vectors["now"]
    )
    sessions: dict[str, Session] = {}
    session: Session
    sent = 0

    def send_until(count: int) -> None:
        nonlocal sent
        session: Session
        while sent < count:
            message = messages[sent]
            payload = decode_payload(message["payload_text"].encode())
            if sent == 0:
                random = _replaying(h(vectors["handshake"]["random"]) + h(message["random"]))
                session, envelope = start_conversation(bundle, payload, random=random)
            else:
                random = _replaying(h(message["random"]))
                session, envelope = sessions[message["from"]].encrypt(payload, random=random)
            assert not random.remaining  # type: ignore[attr-defined]
            assert envelope.hex() == message["envelope"]
            sessions[message["from"]] = session
            sent += 1

    for delivery in vectors["deliveries"]:
        send_until(delivery["after_sends"])
        message = messages[delivery["message"]]
        envelope = h(message["envelope"])
        random = _replaying(h(delivery["random"]))
        to = delivery["to"]
        if delivery["expected"] == "replayed":
            with pytest.raises(ReplayedMessage):
                sessions[to].decrypt(envelope, random=random)
            continue
        if to not in sessions:
            session, payload = accept_conversation(
                envelope,
                lambda kind, pid: (
                    h(otk["secret"]) if (kind, pid) == (2, otk["prekey_id"]) else None
                ),
                program_id=program_id,
                random=random,
            )
            skipped: tuple[Any, ...] = ()
        else:
            session, payload, skipped = sessions[to].decrypt(envelope, random=random)
        assert not random.remaining  # type: ignore[attr-defined]
        assert (
            encode_payload(payload).decode() == message["payload_text"] == delivery["payload_text"]
        )
        assert [{"dh": s.dh.hex(), "n": s.n} for s in skipped] == delivery["skipped"]
        assert _state(session) == delivery["state_after"]
        sessions[to] = session
    assert sent == len(messages)
    assert {who: s.to_bytes().hex() for who, s in sessions.items()} == vectors["final_sessions"]
