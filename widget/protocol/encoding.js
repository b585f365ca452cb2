// Strict encodings used on the wire (mirrors e2ee/encoding.py).
//
// b64u: base64url without padding (RFC 4648 §5), canonical decoding: padding,
// whitespace, characters outside the URL-safe alphabet, an impossible length (4k+1)
// and non-zero trailing bits are refused with MalformedInput, so two different texts
// never decode to the same bytes. u8/u32/u64: big-endian unsigned integers, range
// checked when packing (LocalProtocolError), length checked when reading (MalformedInput).

import { LocalProtocolError, MalformedInput } from "./errors.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Check that `data` is a Uint8Array (the only byte type this package takes). */
export function asBytes(data, what = "value") {
  if (!(data instanceof Uint8Array)) throw new LocalProtocolError(`${what} must be a Uint8Array`);
  return data;
}

export function b64uEncode(data) {
  asBytes(data, "b64u input");
  let out = "";
  let i = 0;
  for (; i + 3 <= data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

export function b64uDecode(text) {
  if (typeof text !== "string") throw new MalformedInput("base64url value must be a string");
  const values = new Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const v = INDEX.get(text[i]);
    if (v === undefined) throw new MalformedInput("base64url value has a character outside the alphabet");
    values[i] = v;
  }
  const remainder = text.length % 4;
  if (remainder === 1) throw new MalformedInput("base64url value has an impossible length");
  if (remainder) {
    const unused = remainder === 2 ? 4 : 2;
    if (values[values.length - 1] & ((1 << unused) - 1)) {
      throw new MalformedInput("base64url value has non-zero trailing bits");
    }
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 4 <= values.length; i += 4) {
    const n = (values[i] << 18) | (values[i + 1] << 12) | (values[i + 2] << 6) | values[i + 3];
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (remainder === 2) {
    out[o++] = ((values[i] << 18) | (values[i + 1] << 12)) >> 16;
  } else if (remainder === 3) {
    const n = (values[i] << 18) | (values[i + 1] << 12) | (values[i + 2] << 6);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
  }
  return out;
}

export function hexEncode(data) {
  asBytes(data, "hex input");
  let out = "";
  for (const b of data) out += b.toString(16).padStart(2, "0");
  return out;
}

export function hexDecode(text) {
  if (typeof text !== "string" || text.length % 2 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new MalformedInput("hex value is not an even-length hex string");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function pack(value, size) {
  if (size <= 4 && Number.isInteger(value) && value >= 0 && value < 2 ** (8 * size)) {
    const out = new Uint8Array(size);
    for (let i = size - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
    return out;
  }
  const big = typeof value === "bigint" ? value : Number.isSafeInteger(value) ? BigInt(value) : null;
  if (big === null || big < 0n || big >= 1n << BigInt(8 * size)) {
    throw new LocalProtocolError(`integer does not fit in u${8 * size}`);
  }
  const out = new Uint8Array(size);
  let v = big;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

function unpack(data, size) {
  if (!(data instanceof Uint8Array) || data.length !== size) {
    throw new MalformedInput(`u${8 * size} field must be ${size} bytes`);
  }
  let v = 0n;
  for (const b of data) v = (v << 8n) | BigInt(b);
  return v;
}

export const u8 = (value) => pack(value, 1);
export const u16 = (value) => pack(value, 2);
export const u32 = (value) => pack(value, 4);
export const u64 = (value) => pack(value, 8);
export const readU8 = (data) => Number(unpack(data, 1));
export function readU32(data) {
  if (!(data instanceof Uint8Array) || data.length !== 4) throw new MalformedInput("u32 field must be 4 bytes");
  return data[0] * 2 ** 24 + ((data[1] << 16) | (data[2] << 8) | data[3]);
}
/** A u64 as a Number; MalformedInput if it is above 2**53 - 1 (no time or counter gets there). */
export function readU64(data) {
  const v = unpack(data, 8);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedInput("u64 field out of range");
  return Number(v);
}

export function concatBytes(...parts) {
  let length = 0;
  for (const p of parts) length += asBytes(p, "part").length;
  const out = new Uint8Array(length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export const utf8Encode = (text) => encoder.encode(text);
export function utf8Decode(data) {
  try {
    return decoder.decode(data);
  } catch {
    throw new MalformedInput("bytes are not valid UTF-8");
  }
}

/** Equality whose running time depends only on the lengths (best effort in JavaScript). */
export function constantTimeEqual(a, b) {
  asBytes(a);
  asBytes(b);
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
