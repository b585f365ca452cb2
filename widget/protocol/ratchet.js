// The Double Ratchet (Signal specification, revision 1, 2016-11-20) on WebCrypto,
// mirroring e2ee/ratchet.py value for value.
//
// - GENERATE_DH(): 32 bytes from the caller's `random` as the X25519 secret, held in a
//   non-extractable CryptoKey (X25519PrivateKey).
// - KDF_RK(rk, dh_out) = HKDF-SHA256(salt=rk, ikm=dh_out, info="quietline/v1/kdf-rk", L=64):
//   first half the new root key, second half the new chain key.
// - KDF_CK(ck): message_key = HMAC-SHA256(ck, 0x01), chain_key = HMAC-SHA256(ck, 0x02).
// - ENCRYPT(mk, pt, aad) = nonce || AES-256-GCM(key = mk, nonce, pt, aad), where mk is the
//   32-byte message key of KDF_CK and nonce 12 fresh bytes from the caller's `random`
//   (crypto.getRandomValues by default). The spec lets the nonce be "chosen randomly and
//   transmitted" (section 3.1); a random one keeps a message key used twice (a state
//   restored from a copy) from giving away pt1 XOR pt2. GCM authenticates its nonce input,
//   so the nonce needs no place in the aad. The aad contains the header bytes (the
//   envelope's AAD: every byte before the ciphertext, hence before the nonce).
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
//
// Precomputed chain steps. A state holds each chain as {key, step}: `key` is the chain
// key as 32 bytes (kept as bytes: KDF_CK and the vectors need them), `step` a promise,
// started (not awaited) the moment the chain key was created or advanced, of that key's
// KDF_CK step: {aesKey: the message key imported as a non-extractable AES-256-GCM
// CryptoKey, next: the following chain key's bytes}. The message key's bytes are zeroed
// as soon as they are imported, so a state never holds a message key as bytes except
// the skipped ones. A message then waits on AES-GCM only; the four other WebCrypto calls
// of a step (import the chain key as an HMAC key, two HMACs, import the AES key) run
// while the page does something else. What this holds reveals nothing beyond the chain
// key the state already holds (both are functions of it), and it goes wherever the chain
// goes: a DH ratchet step or a skip replaces the chain object, retireState and wipeState
// also zero the `next` of a step no state keeps, and a state never points at a step of
// another chain key (a chain is made only by startChain, key and step together). Every
// step promise has a handler attached when it is made, so a failed step is never an
// unhandled rejection; whoever awaits it still sees the error.
// Single use: a sending chain object encrypts once. ratchetEncrypt marks it before its
// first await, so a second call on the same state (or on any state sharing that sending
// chain, such as one decrypted from it) is LocalProtocolError, never a second message
// under the same (key, nonce). Decryption marks nothing: a failed decrypt leaves the
// state, and its precomputed step, as they were and usable.

import { asBytes, concatBytes, constantTimeEqual, utf8Encode } from "./encoding.js";
import { DecryptionError, InvalidKey, LocalProtocolError, ReplayedMessage, TooManySkipped } from "./errors.js";
import { makeHeader } from "./envelope.js";
import {
  X25519PrivateKey,
  aes256gcmDecrypt,
  aes256gcmEncrypt,
  GCM_NONCE_SIZE,
  GCM_TAG_SIZE,
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

/** KDF_RK(rk, DH(dhs, dhr)); the DH output is overwritten as soon as KDF_RK has read it. */
async function kdfRkDh(rootKey, dhs, dhr) {
  const dhOut = await dhs.exchange(dhr);
  try {
    return await kdfRk(rootKey, dhOut);
  } finally {
    dhOut.fill(0);
  }
}

/** KDF_CK: [next chain key, message key]. */
export async function kdfCk(chainKey) {
  const key = await importHmacKey(chainKey);
  const [next, mk] = await Promise.all([hmacSign(key, CK_CHAIN), hmacSign(key, CK_MESSAGE)]);
  return [next, mk];
}

/** ENCRYPT's nonce: 12 random bytes, sent in front of the AES-256-GCM output. */
export const NONCE_SIZE = GCM_NONCE_SIZE;
/** ENCRYPT's output is this much longer than its plaintext (nonce and tag). */
export const ENCRYPTED_OVERHEAD = NONCE_SIZE + GCM_TAG_SIZE;

function freshNonce(random) {
  const nonce = random(NONCE_SIZE);
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_SIZE) throw new LocalProtocolError("random must return the bytes asked for");
  return nonce;
}

/** DECRYPT(key, nonce || ciphertext, aad): a wrong nonce fails like any forgery. */
function openMessage(key, ciphertext, aad) {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length < ENCRYPTED_OVERHEAD) return Promise.reject(new DecryptionError());
  return aes256gcmDecrypt(key, ciphertext.subarray(0, NONCE_SIZE), ciphertext.subarray(NONCE_SIZE), aad);
}

/** One KDF_CK step as the ratchet uses it: {aesKey, next}; the message key's bytes are zeroed once imported. */
export async function nextStep(chainKey) {
  const [next, messageKey] = await kdfCk(chainKey);
  try {
    return Object.freeze({ aesKey: await importAesKey(messageKey), next });
  } finally {
    messageKey.fill(0);
  }
}

const ignore = () => undefined;

/** A chain: its key (bytes) and the precomputed step of that key, started now. */
export function startChain(chainKey) {
  const step = nextStep(chainKey);
  step.catch(ignore); // never an unhandled rejection; awaiting `step` still throws
  return Object.freeze({ key: chainKey, step });
}

/** Zero a chain no state holds: its key, and its precomputed next key once computed. */
function dropChain(chain) {
  chain.key.fill(0);
  chain.step.then((step) => step.next.fill(0), ignore);
}

// Sending chains that already encrypted a message (see "Single use" above).
const usedSendChains = new WeakSet();

// -- state ---------------------------------------------------------------------------

function state(fields) {
  const sendChain = fields.sendChain ?? null; // {key, step} | null
  const recvChain = fields.recvChain ?? null;
  return Object.freeze({
    dhs: fields.dhs, // X25519PrivateKey (non-extractable secret + publicKey)
    dhr: fields.dhr, // Uint8Array | null
    rootKey: fields.rootKey,
    sendChain,
    recvChain,
    sendChainKey: sendChain === null ? null : sendChain.key, // bytes, the same as sendChain.key
    recvChainKey: recvChain === null ? null : recvChain.key,
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
  const [rootKey, sendChainKey] = await kdfRkDh(sk, dhs, bobPublic);
  return state({ dhs, dhr: bobPublic.slice(), rootKey, sendChain: startChain(sendChainKey) });
}

/** RatchetInitBob: Bob's prekey pair (an X25519PrivateKey) is his first ratchet key pair. */
export function initBob(sk, bobKeyPair) {
  checkKey(sk, "shared secret");
  if (!(bobKeyPair instanceof X25519PrivateKey)) throw new LocalProtocolError("Bob's ratchet key must be an X25519PrivateKey");
  return state({ dhs: bobKeyPair, dhr: null, rootKey: sk.slice() });
}

/** Public view of a state: counters only, never a key. */
export function describeState(s) {
  return { ns: s.ns, nr: s.nr, pn: s.pn, skipped: s.skipped.length, canSend: s.sendChainKey !== null };
}

function byteKeys(s) {
  const keys = [s.rootKey, s.sendChainKey, s.recvChainKey];
  for (const key of s.skipped) keys.push(key.messageKey);
  return keys;
}

/**
 * Overwrite every byte array of a state with zeros, the precomputed steps' next chain
 * keys included (CryptoKeys are just dropped). For a state nothing will use again: the
 * last one of a conversation, or one that was never committed.
 */
export function wipeState(s) {
  s.rootKey.fill(0);
  for (const key of s.skipped) key.messageKey.fill(0);
  for (const chain of [s.sendChain, s.recvChain]) if (chain) dropChain(chain);
}

/**
 * Zero the byte keys of `old` that `next` (the state that replaces it) no longer holds:
 * the chain key a message advanced past, the root key of a finished DH step, a skipped
 * message key once used or evicted, and the precomputed next chain key of a chain that
 * a DH step or a skip replaced (it would derive again the keys of skipped messages).
 * Only for a caller that will never use `old` again (Session does this when it commits
 * a new state).
 */
export function retireState(old, next) {
  if (old === next) return;
  const kept = new Set(byteKeys(next));
  for (const k of byteKeys(old)) if (k && !kept.has(k)) k.fill(0);
  for (const chain of [old.sendChain, old.recvChain]) {
    if (chain === null || chain === next.sendChain || chain === next.recvChain) continue;
    chain.step.then((step) => {
      if (!kept.has(step.next)) step.next.fill(0);
    }, ignore);
  }
}

// -- encryption ------------------------------------------------------------------------

/**
 * RatchetEncrypt. `aadForHeader(header)` returns AAD containing the header's bytes;
 * `random` gives the 12-byte nonce. Returns {state, header, ciphertext} with ciphertext =
 * nonce || AES-GCM output; the input state is left as it was but cannot encrypt again
 * (LocalProtocolError): encrypt from the returned state.
 */
export async function ratchetEncrypt(s, plaintext, aadForHeader, random = systemRandom) {
  const chain = s.sendChain;
  if (chain === null) throw new LocalProtocolError("no sending chain yet: Bob sends after his first message");
  if (s.ns >= COUNTER_LIMIT) throw new LocalProtocolError("sending chain exhausted");
  if (usedSendChains.has(chain)) throw new LocalProtocolError("this state already encrypted a message: encrypt from the state that call returned");
  asBytes(plaintext, "plaintext");
  usedSendChains.add(chain);
  let step, header, aad, nonce;
  try {
    step = await chain.step;
    header = makeHeader(s.dhs.publicKey, s.pn, s.ns);
    aad = asBytes(aadForHeader(header), "aad");
    nonce = freshNonce(random);
  } catch (err) {
    usedSendChains.delete(chain); // nothing was encrypted with this chain's message key
    throw err;
  }
  const sealing = aes256gcmEncrypt(step.aesKey, nonce, plaintext, aad);
  const sendChain = startChain(step.next);
  const ciphertext = concatBytes(nonce, await sealing);
  return { state: state({ ...s, sendChain, ns: s.ns + 1 }), header, ciphertext };
}

// -- decryption ------------------------------------------------------------------------

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
      const plaintext = await openMessage(key.messageKey, ciphertext, aad);
      const remaining = s.skipped.filter((_, j) => j !== i);
      return { state: state({ ...s, skipped: remaining }), plaintext, skipped: [], late: true, discarded: [] };
    }
  }
  if (header.n >= COUNTER_LIMIT) throw new DecryptionError(); // n + 1 must fit the state's u32
  const currentChain = s.dhr !== null && constantTimeEqual(header.dh, s.dhr);
  if (currentChain && s.recvChain === null) throw new DecryptionError(); // Alice's initial dhr (Bob's prekey) never sends
  if (currentChain && header.n < s.nr) throw new ReplayedMessage();
  if (s.previousDhr.some((old) => constantTimeEqual(header.dh, old))) throw new ReplayedMessage();

  const skipped = [...s.skipped];
  try {
    return await advance(s, header, ciphertext, aad, random, { maxSkip, maxStoredSkipped }, currentChain, skipped);
  } catch (err) {
    // Keys skipped by this call belong to no state: gone with the failed attempt.
    for (let i = s.skipped.length; i < skipped.length; i++) skipped[i].messageKey.fill(0);
    throw err;
  }
}

// Store the message keys of counters `from`..`until - 1` of `chain` (messages skipped
// on the ratchet key `dh`) and return the chain key at `until`; intermediate chain keys
// are held by nothing and overwritten at once. `chain.key` itself is left as it is.
async function skipMessageKeys(chain, dh, from, until, skipped, newIds) {
  let chainKey = chain.key;
  for (let n = from; n < until; n++) {
    let messageKey;
    const previous = chainKey;
    [chainKey, messageKey] = await kdfCk(chainKey);
    if (previous !== chain.key) previous.fill(0);
    skipped.push(Object.freeze({ dh, n, messageKey }));
    newIds.push({ dh, n });
  }
  return chainKey;
}

// Steps 2 and 3 of ratchetDecrypt (a DH ratchet step if needed, skips, the message).
async function advance(s, header, ciphertext, aad, random, { maxSkip, maxStoredSkipped }, currentChain, skipped) {
  const newIds = [];
  let { dhs, dhr, rootKey, sendChain, recvChain, ns, nr, pn, previousDhr } = s;

  if (!currentChain) {
    // 2. A new chain: skip the rest of the current one, then a DH ratchet step.
    if (recvChain !== null && dhr !== null) {
      if (header.pn - nr > maxSkip) throw new TooManySkipped();
      const rest = await skipMessageKeys(recvChain, dhr, nr, header.pn, skipped, newIds);
      if (rest !== recvChain.key) rest.fill(0); // the finished chain's last key: held by nothing
      // Only a chain that received (as e2ee): Alice's initial dhr, Bob's prekey, sent nothing.
      previousDhr = [dhr, ...previousDhr].slice(0, PREVIOUS_RATCHET_KEYS);
    }
    pn = ns;
    ns = 0;
    nr = 0;
    dhr = header.dh;
    let between = null; // the root key between the two KDF_RK steps: held by nothing after
    try {
      let chainKey;
      [between, chainKey] = await kdfRkDh(rootKey, dhs, dhr);
      recvChain = startChain(chainKey);
      dhs = await X25519PrivateKey.generate(random);
      [rootKey, chainKey] = await kdfRkDh(between, dhs, dhr);
      sendChain = startChain(chainKey);
    } catch (err) {
      if (err instanceof InvalidKey) throw new DecryptionError();
      throw err;
    } finally {
      between?.fill(0);
    }
  }

  // 3. Skip to this message's counter in the (now) current chain.
  if (header.n - nr > maxSkip) throw new TooManySkipped();
  if (nr < header.n) {
    const from = recvChain;
    recvChain = startChain(await skipMessageKeys(from, dhr, nr, header.n, skipped, newIds));
    nr = header.n;
    if (from !== s.recvChain) dropChain(from); // made by this call's DH step, replaced at once
  }
  // The chain's precomputed step: usually resolved already, so AES-GCM is all that is left.
  const step = await recvChain.step;
  const opening = openMessage(step.aesKey, ciphertext, aad);
  recvChain = startChain(step.next); // dropped with the new state if the tag does not verify
  const plaintext = await opening;

  const overflow = Math.max(0, skipped.length - maxStoredSkipped);
  const discarded = skipped.slice(0, overflow).map((k) => ({ dh: k.dh, n: k.n }));
  // Evicted keys this call made are held by nothing; the old state's are zeroed by
  // retireState once the caller commits (the old state stays valid until then).
  for (let i = s.skipped.length; i < overflow; i++) skipped[i].messageKey.fill(0);
  const newState = state({ dhs, dhr, rootKey, sendChain, recvChain, ns, nr: nr + 1, pn, skipped: skipped.slice(overflow), previousDhr });
  return { state: newState, plaintext, skipped: newIds, late: false, discarded };
}
