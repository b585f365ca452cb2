// The envelope: the only bytes of a conversation the relay sees (mirrors e2ee/envelope.py).
//
//   offset size field
//   0      1    version = 1
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
//   60/97  rest ciphertext: AES-256-GCM(padded payload), 256*k + 16 bytes, k >= 1
//
// The AEAD's associated data is every byte before the ciphertext; each kind has a fixed
// prefix, so the encoding is unique and flipping any bit of an envelope either makes it
// unparsable (MalformedInput) or makes decryption fail. parseEnvelope raises only
// OversizedInput or MalformedInput; building one with bad fields is LocalProtocolError.

import { concatBytes, readU32, u32 } from "./encoding.js";
import { LocalProtocolError, MalformedInput, OversizedInput } from "./errors.js";
import { PADDING_BLOCK } from "./padding.js";
import { GCM_TAG_SIZE } from "./primitives.js";

export const ENVELOPE_VERSION = 1;
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
export const MIN_CIPHERTEXT_SIZE = PADDING_BLOCK + GCM_TAG_SIZE;
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

export function validCiphertextSize(size) {
  return size >= MIN_CIPHERTEXT_SIZE && (size - GCM_TAG_SIZE) % PADDING_BLOCK === 0;
}

/** The Double Ratchet header {dh, pn, n}. */
export function makeHeader(dh, pn, n) {
  checkBytes(dh, 32, "header dh");
  checkU32(pn, "header pn");
  checkU32(n, "header n");
  return Object.freeze({ dh, pn, n });
}

export function encodeHeader(header) {
  return concatBytes(header.dh, u32(header.pn), u32(header.n));
}

export function parseHeader(data) {
  if (!(data instanceof Uint8Array) || data.length !== HEADER_SIZE) throw new MalformedInput("header must be 40 bytes");
  return Object.freeze({ dh: data.slice(0, 32), pn: readU32(data.subarray(32, 36)), n: readU32(data.subarray(36, 40)) });
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
  const kind = init === null ? KIND_MESSAGE : KIND_INIT;
  const initBytes = init === null ? new Uint8Array(0) : concatBytes(Uint8Array.of(init.prekeyKind), u32(init.prekeyId), init.enc);
  return concatBytes(Uint8Array.of(ENVELOPE_VERSION, kind), conversationId, Uint8Array.of(senderSlot, recipientSlot), initBytes, encodeHeader(header));
}

/**
 * A parsed or built envelope (frozen): {version, kind, conversationId, senderSlot,
 * recipientSlot, init|null, header, ciphertext, aad}. `toBytes(envelope)` gives the wire form.
 */
export function makeEnvelope({ conversationId, senderSlot, recipientSlot, header, ciphertext, init = null }) {
  const aad = envelopeAad(conversationId, senderSlot, recipientSlot, header, init);
  if (!(ciphertext instanceof Uint8Array) || !validCiphertextSize(ciphertext.length)) {
    throw new LocalProtocolError("ciphertext must be 256*k + 16 bytes, k >= 1");
  }
  if (aad.length + ciphertext.length > MAX_ENVELOPE_SIZE) throw new LocalProtocolError("envelope larger than MAX_ENVELOPE_SIZE");
  return Object.freeze({
    version: ENVELOPE_VERSION,
    kind: init === null ? KIND_MESSAGE : KIND_INIT,
    conversationId,
    senderSlot,
    recipientSlot,
    init,
    header,
    ciphertext,
    aad,
  });
}

export function envelopeToBytes(envelope) {
  return concatBytes(envelope.aad, envelope.ciphertext);
}

/** Parse strictly; raises only OversizedInput or MalformedInput. */
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
  let offset = COMMON_PREFIX_SIZE;
  try {
    let init = null;
    if (kind === KIND_INIT) {
      init = makeInitFields(data[offset], readU32(data.subarray(offset + 1, offset + 5)), data.slice(offset + 5, offset + INIT_FIELDS_SIZE));
      offset += INIT_FIELDS_SIZE;
    }
    return makeEnvelope({
      conversationId: data.slice(2, 18),
      senderSlot: data[18],
      recipientSlot: data[19],
      header: parseHeader(data.slice(offset, offset + HEADER_SIZE)),
      ciphertext: data.slice(prefix),
      init,
    });
  } catch (err) {
    if (err instanceof LocalProtocolError) throw new MalformedInput(err.message);
    throw err;
  }
}
