// ISO/IEC 7816-4 padding to a multiple of 256 bytes (mirrors e2ee/padding.py).
// pad(data) = data || 0x80 || 0x00*k with the smallest k >= 0. The relay learns a
// message's length only to the nearest 256 bytes. unpad accepts exactly what pad
// produces: a non-multiple length, a missing marker or a run longer than one block is
// MalformedInput. It runs only on authenticated plaintext.

import { asBytes, utf8Encode } from "./encoding.js";
import { MalformedInput } from "./errors.js";

export const PADDING_BLOCK = 256;
const MARKER = 0x80;

export function paddedLength(length) {
  return (Math.floor(length / PADDING_BLOCK) + 1) * PADDING_BLOCK;
}

export function pad(data) {
  asBytes(data, "data");
  const out = new Uint8Array(paddedLength(data.length));
  out.set(data);
  out[data.length] = MARKER;
  return out;
}

const encoder = new TextEncoder();

/**
 * pad(utf8Encode(text)) with one allocation in the common case: the UTF-8 bytes are
 * written straight into a buffer of the padded size guessed from text.length (exact for
 * ASCII, and for any text whose UTF-8 form pads to the same size); otherwise the bytes
 * are encoded first. Returns {padded, length} (length = the UTF-8 byte count).
 */
export function padUtf8(text) {
  const guess = new Uint8Array(paddedLength(text.length));
  const { read, written } = encoder.encodeInto(text, guess);
  if (read === text.length && paddedLength(written) === guess.length) {
    guess[written] = MARKER;
    return { padded: guess, length: written };
  }
  guess.fill(0);
  const data = utf8Encode(text);
  return { padded: pad(data), length: data.length };
}

/**
 * The length of the data inside a padded payload; MalformedInput unless `padded` is
 * exactly what pad produces. unpad(padded) is padded.slice(0, unpaddedLength(padded)).
 */
export function unpaddedLength(padded) {
  asBytes(padded, "padded payload");
  if (padded.length === 0 || padded.length % PADDING_BLOCK) {
    throw new MalformedInput("padded payload is not a positive multiple of 256 bytes");
  }
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  if (end === 0 || padded[end - 1] !== MARKER) throw new MalformedInput("padding marker missing");
  if (padded.length - (end - 1) > PADDING_BLOCK) throw new MalformedInput("padding longer than one block");
  return end - 1;
}

/** The data inside a padded payload, as a copy. */
export function unpad(padded) {
  return padded.slice(0, unpaddedLength(padded));
}
