"""Write tests/vectors/protocol-v1.json: every value a second implementation needs.

Deterministic: all randomness comes from :class:`SeededRandom` streams with fixed
labels, and every random byte consumed is written into the file, so another
implementation never needs to reproduce the stream itself.

Run ``python tests/vectors/generate.py`` to rewrite the file; ``--check`` exits 1 if the
committed file differs. tests/e2ee/test_vectors_protocol.py asserts both that the file is
reproduced byte for byte and that the Python session API decrypts every envelope in it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from e2ee import hpke
from e2ee.encoding import b64u_encode
from e2ee.envelope import ENVELOPE_VERSION, Envelope, Header
from e2ee.handshake import RATCHET_ROOT_LABEL, handshake_info
from e2ee.identity import (
    LABEL_ONE_TIME_PREKEY,
    LABEL_PROFILE,
    LABEL_SIGNED_PREKEY,
    LABEL_STATUS,
    Alternative,
    Hours,
    IdentityKeyPair,
    Notice,
    OpeningPeriod,
    PrekeyBody,
    Profile,
    Question,
    Status,
    fingerprint,
    sign_prekey,
    sign_profile,
    sign_status,
    signed_message,
    verify_bundle,
)
from e2ee.padding import pad
from e2ee.payload import (
    Answers,
    Close,
    CodeWordAnswer,
    CodeWordRequest,
    Delivered,
    Duress,
    Joined,
    Payload,
    Queue,
    System,
    Text,
    Typing,
    encode_payload,
)
from e2ee.payload import Notice as NoticePayload
from e2ee.primitives import x25519, x25519_public
from e2ee.ratchet import NONCE_SIZE, RatchetState, kdf_ck, kdf_rk
from e2ee.session import Session, accept_conversation, start_conversation

OUTPUT = Path(__file__).with_name("protocol-v1.json")
NOW = 1_764_000_000  # Unix seconds: 2025-11-24T16:00:00Z; "now" for every expiry check
NOW_MS = NOW * 1000

DESCRIPTION = [
    "Quietline protocol v1 test vectors (docs/protocol.md). Written by tests/vectors/generate.py;",
    "do not edit by hand.",
    "Encoding: every byte string is lower-case hex unless its key ends in _b64u (base64url,",
    "no padding) or _text (UTF-8 text); 'bundle' is the JSON a relay serves, verbatim.",
    "Randomness: every random byte a party consumed is given ('random' fields), in the order",
    "consumed; the streams were SHA-256(label || u64 counter) blocks but you need not",
    "reproduce them.",
    "Parties: 'participant' (slot 0, Alice in the Double Ratchet) and 'program' (slot 1, Bob).",
    "Handshake: conversation_id = random(16), ikm_e = random(32), then Alice's first ratchet",
    "secret = random(32); HPKE SetupBaseS(prekey, info, ikm_e); SK = Export(",
    "'quietline/v1/ratchet-root', 32). The one-time prekey is used. handshake.hpke lists the",
    "RFC 9180 intermediate values (dh = DH(sk_e, pk_r), kem_context = enc || pk_r, ...); the",
    "context's key and base_nonce are given for completeness but never used (exporter only).",
    "messages[i]: what the sender computed, in send order (chain_key_before -> KDF_CK ->",
    "chain_key_after, message_key; header; aad = every envelope byte before the ciphertext;",
    "payload_text -> padded -> ENCRYPT -> ciphertext; envelope). ENCRYPT (see 'encrypt') is",
    "nonce || AES-256-GCM(key = message_key itself, nonce, padded, aad), the nonce being the",
    "12 random bytes the sender consumed for this message ('random', equal to 'nonce'); the",
    "envelope's ciphertext field is that whole output. The init (messages[0]) is the",
    "participant's first message: its nonce is drawn after the handshake's 80 bytes.",
    "payload_text is the canonical form the Python sender writes (keys sorted,",
    "no spaces, non-ASCII unescaped:",
    "JSON.stringify of an object built with sorted keys gives the same bytes); receivers accept",
    "any key order and whitespace.",
    "deliveries: the order in which envelopes reached the other party (some out of order, one",
    "duplicated); 'after_sends' = how many messages had been sent (messages[0..after_sends-1])",
    "when it arrived, which fixes the interleaving of sends and receipts.",
    "Each delivery also has the random bytes the receiver consumed (32 for a DH ratchet step),",
    "the DH step's intermediate values (dh_out_1 = DH(old dhs, header.dh) -> KDF_RK -> root_key_1,",
    "recv_chain_key; dh_out_2 = DH(new dhs, header.dh) -> KDF_RK -> root_key_2, send_chain_key),",
    "the message ids it reports as skipped, whether the message was late (decrypted with a",
    "stored skipped key), the expected result ('ok' or 'replayed'), the decrypted payload, and",
    "the receiver's ratchet state afterwards. final_sessions: serialized sessions at the end.",
]


class SeededRandom:
    """A deterministic byte stream that records what it hands out."""

    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0
        self._buffer = b""
        self._log: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = self._label + self._counter.to_bytes(8, "big")
            self._buffer += hashlib.sha256(block).digest()
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        self._log.append(out)
        return out

    def take(self) -> bytes:
        """The bytes handed out since the last call."""
        out = b"".join(self._log)
        self._log.clear()
        return out


def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex()


def _state(state: RatchetState) -> dict[str, Any]:
    return {
        "dhs_secret": state.dhs_secret.hex(),
        "dhs_public": state.dhs_public.hex(),
        "dhr": _hex(state.dhr),
        "root_key": state.root_key.hex(),
        "send_chain_key": _hex(state.send_chain_key),
        "recv_chain_key": _hex(state.recv_chain_key),
        "ns": state.ns,
        "nr": state.nr,
        "pn": state.pn,
        "skipped": [
            {"dh": k.dh.hex(), "n": k.n, "message_key": k.message_key.hex()} for k in state.skipped
        ],
    }


def _profile() -> Profile:
    return Profile(
        name="Harbor Line — chat",
        notice=Notice(
            voluntary="This chat is voluntary. You can stop at any time.",
            choices="You choose what to share; you can skip any question.",
            information="We keep no transcript. Our server cannot read this chat.",
            mandatory_reporting="If a child is in danger we must tell child protection.",
            more_url="https://harbor.example/rights",
        ),
        safety_check_in="Are you in a safe place to chat right now?",
        questions=(
            Question(id="age_range", text="What is your age range?", why="To plan services."),
        ),
        hours=Hours(
            timezone="America/Chicago",
            weekly=(
                OpeningPeriod(day=0, open="09:00", close="21:00"),
                OpeningPeriod(day=5, open="18:00", close="24:00"),
            ),
        ),
        alternatives=(Alternative(label="Hotline (24/7)", value="+1 555 0100"),),
        quick_exit_url="https://weather.example/",
        issued_at=NOW - 3600,
    )


def _signed(label: str, program_id: bytes, signed: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        **extra,
        "label": label,
        "body": signed.body.hex(),
        "signed_message": signed_message(label, program_id, signed.body).hex(),
        "signature": signed.signature.hex(),
        "json": signed.to_json(),
    }


# The conversation: ("send", sender, payload) appends to messages; ("deliver", index).
P, W = "participant", "program"


def _script() -> list[tuple[str, Any, Any]]:
    def ts(i: int) -> int:
        return NOW_MS + 1000 * i

    long_text = "I am writing from a shared computer, so I may need to leave fast. " * 5
    return [
        ("send", P, Text(body="Hello, is anyone there?", ts=ts(0))),
        ("deliver", 0, None),
        ("send", W, NoticePayload(kind="rights", body="You choose what to share.", ts=ts(1))),
        ("send", W, Text(body="Hi, I'm Sam. I'm here to listen.", ts=ts(2))),
        ("deliver", 2, None),
        ("deliver", 1, None),
        ("send", P, Text(body="مرحبا — 你好 — नमस्ते 🙂", ts=ts(3))),
        ("send", P, Answers(answers={"age_range": "25-34"}, ts=ts(4))),
        ("send", P, Text(body=long_text, ts=ts(5))),
        ("deliver", 3, None),
        ("deliver", 5, None),
        ("deliver", 4, None),
        ("send", W, CodeWordRequest(alias="heron", ts=ts(6))),
        ("deliver", 6, None),
        ("send", P, CodeWordAnswer(alias="heron", word="lantern", ts=ts(7))),
        ("send", P, Text(body="Did you get my code word?", ts=ts(8))),
        ("deliver", 8, None),
        ("send", W, Text(body="Thank you, that matches.", ts=ts(9))),
        ("deliver", 9, None),
        ("send", P, Text(body="Good.", ts=ts(10))),
        ("deliver", 10, None),
        ("deliver", 7, None),
        ("send", W, Text(body="How are you feeling right now?", ts=ts(11))),
        ("send", W, System(event="typing", ts=ts(12))),
        ("send", W, Text(body="Take your time.", ts=ts(13))),
        ("deliver", 11, None),
        ("deliver", 13, None),
        ("send", P, Text(body="Scared, but OK.", ts=ts(14))),
        ("deliver", 14, None),
        ("send", W, Text(body="That makes sense.", ts=ts(15))),
        ("deliver", 15, None),
        ("deliver", 12, None),
        ("send", P, Duress(ts=ts(16))),
        ("send", P, Text(body="Someone came in.", ts=ts(17))),
        ("deliver", 16, None),
        ("deliver", 17, None),
        ("deliver", 16, "replayed"),
        ("send", W, NoticePayload(kind="safety_check_in", body="Are you safe?", ts=ts(18))),
        ("deliver", 18, None),
        ("send", P, Text(body="Yes.", ts=ts(19))),
        ("send", P, Text(body="He left.", ts=ts(20))),
        ("send", P, Text(body="I can talk.", ts=ts(21))),
        ("deliver", 21, None),
        ("deliver", 19, None),
        ("deliver", 20, None),
        ("send", W, Text(body="I'm glad. What would help most today?", ts=ts(22))),
        ("deliver", 22, None),
        ("send", P, Text(body="Knowing my options.", ts=ts(23))),
        ("deliver", 23, None),
        ("send", W, Queue(position=2, ts=ts(24))),
        ("send", W, Joined(name="Sam", ts=ts(25))),
        ("deliver", 24, None),
        ("deliver", 25, None),
        ("send", W, Typing(active=True, ts=ts(26))),
        ("send", P, Text(body="Are you still there?", ts=ts(27))),
        ("deliver", 27, None),
        ("send", W, Delivered(count=11, ts=ts(28))),
        ("deliver", 28, None),
        ("deliver", 26, None),
        ("send", W, NoticePayload(kind="closing", body="We can talk again any time.", ts=ts(29))),
        ("send", W, Close(reason="ended by participant's request", ts=ts(30))),
        ("deliver", 30, None),
        ("deliver", 29, None),
    ]


def build() -> dict[str, Any]:
    program_random = SeededRandom("quietline/v1/vectors/program")
    participant_random = SeededRandom("quietline/v1/vectors/participant")

    # -- the program's keys and bundle
    identity = IdentityKeyPair.from_seed(program_random(32))
    program_id = identity.program_id
    spk_secret = program_random(32)
    otk_secret = program_random(32)
    spk = PrekeyBody(prekey_id=1, public_key=x25519_public(spk_secret), expires_at=NOW + 7 * 86400)
    otk = PrekeyBody(prekey_id=1001, public_key=x25519_public(otk_secret), expires_at=NOW + 86400)
    program_random.take()
    signed_spk = sign_prekey(identity, spk, one_time=False)
    signed_otk = sign_prekey(identity, otk, one_time=True)
    profile = sign_profile(identity, _profile())
    status_body = Status(
        state="open", message="We are answering.", issued_at=NOW, expires_at=NOW + 900
    )
    status = sign_status(identity, status_body)
    bundle = {
        "program_id": b64u_encode(program_id),
        "identity_key": b64u_encode(identity.public_key),
        "signed_prekey": signed_spk.to_json(),
        "one_time_prekey": signed_otk.to_json(),
        "profile": profile.to_json(),
        "status": status.to_json(),
    }
    verified = verify_bundle(bundle, identity.public_key, now=NOW)
    prekeys = {(1, spk.prekey_id): spk_secret, (2, otk.prekey_id): otk_secret}

    out: dict[str, Any] = {
        "description": DESCRIPTION,
        "protocol_version": 1,
        "envelope_version": ENVELOPE_VERSION,
        "now": NOW,
        "labels": {
            "program_id": "quietline/v1/program-id",
            "fingerprint": "quietline/v1/fingerprint",
            "signature_prefix": "quietline-sig",
            "handshake_info": "quietline/v1/handshake",
            "ratchet_root": RATCHET_ROOT_LABEL.decode(),
            "kdf_rk": "quietline/v1/kdf-rk",
        },
        "encrypt": {
            "aead": "AES-256-GCM",
            "key": "the message's message_key (32 bytes, from KDF_CK)",
            "nonce": f"{NONCE_SIZE} random bytes, fresh for every encryption, sent first",
            "output": "nonce || AES-256-GCM ciphertext || 16-byte tag",
            "aad": "every envelope byte before the ciphertext (so before the nonce)",
        },
        "identity": {
            "seed": identity.seed.hex(),
            "identity_key": identity.public_key.hex(),
            "program_id": program_id.hex(),
            "program_id_b64u": b64u_encode(program_id),
            "fingerprint_text": fingerprint(identity.public_key),
        },
        "signed_prekey": _signed(
            LABEL_SIGNED_PREKEY,
            program_id,
            signed_spk,
            {
                "secret": spk_secret.hex(),
                "public_key": spk.public_key.hex(),
                "prekey_id": spk.prekey_id,
                "expires_at": spk.expires_at,
            },
        ),
        "one_time_prekey": _signed(
            LABEL_ONE_TIME_PREKEY,
            program_id,
            signed_otk,
            {
                "secret": otk_secret.hex(),
                "public_key": otk.public_key.hex(),
                "prekey_id": otk.prekey_id,
                "expires_at": otk.expires_at,
            },
        ),
        "profile": _signed(
            LABEL_PROFILE, program_id, profile, {"body_text": profile.body.decode("utf-8")}
        ),
        "status": _signed(
            LABEL_STATUS, program_id, status, {"body_text": status.body.decode("utf-8")}
        ),
        "bundle": bundle,
    }

    # -- the conversation
    sessions: dict[str, Session] = {}
    session: Session
    messages: list[dict[str, Any]] = []
    envelopes: list[bytes] = []
    deliveries: list[dict[str, Any]] = []
    randoms = {P: participant_random, W: program_random}
    other = {P: W, W: P}

    for action, who, arg in _script():
        if action == "send":
            payload: Payload = arg
            sender = who
            text = encode_payload(payload)
            padded = pad(text)
            if not envelopes:
                session, envelope = start_conversation(verified, payload, random=participant_random)
                hs_random = participant_random.take()
                hs_random, consumed = hs_random[:-NONCE_SIZE], hs_random[-NONCE_SIZE:]
                out["handshake"] = _handshake(
                    hs_random, program_id, otk, otk_secret, session, verified.one_time_prekey
                )
                before_ck = out["handshake"]["participant_init"]["send_chain_key"]
                before = bytes.fromhex(before_ck)
            else:
                previous = sessions[sender]
                assert previous.ratchet.send_chain_key is not None
                before = previous.ratchet.send_chain_key
                session, envelope = previous.encrypt(payload, random=randoms[sender])
                consumed = randoms[sender].take()
            sessions[sender] = session
            after, message_key = kdf_ck(before)
            assert after == session.ratchet.send_chain_key
            parsed = Envelope.from_bytes(envelope)
            assert parsed.nonce == consumed and len(consumed) == NONCE_SIZE
            messages.append(
                {
                    "index": len(envelopes),
                    "from": sender,
                    "kind": "init" if parsed.init is not None else "message",
                    "payload_text": text.decode("utf-8"),
                    "padded": padded.hex(),
                    "chain_key_before": before.hex(),
                    "chain_key_after": after.hex(),
                    "message_key": message_key.hex(),
                    "header": parsed.header.to_bytes().hex(),
                    "header_fields": {
                        "dh": parsed.header.dh.hex(),
                        "pn": parsed.header.pn,
                        "n": parsed.header.n,
                    },
                    "aad": parsed.aad.hex(),
                    "random": consumed.hex(),
                    "nonce": parsed.nonce.hex(),
                    "ciphertext": parsed.ciphertext.hex(),
                    "envelope": envelope.hex(),
                }
            )
            envelopes.append(envelope)
        else:
            index: int = who
            expected = arg or "ok"
            envelope = envelopes[index]
            receiver = other[messages[index]["from"]]
            record: dict[str, Any] = {
                "message": index,
                "to": receiver,
                "after_sends": len(envelopes),
                "expected": expected,
            }
            if expected == "replayed":
                record["random"] = ""
                deliveries.append(record)
                continue
            rnd = randoms[receiver]
            if receiver not in sessions:
                session, payload = accept_conversation(
                    envelope,
                    lambda kind, pid: prekeys.get((kind, pid)),
                    program_id=program_id,
                    random=rnd,
                )
                before_state = _bob_initial(out["handshake"], otk_secret)
                skipped: tuple[Any, ...] = ()
            else:
                before_state = sessions[receiver].ratchet
                session, payload, skipped = sessions[receiver].decrypt(envelope, random=rnd)
            consumed = rnd.take()
            header = Envelope.from_bytes(envelope).header
            record["random"] = consumed.hex()
            record["dh_ratchet_step"] = _dh_step(before_state, session.ratchet, header, consumed)
            record["skipped"] = [{"dh": s.dh.hex(), "n": s.n} for s in skipped]
            record["late"] = any(
                k.dh == header.dh and k.n == header.n for k in before_state.skipped
            )
            record["payload_text"] = encode_payload(payload).decode("utf-8")
            record["state_after"] = _state(session.ratchet)
            sessions[receiver] = session
            deliveries.append(record)

    out["messages"] = messages
    out["deliveries"] = deliveries
    out["final_sessions"] = {who: s.to_bytes().hex() for who, s in sorted(sessions.items())}
    return out


def _handshake(
    consumed: bytes,
    program_id: bytes,
    prekey: PrekeyBody,
    prekey_secret: bytes,
    session: Session,
    one_time: PrekeyBody | None,
) -> dict[str, Any]:
    assert one_time == prekey and len(consumed) == 80
    conversation_id, ikm_e, ratchet_secret = consumed[:16], consumed[16:48], consumed[48:]
    info = handshake_info(program_id, conversation_id, 2, prekey.prekey_id)
    sk_e, pk_e = hpke.derive_key_pair(ikm_e)
    shared_secret, enc = hpke.encap(prekey.public_key, ikm_e=ikm_e)
    schedule = hpke.key_schedule(shared_secret, info)
    recipient = hpke.setup_base_recipient(enc, prekey_secret, info)
    sk = recipient.export(RATCHET_ROOT_LABEL, 32)
    dh_out = x25519(ratchet_secret, prekey.public_key)
    root_key, send_chain_key = kdf_rk(sk, dh_out)
    assert session.conversation_id == conversation_id
    return {
        "random": consumed.hex(),
        "conversation_id": conversation_id.hex(),
        "conversation_id_b64u": b64u_encode(conversation_id),
        "prekey_kind": 2,
        "prekey_id": prekey.prekey_id,
        "prekey_public": prekey.public_key.hex(),
        "info": info.hex(),
        "hpke": {
            "mode": 0,
            "kem_id": hpke.KEM_ID,
            "kdf_id": hpke.KDF_ID,
            "aead_id": hpke.AEAD_ID,
            "ikm_e": ikm_e.hex(),
            "sk_e": sk_e.hex(),
            "pk_e": pk_e.hex(),
            "enc": enc.hex(),
            "dh": x25519(sk_e, prekey.public_key).hex(),
            "kem_context": (enc + prekey.public_key).hex(),
            "shared_secret": shared_secret.hex(),
            "key_schedule_context": schedule.key_schedule_context.hex(),
            "secret": schedule.secret.hex(),
            "key": schedule.key.hex(),
            "base_nonce": schedule.base_nonce.hex(),
            "exporter_secret": schedule.exporter_secret.hex(),
            "exporter_context_text": RATCHET_ROOT_LABEL.decode(),
            "exported_sk": sk.hex(),
        },
        "participant_init": {
            "dhs_secret": ratchet_secret.hex(),
            "dhs_public": x25519_public(ratchet_secret).hex(),
            "dhr": prekey.public_key.hex(),
            "dh_out": dh_out.hex(),
            "root_key": root_key.hex(),
            "send_chain_key": send_chain_key.hex(),
        },
        "program_init": {
            "dhs_secret": prekey_secret.hex(),
            "dhs_public": prekey.public_key.hex(),
            "root_key": sk.hex(),
        },
    }


def _bob_initial(handshake: dict[str, Any], prekey_secret: bytes) -> RatchetState:
    return RatchetState(
        dhs_secret=prekey_secret,
        dhs_public=x25519_public(prekey_secret),
        dhr=None,
        root_key=bytes.fromhex(handshake["hpke"]["exported_sk"]),
        send_chain_key=None,
        recv_chain_key=None,
    )


def _dh_step(
    before: RatchetState, after: RatchetState, header: Header, consumed: bytes
) -> dict[str, Any] | None:
    if not consumed:
        return None
    dh_out_1 = x25519(before.dhs_secret, header.dh)
    root_key_1, recv_chain_key = kdf_rk(before.root_key, dh_out_1)
    dh_out_2 = x25519(consumed, header.dh)
    root_key_2, send_chain_key = kdf_rk(root_key_1, dh_out_2)
    assert root_key_2 == after.root_key and send_chain_key == after.send_chain_key
    return {
        "dh_out_1": dh_out_1.hex(),
        "root_key_1": root_key_1.hex(),
        "recv_chain_key": recv_chain_key.hex(),
        "new_dhs_secret": consumed.hex(),
        "new_dhs_public": x25519_public(consumed).hex(),
        "dh_out_2": dh_out_2.hex(),
        "root_key_2": root_key_2.hex(),
        "send_chain_key": send_chain_key.hex(),
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUTPUT} differs from the generator's output")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
