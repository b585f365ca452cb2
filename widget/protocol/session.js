// A conversation between two slots: the handshake plus the Double Ratchet, from payload
// objects to envelope bytes and back (docs/protocol.md, "Handshake" and "Envelope").
//
// Participant (Alice), from a bundle verifyBundle accepted:
//   conversation_id = random(16)
//   prekey = one_time_prekey if present else signed_prekey
//   info = "quietline/v1/handshake" || program_id || conversation_id || u8(prekey_kind) || u32(prekey_id)
//   enc, ctx = SetupBaseS(prekey.public_key, info); SK = ctx.Export("quietline/v1/ratchet-root", 32)
//   ratchet = RatchetInitAlice(SK, prekey.public_key)
// The first envelope is kind init (carries prekey_kind, prekey_id, enc); later ones are
// kind message. The program (Bob) runs SetupBaseR from the init envelope's fields and
// RatchetInitBob with the prekey pair (acceptConversation, used by tests and tools).
//
// Security properties:
// - Calls are serialised: two concurrent encrypt() calls can never reuse a message key,
//   and every message gets a fresh 12-byte AES-GCM nonce from `random` (ratchet.js).
// - decrypt() works on a copy; the session's state changes only when the envelope's tag
//   verified and its payload decoded. Any failure leaves the session exactly as it was.
// - drop() overwrites the byte keys it holds and forgets every CryptoKey; the session is
//   unusable afterwards (LocalProtocolError).
// - The padded plaintext bytes are overwritten once sealed or decoded.
// - When a new state replaces the old one, the byte keys only the old one held (the chain
//   key a message advanced past, a used or evicted skipped key, an old root key) are
//   overwritten at once (ratchet.js retireState).

import { concatBytes, constantTimeEqual, u32, utf8Encode } from "./encoding.js";
import { DecryptionError, LocalProtocolError } from "./errors.js";
import {
  CONVERSATION_ID_SIZE,
  KIND_INIT,
  PARTICIPANT_SLOT,
  PREKEY_KIND_ONE_TIME,
  PREKEY_KIND_SIGNED,
  PROGRAM_SLOT,
  envelopeAad,
  makeInitFields,
  parseEnvelope,
} from "./envelope.js";
import { setupBaseR, setupBaseS } from "./hpke.js";
import { unpaddedLength } from "./padding.js";
import { decodePayload, encodePaddedPayload } from "./payload.js";
import { X25519PrivateKey, systemRandom } from "./primitives.js";
import { MAX_SKIP, MAX_STORED_SKIPPED, describeState, initAlice, initBob, ratchetDecrypt, ratchetEncrypt, retireState, wipeState } from "./ratchet.js";

const INITIATOR = 0;
const RESPONDER = 1;
export const HANDSHAKE_INFO_LABEL = utf8Encode("quietline/v1/handshake");
export const RATCHET_ROOT_LABEL = utf8Encode("quietline/v1/ratchet-root");

/** info = "quietline/v1/handshake" || program_id || conversation_id || u8(prekey_kind) || u32(prekey_id). */
export function handshakeInfo(programId, conversationId, prekeyKind, prekeyId) {
  return concatBytes(HANDSHAKE_INFO_LABEL, programId, conversationId, Uint8Array.of(prekeyKind), u32(prekeyId));
}

async function rootFromContext(context) {
  try {
    return await context.export(RATCHET_ROOT_LABEL, 32);
  } finally {
    context.destroy();
  }
}

export class Session {
  #state;
  #random;
  #limits;
  #pendingInit;
  #role;
  #lock = Promise.resolve();

  /** Use startConversation / acceptConversation; this constructor is internal. */
  constructor({ state, conversationId, localSlot, remoteSlot, role, pendingInit = null, random = systemRandom, maxSkip = MAX_SKIP, maxStoredSkipped = MAX_STORED_SKIPPED }) {
    this.#state = state;
    this.#random = random;
    this.#limits = { maxSkip, maxStoredSkipped };
    this.#pendingInit = pendingInit;
    this.#role = role;
    this.conversationId = conversationId;
    this.localSlot = localSlot;
    this.remoteSlot = remoteSlot;
    Object.freeze(this);
  }

  /** Run `fn` after every earlier call finished (one operation at a time). */
  #serial(fn) {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Replace `old` (the state an operation started from) by `next`, zeroing what only `old` held. */
  #commit(old, next) {
    if (this.#state === null) {
      wipeState(next); // dropped while the operation ran: nothing keeps its keys
      throw new LocalProtocolError("the session was dropped");
    }
    this.#state = next;
    retireState(old, next);
  }

  #live() {
    if (this.#state === null) throw new LocalProtocolError("the session was dropped");
    return this.#state;
  }

  get closed() {
    return this.#state === null;
  }

  /** Counters only (ns, nr, pn, skipped, canSend), never a key. */
  describe() {
    return describeState(this.#live());
  }

  /** Encrypt one payload object ({t, ...}) into envelope bytes for the other slot. */
  encrypt(payload) {
    return this.#serial(async () => {
      const state = this.#live();
      const plaintext = encodePaddedPayload(payload);
      const init = this.#pendingInit;
      let aad = null;
      let out;
      try {
        out = await ratchetEncrypt(state, plaintext, (header) => (aad = envelopeAad(this.conversationId, this.localSlot, this.remoteSlot, header, init)), this.#random);
      } finally {
        plaintext.fill(0); // AES-GCM copied it
      }
      this.#commit(state, out.state);
      this.#pendingInit = null;
      // An envelope is its AAD (every byte before the ciphertext, built once, above) then
      // the ciphertext (nonce || GCM output): the tag covers all of it.
      return concatBytes(aad, out.ciphertext);
    });
  }

  /**
   * Decrypt envelope bytes from the other slot. Returns {payload, missing, skipped, late,
   * discarded}: `skipped` lists the counters ({n}, within the sender's chains) of
   * messages that should have arrived before this one and did not (yet), `missing` is
   * their number, `late` says this one was such a message, `discarded` lists stored keys
   * the bound dropped (those messages can never be read). Failures: MalformedInput,
   * OversizedInput, DecryptionError, ReplayedMessage, TooManySkipped; the state is unchanged.
   */
  decrypt(envelopeBytes) {
    return this.#serial(async () => {
      const state = this.#live();
      const envelope = parseEnvelope(envelopeBytes);
      // Another conversation or slot, or an init sent to the initiator: refused like a
      // forgery (DecryptionError, as e2ee/session.py does).
      if (
        !constantTimeEqual(envelope.conversationId, this.conversationId) ||
        envelope.senderSlot !== this.remoteSlot ||
        envelope.recipientSlot !== this.localSlot ||
        (envelope.kind === KIND_INIT && this.#role !== RESPONDER)
      ) {
        throw new DecryptionError();
      }
      const out = await ratchetDecrypt(state, envelope.header, envelope.ciphertext, envelope.aad, this.#random, this.#limits);
      let payload;
      try {
        payload = decodePayload(out.plaintext.subarray(0, unpaddedLength(out.plaintext)));
      } finally {
        out.plaintext.fill(0); // the payload holds its own strings
      }
      this.#commit(state, out.state);
      return Object.freeze({
        payload,
        missing: out.skipped.length,
        skipped: out.skipped.map((m) => ({ n: m.n })),
        late: out.late,
        discarded: out.discarded.map((m) => ({ n: m.n })),
      });
    });
  }

  /** Forget every key at once (the conversation is over); later calls raise. */
  drop() {
    if (this.#state !== null) wipeState(this.#state);
    this.#state = null;
    this.#pendingInit = null;
    // The engine keeps the subject of the last regular-expression match (RegExp.input),
    // which can be decrypted JSON; matching an empty string replaces it.
    /(?:)/.exec("");
  }
}

function checkVerifiedBundle(verified) {
  if (!verified || !(verified.programId instanceof Uint8Array) || !verified.prekey || !(verified.prekey.publicKey instanceof Uint8Array)) {
    throw new LocalProtocolError("startConversation takes the result of verifyBundle");
  }
}

/**
 * The participant's side: handshake to the bundle's prekey (verified by verifyBundle).
 * If `firstPayload` is given, it is encrypted into the init envelope at once.
 * Options: random (n -> Uint8Array; default the CSPRNG), maxSkip, maxStoredSkipped.
 * Returns {session, envelope (Uint8Array | null), conversationId}.
 * Randomness is drawn in this order: conversation_id (16), HPKE ikmE (32), the first
 * ratchet key (32), then the first message's nonce (12) if `firstPayload` is given.
 */
export async function startConversation(verified, firstPayload = null, options = {}) {
  checkVerifiedBundle(verified);
  const random = options.random ?? systemRandom;
  const conversationId = random(CONVERSATION_ID_SIZE);
  const prekeyKind = verified.oneTimePrekey ? PREKEY_KIND_ONE_TIME : PREKEY_KIND_SIGNED;
  const prekey = verified.prekey;
  const info = handshakeInfo(verified.programId, conversationId, prekeyKind, prekey.prekeyId);
  const { enc, context } = await setupBaseS(prekey.publicKey, info, { random });
  const sk = await rootFromContext(context);
  const state = await initAlice(sk, prekey.publicKey, random);
  sk.fill(0);
  const session = new Session({
    state,
    conversationId,
    localSlot: PARTICIPANT_SLOT,
    remoteSlot: PROGRAM_SLOT,
    role: INITIATOR,
    pendingInit: makeInitFields(prekeyKind, prekey.prekeyId, enc),
    random,
    maxSkip: options.maxSkip,
    maxStoredSkipped: options.maxStoredSkipped,
  });
  const envelope = firstPayload === null ? null : await session.encrypt(firstPayload);
  return { session, envelope, conversationId };
}

/**
 * The program's side of an init envelope (tests, tools): `prekeySecret` is the 32-byte
 * X25519 secret of the prekey the envelope names (or an X25519PrivateKey).
 * Returns {session, payload, ...decrypt result}.
 */
export async function acceptConversation(initEnvelopeBytes, programId, prekeySecret, options = {}) {
  const envelope = parseEnvelope(initEnvelopeBytes);
  if (envelope.kind !== KIND_INIT || envelope.senderSlot !== PARTICIPANT_SLOT || envelope.recipientSlot !== PROGRAM_SLOT) {
    throw new DecryptionError();
  }
  const prekeyPair = prekeySecret instanceof X25519PrivateKey ? prekeySecret : await X25519PrivateKey.fromSecret(prekeySecret);
  const info = handshakeInfo(programId, envelope.conversationId, envelope.init.prekeyKind, envelope.init.prekeyId);
  const context = await setupBaseR(envelope.init.enc, prekeyPair, info);
  const sk = await rootFromContext(context);
  const state = initBob(sk, prekeyPair);
  sk.fill(0);
  const session = new Session({
    state,
    conversationId: envelope.conversationId,
    localSlot: PROGRAM_SLOT,
    remoteSlot: PARTICIPANT_SLOT,
    role: RESPONDER,
    random: options.random ?? systemRandom,
    maxSkip: options.maxSkip,
    maxStoredSkipped: options.maxStoredSkipped,
  });
  const result = await session.decrypt(initEnvelopeBytes);
  return { session, ...result };
}
