// The hazardous layer: thin wrappers over WebCrypto (crypto.subtle) only.
//
// Everything takes and returns Uint8Array, except X25519 private keys, which live in
// non-extractable CryptoKey objects (see X25519PrivateKey). WebCrypto exceptions are
// translated here, so no caller sees a DOMException:
// - X25519 (deriveBits {name:"X25519"}): an all-zero shared secret, i.e. a low-order
//   public key, is refused with InvalidKey (WebCrypto also refuses it with
//   OperationError; both become InvalidKey).
// - AES-256-GCM: any failure to open is one DecryptionError, silent about the cause.
// - HKDF-SHA256 (RFC 5869): native HKDF; Extract and Expand separately (HPKE needs them)
//   are HMAC-SHA256 composed exactly as RFC 5869 §2.2-2.3 writes them.
// - Ed25519 (verify only): InvalidSignature on any failure.
// Private keys are imported from raw bytes through a PKCS#8 wrapper (RFC 8410) with
// extractable = false, which is how tests feed fixed keys from vectors.

import { asBytes, concatBytes, hexDecode } from "./encoding.js";
import { DecryptionError, InvalidKey, InvalidSignature, LocalProtocolError } from "./errors.js";

export const X25519_KEY_SIZE = 32;
export const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;
export const AES256_KEY_SIZE = 32;
export const GCM_NONCE_SIZE = 12;
export const GCM_TAG_SIZE = 16;
export const HASH_SIZE = 32;

const subtle = globalThis.crypto.subtle;

/** n bytes from the browser's CSPRNG. Protocol functions take a `random` like this one. */
export function systemRandom(n) {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
}

export async function sha256(data) {
  return new Uint8Array(await subtle.digest("SHA-256", asBytes(data)));
}

// -- HMAC / HKDF -----------------------------------------------------------------

/** A non-extractable HMAC-SHA256 key (so one key can sign several inputs). */
export function importHmacKey(key) {
  return subtle.importKey("raw", asBytes(key, "HMAC key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

export async function hmacSign(cryptoKey, data) {
  return new Uint8Array(await subtle.sign("HMAC", cryptoKey, asBytes(data)));
}

export async function hmacSha256(key, data) {
  // WebCrypto refuses an empty HMAC key; RFC 2104 pads keys with zeros to the block
  // size, so an empty key and 32 zero bytes are the same HMAC key.
  const k = key.length === 0 ? new Uint8Array(HASH_SIZE) : key;
  return hmacSign(await importHmacKey(k), data);
}

/** RFC 5869 §2.2. An empty salt means HashLen zero bytes. */
export function hkdfExtract(salt, ikm) {
  return hmacSha256(salt.length ? salt : new Uint8Array(HASH_SIZE), ikm);
}

/** RFC 5869 §2.3. */
export async function hkdfExpand(prk, info, length) {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_SIZE) {
    throw new LocalProtocolError("HKDF output length out of range");
  }
  if (prk.length < HASH_SIZE) throw new LocalProtocolError("HKDF pseudorandom key too short");
  const key = await importHmacKey(prk);
  const out = new Uint8Array(Math.ceil(length / HASH_SIZE) * HASH_SIZE);
  let block = new Uint8Array(0);
  for (let i = 1; (i - 1) * HASH_SIZE < length; i++) {
    block = await hmacSign(key, concatBytes(block, asBytes(info, "info"), Uint8Array.of(i)));
    out.set(block, (i - 1) * HASH_SIZE);
  }
  return out.slice(0, length);
}

/** HKDF-SHA256 in one WebCrypto call (Extract then Expand). */
export async function hkdf(salt, ikm, info, length) {
  if (!Number.isInteger(length) || length <= 0 || length > 255 * HASH_SIZE) {
    throw new LocalProtocolError("HKDF output length out of range");
  }
  const key = await subtle.importKey("raw", asBytes(ikm, "ikm"), "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: asBytes(salt, "salt"), info: asBytes(info, "info") },
    key,
    8 * length,
  );
  return new Uint8Array(bits);
}

// -- AES-256-GCM ----------------------------------------------------------------

function checkAead(key, nonce) {
  if (!(key instanceof CryptoKey) && asBytes(key, "AES key").length !== AES256_KEY_SIZE) {
    throw new LocalProtocolError("AES-256-GCM key must be 32 bytes");
  }
  if (asBytes(nonce, "nonce").length !== GCM_NONCE_SIZE) {
    throw new LocalProtocolError("AES-256-GCM nonce must be 12 bytes");
  }
}

/** A non-extractable AES-256-GCM key for several messages (the HPKE context keeps one). */
export function importAesKey(key) {
  if (asBytes(key, "AES key").length !== AES256_KEY_SIZE) {
    throw new LocalProtocolError("AES-256-GCM key must be 32 bytes");
  }
  return subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Return ciphertext || 16-byte tag. `key` is 32 bytes or a CryptoKey from importAesKey. */
export async function aes256gcmEncrypt(key, nonce, plaintext, aad) {
  checkAead(key, nonce);
  const k = key instanceof CryptoKey ? key : await importAesKey(key);
  const ct = await subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: asBytes(aad, "aad"), tagLength: 128 },
    k,
    asBytes(plaintext, "plaintext"),
  );
  return new Uint8Array(ct);
}

/** Open ciphertext || tag; any failure is one DecryptionError. */
export async function aes256gcmDecrypt(key, nonce, ciphertext, aad) {
  checkAead(key, nonce);
  if (asBytes(ciphertext, "ciphertext").length < GCM_TAG_SIZE) throw new DecryptionError();
  const k = key instanceof CryptoKey ? key : await importAesKey(key);
  try {
    const pt = await subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: asBytes(aad, "aad"), tagLength: 128 },
      k,
      ciphertext,
    );
    return new Uint8Array(pt);
  } catch {
    throw new DecryptionError();
  }
}

// -- X25519 ---------------------------------------------------------------------

// PKCS#8 OneAsymmetricKey (RFC 5958/8410) for a 32-byte curve key:
// SEQUENCE { INTEGER 0, SEQUENCE { OID }, OCTET STRING { OCTET STRING (32) } }
const PKCS8_X25519_PREFIX = hexDecode("302e020100300506032b656e04220420"); // OID 1.3.101.110
const BASE_POINT = (() => {
  const b = new Uint8Array(32);
  b[0] = 9;
  return b;
})();

let basePointKey = null;

function checkX25519(key, what) {
  if (!(key instanceof Uint8Array) || key.length !== X25519_KEY_SIZE) {
    throw new InvalidKey(`${what} must be ${X25519_KEY_SIZE} bytes`);
  }
}

async function importX25519Public(publicKey) {
  checkX25519(publicKey, "X25519 public key");
  try {
    return await subtle.importKey("raw", publicKey, { name: "X25519" }, true, []);
  } catch {
    throw new InvalidKey("X25519 public key is not acceptable");
  }
}

async function deriveX25519(privateKey, publicCryptoKey) {
  let bits;
  try {
    bits = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: publicCryptoKey }, privateKey, 256));
  } catch {
    throw new InvalidKey("X25519 public key has low order");
  }
  let acc = 0;
  for (const b of bits) acc |= b;
  if (acc === 0) throw new InvalidKey("X25519 public key has low order");
  return bits;
}

/**
 * An X25519 key pair whose secret lives in a non-extractable CryptoKey.
 * `publicKey` is the 32-byte u-coordinate. Nothing can read the secret back.
 */
export class X25519PrivateKey {
  constructor(cryptoKey, publicKey) {
    this.cryptoKey = cryptoKey;
    this.publicKey = publicKey;
    Object.freeze(this);
  }

  /** Import 32 secret bytes (RFC 7748 clamping applies inside X25519); the caller's bytes are left as they are. */
  static async fromSecret(secret) {
    checkX25519(secret, "X25519 secret key");
    const pkcs8 = concatBytes(PKCS8_X25519_PREFIX, secret);
    let cryptoKey;
    try {
      cryptoKey = await subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, ["deriveBits"]);
    } catch {
      throw new InvalidKey("X25519 secret key is not acceptable");
    } finally {
      pkcs8.fill(0); // importKey copied it
    }
    // public = X25519(secret, 9): WebCrypto gives no other way without an extractable key.
    basePointKey ??= importX25519Public(BASE_POINT);
    const publicKey = await deriveX25519(cryptoKey, await basePointKey);
    return new X25519PrivateKey(cryptoKey, publicKey);
  }

  /**
   * A fresh key pair: 32 bytes from `random` as the secret (GENERATE_DH of docs/protocol.md).
   * Those bytes are overwritten once imported: the secret then lives in the CryptoKey only.
   */
  static async generate(random = systemRandom) {
    const secret = random(X25519_KEY_SIZE);
    try {
      return await X25519PrivateKey.fromSecret(secret);
    } finally {
      if (secret instanceof Uint8Array) secret.fill(0);
    }
  }

  /** Diffie-Hellman with a peer's public key; InvalidKey for a low-order point. */
  async exchange(peerPublicKey) {
    return deriveX25519(this.cryptoKey, await importX25519Public(peerPublicKey));
  }
}

// -- Ed25519 --------------------------------------------------------------------

/** Raise InvalidSignature unless `signature` is a valid Ed25519 signature (RFC 8032, pure). */
export async function ed25519Verify(publicKey, message, signature) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_SIZE) {
    throw new InvalidKey("Ed25519 public key must be 32 bytes");
  }
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_SIZE) {
    throw new InvalidSignature("signature must be 64 bytes");
  }
  let ok = false;
  try {
    const key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    ok = await subtle.verify({ name: "Ed25519" }, key, signature, asBytes(message, "message"));
  } catch {
    ok = false;
  }
  if (!ok) throw new InvalidSignature("signature does not verify");
}
