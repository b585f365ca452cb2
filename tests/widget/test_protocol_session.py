# ruff: noqa: E501  (the JavaScript run in the page is kept readable, not wrapped)
"""The widget's session (handshake + Double Ratchet + envelopes) in Chromium.

Two kinds of peers:

- JS <-> JS: participant and program both in the page (every envelope path, replay,
  out-of-order delivery, tampering, drop).
- JS <-> Python: the participant runs in Chromium (widget/protocol), the program is the
  Python reference (e2ee.hpke, e2ee.ratchet, e2ee.envelope, e2ee.padding, e2ee.payload,
  e2ee.identity) driven here; every envelope crosses between the two implementations,
  in order and out of order.

Randomness in the page is a fixed-seed generator (tests only), so runs are repeatable.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from e2ee import envelope as env
from e2ee import hpke, identity, padding, payload, ratchet
from e2ee.primitives import x25519_public

NOW = 1_790_000_000

# A deterministic byte source for the page (tests only; production uses
# crypto.getRandomValues): splitmix32 seeded from a string, so runs are repeatable.
SEEDED = """() => {
window.seeded = async (seed) => {
  let state = 0;
  for (const c of seed) state = (Math.imul(state ^ c.codePointAt(0), 0x9e3779b1) + 7) >>> 0;
  const next = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = next() & 255;
    return out;
  };
};
}"""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def det_random(seed: str) -> Any:
    counter = [0]

    def random(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(f"{seed}:{counter[0]}".encode()).digest()
            counter[0] += 1
        return out[:n]

    return random


class Program:
    """The program side, built only from the Python reference modules."""

    def __init__(self, one_time: bool = True) -> None:
        rnd = det_random("program")
        self.random = rnd
        self.identity = identity.IdentityKeyPair.from_seed(rnd(32))
        self.program_id = self.identity.program_id
        self.spk_secret, spk_public = hpke.derive_key_pair(rnd(32))
        self.opk_secret, opk_public = hpke.derive_key_pair(rnd(32))
        self.spk = identity.PrekeyBody(7, spk_public, NOW + 86400)
        self.opk = identity.PrekeyBody(42, opk_public, NOW + 86400) if one_time else None
        self.state: ratchet.RatchetState | None = None
        self.cid = b""

    def profile(self) -> identity.Profile:
        return identity.Profile(
            name="Safe Harbor Line",
            notice=identity.Notice("You choose.", "Skip anything.", "Deleted.", "Only if..."),
            safety_check_in="Are you safe to chat right now?",
            questions=(identity.Question("age", "Your age range?", "To plan services."),),
            hours=identity.Hours("Europe/Berlin", (identity.OpeningPeriod(0, "09:00", "17:00"),)),
            alternatives=(identity.Alternative("Phone", "+49 800 000 000"),),
            quick_exit_url="https://weather.example/",
            issued_at=NOW - 100,
        )

    def bundle(self, status_expires: int = NOW + 600) -> dict[str, Any]:
        status = identity.Status("open", "We are here.", NOW - 10, status_expires)
        opk = identity.sign_prekey(self.identity, self.opk, one_time=True) if self.opk else None
        return {
            "program_id": b64u(self.program_id),
            "identity_key": b64u(self.identity.public_key),
            "signed_prekey": identity.sign_prekey(
                self.identity, self.spk, one_time=False
            ).to_json(),
            "one_time_prekey": opk.to_json() if opk else None,
            "profile": identity.sign_profile(self.identity, self.profile()).to_json(),
            "status": identity.sign_status(self.identity, status).to_json(),
        }

    def accept(self, data: bytes) -> payload.Payload:
        e = env.Envelope.from_bytes(data)
        assert e.init is not None
        secret = self.opk_secret if e.init.prekey_kind == 2 else self.spk_secret
        info = (
            b"quietline/v1/handshake"
            + self.program_id
            + e.conversation_id
            + bytes([e.init.prekey_kind])
            + e.init.prekey_id.to_bytes(4, "big")
        )
        ctx = hpke.setup_base_recipient(e.init.enc, secret, info)
        sk = ctx.export(b"quietline/v1/ratchet-root", 32)
        self.state = ratchet.init_bob(sk, secret, x25519_public(secret))
        self.cid = e.conversation_id
        return self.decrypt(data)

    def decrypt(self, data: bytes) -> payload.Payload:
        assert self.state is not None
        e = env.Envelope.from_bytes(data)
        d = ratchet.decrypt(self.state, e.header, e.ciphertext, e.aad, self.random)
        self.state = d.state
        return payload.decode_payload(padding.unpad(d.plaintext))

    def encrypt(self, p: payload.Payload) -> bytes:
        assert self.state is not None
        cid = self.cid
        out = ratchet.encrypt(
            self.state,
            padding.pad(payload.encode_payload(p)),
            lambda h: env.envelope_aad(cid, env.PROGRAM_SLOT, env.PARTICIPANT_SLOT, h),
            self.random,
        )
        self.state = out.state
        return env.Envelope(
            cid, env.PROGRAM_SLOT, env.PARTICIPANT_SLOT, out.header, out.ciphertext
        ).to_bytes()


@pytest.fixture
def page(protocol_page: Page) -> Iterator[Page]:
    protocol_page.evaluate(SEEDED)
    yield protocol_page


def test_bundle_from_python_verifies_and_binds(page: Page) -> None:
    prog = Program()
    got = page.evaluate(
        """async ([bundle, key, pid, now]) => {
          const v = await Q.verifyBundle(bundle, { identityKey: key, programId: pid, now });
          const v2 = await Q.verifyBundle(bundle, Q.b64uDecode(key), { now });
          return { name: v.profile.name, state: v.status.state, kind: v.prekeyKind,
                   id: v.prekey.prekeyId, pk: Q.b64uEncode(v.prekey.publicKey),
                   same: Q.b64uEncode(v2.programId) === pid,
                   fp: await Q.fingerprint(Q.b64uDecode(key)),
                   pidFromKey: Q.b64uEncode(await Q.programIdFor(Q.b64uDecode(key))) };
        }""",
        [prog.bundle(), b64u(prog.identity.public_key), b64u(prog.program_id), NOW],
    )
    assert got == {
        "name": "Safe Harbor Line",
        "state": "open",
        "kind": 2,
        "id": 42,
        "pk": b64u(prog.opk.public_key),  # type: ignore[union-attr]
        "same": True,
        "fp": identity.fingerprint(prog.identity.public_key),
        "pidFromKey": b64u(prog.program_id),
    }


def _verify_error(page: Page, bundle: dict[str, Any], key: str, now: int = NOW) -> str:
    return str(
        page.evaluate(
            """async ([bundle, key, now]) => {
              try { await Q.verifyBundle(bundle, { identityKey: key, now }); return "ok"; }
              catch (e) { return e instanceof Q.QuietlineError ? e.name : "untyped " + e; }
            }""",
            [bundle, key, now],
        )
    )


def test_bundle_checks_fail_closed(page: Page) -> None:
    prog = Program()
    key = b64u(prog.identity.public_key)
    other_identity = identity.IdentityKeyPair.from_seed(b"\x07" * 32)
    assert _verify_error(page, prog.bundle(), b64u(other_identity.public_key)) == "UntrustedKey"
    # A relay swapping in its own identity key and re-signing everything.
    swapped = prog.bundle()
    swapped["identity_key"] = b64u(other_identity.public_key)
    assert _verify_error(page, swapped, key) == "UntrustedKey"
    # An edited profile body (signature no longer covers it).
    edited = prog.bundle()
    body = bytearray(unb64u(edited["profile"]["body"]))
    body[body.index(b"Safe")] = ord("X")
    edited["profile"]["body"] = b64u(bytes(body))
    assert _verify_error(page, edited, key) == "InvalidSignature"
    # A one-time prekey passed off as the signed prekey (label is inside the signature).
    relabeled = prog.bundle()
    relabeled["signed_prekey"] = relabeled["one_time_prekey"]
    assert _verify_error(page, relabeled, key) == "InvalidSignature"
    # Expired prekeys; an expired status is only "unknown".
    assert _verify_error(page, prog.bundle(), key, now=NOW + 86400) == "Expired"
    got = page.evaluate(
        """async ([bundle, key, now]) =>
             (await Q.verifyBundle(bundle, { identityKey: key, now })).status""",
        [prog.bundle(status_expires=NOW - 1), key, NOW],
    )
    assert got is None
    # Milliseconds instead of seconds are refused loudly.
    assert _verify_error(page, prog.bundle(), key, now=NOW * 1000) == "LocalProtocolError"
    # Wrong program id in the snippet.
    got = page.evaluate(
        """async ([bundle, key, now]) => {
             const programId = "AAAAAAAAAAAAAAAAAAAAAA";
             try { await Q.verifyBundle(bundle, { identityKey: key, programId, now }); }
             catch (e) { return e.name; } }""",
        [prog.bundle(), key, NOW],
    )
    assert got == "UntrustedKey"


START = """async ([bundle, key, now, texts]) => {
  const v = await Q.verifyBundle(bundle, { identityKey: key, now });
  const random = await seeded("participant");
  const first = { t: "system", event: "start", ts: 1790000000000 };
  const { session, envelope } = await Q.startConversation(v, first, { random });
  window.S = session;
  const out = [Q.b64uEncode(envelope)];
  for (const body of texts) {
    out.push(Q.b64uEncode(await session.encrypt({ t: "text", body, ts: 1790000000001 })));
  }
  return out;
}"""

TEXTS = ["Hello", "مرحبا، أحتاج إلى مساعدة", "我需要帮助", "मुझे मदद चाहिए", "🙂 " * 300, ""]


def test_participant_js_to_program_python_and_back(page: Page) -> None:
    prog = Program()
    envelopes = page.evaluate(START, [prog.bundle(), b64u(prog.identity.public_key), NOW, TEXTS])
    first = unb64u(envelopes[0])
    assert first[1] == env.KIND_INIT and unb64u(envelopes[1])[1] == env.KIND_MESSAGE
    assert prog.accept(first) == payload.System("start", 1_790_000_000_000)
    # Deliver the participant's messages out of order to the Python program.
    order = [3, 1, 6, 2, 5, 4]
    got = {i: prog.decrypt(unb64u(envelopes[i])) for i in order}
    assert [got[i] for i in range(1, 7)] == [payload.Text(t, 1_790_000_000_001) for t in TEXTS]

    # Program replies (Python), in two chains; the participant (JS) reads them out of order.
    replies = [prog.encrypt(payload.Notice("safety_check_in", "Are you safe?", 1))]
    replies += [prog.encrypt(payload.Text(f"reply {i}", 2 + i)) for i in range(3)]
    results = page.evaluate(
        """async (envs) => {
          const out = [];
          for (const e of envs) {
            const r = await S.decrypt(Q.b64uDecode(e));
            out.push({ p: r.payload, missing: r.missing, late: r.late });
          }
          return out;
        }""",
        [b64u(replies[i]) for i in (0, 2, 1, 3)],
    )
    assert [r["p"] for r in results] == [
        {"t": "notice", "kind": "safety_check_in", "body": "Are you safe?", "ts": 1},
        {"t": "text", "body": "reply 1", "ts": 3},
        {"t": "text", "body": "reply 0", "ts": 2},
        {"t": "text", "body": "reply 2", "ts": 4},
    ]
    assert [(r["missing"], r["late"]) for r in results] == [
        (0, False),
        (1, False),
        (0, True),
        (0, False),
    ]

    # A new participant chain (DH ratchet step in JS), read by Python, then back again.
    more = page.evaluate(
        """async () => [await S.encrypt({ t: "duress", ts: 5 }),
                        await S.encrypt({ t: "close", reason: "done", ts: 6 })].map(Q.b64uEncode)"""
    )
    assert prog.decrypt(unb64u(more[1])) == payload.Close("done", 6)
    assert prog.decrypt(unb64u(more[0])) == payload.Duress(5)
    last = prog.encrypt(payload.Text("bye", 7))
    read = "async (e) => (await S.decrypt(Q.b64uDecode(e))).payload.body"
    assert page.evaluate(read, b64u(last)) == "bye"
    # Replay of an already read envelope: typed, and the session keeps working.
    assert (
        page.evaluate(
            """async (e) => { try { await S.decrypt(Q.b64uDecode(e)); return "accepted"; }
                              catch (err) { return err.name; } }""",
            b64u(replies[0]),
        )
        == "ReplayedMessage"
    )


JS_PAIR = """async (n) => {
  const h = Q.hexDecode;
  const random = await seeded("pair");
  const programId = random(16);
  const prekeySecret = random(32);
  const prekey = await Q.X25519PrivateKey.fromSecret(prekeySecret);
  const verified = { programId, oneTimePrekey: null,
                     prekey: { prekeyId: 1, publicKey: prekey.publicKey, expiresAt: 0 } };
  const first = { t: "system", event: "start", ts: 0 };
  const { session: alice, envelope } = await Q.startConversation(verified, first, { random });
  const accepted = await Q.acceptConversation(envelope, programId, prekeySecret, { random });
  const { session: bob, payload } = accepted;
  window.A = alice; window.B = bob;
  const env = [];
  for (let i = 0; i < n; i++) env.push(await bob.encrypt({ t: "text", body: "m" + i, ts: i }));
  window.E = env;
  return payload;
}"""


def test_js_pair_bit_flip_leaves_state_unchanged(page: Page) -> None:
    assert page.evaluate(JS_PAIR, 3) == {"t": "system", "event": "start", "ts": 0}
    got = page.evaluate(
        """async () => {
          const before = JSON.stringify(A.describe());
          const results = [];
          const e = E[0];
          for (let bit = 0; bit < 8 * e.length; bit++) {
            const bad = e.slice();
            bad[bit >> 3] ^= 1 << (bit & 7);
            try { await A.decrypt(bad); results.push("accepted"); } catch (err) {
              const typed = err instanceof Q.DecryptionError || err instanceof Q.MalformedInput;
              results.push(typed ? err.name : String(err));
            }
          }
          const after = JSON.stringify(A.describe());
          const ok = (await A.decrypt(E[0])).payload.body;
          return { before, after, results, ok };
        }"""
    )
    assert got["before"] == got["after"]
    assert got["ok"] == "m0"
    # Every single-bit flip of the envelope is refused with a typed error.
    assert len(got["results"]) == 8 * (env.MESSAGE_AAD_SIZE + 12 + 256 + 16)
    assert set(got["results"]) <= {"DecryptionError", "TooManySkipped", "MalformedInput"}
    assert "DecryptionError" in got["results"]


def test_js_pair_skips_bounds_replays_and_drop(page: Page) -> None:
    page.evaluate(JS_PAIR, 8)
    got = page.evaluate(
        """async () => {
          const r7 = await A.decrypt(E[7]);
          const r2 = await A.decrypt(E[2]);
          let replay; try { await A.decrypt(E[7]); } catch (e) { replay = e.name; }
          let replayLate; try { await A.decrypt(E[2]); } catch (e) { replayLate = e.name; }
          const state = A.describe();
          A.drop();
          let dropped; try { await A.decrypt(E[3]); } catch (e) { dropped = e.name; }
          return { missing: r7.missing, skipped: r7.skipped.map((s) => s.n), late: r2.late,
                   body2: r2.payload.body, replay, replayLate, state, dropped, closed: A.closed };
        }"""
    )
    assert got == {
        "missing": 7,
        "skipped": [0, 1, 2, 3, 4, 5, 6],
        "late": True,
        "body2": "m2",
        "replay": "ReplayedMessage",
        "replayLate": "ReplayedMessage",
        "state": {"ns": 0, "nr": 8, "pn": 1, "skipped": 6, "canSend": True},
        "dropped": "LocalProtocolError",
        "closed": True,
    }


def test_js_pair_too_many_skipped(page: Page) -> None:
    got = page.evaluate(
        """async () => {
          const random = await seeded("bound");
          const programId = random(16), secret = random(32);
          const pk = await Q.X25519PrivateKey.fromSecret(secret);
          const prekey = { prekeyId: 9, publicKey: pk.publicKey };
          const verified = { programId, oneTimePrekey: null, prekey };
          const first = { t: "duress", ts: 1 };
          const opts = { random, maxSkip: 3 };
          const { session: a, envelope } = await Q.startConversation(verified, first, opts);
          const { session: b } = await Q.acceptConversation(envelope, programId, secret, opts);
          const env = [];
          for (let i = 0; i < 6; i++) env.push(await b.encrypt({ t: "text", body: "x", ts: i }));
          let err; try { await a.decrypt(env[5]); } catch (e) { err = e.name; }
          const ok = (await a.decrypt(env[3])).missing;
          return { err, ok, isDecryption: true };
        }"""
    )
    assert got == {"err": "TooManySkipped", "ok": 3, "isDecryption": True}


def test_concurrent_encrypts_never_share_a_counter(page: Page) -> None:
    page.evaluate(JS_PAIR, 0)
    got = page.evaluate(
        """async () => {
          const send = (i) => A.encrypt({ t: "text", body: "c" + i, ts: i });
          const envs = await Promise.all([0, 1, 2, 3, 4].map(send));
          const counters = envs.map((e) => Q.parseEnvelope(e).header.n);
          const bodies = [];
          for (const e of envs) bodies.push((await B.decrypt(e)).payload.body);
          return { counters, bodies };
        }"""
    )
    assert got == {"counters": [1, 2, 3, 4, 5], "bodies": ["c0", "c1", "c2", "c3", "c4"]}


def test_program_record_verifies_against_the_pinned_key(page: Page) -> None:
    prog = Program()
    bundle = prog.bundle()
    record = {k: bundle[k] for k in ("program_id", "identity_key", "profile", "status")}
    key = b64u(prog.identity.public_key)
    check = """async ([record, key, now]) => {
      try {
        const v = await Q.verifyProgram(record, { identityKey: key, now });
        return [v.profile.name, v.status && v.status.state, v.profile.questions[0].why];
      } catch (e) { return e instanceof Q.QuietlineError ? e.name : "untyped " + e; }
    }"""
    assert page.evaluate(check, [record, key, NOW]) == [
        "Safe Harbor Line",
        "open",
        "To plan services.",
    ]
    other = b64u(identity.IdentityKeyPair.from_seed(b"\x09" * 32).public_key)
    assert page.evaluate(check, [record, other, NOW]) == "UntrustedKey"
    tampered = dict(record, status=dict(record["status"], signature=record["profile"]["signature"]))
    assert page.evaluate(check, [tampered, key, NOW]) == "InvalidSignature"
    missing = {k: v for k, v in record.items() if k != "status"}
    assert page.evaluate(check, [missing, key, NOW]) == "MalformedInput"


def test_low_order_prekey_is_refused(page: Page) -> None:
    prog = Program()
    prog.opk = identity.PrekeyBody(43, bytes(32), NOW + 86400)
    assert _verify_error(page, prog.bundle(), b64u(prog.identity.public_key)) == "InvalidKey"


# -- precomputed chain steps (ratchet.js) ---------------------------------------------
# A chain is {key, step}: step is a promise, started when the chain key appears, of
# {aesKey, next}: KDF_CK of key with the message key imported as a non-extractable
# AES-256-GCM key. These tests drive the ratchet layer directly (Session hides its state).

RATCHET_PAIR = """async (seed) => {
  const random = await seeded(seed);
  const sk = random(32);
  const bobKey = await Q.X25519PrivateKey.fromSecret(random(32));
  const cid = random(16);
  window.R = {
    random,
    alice: await Q.initAlice(sk, bobKey.publicKey, random),
    bob: Q.initBob(sk, bobKey),
    bobKey,
    toBob: (h) => Q.envelopeAad(cid, 0, 1, h),
    toAlice: (h) => Q.envelopeAad(cid, 1, 0, h),
    errName: async (f) => { try { await f(); return "ok"; } catch (e) { return e instanceof Q.QuietlineError ? e.name : "untyped " + e.name; } },
    hex: Q.hexEncode,
  };
}"""


def test_precomputed_step_is_kdf_ck_and_encrypts_once(page: Page) -> None:
    page.evaluate(RATCHET_PAIR, "precompute")
    got = page.evaluate(
        """async () => {
          const { alice, random, toBob, errName, hex } = R;
          const out = {};
          const step = await alice.sendChain.step;
          const [next, mk] = await Q.kdfCk(alice.sendChainKey);
          out.chainKeyIsBytes = alice.sendChain.key === alice.sendChainKey && alice.sendChainKey.length === 32;
          out.next = hex(step.next) === hex(next);
          const k = step.aesKey;
          out.aesKey = [k.type, k.extractable, k.algorithm.name, k.algorithm.length, [...k.usages].sort().join()];
          out.exportable = await crypto.subtle.exportKey("raw", k).then(() => true, () => false);
          const pt = random(256), aad = random(60);
          const n12 = random(12);
          out.isMessageKey = hex(await Q.aes256gcmEncrypt(k, n12, pt, aad)) === hex(await Q.aes256gcmEncrypt(mk, n12, pt, aad));
          // Two encrypts from one state: the second is refused, concurrently or later.
          const drawn = [];
          const recording = (n) => { const b = random(n); drawn.push(b); return b; };
          const [r1, r2] = await Promise.allSettled([Q.ratchetEncrypt(alice, pt, toBob, recording), Q.ratchetEncrypt(alice, pt, toBob, recording)]);
          out.nonces = drawn.map((b) => b.length);
          out.concurrent = [r1.status, r2.status, r2.reason && r2.reason.name];
          out.again = await errName(() => Q.ratchetEncrypt(alice, pt, toBob));
          const s1 = r1.value.state;
          // ENCRYPT = nonce || AES-256-GCM(mk, nonce, pt, aad), the nonce from `random`.
          out.ciphertext = hex(r1.value.ciphertext) === hex(Q.concatBytes(drawn[0], await Q.aes256gcmEncrypt(mk, drawn[0], pt, toBob(r1.value.header))));
          out.advanced = hex(s1.sendChainKey) === hex(next) && s1.sendChain.key === s1.sendChainKey && s1.sendChain !== alice.sendChain;
          out.nextStep = hex((await s1.sendChain.step).next) === hex((await Q.kdfCk(next))[0]);
          // A failure before sealing (the AAD callback) releases the chain: nothing was encrypted.
          out.aadThrows = [
            await errName(() => Q.ratchetEncrypt(s1, pt, () => { throw new Q.LocalProtocolError("no aad"); })),
            await errName(() => Q.ratchetEncrypt(s1, pt, () => "not bytes")),
            await errName(() => Q.ratchetEncrypt(s1, "not bytes", toBob)),
            await errName(() => Q.ratchetEncrypt(s1, pt, toBob, (n) => new Uint8Array(n - 1))),
          ];
          const e = await Q.ratchetEncrypt(s1, pt, toBob);
          out.afterRelease = [e.header.n, await errName(() => Q.ratchetEncrypt(s1, pt, toBob))];
          return out;
        }"""
    )
    assert got == {
        "chainKeyIsBytes": True,
        "next": True,
        "aesKey": ["secret", False, "AES-GCM", 256, "decrypt,encrypt"],
        "exportable": False,
        "isMessageKey": True,
        "concurrent": ["fulfilled", "rejected", "LocalProtocolError"],
        "again": "LocalProtocolError",
        "ciphertext": True,
        "advanced": True,
        "nextStep": True,
        "nonces": [12],
        "aadThrows": ["LocalProtocolError"] * 4,
        "afterRelease": [1, "LocalProtocolError"],
    }


def test_failed_decrypt_keeps_the_precomputed_step_usable(page: Page) -> None:
    page.evaluate(RATCHET_PAIR, "failed-decrypt")
    got = page.evaluate(
        """async () => {
          let { alice, bob, random, toBob, errName, hex } = R;
          const out = {};
          const e0 = await Q.ratchetEncrypt(alice, random(256), toBob); alice = e0.state;
          bob = (await Q.ratchetDecrypt(bob, e0.header, e0.ciphertext, toBob(e0.header), random)).state;
          const pt = random(512);
          const e1 = await Q.ratchetEncrypt(alice, pt, toBob); alice = e1.state;
          const chain = bob.recvChain;
          const bad = e1.ciphertext.slice(); bad[7] ^= 1;
          const wrongAad = toBob(e1.header); wrongAad[0] ^= 1;
          out.failures = [
            await errName(() => Q.ratchetDecrypt(bob, e1.header, bad, toBob(e1.header), random)),
            await errName(() => Q.ratchetDecrypt(bob, e1.header, e1.ciphertext, wrongAad, random)),
            await errName(() => Q.ratchetDecrypt(bob, e1.header, e1.ciphertext.subarray(0, 16), toBob(e1.header), random)),
          ];
          out.sameChain = bob.recvChain === chain && bob.nr === 1;
          // The same state and its same precomputed step open the genuine message, twice
          // (decryption on a copy never consumes the step).
          const d1 = await Q.ratchetDecrypt(bob, e1.header, e1.ciphertext, toBob(e1.header), random);
          const d1again = await Q.ratchetDecrypt(bob, e1.header, e1.ciphertext, toBob(e1.header), random);
          out.opened = [hex(d1.plaintext) === hex(pt), hex(d1again.plaintext) === hex(pt)];
          out.advanced = d1.state.recvChain !== chain && hex(d1.state.recvChainKey) === hex((await Q.kdfCk(chain.key))[0]) && d1.state.nr === 2;
          return out;
        }"""
    )
    assert got == {
        "failures": ["DecryptionError", "DecryptionError", "DecryptionError"],
        "sameChain": True,
        "opened": [True, True],
        "advanced": True,
    }


def test_precomputed_steps_go_with_their_chain(page: Page) -> None:
    page.evaluate(RATCHET_PAIR, "drop-with-chain")
    got = page.evaluate(
        """async () => {
          let { alice, bob, random, toBob, toAlice, errName, hex } = R;
          const out = {};
          const steps = (s) => [s.sendChain, s.recvChain].filter(Boolean).flatMap((c) => [c, c.step, c.key]);
          const holds = (s, things) => steps(s).some((x) => things.includes(x));
          const send = async (from, aadFor) => { const e = await Q.ratchetEncrypt(from, random(256), aadFor); return e; };
          const e0 = await send(alice, toBob); alice = e0.state;
          bob = (await Q.ratchetDecrypt(bob, e0.header, e0.ciphertext, toBob(e0.header), random)).state;
          const f0 = await send(bob, toAlice); bob = f0.state;
          // DH ratchet step on Alice's side: both of her chains are new, the old steps gone.
          const before = alice;
          alice = (await Q.ratchetDecrypt(alice, f0.header, f0.ciphertext, toAlice(f0.header), random)).state;
          out.dhStep = [holds(alice, steps(before)), alice.recvChain.key === alice.recvChainKey, alice.sendChain.key === alice.sendChainKey];
          out.dhStepValues = hex((await alice.recvChain.step).next) === hex((await Q.kdfCk(alice.recvChainKey))[0]);
          // Retiring the state before the DH step zeroes its root key and its old sending
          // chain's precomputed next key (no state keeps them); the new state keeps its own.
          const beforeStep = await before.sendChain.step;
          Q.retireState(before, alice);
          await before.sendChain.step; // retireState's callback on this promise ran first
          out.dhRetired = [before.rootKey.every((b) => b === 0), beforeStep.next.every((b) => b === 0),
                           alice.rootKey.some((b) => b !== 0), (await alice.sendChain.step).next.some((b) => b !== 0)];
          // A skip: messages 1..3 of Bob's chain are skipped (1 evicted by the bound), 4 read; the chain is replaced.
          const gs = [];
          for (let i = 0; i < 4; i++) { const g = await send(bob, toAlice); bob = g.state; gs.push(g); }
          const mid = alice;
          const d3 = await Q.ratchetDecrypt(alice, gs[3].header, gs[3].ciphertext, toAlice(gs[3].header), random, { maxStoredSkipped: 2 });
          out.skip = [holds(d3.state, steps(mid).filter((x) => mid.recvChain === x || mid.recvChain.step === x || mid.recvChain.key === x)),
                      d3.state.sendChain === mid.sendChain, d3.skipped.map((s) => s.n), d3.discarded.map((s) => s.n), d3.state.skipped.length];
          let ck = mid.recvChainKey;
          for (let i = 0; i < 4; i++) ck = (await Q.kdfCk(ck))[0]; // 1, 2, 3 skipped, 4 read
          out.skipValues = [hex(d3.state.recvChainKey) === hex(ck), hex((await d3.state.recvChain.step).next) === hex((await Q.kdfCk(ck))[0])];
          // Too many skipped: refused, nothing changed.
          out.tooMany = await errName(() => Q.ratchetDecrypt(alice, gs[3].header, gs[3].ciphertext, toAlice(gs[3].header), random, { maxSkip: 2 }));
          // retireState zeroes what only the old state held (as Session does on commit).
          const oldRecv = mid.recvChainKey, oldRoot = mid.rootKey, oldStep = await mid.recvChain.step;
          Q.retireState(mid, d3.state);
          await mid.recvChain.step;
          out.retired = [oldRecv.every((b) => b === 0), hex(oldRoot) === hex(d3.state.rootKey) && d3.state.rootKey.some((b) => b !== 0),
                         d3.state.skipped.every((k) => k.messageKey.some((b) => b !== 0)), oldStep.next.every((b) => b === 0),
                         (await d3.state.recvChain.step).next.some((b) => b !== 0), (await d3.state.sendChain.step).next.some((b) => b !== 0)];
          const used = d3.state.skipped.find((k) => k.n === 3).messageKey, kept = d3.state.skipped.find((k) => k.n === 2).messageKey;
          const late = await Q.ratchetDecrypt(d3.state, gs[2].header, gs[2].ciphertext, toAlice(gs[2].header), random);
          Q.retireState(d3.state, late.state);
          out.late = [late.late, used.every((b) => b === 0), kept.some((b) => b !== 0), late.state.skipped.length];
          const late2 = await Q.ratchetDecrypt(late.state, gs[1].header, gs[1].ciphertext, toAlice(gs[1].header), random);
          out.late2 = [late2.late, late2.state.skipped.length];
          // wipeState: byte keys and the precomputed next chain keys are zeroed.
          const last = late2.state;
          Q.wipeState(last);
          const nexts = await Promise.all([last.sendChain.step, last.recvChain.step]);
          out.wiped = [last.rootKey, last.sendChainKey, last.recvChainKey, ...last.skipped.map((k) => k.messageKey), ...nexts.map((s) => s.next)]
            .every((k) => k.every((b) => b === 0));
          return out;
        }"""
    )
    assert got == {
        "dhStep": [False, True, True],
        "dhStepValues": True,
        "dhRetired": [True, True, True, True],
        "skip": [False, True, [1, 2, 3], [1], 2],
        "skipValues": [True, True],
        "tooMany": "TooManySkipped",
        "retired": [True, True, True, True, True, True],
        "late": [True, True, True, 1],
        "late2": [True, 0],
        "wiped": True,
    }


def test_a_new_chain_read_from_a_skipped_counter_keeps_working(page: Page) -> None:
    """A DH step and a skip in one call (the chain the DH step made is replaced at once
    and zeroed): every message of that chain, late or next, still opens, and so do
    the replies from the sending chain the same DH step made."""
    page.evaluate(RATCHET_PAIR, "dh-and-skip")
    got = page.evaluate(
        """async () => {
          let { alice, bob, random, toBob, toAlice, hex } = R;
          const read = async (who, e, aadFor) => {
            const d = await Q.ratchetDecrypt(who, e.header, e.ciphertext, aadFor(e.header), random);
            Q.retireState(who, d.state);
            return d;
          };
          const e0 = await Q.ratchetEncrypt(alice, random(256), toBob); alice = e0.state;
          bob = (await read(bob, e0, toBob)).state;
          const sent = [];
          for (let i = 0; i < 4; i++) {
            const pt = random(256);
            const g = await Q.ratchetEncrypt(bob, pt, toAlice); bob = g.state;
            sent.push({ g, pt });
          }
          const opened = [];
          for (const i of [2, 3, 0, 1]) {
            const d = await read(alice, sent[i].g, toAlice);
            alice = d.state;
            opened.push([i, hex(d.plaintext) === hex(sent[i].pt), d.late, d.skipped.map((s) => s.n)]);
          }
          const pt = random(256);
          const reply = await Q.ratchetEncrypt(alice, pt, toBob);
          const back = await read(bob, reply, toBob);
          return { opened, reply: hex(back.plaintext) === hex(pt), skipped: alice.skipped.length };
        }"""
    )
    assert got == {
        "opened": [
            [2, True, False, [0, 1]],
            [3, True, False, []],
            [0, True, True, []],
            [1, True, True, []],
        ],
        "reply": True,
        "skipped": 0,
    }


def test_a_failed_precompute_is_never_an_unhandled_rejection(page: Page) -> None:
    page.evaluate(RATCHET_PAIR, "rejection")
    got = page.evaluate(
        """async () => {
          const seen = [];
          const listener = (e) => { seen.push(e.reason && e.reason.message); e.preventDefault(); };
          window.addEventListener("unhandledrejection", listener);
          // An empty HMAC key: WebCrypto refuses it, so these chains' steps reject. Nobody
          // ever awaits the first one (as with a chain a DH step or a skip replaced).
          Q.startChain(new Uint8Array(0));
          const chain = Q.startChain(new Uint8Array(0));
          const stepError = await chain.step.then(() => "resolved", (e) => e.name);
          const state = Object.freeze({ ...R.alice, sendChain: chain });
          const encryptError = await R.errName(() => Q.ratchetEncrypt(state, new Uint8Array(256), R.toBob));
          // Events are dispatched in order: once the control's arrives, the chain's would have.
          await new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("no unhandledrejection event for the control")), 5000);
            window.addEventListener("unhandledrejection", () => { clearTimeout(timer); resolve(); }, { once: true });
            Promise.reject(new Error("control"));
          });
          window.removeEventListener("unhandledrejection", listener);
          return { stepError, encryptError, seen };
        }"""
    )
    assert got == {
        "stepError": "DataError",
        "encryptError": "untyped DataError",
        "seen": ["control"],
    }


def test_a_message_on_alices_initial_dhr_is_a_decryption_error(page: Page) -> None:
    page.evaluate(RATCHET_PAIR, "prekey-dhr")
    got = page.evaluate(
        """async () => {
          const { alice, bobKey, random, toAlice, errName } = R;
          const header = Q.makeHeader(bobKey.publicKey, 0, 0);
          return await errName(() => Q.ratchetDecrypt(alice, header, new Uint8Array(272), toAlice(header), random));
        }"""
    )
    assert got == "DecryptionError"


def test_drop_during_an_operation(page: Page) -> None:
    page.evaluate(JS_PAIR, 2)
    got = page.evaluate(
        """async () => {
          const name = (p) => p.then(() => "ok", (e) => e.name);
          const sending = name(A.encrypt({ t: "text", body: "late", ts: 1 }));
          const reading = name(A.decrypt(E[0]));
          A.drop();
          return [await sending, await reading, A.closed];
        }"""
    )
    assert got == ["LocalProtocolError", "LocalProtocolError", True]


def test_counter_limits_match_e2ee(page: Page) -> None:
    """As e2ee/ratchet.py: a counter is at most 2**32 - 2. A genuine message there opens,
    one at 2**32 - 1 is DecryptionError though its tag is good; the sender encrypts at
    2**32 - 2 and refuses the next; a previous chain's length (pn) may be 2**32 - 1."""
    page.evaluate(RATCHET_PAIR, "counter-limits")
    got = page.evaluate(
        """async () => {
          let { alice, bob, random, toBob, errName } = R;
          const LIMIT = Q.COUNTER_LIMIT;  // 2**32 - 1
          const e0 = await Q.ratchetEncrypt(alice, random(256), toBob); alice = e0.state;
          bob = (await Q.ratchetDecrypt(bob, e0.header, e0.ciphertext, toBob(e0.header), random)).state;
          const [, mk] = await Q.kdfCk(alice.sendChainKey);
          const out = {};
          for (const [n, pn] of [[LIMIT - 1, 0], [LIMIT, 0], [LIMIT - 1, LIMIT]]) {
            const header = Q.makeHeader(alice.dhs.publicKey, pn, n);
            const nonce = random(12);
            const ct = Q.concatBytes(nonce, await Q.aes256gcmEncrypt(mk, nonce, random(256), toBob(header)));
            const atLimit = Object.freeze({ ...bob, nr: n });
            out[`${n}/${pn}`] = await Q.ratchetDecrypt(atLimit, header, ct, toBob(header), random)
              .then((d) => "ok nr=" + d.state.nr, (e) => e.name);
          }
          const last = Object.freeze({ ...alice, ns: LIMIT - 1 });
          const sent = await Q.ratchetEncrypt(last, random(256), toBob);
          out.send = [sent.header.n, await errName(() => Q.ratchetEncrypt(sent.state, random(256), toBob))];
          return out;
        }"""
    )
    limit = 2**32 - 1
    assert got == {
        f"{limit - 1}/0": f"ok nr={limit}",
        f"{limit}/0": "DecryptionError",
        f"{limit - 1}/{limit}": f"ok nr={limit}",
        "send": [limit - 1, "LocalProtocolError"],
    }


def test_a_message_on_alices_first_remote_key_is_a_forgery_not_a_replay(page: Page) -> None:
    """As e2ee: Alice's initial dhr (Bob's prekey) never had a receiving chain, so it is not
    a finished chain to remember; a message naming it after the first DH step is a plain
    DecryptionError, never ReplayedMessage (which would say it once was genuine)."""
    page.evaluate(RATCHET_PAIR, "first-remote-key")
    got = page.evaluate(
        """async () => {
          let { alice, bob, bobKey, random, toBob, toAlice } = R;
          const e0 = await Q.ratchetEncrypt(alice, random(256), toBob); alice = e0.state;
          bob = (await Q.ratchetDecrypt(bob, e0.header, e0.ciphertext, toBob(e0.header), random)).state;
          const f0 = await Q.ratchetEncrypt(bob, random(256), toAlice); bob = f0.state;
          alice = (await Q.ratchetDecrypt(alice, f0.header, f0.ciphertext, toAlice(f0.header), random)).state;
          const header = Q.makeHeader(bobKey.publicKey, 0, 0);
          return Q.ratchetDecrypt(alice, header, random(272), toAlice(header), random)
            .then(() => "ok", (e) => e.name);
        }"""
    )
    assert got == "DecryptionError"


def test_two_states_with_one_message_key_never_reuse_a_nonce(page: Page) -> None:
    """The widget's side of issue 18: two states holding the same sending chain (as a
    restored copy would) encrypt under the same message key, each with its own nonce from
    crypto.getRandomValues (ratchetEncrypt's default); the XOR of the ciphertexts is not
    the XOR of the plaintexts, and the receiver refuses the second as a replay."""
    page.evaluate(RATCHET_PAIR, "restored")
    got = page.evaluate(
        """async () => {
          const { alice, bob, toBob, random, errName, hex } = R;
          const seed = await seeded("restored");  // the same stream again: the same keys
          const sk = seed(32);
          const bobKey = await Q.X25519PrivateKey.fromSecret(seed(32));
          seed(16);
          const copy = await Q.initAlice(sk, bobKey.publicKey, seed);
          const enc = new TextEncoder();
          const pt1 = enc.encode("meet me at the library at 5pm");
          const pt2 = enc.encode("I am at my sister's place now");
          const e1 = await Q.ratchetEncrypt(alice, pt1, toBob);
          const e2 = await Q.ratchetEncrypt(copy, pt2, toBob);
          const xor = (a, b) => a.map((v, i) => v ^ b[i]);
          const body = (e) => e.ciphertext.slice(12, 12 + pt1.length);
          const short = await errName(() => Q.ratchetDecrypt(bob, e1.header, e1.ciphertext.slice(0, 27), toBob(e1.header), random));
          const otherNonce = e1.ciphertext.slice(); otherNonce[11] ^= 1;
          const tampered = await errName(() => Q.ratchetDecrypt(bob, e1.header, otherNonce, toBob(e1.header), random));
          const d1 = await Q.ratchetDecrypt(bob, e1.header, e1.ciphertext, toBob(e1.header), random);
          return {
            refused: [short, tampered],
            sameKey: hex(alice.sendChainKey) === hex(copy.sendChainKey),
            sameHeader: hex(Q.encodeHeader(e1.header)) === hex(Q.encodeHeader(e2.header)),
            nonces: hex(e1.ciphertext.slice(0, 12)) !== hex(e2.ciphertext.slice(0, 12)),
            lengths: [pt1.length, pt2.length],
            relation: hex(xor(body(e1), body(e2))) === hex(xor(pt1, pt2)),
            first: new TextDecoder().decode(d1.plaintext),
            second: await errName(() => Q.ratchetDecrypt(d1.state, e2.header, e2.ciphertext, toBob(e2.header), random)),
          };
        }"""
    )
    assert got == {
        "refused": ["DecryptionError", "DecryptionError"],
        "sameKey": True,
        "sameHeader": True,
        "nonces": True,
        "lengths": [29, 29],
        "relation": False,
        "first": "meet me at the library at 5pm",
        "second": "ReplayedMessage",
    }
