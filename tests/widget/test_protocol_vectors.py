# ruff: noqa: E501  (the JavaScript run in the page is kept readable, not wrapped)
"""The widget reproduces tests/vectors/protocol-v1.json in Chromium, value for value.

Two passes over the same vectors, both in the page:

1. Every intermediate value, primitive by primitive: identity (program id, fingerprint,
   signed messages, signatures, bodies, the bundle), the handshake (info, HPKE ikm_e ->
   sk_e/pk_e/enc, shared secret, key schedule, exporter, SK), both ratchet
   initialisations, and for each of the 26 messages KDF_CK, the message key's AES key,
   the nonce (the random bytes the sender consumed), header, AAD, payload JSON, padding,
   ciphertext (nonce || AES-GCM output) and envelope. Then the whole
   conversation at the ratchet layer in the vectors' delivery order (out of order, one
   duplicate): each DH ratchet step's values, skipped ids, late flags, payloads, replay
   refusal and the receiver's full ratchet state after each delivery.
2. The public session API (startConversation / acceptConversation / encrypt / decrypt)
   driven by the vectors' random bytes must produce the same envelope bytes and the same
   results, in the same interleaving.

The page returns [name, got, expected] triples; Python compares them so a failure names
the first differing value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "protocol-v1.json"

COMMON = """
const h = Q.hexDecode, x = Q.hexEncode;
const checks = [];
const eq = (name, got, expected) => checks.push([name, got, expected]);
const utf8 = (t) => new TextEncoder().encode(t);
const pid = h(V.identity.program_id);
const cid = h(V.handshake.conversation_id);
const slot = (party) => (party === "participant" ? 0 : 1);
const other = (party) => (party === "participant" ? "program" : "participant");
// A random source that hands out exactly the given bytes (then, for the tampering
// checks after the vectors, the browser's CSPRNG).
const stream = (hex) => {
  const bytes = h(hex);
  let offset = 0;
  const random = (n) => {
    if (offset + n > bytes.length) {
      if (offset < bytes.length) throw new Error("vector random stream misaligned");
      return crypto.getRandomValues(new Uint8Array(n));
    }
    offset += n;
    return bytes.slice(offset - n, offset);
  };
  random.left = () => bytes.length - offset;
  return random;
};
const errName = async (f) => { try { await f(); return "ok"; } catch (e) { return e.name; } };
// Timeline: deliveries with after_sends == k happen after k messages were sent.
const timeline = [];
for (let k = 0; k <= V.messages.length; k++) {
  for (const d of V.deliveries) if (d.after_sends === k) timeline.push(["deliver", d]);
  if (k < V.messages.length) timeline.push(["send", V.messages[k]]);
}
"""

VALUES = (
    """async (V) => {
"""
    + COMMON
    + """
  // -- identity -------------------------------------------------------------------
  const ik = h(V.identity.identity_key);
  eq("program_id", x(await Q.programIdFor(ik)), V.identity.program_id);
  eq("program_id_b64u", Q.b64uEncode(await Q.programIdFor(ik)), V.identity.program_id_b64u);
  eq("fingerprint", await Q.fingerprint(ik), V.identity.fingerprint_text);
  for (const name of ["signed_prekey", "one_time_prekey", "profile", "status"]) {
    const o = V[name];
    eq(name + ".signed_message", x(Q.signedMessage(o.label, pid, h(o.body))), o.signed_message);
    eq(name + ".verify", await errName(() => Q.verifySignature(ik, o.label, pid, h(o.body), h(o.signature))), "ok");
    const wrong = o.label === "profile" ? "status" : "profile";
    eq(name + ".other label", await errName(() => Q.verifySignature(ik, wrong, pid, h(o.body), h(o.signature))), "InvalidSignature");
    const so = Q.parseSignedObject(o.json);
    eq(name + ".json.body", x(so.body), o.body);
    eq(name + ".json.signature", x(so.signature), o.signature);
  }
  for (const name of ["signed_prekey", "one_time_prekey"]) {
    const o = V[name];
    const body = Q.parsePrekeyBody(h(o.body));
    eq(name + ".prekey_id", body.prekeyId, o.prekey_id);
    eq(name + ".public_key", x(body.publicKey), o.public_key);
    eq(name + ".expires_at", body.expiresAt, o.expires_at);
    eq(name + ".public_from_secret", x((await Q.X25519PrivateKey.fromSecret(h(o.secret))).publicKey), o.public_key);
  }
  for (const name of ["profile", "status"]) {
    const o = V[name];
    eq(name + ".body_text", Q.utf8Decode(h(o.body)), o.body_text);
    eq(name + ".canonical", x(Q.canonicalJson(JSON.parse(o.body_text))), o.body);
  }
  const vb = await Q.verifyBundle(V.bundle, ik, { now: V.now });
  eq("bundle.program_id", x(vb.programId), V.identity.program_id);
  eq("bundle.prekey_kind", vb.prekeyKind, V.handshake.prekey_kind);
  eq("bundle.prekey_id", vb.prekey.prekeyId, V.handshake.prekey_id);
  eq("bundle.prekey_public", x(vb.prekey.publicKey), V.handshake.prekey_public);
  eq("bundle.profile", JSON.stringify(Q.canonicalJson(vb.profile).length > 0), "true");
  eq("bundle.profile.name", vb.profile.name, JSON.parse(V.profile.body_text).name);
  eq("bundle.status", vb.status.state, JSON.parse(V.status.body_text).state);
  eq("bundle.signed_prekey_id", vb.signedPrekey.prekeyId, V.signed_prekey.prekey_id);

  // -- handshake -------------------------------------------------------------------
  const hs = V.handshake, hp = hs.hpke;
  eq("handshake.random", hs.random.slice(0, 32), hs.conversation_id);
  eq("handshake.random.ikm_e", hs.random.slice(32, 96), hp.ikm_e);
  const info = Q.handshakeInfo(pid, cid, hs.prekey_kind, hs.prekey_id);
  eq("handshake.info", x(info), hs.info);
  eq("hpke.suite", [hp.mode, hp.kem_id, hp.kdf_id, hp.aead_id].join(), [0, Q.KEM_ID, Q.KDF_ID, Q.AEAD_ID].join());
  eq("hpke.sk_e", x(await Q.deriveKeyPairSecret(h(hp.ikm_e))), hp.sk_e);
  eq("hpke.pk_e", x((await Q.deriveKeyPair(h(hp.ikm_e))).publicKey), hp.pk_e);
  const { sharedSecret, enc } = await Q.encap(h(hs.prekey_public), { ikmE: h(hp.ikm_e) });
  eq("hpke.enc", x(enc), hp.enc);
  eq("hpke.shared_secret", x(sharedSecret), hp.shared_secret);
  const ephemeral = await Q.deriveKeyPair(h(hp.ikm_e));
  eq("hpke.dh", x(await ephemeral.exchange(h(hs.prekey_public))), hp.dh);
  eq("hpke.kem_context", x(Q.concatBytes(enc, h(hs.prekey_public))), hp.kem_context);
  const prekeyPair = await Q.X25519PrivateKey.fromSecret(h(V.one_time_prekey.secret));
  eq("hpke.decap", x(await Q.decap(enc, prekeyPair)), hp.shared_secret);
  const ks = await Q.keyScheduleBase(sharedSecret, info);
  eq("hpke.key_schedule_context", x(ks.keyScheduleContext), hp.key_schedule_context);
  eq("hpke.secret", x(ks.secret), hp.secret);
  eq("hpke.exporter_secret", x(ks.exporterSecret), hp.exporter_secret);
  eq("hpke.key", x(ks.key), hp.key);
  eq("hpke.base_nonce", x(ks.baseNonce), hp.base_nonce);
  const { context } = await Q.setupBaseS(h(hs.prekey_public), info, { ikmE: h(hp.ikm_e) });
  eq("hpke.exporter_context", hp.exporter_context_text, "quietline/v1/ratchet-root");
  eq("hpke.exported_sk", x(await context.export(utf8(hp.exporter_context_text), 32)), hp.exported_sk);
  const rctx = await Q.setupBaseR(h(hp.enc), prekeyPair, info);
  eq("hpke.exported_sk (recipient)", x(await rctx.export(Q.RATCHET_ROOT_LABEL, 32)), hp.exported_sk);
  const sk = h(hp.exported_sk);

  // -- ratchet initialisation ------------------------------------------------------
  const pi = hs.participant_init;
  eq("participant_init.secret_from_random", hs.random.slice(96), pi.dhs_secret);
  const aliceKey = await Q.X25519PrivateKey.fromSecret(h(pi.dhs_secret));
  eq("participant_init.dhs_public", x(aliceKey.publicKey), pi.dhs_public);
  eq("participant_init.dh_out", x(await aliceKey.exchange(h(pi.dhr))), pi.dh_out);
  const [rk0, cks0] = await Q.kdfRk(sk, h(pi.dh_out));
  eq("participant_init.root_key", x(rk0), pi.root_key);
  eq("participant_init.send_chain_key", x(cks0), pi.send_chain_key);
  let alice = await Q.initAlice(sk, h(pi.dhr), stream(pi.dhs_secret));
  eq("alice.dhs_public", x(alice.dhs.publicKey), pi.dhs_public);
  eq("alice.root_key", x(alice.rootKey), pi.root_key);
  eq("alice.send_chain_key", x(alice.sendChainKey), pi.send_chain_key);
  const bi = hs.program_init;
  eq("program_init.dhs", bi.dhs_secret + bi.dhs_public, V.one_time_prekey.secret + V.one_time_prekey.public_key);
  let bob = Q.initBob(sk, prekeyPair);
  eq("bob.root_key", x(bob.rootKey), bi.root_key);
  const states = { participant: alice, program: bob };

  // -- every message, primitive by primitive -----------------------------------------
  for (const m of V.messages) {
    const tag = "messages[" + m.index + "].";
    const [after, mk] = await Q.kdfCk(h(m.chain_key_before));
    eq(tag + "chain_key_after", x(after), m.chain_key_after);
    eq(tag + "message_key", x(mk), m.message_key);
    const nonce = h(m.nonce);
    eq(tag + "nonce is the random consumed", m.nonce, m.random);
    eq(tag + "nonce size", nonce.length, Q.NONCE_SIZE);
    const hf = m.header_fields;
    const header = Q.makeHeader(h(hf.dh), hf.pn, hf.n);
    eq(tag + "header", x(Q.encodeHeader(header)), m.header);
    const init = m.kind === "init" ? Q.makeInitFields(hs.prekey_kind, hs.prekey_id, h(hp.enc)) : null;
    const aad = Q.envelopeAad(cid, slot(m.from), slot(other(m.from)), header, init);
    eq(tag + "aad", x(aad), m.aad);
    const payload = Q.decodePayload(utf8(m.payload_text));
    eq(tag + "payload", x(Q.encodePayload(payload)), x(utf8(m.payload_text)));
    eq(tag + "padded", x(Q.pad(Q.encodePayload(payload))), m.padded);
    const ct = Q.concatBytes(nonce, await Q.aes256gcmEncrypt(mk, nonce, h(m.padded), aad));
    eq(tag + "ciphertext", x(ct), m.ciphertext);
    eq(tag + "envelope", x(Q.concatBytes(aad, ct)), m.envelope);
    const parsed = Q.parseEnvelope(h(m.envelope));
    eq(tag + "parsed", [parsed.version, parsed.kind, parsed.senderSlot, parsed.header.n, parsed.header.pn, x(parsed.nonce), x(parsed.ciphertext)].join(),
       [V.envelope_version, m.kind === "init" ? 1 : 2, slot(m.from), hf.n, hf.pn, m.nonce, m.ciphertext].join());
  }

  // -- the conversation at the ratchet layer, in delivery order ----------------------
  const hexOrNull = (v) => (v === null ? null : x(v));
  let deliveries = 0, sends = 0;
  for (const [what, ev] of timeline) {
    if (what === "send") {
      const m = ev, st = states[m.from];
      const init = m.kind === "init" ? Q.makeInitFields(hs.prekey_kind, hs.prekey_id, h(hp.enc)) : null;
      const nonces = stream(m.random);
      const out = await Q.ratchetEncrypt(st, h(m.padded), (hd) => Q.envelopeAad(cid, slot(m.from), slot(other(m.from)), hd, init), nonces);
      eq("send " + m.index + " random used", nonces.left(), 0);
      eq("send " + m.index + " header", x(Q.encodeHeader(out.header)), m.header);
      eq("send " + m.index + " ciphertext", x(out.ciphertext), m.ciphertext);
      states[m.from] = out.state;
      sends += 1;
      continue;
    }
    const d = ev, tag = "deliver " + d.message + " to " + d.to + " ";
    const env = Q.parseEnvelope(h(V.messages[d.message].envelope));
    const st = states[d.to];
    const random = stream(d.random);
    if (d.expected === "replayed") {
      eq(tag + "replay", await errName(() => Q.ratchetDecrypt(st, env.header, env.ciphertext, env.aad, random)), "ReplayedMessage");
      deliveries += 1;
      continue;
    }
    if (d.dh_ratchet_step) {
      const s = d.dh_ratchet_step;
      eq(tag + "dh_out_1", x(await st.dhs.exchange(env.header.dh)), s.dh_out_1);
      const [rk1, ckr] = await Q.kdfRk(st.rootKey, h(s.dh_out_1));
      eq(tag + "root_key_1", x(rk1), s.root_key_1);
      eq(tag + "recv_chain_key", x(ckr), s.recv_chain_key);
      eq(tag + "new_dhs_secret", s.new_dhs_secret, d.random);
      const newKey = await Q.X25519PrivateKey.fromSecret(h(s.new_dhs_secret));
      eq(tag + "new_dhs_public", x(newKey.publicKey), s.new_dhs_public);
      eq(tag + "dh_out_2", x(await newKey.exchange(env.header.dh)), s.dh_out_2);
      const [rk2, cks] = await Q.kdfRk(rk1, h(s.dh_out_2));
      eq(tag + "root_key_2", x(rk2), s.root_key_2);
      eq(tag + "send_chain_key", x(cks), s.send_chain_key);
    }
    const out = await Q.ratchetDecrypt(st, env.header, env.ciphertext, env.aad, random);
    eq(tag + "random used", random.left(), 0);
    eq(tag + "payload", Q.utf8Decode(Q.unpad(out.plaintext)), d.payload_text);
    eq(tag + "late", out.late, d.late);
    eq(tag + "skipped", JSON.stringify(out.skipped.map((s) => ({ dh: x(s.dh), n: s.n }))), JSON.stringify(d.skipped));
    const a = d.state_after, ns = out.state;
    eq(tag + "dhs_public", x(ns.dhs.publicKey), a.dhs_public);
    eq(tag + "dhs_secret", x((await Q.X25519PrivateKey.fromSecret(h(a.dhs_secret))).publicKey), a.dhs_public);
    eq(tag + "dhr", hexOrNull(ns.dhr), a.dhr);
    eq(tag + "root_key", x(ns.rootKey), a.root_key);
    eq(tag + "send_chain_key", hexOrNull(ns.sendChainKey), a.send_chain_key);
    eq(tag + "recv_chain_key", hexOrNull(ns.recvChainKey), a.recv_chain_key);
    eq(tag + "counters", [ns.ns, ns.nr, ns.pn].join(), [a.ns, a.nr, a.pn].join());
    eq(tag + "skipped keys", JSON.stringify(ns.skipped.map((k) => ({ dh: x(k.dh), n: k.n, message_key: x(k.messageKey) }))),
       JSON.stringify(a.skipped));
    states[d.to] = ns;
    deliveries += 1;
  }
  eq("sends", sends, V.messages.length);
  eq("deliveries", deliveries, V.deliveries.length);
  return checks;
}"""
)

SESSIONS = (
    """async (V) => {
"""
    + COMMON
    + """
  const hs = V.handshake;
  const ik = h(V.identity.identity_key);
  const verified = await Q.verifyBundle(V.bundle, { identityKey: V.bundle.identity_key, programId: V.identity.program_id_b64u, now: V.now });
  // Each party's randomness: exactly the bytes the vectors say it consumed, in order.
  // A send consumes its nonce (the init: after the handshake's 80 bytes).
  const feeds = { participant: [], program: [] };
  for (const [what, ev] of timeline) {
    if (what === "deliver") feeds[ev.to].push(ev.random);
    else feeds[ev.from].push(ev.index === 0 ? hs.random + ev.random : ev.random);
  }
  const random = { participant: stream(feeds.participant.join("")), program: stream(feeds.program.join("")) };
  const sessions = {};
  const first = V.messages[0];
  const started = await Q.startConversation(verified, JSON.parse(first.payload_text), { random: random.participant });
  sessions.participant = started.session;
  eq("init envelope", x(started.envelope), first.envelope);
  eq("conversation_id", x(started.conversationId), hs.conversation_id);
  const envelopes = [started.envelope];
  let seen = 0;
  for (const [what, ev] of timeline) {
    if (what === "send") {
      if (ev.index === 0) continue;
      const e = await sessions[ev.from].encrypt(JSON.parse(ev.payload_text));
      eq("session send " + ev.index, x(e), ev.envelope);
      envelopes.push(e);
      continue;
    }
    const d = ev, tag = "session deliver " + d.message + " to " + d.to + " ";
    const bytes = h(V.messages[d.message].envelope);
    if (d.expected === "replayed") {
      const before = JSON.stringify(sessions[d.to].describe());
      eq(tag + "replay", await errName(() => sessions[d.to].decrypt(bytes)), "ReplayedMessage");
      eq(tag + "unchanged", JSON.stringify(sessions[d.to].describe()), before);
      seen += 1;
      continue;
    }
    let r;
    if (d.to === "program" && !sessions.program) {
      r = await Q.acceptConversation(bytes, h(V.identity.program_id), h(V.one_time_prekey.secret), { random: random.program });
      sessions.program = r.session;
    } else {
      r = await sessions[d.to].decrypt(bytes);
    }
    eq(tag + "payload", x(Q.canonicalJson(r.payload)), x(utf8(d.payload_text)));
    eq(tag + "late", r.late, d.late);
    eq(tag + "missing", r.missing, d.skipped.length);
    eq(tag + "skipped n", JSON.stringify(r.skipped.map((s) => s.n)), JSON.stringify(d.skipped.map((s) => s.n)));
    const a = d.state_after, c = sessions[d.to].describe();
    eq(tag + "counters", [c.ns, c.nr, c.pn, c.skipped].join(), [a.ns, a.nr, a.pn, a.skipped.length].join());
    seen += 1;
  }
  eq("session deliveries", seen, V.deliveries.length);
  eq("participant random used", random.participant.left(), 0);
  eq("program random used", random.program.left(), 0);
  // Tampering with a real envelope: typed failure, nothing changes, the original still opens.
  const last = V.deliveries[V.deliveries.length - 1];
  const s = sessions.participant;
  const fresh = await sessions.program.encrypt({ t: "text", body: "still here", ts: 1 });
  const before = JSON.stringify(s.describe());
  for (const i of [0, 5, 19, 25, 60, 100, fresh.length - 1]) {
    const bad = fresh.slice(); bad[i] ^= 0x40;
    eq("tamper byte " + i, ["DecryptionError", "MalformedInput", "TooManySkipped"].includes(await errName(() => s.decrypt(bad))), true);
  }
  eq("tamper unchanged", JSON.stringify(s.describe()), before);
  eq("original after tampering", (await s.decrypt(fresh)).payload.body, "still here");
  s.drop();
  sessions.program.drop();
  eq("dropped", await errName(() => s.encrypt({ t: "duress", ts: 1 })), "LocalProtocolError");
  eq("last delivery", last.message >= 0, true);
  return checks;
}"""
)


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    assert data["protocol_version"] == 1 and data["envelope_version"] == 2
    assert len(data["messages"]) >= 24
    assert any(d["expected"] == "replayed" for d in data["deliveries"])
    assert any(d["late"] for d in data["deliveries"] if d["expected"] == "ok")
    return data


def _assert_all_equal(checks: list[list[Any]], minimum: int) -> None:
    assert len(checks) >= minimum, f"only {len(checks)} values were compared"
    wrong = [(name, got, expected) for name, got, expected in checks if got != expected]
    assert not wrong, f"{len(wrong)} of {len(checks)} values differ; first: {wrong[:5]}"


def test_every_intermediate_value(protocol_page: Page, vectors: dict[str, Any]) -> None:
    checks = protocol_page.evaluate(VALUES, vectors)
    _assert_all_equal(checks, minimum=600)


def test_session_api_reproduces_the_conversation(
    protocol_page: Page, vectors: dict[str, Any]
) -> None:
    checks = protocol_page.evaluate(SESSIONS, vectors)
    _assert_all_equal(checks, minimum=150)
    assert_loopback = protocol_page.requested_urls  # type: ignore[attr-defined]
    assert all(url.startswith("http://127.0.0.1:") for url in assert_loopback)
