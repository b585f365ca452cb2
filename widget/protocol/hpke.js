// HPKE (RFC 9180), base mode only, one suite: DHKEM(X25519, HKDF-SHA256) 0x0020,
// HKDF-SHA256 0x0001, AES-256-GCM 0x0002. Composed from primitives.js exactly as the
// RFC's pseudocode reads (§4 KEM, §5 key schedule, §5.2 encryption, §5.3 export).
//
// Security: the encapsulated key `enc` is public; everything else stays in memory.
// The context's AEAD key is a non-extractable CryptoKey. Sequence numbers never repeat:
// seal/open refuse to run past the limit (SequenceOverflow); a failed open does not
// advance the sequence number (RFC 9180 §5.2).

import { concatBytes, u16, utf8Encode } from "./encoding.js";
import { LocalProtocolError, SequenceOverflow } from "./errors.js";
import {
  X25519PrivateKey,
  aes256gcmDecrypt,
  aes256gcmEncrypt,
  hkdfExpand,
  hkdfExtract,
  importAesKey,
  systemRandom,
} from "./primitives.js";

export const KEM_ID = 0x0020;
export const KDF_ID = 0x0001;
export const AEAD_ID = 0x0002;
export const MODE_BASE = 0x00;
export const N_SECRET = 32;
export const N_ENC = 32;
export const N_PK = 32;
export const N_SK = 32;
export const N_K = 32;
export const N_N = 12;
export const N_H = 32;

const ascii = utf8Encode;
const HPKE_V1 = ascii("HPKE-v1");
const EMPTY = new Uint8Array(0);
export const KEM_SUITE_ID = concatBytes(ascii("KEM"), u16(KEM_ID));
export const HPKE_SUITE_ID = concatBytes(ascii("HPKE"), u16(KEM_ID), u16(KDF_ID), u16(AEAD_ID));
// JavaScript numbers are exact up to 2**53 - 1, far below the RFC's 2**96 - 1 limit.
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

export function labeledExtract(suiteId, salt, label, ikm) {
  return hkdfExtract(salt, concatBytes(HPKE_V1, suiteId, ascii(label), ikm));
}

export function labeledExpand(suiteId, prk, label, info, length) {
  return hkdfExpand(prk, concatBytes(u16(length), HPKE_V1, suiteId, ascii(label), info), length);
}

/** DeriveKeyPair(ikm) for X25519 (RFC 9180 §7.1.3): returns 32 secret bytes. */
export async function deriveKeyPairSecret(ikm) {
  const dkpPrk = await labeledExtract(KEM_SUITE_ID, EMPTY, "dkp_prk", ikm);
  return labeledExpand(KEM_SUITE_ID, dkpPrk, "sk", EMPTY, N_SK);
}

/** DeriveKeyPair(ikm) as a non-extractable key pair (the derived secret bytes are overwritten once imported). */
export async function deriveKeyPair(ikm) {
  const secret = await deriveKeyPairSecret(ikm);
  try {
    return await X25519PrivateKey.fromSecret(secret);
  } finally {
    secret.fill(0);
  }
}

// ExtractAndExpand; `dh` (made by Encap or Decap for this call) and the PRK are
// overwritten once used.
async function extractAndExpand(dh, kemContext) {
  let eaePrk = null;
  try {
    eaePrk = await labeledExtract(KEM_SUITE_ID, EMPTY, "eae_prk", dh);
    return await labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", kemContext, N_SECRET);
  } finally {
    dh.fill(0);
    eaePrk?.fill(0);
  }
}

/**
 * Encap(pkR) (§4.1). The ephemeral key pair is DeriveKeyPair(ikmE) with ikmE = random(32),
 * which is how the RFC's vectors pin it. Returns {sharedSecret, enc}.
 */
export async function encap(pkR, { random = systemRandom, ikmE = null } = {}) {
  const ikm = ikmE ?? random(N_SK);
  let skE;
  try {
    skE = await deriveKeyPair(ikm);
  } finally {
    if (ikm !== ikmE && ikm instanceof Uint8Array) ikm.fill(0); // drawn here: nobody else holds it
  }
  const dh = await skE.exchange(pkR);
  const enc = skE.publicKey;
  const sharedSecret = await extractAndExpand(dh, concatBytes(enc, pkR));
  return { sharedSecret, enc };
}

/** Decap(enc, skR) (§4.1); skR is an X25519PrivateKey. */
export async function decap(enc, skR) {
  const dh = await skR.exchange(enc);
  return extractAndExpand(dh, concatBytes(enc, skR.publicKey));
}

/** KeySchedule for mode_base (§5.1). Returns every intermediate value (tests pin them). */
export async function keyScheduleBase(sharedSecret, info) {
  const pskIdHash = await labeledExtract(HPKE_SUITE_ID, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = await labeledExtract(HPKE_SUITE_ID, EMPTY, "info_hash", info);
  const keyScheduleContext = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE_ID, sharedSecret, "secret", EMPTY);
  const key = await labeledExpand(HPKE_SUITE_ID, secret, "key", keyScheduleContext, N_K);
  const baseNonce = await labeledExpand(HPKE_SUITE_ID, secret, "base_nonce", keyScheduleContext, N_N);
  const exporterSecret = await labeledExpand(HPKE_SUITE_ID, secret, "exp", keyScheduleContext, N_H);
  return { keyScheduleContext, secret, key, baseNonce, exporterSecret };
}

/** An HPKE encryption context (§5.2): seal or open with sequence numbers, and export. */
export class HpkeContext {
  #aeadKey;
  #baseNonce;
  #exporterSecret;
  #seq = 0;

  constructor(aeadKey, baseNonce, exporterSecret) {
    this.#aeadKey = aeadKey;
    this.#baseNonce = baseNonce;
    this.#exporterSecret = exporterSecret;
  }

  static async create(schedule) {
    return new HpkeContext(await importAesKey(schedule.key), schedule.baseNonce.slice(), schedule.exporterSecret.slice());
  }

  get sequence() {
    return this.#seq;
  }

  #nonce() {
    if (this.#aeadKey === null) throw new LocalProtocolError("HPKE context was destroyed");
    if (this.#seq >= MAX_SEQUENCE) throw new SequenceOverflow("HPKE context ran out of nonces");
    const nonce = this.#baseNonce.slice();
    let s = this.#seq;
    for (let i = N_N - 1; i >= 0 && s > 0; i--) {
      nonce[i] ^= s % 256;
      s = Math.floor(s / 256);
    }
    return nonce;
  }

  async seal(aad, pt) {
    const ct = await aes256gcmEncrypt(this.#aeadKey, this.#nonce(), pt, aad);
    this.#seq += 1;
    return ct;
  }

  async open(aad, ct) {
    const pt = await aes256gcmDecrypt(this.#aeadKey, this.#nonce(), ct, aad);
    this.#seq += 1;
    return pt;
  }

  /** Export(exporter_context, L) (§5.3). */
  export(exporterContext, length) {
    if (this.#exporterSecret === null) throw new LocalProtocolError("HPKE context was destroyed");
    return labeledExpand(HPKE_SUITE_ID, this.#exporterSecret, "sec", exporterContext, length);
  }

  /** Forget every secret of the context. */
  destroy() {
    if (this.#exporterSecret) this.#exporterSecret.fill(0);
    if (this.#baseNonce) this.#baseNonce.fill(0);
    this.#aeadKey = null;
    this.#exporterSecret = null;
    this.#baseNonce = null;
  }
}

// The context of a key schedule. The shared secret and every secret of the schedule are
// overwritten once the context holds its own copies (which destroy() overwrites).
async function contextFor(sharedSecret, info) {
  try {
    const schedule = await keyScheduleBase(sharedSecret, info);
    try {
      return await HpkeContext.create(schedule);
    } finally {
      for (const secret of [schedule.secret, schedule.key, schedule.baseNonce, schedule.exporterSecret]) secret.fill(0);
    }
  } finally {
    sharedSecret.fill(0);
  }
}

/** SetupBaseS(pkR, info) (§5.1.1): returns {enc, context}. */
export async function setupBaseS(pkR, info, options = {}) {
  const { sharedSecret, enc } = await encap(pkR, options);
  return { enc, context: await contextFor(sharedSecret, info) };
}

/** SetupBaseR(enc, skR, info) (§5.1.1); skR is an X25519PrivateKey. */
export async function setupBaseR(enc, skR, info) {
  return contextFor(await decap(enc, skR), info);
}

