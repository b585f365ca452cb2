// The program's identity as the widget sees it (mirrors e2ee/identity.py, verify side).
//
// Every signature is Ed25519 over
//   "quietline-sig" || u8(1) || u8(len(label)) || label || program_id (16) || u32(len(body)) || body
// so a signature made for one label, program or body never verifies for another.
// Signed objects travel as {"body": b64u, "signature": b64u}; the signature is checked
// over the exact body bytes received and the body is parsed only after that.
//
// verifyBundle checks the relay's bundle against the identity key pinned in the embed
// snippet (constant-time comparison, UntrustedKey), that program_id derives from it
// (VerificationError), every signature (InvalidSignature) and expiry (Expired), and that
// prekeys are not low-order X25519 points (InvalidKey). A relay can hand out an old but
// unexpired object or withhold a one-time prekey or the status; it cannot substitute a
// key, edit a profile, or pass one kind of signed object off as another.

import { b64uDecode, concatBytes, constantTimeEqual, hexEncode, readU32, readU64, u32, u8, utf8Encode } from "./encoding.js";
import { Expired, InvalidKey, LocalProtocolError, MalformedInput, OversizedInput, UntrustedKey, VerificationError } from "./errors.js";
import { parseJsonObject } from "./json.js";
import { ED25519_PUBLIC_KEY_SIZE, ED25519_SIGNATURE_SIZE, X25519_KEY_SIZE, X25519PrivateKey, ed25519Verify, sha256 } from "./primitives.js";

export const PROTOCOL_VERSION = 1;
export const LABEL_SIGNED_PREKEY = "signed-prekey";
export const LABEL_ONE_TIME_PREKEY = "one-time-prekey";
export const LABEL_PROFILE = "profile";
export const LABEL_STATUS = "status";
export const LABEL_INVITE = "invite";
export const LABEL_ENROLL = "enroll";
export const LABEL_RELAY_AUTH = "relay-auth";
export const LABELS = Object.freeze([LABEL_SIGNED_PREKEY, LABEL_ONE_TIME_PREKEY, LABEL_PROFILE, LABEL_STATUS, LABEL_INVITE, LABEL_ENROLL, LABEL_RELAY_AUTH]);

export const PROGRAM_ID_SIZE = 16;
export const FINGERPRINT_SIZE = 20;
export const PREKEY_BODY_SIZE = 44;
export const MAX_SIGNED_BODY_SIZE = 32 * 1024;
export const MAX_PROFILE_SIZE = 32 * 1024;
export const MAX_STATUS_SIZE = 4 * 1024;
export const MAX_NAME_LENGTH = 200;
export const MAX_NOTICE_TEXT_LENGTH = 4000;
export const MAX_MORE_TEXT_LENGTH = 12000;
export const MAX_URL_LENGTH = 2048;
export const MAX_QUESTIONS = 20;
export const MAX_QUESTION_ID_LENGTH = 64;
export const MAX_QUESTION_TEXT_LENGTH = 1000;
export const MAX_HOURS_PERIODS = 28;
export const MAX_CLOSURES = 64;
export const MAX_CLOSURE_LABEL_LENGTH = 200;
export const MAX_TIMEZONE_LENGTH = 64;
export const MAX_ALTERNATIVES = 10;
export const MAX_ALTERNATIVE_LENGTH = 500;
export const MAX_STATUS_MESSAGE_LENGTH = 1000;
export const STATUS_STATES = Object.freeze(["open", "closed", "busy", "outage"]);

const SIGNATURE_PREFIX = utf8Encode("quietline-sig");
const PROGRAM_ID_DOMAIN = utf8Encode("quietline/v1/program-id");
const FINGERPRINT_DOMAIN = utf8Encode("quietline/v1/fingerprint");

function checkKey(key, size, what) {
  if (!(key instanceof Uint8Array) || key.length !== size) throw new InvalidKey(`${what} must be ${size} bytes`);
  return key;
}

/** SHA-256("quietline/v1/program-id" || identity_key)[0:16]. */
export async function programIdFor(identityKey) {
  checkKey(identityKey, ED25519_PUBLIC_KEY_SIZE, "identity key");
  return (await sha256(concatBytes(PROGRAM_ID_DOMAIN, identityKey))).slice(0, PROGRAM_ID_SIZE);
}

/** 40 upper-case hex digits of SHA-256("quietline/v1/fingerprint" || identity_key)[0:20], groups of 4. */
export async function fingerprint(identityKey) {
  checkKey(identityKey, ED25519_PUBLIC_KEY_SIZE, "identity key");
  const digits = hexEncode((await sha256(concatBytes(FINGERPRINT_DOMAIN, identityKey))).slice(0, FINGERPRINT_SIZE)).toUpperCase();
  return digits.match(/.{4}/g).join(" ");
}

/** The exact bytes an Ed25519 signature covers. */
export function signedMessage(label, programId, body) {
  if (!LABELS.includes(label)) throw new LocalProtocolError("unknown signature label");
  if (!(programId instanceof Uint8Array) || programId.length !== PROGRAM_ID_SIZE) throw new LocalProtocolError("program_id must be 16 bytes");
  if (!(body instanceof Uint8Array)) throw new LocalProtocolError("signed body must be bytes");
  const rawLabel = utf8Encode(label);
  return concatBytes(SIGNATURE_PREFIX, u8(PROTOCOL_VERSION), u8(rawLabel.length), rawLabel, programId, u32(body.length), body);
}

/** Raise InvalidSignature unless `signature` covers exactly these values. */
export async function verifySignature(identityKey, label, programId, body, signature) {
  checkKey(identityKey, ED25519_PUBLIC_KEY_SIZE, "identity key");
  if (!(programId instanceof Uint8Array) || programId.length !== PROGRAM_ID_SIZE) throw new MalformedInput("program_id must be 16 bytes");
  await ed25519Verify(identityKey, signedMessage(label, programId, body), signature);
}

/** Parse {"body": b64u, "signature": b64u} into {body, signature} bytes; MalformedInput otherwise. */
export function parseSignedObject(obj) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new MalformedInput('a signed object must be {"body", "signature"}');
  const keys = Object.keys(obj).sort();
  if (keys.length !== 2 || keys[0] !== "body" || keys[1] !== "signature") throw new MalformedInput('a signed object must be {"body", "signature"}');
  if (typeof obj.body !== "string" || typeof obj.signature !== "string") throw new MalformedInput("signed object fields must be strings");
  if (obj.body.length > Math.floor((MAX_SIGNED_BODY_SIZE * 4 + 2) / 3)) throw new OversizedInput("signed body too large");
  const body = b64uDecode(obj.body);
  const signature = b64uDecode(obj.signature);
  if (signature.length !== ED25519_SIGNATURE_SIZE) throw new MalformedInput("signature must be 64 bytes");
  return Object.freeze({ body, signature });
}

async function verifiedBody(identityKey, label, programId, signed) {
  await verifySignature(identityKey, label, programId, signed.body, signed.signature);
  return signed.body;
}

// -- prekeys ---------------------------------------------------------------------------

/** Parse a 44-byte prekey body into {prekeyId, publicKey, expiresAt}. */
export function parsePrekeyBody(data) {
  if (!(data instanceof Uint8Array) || data.length !== PREKEY_BODY_SIZE) throw new MalformedInput("a prekey body is 44 bytes");
  return Object.freeze({
    prekeyId: readU32(data.subarray(0, 4)),
    publicKey: data.slice(4, 36),
    expiresAt: readU64(data.subarray(36, 44)),
  });
}

let lowOrderProbe = null;

/** InvalidKey for a wrong length or a low-order X25519 point (one DH with a fixed probe key). */
export async function checkX25519PublicKey(publicKey) {
  checkKey(publicKey, X25519_KEY_SIZE, "X25519 public key");
  if (lowOrderProbe === null) {
    lowOrderProbe = await X25519PrivateKey.fromSecret(await sha256(utf8Encode("quietline/v1/low-order-probe")));
  }
  await lowOrderProbe.exchange(publicKey);
}

/** Verify, then parse; refuse a low-order key and a prekey at or past expires_at. */
export async function verifyPrekey(identityKey, programId, signed, { oneTime, now }) {
  const raw = await verifiedBody(identityKey, oneTime ? LABEL_ONE_TIME_PREKEY : LABEL_SIGNED_PREKEY, programId, signed);
  const body = parsePrekeyBody(raw);
  await checkX25519PublicKey(body.publicKey);
  if (now >= body.expiresAt) throw new Expired("prekey has expired");
  return body;
}

// -- field validation (LocalProtocolError inside, MalformedInput at the parser) ----------

const TIME_OF_DAY = /^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/;
const CLOSURE_DATE = /^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$/;
const TIMEZONE = /^[A-Za-z0-9_+\-/]+$/;
const LANGUAGE = /^[a-z]{2,3}$/;
const QUESTION_ID = /^[A-Za-z0-9_-]+$/;
const codePoints = (s) => [...s].length;

function text(value, what, maxLength, nonEmpty = false) {
  if (typeof value !== "string") throw new MalformedInput(`${what} must be a string`);
  if (codePoints(value) > maxLength) throw new MalformedInput(`${what} longer than ${maxLength} characters`);
  if (nonEmpty && !value) throw new MalformedInput(`${what} must not be empty`);
  if (!value.isWellFormed()) throw new MalformedInput(`${what} is not valid Unicode text`);
  return value;
}

function pattern(value, what, re, maxLength) {
  const t = text(value, what, maxLength, true);
  if (!re.test(t)) throw new MalformedInput(`${what} has a bad format`);
  return t;
}

// Refused anywhere in a URL, as in e2ee/profile.py (URL_REFUSED_CATEGORIES): any code point
// of the Unicode general categories Cc, Cf, Zs, Zl, Zp (controls, format characters such
// as zero-width spaces and the BOM, and every space or separator).
const URL_REFUSED = /[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u;

function url(value, what) {
  const t = text(value, what, MAX_URL_LENGTH);
  if (!(t.startsWith("https://") || t.startsWith("http://")) || URL_REFUSED.test(t)) {
    throw new MalformedInput(`${what} must be an http(s) URL`);
  }
  return t;
}

function timestamp(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new MalformedInput(`${what} must be Unix seconds`);
  return value;
}

function object(value, what, required, optional = []) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new MalformedInput(`${what} must be a JSON object`);
  const keys = Object.keys(value);
  for (const k of required) if (!Object.hasOwn(value, k)) throw new MalformedInput(`${what} has missing or unknown keys`);
  for (const k of keys) if (!required.includes(k) && !optional.includes(k)) throw new MalformedInput(`${what} has missing or unknown keys`);
  return value;
}

// A profile object's known keys (docs/protocol.md, forward compatibility): every required
// key present; keys this version does not know are ignored, never copied out. They were
// verified with the rest of the body, so only the identity key's holder could add them.
function known(value, what, required) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new MalformedInput(`${what} must be a JSON object`);
  for (const k of required) if (!Object.hasOwn(value, k)) throw new MalformedInput(`${what} has missing keys`);
  return value;
}

function list(value, what, maxItems) {
  if (!Array.isArray(value)) throw new MalformedInput(`${what} must be a JSON array`);
  if (value.length > maxItems) throw new MalformedInput(`more than ${maxItems} ${what}`);
  return value;
}

function checkVersion(obj) {
  if (!Number.isInteger(obj.v) || obj.v !== PROTOCOL_VERSION) throw new MalformedInput("unsupported version");
}

const deepFreeze = (o) => {
  if (o && typeof o === "object") {
    Object.values(o).forEach(deepFreeze);
    Object.freeze(o);
  }
  return o;
};

/** Parse a profile body (after its signature verified) into a frozen plain object. */
export function parseProfile(data) {
  const obj = known(parseJsonObject(data, MAX_PROFILE_SIZE), "profile", ["v"]);
  checkVersion(obj); // a newer version is refused whatever its keys
  known(obj, "profile", ["v", "name", "notice", "safety_check_in", "questions", "hours", "alternatives", "quick_exit_url", "issued_at"]);
  const notice = known(obj.notice, "notice", ["voluntary", "choices", "information", "mandatory_reporting"]);
  const outNotice = {};
  for (const k of ["voluntary", "choices", "information", "mandatory_reporting"]) outNotice[k] = text(notice[k], `notice.${k}`, MAX_NOTICE_TEXT_LENGTH);
  outNotice.more_url = Object.hasOwn(notice, "more_url") ? url(notice.more_url, "notice.more_url") : null;
  outNotice.more_text = Object.hasOwn(notice, "more_text") ? text(notice.more_text, "notice.more_text", MAX_MORE_TEXT_LENGTH, true) : null;
  const questions = list(obj.questions, "questions", MAX_QUESTIONS).map((q) => {
    known(q, "question", ["id", "text", "why"]);
    return {
      id: pattern(q.id, "question id", QUESTION_ID, MAX_QUESTION_ID_LENGTH),
      text: text(q.text, "question text", MAX_QUESTION_TEXT_LENGTH, true),
      why: text(q.why, "question why", MAX_QUESTION_TEXT_LENGTH),
    };
  });
  if (new Set(questions.map((q) => q.id)).size !== questions.length) throw new MalformedInput("question ids must be unique");
  const hours = known(obj.hours, "hours", ["timezone", "weekly"]);
  const weekly = list(hours.weekly, "opening periods", MAX_HOURS_PERIODS).map((p) => {
    known(p, "opening period", ["day", "open", "close"]);
    if (!Number.isInteger(p.day) || p.day < 0 || p.day > 6) throw new MalformedInput("hours day must be 0 (Monday) to 6");
    pattern(p.open, "opening time", TIME_OF_DAY, 5);
    if (p.close !== "24:00") pattern(p.close, "closing time", TIME_OF_DAY, 5);
    return { day: p.day, open: p.open, close: p.close };
  });
  // Whole days closed (holidays, one-off closures), in the hours' time zone; optional.
  const closures = list(Object.hasOwn(hours, "closures") ? hours.closures : [], "closures", MAX_CLOSURES).map((c) => {
    known(c, "closure", ["date", "label"]);
    const date = pattern(c.date, "closure date", CLOSURE_DATE, 10);
    const [y, m, d] = date.split("-").map(Number);
    const day = new Date(Date.UTC(y, m - 1, d));
    if (day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d) {
      throw new MalformedInput("closure date is not a calendar date");
    }
    return { date, label: text(c.label, "closure label", MAX_CLOSURE_LABEL_LENGTH) };
  });
  if (new Set(closures.map((c) => c.date)).size !== closures.length) throw new MalformedInput("closure dates must be unique");
  const alternatives = list(obj.alternatives, "alternatives", MAX_ALTERNATIVES).map((a) => {
    known(a, "alternative", ["label", "value"]);
    return { label: text(a.label, "alternative label", MAX_ALTERNATIVE_LENGTH, true), value: text(a.value, "alternative value", MAX_ALTERNATIVE_LENGTH, true) };
  });
  return deepFreeze({
    v: obj.v,
    name: text(obj.name, "name", MAX_NAME_LENGTH, true),
    notice: outNotice,
    safety_check_in: text(obj.safety_check_in, "safety_check_in", MAX_NOTICE_TEXT_LENGTH),
    questions,
    hours: { timezone: pattern(hours.timezone, "timezone", TIMEZONE, MAX_TIMEZONE_LENGTH), weekly, closures },
    alternatives,
    quick_exit_url: url(obj.quick_exit_url, "quick_exit_url"),
    issued_at: timestamp(obj.issued_at, "issued_at"),
    language: Object.hasOwn(obj, "language") ? pattern(obj.language, "language", LANGUAGE, 8) : null,
  });
}

/** Parse a status body (after its signature verified) into a frozen plain object. */
export function parseStatus(data) {
  const obj = object(parseJsonObject(data, MAX_STATUS_SIZE), "status", ["v", "state", "message", "issued_at", "expires_at"]);
  checkVersion(obj);
  if (typeof obj.state !== "string" || !STATUS_STATES.includes(obj.state)) throw new MalformedInput("status state must be open, closed, busy or outage");
  const status = {
    v: obj.v,
    state: obj.state,
    message: text(obj.message, "status message", MAX_STATUS_MESSAGE_LENGTH),
    issued_at: timestamp(obj.issued_at, "issued_at"),
    expires_at: timestamp(obj.expires_at, "expires_at"),
  };
  if (status.expires_at < status.issued_at) throw new MalformedInput("status expires before it was issued");
  return Object.freeze(status);
}

/** Verify the profile's signature over the received bytes, then parse them. */
export async function verifyProfile(identityKey, programId, signed) {
  return parseProfile(await verifiedBody(identityKey, LABEL_PROFILE, programId, signed));
}

/** Verify, parse, and raise Expired at or past expires_at. */
export async function verifyStatus(identityKey, programId, signed, { now }) {
  const status = parseStatus(await verifiedBody(identityKey, LABEL_STATUS, programId, signed));
  if (now >= status.expires_at) throw new Expired("status has expired");
  return status;
}

// -- the bundle ----------------------------------------------------------------------------

const BUNDLE_KEYS = ["program_id", "identity_key", "signed_prekey", "one_time_prekey", "profile", "status"];

function b64uField(obj, name, size) {
  const value = b64uDecode(obj[name]);
  if (value.length !== size) throw new MalformedInput(`${name} must be ${size} bytes`);
  return value;
}

/** Unix seconds from the browser clock (pass `now` explicitly in tests). */
export const unixNow = () => Math.floor(Date.now() / 1000);

// Larger than any Unix time in seconds for 3000 years: a `now` above it is milliseconds.
const MAX_PLAUSIBLE_SECONDS = 1e11;

function keyBytes(value, size, what) {
  const bytes = typeof value === "string" ? b64uDecode(value) : value;
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) throw new LocalProtocolError(`${what} must be ${size} bytes (or their b64u text)`);
  return bytes;
}

// verifyBundle(obj, pinnedKey, {now}) or verifyBundle(obj, {identityKey, programId, now}).
async function pinnedFrom(second, third) {
  const opts = second instanceof Uint8Array || typeof second === "string" ? { ...(third ?? {}), identityKey: second } : (second ?? {});
  const pinned = keyBytes(opts.identityKey, ED25519_PUBLIC_KEY_SIZE, "pinned identity key");
  const now = opts.now ?? unixNow();
  if (!Number.isSafeInteger(now) || now < 0 || now > MAX_PLAUSIBLE_SECONDS) throw new LocalProtocolError("now must be Unix seconds (not milliseconds)");
  const programId = await programIdFor(pinned);
  if (opts.programId !== undefined && opts.programId !== null) {
    if (!constantTimeEqual(keyBytes(opts.programId, PROGRAM_ID_SIZE, "program id"), programId)) {
      throw new UntrustedKey("the configured program id does not belong to the pinned identity key");
    }
  }
  return { pinned, programId, now };
}

async function checkIdentity(record, pinned, programId) {
  const identityKey = b64uField(record, "identity_key", ED25519_PUBLIC_KEY_SIZE);
  if (!constantTimeEqual(identityKey, pinned)) throw new UntrustedKey("identity key is not the pinned one");
  if (!constantTimeEqual(b64uField(record, "program_id", PROGRAM_ID_SIZE), programId)) {
    throw new VerificationError("program_id does not belong to the identity key");
  }
  return identityKey;
}

async function optionalStatus(identityKey, programId, signed, now) {
  if (signed === null) return null;
  try {
    return await verifyStatus(identityKey, programId, parseSignedObject(signed), { now });
  } catch (err) {
    if (err instanceof Expired) return null; // an expired status is unknown, not an error
    throw err;
  }
}

/**
 * Check a relay bundle (the JSON of POST /v1/programs/{pid}/bundle) against the pinned
 * identity key. Call as verifyBundle(obj, pinnedKey, {now}) or
 * verifyBundle(obj, {identityKey, programId, now}); keys as Uint8Array or b64u text,
 * `now` in Unix SECONDS (default: the browser clock). Returns a frozen {programId,
 * identityKey, signedPrekey, oneTimePrekey|null, prekey, prekeyKind, profile, status|null};
 * `prekey` is the one a handshake uses (one-time if present). An expired status is
 * returned as null (unknown); a bad status signature is an error.
 */
export async function verifyBundle(obj, second, third) {
  const { pinned, programId, now } = await pinnedFrom(second, third);
  const bundle = object(obj, "bundle", BUNDLE_KEYS);
  const identityKey = await checkIdentity(bundle, pinned, programId);
  const signedPrekey = await verifyPrekey(identityKey, programId, parseSignedObject(bundle.signed_prekey), { oneTime: false, now });
  let oneTimePrekey = null;
  if (bundle.one_time_prekey !== null) {
    oneTimePrekey = await verifyPrekey(identityKey, programId, parseSignedObject(bundle.one_time_prekey), { oneTime: true, now });
  }
  const profile = await verifyProfile(identityKey, programId, parseSignedObject(bundle.profile));
  const status = await optionalStatus(identityKey, programId, bundle.status, now);
  return Object.freeze({
    programId,
    identityKey,
    signedPrekey,
    oneTimePrekey,
    prekey: oneTimePrekey ?? signedPrekey,
    prekeyKind: oneTimePrekey ? 2 : 1,
    profile,
    status,
  });
}

/**
 * Check the public program record (GET /v1/programs/{pid}: {program_id, identity_key,
 * profile, status}) the same way, consuming no prekey. Returns {programId, identityKey,
 * profile, status|null}.
 */
export async function verifyProgram(obj, second, third) {
  const { pinned, programId, now } = await pinnedFrom(second, third);
  const record = object(obj, "program record", ["program_id", "identity_key", "profile", "status"]);
  const identityKey = await checkIdentity(record, pinned, programId);
  const profile = await verifyProfile(identityKey, programId, parseSignedObject(record.profile));
  const status = await optionalStatus(identityKey, programId, record.status, now);
  return Object.freeze({ programId, identityKey, profile, status });
}
