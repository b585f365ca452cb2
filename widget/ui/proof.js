// Proof of work, when the relay asks for one (docs/api.md, "Proof of work").
//
// A program under pressure (a script flooding it) makes the relay refuse an anonymous
// bundle fetch or conversation opening with `proof_required`. The widget then asks for
// a puzzle and finds an 8-byte solution such that SHA-256(puzzle || solution) begins
// with `difficulty` zero bits: about 2^difficulty hashes, with WebCrypto's SHA-256 only
// (no third-party code), a second or two on a phone at the relay's highest level.
// Nothing about the participant goes into the work.

export const MAX_DIFFICULTY = 24; // a relay asking for more is refused, not obeyed
const BATCH = 512; // digests awaited together: WebCrypto's promise per digest dominates

function b64uDecode(text) {
  const s = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(s + "=".repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function b64uEncode(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** How many zero bits `digest` (an ArrayBuffer) begins with. */
export function leadingZeroBits(digest) {
  const bytes = new Uint8Array(digest);
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** The first 8-byte big-endian counter that solves `puzzle` at `difficulty` bits. */
export async function solve(puzzle, difficulty) {
  const input = new Uint8Array(puzzle.length + 8);
  input.set(puzzle);
  for (let start = 0; ; start += BATCH) {
    const tries = [];
    for (let n = start; n < start + BATCH; n += 1) {
      const candidate = input.slice();
      const view = new DataView(candidate.buffer);
      view.setUint32(puzzle.length, Math.floor(n / 2 ** 32));
      view.setUint32(puzzle.length + 4, n >>> 0);
      tries.push(crypto.subtle.digest("SHA-256", candidate).then((d) => [n, d]));
    }
    for (const [n, digest] of await Promise.all(tries)) {
      if (leadingZeroBits(digest) >= difficulty) {
        const out = new Uint8Array(8);
        const view = new DataView(out.buffer);
        view.setUint32(0, Math.floor(n / 2 ** 32));
        view.setUint32(4, n >>> 0);
        return out;
      }
    }
  }
}

/** The `Quietline-Proof` header value for the relay's answer `{puzzle, difficulty}`. */
export async function proofHeader(answer) {
  const { puzzle, difficulty } = answer ?? {};
  if (typeof puzzle !== "string" || !Number.isInteger(difficulty)) {
    throw new Error("the relay's answer is not a puzzle");
  }
  if (difficulty < 0 || difficulty > MAX_DIFFICULTY) {
    throw new Error("the relay asked for an unreasonable proof of work");
  }
  const solution = await solve(b64uDecode(puzzle), difficulty);
  return `${puzzle}.${b64uEncode(solution)}`;
}
