// Typed payloads inside the ciphertext (mirrors e2ee/payload.py).
//
// A payload is one UTF-8 JSON object with a type `t`, encoded canonically (sorted keys,
// no spaces, like Python's json.dumps(sort_keys=True, separators=(",", ":"),
// ensure_ascii=False)), at most MAX_PLAINTEXT_SIZE bytes before padding. `ts` (sender's
// clock, Unix milliseconds) exists only inside the ciphertext.
//
//   t                  fields
//   text               body, ts
//   notice             kind (NOTICE_KINDS), body, ts
//   system             event, ts
//   code_word_request  alias, ts
//   code_word_answer   alias, word, ts
//   duress             ts
//   answers            answers (question id [A-Za-z0-9_-]{1,64} -> string), ts
//   invite             slot, role, identity_key (b64u), prekey, invite (signed objects), ts
//   consent            slot, accept (bool), ts
//   close              reason, ts
//   queue              position (1 = next), ts
//   joined             name (the support worker's chosen first name or alias), ts
//   typing             active (bool), ts
//   delivered          count (text messages received from the other side so far), ts
//
// In JavaScript a payload is a frozen plain object {t, ...fields}; for `invite`,
// identity_key is a Uint8Array and prekey/invite are {body, signature} byte pairs.
// encodePayload refuses bad fields with LocalProtocolError; decodePayload is strict (exact
// key set, integer types, enums, UTF-8 byte lengths, no duplicate keys, no lone
// surrogates) and raises only MalformedInput or OversizedInput.

import { b64uDecode, b64uEncode, utf8Encode } from "./encoding.js";
import { MAX_SLOT, PROGRAM_SLOT } from "./envelope.js";
import { LocalProtocolError, MalformedInput } from "./errors.js";
import { parseSignedObject } from "./identity.js";
import { canonicalJsonText, parseJsonObject } from "./json.js";
import { padUtf8 } from "./padding.js";

export const MAX_PLAINTEXT_SIZE = 16 * 1024;
export const MAX_TIMESTAMP_MS = 2 ** 53 - 1;
export const MAX_LABEL_SIZE = 64;
export const MAX_CODE_WORD_SIZE = 256;
export const MAX_REASON_SIZE = 1000;
export const MAX_ANSWER_SIZE = 1000;
export const MAX_ANSWERS = 20;
export const MAX_QUEUE_POSITION = 100000;
export const MAX_DELIVERED_COUNT = 2 ** 31 - 1;
export const FIRST_INVITED_SLOT = PROGRAM_SLOT + 1;
export const NOTICE_KINDS = Object.freeze(["rights", "safety_check_in", "inactivity", "closing", "shift_change", "transfer", "code_word_request", "custom"]);

function checkTs(v) {
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_TIMESTAMP_MS) throw new LocalProtocolError("ts must be an integer in [0, 2**53 - 1] (Unix milliseconds)");
}
function checkStr(v, what, limit = null) {
  if (typeof v !== "string") throw new LocalProtocolError(`${what} must be a string`);
  if (!v.isWellFormed()) throw new LocalProtocolError(`${what} is not valid Unicode text`);
  if (limit !== null && utf8Encode(v).length > limit) throw new LocalProtocolError(`${what} longer than ${limit} UTF-8 bytes`);
}
function checkLabel(v, what) {
  checkStr(v, what, MAX_LABEL_SIZE);
  if (!v) throw new LocalProtocolError(`${what} must not be empty`);
}
export const QUESTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
function checkQuestionId(v) {
  if (typeof v !== "string" || !QUESTION_ID_PATTERN.test(v)) throw new LocalProtocolError("question id must match [A-Za-z0-9_-]{1,64}");
}
function checkInvitedSlot(v) {
  if (!Number.isInteger(v) || v < FIRST_INVITED_SLOT || v > MAX_SLOT) throw new LocalProtocolError(`slot must be an invited party's slot ${FIRST_INVITED_SLOT}..7`);
}
function checkInt(v, what, low, high) {
  if (!Number.isInteger(v) || v < low || v > high) throw new LocalProtocolError(`${what} must be an integer in [${low}, ${high}]`);
}
function checkSigned(v, what) {
  if (!v || !(v.body instanceof Uint8Array) || !(v.signature instanceof Uint8Array) || v.signature.length !== 64) {
    throw new LocalProtocolError(`${what} must be a signed object`);
  }
}

/** Field names and checks per payload type (field order as in e2ee/payload.py). */
const TYPES = {
  text: { body: (v) => checkStr(v, "body"), ts: checkTs },
  notice: {
    kind: (v) => {
      if (!NOTICE_KINDS.includes(v)) throw new LocalProtocolError("unknown notice kind");
    },
    body: (v) => checkStr(v, "body"),
    ts: checkTs,
  },
  system: { event: (v) => checkLabel(v, "event"), ts: checkTs },
  code_word_request: { alias: (v) => checkLabel(v, "alias"), ts: checkTs },
  code_word_answer: { alias: (v) => checkLabel(v, "alias"), word: (v) => checkStr(v, "word", MAX_CODE_WORD_SIZE), ts: checkTs },
  duress: { ts: checkTs },
  answers: {
    answers: (v) => {
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new LocalProtocolError("answers must be a mapping");
      const entries = Object.entries(v);
      if (entries.length > MAX_ANSWERS) throw new LocalProtocolError(`more than ${MAX_ANSWERS} answers`);
      for (const [k, a] of entries) {
        checkQuestionId(k);
        checkStr(a, "answer", MAX_ANSWER_SIZE);
      }
    },
    ts: checkTs,
  },
  invite: {
    slot: checkInvitedSlot,
    role: (v) => checkLabel(v, "role"),
    identity_key: (v) => {
      if (!(v instanceof Uint8Array) || v.length !== 32) throw new LocalProtocolError("identity_key must be 32 bytes");
    },
    prekey: (v) => checkSigned(v, "prekey"),
    invite: (v) => checkSigned(v, "invite"),
    ts: checkTs,
  },
  consent: {
    slot: checkInvitedSlot,
    accept: (v) => {
      if (typeof v !== "boolean") throw new LocalProtocolError("accept must be a boolean");
    },
    ts: checkTs,
  },
  close: { reason: (v) => checkStr(v, "reason", MAX_REASON_SIZE), ts: checkTs },
  queue: { position: (v) => checkInt(v, "position", 1, MAX_QUEUE_POSITION), ts: checkTs },
  joined: { name: (v) => checkLabel(v, "name"), ts: checkTs },
  typing: {
    active: (v) => {
      if (typeof v !== "boolean") throw new LocalProtocolError("active must be a boolean");
    },
    ts: checkTs,
  },
  delivered: { count: (v) => checkInt(v, "count", 0, MAX_DELIVERED_COUNT), ts: checkTs },
};
export const PAYLOAD_TYPES = Object.freeze(Object.keys(TYPES));

function toJsonValue(value) {
  if (value instanceof Uint8Array) return b64uEncode(value);
  if (value && value.body instanceof Uint8Array && value.signature instanceof Uint8Array) {
    return { body: b64uEncode(value.body), signature: b64uEncode(value.signature) };
  }
  if (value && typeof value === "object" && !Array.isArray(value)) return { ...value };
  return value;
}

/** Check a payload object {t, ...fields} and return it frozen; LocalProtocolError if bad. */
export function makePayload(payload) {
  const spec = payload && TYPES[payload.t];
  if (!spec) throw new LocalProtocolError("not a payload");
  const names = Object.keys(spec);
  for (const k of Object.keys(payload)) if (k !== "t" && !names.includes(k)) throw new LocalProtocolError(`unknown field ${k}`);
  const out = { t: payload.t };
  for (const name of names) {
    spec[name](payload[name]);
    out[name] = payload[name];
  }
  if (out.answers) out.answers = Object.freeze({ ...out.answers });
  return Object.freeze(out);
}

function canonicalText(payload) {
  const p = makePayload(payload);
  const obj = {};
  for (const k of Object.keys(p)) obj[k] = toJsonValue(p[k]);
  return canonicalJsonText(obj);
}

/** Canonical UTF-8 JSON of a payload (unpadded); LocalProtocolError over MAX_PLAINTEXT_SIZE. */
export function encodePayload(payload) {
  const data = utf8Encode(canonicalText(payload));
  if (data.length > MAX_PLAINTEXT_SIZE) throw new LocalProtocolError("payload larger than MAX_PLAINTEXT_SIZE");
  return data;
}

/** pad(encodePayload(payload)), byte for byte, with fewer copies (what a session encrypts). */
export function encodePaddedPayload(payload) {
  const { padded, length } = padUtf8(canonicalText(payload));
  if (length > MAX_PLAINTEXT_SIZE) {
    padded.fill(0);
    throw new LocalProtocolError("payload larger than MAX_PLAINTEXT_SIZE");
  }
  return padded;
}

/** Parse and validate unpadded payload bytes; raises only MalformedInput / OversizedInput. */
export function decodePayload(data) {
  const obj = parseJsonObject(data, MAX_PLAINTEXT_SIZE);
  const spec = typeof obj.t === "string" && Object.hasOwn(TYPES, obj.t) ? TYPES[obj.t] : null;
  if (!spec) throw new MalformedInput("unknown payload type");
  const names = Object.keys(spec);
  const keys = Object.keys(obj);
  if (keys.length !== names.length + 1 || !names.every((n) => Object.hasOwn(obj, n))) {
    throw new MalformedInput(`${obj.t} payload must have exactly the keys t, ${names.join(", ")}`);
  }
  const values = { ...obj };
  if (obj.t === "invite") {
    values.identity_key = b64uDecode(obj.identity_key);
    values.prekey = parseSignedObject(obj.prekey);
    values.invite = parseSignedObject(obj.invite);
  }
  if (obj.t === "answers" && (obj.answers === null || typeof obj.answers !== "object" || Array.isArray(obj.answers))) {
    throw new MalformedInput("answers must be an object");
  }
  try {
    return makePayload(values);
  } catch (err) {
    if (err instanceof LocalProtocolError) throw new MalformedInput(err.message);
    throw err;
  }
}
