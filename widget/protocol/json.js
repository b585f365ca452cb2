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

// Python sorts keys by code point; JavaScript's < compares UTF-16 code units, which gives
// the same order unless a surrogate pair meets a code unit in U+E000..U+FFFF.
function compareCodePoints(a, b) {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
}

function encodeString(s) {
  if (!s.isWellFormed()) throw new LocalProtocolError("value cannot be encoded as canonical JSON");
  return JSON.stringify(s); // escapes exactly " \ and U+0000..U+001F, like Python
}

function encode(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return encodeString(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new LocalProtocolError("value cannot be encoded as canonical JSON");
    return String(value);
  }
  if (Array.isArray(value)) return "[" + value.map(encode).join(",") + "]";
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const keys = Object.keys(value).sort(compareCodePoints);
    return "{" + keys.map((k) => encodeString(k) + ":" + encode(value[k])).join(",") + "}";
  }
  throw new LocalProtocolError("value cannot be encoded as canonical JSON");
}

/** UTF-8 bytes of the canonical form. */
export function canonicalJson(value) {
  return utf8Encode(encode(value));
}

// -- strict parser --------------------------------------------------------------------

const MAX_DEPTH = 64;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;

class Parser {
  constructor(text) {
    this.text = text;
    this.i = 0;
  }
  fail(why = "body is not valid UTF-8 JSON") {
    throw new MalformedInput(why);
  }
  ws() {
    while (this.i < this.text.length && " \t\n\r".includes(this.text[this.i])) this.i++;
  }
  value(depth) {
    if (depth > MAX_DEPTH) this.fail("JSON nested too deeply");
    this.ws();
    const c = this.text[this.i];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail();
  }
  object(depth) {
    this.i++;
    const out = {};
    const seen = new Set();
    this.ws();
    if (this.text[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') this.fail();
      const key = this.string();
      if (seen.has(key)) this.fail("duplicate key in JSON object");
      seen.add(key);
      this.ws();
      if (this.text[this.i++] !== ":") this.fail();
      Object.defineProperty(out, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.text[this.i++];
      if (c === "}") return out;
      if (c !== ",") this.fail();
    }
  }
  array(depth) {
    this.i++;
    const out = [];
    this.ws();
    if (this.text[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.text[this.i++];
      if (c === "]") return out;
      if (c !== ",") this.fail();
    }
  }
  string() {
    // RFC 8259 string: no raw control characters, only the standard escapes.
    STRING.lastIndex = this.i;
    const m = STRING.exec(this.text);
    if (m === null) this.fail();
    this.i += m[0].length;
    return JSON.parse(m[0]);
  }
  number() {
    const m = /^-?(?:0|[1-9][0-9]*)([.eE])?/.exec(this.text.slice(this.i, this.i + 400));
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
