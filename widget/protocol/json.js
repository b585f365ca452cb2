// Canonical JSON (what the program signs and what payloads carry) and a strict parser.
//
// canonicalJson(value) produces exactly Python's
//   json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
// for the values the protocol uses (objects, arrays, strings, safe integers, booleans,
// null): keys sorted by code point, no spaces, only `"`, `\` and control characters
// escaped. Anything else (floats, lone surrogates, undefined) is LocalProtocolError.
//
// parseJsonObject(bytes, limit) is stricter than JSON.parse, as e2ee/identity.py is:
// UTF-8 only, no duplicate keys, no fractions or exponents (integers only), the top level
// must be an object. Deviation: an integer above 2**53 - 1 is refused (JavaScript numbers
// cannot hold it exactly); no protocol field needs one.

import { utf8Decode, utf8Encode } from "./encoding.js";
import { LocalProtocolError, MalformedInput, OversizedInput } from "./errors.js";

const SURROGATE = /[\uD800-\uDFFF]/;

// Python sorts keys by code point; JavaScript's default sort compares UTF-16 code units,
// which gives the same order unless a surrogate pair meets a code unit in U+E000..U+FFFF.
// So the code-point comparison runs only when some key holds a surrogate (checked once
// per object, not once per comparison).
function compareCodePoints(a, b) {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
}

function sortedKeys(value) {
  const keys = Object.keys(value);
  for (const k of keys) if (SURROGATE.test(k)) return keys.sort(compareCodePoints);
  return keys.sort();
}

function encodeString(s) {
  if (!s.isWellFormed()) throw new LocalProtocolError("value cannot be encoded as canonical JSON");
  return JSON.stringify(s); // escapes exactly " \ and U+0000..U+001F, like Python
}

function encode(value) {
  switch (typeof value) {
    case "string":
      return encodeString(value);
    case "number":
      if (!Number.isSafeInteger(value)) break;
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return "[" + value.map(encode).join(",") + "]";
      if (Object.getPrototypeOf(value) !== Object.prototype) break;
      const keys = sortedKeys(value);
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        if (i) out += ",";
        out += encodeString(keys[i]) + ":" + encode(value[keys[i]]);
      }
      return out + "}";
    }
  }
  throw new LocalProtocolError("value cannot be encoded as canonical JSON");
}

/** UTF-8 bytes of the canonical form. */
export function canonicalJson(value) {
  return utf8Encode(encode(value));
}

/** The canonical form as text (canonicalJson is its UTF-8 encoding). */
export function canonicalJsonText(value) {
  return encode(value);
}

// -- strict parser --------------------------------------------------------------------

const MAX_DEPTH = 64;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const INTEGER = /-?(?:0|[1-9][0-9]*)([.eE])?/y;

// A JSON string is found by its closing quote (the first `"` after an even run of
// backslashes), then the slice is handed to JSON.parse, whose string grammar is RFC
// 8259's: no raw U+0000..U+001F, only the escapes \" \\ \/ \b \f \n \r \t \uXXXX.
// Escaped lone surrogates (\ud800) parse, as they always did; the callers refuse them
// where the protocol does (payload fields, profile and status texts).
class Parser {
  constructor(text) {
    this.text = text;
    this.i = 0;
  }
  fail(why = "body is not valid UTF-8 JSON") {
    throw new MalformedInput(why);
  }
  ws() {
    const t = this.text;
    let i = this.i;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.i = i;
  }
  value(depth) {
    if (depth > MAX_DEPTH) this.fail("JSON nested too deeply");
    this.ws();
    const t = this.text;
    const c = t.charCodeAt(this.i);
    if (c === 0x7b) return this.object(depth); // {
    if (c === 0x5b) return this.array(depth); // [
    if (c === QUOTE) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (t.startsWith("true", this.i)) {
      this.i += 4;
      return true;
    }
    if (t.startsWith("false", this.i)) {
      this.i += 5;
      return false;
    }
    if (t.startsWith("null", this.i)) {
      this.i += 4;
      return null;
    }
    return this.fail();
  }
  object(depth) {
    this.i++;
    const out = {};
    this.ws();
    if (this.text.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text.charCodeAt(this.i) !== QUOTE) this.fail();
      const key = this.string();
      if (Object.hasOwn(out, key)) this.fail("duplicate key in JSON object");
      this.ws();
      if (this.text.charCodeAt(this.i++) !== 0x3a) this.fail(); // :
      const v = this.value(depth + 1);
      // A key Object.prototype also has ("__proto__", "toString") must become an own data
      // property: plain assignment would call a setter or meet a frozen prototype.
      if (key in Object.prototype) Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.ws();
      const c = this.text.charCodeAt(this.i++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail();
    }
  }
  array(depth) {
    this.i++;
    const out = [];
    this.ws();
    if (this.text.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.text.charCodeAt(this.i++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.fail();
    }
  }
  string() {
    const t = this.text;
    const start = this.i;
    let end = start;
    for (;;) {
      end = t.indexOf('"', end + 1);
      if (end < 0) this.fail();
      let backslashes = 0;
      while (t.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) break;
    }
    this.i = end + 1;
    try {
      return JSON.parse(t.slice(start, end + 1));
    } catch {
      return this.fail();
    }
  }
  number() {
    INTEGER.lastIndex = this.i;
    const m = INTEGER.exec(this.text.slice(0, this.i + 400)); // as before: at most 400 characters
    if (!m) this.fail();
    if (m[1] !== undefined) this.fail("numbers must be integers");
    this.i += m[0].length;
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) this.fail("integer out of range");
    return n;
  }
}

/** Parse UTF-8 JSON bytes whose top level is an object; MalformedInput on anything else. */
export function parseJsonObject(data, limit) {
  if (!(data instanceof Uint8Array)) throw new MalformedInput("body must be bytes");
  if (data.length > limit) throw new OversizedInput("body larger than its limit");
  const text = utf8Decode(data);
  const p = new Parser(text);
  const obj = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail();
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new MalformedInput("body must be a JSON object");
  return obj;
}
