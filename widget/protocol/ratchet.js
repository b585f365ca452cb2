// The Double Ratchet (Signal specification, revision 1, 2016-11-20) on WebCrypto,
// mirroring e2ee/ratchet.py value for value.
//
// - GENERATE_DH(): 32 bytes from the caller's `random` as the X25519 secret, held in a
//   non-extractable CryptoKey (X25519PrivateKey).
// - KDF_RK(rk, dh_out) = HKDF-SHA256(salt=rk, ikm=dh_out, info="quietline/v1/kdf-rk", L=64):
//   first half the new root key, second half the new chain key.
// - KDF_CK(ck): message_key = HMAC-SHA256(ck, 0x01), chain_key = HMAC-SHA256(ck, 0x02).
// - ENCRYPT(mk, pt, aad): AES-256-GCM with key = mk (the 32-byte message key of KDF_CK) and
//   a constant nonce of 12 zero bytes, which the spec allows because each message key is
//   used once (section 3.1): every message key encrypts exactly one message and is
//   deleted after its single use. The aad contains the header bytes (the envelope's AAD:
//   every byte before the ciphertext).
//
// States are frozen objects; every transition returns a new one and never mutates the
// old one, so decryption works on a copy: ratchetDecrypt returns a new state only when
// the AEAD tag verifies, and on any failure the caller still holds its old state.
// Failures: DecryptionError (silent about the cause), ReplayedMessage (a counter already
// consumed, or a chain already left), TooManySkipped (a gap over maxSkip).
// Skipped keys: at most maxStoredSkipped, oldest dropped first; a message key leaves the
// state as soon as it is used or evicted. previousDhr remembers PREVIOUS_RATCHET_KEYS old
// receiving ratchet public keys so a message from a finished chain is a replay, not a
// new DH step. A counter at 2**32 - 1 is never used (as in the Python reference).

import { constantTimeEqual, utf8Encode } from "./encoding.js";
import { DecryptionError, InvalidKey, LocalProtocolError, ReplayedMessage, TooManySkipped } from "./errors.js";
import { makeHeader } from "./envelope.js";
import {
  X25519PrivateKey,
  aes256gcmDecrypt,
  aes256gcmEncrypt,
  GCM_NONCE_SIZE,
  hkdf,
  hmacSign,
  importAesKey,
  importHmacKey,
  systemRandom,
} from "./primitives.js";

export const MAX_SKIP = 1000;
export const MAX_STORED_SKIPPED = 2000;
export const PREVIOUS_RATCHET_KEYS = 32;
export const COUNTER_LIMIT = 0xffffffff;
const KEY_SIZE = 32;
const KDF_RK_INFO = utf8Encode("quietline/v1/kdf-rk");
const CK_MESSAGE = Uint8Array.of(0x01);
const CK_CHAIN = Uint8Array.of(0x02);

// -- the three KDFs of the specification ------------------------------------------

/** KDF_RK: [new root key, new chain key]. */
export async function kdfRk(rootKey, dhOut) {
  const out = await hkdf(rootKey, dhOut, KDF_RK_INFO, 64);
  return [out.slice(0, 32), out.slice(32)];
}

/** KDF_CK: [next chain key, message key]. */
export async function kdfCk(chainKey) {
  const key = await importHmacKey(chainKey);
  const [next, mk] = await Promise.all([hmacSign(key, CK_CHAIN), hmacSign(key, CK_MESSAGE)]);
  return [next, mk];
}

/** ENCRYPT's AES-256-GCM nonce: constant (12 zero bytes); a fresh copy on every call. */
export function messageNonce() {
  return new Uint8Array(GCM_NONCE_SIZE);
}

/** ENCRYPT of the spec: {aesKey (the message key as a non-extractable CryptoKey), nonce}. */
export async function messageAead(messageKey) {
  return { aesKey: await importAesKey(messageKey), nonce: messageNonce() };
}

/** One symmetric-ratchet step of a chain key: {next, messageKey, aesKey, nonce}. */
export async function chainStep(chainKey) {
  const [next, messageKey] = await kdfCk(chainKey);
  const { aesKey, nonce } = await messageAead(messageKey);
  return { next, messageKey, aesKey, nonce };
}

// -- state ---------------------------------------------------------------------------

function state(fields) {
  return Object.freeze({
    dhs: fields.dhs, // X25519PrivateKey (non-extractable secret + publicKey)
    dhr: fields.dhr, // Uint8Array | null
    rootKey: fields.rootKey,
    sendChainKey: fields.sendChainKey, // Uint8Array | null
    recvChainKey: fields.recvChainKey, // Uint8Array | null
    ns: fields.ns ?? 0,
    nr: fields.nr ?? 0,
    pn: fields.pn ?? 0,
    skipped: Object.freeze(fields.skipped ?? []), // [{dh, n, messageKey}], oldest first
    previousDhr: Object.freeze(fields.previousDhr ?? []),
  });
}

function checkKey(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== KEY_SIZE) throw new LocalProtocolError(`${what} must be ${KEY_SIZE} bytes`);
  return value;
}

/** RatchetInitAlice: a fresh ratchet key pair and a sending chain towards Bob. */
export async function initAlice(sk, bobPublic, random = systemRandom) {
  checkKey(sk, "shared secret");
  checkKey(bobPublic, "Bob's ratchet public key");
  const dhs = await X25519PrivateKey.generate(random);
  const [rootKey, sendChainKey] = await kdfRk(sk, await dhs.exchange(bobPublic));
  return state({ dhs, dhr: bobPublic.slice(), rootKey, sendChainKey, recvChainKey: null });
}

/** RatchetInitBob: Bob's prekey pair (an X25519PrivateKey) is his first ratchet key pair. */
export function initBob(sk, bobKeyPair) {
  checkKey(sk, "shared secret");
  if (!(bobKeyPair instanceof X25519PrivateKey)) throw new LocalProtocolError("Bob's ratchet key must be an X25519PrivateKey");
  return state({ dhs: bobKeyPair, dhr: null, rootKey: sk.slice(), sendChainKey: null, recvChainKey: null });
}

/** Public view of a state: counters only, never a key. */
export function describeState(s) {
  return { ns: s.ns, nr: s.nr, pn: s.pn, skipped: s.skipped.length, canSend: s.sendChainKey !== null };
}

/** Overwrite every byte array of a state with zeros (the CryptoKey is just dropped). */
export function wipeState(s) {
  for (const k of [s.rootKey, s.sendChainKey, s.recvChainKey]) if (k) k.fill(0);
  for (const key of s.skipped) key.messageKey.fill(0);
}

// -- encryption ------------------------------------------------------------------------

/**
 * RatchetEncrypt. `aadForHeader(header)` returns AAD containing the header's bytes.
 * Returns {state, header, ciphertext}; the input state is left as it was.
 */
export async function ratchetEncrypt(s, plaintext, aadForHeader) {
  if (s.sendChainKey === null) throw new LocalProtocolError("no sending chain yet: Bob sends after his first message");
  if (s.ns >= COUNTER_LIMIT - 1) throw new LocalProtocolError("sending chain exhausted");
  const step = await chainStep(s.sendChainKey);
  const header = makeHeader(s.dhs.publicKey, s.pn, s.ns);
  const ciphertext = await aes256gcmEncrypt(step.aesKey, step.nonce, plaintext, aadForHeader(header));
  step.messageKey.fill(0); // used once; its CryptoKey is dropped with `step`
  return { state: state({ ...s, sendChainKey: step.next, ns: s.ns + 1 }), header, ciphertext };
}

// -- decryption ------------------------------------------------------------------------

async function open(messageKey, ciphertext, aad) {
  const { aesKey, nonce } = await messageAead(messageKey);
  return aes256gcmDecrypt(aesKey, nonce, ciphertext, aad);
}

/**
 * RatchetDecrypt on a copy. `aad` must contain the header's bytes; `random` supplies the
 * new ratchet key pair when the message starts a new chain.
 * Returns {state, plaintext, skipped: [{dh, n}], late, discarded: [{dh, n}]}:
 * `skipped` are messages that should have come before this one (their keys are now
 * stored), `late` says this message was one of those, `discarded` are stored keys the
 * bound dropped (those messages can never be read).
 */
export async function ratchetDecrypt(s, header, ciphertext, aad, random = systemRandom, { maxSkip = MAX_SKIP, maxStoredSkipped = MAX_STORED_SKIPPED } = {}) {
  // 1. A key stored for a skipped message.
  for (let i = 0; i < s.skipped.length; i++) {
    const key = s.skipped[i];
    if (key.n === header.n && constantTimeEqual(key.dh, header.dh)) {
      const plaintext = await open(key.messageKey, ciphertext, aad);
      const remaining = s.skipped.filter((_, j) => j !== i);
      return { state: state({ ...s, skipped: remaining }), plaintext, skipped: [], late: true, discarded: [] };
    }
  }
  if (header.n >= COUNTER_LIMIT - 1 || header.pn >= COUNTER_LIMIT - 1) throw new DecryptionError();
  const currentChain = s.dhr !== null && constantTimeEqual(header.dh, s.dhr);
  if (currentChain && header.n < s.nr) throw new ReplayedMessage();
  if (s.previousDhr.some((old) => constantTimeEqual(header.dh, old))) throw new ReplayedMessage();

  const skipped = [...s.skipped];
  const newIds = [];
  let { dhs, dhr, rootKey, sendChainKey, recvChainKey, ns, nr, pn, previousDhr } = s;

  if (!currentChain) {
    // 2. A new chain: skip the rest of the current one, then a DH ratchet step.
    if (recvChainKey !== null && dhr !== null) {
      if (header.pn - nr > maxSkip) throw new TooManySkipped();
      while (nr < header.pn) {
        let messageKey;
        [recvChainKey, messageKey] = await kdfCk(recvChainKey);
        skipped.push(Object.freeze({ dh: dhr, n: nr, messageKey }));
        newIds.push({ dh: dhr, n: nr });
        nr += 1;
      }
    }
    if (dhr !== null) previousDhr = [dhr, ...previousDhr].slice(0, PREVIOUS_RATCHET_KEYS);
    pn = ns;
    ns = 0;
    nr = 0;
    dhr = header.dh;
    try {
      [rootKey, recvChainKey] = await kdfRk(rootKey, await dhs.exchange(dhr));
      dhs = await X25519PrivateKey.generate(random);
      [rootKey, sendChainKey] = await kdfRk(rootKey, await dhs.exchange(dhr));
    } catch (err) {
      if (err instanceof InvalidKey) throw new DecryptionError();
      throw err;
    }
  }

  // 3. Skip to this message's counter in the (now) current chain.
  if (header.n - nr > maxSkip) throw new TooManySkipped();
  while (nr < header.n) {
    let messageKey;
    [recvChainKey, messageKey] = await kdfCk(recvChainKey);
    skipped.push(Object.freeze({ dh: dhr, n: nr, messageKey }));
    newIds.push({ dh: dhr, n: nr });
    nr += 1;
  }
  const step = await chainStep(recvChainKey);
  recvChainKey = step.next;
  let plaintext;
  try {
    plaintext = await aes256gcmDecrypt(step.aesKey, step.nonce, ciphertext, aad);
  } finally {
    step.messageKey.fill(0);
  }

  const overflow = Math.max(0, skipped.length - maxStoredSkipped);
  const discarded = skipped.slice(0, overflow).map((k) => ({ dh: k.dh, n: k.n }));
  const newState = state({ dhs, dhr, rootKey, sendChainKey, recvChainKey, ns, nr: nr + 1, pn, skipped: skipped.slice(overflow), previousDhr });
  return { state: newState, plaintext, skipped: newIds, late: false, discarded };
}
