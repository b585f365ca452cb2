// The envelope: the only bytes of a conversation the relay sees (mirrors e2ee/envelope.py).
//
//   offset size field
//   0      1    version = 2
//   1      1    kind: 1 = init (first message of a conversation), 2 = message
//   2      16   conversation_id
//   18     1    sender_slot        (0 participant, 1 program, 2..7 invited parties)
//   19     1    recipient_slot     (0..7, different from sender_slot)
//   -- init only --
//   20     1    prekey_kind        (1 signed, 2 one-time)
//   21     4    prekey_id u32
//   25     32   enc (HPKE encapsulated key)
//   -- always --
//   20/57  40   ratchet header: dh (32) || pn u32 || n u32
//   60/97  rest ciphertext, ENCRYPT's output:
//                12    nonce (random, fresh for every encryption)
//                rest  AES-256-GCM(padded payload), 256*k + 16 bytes, k >= 1
//
// The AEAD's associated data is every byte before the ciphertext (hence before the
// nonce, which GCM authenticates as its nonce input); each kind has a fixed prefix, so
// the encoding is unique and flipping any bit of an envelope either makes it unparsable
// (MalformedInput) or makes decryption fail. Version 1 (a constant nonce, no nonce field)
// is refused like any unknown version. parseEnvelope raises only
// OversizedInput or MalformedInput; building one with bad fields is LocalProtocolError.

import { LocalProtocolError, MalformedInput, OversizedInput } from "./errors.js";
import { PADDING_BLOCK } from "./padding.js";
import { GCM_NONCE_SIZE, GCM_TAG_SIZE } from "./primitives.js";

export const ENVELOPE_VERSION = 2;
export const KIND_INIT = 1;
export const KIND_MESSAGE = 2;
export const PREKEY_KIND_SIGNED = 1;
export const PREKEY_KIND_ONE_TIME = 2;
export const PARTICIPANT_SLOT = 0;
export const PROGRAM_SLOT = 1;
export const MAX_SLOT = 7;
export const CONVERSATION_ID_SIZE = 16;
export const HEADER_SIZE = 40;
export const ENC_SIZE = 32;
export const COMMON_PREFIX_SIZE = 20;
export const INIT_FIELDS_SIZE = 1 + 4 + ENC_SIZE;
export const MESSAGE_AAD_SIZE = COMMON_PREFIX_SIZE + HEADER_SIZE;
export const INIT_AAD_SIZE = COMMON_PREFIX_SIZE + INIT_FIELDS_SIZE + HEADER_SIZE;
export const NONCE_FIELD_SIZE = GCM_NONCE_SIZE;
export const CIPHERTEXT_OVERHEAD = NONCE_FIELD_SIZE + GCM_TAG_SIZE;
export const MIN_CIPHERTEXT_SIZE = PADDING_BLOCK + CIPHERTEXT_OVERHEAD;
export const MAX_ENVELOPE_SIZE = 64 * 1024;
const U32_MAX = 0xffffffff;

function checkU32(value, what) {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) throw new LocalProtocolError(`${what} must be a u32`);
}
function checkBytes(value, size, what) {
  if (!(value instanceof Uint8Array) || value.length !== size) throw new LocalProtocolError(`${what} must be ${size} bytes`);
}
function checkSlot(value, what) {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SLOT) throw new LocalProtocolError(`${what} must be a slot 0..${MAX_SLOT}`);
}

/** Whether `size` is 12 + 256*k + 16 (nonce, padded payload, tag) with k >= 1. */
export function validCiphertextSize(size) {
  return size >= MIN_CIPHERTEXT_SIZE && (size - CIPHERTEXT_OVERHEAD) % PADDING_BLOCK === 0;
}

/** The Double Ratchet header {dh, pn, n}. */
export function makeHeader(dh, pn, n) {
  checkBytes(dh, 32, "header dh");
  checkU32(pn, "header pn");
  checkU32(n, "header n");
  return Object.freeze({ dh, pn, n });
}

function writeU32(out, offset, value) {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
}

function writeHeader(out, offset, header) {
  checkBytes(header.dh, 32, "header dh");
  checkU32(header.pn, "header pn");
  checkU32(header.n, "header n");
  out.set(header.dh, offset);
  writeU32(out, offset + 32, header.pn);
  writeU32(out, offset + 36, header.n);
}

export function encodeHeader(header) {
  const out = new Uint8Array(HEADER_SIZE);
  writeHeader(out, 0, header);
  return out;
}

function readHeader(data, offset) {
  return Object.freeze({ dh: data.slice(offset, offset + 32), pn: readU32At(data, offset + 32), n: readU32At(data, offset + 36) });
}

function readU32At(data, offset) {
  return data[offset] * 2 ** 24 + ((data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3]);
}

export function parseHeader(data) {
  if (!(data instanceof Uint8Array) || data.length !== HEADER_SIZE) throw new MalformedInput("header must be 40 bytes");
  return readHeader(data, 0);
}

/** What an init envelope adds: {prekeyKind, prekeyId, enc}. */
export function makeInitFields(prekeyKind, prekeyId, enc) {
  if (prekeyKind !== PREKEY_KIND_SIGNED && prekeyKind !== PREKEY_KIND_ONE_TIME) {
    throw new LocalProtocolError("prekey_kind must be 1 (signed) or 2 (one-time)");
  }
  checkU32(prekeyId, "prekey_id");
  checkBytes(enc, ENC_SIZE, "enc");
  return Object.freeze({ prekeyKind, prekeyId, enc });
}

/** The envelope's bytes before the ciphertext: the AEAD's associated data. */
export function envelopeAad(conversationId, senderSlot, recipientSlot, header, init = null) {
  checkBytes(conversationId, CONVERSATION_ID_SIZE, "conversation_id");
  checkSlot(senderSlot, "sender_slot");
  checkSlot(recipientSlot, "recipient_slot");
  if (senderSlot === recipientSlot) throw new LocalProtocolError("sender_slot and recipient_slot must differ");
  const out = new Uint8Array(init === null ? MESSAGE_AAD_SIZE : INIT_AAD_SIZE);
  out[0] = ENVELOPE_VERSION;
  out[1] = init === null ? KIND_MESSAGE : KIND_INIT;
  out.set(conversationId, 2);
  out[18] = senderSlot;
  out[19] = recipientSlot;
  let offset = COMMON_PREFIX_SIZE;
  if (init !== null) {
    makeInitFields(init.prekeyKind, init.prekeyId, init.enc); // the checks only
    out[offset] = init.prekeyKind;
    writeU32(out, offset + 1, init.prekeyId);
    out.set(init.enc, offset + 5);
    offset += INIT_FIELDS_SIZE;
  }
  writeHeader(out, offset, header);
  return out;
}

/**
 * A parsed or built envelope (frozen): {version, kind, conversationId, senderSlot,
 * recipientSlot, init|null, header, ciphertext, nonce, aad}; `nonce` is the ciphertext's
 * first 12 bytes. `envelopeToBytes(envelope)` gives the wire form.
 */
export function makeEnvelope({ conversationId, senderSlot, recipientSlot, header, ciphertext, init = null }) {
  const aad = envelopeAad(conversationId, senderSlot, recipientSlot, header, init);
  if (!(ciphertext instanceof Uint8Array) || !validCiphertextSize(ciphertext.length)) {
    throw new LocalProtocolError("ciphertext must be 12 + 256*k + 16 bytes, k >= 1");
  }
  if (aad.length + ciphertext.length > MAX_ENVELOPE_SIZE) throw new LocalProtocolError("envelope larger than MAX_ENVELOPE_SIZE");
  return frozenEnvelope(conversationId, senderSlot, recipientSlot, init, header, ciphertext, aad);
}

function frozenEnvelope(conversationId, senderSlot, recipientSlot, init, header, ciphertext, aad) {
  return Object.freeze({
    version: ENVELOPE_VERSION,
    kind: init === null ? KIND_MESSAGE : KIND_INIT,
    conversationId,
    senderSlot,
    recipientSlot,
    init,
    header,
    ciphertext,
    nonce: ciphertext.slice(0, NONCE_FIELD_SIZE),
    aad,
  });
}

export function envelopeToBytes(envelope) {
  const out = new Uint8Array(envelope.aad.length + envelope.ciphertext.length);
  out.set(envelope.aad);
  out.set(envelope.ciphertext, envelope.aad.length);
  return out;
}

/**
 * Parse strictly; raises only OversizedInput or MalformedInput. Every field is a copy
 * (nothing aliases `data`, so a caller changing its bytes later changes nothing parsed).
 */
export function parseEnvelope(data) {
  if (!(data instanceof Uint8Array)) throw new MalformedInput("envelope must be bytes");
  if (data.length > MAX_ENVELOPE_SIZE) throw new OversizedInput("envelope larger than MAX_ENVELOPE_SIZE");
  if (data.length < COMMON_PREFIX_SIZE) throw new MalformedInput("envelope too short");
  const version = data[0];
  const kind = data[1];
  if (version !== ENVELOPE_VERSION) throw new MalformedInput("unsupported envelope version");
  if (kind !== KIND_INIT && kind !== KIND_MESSAGE) throw new MalformedInput("unknown envelope kind");
  const prefix = kind === KIND_INIT ? INIT_AAD_SIZE : MESSAGE_AAD_SIZE;
  if (!validCiphertextSize(data.length - prefix)) throw new MalformedInput("envelope length does not match its kind");
  // The same checks, in the same order, as building the envelope from its fields
  // (makeInitFields, then envelopeAad); every u32 and byte field fits by its length.
  let offset = COMMON_PREFIX_SIZE;
  let init = null;
  if (kind === KIND_INIT) {
    const prekeyKind = data[offset];
    if (prekeyKind !== PREKEY_KIND_SIGNED && prekeyKind !== PREKEY_KIND_ONE_TIME) {
      throw new MalformedInput("prekey_kind must be 1 (signed) or 2 (one-time)");
    }
    init = Object.freeze({ prekeyKind, prekeyId: readU32At(data, offset + 1), enc: data.slice(offset + 5, offset + INIT_FIELDS_SIZE) });
    offset += INIT_FIELDS_SIZE;
  }
  const senderSlot = data[18];
  const recipientSlot = data[19];
  if (senderSlot > MAX_SLOT) throw new MalformedInput(`sender_slot must be a slot 0..${MAX_SLOT}`);
  if (recipientSlot > MAX_SLOT) throw new MalformedInput(`recipient_slot must be a slot 0..${MAX_SLOT}`);
  if (senderSlot === recipientSlot) throw new MalformedInput("sender_slot and recipient_slot must differ");
  const header = readHeader(data, offset);
  return frozenEnvelope(data.slice(2, 18), senderSlot, recipientSlot, init, header, data.slice(prefix), data.slice(0, prefix));
}
