// ISO/IEC 7816-4 padding to a multiple of 256 bytes (mirrors e2ee/padding.py).
// pad(data) = data || 0x80 || 0x00*k with the smallest k >= 0. The relay learns a
// message's length only to the nearest 256 bytes. unpad accepts exactly what pad
// produces: a non-multiple length, a missing marker or a run longer than one block is
// MalformedInput. It runs only on authenticated plaintext.

import { asBytes } from "./encoding.js";
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

export function unpad(padded) {
  asBytes(padded, "padded payload");
  if (padded.length === 0 || padded.length % PADDING_BLOCK) {
    throw new MalformedInput("padded payload is not a positive multiple of 256 bytes");
  }
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  if (end === 0 || padded[end - 1] !== MARKER) throw new MalformedInput("padding marker missing");
  const data = padded.subarray(0, end - 1);
  if (padded.length - data.length > PADDING_BLOCK) throw new MalformedInput("padding longer than one block");
  return data.slice();
}
